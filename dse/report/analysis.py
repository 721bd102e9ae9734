"""Numbers behind the report: friendly units, Pareto sets, the knee, hypervolume, rank correlations.

All functions are pure (numpy/pandas in, numpy/pandas out). Stored columns are SI
(``LABEL:latency_s``, ``area_mm2``, ``LABEL:dram_bytes``); :func:`unit_of` maps a column to the
friendly unit the report shows (ms, mJ, MB, W, mm^2, inferences/s) and the factor to get there.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from dse.search import pareto as search_pareto

# --- units -----------------------------------------------------------------------------------

#: metric suffix -> (friendly name, unit, factor from the stored SI value)
METRIC_UNITS: dict[str, tuple[str, str, float]] = {
    "throughput_ips": ("throughput", "inferences/s", 1.0),
    "latency_s": ("latency", "ms", 1e3),
    "energy_j": ("energy", "mJ/inference", 1e3),
    "energy_mac_j": ("MAC energy", "mJ/inference", 1e3),
    "energy_sram_j": ("SRAM energy", "mJ/inference", 1e3),
    "energy_noc_j": ("interconnect energy", "mJ/inference", 1e3),
    "energy_dram_j": ("DRAM energy", "mJ/inference", 1e3),
    "energy_static_j": ("static energy", "mJ/inference", 1e3),
    "power_w": ("power", "W", 1.0),
    "throughput_per_w": ("throughput/power", "inferences/s/W", 1.0),
    "throughput_per_mm2": ("throughput/area", "inferences/s/mm^2", 1.0),
    "utilization": ("MAC utilization", "%", 100.0),
    "effective_tops": ("effective TOPS", "TOPS", 1.0),
    "dram_bytes": ("DRAM traffic", "MB/inference", 1e-6),
    "sram_bytes": ("SRAM traffic", "MB/inference", 1e-6),
    "weights_resident": ("weights on chip", "0/1", 1.0),
    "batch": ("batch", "images", 1.0),
    "area_mm2": ("area", "mm^2", 1.0),
    "die_cost_usd": ("die cost", "USD", 1.0),
    "die_yield": ("die yield", "%", 100.0),
    "area_mac_mm2": ("MAC area", "mm^2", 1.0),
    "area_sram_mm2": ("SRAM area", "mm^2", 1.0),
    "area_dram_phy_mm2": ("DRAM PHY area", "mm^2", 1.0),
    "area_noc_mm2": ("interconnect area", "mm^2", 1.0),
    "area_overhead_mm2": ("other area", "mm^2", 1.0),
    "static_power_w": ("static power", "W", 1.0),
    "peak_tops": ("peak TOPS", "TOPS", 1.0),
    "power_density_limit_w_per_mm2": ("power density limit", "W/mm^2", 1.0),
    "dram_channels": ("DRAM channels", "channels", 1.0),
}
#: design parameter -> unit shown in headers ("" for categorical/bool)
PARAM_UNITS = {
    "cores": "", "rows": "MACs", "cols": "MACs", "clock_ghz": "GHz", "sram_mb": "MiB",
    "dram_channels": "channels", "noc_width_bits": "bits", "batch": "images", "precision": "",
    "dram_type": "", "noc": "", "winograd": "", "lowering": "",
}
PARAM_NAMES = {"clock_ghz": "clock", "sram_mb": "SRAM", "noc_width_bits": "NoC width", "noc": "NoC",
               "dram_type": "DRAM type", "dram_channels": "DRAM channels"}


def unit_of(column: str) -> tuple[str, str, float]:
    """(friendly label, unit, factor) for a stored column; label includes the workload if any.

    >>> unit_of("yolov3@416x416:latency_s")
    ('latency on yolov3@416x416', 'ms', 1000.0)
    """
    if column.startswith("batch."):
        return f"batch on {column[6:]}", "images", 1.0
    if column in PARAM_UNITS:
        return PARAM_NAMES.get(column, column), PARAM_UNITS[column], 1.0
    workload, _, metric = column.rpartition(":")
    name, unit, factor = METRIC_UNITS.get(metric, (metric, "", 1.0))
    return (f"{name} on {workload}" if workload else name), unit, factor


def header(column: str, short: bool = False) -> str:
    """Axis or table header with its unit: ``latency on yolov3@416x416 [ms]``."""
    label, unit, _ = unit_of(column)
    if short:
        label = label.split(" on ")[0]
    return f"{label} [{unit}]" if unit else label


def friendly(series: pd.Series | np.ndarray, column: str):
    """Values of a stored column converted to the unit of :func:`unit_of`."""
    return series * unit_of(column)[2]


def fmt(value, digits: int = 3) -> str:
    """Compact number: 3 significant digits, no scientific notation for everyday magnitudes."""
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

def to_losses(values: np.ndarray, directions: list[str]) -> np.ndarray:
    """(N, M) objective values -> (N, M) losses (maximized columns negated)."""
    sign = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return np.asarray(values, dtype=float) * sign


def pareto_mask(losses: np.ndarray) -> np.ndarray:
    """(N,) bool: rows of an (N, M) loss matrix not dominated by another row (duplicates kept)."""
    losses = np.asarray(losses, dtype=float)
    return search_pareto.pareto_mask(losses, ["minimize"] * losses.shape[1])


def normalize_losses(losses: np.ndarray, lo: np.ndarray | None = None, hi: np.ndarray | None = None) -> np.ndarray:
    """Scale each loss column to [0, 1] by ``lo``/``hi`` (default: the observed range)."""
    lo = losses.min(axis=0) if lo is None else lo
    hi = losses.max(axis=0) if hi is None else hi
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    return (losses - lo) / span


def knee_index(losses: np.ndarray) -> int:
    """Row of the (N, M) front closest (Euclidean) to the ideal point after normalization."""
    z = normalize_losses(losses)
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
    n = len(order)
    if n == 0 or not feasible.any():
        return pd.DataFrame({"trials": [], "hypervolume": []})
    z = normalize_losses(losses, losses[feasible].min(axis=0), losses[feasible].max(axis=0))
    ref = np.full(z.shape[1], 1.1)
    counts = np.unique(np.linspace(1, n, min(points, n)).round().astype(int))
    hv, front = [], np.zeros((0, z.shape[1]))
    prev = 0
    for c in counts:
        new = z[prev:c][feasible[prev:c]]
        if len(new):
            cand = np.vstack([front, new])
            front = cand[pareto_mask(cand)]
        prev = c
        hv.append(hypervolume(front, ref))
    return pd.DataFrame({"trials": counts, "hypervolume": hv})


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


def regret_table(feasible: pd.DataFrame, workloads: list[str]) -> pd.DataFrame:
    """For each ordered pair (A, B): the best feasible design for A run on B vs the best for B.

    Columns: ``chosen on``, ``run on``, ``trial chosen``, ``throughput of chosen [inferences/s]``,
    ``best trial``, ``best throughput [inferences/s]``, ``regret [%]`` (throughput lost on B by
    choosing on A).
    """
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
            rows.append({"chosen on": a, "run on": b, "trial chosen": int(feasible.loc[ia, "trial"]),
                         "throughput of chosen [inferences/s]": got,
                         "best trial": int(feasible.loc[ib, "trial"]),
                         "best throughput [inferences/s]": best,
                         "regret [%]": 100.0 * (1.0 - got / best) if best > 0 else float("nan")})
    return pd.DataFrame(rows)
