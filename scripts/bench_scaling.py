#!/usr/bin/env python
"""Ray scaling of an exhaustive sweep: the same fixed grid with 1 and then 2 Ray workers.

The space is a fixed ``grid(...)`` of ~0.9 M designs (YOLOv3 @ 1920x1088, 16 nm), evaluated with
:class:`dse.search.executors.RayExecutor` in chunks of ``--chunk`` designs (tens of ms of work
each: Ray pays off only then, NOTES-optuna-ray.md) on a local Ray with ``num_cpus=1`` and then
``num_cpus=2``. Each Ray session is warmed up (workers started, workload tables cached) before the
timed sweep; the best of ``--repeat`` sweeps counts. Both runs must give identical metrics.

    .venv/bin/python scripts/bench_scaling.py            # prints speedup_2_workers: X last

On a shared machine the second core may be busy: the figure is then pessimistic.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

#: The fixed space: 5*4*4*5*6*4*4*4*3*2 = 921,600 points before dropping DRAM channel counts a
#: DRAM type does not allow.
DOMAINS = {
    "cores": {"values": [4, 8, 16, 32, 64]},
    "rows": {"values": [16, 32, 64, 128]},
    "cols": {"values": [16, 32, 64, 128]},
    "clock_ghz": {"values": [0.6, 0.8, 1.0, 1.2, 1.4]},
    "sram_mb": {"values": [2, 4, 8, 16, 32, 64]},
    "dram_type": ["LPDDR4", "LPDDR4X", "LPDDR5", "LPDDR5X"],
    "dram_channels": {"values": [1, 2, 4, 8]},
    "noc": ["bus", "ring", "mesh", "crossbar"],
    "noc_width_bits": {"values": [128, 256, 512]},
    "winograd": [False, True],
}
WORKLOAD = "yolov3@1920x1088"
NODE_NM = 16


def sweep(columns: dict, workers: int, chunk: int, repeat: int) -> tuple[float, dict]:
    """Best wall time (s) of ``repeat`` sweeps on a fresh local Ray with ``workers`` CPUs."""
    import ray

    from dse.search.executors import RayExecutor

    ray.init(address="local", num_cpus=workers, include_dashboard=False, logging_level="ERROR",
             log_to_driver=False)
    try:
        ex = RayExecutor(workers=workers)
        n = len(next(iter(columns.values())))
        workloads = [(WORKLOAD, None)]
        warm = {k: v[: 256 * workers] for k, v in columns.items()}
        ex.evaluate(warm, NODE_NM, {}, workloads, n_chunks=4 * workers)  # start workers, cache tables
        best, out = math.inf, {}
        for _ in range(repeat):
            start = time.perf_counter()
            out = ex.evaluate(columns, NODE_NM, {}, workloads, n_chunks=math.ceil(n / chunk))
            best = min(best, time.perf_counter() - start)
        return best, out
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, default=8192, help="designs per Ray task (default 8192)")
    parser.add_argument("--repeat", type=int, default=2, help="timed sweeps per worker count (best counts)")
    args = parser.parse_args()

    from dse.hardware.space import grid

    designs = grid(DOMAINS, NODE_NM)
    columns = designs.columns()
    n = len(designs)
    print(f"space: {n} designs x {WORKLOAD} @ {NODE_NM} nm; chunks of {args.chunk} designs "
          f"({math.ceil(n / args.chunk)} tasks); {os.cpu_count()} CPUs here", flush=True)
    t1, out1 = sweep(columns, 1, args.chunk, args.repeat)
    print(f"1 worker:  {t1:.2f} s  ({n / t1 / 1e3:.0f} k designs/s)", flush=True)
    t2, out2 = sweep(columns, 2, args.chunk, args.repeat)
    print(f"2 workers: {t2:.2f} s  ({n / t2 / 1e3:.0f} k designs/s)", flush=True)
    key = f"{WORKLOAD}:throughput_ips"
    assert np.array_equal(out1[key], out2[key]), "1- and 2-worker sweeps disagree"
    best = int(np.nanargmax(out1[key]))
    print(f"best throughput in the grid: {out1[key][best]:.1f} images/s (design {best})")
    print(f"speedup_2_workers: {t1 / t2:.2f}")


if __name__ == "__main__":
    main()
