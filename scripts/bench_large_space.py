"""Search quality on a space too large to enumerate: vectorized vs NSGA-II at equal wall time.

The space is the default study's (studies/yolov3-2mp-edge.toml: YOLOv3 at 2 MP, 16 nm, 100 mm^2
and 10 W budgets; maximize throughput, minimize area and power) widened to every parameter's full
range: cores 1-256, MAC array sides 4-256 (any integer, log scale), clock 0.2-2.5 GHz in 0.01 GHz
steps, SRAM 0.25-256 MiB (continuous, log), every DRAM type with 1-16 channels, every NoC with
32-4096-bit links, Winograd and both lowerings: more than 10^16 designs before the continuous
SRAM size.

For each budget (NSGA-II's 2,048 and 20,480 trials, population 128 as the default study), NSGA-II
runs first through dse's loop (dse.search.run.run_search) and its wall time T is measured; the vectorized search then runs for
the same T (``max_seconds``). The reference front is the union of every run's front and of a long
vectorized run (--long-factor times the longest run's time); hypervolumes use objectives normalized by that front's
ranges (0 = best, 1 = worst) and the reference point 1.1 (dse.search.pareto.hypervolume).
Every run evaluates in-process (``executor = "local"``) so that neither side pays Ray's start-up.

The vectorized run stops at the wall time or at :data:`VECTORIZED_BUDGET` designs, whichever
comes first (at 20,480 NSGA-II trials it reaches the cap in about 60% of NSGA-II's time; its
``# ... vectorized ...`` line gives the time it used). It reserves time for its final recording
(``run_vectorized``'s ``max_seconds``), so it does not overrun NSGA-II's time.

Prints ``large space: vectorized/nsga2 hypervolume ratio at equal time: R`` for each budget.
At 20,480 trials NSGA-II alone runs 4-6 minutes per seed on 2 shared cores; the README's run
(both budgets, --seeds 1 2, --long-factor 1) took 20 minutes.

    nice .venv/bin/python scripts/bench_large_space.py [--seeds 1 2] [--budgets 2048 20480] [--long-factor 1]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from dse.hardware import space as hwspace
from dse.hardware.space import Domain
from dse.search.genome import Genome
from dse.search.pareto import hypervolume, objective_bounds, pareto_mask
from dse.search.spec import load_study
from dse.search.run import run_search
from dse.search.study import distributions
from dse.search.tables import best_trial_numbers
from dse.search.vectorized import run_vectorized

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STUDY = ROOT / "studies" / "yolov3-2mp-edge.toml"

#: The large space: every parameter's full range (precision fixed at int8 as in the default study).
LARGE = {
    "cores": Domain("cores", 1, 256, step=1),
    "rows": Domain("rows", 4, 256, log=True),
    "cols": Domain("cols", 4, 256, log=True),
    "clock_ghz": Domain("clock_ghz", 0.2, 2.5, step=0.01),
    "sram_mb": Domain("sram_mb", 0.25, 256.0, log=True),
    "dram_type": Domain("dram_type", values=hwspace.DRAM_TYPES),
    "dram_channels": Domain("dram_channels", 1, 16, step=1),
    "noc": Domain("noc", values=hwspace.NOCS),
    "noc_width_bits": Domain("noc_width_bits", 32, 4096, log=True),
    "winograd": Domain("winograd", values=(False, True)),
    "lowering": Domain("lowering", values=hwspace.LOWERINGS),
}
#: Designs the vectorized search may evaluate (it stops at the wall time first).
VECTORIZED_BUDGET = 5_000_000


def front_values(study, m: int) -> np.ndarray:
    best = best_trial_numbers(study)  # study.best_trials deep-copies every trial (10^5 here)
    return np.array([t.values for t in study.get_trials(deepcopy=False) if t.number in best],
                    dtype=float).reshape(-1, m)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--budgets", type=int, nargs="+", default=[2048, 20480], help="NSGA-II trials")
    ap.add_argument("--population", type=int, default=128)
    ap.add_argument("--long-factor", type=float, default=2.0,
                    help="a vectorized run this many times the longest run's time joins the reference (0: none)")
    args = ap.parse_args(argv)

    base = load_study(DEFAULT_STUDY)
    fixed = {k: v for k, v in base.fixed.items() if k not in LARGE}
    spec = replace(base, name="bench-large", searched=dict(LARGE), fixed=fixed, executor="local",
                   population=args.population)
    genome = Genome(distributions(spec))
    discrete = math.prod(g.size for g in genome.genes if g.ordinal)
    ints = [g for g in genome.genes if not g.ordinal and g.integer]
    discrete *= math.prod(int(g.high - g.low + 1) for g in ints)
    m = len(spec.objectives)
    dirs = spec.directions
    print(f"# space: {discrete:.2e} designs before the continuous parameters "
          f"({', '.join(g.name for g in genome.genes if not g.ordinal and not g.integer)}); "
          f"objectives {', '.join(f'{d} {o.column}' for o, d in zip(spec.objectives, dirs))}", flush=True)

    fronts: dict[tuple[str, int, int], np.ndarray] = {}
    seconds: dict[tuple[str, int, int], float] = {}
    evaluated: dict[tuple[str, int, int], int] = {}
    with tempfile.TemporaryDirectory(prefix="dse-bench-large-") as tmp:
        root = Path(tmp)
        for budget in args.budgets:
            for seed in args.seeds:
                t0 = time.perf_counter()
                r = run_search(replace(spec, name=f"nsga2-{budget}-{seed}", sampler="nsga2", trials=budget,
                                     seed=seed), results_root=root, fresh=True, progress=False, executor="local")
                t_nsga = time.perf_counter() - t0
                fronts["nsga2", budget, seed] = front_values(r.study, m)
                seconds["nsga2", budget, seed] = t_nsga
                evaluated["nsga2", budget, seed] = budget
                print(f"# nsga2 {budget} trials, seed {seed}: {t_nsga:.1f} s, front {len(fronts['nsga2', budget, seed])}",
                      flush=True)
                t0 = time.perf_counter()
                r = run_vectorized(replace(spec, name=f"vec-{budget}-{seed}", sampler="vectorized",
                                           trials=VECTORIZED_BUDGET, seed=seed),
                                   root, fresh=True, progress=False, executor="local", max_seconds=t_nsga)
                t_vec = time.perf_counter() - t0
                fronts["vectorized", budget, seed] = front_values(r.study, m)
                seconds["vectorized", budget, seed] = t_vec
                evaluated["vectorized", budget, seed] = r.evaluated
                tmg = r.summary["timings"]
                print(f"# vectorized at equal time, seed {seed}: {t_vec:.1f} s, {r.evaluated:,} designs, front "
                      f"{len(fronts['vectorized', budget, seed])}; evaluate {tmg['evaluate_s']:.1f} s, "
                      f"record {tmg['study_s']:.1f} s, table {tmg['table_s']:.1f} s", flush=True)

        if args.long_factor > 0:  # a long vectorized run enriches the reference front
            long_s = args.long_factor * max(seconds.values())
            r = run_vectorized(replace(spec, name="vec-long", sampler="vectorized", trials=VECTORIZED_BUDGET,
                                       seed=999), root, fresh=True, progress=False, executor="local",
                               max_seconds=long_s)
            fronts["vectorized-long", 0, 999] = front_values(r.study, m)
            print(f"# long vectorized run for the reference: {long_s:.0f} s, {r.evaluated:,} designs", flush=True)
        union = np.concatenate(list(fronts.values()))
        ref_front = union[pareto_mask(union, dirs)]
        bounds = objective_bounds(ref_front)
        hv_ref = hypervolume(ref_front, dirs, bounds=bounds)
        print(f"# reference front: union of every run's front, {len(ref_front)} designs", flush=True)
        for budget in args.budgets:
            ratios = []
            for seed in args.seeds:
                hv_n = hypervolume(fronts["nsga2", budget, seed], dirs, bounds=bounds)
                hv_v = hypervolume(fronts["vectorized", budget, seed], dirs, bounds=bounds)
                ratios.append(hv_v / hv_n if hv_n > 0 else math.inf)
                print(f"# {budget} trials, seed {seed}: nsga2 {100 * hv_n / hv_ref:.1f}% of the reference in "
                      f"{seconds['nsga2', budget, seed]:.1f} s; vectorized {100 * hv_v / hv_ref:.1f}% in "
                      f"{seconds['vectorized', budget, seed]:.1f} s ({evaluated['vectorized', budget, seed]:,} designs)",
                      flush=True)
            print(f"large space ({budget:,} nsga2 trials): vectorized/nsga2 hypervolume ratio at equal time: "
                  f"{np.mean(ratios):.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
