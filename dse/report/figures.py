"""Report figures (matplotlib, Agg): each saved as PNG and SVG in ``results/NAME/figures/``.

Every ``fig_*`` function takes a :class:`ReportData` and returns a list of :class:`Figure`
records (name, title, caption) for the figures it wrote; a figure that cannot be drawn (no
feasible designs, one workload) returns [] and the report says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm, Normalize  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from dse.atomic_write import atomic_path  # noqa: E402
from dse.errors import UserError  # noqa: E402
from dse.report import analysis as an  # noqa: E402
from dse.report.load import Results  # noqa: E402

BOUND_COLORS = {"compute": "#4C72B0", "sram": "#55A868", "interconnect": "#8172B2",
                "dram": "#C44E52", "overhead": "#A0A0A0"}
BOUND_LABELS = {"compute": "compute", "sram": "SRAM", "interconnect": "interconnect", "dram": "DRAM",
                "overhead": "overhead"}
ROLE_COLORS = {0: "#D55E00", 1: "#0072B2", 2: "#009E73"}
BATCHES = (1, 2, 4, 8, 16, 32, 64)
DPI = 110

plt.rcParams.update({
    "figure.facecolor": "white", "axes.grid": True, "grid.alpha": 0.3, "axes.titlesize": 11,
    "axes.labelsize": 10, "legend.fontsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8,
    "svg.hashsalt": "dse-report", "axes.spines.top": False, "axes.spines.right": False,
})


@dataclass
class Figure:
    name: str  # file stem in figures/
    title: str
    caption: str
    section: str


@dataclass
class Chosen:
    """One design picked for the detailed figures (knee or an extreme of the front)."""

    role: str  # "knee", "max throughput on ...", ...
    short: str  # "knee", "max throughput", ...
    row: pd.Series  # its trials-table row


@dataclass
class ReportData:
    results: Results
    fig_dir: Path
    front: pd.DataFrame  # feasible Pareto designs (all objectives), trials-table rows
    chosen: list[Chosen]
    notes: list[str] = field(default_factory=list)
    _designs: object | None = None
    _tech: object | None = None

    @property
    def r(self) -> Results:
        return self.results


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def save(fig, data: ReportData, name: str) -> str:
    data.fig_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(data.fig_dir / f"{name}.png") as tmp:
        fig.savefig(tmp, dpi=DPI)
    with atomic_path(data.fig_dir / f"{name}.svg") as tmp:
        fig.savefig(tmp, metadata={"Date": None})
    plt.close(fig)
    return name


def _sci(ax, axis: str, values) -> None:
    """Log scale when the values span more than a factor 20 (and are positive)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) and v.min() > 0 and v.max() / v.min() > 20:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        fmt = FuncFormatter(lambda x, _: an.fmt(x))
        target = ax.xaxis if axis == "x" else ax.yaxis
        target.set_major_formatter(fmt)
        target.set_minor_formatter(FuncFormatter(lambda x, _: ""))


# --- selection -------------------------------------------------------------------------------

def pareto_front(r: Results) -> pd.DataFrame:
    """Feasible designs not dominated in the study's objectives (rows of the trials table)."""
    feas = r.feasible
    if feas.empty:
        return feas
    cols = r.objectives
    ok = an.finite_mask(feas, cols)
    feas = feas[ok]
    losses = an.to_losses(feas[cols].to_numpy(float), r.directions)
    mask = an.pareto_mask(losses)
    return feas[mask].reset_index(drop=True)


