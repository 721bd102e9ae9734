"""Monte Carlo speed: 256 technology samples for every design on the default study's front.

Uses ``results/yolov3-2mp-edge`` (from ``make run``) if it exists, else runs the default study
first (``studies/yolov3-2mp-edge.toml``, in-process) into a temporary folder. Times one
:func:`dse.model.uncertainty.monte_carlo` call (S x D designs in one vectorized batch) and the
one-at-a-time sensitivity on one core; the last line is ``monte_carlo_s: T``.

Run: ``.venv/bin/python scripts/bench_uncertainty.py [--samples 256] [--results results/NAME]``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: no BLAS threads (none are used anyway)

import argparse
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from dse.hardware.technology import load_technology
    from dse.model.uncertainty import monte_carlo, one_at_a_time
    from dse.report.load import load_results
    from dse.search.robustness import pareto_probability, study_designs, study_front
    from dse.search.spec import load_study
    from dse.search.study import run_study

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--results", default=str(ROOT / "results" / "yolov3-2mp-edge"))
    args = ap.parse_args()
    folder = Path(args.results)
    if not (folder / "study.toml").exists():
        tmp = Path(tempfile.mkdtemp(prefix="dse-bench-unc-"))
        print(f"{folder} not found: running the default study into {tmp} (not timed)")
        run_study(load_study(ROOT / "studies" / "yolov3-2mp-edge.toml"), tmp, executor="local", progress=False)
        folder = tmp / "yolov3-2mp-edge"
    r = load_results(folder)
    spec = r.spec
    front = study_front(spec, r.trials)
    designs, workloads = study_designs(spec, front)
    tech = load_technology(spec.node_nm, spec.technology)
    monte_carlo(designs.take([0]), tech, workloads, 2, 0)  # warm the workload and geometry caches
    t0, c0 = time.perf_counter(), time.process_time()
    mc = monte_carlo(designs, tech, workloads, args.samples, seed=0)
    t_mc, cpu_mc = time.perf_counter() - t0, time.process_time() - c0
    prob = pareto_probability(spec, mc.metrics)
    t_prob = time.perf_counter() - t0 - t_mc
    t1 = time.perf_counter()
    oat = one_at_a_time(designs, tech, workloads)
    t_oat = time.perf_counter() - t1
    n = len(designs)
    print(f"front designs: {n}, workloads: {', '.join(w for w, _ in workloads)}, "
          f"constants sampled: {len(mc.keys)}")
    print(f"monte carlo: {args.samples} samples x {n} designs = {args.samples * n} evaluations in {t_mc:.2f} s "
          f"({args.samples * n / t_mc:,.0f} design-samples/s); CPU time {cpu_mc:.2f} s (wall > CPU: other "
          "processes shared the core)")
    print(f"pareto probabilities: {t_prob:.2f} s ({int((prob >= 0.9).sum())} of {n} designs >= 90%)")
    print(f"one at a time: {len(oat.keys)} constants x 2 ends x {n} designs in {t_oat:.2f} s")
    print(f"monte_carlo_s: {t_mc:.2f}")


if __name__ == "__main__":
    main()
