"""Evaluate designs on workloads: the Python entry points of the model layer.

* :func:`evaluate_columns` is the pure array function the search ships to workers: plain numpy
  columns in, plain numpy metric columns out (no Optuna or dse objects cross process borders).
* :func:`evaluate` is the notebook/CLI call returning a pandas DataFrame with SI units in the
  names (the columns of :mod:`dse.model.metrics`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from dse.errors import UserError
from dse.hardware.cost import die_cost
from dse.hardware.designs import DesignBatch
from dse.hardware.physical import HardwareArrays, derive
from dse.hardware.technology import Technology, load_technology
from dse.model.evaluator import OPS_PER_MAC, NetworkMetrics, evaluate_workload
from dse.model.metrics import DESIGN_METRICS, WORKLOAD_METRICS, column_name
from dse.workloads.layers import LayerTable
from dse.workloads.registry import load_workload

TERA = 1e12


def design_metrics(hw: HardwareArrays, designs: DesignBatch, tech) -> dict[str, np.ndarray]:
    """(D,) per-design columns (:data:`DESIGN_METRICS`): area breakdown (mm^2), static power (W),
    peak TOPS (2 ops/MAC), cost of a good die (USD, :mod:`dse.hardware.cost`) and its yield
    (fraction), the DRAM channel count evaluated. ``tech``: a Technology or TechnologySamples."""
    cost = die_cost(hw.area_mm2, tech)
    out = {
        "area_mm2": hw.area_mm2, "area_mac_mm2": hw.area_mac_mm2, "area_sram_mm2": hw.area_sram_mm2,
        "area_local_mm2": hw.area_local_mm2,
        "area_dram_phy_mm2": hw.area_dram_phy_mm2, "area_noc_mm2": hw.area_noc_mm2,
        "area_overhead_mm2": hw.area_overhead_mm2, "static_power_w": hw.static_power_w,
        "peak_tops": OPS_PER_MAC * hw.peak_macs_per_s / TERA,
        "power_density_limit_w_per_mm2": hw.power_density_limit_w_per_mm2,
        "die_cost_usd": cost.die_cost_usd, "die_yield": cost.die_yield,
        "dram_channels": designs.dram_channels.astype(np.float64),
    }
    assert tuple(out) == DESIGN_METRICS, "dse.model.metrics declares the design metrics"
    return out


def workload_metrics(m: NetworkMetrics, hw: HardwareArrays, batch: np.ndarray) -> dict[str, np.ndarray]:
    """(D,) per-workload columns in SI units (see :data:`WORKLOAD_METRICS`)."""
    out = {
        "throughput_ips": m.throughput_ips, "latency_s": m.latency_s, "energy_j": m.energy_j,
        "power_w": m.power_w, "throughput_per_w": m.throughput_ips / m.power_w,
        "throughput_per_mm2": m.throughput_ips / hw.area_mm2, "utilization": m.utilization,
        "effective_tops": m.effective_tops, "dram_bytes": m.dram_bytes,
        "dram_weight_bytes": m.dram_weight_bytes, "dram_activation_bytes": m.dram_activation_bytes,
        "sram_bytes": m.sram_bytes,
        "energy_mac_j": m.energy_mac_j, "energy_sram_j": m.energy_sram_j, "energy_noc_j": m.energy_noc_j,
        "energy_dram_j": m.energy_dram_j, "energy_static_j": m.energy_static_j,
        "weights_resident": m.weights_resident.astype(np.float64),
        "fused_layers": m.fused_layers.astype(np.float64), "batch": batch.astype(np.float64),
    }
    assert tuple(out) == WORKLOAD_METRICS, "dse.model.metrics declares the workload metrics"
    return out


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
    out = dict(design_metrics(hw, designs, tech))
    for label, batch in workloads:
        d = designs if batch is None else designs.with_values(batch=np.asarray(batch))
        m = evaluate_workload(load_workload(label), d, hw)
        for key, value in workload_metrics(m, hw, d.batch).items():
            out[column_name(key, label)] = np.asarray(value, dtype=np.float64)
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
        DataFrame with columns ``design``, ``workload``, then every metric of
        :mod:`dse.model.metrics` in SI units, named with them (``throughput_ips``, ``latency_s``,
        ``energy_j`` and ``dram_bytes`` per inference, ``power_w``, ``area_mm2``, ...;
        ``batch`` int, ``weights_resident`` bool); with ``per_layer`` a (DataFrame, dict) pair.
    """
    if batch is not None:
        if int(batch) < 1:
            raise UserError(f"batch: {batch} must be >= 1")
        designs = designs.with_values(batch=np.full(len(designs), int(batch)))
    tech = technology or load_technology(designs.node_nm)
    hw = derive(designs, tech)
    frames, layer_frames = [], {}
    base = design_metrics(hw, designs, tech)
    for table in _as_tables(workloads):
        m = evaluate_workload(table, designs, hw, per_layer=per_layer)
        frame = pd.DataFrame({"design": np.arange(len(designs)), "workload": table.label,
                              **workload_metrics(m, hw, designs.batch), **base})
        frame["batch"] = designs.batch
        frame["weights_resident"] = m.weights_resident
        frames.append(frame)
        if per_layer:
            layer_frames[table.label] = per_layer_frame(table, m)
    result = pd.concat(frames, ignore_index=True)
    return (result, layer_frames) if per_layer else result


def per_layer_frame(table: LayerTable, m: NetworkMetrics) -> pd.DataFrame:
    """Per-layer rows for every design (long format: design, layer, ...), SI units (``time_s``,
    ``compute_s``, ... ``overhead_s``, ``dram_bytes``)."""
    from dse.model.evaluator import BOUNDS

    lay = m.layers
    if lay is None:
        raise ValueError("per_layer_frame needs evaluate_workload(..., per_layer=True)")
    d, n = lay["time_s"].shape
    frame = pd.DataFrame({
        "design": np.repeat(np.arange(d), n),
        "layer": np.tile(np.arange(n), d),
        "name": np.tile(table.name, d),
        "op": np.tile(table.to_frame()["op"].to_numpy(), d),
        "macs": np.tile(table.macs, d),
        "cycles": lay["cycles"].ravel(),
        "compute_cycles": lay["compute_cycles"].ravel(),
        "time_s": lay["time_s"].ravel(),
        "compute_s": lay["compute_s"].ravel(),
        "sram_s": lay["sram_s"].ravel(),
        "interconnect_s": lay["interconnect_s"].ravel(),
        "dram_s": lay["dram_s"].ravel(),
        "overhead_s": lay["overhead_s"].ravel(),
        "bound": np.asarray(BOUNDS, dtype=object)[lay["bound"].ravel()],
        "dram_bytes": lay["dram_bytes"].ravel(),
        "utilization": lay["utilization"].ravel(),
        # depth-first stack of the layer (-1: runs alone), its bands of rows and tiles per image
        "stack": lay["stack"].ravel(),
        "bands": lay["bands"].ravel(),
        "tiles": lay["tiles"].ravel(),
    })
    return frame
