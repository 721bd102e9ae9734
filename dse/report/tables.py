"""Tables of the report, formatted for reading: every header with its unit, objectives and budgets
first, then the parameters that vary, constants stated once above the table.

Each function returns a DataFrame of strings (the renderers add no formatting of their own).
"""

from __future__ import annotations

import pandas as pd

from dse.model.metrics import WORKLOAD_METRICS, column_name, metric_of
from dse.report import analysis as an
from dse.report.load import Results

SKIP = {"trial", "state", "feasible", "duration_s", "number"}


def budget_header(r: Results, col: str) -> str:
    """Header of a metric with its budget if the study sets one: ``area [mm^2] (budget 100)``."""
    h = an.header(col)
    budget = None
    if col == "area_mm2":
        budget = r.budgets.get("area_mm2")
    elif col.endswith(":power_w"):
        budget = r.budgets.get("power_w")
    elif r.spec is not None and col.endswith(":latency_s"):
        budget = r.spec.latency_s.get(col.split(":")[0])
    elif r.spec is not None and col.endswith(":throughput_ips") and col.split(":")[0] in r.spec.min_throughput_ips:
        return f"{h} (at least {an.fmt(r.spec.min_throughput_ips[col.split(':')[0]])})"
    if budget is None:
        return h
    return f"{h} (budget {an.fmt(an.friendly(budget, col))})"


def key_metrics(r: Results, frame: pd.DataFrame) -> list[str]:
    """Objectives, then the other budgeted metrics, then every workload's throughput."""
    cols = [c for c in r.objectives if c in frame]
    budgeted = (["area_mm2"] if "area_mm2" in r.budgets else []) + \
        ([f"{wl}:power_w" for wl in r.workloads] if "power_w" in r.budgets else [])
    if r.spec is not None:
        budgeted += [f"{wl}:latency_s" for wl in r.spec.latency_s]
    budgeted += [f"{wl}:throughput_ips" for wl in r.workloads]
    for c in budgeted:
        if c in frame and c not in cols:
            cols.append(c)
    return cols


def split_params(r: Results, frame: pd.DataFrame) -> tuple[list[str], dict[str, object]]:
    """(parameters that vary over ``frame``, {parameter: value} of those that do not)."""
    varying, constant = [], {}
    for p in r.params:
        if p not in frame:
            continue
        values = frame[p].dropna().unique()
        if len(values) > 1:
            varying.append(p)
        elif len(values) == 1:
            constant[p] = values[0]
    if r.spec is not None:
        for k, v in r.spec.fixed.items():
            constant.setdefault(k, v)
    return varying, constant


def _cells(col: str, values: pd.Series) -> list[str]:
    if col.endswith(":weights_resident"):
        return ["yes" if v else "no" for v in values]
    if col.endswith(f":{an.FUSED_LAYERS}"):
        n_layers = an.layer_count(col.rpartition(":")[0])
        return [an.fusion_cell(v, n_layers) for v in values]
    if values.dtype.kind in "fiu":
        values = an.friendly(values.astype(float), col)
    return [an.fmt(v) for v in values]


def constants_line(constant: dict[str, object]) -> str:
    """``Same on every design: precision int8, lowering im2col, ...`` (units included)."""
    if not constant:
        return ""
    parts = []
    for k, v in constant.items():
        parts.append(f"{an.unit_of(k)[0]} {an.with_unit(k, v)}")
    return "Same on every design here: " + ", ".join(parts) + "."


def design_table(r: Results, frame: pd.DataFrame, lead: dict[str, list] | None = None) -> tuple[pd.DataFrame, str]:
    """Rows of the trials table -> (display table, constants line).

    Columns: ``lead`` columns, trial, objectives and budgeted metrics (budget in the header), the
    schedule on each objective's workload (``layer by layer``, ``fused: 51 of 102`` layers run
    depth-first, or ``not recorded`` for studies stored before the model had fusion), then the
    parameters that vary over ``frame``. Other metrics stay in pareto.csv / trials.csv.
    """
    out: dict[str, list] = dict(lead or {})
    out["trial"] = [str(int(t)) for t in frame["trial"]]
    for col in key_metrics(r, frame):
        out[budget_header(r, col)] = _cells(col, frame[col])
    for wl in an.objective_workloads(r.objectives, r.workloads):
        col = f"{wl}:{an.FUSED_LAYERS}"
        out[an.fusion_header(wl)] = (_cells(col, frame[col]) if col in frame
                                     else [an.NOT_RECORDED] * len(frame))
    varying, constant = split_params(r, frame)
    for p in varying:
        out[an.header(p)] = _cells(p, frame[p])
    return pd.DataFrame(out), constants_line(constant)


def metric_order(r: Results, frame: pd.DataFrame) -> list[str]:
    """Every stored metric of ``frame``: key metrics first, then design metrics, then per workload."""
    first = key_metrics(r, frame)
    skip = set(r.params) | SKIP | set(first)
    design = [c for c in frame.columns if ":" not in c and c not in skip and metric_of(c) is not None]
    per_wl = []
    for wl in r.workloads:
        per_wl += [c for c in (column_name(m, wl) for m in WORKLOAD_METRICS) if c in frame and c not in skip]
    return first + design + per_wl


def comparison_table(r: Results, designs: list[tuple[str, pd.Series]]) -> pd.DataFrame:
    """Designs side by side (one column each, ``label (trial N)``), one row per parameter and metric
    with its unit: objectives and budgets first, then every parameter, then the other metrics."""
    frame = pd.DataFrame([row for _, row in designs])
    rows: dict[str, list[str]] = {}
    for col in key_metrics(r, frame):
        rows[budget_header(r, col)] = _cells(col, frame[col])
    for p in r.params:
        if p in frame:
            rows[an.header(p)] = _cells(p, frame[p])
    for col in metric_order(r, frame)[len(key_metrics(r, frame)):]:
        fused = col.endswith(f":{an.FUSED_LAYERS}")  # cells in words: "fused: 51 of 102"
        head = an.fusion_header(col.rpartition(":")[0]) if fused else an.header(col).replace(" [0/1]", "")
        rows[head] = _cells(col, frame[col])
    names = [f"{label} (trial {int(row['trial'])})" for label, row in designs]
    table = pd.DataFrame(rows, index=names).T
    table.index.name = "metric"
    return table.reset_index()


def fmt_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell through :func:`analysis.fmt` (numbers with 3 significant digits)."""
    return frame.apply(lambda col: [an.fmt(v) for v in col])
