"""Evaluator speed: 100,000 random designs from the default space on yolov3@1920x1088 and resnet50.

Prints design-layer evaluations per second per core as its last line (``design_layers_per_s: N``).
Run: ``.venv/bin/python scripts/bench_evaluator.py [--designs N]``. The evaluation is one process
on one core (numpy without threads for these element-wise kernels). Rates are per second of the
process's CPU time (best of the repeats), so that other load on a shared machine does not count;
the wall-clock rate is printed beside it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import optuna

from dse.hardware import space
from dse.hardware.designs import DesignBatch
from dse.hardware.physical import derive
from dse.hardware.technology import load_technology
from dse.model.evaluator import evaluate_workload
from dse.workloads.registry import load_workload

WORKLOADS = ("yolov3@1920x1088", "resnet50")


def random_designs(n: int, node_nm: int, seed: int, schedule: str = "auto") -> DesignBatch:
    """n designs sampled uniformly (log-uniform where the parameter is log) from the default space,
    with ``schedule`` as given and ``batch_schedule`` auto."""
    rng = np.random.default_rng(seed)
    cols = {}
    for name, dist in space.optuna_distributions({p.name: space.default_domain(p.name)
                                                  for p in space.PARAMETERS}).items():
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            pick = rng.integers(0, len(dist.choices), n)
            is_bool = all(isinstance(c, bool) for c in dist.choices)
            cols[name] = np.asarray(dist.choices, dtype=bool if is_bool else object)[pick]
        elif dist.log:
            cols[name] = np.exp(rng.uniform(np.log(dist.low), np.log(dist.high), n))
        else:
            cols[name] = rng.uniform(dist.low, dist.high, n)
        if isinstance(dist, optuna.distributions.IntDistribution):
            cols[name] = np.clip(np.round(cols[name]), dist.low, dist.high).astype(np.int64)
    # the default schedules (the speed target is for schedule = auto; --schedule layer measures
    # what depth-first fusion costs)
    cols["schedule"] = np.full(n, schedule, dtype=object)
    cols["batch_schedule"] = np.full(n, "auto", dtype=object)
    return DesignBatch.from_columns(cols, node_nm, repair_channels=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--designs", type=int, default=100_000)
    ap.add_argument("--node", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--schedule", choices=space.SCHEDULES, default="auto",
                    help="schedule of every design (auto: the default; layer: without depth-first fusion)")
    args = ap.parse_args()
    designs = random_designs(args.designs, args.node, seed=1, schedule=args.schedule)
    hw = derive(designs, load_technology(args.node))
    total_dl, total_s = 0, 0.0
    for label in WORKLOADS:
        table = load_workload(label)
        evaluate_workload(table, designs.take(np.arange(1024)), hw.__class__(**{
            k: v[:1024] for k, v in hw.__dict__.items()}))  # warm caches
        best, best_wall = np.inf, np.inf
        for _ in range(args.repeats):
            start, start_wall = time.process_time(), time.perf_counter()
            m = evaluate_workload(table, designs, hw)
            best = min(best, time.process_time() - start)
            best_wall = min(best_wall, time.perf_counter() - start_wall)
        assert np.isfinite(m.throughput_ips).all()
        rate = args.designs * len(table) / best
        print(f"{table.label}: {args.designs} designs x {len(table)} layers in {best:.3f} s CPU "
              f"({best_wall:.3f} s wall) = {rate / 1e6:.2f} M design-layers/s")
        total_dl += args.designs * len(table)
        total_s += best
    print(f"design_layers_per_s: {total_dl / total_s:.0f}")


if __name__ == "__main__":
    main()
