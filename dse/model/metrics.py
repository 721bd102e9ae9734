"""ONE declaration of the model's output metrics (the output twin of ``dse.hardware.space``).

Every metric the evaluator produces is a :class:`Metric`: its stored column name (SI unit in the
name: ``latency_s``, ``dram_bytes``), its SI unit, the label and unit the report and the CLI show
(with the factor from the stored value), whether it exists once per workload (stored as
``LABEL:column``) or once per design, and, for the metrics a study may optimize, the objective
name used in study files and the direction. From this table come the study objectives
(:data:`OBJECTIVES`), the stored objective columns (:func:`column_name`), the columns of
:func:`dse.model.api.evaluate_columns` (:data:`WORKLOAD_METRICS`, :data:`DESIGN_METRICS`) and the
report's unit labels (:func:`metric_of`).

Pure data: no numpy, pandas or Optuna import (the CLI reads it while printing ``--help``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: What "better" means for an objective (Optuna's direction names).
Direction = Literal["maximize", "minimize"]
MAXIMIZE: Direction = "maximize"
MINIMIZE: Direction = "minimize"


@dataclass(frozen=True)
class Metric:
    """One output metric.

    ``column``: stored name, unit in the name (``latency_s``). ``si_unit``: unit of the stored
    value. ``label``/``display_unit``/``display_factor``: how people see it (display value =
    stored value x factor). ``per_workload``: stored once per workload as ``LABEL:column``.
    ``objective``: name in a study's ``[[objectives]] metric`` ("" when it cannot be one).
    ``direction``: ``maximize`` or ``minimize`` (what "better" means), None when neither.
    """

    column: str
    si_unit: str
    label: str
    display_unit: str
    display_factor: float
    per_workload: bool
    direction: Direction | None = None
    objective: str = ""

    def display(self, value: float) -> float:
        """A stored (SI) value in :attr:`display_unit`."""
        return value * self.display_factor

    def header(self, workload: str | None = None) -> str:
        """``latency on yolov3@608x608 [ms]`` (or without the workload)."""
        where = f" on {workload}" if workload else ""
        unit = f" [{self.display_unit}]" if self.display_unit else ""
        return f"{self.label}{where}{unit}"


_W, _D = True, False  # per workload / per design

METRICS: tuple[Metric, ...] = (
    # per workload (LABEL:column)
    Metric("throughput_ips", "inferences/s", "throughput", "inferences/s", 1.0, _W, MAXIMIZE, "throughput"),
    Metric("latency_s", "s", "latency", "ms", 1e3, _W, MINIMIZE, "latency"),
    Metric("energy_j", "J/inference", "energy", "mJ/inference", 1e3, _W, MINIMIZE, "energy"),
    Metric("power_w", "W", "power", "W", 1.0, _W, MINIMIZE, "power"),
    Metric("throughput_per_w", "inferences/s/W", "throughput/power", "inferences/s/W", 1.0, _W, MAXIMIZE,
           "throughput_per_w"),
    Metric("throughput_per_mm2", "inferences/s/mm^2", "throughput/area", "inferences/s/mm^2", 1.0, _W,
           MAXIMIZE, "throughput_per_mm2"),
    Metric("utilization", "1", "MAC utilization", "%", 100.0, _W, MAXIMIZE),
    Metric("effective_tops", "10^12 ops/s", "effective TOPS", "TOPS", 1.0, _W, MAXIMIZE),
    Metric("dram_bytes", "bytes/inference", "DRAM traffic", "MB/inference", 1e-6, _W, MINIMIZE),
    Metric("dram_weight_bytes", "bytes/inference", "DRAM weight traffic", "MB/inference", 1e-6, _W, MINIMIZE),
    Metric("dram_activation_bytes", "bytes/inference", "DRAM activation traffic", "MB/inference", 1e-6, _W,
           MINIMIZE),
    Metric("sram_bytes", "bytes/inference", "SRAM traffic", "MB/inference", 1e-6, _W, MINIMIZE),
    Metric("energy_mac_j", "J/inference", "MAC energy", "mJ/inference", 1e3, _W, MINIMIZE),
    Metric("energy_sram_j", "J/inference", "SRAM energy", "mJ/inference", 1e3, _W, MINIMIZE),
    Metric("energy_noc_j", "J/inference", "interconnect energy", "mJ/inference", 1e3, _W, MINIMIZE),
    Metric("energy_dram_j", "J/inference", "DRAM energy", "mJ/inference", 1e3, _W, MINIMIZE),
    Metric("energy_static_j", "J/inference", "static energy", "mJ/inference", 1e3, _W, MINIMIZE),
    Metric("weights_resident", "0/1", "weights on chip", "0/1", 1.0, _W),
    # layers run inside depth-first stacks (schedule fused or auto); 0: layer by layer
    Metric("fused_layers", "layers", "fused layers", "layers", 1.0, _W),
    Metric("batch", "images", "batch", "images", 1.0, _W),
    # per design
    Metric("area_mm2", "mm^2", "area", "mm^2", 1.0, _D, MINIMIZE, "area"),
    Metric("area_mac_mm2", "mm^2", "MAC area", "mm^2", 1.0, _D, MINIMIZE),
    Metric("area_sram_mm2", "mm^2", "SRAM area", "mm^2", 1.0, _D, MINIMIZE),
    Metric("area_local_mm2", "mm^2", "local buffer area", "mm^2", 1.0, _D, MINIMIZE),
    Metric("area_dram_phy_mm2", "mm^2", "DRAM PHY area", "mm^2", 1.0, _D, MINIMIZE),
    Metric("area_noc_mm2", "mm^2", "interconnect area", "mm^2", 1.0, _D, MINIMIZE),
    Metric("area_overhead_mm2", "mm^2", "other area", "mm^2", 1.0, _D, MINIMIZE),
    Metric("static_power_w", "W", "static power", "W", 1.0, _D, MINIMIZE),
    Metric("peak_tops", "10^12 ops/s", "peak TOPS", "TOPS", 1.0, _D, MAXIMIZE),
    Metric("power_density_limit_w_per_mm2", "W/mm^2", "power density limit", "W/mm^2", 1.0, _D),
    Metric("die_cost_usd", "USD", "die cost", "USD", 1.0, _D, MINIMIZE, "die_cost"),
    Metric("die_yield", "1", "die yield", "%", 100.0, _D, MAXIMIZE),
    # the DRAM channel count actually evaluated (samplers' counts are snapped to allowed ones)
    Metric("dram_channels", "channels", "DRAM channels", "channels", 1.0, _D),
)

BY_COLUMN: dict[str, Metric] = {m.column: m for m in METRICS}
#: Study-file objective name -> its metric.
OBJECTIVES: dict[str, Metric] = {m.objective: m for m in METRICS if m.objective}
assert all(m.direction for m in OBJECTIVES.values()), "an objective needs a direction"
#: Per-workload columns of ``evaluate_columns`` (stored as ``LABEL:column``), SI.
WORKLOAD_METRICS: tuple[str, ...] = tuple(m.column for m in METRICS if m.per_workload)
#: Per-design columns of ``evaluate_columns``, SI (mm^2 for areas).
DESIGN_METRICS: tuple[str, ...] = tuple(m.column for m in METRICS if not m.per_workload)
#: Separator between a workload label and a metric column in stored names (``LABEL:latency_s``).
WORKLOAD_SEP = ":"


def column_name(metric: Metric | str, workload: str | None = None) -> str:
    """Stored column of a metric: ``area_mm2`` or ``LABEL:throughput_ips``."""
    column = metric.column if isinstance(metric, Metric) else metric
    return f"{workload}{WORKLOAD_SEP}{column}" if workload else column


def split_column(column: str) -> tuple[str | None, str]:
    """``yolov3@608x608:latency_s`` -> (``yolov3@608x608``, ``latency_s``); no workload -> None."""
    workload, sep, metric = column.rpartition(WORKLOAD_SEP)
    return (workload if sep else None), metric


def metric_of(column: str) -> Metric | None:
    """The :class:`Metric` of a stored column (with or without its workload), or None."""
    return BY_COLUMN.get(split_column(column)[1])


__all__ = ["Direction", "Metric", "METRICS", "BY_COLUMN", "OBJECTIVES", "WORKLOAD_METRICS", "DESIGN_METRICS",
           "MAXIMIZE", "MINIMIZE", "WORKLOAD_SEP", "column_name", "split_column", "metric_of"]
