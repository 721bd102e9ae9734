#!/usr/bin/env python3
"""How long `dse run` takes on a finished study, against the first run (and `dse report` unchanged).

Usage: scripts/bench_rerun.py [STUDY.toml] [--results DIR] [--keep]

Runs the study (default: studies/yolov3-2mp-edge.toml, the `make run` study) into a fresh results
folder with the CLI, then runs it again unchanged, then `dse report` on the unchanged folder; each
as a separate process, timed wall-clock end to end (Python start-up and imports included). The
goal: the rerun under 10% of the first run, and both the rerun and the report under 3 s.
Last line: ``rerun/first time ratio: R``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "dse.cli.main", *args], cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench_rerun: `dse {' '.join(args)}` failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    print(f"  {seconds:7.2f} s  dse {' '.join(args)}: {proc.stdout.strip().splitlines()[-1]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study", nargs="?", default=str(ROOT / "studies" / "yolov3-2mp-edge.toml"))
    p.add_argument("--results", type=Path, help="results root (default: a temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the temporary results folder")
    args = p.parse_args(argv)
    study = str(Path(args.study).resolve())
    root = args.results or Path(tempfile.mkdtemp(prefix="dse-bench-rerun-"))
    try:
        first = timed(["run", study, "--results", str(root), "--no-progress", "--fresh"], ROOT)
        again = timed(["run", study, "--results", str(root), "--no-progress"], ROOT)
        name = next(p for p in root.iterdir() if p.is_dir())
        report = timed(["report", str(name)], ROOT)
    finally:
        if args.results is None and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"first run {first:.2f} s, rerun {again:.2f} s, report of the unchanged study {report:.2f} s")
    print(f"rerun/first time ratio: {again / first:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
