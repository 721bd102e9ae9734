"""Evaluate designs on workloads: the Python entry points of the model layer.

* :func:`evaluate_columns` is the pure array function the search ships to workers: plain numpy
  columns in, plain numpy metric columns out (no Optuna or dse objects cross process borders).
* :func:`evaluate` is the notebook/CLI call returning a pandas DataFrame with units in the names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from dse.errors import UserError
from dse.hardware.technology import Technology, load_technology
from dse.hardware.cost import die_cost
from dse.hardware.designs import DesignBatch
from dse.hardware.physical import HardwareArrays, derive
from dse.model.evaluator import OPS_PER_MAC, NetworkMetrics, evaluate_workload
from dse.workloads.layers import LayerTable
from dse.workloads.registry import load_workload

#: Per-workload metric columns in SI units, as stored in studies (``LABEL:metric``).
WORKLOAD_METRICS = (
    "throughput_ips", "latency_s", "energy_j", "power_w", "throughput_per_w", "throughput_per_mm2",
    "utilization", "effective_tops", "dram_bytes", "sram_bytes", "energy_mac_j", "energy_sram_j",
    "energy_noc_j", "energy_dram_j", "energy_static_j", "weights_resident", "batch",
)
#: Per-design metric columns (independent of the workload).
DESIGN_METRICS = ("area_mm2", "area_mac_mm2", "area_sram_mm2", "area_dram_phy_mm2", "area_noc_mm2",
                  "area_overhead_mm2", "static_power_w", "peak_tops", "power_density_limit_w_per_mm2",
                  "die_cost_usd", "die_yield")
TERA = 1e12
MILLI, MEGA, MICRO = 1e-3, 1e6, 1e-6  # friendly units at the edge: ms, mJ, MB, us


def design_metrics(hw: HardwareArrays, tech: Technology) -> dict[str, np.ndarray]:
    """(D,) per-design columns: area breakdown (mm^2), static power (W), peak TOPS (2 ops/MAC),
    cost of a good die (USD, :mod:`dse.hardware.cost`) and its yield (fraction)."""
    cost = die_cost(hw.area_mm2, tech)
    return {
        "area_mm2": hw.area_mm2, "area_mac_mm2": hw.area_mac_mm2, "area_sram_mm2": hw.area_sram_mm2,
        "area_dram_phy_mm2": hw.area_dram_phy_mm2, "area_noc_mm2": hw.area_noc_mm2,
        "area_overhead_mm2": hw.area_overhead_mm2, "static_power_w": hw.static_power_w,
        "peak_tops": OPS_PER_MAC * hw.peak_macs_per_s / TERA,
        "power_density_limit_w_per_mm2": hw.power_density_limit_w_per_mm2,
        "die_cost_usd": cost.die_cost_usd, "die_yield": cost.die_yield,
    }


def workload_metrics(m: NetworkMetrics, hw: HardwareArrays, batch: np.ndarray) -> dict[str, np.ndarray]:
    """(D,) per-workload columns in SI units (see :data:`WORKLOAD_METRICS`)."""
    return {
        "throughput_ips": m.throughput_ips, "latency_s": m.latency_s, "energy_j": m.energy_j,
        "power_w": m.power_w, "throughput_per_w": m.throughput_ips / m.power_w,
        "throughput_per_mm2": m.throughput_ips / hw.area_mm2, "utilization": m.utilization,
        "effective_tops": m.effective_tops, "dram_bytes": m.dram_bytes, "sram_bytes": m.sram_bytes,
        "energy_mac_j": m.energy_mac_j, "energy_sram_j": m.energy_sram_j, "energy_noc_j": m.energy_noc_j,
        "energy_dram_j": m.energy_dram_j, "energy_static_j": m.energy_static_j,
        "weights_resident": m.weights_resident.astype(np.float64), "batch": batch.astype(np.float64),
    }


def evaluate_columns(columns: Mapping[str, np.ndarray], node_nm: int, technology: Mapping[str, float],
                     workloads: Sequence[tuple[str, np.ndarray | None]]) -> dict[str, np.ndarray]:
    """Score D designs given as plain columns; the function Ray workers run.

    Args:
        columns: design parameters, friendly units as in :mod:`dse.hardware.space`, each (D,).
        node_nm: process node of the study.
        technology: catalog overrides.
        workloads: (label, batch) pairs; batch is a (D,) int array or None for the designs' own.
    Returns:
        dict of (D,) float64 arrays: :data:`DESIGN_METRICS` and ``LABEL:metric`` per workload.
    """
    tech = load_technology(node_nm, dict(technology))
    # Sampled DRAM channel counts may not exist for the sampled DRAM type: snap to the nearest.
    designs = DesignBatch.from_columns(columns, node_nm, repair_channels=True)
    return score_designs(designs, tech, workloads)


def score_designs(designs: DesignBatch, tech, workloads: Sequence[tuple[str, np.ndarray | None]]
                  ) -> dict[str, np.ndarray]:
    """The metric columns of :func:`evaluate_columns` for a DesignBatch of D designs.

    ``tech`` is a Technology, or a :class:`dse.hardware.ranges.TechnologySamples` whose values
    are (D,) arrays (Monte Carlo); ``workloads`` are (label, batch) pairs, batch (D,), a scalar
    or None. Returns dict of (D,) float64 arrays.
    """
    hw = derive(designs, tech)  # independent of the batch size
    out = dict(design_metrics(hw, tech))
    out["dram_channels"] = designs.dram_channels.astype(np.float64)
    for label, batch in workloads:
        d = designs if batch is None else designs.with_values(batch=np.asarray(batch))
        m = evaluate_workload(load_workload(label), d, hw)
        for key, value in workload_metrics(m, hw, d.batch).items():
            out[f"{label}:{key}"] = np.asarray(value, dtype=np.float64)
    return out


def _as_tables(workloads) -> list[LayerTable]:
    if isinstance(workloads, (str, LayerTable)):
        workloads = [workloads]
    return [w if isinstance(w, LayerTable) else load_workload(w) for w in workloads]


def evaluate(designs: DesignBatch, workloads: str | LayerTable | Iterable, batch: int | None = None,
             technology: Technology | None = None, per_layer: bool = False):
    """Evaluate designs on workloads; one DataFrame row per (design, workload).

    Args:
        designs: a :class:`DesignBatch` of D designs.
        workloads: names (``yolov3@1920x1088``), layer tables, or a list of them.
        batch: batch size overriding the designs' own (images per batch).
        technology: catalog to use (default: the designs' node with no overrides).
        per_layer: also return {workload label: DataFrame of per-layer rows for design 0..D-1}.
    Returns:
        DataFrame with columns ``design``, ``workload`` and metrics with units in their names
        (``throughput_ips``, ``latency_ms``, ``energy_mj``, ``power_w``, ``area_mm2``,
        ``dram_mb`` per inference, ...); with ``per_layer`` a (DataFrame, dict) pair.
    """
    if batch is not None:
        if int(batch) < 1:
            raise UserError(f"batch: {batch} must be >= 1")
        designs = designs.with_values(batch=np.full(len(designs), int(batch)))
    tech = technology or load_technology(designs.node_nm)
    hw = derive(designs, tech)
    frames, layer_frames = [], {}
    base = design_metrics(hw, tech)
    for table in _as_tables(workloads):
        m = evaluate_workload(table, designs, hw, per_layer=per_layer)
        cols = workload_metrics(m, hw, designs.batch)
        frame = pd.DataFrame({"design": np.arange(len(designs)), "workload": table.label})
        frame["batch"] = designs.batch
        frame["throughput_ips"] = cols["throughput_ips"]
        frame["latency_ms"] = cols["latency_s"] / MILLI
        frame["energy_mj"] = cols["energy_j"] / MILLI
        frame["power_w"] = cols["power_w"]
        frame["utilization"] = cols["utilization"]
        frame["effective_tops"] = cols["effective_tops"]
        frame["dram_mb"] = cols["dram_bytes"] / MEGA
        frame["sram_mb_moved"] = cols["sram_bytes"] / MEGA
        for part in ("mac", "sram", "noc", "dram", "static"):
            frame[f"energy_{part}_mj"] = cols[f"energy_{part}_j"] / MILLI
        frame["weights_resident"] = m.weights_resident
        for key, value in base.items():
            frame[key] = value
        frames.append(frame)
        if per_layer:
            layer_frames[table.label] = per_layer_frame(table, m)
    result = pd.concat(frames, ignore_index=True)
    return (result, layer_frames) if per_layer else result


def per_layer_frame(table: LayerTable, m: NetworkMetrics) -> pd.DataFrame:
    """Per-layer rows for every design (long format: design, layer, ...), friendly units."""
    from dse.model.evaluator import BOUNDS

    lay = m.layers
    d, n = lay["time_s"].shape
    frame = pd.DataFrame({
        "design": np.repeat(np.arange(d), n),
        "layer": np.tile(np.arange(n), d),
        "name": np.tile(table.name, d),
        "op": np.tile(table.to_frame()["op"].to_numpy(), d),
        "macs": np.tile(table.macs, d),
        "cycles": lay["cycles"].ravel(),
        "time_us": lay["time_s"].ravel() / MICRO,
        "compute_us": lay["compute_s"].ravel() / MICRO,
        "sram_us": lay["sram_s"].ravel() / MICRO,
        "interconnect_us": lay["interconnect_s"].ravel() / MICRO,
        "dram_us": lay["dram_s"].ravel() / MICRO,
        "overhead_us": lay["overhead_s"].ravel() / MICRO,
        "bound": np.asarray(BOUNDS, dtype=object)[lay["bound"].ravel()],
        "dram_mb": lay["dram_bytes"].ravel() / MEGA,
        "utilization": lay["utilization"].ravel(),
    })
    return frame
