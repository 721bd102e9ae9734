"""Loop overhead: dse's study loop vs a bare Optuna ask/tell loop, per storage.

Both loops use the default study (studies/yolov3-2mp-edge.toml): its search space (the same
Optuna distributions), NSGA-II with its population, its directions, and the same number of
trials (default 2,048). dse runs its real loop (``dse.search.study.run_study``: decode, evaluator
through the default ``auto`` executor, constraints, metrics stored as a trial attribute, tell).
The bare loop asks one population at a time, scores a trivial objective (sums of the parameters),
sets as many constraints as dse does (the constrained NSGA-II path) and tells.

Storages: a journal file (dse's default), SQLite (WAL, as dse opens it; fewer trials, it is ~10x
slower: --sqlite-trials) and in memory (for dse: storage_for patched to InMemoryStorage).
Prints trials/s per storage for both loops; the last line is ``dse/bare time ratio: R`` for the
default storage (journal). Target R <= 1.3. ``--profile`` adds a cProfile of the dse journal run.

    .venv/bin/python scripts/bench_study.py [--trials 2048] [--sqlite-trials 512] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna

import dse.search.study as study_mod
from dse.search.spec import load_study
from dse.search.scoring import constraint_values
from dse.search.study import distributions

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STUDY = ROOT / "studies" / "yolov3-2mp-edge.toml"


def make_storage(kind: str, folder: Path, name: str, spec=None):
    if kind == "journal":
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(folder / f"{name}.journal")))
    if kind == "sqlite":
        return study_mod.storage_for(spec, folder, f"sqlite:///{folder / name}.db")  # WAL, as dse
    return optuna.storages.InMemoryStorage()


def n_constraints(spec) -> int:
    fake = {"area_mm2": np.ones(1), "power_density_limit_w_per_mm2": np.ones(1)}
    for w in spec.workloads:
        for key in ("power_w", "latency_s", "throughput_ips"):
            fake[f"{w.label}:{key}"] = np.ones(1)
    return len(constraint_values(spec, fake))


def bare_loop(spec, storage, trials: int) -> float:
    """Seconds for a bare NSGA-II ask/tell loop with a trivial objective and dse's constraints."""
    dists = distributions(spec)
    k_cons = n_constraints(spec)
    start = time.perf_counter()
    study = optuna.create_study(study_name="bare", storage=storage, directions=spec.directions,
                                sampler=optuna.samplers.NSGAIISampler(population_size=spec.population,
                                                                      seed=spec.seed))
    done = 0
    while done < trials:
        batch = [study.ask(dists) for _ in range(min(spec.population, trials - done))]
        for t in batch:
            nums = [v for v in t.params.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
            s = float(sum(nums))
            for c in range(k_cons):
                t.set_constraint(f"c{c}", (s % 7.0) / 7.0 - 0.5)
            study.tell(t, [s * (j + 1) % 97.0 for j in range(len(spec.objectives))])
        done += len(batch)
    return time.perf_counter() - start


def dse_loop(spec, folder: Path, kind: str, trials: int, profile: bool = False) -> float:
    """Seconds for dse's run_study on the given storage kind (default executor)."""
    spec = replace(spec, trials=trials, name=f"dse-{kind}")
    url = f"sqlite:///{folder / spec.name}.db" if kind == "sqlite" else None
    original = study_mod.storage_for
    if kind == "memory":
        study_mod.storage_for = lambda *a, **k: optuna.storages.InMemoryStorage()
    prof = cProfile.Profile() if profile else None
    try:
        start = time.perf_counter()
        if prof:
            prof.enable()
        study_mod.run_study(spec, results_root=folder, storage_url=url, fresh=True, progress=False)
        if prof:
            prof.disable()
        seconds = time.perf_counter() - start
    finally:
        study_mod.storage_for = original
    if prof:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(25)
        print("# cProfile of the dse journal run (cumulative):")
        print("\n".join("#   " + line for line in out.getvalue().splitlines() if line.strip()))
    return seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2048)
    ap.add_argument("--sqlite-trials", type=int, default=512, help="SQLite trials (0: skip SQLite)")
    ap.add_argument("--profile", action="store_true", help="cProfile the dse journal run")
    ap.add_argument("--repeats", type=int, default=3,
                    help="alternating runs per loop for memory and journal; the fastest counts "
                         "(journal fsync latency varies a lot on a shared disk)")
    args = ap.parse_args(argv)
    spec = load_study(DEFAULT_STUDY)
    print(f"# {spec.name}: NSGA-II population {spec.population}, {len(spec.objectives)} objectives, "
          f"{len(distributions(spec))} parameters, {n_constraints(spec)} constraints", flush=True)
    ratio = None
    with tempfile.TemporaryDirectory(prefix="dse-bench-study-") as tmp:
        folder = Path(tmp)
        kinds = [("memory", args.trials), ("journal", args.trials)]
        if args.sqlite_trials:
            kinds.append(("sqlite", args.sqlite_trials))
        for kind, n in kinds:
            bare_t, dse_t = [], []
            for r in range(1 if kind == "sqlite" else max(1, args.repeats)):
                bare_t.append(bare_loop(replace(spec, trials=n),
                                        make_storage(kind, folder, f"bare-{kind}-{r}", spec), n))
                dse_t.append(dse_loop(spec, folder, kind, n, profile=args.profile and kind == "journal" and r == 0))
            bare_s, dse_s = min(bare_t), min(dse_t)
            print(f"{kind:8s} {n:5d} trials: bare {n / bare_s:8.1f} trials/s   dse {n / dse_s:8.1f} trials/s"
                  f"   dse/bare {dse_s / bare_s:.2f}", flush=True)
            if kind == "journal":
                ratio = dse_s / bare_s
    print(f"dse/bare time ratio: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