def choose_designs(r: Results, front: pd.DataFrame) -> list[Chosen]:
    """The knee of the front and its extremes in the first two objectives (deduplicated)."""
    if front.empty:
        return []
    losses = an.to_losses(front[r.objectives].to_numpy(float), r.directions)
    picks = [("knee", "knee", an.knee_index(losses))]
    for j, (col, d) in enumerate(zip(r.objectives[:2], r.directions[:2])):
        idx = int(np.argmin(losses[:, j]))
        label, _, _ = an.unit_of(col)
        word = "max" if d == "maximize" else "min"
        short = label if len(r.workloads) > 1 else label.split(" on ")[0]
        picks.append((f"{word} {label}", f"{word} {short}", idx))
    out, seen = [], set()
    for role, short, idx in picks:
        if idx in seen:
            for c in out:
                if c.row.name == idx:
                    c.role += f" = {role}"
                    c.short += f" = {short}"
            continue
        seen.add(idx)
        out.append(Chosen(role, short, front.loc[idx]))
    return out


def design_batch(data: ReportData, rows: list[pd.Series]):
    """DesignBatch of the given trials rows (searched + fixed parameters) and the technology."""
    from dse.hardware.designs import DesignBatch
    from dse.hardware.technology import load_technology

    spec = data.r.spec
    if spec is None:
        raise UserError("no study file: designs cannot be re-evaluated")
    params = []
    for row in rows:
        p = {k: (row[k].item() if hasattr(row[k], "item") else row[k]) for k in spec.searched if k in row}
        if "dram_channels" in row and not pd.isna(row["dram_channels"]):
            p["dram_channels"] = int(row["dram_channels"])  # as evaluated (snapped to the DRAM type)
        params.append(p)
    fixed = {k: v for k, v in spec.fixed.items() if k != "batch"}
    designs = DesignBatch.from_params(params, spec.node_nm, fixed=fixed, repair_channels=True)
    tech = load_technology(spec.node_nm, dict(spec.technology))
    return designs, tech


def workload_batch(r: Results, row: pd.Series, label: str) -> int:
    col = f"{label}:batch"
    if col in row and not pd.isna(row[col]):
        return int(row[col])
    return 1


# --- (1) Pareto fronts ---------------------------------------------------------------------

def fig_fronts(data: ReportData) -> list[Figure]:
    r = data.r
    t = r.trials
    out = []
    if t.empty:
        return out
    feas = t["feasible"].astype(bool).to_numpy()
    budgets = r.budgets
    for wl in r.workloads:
        ycol = f"{wl}:throughput_ips"
        pcol = f"{wl}:power_w"
        if ycol not in t or pcol not in t or "area_mm2" not in t:
            continue
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
        for ax, xcol, ccol, budget in ((axes[0], "area_mm2", pcol, budgets.get("area_mm2")),
                                       (axes[1], pcol, "area_mm2", budgets.get("power_w"))):
            x = an.friendly(t[xcol].to_numpy(float), xcol)
            y = an.friendly(t[ycol].to_numpy(float), ycol)
            c = an.friendly(t[ccol].to_numpy(float), ccol)
            ax.scatter(x[~feas], y[~feas], marker="x", s=14, color="#BBBBBB", linewidths=0.8,
                       label=f"infeasible ({int((~feas).sum())})", zorder=1)
            if feas.any():
                cpos = c[feas][c[feas] > 0]
                norm = (LogNorm(cpos.min(), cpos.max()) if len(cpos) and cpos.max() / cpos.min() > 20
                        else Normalize(np.nanmin(c[feas]), np.nanmax(c[feas])))
                sc = ax.scatter(x[feas], y[feas], c=c[feas], cmap="viridis", norm=norm, s=16, alpha=0.45,
                                linewidths=0, label=f"feasible ({int(feas.sum())})", zorder=2)
                cb = fig.colorbar(sc, ax=ax, pad=0.01)
                cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: an.fmt(v)))
                cb.ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
                cb.set_label(an.header(ccol, short=True))
                sx, sy, _ = an.staircase(x[feas], y[feas])
                if len(sx):
                    xs = np.append(sx, x[feas].max() if x[feas].max() > sx[-1] else sx[-1])
                    ys = np.append(sy, sy[-1])
                    ax.step(xs, ys, where="post", color="black", lw=1.6, zorder=3, label="feasible front")
                    ax.scatter(sx, sy, s=30, facecolors="none", edgecolors="black", lw=1.0, zorder=4)
            for i, ch in enumerate(data.chosen):
                ax.scatter([an.friendly(float(ch.row[xcol]), xcol)], [an.friendly(float(ch.row[ycol]), ycol)],
                           marker="*", s=160, color=ROLE_COLORS.get(i, "k"), edgecolors="black", lw=0.6,
                           zorder=5, label=ch.short)
            if budget is not None:
                ax.axvline(budget, color="#C44E52", ls="--", lw=1.2, zorder=2,
                           label=f"budget {an.fmt(budget)} {an.unit_of(xcol)[1]}")
            _sci(ax, "x", x[np.isfinite(x) & (x > 0)])
            _sci(ax, "y", y[np.isfinite(y) & (y > 0)])
            ax.set_xlabel(an.header(xcol, short=True))
            ax.set_ylabel(an.header(ycol, short=True))
            ax.set_title(f"throughput vs {an.unit_of(xcol)[0].split(' on ')[0]}")
            ax.legend(loc="lower right", framealpha=0.9)
        fig.suptitle(f"{wl}: {len(t)} trials", fontsize=12)
        name = save(fig, data, f"front_{slug(wl)}")
        out.append(Figure(name, f"Pareto fronts on {wl}",
                          "Every trial (grey x: infeasible, dots: feasible, coloured by the other cost); "
                          "black staircase: feasible designs no other feasible design beats on both axes; "
                          "dashed red: budget; stars: the designs analysed below.", "fronts"))
    return out


