"""Numbers behind the report: friendly units, Pareto sets, the knee, hypervolume, rank correlations,
the designs chosen for analysis and their re-evaluation with the current model (per layer, per
batch). Figures only draw what these functions compute.

The statistics are pure (numpy/pandas in, numpy/pandas out); the re-evaluation helpers take the
study spec. Stored columns are SI
(``LABEL:latency_s``, ``area_mm2``, ``LABEL:dram_bytes``); :func:`unit_of` maps a column to the
friendly unit the report shows (ms, mJ, MB, W, mm^2, inferences/s) and the factor to get there,
both taken from the metric registry :mod:`dse.model.metrics` (parameters: their declaration in
:mod:`dse.hardware.space`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dse.errors import UserError
from dse.hardware.space import PARAMETERS
from dse.model.metrics import BY_COLUMN, metric_of, split_column
from dse.search import pareto as search_pareto
from dse.search.best import best_per_objective

# --- units ---------------------------------------------------------------------------------
# Metric labels, units and factors come from the metric registry (dse.model.metrics), parameter
# units from the parameter declaration (dse.hardware.space); the report keeps only friendlier
# names for a few parameters.

PARAM_NAMES = {"clock_ghz": "clock", "sram_mb": "SRAM", "noc_width_bits": "NoC width", "noc": "NoC",
               "dram_type": "DRAM type", "dram_channels": "DRAM channels", "local_kib": "local buffer",
               "sram_bw_bytes_per_cycle": "SRAM bandwidth"}
_PARAMS = {p.name: p for p in PARAMETERS}


def unit_of(column: str) -> tuple[str, str, float]:
    """(friendly label, unit, factor) for a stored column; label includes the workload if any.

    >>> unit_of("yolov3@416x416:latency_s")
    ('latency on yolov3@416x416', 'ms', 1000.0)
    """
    if column.startswith("batch."):
        return f"batch on {column[6:]}", _PARAMS["batch"].unit, 1.0
    if column in _PARAMS:
        return PARAM_NAMES.get(column, column), _PARAMS[column].unit, 1.0
    workload, name = split_column(column)
    m = metric_of(column)
    label, unit, factor = (m.label, m.display_unit, m.display_factor) if m else (name, "", 1.0)
    return (f"{label} on {workload}" if workload else label), unit, factor


def header(column: str, short: bool = False) -> str:
    """Axis or table header with its unit: ``latency on yolov3@416x416 [ms]`` (``short``: without
    the workload)."""
    m = metric_of(column) if column not in _PARAMS else None
    if m is not None:
        return m.header(None if short else split_column(column)[0])
    label, unit, _ = unit_of(column)
    if short:
        label = label.split(" on ")[0]
    return f"{label} [{unit}]" if unit else label


def friendly(series: pd.Series | np.ndarray, column: str):
    """Values of a stored column converted to the unit of :func:`unit_of`."""
    return series * unit_of(column)[2]


def with_unit(column: str, value) -> str:
    """A stored (SI) value of ``column`` as the report shows it: ``33.3 ms``, ``16 tiles``; names
    and flags as they are (``int8``, ``yes``)."""
    if isinstance(value, (str, bool, np.bool_)):
        return fmt(value)
    _, unit, factor = unit_of(column)
    return f"{fmt(float(value) * factor)} {unit}".rstrip()


def fmt(value, digits: int = 3) -> str:
    """Compact number: 3 significant digits, no scientific notation for everyday magnitudes."""
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(v):
        return "-"
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    a = abs(v)
    if 1e-3 <= a < 1e6:
        decimals = max(0, digits - 1 - int(math.floor(math.log10(a))))
        return f"{v:.{decimals}f}"
    return f"{v:.{digits - 1}e}"


def finite_mask(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """(N,) bool: rows whose ``columns`` are all finite numbers."""
    if frame.empty:
        return np.zeros(0, bool)
    vals = frame[columns].to_numpy(dtype=float)
    return np.all(np.isfinite(vals), axis=1)


# --- Pareto ----------------------------------------------------------------------------------

def pareto_mask(losses: np.ndarray) -> np.ndarray:
    """(N,) bool: rows of an (N, M) loss matrix not dominated by another row (duplicates kept)."""
    losses = np.asarray(losses, dtype=float)
    return search_pareto.pareto_mask(losses, ["minimize"] * losses.shape[1])


def knee_index(losses: np.ndarray) -> int:
    """Row of the (N, M) front closest (Euclidean) to the ideal point after normalization."""
    z = search_pareto.normalize_losses(losses)
    return int(np.argmin(np.sqrt((z ** 2).sum(axis=1))))


def staircase(x: np.ndarray, y: np.ndarray, x_min: bool = True, y_max: bool = True):
    """2-D front of points (x to minimize, y to maximize by default) as staircase vertices.

    Returns (xs, ys, mask): the step line through the non-dominated points sorted by x, and the
    (N,) bool mask of those points.
    """
    lx = x if x_min else -x
    ly = -y if y_max else y
    mask = pareto_mask(np.column_stack([lx, ly])) if len(x) else np.zeros(0, bool)
    order = np.argsort(x[mask])
    return x[mask][order], y[mask][order], mask


# --- hypervolume -----------------------------------------------------------------------------

def hypervolume(losses: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume dominated by (N, M) losses up to ``ref`` (M,), minimization."""
    return search_pareto.hypervolume_of_losses(losses, ref)


