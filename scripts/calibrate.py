"""Fit the model's global calibration factors to the reference throughputs.

Two factors, never per chip (docs/validation.md):
* ``mac_array_efficiency`` (catalog, chip.csv): sustained fraction of the ideal mapped MAC-array
  cycles, one value for every design;
* ``layer_overhead_s`` of the GPU presets (t4, jetson_agx_xavier): the per-layer kernel launch
  and synchronisation time of a GPU, one value for the GPU class.
The fit minimizes the largest absolute error over dse/model/reference_throughput.csv. It prints
the table for the best pair and the values to put in the catalog and GPU presets.
Run: ``.venv/bin/python scripts/calibrate.py``.
"""

from __future__ import annotations

import itertools

import numpy as np

from dse.hardware.presets import load_preset
from dse.hardware.technology import load_technology
from dse.model.api import evaluate
from dse.model.validation import reference_rows

GPU_PRESETS = ("t4", "jetson_agx_xavier")
EFFICIENCIES = np.round(np.arange(0.40, 1.001, 0.05), 2)
OVERHEADS_US = np.arange(0.0, 30.01, 1.0)


def predict(row, efficiency, overhead_us):
    designs, tech = load_preset(row["preset"])
    overrides = dict(tech.overrides) | {"mac_array_efficiency": efficiency}
    if row["preset"] in GPU_PRESETS:
        overrides["layer_overhead_s"] = overhead_us * 1e-6
    tech = load_technology(designs.node_nm, overrides)
    return float(evaluate(designs, row["workload"], batch=int(row["batch"]), technology=tech)["throughput_ips"].iloc[0])


def main() -> None:
    rows = reference_rows()
    best = None
    for eff, ovh in itertools.product(EFFICIENCIES, OVERHEADS_US):
        errs = [predict(r, eff, ovh) / float(r["images_per_s"]) - 1.0 for r in rows]
        worst = max(abs(e) for e in errs)
        if best is None or worst < best[0]:
            best = (worst, eff, ovh, errs)
    worst, eff, ovh, errs = best
    for r, e in zip(rows, errs):
        print(f"{r['preset']:<10} {r['workload']:<24} batch {r['batch']:>4}: {e:+.1%}")
    print(f"mac_array_efficiency = {eff:.2f}")
    print(f"gpu layer_overhead_s = {ovh:.1f}e-6")
    print(f"max_abs_error_pct: {100 * worst:.1f}")


if __name__ == "__main__":
    main()