# --- (2) parallel coordinates ----------------------------------------------------------------

def _axis_values(front: pd.DataFrame, col: str, spec) -> tuple[np.ndarray, list | None]:
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
    return an.friendly(s.to_numpy(float), col), None


def fig_parallel(data: ReportData) -> list[Figure]:
    r, front = data.r, data.front
    if len(front) < 2:
        return []
    cols = [c for c in r.params if c in front] + [c for c in r.objectives if c not in r.params]
    fig, ax = plt.subplots(figsize=(min(max(9, 1.05 * len(cols)), 16), 6), constrained_layout=True)
    z = np.zeros((len(front), len(cols)))
    for j, col in enumerate(cols):
        vals, cats = _axis_values(front, col, r.spec)
        if cats is not None:
            lo, hi = 0.0, max(len(cats) - 1, 1)
            for k, cname in enumerate(cats):
                ax.text(j + 0.05, k / hi, cname, fontsize=8, va="center", color="#222222", zorder=6,
                        bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
        else:
            lo, hi = np.nanmin(vals), np.nanmax(vals)
            ax.text(j, -0.04, an.fmt(lo), ha="center", va="top", fontsize=8)
            ax.text(j, 1.04, an.fmt(hi), ha="center", va="bottom", fontsize=8)
        z[:, j] = (vals - lo) / (hi - lo) if hi > lo else 0.5
    ccol = r.objectives[0]
    cvals = front[ccol].to_numpy(float)
    norm = Normalize(cvals.min(), cvals.max())
    cmap = plt.get_cmap("viridis")
    for i in range(len(front)):
        ax.plot(range(len(cols)), z[i], color=cmap(norm(cvals[i])), alpha=0.55, lw=1)
    for i, ch in enumerate(data.chosen):
        k = int(np.flatnonzero(front["trial"].to_numpy() == ch.row["trial"])[0])
        ax.plot(range(len(cols)), z[k], color=ROLE_COLORS.get(i, "k"), lw=2.6, label=ch.short, zorder=5)
    for j in range(len(cols)):
        ax.axvline(j, color="black", lw=0.8)
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels([an.header(c).replace(" on ", "\non ").replace(" [", "\n[") for c in cols],
                       rotation=0, fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.12, 1.12)
    ax.set_xlim(-0.3, len(cols) - 0.4)
    ax.grid(False)
    sm = plt.cm.ScalarMappable(norm=Normalize(*an.friendly(np.array([cvals.min(), cvals.max()]), ccol)), cmap=cmap)
    fig.colorbar(sm, ax=ax, pad=0.01).set_label(an.header(ccol))
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.18), ncol=3, frameon=False)
    ax.set_title(f"The {len(front)} Pareto designs: parameters and objectives (each axis from its min to its max)")
    name = save(fig, data, "pareto_parallel")
    return [Figure(name, "Pareto designs in parallel coordinates",
                   "One line per Pareto design, coloured by the first objective; thick lines: the designs "
                   "analysed below. Each axis is scaled from its minimum (bottom) to its maximum (top) on the front.",
                   "pareto")]