def hypervolume_history(trial_numbers: np.ndarray, losses: np.ndarray, feasible: np.ndarray,
                        points: int = 60) -> pd.DataFrame:
    """Hypervolume of the feasible trials among the first n trials, for ~``points`` values of n.

    Losses are normalized to [0, 1] by the observed range of the feasible trials; the reference
    point is 1.1 in every objective (so the best possible value is 1.1^M).
    Returns a DataFrame with columns ``trials`` (count) and ``hypervolume``.
    """
    order = np.argsort(trial_numbers)
    losses, feasible = losses[order], feasible[order]
    if len(order) == 0 or not feasible.any():
        return pd.DataFrame({"trials": [], "hypervolume": []})
    bounds = search_pareto.objective_bounds(losses[feasible])
    return hypervolume_history_stream([(losses, feasible)], len(order), bounds, points)


def hypervolume_history_stream(batches, total: int, bounds: np.ndarray, points: int = 60) -> pd.DataFrame:
    """:func:`hypervolume_history` over a stream too large to hold: ``batches`` yields
    ``(losses, feasible)`` pairs, (n, M) and (n,), in evaluation order, ``total`` rows in all;
    losses are normalized by ``bounds`` (M, 2) (the feasible front's range) and the running front
    is kept, so memory follows the front, not the stream. Columns ``trials`` (rows seen) and
    ``hypervolume``, at ~``points`` evenly spaced counts."""
    counts: np.ndarray = (np.unique(np.linspace(1, total, min(points, total)).round().astype(int))
                          if total else np.zeros(0, dtype=int))
    hv: list[float] = []
    seen: list[int] = []
    front: np.ndarray | None = None
    done, k = 0, 0
    for losses, feasible in batches:
        z = search_pareto.normalize_losses(np.asarray(losses, dtype=np.float64), bounds)
        ok = np.asarray(feasible, dtype=bool) & np.isfinite(z).all(axis=1)
        start = done
        done += len(z)
        while k < len(counts) and counts[k] <= done:  # checkpoints inside this batch
            new = z[: counts[k] - start][ok[: counts[k] - start]]
            z, ok, start = z[counts[k] - start:], ok[counts[k] - start:], counts[k]
            front = _merge_front(front, new)
            hv.append(hypervolume(front, np.full(bounds.shape[0], 1.1)) if len(front) else 0.0)
            seen.append(int(counts[k]))
            k += 1
        front = _merge_front(front, z[ok])
    return pd.DataFrame({"trials": seen, "hypervolume": hv})


def _merge_front(front: np.ndarray | None, new: np.ndarray) -> np.ndarray:
    if front is None:
        front = np.zeros((0, new.shape[1]))
    if not len(new):
        return front
    cand = np.vstack([front, new])
    return cand[pareto_mask(cand)]


# --- rank correlation (no scipy) -------------------------------------------------------------

