"""Search quality: each sampler's front vs the exact front of an exhaustive sweep (hypervolume).

The space is the default study's (studies/yolov3-2mp-edge.toml: same workload, node, budgets and
objectives) restricted to a coarse grid of 806,400 designs. The exhaustive sweep gives the true
feasible front; every sampler then searches exactly that grid (same values: power-of-two axes as
ordered lists, stepped ranges as stepped Optuna distributions, as dse.hardware.space maps every
domain) with 2,048 trials for the Optuna samplers, population 128 (the default study's budget before it moved to
the vectorized search), through dse's own loop (dse.search.run.run_search). Hypervolumes are
computed on objectives normalized by the exhaustive front's ranges (0 = best, 1 = worst) with the
reference point at 1.1 (dse.search.pareto.hypervolume).

Prints one line per sampler, ``SAMPLER hypervolume: P% of exhaustive in T s`` (mean over the
seeds; T is the wall time of one run, opening the study and writing it included). TPE is slow per
trial (~0.1-0.2 s per ask at 2,000 trials), so it runs a smaller budget (--tpe-trials, 0 to skip)
and its line says so. The vectorized search (dse.search.vectorized) counts designs, not trials:
--vectorized-designs sets its budget (several values: one line each; 0 to skip); it runs last,
as the default sampler.

    nice .venv/bin/python scripts/bench_search.py [--seeds 1 2 3] [--tpe-trials 512] \
        [--samplers nsga2 vectorized] [--vectorized-designs 8192 32768]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from dse.hardware.space import Domain
from dse.search.exhaustive import run_exhaustive
from dse.search.pareto import hypervolume, objective_bounds
from dse.search.spec import load_study
from dse.search.run import run_search
from dse.search.tables import best_trial_numbers

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STUDY = ROOT / "studies" / "yolov3-2mp-edge.toml"
#: Budget of nsga2 and random: NSGA-II as the default study ran it before it moved to the
#: vectorized search (whose budget counts designs).
NSGA2_TRIALS, NSGA2_POPULATION = 2048, 128

#: The restricted space: the default study's parameters on a coarse grid.
GRID = {
    "cores": Domain("cores", 4, 64, step=12),
    "rows": Domain("rows", values=(8, 16, 32, 64, 128)),
    "cols": Domain("cols", values=(8, 16, 32, 64, 128)),
    "clock_ghz": Domain("clock_ghz", 0.5, 1.5, step=0.5),
    "sram_mb": Domain("sram_mb", values=(1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)),
    "dram_type": Domain("dram_type", values=("LPDDR4", "LPDDR4X", "LPDDR5", "LPDDR5X")),
    "dram_channels": Domain("dram_channels", values=(1, 2, 4, 8)),
    "noc": Domain("noc", values=("bus", "ring", "mesh", "crossbar")),
    "noc_width_bits": Domain("noc_width_bits", values=(128, 1024)),
    "winograd": Domain("winograd", values=(False, True)),
}


def sampler_front(spec, root: Path) -> np.ndarray:
    """Run dse's loop with ``spec`` and return the feasible Pareto front's objective values."""
    result = run_search(spec, results_root=root, fresh=True, progress=False, executor="local")
    best = best_trial_numbers(result.study)  # study.best_trials deep-copies every trial
    return np.array([t.values for t in result.study.get_trials(deepcopy=False) if t.number in best],
                    dtype=float).reshape(-1, len(spec.objectives))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="sampler seeds (mean reported)")
    ap.add_argument("--samplers", nargs="+", default=["random", "tpe", "nsga2", "vectorized"],
                    help="samplers to run (default: all)")
    ap.add_argument("--vectorized-designs", type=int, nargs="+", default=[32768],
                    help="designs the vectorized search evaluates, one run set per value (0: skip it)")
    ap.add_argument("--tpe-trials", type=int, default=512, help="TPE's budget (0: skip TPE)")
    ap.add_argument("--trials", type=int, help="budget of nsga2 and random (default: 2048)")
    ap.add_argument("--population", type=int, help="NSGA-II population (default: 128)")
    args = ap.parse_args(argv)

    base = load_study(DEFAULT_STUDY)
    spec = replace(base, name="bench-search", searched=dict(GRID), fixed=dict(base.fixed))
    trials = args.trials or NSGA2_TRIALS
    population = args.population or NSGA2_POPULATION

    with tempfile.TemporaryDirectory(prefix="dse-bench-search-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        ex = run_exhaustive(replace(spec, sampler="exhaustive"), root, executor="auto", progress=False)
        cols = [o.column for o in spec.objectives]
        true_front = ex.front[cols].to_numpy(dtype=float)
        dirs = spec.directions
        bounds = objective_bounds(true_front)
        hv_true = hypervolume(true_front, dirs, bounds=bounds)
        s = ex.summary
        print(f"# space: {s['designs_total']:,} designs, {s['designs_feasible']:,} feasible, exact front "
              f"{s['front_size']} designs; exhaustive {time.perf_counter() - t0:.1f} s "
              f"({s['designs_per_s']:,.0f} designs/s, executor {s['executor']})", flush=True)
        print(f"# budget: {trials} trials, population {population}, seeds {args.seeds}; "
              f"objectives {', '.join(f'{d} {c}' for c, d in zip(cols, dirs))}", flush=True)

        runs = [("random", trials)]
        if args.tpe_trials:
            runs.append(("tpe", min(args.tpe_trials, trials)))
        runs.append(("nsga2", trials))
        runs += [("vectorized", n) for n in args.vectorized_designs if n]  # the default sampler, last
        runs = [(s, n) for s, n in runs if s in args.samplers]
        for sampler, n in runs:
            pct, secs = [], []
            for seed in args.seeds:
                t1 = time.perf_counter()
                sspec = replace(spec, name=f"bench-{sampler}-{seed}", sampler=sampler, trials=n,
                                population=population, seed=seed, executor="local")
                front = sampler_front(sspec, root)
                secs.append(time.perf_counter() - t1)
                pct.append(100.0 * hypervolume(front, dirs, bounds=bounds) / hv_true if len(front) else 0.0)
            spread = f", seeds: {' '.join(f'{p:.1f}' for p in pct)}" if len(pct) > 1 else ""
            unit = "designs" if sampler == "vectorized" else "trials"
            label = sampler if (n == trials and unit == "trials") else f"{sampler} ({n:,} {unit})"
            print(f"# {label}: {' '.join(f'{x:.1f}' for x in secs)} s per run{spread}", flush=True)
            print(f"{label} hypervolume: {np.mean(pct):.2f}% of exhaustive in {np.mean(secs):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
