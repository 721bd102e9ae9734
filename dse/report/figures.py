"""Static report figures (matplotlib, Agg): each saved as PNG and SVG in ``results/NAME/figures/``.

Every ``fig_*`` function takes a :class:`ReportData` plus what :mod:`dse.report.analysis` computed
for it, draws, and returns the list of :class:`Figure` records (name, title, caption) it wrote; a
figure that cannot be drawn (no feasible designs, one workload) is not in the list. Colours and
markers per role come from :mod:`dse.report.style`; legends sit outside the plotting area.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm, Normalize  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullLocator  # noqa: E402

from dse.atomic_write import atomic_path  # noqa: E402
from dse.report import analysis as an  # noqa: E402
from dse.report import style  # noqa: E402
from dse.report.context import ReportData  # noqa: E402

DPI = 110
#: Scatter layers with more points than this are embedded in the SVG as a bitmap (the axes, text and
#: front line stay vectors): 20,000 sampled designs made 7 MB SVGs that took 2 s each to write.
RASTER_POINTS = 5000
#: Parallel-coordinates fronts with more lines than this are a bitmap in the SVG (a 4,000-design front: 2 MB).
RASTER_LINES = 1000

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
        target.set_minor_locator(NullLocator())  # unlabelled minor ticks cost most of a log figure's drawing


def _legend_below(fig, ax_or_axes, ncol: int | None = None) -> None:
    """One legend for the figure, below the plots: it never covers data."""
    axes = ax_or_axes if isinstance(ax_or_axes, (list, tuple, np.ndarray)) else [ax_or_axes]
    seen: dict[str, object] = {}
    for ax in np.ravel(axes):
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside lower center",
                   ncol=ncol or min(len(seen), 4), frameon=False)


# --- (1) Pareto fronts ---------------------------------------------------------------------

def _chosen_marker(ax, ch: an.Chosen, x: float, y: float, size: float = 170) -> None:
    ax.scatter([x], [y], marker=style.role_marker(ch.key), s=size, color=style.role_color(ch.key),
               edgecolors="black", lw=0.7, zorder=6, label=f"{ch.short} (trial {ch.trial})")


def points_title(r) -> str:
    """What the scatter figures draw: ``2048 trials`` or, for a vectorized study, the trials and
    the sample of its designs table."""
    n = len(r.trials)
    if r.cloud is None or r.cloud.empty:
        return f"{n} trials"
    return f"{n} front trials and a sample of {len(r.cloud)} of the other designs ({r.designs_evaluated} evaluated)"


def fig_fronts(data: ReportData) -> list[Figure]:
    r = data.r
    t = r.points
    out: list[Figure] = []
    if t.empty:
        return out
    feas = t["feasible"].astype(bool).to_numpy()
    budgets = r.budgets
    for wl in r.workloads:
        ycol = f"{wl}:throughput_ips"
        pcol = f"{wl}:power_w"
        if ycol not in t or pcol not in t or "area_mm2" not in t:
            continue
        fig, axes = plt.subplots(1, 2, figsize=(12, 5.4), layout="constrained")
        for ax, xcol, ccol, budget in ((axes[0], "area_mm2", pcol, budgets.get("area_mm2")),
                                       (axes[1], pcol, "area_mm2", budgets.get("power_w"))):
            x = an.friendly(t[xcol].to_numpy(float), xcol)
            y = an.friendly(t[ycol].to_numpy(float), ycol)
            c = an.friendly(t[ccol].to_numpy(float), ccol)
            raster = len(x) > RASTER_POINTS
            ax.scatter(x[~feas], y[~feas], marker="x", s=14, color=style.INFEASIBLE_COLOR, linewidths=0.8,
                       label=f"outside the budgets ({int((~feas).sum())})", zorder=1, rasterized=raster)
            if feas.any():
                cpos = c[feas][c[feas] > 0]
                norm = (LogNorm(cpos.min(), cpos.max()) if len(cpos) and cpos.max() / cpos.min() > 20
                        else Normalize(np.nanmin(c[feas]), np.nanmax(c[feas])))
                sc = ax.scatter(x[feas], y[feas], c=c[feas], cmap=style.CMAP, norm=norm, s=16, alpha=0.45,
                                linewidths=0, label=f"within the budgets ({int(feas.sum())})", zorder=2,
                                rasterized=raster)
                cb = fig.colorbar(sc, ax=ax, pad=0.01)
                cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: an.fmt(v)))
                cb.ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
                cb.set_label(an.header(ccol, short=True))
                sx, sy, _ = an.staircase(x[feas], y[feas])
                if len(sx):
                    xs = np.append(sx, x[feas].max() if x[feas].max() > sx[-1] else sx[-1])
                    ys = np.append(sy, sy[-1])
                    ax.step(xs, ys, where="post", color=style.FRONT_COLOR, lw=1.6, zorder=3,
                            label="front of the designs within budgets")
            for ch in data.chosen:
                _chosen_marker(ax, ch, an.friendly(float(ch.row[xcol]), xcol), an.friendly(float(ch.row[ycol]), ycol))
            if budget is not None:
                ax.axvline(budget, color=style.BUDGET_COLOR, ls="--", lw=1.2, zorder=2, label="budget")
            _sci(ax, "x", x[np.isfinite(x) & (x > 0)])
            _sci(ax, "y", y[np.isfinite(y) & (y > 0)])
            ax.set_xlabel(an.header(xcol, short=True))
            ax.set_ylabel(an.header(ycol, short=True))
            ax.set_title(f"throughput vs {an.unit_of(xcol)[0].split(' on ')[0]}")
        _legend_below(fig, axes, ncol=3)
        fig.suptitle(f"{wl}: {points_title(r)}", fontsize=12)
        name = save(fig, data, f"front_{slug(wl)}")
        every = ("Every trial:" if r.cloud is None or r.cloud.empty else
                 f"Every trial (the {len(r.trials)} recorded front designs) and a seeded sample of {len(r.cloud)} "
                 f"of the other designs evaluated ({r.designs_evaluated} in all, in designs.parquet/);")
        out.append(Figure(name, f"Pareto fronts on {wl}",
                          f"{every} grey x: outside the budgets, dots: within, coloured by the other cost; "
                          "black staircase: designs within budgets that no other such design beats on both axes; "
                          "dashed: budget; large markers: the recommended design and the front's best per objective.",
                          "fronts"))
    return out


# --- (2) parallel coordinates ----------------------------------------------------------------

def _axis_label(col: str) -> str:
    """Axis label in at most three short lines: name, workload, unit."""
    label, unit, _ = an.unit_of(col)
    name, _, wl = label.partition(" on ")
    return "\n".join(x for x in (name, wl.split("@")[0] if wl else "", f"[{unit}]" if unit else "") if x)


def parallel_columns(data: ReportData) -> list[str]:
    """Axes of the parallel-coordinates views: objectives first, then parameters that vary on the front."""
    r, front = data.r, data.front
    varying = [c for c in r.params if c in front and front[c].nunique(dropna=True) > 1]
    return [c for c in r.objectives if c in front] + [c for c in varying if c not in r.objectives]


def fig_parallel(data: ReportData) -> list[Figure]:
    """Static view: the whole front as thin grey lines, the chosen designs in their role colours."""
    r, front = data.r, data.front
    if len(front) < 2:
        return []
    cols = parallel_columns(data)
    fig, ax = plt.subplots(figsize=(max(9.0, 1.15 * len(cols)), 5.6), layout="constrained")
    z = np.zeros((len(front), len(cols)))
    for j, col in enumerate(cols):
        vals, cats = an.axis_values(front, col, r.spec)
        if cats is not None:
            lo, hi = 0.0, max(len(cats) - 1, 1)
            for k, cname in enumerate(cats):
                ax.text(j + 0.05, k / hi, cname, fontsize=7.5, va="center", color="#222222", zorder=7,
                        bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
        else:
            lo, hi = np.nanmin(vals), np.nanmax(vals)
            ax.text(j, -0.04, an.fmt(lo), ha="center", va="top", fontsize=7.5)
            ax.text(j, 1.04, an.fmt(hi), ha="center", va="bottom", fontsize=7.5)
        z[:, j] = (vals - lo) / (hi - lo) if hi > lo else 0.5
    from matplotlib.collections import LineCollection

    xs = np.arange(len(cols), dtype=float)
    ax.add_collection(LineCollection([np.column_stack([xs, zi]) for zi in z], colors="#9A9A9A", alpha=0.25,
                                     lw=0.8, zorder=2, label=f"front designs ({len(front)})",
                                     rasterized=len(front) > RASTER_LINES))
    for ch in data.chosen:
        k = int(np.flatnonzero(front["trial"].to_numpy() == ch.trial)[0])
        ax.plot(xs, z[k], color=style.role_color(ch.key), lw=2.6, zorder=5, marker=style.role_marker(ch.key),
                ms=7, mec="black", mew=0.5, label=f"{ch.short} (trial {ch.trial})")
    for j in range(len(cols)):
        ax.axvline(j, color="black", lw=0.8)
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels([_axis_label(c) for c in cols], fontsize=7.5)
    ax.set_yticks([])
    ax.set_ylim(-0.12, 1.12)
    ax.set_xlim(-0.3, len(cols) - 0.4)
    ax.grid(False)
    _legend_below(fig, ax, ncol=3)
    ax.set_title(f"The {len(front)} Pareto designs: objectives, then the parameters that vary on the front "
                 "(each axis from its min to its max)", fontsize=10)
    name = save(fig, data, "pareto_parallel")
    return [Figure(name, "Pareto designs in parallel coordinates",
                   "Grey: every Pareto design; in colour: the recommended design and the front's best per "
                   "objective. Each axis is scaled from its minimum (bottom) to its maximum (top) on the front; "
                   "parameters that are the same on every front design are left out. The interactive version "
                   "above filters by dragging along an axis.", "pareto")]


# --- (3) per-layer breakdown and roofline ----------------------------------------------------

def fig_layers(data: ReportData) -> list[Figure]:
    out: list[Figure] = []
    if not data.chosen or data.r.spec is None:
        return out
    for wl in data.r.workloads:
        got = data.layers(wl)
        if got is None:
            continue
        lay, hw = got
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


def _bound_handles():
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in style.BOUND_COLORS.values()]
    labels = [f"{style.BOUND_LABELS[b]}-bound" if b != "overhead" else style.BOUND_LABELS[b]
              for b in style.BOUND_COLORS]
    return handles, labels


def _layers_figure(data: ReportData, wl: str, lay: pd.DataFrame) -> list[Figure]:
    n = len(data.chosen)
    fig, axes = plt.subplots(n, 2, figsize=(13, 2.4 * n + 1.0), squeeze=False,
                             gridspec_kw={"width_ratios": [5, 1]}, layout="constrained")
    for i, ch in enumerate(data.chosen):
        d = lay[lay["design"] == i]
        ax, axs = axes[i]
        x = d["layer"].to_numpy()
        t_ms = d["time_s"].to_numpy() * 1e3
        ovh = d["overhead_s"].to_numpy() * 1e3
        body = t_ms - ovh
        colors = [style.BOUND_COLORS.get(b, "k") for b in d["bound"]]
        _bars(ax, x, np.zeros_like(body), body, colors)
        _bars(ax, x, body, ovh, [style.BOUND_COLORS["overhead"]] * len(x))
        ax.set_xlim(-1, x.max() + 1)
        top = max(t_ms.max(), 1e-9) * 1.12
        stacks = an.fused_stacks(d)
        if stacks:
            top *= 1.1  # headroom for the bands labels
            _stack_spans(ax, stacks, top, len(x), gid=f"fused_stack_t{ch.trial}")
        ax.set_ylim(0, top)
        ax.set_ylabel("time [ms]")
        batch = int(d["batch"].iloc[0])
        ax.set_title(f"{ch.role} (trial {ch.trial}): {an.fmt(t_ms.sum())} ms per batch of {batch}; "
                     f"{schedule_words(stacks, len(x))}", loc="left", fontsize=10, color=style.role_color(ch.key))
        shares = an.bound_shares(d)
        left = 0.0
        for b, share in shares.items():
            axs.barh([0], [share * 100], left=left, color=style.BOUND_COLORS[b], height=0.6)
            if share > 0.07:
                axs.text(left + share * 50, 0, f"{share * 100:.0f}%", ha="center", va="center", fontsize=7,
                         color="white")
            left += share * 100
        axs.set_xlim(0, 100)
        axs.set_yticks([])
        axs.set_xlabel("share of time [%]")
        axs.grid(False)
    axes[-1, 0].set_xlabel("layer (network order)")
    handles, labels = _bound_handles()
    if "stack" in lay and bool((lay["stack"] >= 0).any()):
        handles.append(plt.Rectangle((0, 0), 1, 1, color=style.FUSED_SHADES[0]))
        labels.append("depth-first stack (number: bands of rows)")
    fig.legend(handles, labels, loc="outside lower center", ncol=6, frameon=False)
    fig.suptitle(f"{wl}: per-layer time by bound", fontsize=12)
    name = save(fig, data, f"layers_{slug(wl)}")
    return [Figure(name, f"Per-layer time on {wl}",
                   "Each bar is one layer's time, coloured by what bounds it (the slowest of compute, SRAM, "
                   "interconnect and DRAM), with the fixed per-layer overhead stacked on top in grey; "
                   "shaded spans: depth-first stacks (layers run together a band of rows at a time, the "
                   "number above is the bands of rows the image is cut into); right: share of the network's "
                   "time by bound.", "layers")]


def schedule_words(stacks: list[dict], n_layers: int) -> str:
    """``layer by layer`` or ``depth-first: 50 of 102 layers in 13 stacks``."""
    if not stacks:
        return "layer by layer"
    fused = sum(st["layers"] for st in stacks)
    return f"depth-first: {fused} of {n_layers} layers in {len(stacks)} stack{'s' if len(stacks) != 1 else ''}"


#: a stack's bands label is drawn when the stack spans at least this share of the layers (readability)
MIN_LABEL_SPAN = 0.015


def _stack_spans(ax, stacks: list[dict], top: float, n_layers: int, gid: str) -> None:
    """Shade each depth-first stack's layers and write its bands of rows above it. Each span's SVG
    id is ``GID_K_bandsB`` (stack K from 1, B bands of rows)."""
    for k, st in enumerate(stacks):
        span = ax.axvspan(st["first"] - 0.5, st["last"] + 0.5, color=style.FUSED_SHADES[k % 2], lw=0, zorder=0)
        span.set_gid(f"{gid}_{k + 1}_bands{st['bands']}")
        if st["layers"] / max(n_layers, 1) >= MIN_LABEL_SPAN or len(stacks) <= 12:
            ax.text((st["first"] + st["last"]) / 2, top * 0.985, str(st["bands"]), ha="center", va="top",
                    fontsize=7, color=style.FUSED_TEXT_COLOR, zorder=5)


def _log_axes(ax) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(lambda v, _: an.fmt(v)))
        axis.set_minor_locator(NullLocator())


def _roofline_figure(data: ReportData, wl: str, lay: pd.DataFrame, hw) -> list[Figure]:
    from dse.model.constants import model_constants

    n = len(data.chosen)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 4.6), squeeze=False, layout="constrained")
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
        peak_top = peak
        fixed = data.r.spec.fixed if data.r.spec is not None else {}
        if bool(ch.row.get("winograd", fixed.get("winograd", False))):
            # Winograd F(2x2,3x3) does the nominal 3x3 MACs with fewer hardware MACs: nominal ops/s
            # of those layers can exceed the hardware peak by the reduction factor.
            wpeak = peak * float(model_constants()["winograd_f2x2_3x3_mac_reduction"])
            ax.plot(xs, np.minimum(wpeak, bw * xs / 1e12), color="black", lw=1, ls="--")
            ax.text(xs[-1], wpeak * 1.08, f"3x3 with Winograd {an.fmt(wpeak)} TOPS (nominal)", ha="right",
                    va="bottom", fontsize=7)
            peak_top = wpeak
        ax.text(lo * 1.3, bw * lo * 1.3 / 1e12 * 1.3, f"DRAM {an.fmt(bw / 1e9)} GB/s", fontsize=7, va="bottom")
        share = d["time_s"].to_numpy(float) / max(d["time_s"].sum(), 1e-30)
        size = 12 + 300 * share
        colors = np.array([style.BOUND_COLORS.get(b, "k") for b in d["bound"]])
        ax.scatter(oi[has], tput[has], s=size[has], c=list(colors[has]), alpha=0.75, edgecolors="white", lw=0.4)
        if (~has).any():  # no DRAM traffic: infinite intensity, drawn at the right edge
            ax.scatter(np.full((~has).sum(), hi * 2.5), tput[~has], s=size[~has], c=list(colors[~has]),
                       alpha=0.75, marker=">", edgecolors="white", lw=0.4)
            ax.axvline(hi * 1.6, color="#999999", lw=0.8, ls=":")
            ax.text(hi * 2.5, peak_top * 1.6, "no DRAM\ntraffic", ha="center", va="bottom", fontsize=7)
        _log_axes(ax)
        ax.set_xlim(lo, hi * 4)
        ymin = min(np.nanmin(tput) if len(tput) else peak, peak) / 5
        ax.set_ylim(ymin, peak_top * 4)
        ax.set_xlabel("operational intensity [ops/DRAM byte]")
        ax.set_ylabel("achieved [TOPS]")
        ax.set_title(f"{ch.short}\n(trial {ch.trial}, batch {int(batch[0]) if len(batch) else 1})", fontsize=9,
                     color=style.role_color(ch.key))
    handles = [plt.Line2D([], [], marker="o", ls="", color=c) for c in style.BOUND_COLORS.values()]
    fig.legend(handles, _bound_handles()[1], loc="outside lower center", ncol=5, frameon=False)
    fig.suptitle(f"{wl}: roofline, one dot per layer (size: share of time)", fontsize=12)
    name = save(fig, data, f"roofline_{slug(wl)}")
    return [Figure(name, f"Roofline on {wl}",
                   "Each MAC layer at its operations per DRAM byte (2 ops per MAC, whole batch) and its achieved "
                   "ops/s, under the design's compute roof and DRAM bandwidth slope; layers with no DRAM traffic sit "
                   "at the right edge. Dots far below the roof are limited by SRAM, interconnect, mapping "
                   "(utilization) or per-layer overhead.", "layers")]


# --- (4) batch sweep -------------------------------------------------------------------------

def fig_batch(data: ReportData, sweep: pd.DataFrame) -> list[Figure]:
    """Throughput and latency vs batch per workload; points outside the budgets are hollow rings."""
    wls = data.r.workloads
    fig, axes = plt.subplots(len(wls), 2, figsize=(12, 3.4 * len(wls) + 0.9), squeeze=False,
                             layout="constrained")
    cols = (an.SWEEP_THROUGHPUT, an.SWEEP_LATENCY)
    for r_i, wl in enumerate(wls):
        for ch in data.chosen:
            s = sweep[(sweep["workload"] == wl) & (sweep["trial"] == ch.trial)]
            ok = s["within budgets"].to_numpy(bool)
            color = style.role_color(ch.key)
            for ax, col in zip(axes[r_i], cols):
                ax.plot(s["batch"], s[col], color=color, lw=1.4, zorder=3)
                ax.scatter(s["batch"][ok], s[col][ok], marker=style.role_marker(ch.key), color=color, s=46,
                           edgecolors="black", lw=0.5, zorder=4, label=f"{ch.short} (trial {ch.trial})")
                ax.scatter(s["batch"][~ok], s[col][~ok], marker=style.role_marker(ch.key), facecolors="white",
                           edgecolors=color, s=46, lw=1.2, zorder=4)
        for ax, col in zip(axes[r_i], cols):
            ax.set_xscale("log", base=2)
            ax.set_xticks(an.BATCHES)
            ax.set_xticklabels([str(b) for b in an.BATCHES])
            _sci(ax, "y", sweep.loc[sweep["workload"] == wl, col])
            ax.set_xlabel("batch size [images]")
            ax.set_ylabel(col)
            ax.set_title(f"{wl}: {col.split(' [')[0]} vs batch", fontsize=10)
    if not sweep["within budgets"].all():
        axes[0, 0].scatter([], [], marker="o", facecolors="white", edgecolors="black", s=46, lw=1.2,
                           label="hollow: outside the budgets at that batch")
    _legend_below(fig, axes, ncol=3)
    name = save(fig, data, "batch_sweep")
    return [Figure(name, "Batch sweep",
                   f"Throughput and latency (per batch) of the analysed designs for batch {an.BATCHES[0]} to "
                   f"{an.BATCHES[-1]}; hollow markers: the design exceeds a budget (power, latency or throughput) "
                   "at that batch.", "batch")]


# --- (5) proxy analysis ----------------------------------------------------------------------

def fig_proxy(data: ReportData, stats: pd.DataFrame, feas: pd.DataFrame) -> list[Figure]:
    """One scatter per workload pair over ``feas`` (the designs within budgets the proxy section
    ranks)."""
    wls = data.r.workloads
    names = an.design_labels(feas)
    out = []
    for _, st in stats.iterrows():
        a, b = st["workload A"], st["workload B"]
        ca, cb = f"{a}:throughput_ips", f"{b}:throughput_ips"
        fig, ax = plt.subplots(figsize=(6.6, 6.0), layout="constrained")
        x, y = feas[ca].to_numpy(float), feas[cb].to_numpy(float)
        ax.scatter(x, y, s=14, alpha=0.45, color="#9A9A9A", linewidths=0, label=f"designs within budgets ({len(x)})",
                   rasterized=len(x) > RASTER_POINTS)
        for wl, idx in ((a, int(np.argmax(x))), (b, int(np.argmax(y)))):
            k = wls.index(wl)
            ax.scatter([x[idx]], [y[idx]], marker=style.workload_marker(k), s=170, color=style.workload_color(k),
                       edgecolors="k", lw=0.7, label=f"best on {wl} ({names[idx]})", zorder=5)
        _sci(ax, "x", x)
        _sci(ax, "y", y)
        ax.set_xlabel(an.header(ca))
        ax.set_ylabel(an.header(cb))
        ax.set_title(f"Do {a} and {b} rank designs alike?\nKendall tau = {st['Kendall tau']:.2f}, "
                     f"Spearman rho = {st['Spearman rho']:.2f}", fontsize=10)
        _legend_below(fig, ax, ncol=1)
        name = save(fig, data, f"proxy_{slug(a)}_vs_{slug(b)}")
        out.append(Figure(name, f"Proxy: {a} vs {b}",
                          "Throughput of every design within budgets on both workloads; a good proxy puts the "
                          "designs on a rising line (tau and rho near 1) and its best design near the top right.",
                          "proxy"))
    return out


# --- (6) hypervolume -------------------------------------------------------------------------

def fig_hypervolume(data: ReportData, hist: pd.DataFrame, unit: str = "trials") -> list[Figure]:
    """Hypervolume against ``hist["trials"]``, counted in ``unit`` ("trials", or "designs
    evaluated" for a vectorized study's designs table)."""
    r = data.r
    fig, ax = plt.subplots(figsize=(7.5, 3.8), layout="constrained")
    best = 1.1 ** len(r.objectives)
    ax.plot(hist["trials"], hist["hypervolume"] / best * 100, color="#4C72B0", marker=".", lw=1.5)
    population = r.spec.population if r.spec is not None and r.spec.sampler in ("nsga2", "nsga3") else 0
    if population:
        for g in range(population, int(hist["trials"].max()) + 1, population):
            ax.axvline(g, color="#DDDDDD", lw=0.7, zorder=0)
    ax.set_xlabel(f"{'trials evaluated' if unit == 'trials' else unit} [count]")
    ax.set_ylabel("hypervolume [% of the normalized box]")
    ax.set_ylim(0, 100)
    ax.set_title(f"Convergence: hypervolume of the feasible front ({len(r.objectives)} objectives, "
                 "normalized to the observed ranges)", fontsize=10)
    name = save(fig, data, "hypervolume")
    return [Figure(name, f"Hypervolume vs {unit}",
                   "Objectives normalized to [0, 1] over the feasible trials and turned into minimization; "
                   f"reference point 1.1 in each. A curve still rising at the end means more {unit} would help"
                   + ("; grey lines: NSGA generations." if population else "."), "convergence")]