def spearman_rho(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN for fewer than 2 points."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2:
        return float("nan")
    rx = pd.Series(x).rank(method="average").to_numpy()
    ry = pd.Series(y).rank(method="average").to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def kendall_tau(x: np.ndarray, y: np.ndarray, block: int = 512) -> float:
    """Kendall's tau-b (ties handled as in scipy.stats.kendalltau); O(N^2) in row blocks."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = len(x)
    if n < 2:
        return float("nan")
    s = tx = ty = 0.0
    for i in range(0, n, block):
        dx = np.sign(x[i:i + block, None] - x[None, :])
        dy = np.sign(y[i:i + block, None] - y[None, :])
        s += float((dx * dy).sum())
        tx += float((dx == 0).sum())
        ty += float((dy == 0).sum())
    # every unordered pair counted twice; the diagonal adds n ties to tx and ty
    n0 = n * (n - 1) / 2.0
    n1 = (tx - n) / 2.0
    n2 = (ty - n) / 2.0
    denom = math.sqrt((n0 - n1) * (n0 - n2))
    return float(s / 2.0 / denom) if denom > 0 else float("nan")


def design_labels(frame: pd.DataFrame) -> list[str]:
    """``trial N`` for a trial, ``design N (designs.parquet)`` for a row of a vectorized study's
    designs table (no trial number)."""
    trial = frame["trial"].to_numpy(float)
    design = frame["design"].to_numpy(float) if "design" in frame else np.full(len(frame), np.nan)
    return [f"trial {int(t)}" if np.isfinite(t) else
            (f"design {int(d)} (designs.parquet)" if np.isfinite(d) else "design") for t, d in zip(trial, design)]


def regret_table(feasible: pd.DataFrame, workloads: list[str]) -> pd.DataFrame:
    """For each ordered pair (A, B): the best feasible design for A run on B vs the best for B.

    Columns: ``chosen on``, ``run on``, ``design chosen``, ``throughput of chosen [inferences/s]``,
    ``best design``, ``best throughput [inferences/s]`` (display unit of ``throughput_ips``),
    ``regret [%]`` (throughput lost on B by choosing on A). Designs are named by
    :func:`design_labels` (trials, or rows of a vectorized study's designs table).
    """
    tput = BY_COLUMN["throughput_ips"]
    rows = []
    for a in workloads:
        for b in workloads:
            if a == b:
                continue
            ca, cb = f"{a}:throughput_ips", f"{b}:throughput_ips"
            if feasible.empty or ca not in feasible or cb not in feasible:
                continue
            ia, ib = feasible[ca].idxmax(), feasible[cb].idxmax()
            got, best = float(feasible.loc[ia, cb]), float(feasible.loc[ib, cb])
            name_a, name_b = design_labels(feasible.loc[[ia, ib]])
            rows.append({"chosen on": a, "run on": b, "design chosen": name_a,
                         f"throughput of chosen [{tput.display_unit}]": tput.display(got),
                         "best design": name_b,
                         f"best throughput [{tput.display_unit}]": tput.display(best),
                         "regret [%]": 100.0 * (1.0 - got / best) if best > 0 else float("nan")})
    return pd.DataFrame(rows)


def axis_values(front: pd.DataFrame, col: str, spec) -> tuple[np.ndarray, list | None]:
    """Numeric values for a parallel-coordinates axis; categorical columns become codes."""
    s = front[col]
    if s.dtype == object or s.dtype == bool or str(s.dtype) in ("string", "str", "category", "boolean"):
        choices = None
        if spec is not None and col in spec.searched:
            dom = spec.searched[col]
            choices = list(getattr(dom, "values", None) or getattr(dom, "choices", None) or [])
        if not choices:
            choices = sorted(s.dropna().unique().tolist(), key=str)
        lookup = {str(c): i for i, c in enumerate(choices)}
        return np.array([lookup.get(str(v), np.nan) for v in s], float), [str(c) for c in choices]
    return friendly(s.to_numpy(float), col), None



# --- selection: the front, the recommendation and the extremes ------------------------------

@dataclass
class Chosen:
    """One design picked for the detailed views.

    ``key``: ``"recommended"`` or ``"best:J"`` (the front's best design on objective J); the
    style of each key is fixed in :mod:`dse.report.style`. ``role``: the long label ("best
    throughput on yolov3@1920x1088"); ``short``: the legend label; ``row``: its trials-table row.
    """

    key: str
    role: str
    short: str
    row: pd.Series

    @property
    def trial(self) -> int:
        return int(self.row["trial"])


def pareto_front(trials: pd.DataFrame, objectives: list[str], directions: list[str]) -> pd.DataFrame:
    """Feasible rows of ``trials`` not dominated in ``objectives`` (index reset)."""
    if trials.empty:
        return trials
    feas = trials[trials["feasible"].astype(bool)]
    feas = feas[finite_mask(feas, objectives)] if len(feas) else feas
    if feas.empty:
        return feas.reset_index(drop=True)
    mask = search_pareto.pareto_mask(feas[objectives].to_numpy(float), directions)
    return feas[mask].reset_index(drop=True)


def choose_designs(front: pd.DataFrame, objectives: list[str], directions: list[str],
                   several_workloads: bool) -> list[Chosen]:
    """The recommendation (the knee of the feasible front) and the front's best design on each
    objective, deduplicated (a design that is both gets both labels), in that order."""
    if front.empty:
        return []
    losses = search_pareto.to_minimization(front[objectives].to_numpy(float), directions)
    picks = [("recommended", "recommended (knee of the feasible front)", "recommended", knee_index(losses))]
    values = front[objectives].to_numpy(float)
    rows = best_per_objective(values, np.ones(len(front), bool), directions)
    for j, (col, d, found) in enumerate(zip(objectives, directions, rows)):
        if found is None:
            continue
        idx = found[1]
        label, _, _ = unit_of(col)
        word = "best" if d == "maximize" else ("smallest" if col == "area_mm2" else "lowest")
        short = label if several_workloads else label.split(" on ")[0]
        picks.append((f"best:{j}", f"{word} {label}", f"{word} {short}", idx))
    out: list[Chosen] = []
    for key, role, short, idx in picks:
        same = [c for c in out if c.row.name == idx]
        if same:
            same[0].role += f" = {role}"
            same[0].short += f" = {short}"
            continue
        out.append(Chosen(key, role, short, front.loc[idx]))
    return out


def spread_subset(front: pd.DataFrame, objectives: list[str], directions: list[str], cap: int,
                  keep: list[int] | None = None) -> pd.DataFrame:
    """At most ``cap`` rows of ``front`` spread evenly along it: the rows labelled ``keep`` (e.g. the
    recommendation and each objective's best) first, then greedy farthest-point picks in the
    objectives scaled to [0, 1] (each pick is the row farthest from every row picked so far, ties:
    the first row). Deterministic; the whole front (same order) when it has at most ``cap`` rows."""
    if len(front) <= cap:
        return front
    z = search_pareto.normalize_losses(search_pareto.to_minimization(front[objectives].to_numpy(float),
                                                                      directions))
    z = np.where(np.isfinite(z), z, 0.0)
    labels = list(front.index)
    picked = list(dict.fromkeys(labels.index(k) for k in (keep or []) if k in front.index))[:cap]
    if not picked:
        picked = [knee_index(search_pareto.to_minimization(front[objectives].to_numpy(float), directions))]
    dist = np.full(len(front), np.inf)
    for i in picked:
        dist = np.minimum(dist, ((z - z[i]) ** 2).sum(axis=1))
    dist[picked] = -1.0
    while len(picked) < cap:
        i = int(np.argmax(dist))
        picked.append(i)
        dist = np.minimum(dist, ((z - z[i]) ** 2).sum(axis=1))
        dist[i] = -1.0  # never picked twice (duplicates of a pick sit at distance 0 and come last)
    return front.iloc[sorted(picked)]


# --- re-evaluation of chosen designs with the current model -----------------------------------

def design_batch(spec, rows: list[pd.Series], overrides: dict | None = None):
    """(DesignBatch, Technology) of trials rows: searched + fixed parameters, as evaluated.

    ``overrides``: parameter values to replace on every design (e.g. ``{"winograd": False}``).
    Raises UserError without a study file.
    """
    from dse.hardware.designs import DesignBatch
    from dse.hardware.technology import load_technology

    if spec is None:
        raise UserError("no study file: designs cannot be re-evaluated")
    params = []
    for row in rows:
        p = {k: (row[k].item() if hasattr(row[k], "item") else row[k]) for k in spec.searched if k in row}
        if "dram_channels" in row and not pd.isna(row["dram_channels"]):
            p["dram_channels"] = int(row["dram_channels"])  # as evaluated (snapped to the DRAM type)
        p.update(overrides or {})
        params.append(p)
    fixed = {k: v for k, v in spec.fixed.items() if k != "batch" and k not in (overrides or {})}
    designs = DesignBatch.from_params(params, spec.node_nm, fixed=fixed, repair_channels=True)
    return designs, load_technology(spec.node_nm, dict(spec.technology))


def workload_batch(row: pd.Series, label: str) -> int:
    """Images per batch that the trial ran ``label`` with (stored ``LABEL:batch``; 1 if absent)."""
    col = f"{label}:batch"
    if col in row and not pd.isna(row[col]):
        return int(row[col])
    return 1


def per_layer(spec, chosen: list[Chosen], label: str):
    """Per-layer rows of the chosen designs on ``label`` (long: ``design`` = position in ``chosen``,
    SI units as :func:`dse.model.api.per_layer_frame`) and their HardwareArrays."""
    from dse.hardware.physical import derive
    from dse.model.api import evaluate

    designs, tech = design_batch(spec, [c.row for c in chosen])
    frames = []
    for i, ch in enumerate(chosen):
        one = designs.take(np.array([i]))
        batch = workload_batch(ch.row, label)
        _, layers = evaluate(one, label, batch=batch, technology=tech, per_layer=True)
        lay = next(iter(layers.values())).copy()
        lay["design"] = i
        lay["batch"] = batch
        frames.append(lay)
    return pd.concat(frames, ignore_index=True), derive(designs, tech)


BOUND_NAMES = ("compute", "sram", "interconnect", "dram", "overhead")


# --- depth-first fusion ---------------------------------------------------------------------
# Stored per workload as LABEL:fused_layers (layers run inside depth-first stacks; 0: layer by layer).
# Studies stored before the model had fusion have no such column: "not recorded".

FUSED_LAYERS = "fused_layers"
NOT_RECORDED = "not recorded"


def objective_workloads(objectives: list[str], workloads: list[str]) -> list[str]:
    """Workloads named by a per-workload objective, in objective order; else the first workload."""
    out = []
    for col in objectives:
        wl = split_column(col)[0]
        if wl is not None and wl not in out:
            out.append(wl)
    return out or workloads[:1]


def layer_count(label: str) -> int | None:
    """Layers of a workload (its layer table), None when it cannot be loaded (e.g. a moved ONNX file)."""
    from dse.workloads.registry import load_workload

    try:
        return len(load_workload(label))
    except (UserError, OSError):
        return None


def fusion_cell(value, n_layers: int | None) -> str:
    """A stored ``LABEL:fused_layers`` value as the tables show it: ``layer by layer``,
    ``fused: 51 of 102`` or ``not recorded``."""
    if value is None or pd.isna(value):
        return NOT_RECORDED
    n = int(value)
    if n == 0:
        return "layer by layer"
    return f"fused: {n} of {n_layers}" if n_layers else f"fused: {n}"


def fusion_header(workload: str) -> str:
    """Table header of the fusion column (label from the metric registry): ``fused layers on WL``."""
    m = BY_COLUMN[FUSED_LAYERS]
    return f"{m.label} on {workload}"


@dataclass
class FrontFusion:
    """How many of a front's designs run some layers of ``workload`` depth-first (stored metrics)."""

    workload: str
    designs: int  # front designs
    recorded: int  # of them with LABEL:fused_layers stored
    fused: int  # of the recorded ones with fused_layers > 0

    @property
    def share(self) -> float | None:
        return self.fused / self.recorded if self.recorded else None


def front_fusion(front: pd.DataFrame, workload: str) -> FrontFusion:
    col = f"{workload}:{FUSED_LAYERS}"
    values = pd.to_numeric(front[col], errors="coerce") if col in front else pd.Series(np.nan, index=front.index)
    recorded = values.notna()
    return FrontFusion(workload, len(front), int(recorded.sum()), int((values[recorded] > 0).sum()))


def stacks_by_design(lay: pd.DataFrame) -> dict[int, list[dict]]:
    """The depth-first stacks of every design in per-layer rows (columns of
    :func:`dse.model.api.per_layer_frame`; without a ``design`` column: one design, 0), in network
    order: ``stack`` (the model's index, as in the rows), ``first_layer``/``last_layer`` (names),
    ``first``/``last`` (layer positions), ``layers`` (count), ``bands`` (bands of rows the image is
    cut into) and ``tiles`` (tiles per image). A design that runs layer by layer has no entry."""
    if "stack" not in lay or lay.empty:
        return {}
    design = lay["design"].to_numpy() if "design" in lay else np.zeros(len(lay), np.int64)
    keep = lay["stack"].to_numpy() >= 0
    if not keep.any():
        return {}
    fused = pd.DataFrame({"design": design[keep], "stack": lay["stack"].to_numpy()[keep],
                          "layer": lay["layer"].to_numpy()[keep], "bands": lay["bands"].to_numpy()[keep],
                          "tiles": lay["tiles"].to_numpy()[keep]})
    agg = fused.groupby(["design", "stack"], sort=False).agg(
        first=("layer", "min"), last=("layer", "max"), layers=("layer", "size"), bands=("bands", "first"),
        tiles=("tiles", "first")).reset_index().sort_values(["design", "first"], kind="stable")
    names = dict(zip(lay["layer"].to_numpy(), lay["name"].to_numpy()))
    out: dict[int, list[dict]] = {}
    for st in agg.itertuples(index=False):
        out.setdefault(int(st.design), []).append({
            "stack": int(st.stack), "first_layer": str(names[st.first]), "last_layer": str(names[st.last]),
            "first": int(st.first), "last": int(st.last), "layers": int(st.layers), "bands": int(st.bands),
            "tiles": int(st.tiles)})
    return out


def fused_stacks(lay: pd.DataFrame) -> list[dict]:
    """The depth-first stacks (see :func:`stacks_by_design`) of ONE design's per-layer rows; empty
    when it runs the workload layer by layer."""
    found = stacks_by_design(lay)
    return next(iter(found.values())) if found else []


def bound_shares(lay: pd.DataFrame) -> dict[str, float]:
    """Share of one design's time (0..1) per bound: each layer's time without its fixed overhead goes
    to what bounds it; every layer's overhead goes to ``overhead``."""
    t = lay["time_s"].to_numpy(float)
    ovh = lay["overhead_s"].to_numpy(float)
    body = t - ovh
    bound = lay["bound"].to_numpy()
    totals = {b: float(body[bound == b].sum()) for b in BOUND_NAMES}
    totals["overhead"] += float(ovh.sum())
    total = sum(totals.values()) or 1.0
    return {b: v / total for b, v in totals.items()}


def throughput_ips(spec, rows: list[pd.Series], label: str, batch: int | None = None,
                   overrides: dict | None = None) -> np.ndarray:
    """(D,) throughput (inferences/s) of trials rows on ``label`` with the current model."""
    from dse.model.api import evaluate

    designs, tech = design_batch(spec, rows, overrides)
    if batch is None:
        designs = designs.with_values(batch=np.array([workload_batch(r, label) for r in rows]))
    return evaluate(designs, label, batch=batch, technology=tech)["throughput_ips"].to_numpy(float)


BATCHES = (1, 2, 4, 8, 16, 32, 64)
#: throughput within 2% of the best counts as the best (the batch advice then names the smaller batch)
BATCH_GAIN_TOLERANCE = 0.02
#: Metric columns of :func:`batch_sweep`, headed and scaled as the registry says.
SWEEP_THROUGHPUT, SWEEP_LATENCY, SWEEP_POWER = (header(c) for c in ("throughput_ips", "latency_s", "power_w"))


def batch_sweep(spec, chosen: list[Chosen], workloads: list[str], budgets: dict[str, float]) -> pd.DataFrame:
    """Throughput, latency and power of the chosen designs at each batch of :data:`BATCHES`.

    Columns: ``workload``, ``design`` (short label), ``trial``, ``batch``, :data:`SWEEP_THROUGHPUT`
    (``throughput [inferences/s]``), :data:`SWEEP_LATENCY` (``latency [ms]``, per batch),
    :data:`SWEEP_POWER` (``power [W]``), ``within budgets`` (bool: power and the workload's latency
    and throughput budgets; area does not change with the batch).
    """
    from dse.model.api import evaluate

    tput, lat, power = BY_COLUMN["throughput_ips"], BY_COLUMN["latency_s"], BY_COLUMN["power_w"]
    designs, tech = design_batch(spec, [c.row for c in chosen])
    rows = []
    for wl in workloads:
        for b in BATCHES:
            frame = evaluate(designs, wl, batch=b, technology=tech)
            for i, ch in enumerate(chosen):
                f = frame.iloc[i]
                rows.append({"workload": wl, "design": ch.short, "trial": ch.trial, "batch": b,
                             SWEEP_THROUGHPUT: tput.display(float(f["throughput_ips"])),
                             SWEEP_LATENCY: lat.display(float(f["latency_s"])),
                             SWEEP_POWER: power.display(float(f["power_w"]))})
    sweep = pd.DataFrame(rows)
    ok = np.ones(len(sweep), bool)
    if "power_w" in budgets:
        ok &= sweep[SWEEP_POWER].to_numpy() <= power.display(budgets["power_w"])
    if spec is not None:
        for wl, limit_s in spec.latency_s.items():
            ok &= ~((sweep["workload"] == wl).to_numpy() & (sweep[SWEEP_LATENCY].to_numpy() > lat.display(limit_s)))
        for wl, floor in spec.min_throughput_ips.items():
            ok &= ~((sweep["workload"] == wl).to_numpy()
                    & (sweep[SWEEP_THROUGHPUT].to_numpy() < tput.display(floor)))
    sweep["within budgets"] = ok
    return sweep


def best_batches(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per (workload, design): the best batch among those within budgets (the smallest whose
    throughput is within :data:`BATCH_GAIN_TOLERANCE` of the highest).

    Columns: ``workload``, ``design``, ``trial``, ``best batch`` (None when no batch is within
    budgets), :data:`SWEEP_THROUGHPUT` at it, ``gain vs batch 1`` and ``largest batch within
    budgets``.
    """
    rows = []
    for (wl, design), g in sweep.groupby(["workload", "design"], sort=False):
        g = g.sort_values("batch")
        ok = g[g["within budgets"]]
        base = float(g[SWEEP_THROUGHPUT].iloc[0])
        if ok.empty:
            rows.append({"workload": wl, "design": design, "trial": int(g["trial"].iloc[0]), "best batch": None,
                         SWEEP_THROUGHPUT: float("nan"), "gain vs batch 1": float("nan"),
                         "largest batch within budgets": None})
            continue
        tps = ok[SWEEP_THROUGHPUT].to_numpy()
        # the smallest batch within BATCH_GAIN_TOLERANCE of the best throughput: a larger batch that
        # gains nothing only multiplies the latency
        k = int(np.flatnonzero(tps >= tps.max() * (1.0 - BATCH_GAIN_TOLERANCE))[0])
        tp = float(tps[k])
        rows.append({"workload": wl, "design": design, "trial": int(g["trial"].iloc[0]),
                     "best batch": int(ok["batch"].iloc[k]), SWEEP_THROUGHPUT: tp,
                     "gain vs batch 1": tp / base if base > 0 else float("nan"),
                     "largest batch within budgets": int(ok["batch"].max())})
    return pd.DataFrame(rows)


#: Designs the rank correlations of the proxy section use at most: Kendall's tau here is O(N^2)
#: (19,000 designs: 5 s; 5,000: 0.35 s), and a seeded sample of 5,000 estimates it to about 0.01.
PROXY_RANK_SAMPLE = 5000
PROXY_RANK_SEED = 0


def proxy_stats(feasible: pd.DataFrame, workloads: list[str]) -> pd.DataFrame:
    """Kendall's tau and Spearman's rho of throughput for each pair of workloads (feasible designs;
    a seeded sample of :data:`PROXY_RANK_SAMPLE` of them when there are more)."""
    if len(feasible) > PROXY_RANK_SAMPLE:
        feasible = feasible.sample(n=PROXY_RANK_SAMPLE, random_state=PROXY_RANK_SEED)
    rows = []
    for a_i, a in enumerate(workloads):
        for b in workloads[a_i + 1:]:
            xa = feasible[f"{a}:throughput_ips"].to_numpy(float)
            xb = feasible[f"{b}:throughput_ips"].to_numpy(float)
            rows.append({"workload A": a, "workload B": b, "feasible designs": len(feasible),
                         "Kendall tau": kendall_tau(xa, xb), "Spearman rho": spearman_rho(xa, xb)})
    return pd.DataFrame(rows)
