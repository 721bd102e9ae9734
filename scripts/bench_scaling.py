#!/usr/bin/env python
"""Ray scaling of an exhaustive sweep: the same fixed grid with 1 and then 2 Ray workers.

The space is a fixed ``grid(...)`` of ~0.9 M designs (YOLOv3 @ 1920x1088, 16 nm), evaluated with
:class:`dse.search.executors.RayExecutor` in chunks of ``--chunk`` designs (tens of ms of work
each: Ray pays off only then, docs/architecture.md, "Measured costs") on a local Ray with ``num_cpus=1`` and then
``num_cpus=2``. Each Ray session is warmed up (workers started, workload tables cached) before the
timed sweep; 1- and 2-worker sweeps alternate ``--repeat`` times and the best of each counts. Both runs must give identical metrics.

    .venv/bin/python scripts/bench_scaling.py            # prints speedup_2_workers: X last

Ray runs its workers at nice 15 by default; here they run at nice 0 (``RAY_worker_niceness``)
so that other work on a shared machine does not starve them and the figure measures dse's scaling.
On a shared machine the second core may still be busy: the figure is then pessimistic.
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


def sweep(columns: dict, workers: int, chunk: int) -> tuple[float, dict]:
    """Wall time (s) and metrics of one sweep on a fresh local Ray with ``workers`` CPUs."""
    import ray

    from dse.search.executors import RayExecutor

    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(address="local", num_cpus=workers, include_dashboard=False, logging_level="ERROR",
             log_to_driver=False)
    try:
        ex = RayExecutor(workers=workers)
        n = len(next(iter(columns.values())))
        workloads = [(WORKLOAD, None)]
        warm = {k: v[: 256 * workers] for k, v in columns.items()}
        ex.evaluate(warm, NODE_NM, {}, workloads, n_chunks=4 * workers)  # start workers, cache tables
        start = time.perf_counter()
        out = ex.evaluate(columns, NODE_NM, {}, workloads, n_chunks=math.ceil(n / chunk))
        return time.perf_counter() - start, out
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, default=8192, help="designs per Ray task (default 8192)")
    parser.add_argument("--repeat", type=int, default=2, help="timed sweeps per worker count (best counts)")
    args = parser.parse_args()

    from dse.hardware.designs import grid

    designs = grid(DOMAINS, NODE_NM)
    columns = designs.columns()
    n = len(designs)
    print(f"space: {n} designs x {WORKLOAD} @ {NODE_NM} nm; chunks of {args.chunk} designs "
          f"({math.ceil(n / args.chunk)} tasks); {os.cpu_count()} CPUs here", flush=True)
    best = {1: math.inf, 2: math.inf}
    outs = {}
    for r in range(args.repeat):  # interleaved, so that a busy spell on a shared machine hits both
        for workers in (1, 2):
            t, outs[workers] = sweep(columns, workers, args.chunk)
            best[workers] = min(best[workers], t)
            print(f"round {r + 1}: {workers} worker(s): {t:.2f} s ({n / t / 1e3:.0f} k designs/s)", flush=True)
    t1, t2, out1, out2 = best[1], best[2], outs[1], outs[2]
    print(f"best: 1 worker {t1:.2f} s, 2 workers {t2:.2f} s")
    key = f"{WORKLOAD}:throughput_ips"
    assert np.array_equal(out1[key], out2[key]), "1- and 2-worker sweeps disagree"
    top = int(np.nanargmax(out1[key]))
    print(f"best throughput in the grid: {out1[key][top]:.1f} images/s (design {top})")
    print(f"speedup_2_workers: {t1 / t2:.2f}")


if __name__ == "__main__":
    main()
