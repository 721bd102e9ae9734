#!/usr/bin/env python
"""Start-up time of the `dse` command: `dse --help` and every `dse SUB --help` (target < 0.3 s).

Runs each command ``--repeat`` times in a fresh interpreter (as a user does) and prints the
minimum wall time and CPU time (user + system of the child), next to a bare ``python -c pass``.
CPU time is the figure to compare on a busy machine; wall time on an idle one.

    .venv/bin/python scripts/bench_cli_startup.py            # prints help_wall_s: X last
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

SUBCOMMANDS = ("workloads", "evaluate", "validate", "run", "report")


def measure(cmd: list[str], repeat: int) -> tuple[float, float]:
    """(min wall s, min CPU s) of ``cmd`` over ``repeat`` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), min(cpus)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="runs per command (minimum reported)")
    args = ap.parse_args(argv)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(root)  # `python -m` puts the current folder first on sys.path: measure this checkout
    base_wall, base_cpu = measure([sys.executable, "-c", "pass"], args.repeat)
    print(f"bare python:            wall {base_wall:.3f} s, cpu {base_cpu:.3f} s")
    for sub in SUBCOMMANDS:
        wall, cpu = measure([sys.executable, "-m", "dse.cli.main", sub, "--help"], args.repeat)
        print(f"dse {sub + ' --help':<18} wall {wall:.3f} s, cpu {cpu:.3f} s")
    wall, cpu = measure([sys.executable, "-m", "dse.cli.main", "--help"], args.repeat)
    print(f"help_cpu_s: {cpu:.3f}")
    print(f"help_wall_s: {wall:.3f}")


if __name__ == "__main__":
    main()