# --- (3) per-layer breakdown and roofline ----------------------------------------------------

def per_layer(data: ReportData, label: str):
    """Per-layer DataFrame (long: design index = position in data.chosen) and HardwareArrays."""
    from dse.hardware.physical import derive
    from dse.model.api import evaluate

    designs, tech = design_batch(data, [c.row for c in data.chosen])
    frames = []
    for i, ch in enumerate(data.chosen):
        one = designs.take(np.array([i]))
        _, layers = evaluate(one, label, batch=workload_batch(data.r, ch.row, label), technology=tech,
                             per_layer=True)
        lay = next(iter(layers.values())).copy()
        lay["design"] = i
        lay["batch"] = workload_batch(data.r, ch.row, label)
        frames.append(lay)
    return pd.concat(frames, ignore_index=True), derive(designs, tech)


def fig_layers(data: ReportData) -> list[Figure]:
    out = []
    if not data.chosen or data.r.spec is None:
        return out
    for wl in data.r.workloads:
        try:
            lay, hw = per_layer(data, wl)
        except UserError as err:
            data.notes.append(f"per-layer figures for {wl} skipped: {err}")
            continue
        _check_drift(data, wl, lay)
        out += _layers_figure(data, wl, lay)
        out += _roofline_figure(data, wl, lay, hw)
    return out


def _check_drift(data: ReportData, wl: str, lay: pd.DataFrame, tolerance: float = 0.01) -> None:
    """Note when re-evaluating a chosen design no longer gives its stored latency (model changed)."""
    col = f"{wl}:latency_s"
    worst = 0.0
    for i, ch in enumerate(data.chosen):
        stored = float(ch.row.get(col, np.nan))
        now = float(lay.loc[lay["design"] == i, "time_s"].sum())
        if np.isfinite(stored) and stored > 0:
            worst = max(worst, abs(now / stored - 1.0))
    if worst > tolerance:
        data.notes.append(f"Re-evaluating the analysed designs on {wl} gives latencies up to {100 * worst:.0f}% away "
                          "from the stored trial metrics: the model or catalog changed since the study ran. "
                          "Per-layer and batch-sweep figures use the current model; fronts and tables use the "
                          "stored metrics (rerun with --fresh to make them agree).")


def _bars(ax, x, bottom, height, colors, width: float = 0.85) -> None:
    """Bars as one PolyCollection (hundreds of layers draw and save much faster than ax.bar)."""
    from matplotlib.collections import PolyCollection

    h = width / 2
    verts = [((xi - h, b), (xi - h, b + t), (xi + h, b + t), (xi + h, b)) for xi, b, t in zip(x, bottom, height)]
    ax.add_collection(PolyCollection(verts, facecolors=colors, linewidths=0))


