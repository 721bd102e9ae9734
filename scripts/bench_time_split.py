"""Where a search's wall time goes, per mode: evaluator, bookkeeping, storage (cProfile).

Runs the default study (studies/yolov3-2mp-edge.toml: YOLOv3 at 2 MP plus ResNet-50, 16 nm) in
each mode, in-process (``executor = "local"``), into a temporary folder:

* ``nsga2``: the Optuna loop, 2,048 trials, population 128 (--trials);
* ``vectorized``: the vectorized search, --designs designs;
* ``exhaustive``: the 806,400-design grid of scripts/bench_search.py.

Each mode runs once without the profiler (its wall time) and once under cProfile. The profile's
time is split by where it is spent, counting each category's entry calls (a call into the
category from outside it, with everything beneath it):

* evaluator: ``dse.model`` and ``dse.hardware`` (the numpy model: columns to metrics);
* storage: Optuna's journal file (every record appended, and every read of new records with
  their replay: ``JournalStorage._write_log`` and ``_sync_with_backend``), the bulk
  trial writes (``dse.search.bulk_trials``), Parquet (pyarrow, ``to_parquet``: the designs table
  and the exhaustive table) and the results tables (``dse.search.tables``);
* bookkeeping: the rest (Optuna's ask/tell and samplers with their scans of the in-memory trials,
  dse's loop, proposals and fronts of the vectorized search, pandas frames).

cProfile slows pure-Python code (Optuna's bookkeeping) far more than numpy (the evaluator), so the
shares are an upper bound for bookkeeping; the vectorized mode also prints its own timers (no
profiler), and every mode its unprofiled wall time.

    nice .venv/bin/python scripts/bench_time_split.py [--modes nsga2 vectorized exhaustive] [--designs 131072]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from bench_search import GRID  # noqa: E402  (the 806,400-design grid)

from dse.search.run import run_search  # noqa: E402
from dse.search.spec import load_study  # noqa: E402

DEFAULT_STUDY = ROOT / "studies" / "yolov3-2mp-edge.toml"
CATEGORIES = ("evaluator", "storage", "bookkeeping")


def category(func: tuple[str, int, str]) -> str | None:
    """'evaluator', 'storage' or None (bookkeeping) for a pstats function key (file, line, name)."""
    path, _, name = func
    path = path.replace("\\", "/")
    if "/dse/model/" in path or "/dse/hardware/" in path:
        return "evaluator"
    if ("/optuna/storages/journal/_file.py" in path or "/dse/search/bulk_trials.py" in path or "/pyarrow/" in path
            or ("/optuna/storages/journal/_storage.py" in path and name in ("_write_log", "_sync_with_backend"))
            or "/dse/search/tables.py" in path or name in ("to_parquet", "write_study_copy")
            or ("/dse/search/vectorized.py" in path and name in ("write", "read", "parts"))):
        return "storage"
    return None


def split(profile: cProfile.Profile) -> dict[str, float]:
    """Seconds per category: the cumulative time of every call edge entering the category."""
    stats = pstats.Stats(profile)
    out = dict.fromkeys(CATEGORIES, 0.0)
    total = max(ct for (_, _, _, ct, _) in stats.stats.values())  # type: ignore[attr-defined]
    for func, (_, _, _, _, callers) in stats.stats.items():  # type: ignore[attr-defined]
        cat = category(func)
        if cat is None:
            continue
        for caller, edge in callers.items():
            if category(caller) != cat:
                out[cat] += edge[3]
    out["bookkeeping"] = total - out["evaluator"] - out["storage"]
    out["total"] = total
    return out


def specs(trials: int | None, designs: int):
    base = load_study(DEFAULT_STUDY)
    yield "nsga2", replace(base, name="split-nsga2", sampler="nsga2", trials=trials or 2048, population=128,
                           executor="local")  # NSGA-II as the default study ran it before the vectorized search
    yield "vectorized", replace(base, name="split-vec", sampler="vectorized", trials=designs, executor="local")
    yield "exhaustive", replace(base, name="split-exh", sampler="exhaustive", searched=dict(GRID),
                                executor="local")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", nargs="+", default=["nsga2", "vectorized", "exhaustive"])
    ap.add_argument("--trials", type=int, help="nsga2 trials (default: 2048)")
    ap.add_argument("--designs", type=int, default=131072, help="vectorized designs")
    args = ap.parse_args(argv)
    print("| mode | designs | wall s (no profiler) | evaluator | bookkeeping | storage | profiled s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory(prefix="dse-bench-split-") as tmp:
        for mode, spec in specs(args.trials, args.designs):
            if mode not in args.modes:
                continue
            t0 = time.perf_counter()
            plain = run_search(spec, results_root=Path(tmp) / "plain", fresh=True, progress=False, executor="local")
            wall = time.perf_counter() - t0
            prof = cProfile.Profile()
            prof.enable()
            run_search(spec, results_root=Path(tmp) / "prof", fresh=True, progress=False, executor="local")
            prof.disable()
            s = split(prof)
            n = plain.evaluated
            shares = " | ".join(f"{100 * s[c] / s['total']:.0f}% ({s[c]:.1f} s)" for c in CATEGORIES)
            print(f"| {mode} | {n:,} | {wall:.1f} | {shares} | {s['total']:.1f} |", flush=True)
            if mode == "vectorized":
                tm = plain.summary["timings"]
                print(f"# vectorized timers (no profiler): {tm}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