def _layers_figure(data: ReportData, wl: str, lay: pd.DataFrame) -> list[Figure]:
    n = len(data.chosen)
    fig, axes = plt.subplots(n, 2, figsize=(13, 2.6 * n + 0.6), squeeze=False,
                             gridspec_kw={"width_ratios": [5, 1]}, constrained_layout=True)
    bounds = list(BOUND_COLORS)
    for i, ch in enumerate(data.chosen):
        d = lay[lay["design"] == i]
        ax, axs = axes[i]
        x = d["layer"].to_numpy()
        t_ms = d["time_s"].to_numpy() * 1e3
        ovh = d["overhead_s"].to_numpy() * 1e3
        body = t_ms - ovh
        colors = [BOUND_COLORS.get(b, "k") for b in d["bound"]]
        _bars(ax, x, np.zeros_like(body), body, colors)
        _bars(ax, x, body, ovh, [BOUND_COLORS["overhead"]] * len(x))
        ax.set_xlim(-1, x.max() + 1)
        ax.set_ylim(0, max(t_ms.max(), 1e-9) * 1.12)
        ax.set_ylabel("time [ms]")
        batch = int(d["batch"].iloc[0])
        ax.set_title(f"{ch.role} (trial {int(ch.row['trial'])}): {an.fmt(t_ms.sum())} ms per batch of {batch}",
                     loc="left", fontsize=10)
        # totals by bound: each layer's time (without overhead) goes to its bound, overhead apart
        totals = {b: float(body[d["bound"].to_numpy() == b].sum()) for b in bounds if b != "overhead"}
        totals["overhead"] = float(ovh.sum()) + float(body[d["bound"].to_numpy() == "overhead"].sum())
        left = 0.0
        total = sum(totals.values()) or 1.0
        for b in bounds:
            axs.barh([0], [totals[b] / total * 100], left=left, color=BOUND_COLORS[b], height=0.6)
            if totals[b] / total > 0.07:
                axs.text(left + totals[b] / total * 50, 0, f"{totals[b] / total * 100:.0f}%", ha="center",
                         va="center", fontsize=7, color="white")
            left += totals[b] / total * 100
        axs.set_xlim(0, 100)
        axs.set_yticks([])
        axs.set_xlabel("share of time [%]")
        axs.grid(False)
    axes[-1, 0].set_xlabel("layer (network order)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in BOUND_COLORS.values()]
    axes[0, 0].legend(handles, [f"{BOUND_LABELS[b]}-bound" if b != "overhead" else "per-layer overhead"
                                for b in BOUND_COLORS], ncol=5, loc="upper right", fontsize=7)
    fig.suptitle(f"{wl}: per-layer time by bound", fontsize=12)
    name = save(fig, data, f"layers_{slug(wl)}")
    return [Figure(name, f"Per-layer time on {wl}",
                   "Each bar is one layer's time, coloured by what bounds it (the slowest of compute, SRAM, "
                   "interconnect and DRAM), with the fixed per-layer overhead stacked on top in grey; "
                   "right: share of the network's time by bound.", "layers")]


def _roofline_figure(data: ReportData, wl: str, lay: pd.DataFrame, hw) -> list[Figure]:
    n = len(data.chosen)
    fig, axes = plt.subplots(1, n, figsize=(4.8 * n, 4.3), squeeze=False, constrained_layout=True)
    axes = axes[0]
    for i, ch in enumerate(data.chosen):
        ax = axes[i]
        d = lay[(lay["design"] == i) & (lay["macs"] > 0)]
        batch = d["batch"].to_numpy(float)
        ops = 2.0 * d["macs"].to_numpy(float) * batch
        tput = ops / d["time_s"].to_numpy(float) / 1e12  # TOPS
        dram_b = d["dram_bytes"].to_numpy(float)
        peak = 2.0 * float(hw.peak_macs_per_s[i]) / 1e12
        bw = float(hw.dram_bw_bytes_per_s[i])
        has = dram_b > 0
        oi = np.where(has, ops / np.where(has, dram_b, 1.0), np.nan)
        finite_oi = oi[has]
        lo = min(finite_oi.min() if len(finite_oi) else 1.0, peak * 1e12 / bw) / 4
        hi = max(finite_oi.max() if len(finite_oi) else 1e3, peak * 1e12 / bw) * 4
        xs = np.logspace(np.log10(lo), np.log10(hi * 4), 200)
        ax.plot(xs, np.minimum(peak, bw * xs / 1e12), color="black", lw=1.5)
        ax.text(xs[-1], peak * 1.08, f"peak {an.fmt(peak)} TOPS", ha="right", va="bottom", fontsize=7)
        if bool(ch.row.get("winograd", data.r.spec.fixed.get("winograd", False))):
            # Winograd F(2x2,3x3) does the nominal 3x3 MACs with fewer hardware MACs: nominal ops/s
            # of those layers can exceed the hardware peak by the reduction factor.
            from dse.model.constants import model_constants

            wpeak = peak * float(model_constants()["winograd_f2x2_3x3_mac_reduction"])
            ax.plot(xs, np.minimum(wpeak, bw * xs / 1e12), color="black", lw=1, ls="--")
            ax.text(xs[-1], wpeak * 1.08, f"3x3 with Winograd {an.fmt(wpeak)} TOPS (nominal)", ha="right",
                    va="bottom", fontsize=7)
            peak_top = wpeak
        else:
            peak_top = peak
        ax.text(lo * 1.3, bw * lo * 1.3 / 1e12 * 1.3, f"DRAM {an.fmt(bw / 1e9)} GB/s", rotation=0, fontsize=7,
                va="bottom")
        share = d["time_s"].to_numpy(float) / max(d["time_s"].sum(), 1e-30)
        size = 12 + 300 * share
        colors = np.array([BOUND_COLORS.get(b, "k") for b in d["bound"]])
        ax.scatter(oi[has], tput[has], s=size[has], c=list(colors[has]), alpha=0.75, edgecolors="white", lw=0.4)
        if (~has).any():  # no DRAM traffic: infinite intensity, drawn at the right edge
            ax.scatter(np.full((~has).sum(), hi * 2.5), tput[~has], s=size[~has], c=list(colors[~has]),
                       alpha=0.75, marker=">", edgecolors="white", lw=0.4)
            ax.axvline(hi * 1.6, color="#999999", lw=0.8, ls=":")
            ax.text(hi * 2.5, peak_top * 1.6, "no DRAM\ntraffic", ha="center", va="bottom", fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(FuncFormatter(lambda v, _: an.fmt(v)))
            axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax.set_xlim(lo, hi * 4)
        ymin = min(np.nanmin(tput) if len(tput) else peak, peak) / 5
        ax.set_ylim(ymin, peak_top * 4)
        ax.set_xlabel("operational intensity [ops/DRAM byte]")
        ax.set_ylabel("achieved [TOPS]")
        ax.set_title(f"{ch.role}\n(trial {int(ch.row['trial'])}, batch {int(batch[0]) if len(batch) else 1})",
                     fontsize=9)
    handles = [plt.Line2D([], [], marker="o", ls="", color=BOUND_COLORS[b]) for b in BOUND_COLORS]
    axes[-1].legend(handles, [f"{BOUND_LABELS[b]}-bound" for b in BOUND_COLORS], loc="lower right", fontsize=7)
    fig.suptitle(f"{wl}: roofline, one dot per layer (size: share of time)", fontsize=12)
    name = save(fig, data, f"roofline_{slug(wl)}")
    return [Figure(name, f"Roofline on {wl}",
                   "Each MAC layer at its operations per DRAM byte (2 ops per MAC, whole batch) and its achieved "
                   "ops/s, under the design's compute roof and DRAM bandwidth slope; layers with no DRAM traffic sit "
                   "at the right edge. Dots far below the roof are limited by SRAM, interconnect, mapping "
                   "(utilization) or per-layer overhead.", "layers")]


# --- (4) batch sweep -------------------------------------------------------------------------

def batch_sweep(data: ReportData) -> pd.DataFrame:
    """Throughput (inferences/s), latency (ms) and power (W) per (workload, design, batch)."""
    from dse.model.api import evaluate

    designs, tech = design_batch(data, [c.row for c in data.chosen])
    rows = []
    for wl in data.r.workloads:
        for b in BATCHES:
            frame = evaluate(designs, wl, batch=b, technology=tech)
            for i, ch in enumerate(data.chosen):
                f = frame.iloc[i]
                rows.append({"workload": wl, "design": ch.short, "trial": int(ch.row["trial"]), "batch": b,
                             "throughput [inferences/s]": float(f["throughput_ips"]),
                             "latency [ms]": float(f["latency_s"]) * 1e3, "power [W]": float(f["power_w"])})
    return pd.DataFrame(rows)


def fig_batch(data: ReportData) -> tuple[list[Figure], pd.DataFrame | None]:
    if not data.chosen or data.r.spec is None:
        return [], None
    try:
        sweep = batch_sweep(data)
    except UserError as err:
        data.notes.append(f"batch sweep skipped: {err}")
        return [], None
    wls = data.r.workloads
    fig, axes = plt.subplots(len(wls), 2, figsize=(12, 3.6 * len(wls) + 0.4), squeeze=False,
                             constrained_layout=True)
    power_budget = data.r.budgets.get("power_w")
    for r_i, wl in enumerate(wls):
        for i, ch in enumerate(data.chosen):
            s = sweep[(sweep["workload"] == wl) & (sweep["design"] == ch.short)]
            color = ROLE_COLORS.get(i, "k")
            for ax, col in ((axes[r_i, 0], "throughput [inferences/s]"), (axes[r_i, 1], "latency [ms]")):
                ax.plot(s["batch"], s[col], marker="o", color=color, label=f"{ch.short} (trial {int(ch.row['trial'])})")
                if power_budget is not None:
                    over = s["power [W]"] > power_budget
                    ax.scatter(s["batch"][over], s[col][over], s=70, facecolors="none", edgecolors="#C44E52",
                               lw=1.4, zorder=5)
        for ax, col in ((axes[r_i, 0], "throughput [inferences/s]"), (axes[r_i, 1], "latency [ms]")):
            ax.set_xscale("log", base=2)
            ax.set_xticks(BATCHES)
            ax.set_xticklabels([str(b) for b in BATCHES])
            _sci(ax, "y", sweep.loc[sweep["workload"] == wl, col])
            ax.set_xlabel("batch size [images]")
            ax.set_ylabel(col.replace("throughput", "throughput"))
            ax.set_title(f"{wl}: {col.split(' [')[0]} vs batch", fontsize=10)
    if power_budget is not None:
        axes[0, 0].scatter([], [], s=70, facecolors="none", edgecolors="#C44E52", lw=1.4,
                           label=f"power above the {an.fmt(power_budget)} W budget")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=len(labels), fontsize=8, frameon=False)
    name = save(fig, data, "batch_sweep")
    return [Figure(name, "Batch sweep",
                   "Throughput and latency (per batch) of the analysed designs for batch 1 to 64; "
                   "red circles: power above the budget at that batch.", "batch")], sweep


# --- (5) proxy analysis ----------------------------------------------------------------------

def proxy_stats(data: ReportData) -> pd.DataFrame:
    """Kendall's tau and Spearman's rho of throughput for each pair of workloads (feasible designs)."""
    feas = data.r.feasible
    rows = []
    wls = data.r.workloads
    for a_i, a in enumerate(wls):
        for b in wls[a_i + 1:]:
            xa, xb = feas[f"{a}:throughput_ips"].to_numpy(float), feas[f"{b}:throughput_ips"].to_numpy(float)
            rows.append({"workload A": a, "workload B": b, "feasible designs": len(feas),
                         "Kendall tau": an.kendall_tau(xa, xb), "Spearman rho": an.spearman_rho(xa, xb)})
    return pd.DataFrame(rows)


def fig_proxy(data: ReportData) -> tuple[list[Figure], pd.DataFrame | None, pd.DataFrame | None]:
    wls = data.r.workloads
    feas = data.r.feasible
    if len(wls) < 2:
        return [], None, None
    if len(feas) < 3:
        data.notes.append(f"proxy analysis skipped: {len(feas)} feasible designs (needs 3)")
        return [], None, None
    stats = proxy_stats(data)
    regret = an.regret_table(feas, wls)
    out = []
    for _, st in stats.iterrows():
        a, b = st["workload A"], st["workload B"]
        ca, cb = f"{a}:throughput_ips", f"{b}:throughput_ips"
        fig, ax = plt.subplots(figsize=(6.4, 5.2), constrained_layout=True)
        x, y = feas[ca].to_numpy(float), feas[cb].to_numpy(float)
        ax.scatter(x, y, s=14, alpha=0.5, color="#4C72B0", linewidths=0, label=f"feasible designs ({len(x)})")
        ia, ib = int(np.argmax(x)), int(np.argmax(y))
        ax.scatter([x[ia]], [y[ia]], marker="*", s=220, color="#D55E00", edgecolors="k", lw=0.6,
                   label=f"best on {a} (trial {int(feas['trial'].iloc[ia])})", zorder=5)
        ax.scatter([x[ib]], [y[ib]], marker="P", s=140, color="#009E73", edgecolors="k", lw=0.6,
                   label=f"best on {b} (trial {int(feas['trial'].iloc[ib])})", zorder=5)
        _sci(ax, "x", x)
        _sci(ax, "y", y)
        ax.set_xlabel(an.header(ca))
        ax.set_ylabel(an.header(cb))
        ax.set_title(f"Is {a} a proxy for {b}?\nKendall tau = {st['Kendall tau']:.2f}, "
                     f"Spearman rho = {st['Spearman rho']:.2f}", fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
        name = save(fig, data, f"proxy_{slug(a)}_vs_{slug(b)}")
        out.append(Figure(name, f"Proxy: {a} vs {b}",
                          "Throughput of every feasible design on both workloads; a good proxy puts the "
                          "designs on a rising line (tau and rho near 1) and its best design near the top right.",
                          "proxy"))
    return out, stats, regret


# --- (6) hypervolume -------------------------------------------------------------------------

def fig_hypervolume(data: ReportData) -> tuple[list[Figure], pd.DataFrame | None]:
    r = data.r
    t = r.trials
    if t.empty or not t["feasible"].any():
        return [], None
    ok = an.finite_mask(t, r.objectives)
    t = t[ok]
    losses = an.to_losses(t[r.objectives].to_numpy(float), r.directions)
    hist = an.hypervolume_history(t["trial"].to_numpy(), losses, t["feasible"].to_numpy(bool))
    fig, ax = plt.subplots(figsize=(7.5, 3.8), constrained_layout=True)
    best = 1.1 ** len(r.objectives)
    ax.plot(hist["trials"], hist["hypervolume"] / best * 100, color="#4C72B0", marker=".", lw=1.5)
    if r.spec is not None and r.spec.population and r.spec.sampler in ("nsga2", "nsga3"):
        for g in range(r.spec.population, int(hist["trials"].max()) + 1, r.spec.population):
            ax.axvline(g, color="#DDDDDD", lw=0.7, zorder=0)
    ax.set_xlabel("trials evaluated [count]")
    ax.set_ylabel("hypervolume [% of the normalized box]")
    ax.set_ylim(0, 100)
    ax.set_title(f"Convergence: hypervolume of the feasible front ({len(r.objectives)} objectives, "
                 "normalized to the observed ranges)", fontsize=10)
    name = save(fig, data, "hypervolume")
    return [Figure(name, "Hypervolume vs trials",
                   "Objectives normalized to [0, 1] over the feasible trials and turned into minimization; "
                   "reference point 1.1 in each. A curve still rising at the end means more trials would help"
                   + ("; grey lines: NSGA generations." if r.spec is not None and r.spec.sampler in ("nsga2", "nsga3")
                      else "."), "convergence")], hist
