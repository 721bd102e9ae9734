"""The report's sections, in order: each builder takes the :class:`ReportData` and returns one
:class:`Section` (text, bullet lists, tables, static figures, interactive blocks) or None.

To add a section, write a builder and insert it into :data:`SECTIONS` where it belongs; numbering
and the table of contents follow the list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dse.errors import UserError
from dse.report import analysis as an
from dse.report import figures as F
from dse.report import interactive
from dse.report import style
from dse.report.context import ReportData
from dse.report.load import DESIGNS, Results, designs_table_stream
from dse.report.tables import comparison_table, design_table, fmt_frame
from dse.search import pareto as search_pareto

MAX_TABLE_ROWS = 200


@dataclass
class Table:
    title: str
    frame: pd.DataFrame  # already formatted strings, headers with units
    note: str = ""


@dataclass
class Section:
    key: str
    title: str
    text: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)  # a bullet list after the text
    tables: list[Table] = field(default_factory=list)
    figures: list[F.Figure] = field(default_factory=list)
    html: list[str] = field(default_factory=list)  # interactive blocks (HTML only)


# --- 1. recommendation -----------------------------------------------------------------------

def describe_design(row: pd.Series, params: list[str], constant: dict | None = None) -> str:
    """``cores 16, rows 32 MACs, ..., winograd yes``: the searched parameters with units."""
    parts = []
    for p in params:
        if p not in row or pd.isna(row[p]):
            continue
        parts.append(f"{an.unit_of(p)[0]} {an.with_unit(p, row[p])}")
    return ", ".join(parts)


def recommendation_section(data: ReportData) -> Section:
    s = Section("recommendation", "Recommendation")
    rec = data.recommendation
    r = data.r
    if rec is None:
        s.text.append("No design meets the budgets, so there is nothing to recommend: relax the budgets or widen "
                      "the design space (the fronts below show how far the trials are).")
        return s
    row = rec.chosen.row
    s.text.append(f"Build trial {rec.trial}: {describe_design(row, r.params)}.")
    gets = [f"{an.unit_of(c)[0]} {an.with_unit(c, row[c])}"
            for c in r.objectives if c not in ("area_mm2",) and not c.endswith(":power_w")]
    budget_text = "; ".join(rec.against_budgets) if rec.against_budgets else "no budgets set"
    s.text.append(f"It gives {', '.join(gets) or 'its objectives'}; against the budgets: {budget_text}.")
    s.text.extend(rec.fusion_text)
    s.text.append(f"How it is chosen: {rec.reason}. Every statement of a best design in this report counts only "
                  "designs within the budgets.")
    for wl, shares in rec.bound_shares.items():
        top = sorted(shares.items(), key=lambda kv: -kv[1])
        s.items.append(f"Where its time goes on {wl}: "
                       + ", ".join(f"{100 * v:.0f}% {style.BOUND_LABELS[b]}{'' if b == 'overhead' else '-bound'}"
                                   for b, v in top if v >= 0.005) + ".")
    for x in rec.relies_on:
        s.items.append(f"It relies on {x}.")
    if rec.alternatives:
        for a in rec.alternatives:
            s.items.append(f"Alternative, trial {a.trial}: {a.summary} (better {an.unit_of(a.better_in)[0]}).")
    else:
        s.items.append("No other design on the front improves any objective: it is the only front design.")
    designs = [("recommended", row)] + [(f"alternative {k + 1}", a.row) for k, a in enumerate(rec.alternatives)]
    s.tables.append(Table("The recommended design and its nearest alternatives", comparison_table(r, designs),
                          "Relative to the recommendation, each alternative is the nearest design on the front "
                          "(objectives scaled to [0, 1]) that is better in one objective."))
    return s


# --- 2. fronts -------------------------------------------------------------------------------

def fronts_section(data: ReportData) -> Section:
    s = Section("fronts", "Pareto fronts")
    s.html += interactive.explorer(data)
    s.figures = F.fig_fronts(data)
    if not s.figures:
        s.text.append("No trials to plot.")
    return s


# --- 3. Pareto designs -----------------------------------------------------------------------

def pareto_section(data: ReportData) -> Section:
    s = Section("pareto", "Pareto designs")
    r, front = data.r, data.front
    if front.empty:
        s.text.append("No feasible design, so no Pareto front.")
        return s
    ordered = front.sort_values(r.objectives[0], ascending=r.directions[0] != "maximize")
    s.text.append(f"{len(front)} designs within the budgets that no other such design beats on every objective "
                  f"(sorted by {an.header(r.objectives[0])}). All trials: trials.csv / trials.parquet; every "
                  "metric of the front: pareto.csv.")
    s.html += interactive.parallel(data, F.parallel_columns(data))
    s.figures = F.fig_parallel(data)
    marks = {c.trial: c.short for c in data.chosen}
    # the analysed designs first (the recommendation on top), then the front in objective order
    first = ordered[ordered["trial"].isin(marks)].sort_values(
        "trial", key=lambda t: t.map({c.trial: k for k, c in enumerate(data.chosen)}))
    head = pd.concat([first, ordered[~ordered["trial"].isin(marks)]]).head(MAX_TABLE_ROWS)
    tab, constants = design_table(r, head, {"role": [marks.get(int(t), "") for t in head["trial"]]})
    note = " ".join(x for x in (constants, f"The analysed designs, then the first {MAX_TABLE_ROWS - len(first)} "
                                f"of the other {len(front) - len(first)} rows; all in pareto.csv."
                                if len(front) > MAX_TABLE_ROWS else "") if x)
    heads = [f'"{an.fusion_header(wl)}"' for wl in an.objective_workloads(r.objectives, r.workloads)]
    fusion = (f"{', '.join(heads)}: how many of the network's layers the design runs depth-first (in fused "
              "stacks, a band of rows at a time); layer by layer: none.")
    note = " ".join(x for x in (note, fusion) if x)
    s.tables.append(Table("Pareto designs", tab, note))
    return s


# --- 4. analysed designs ---------------------------------------------------------------------

def designs_section(data: ReportData) -> Section:
    s = Section("designs", "The recommended design and the front's extremes: where the time goes")
    if not data.chosen:
        s.text.append("No feasible design to analyse.")
        return s
    s.text.append("The recommendation (the knee) beside the front's best design on each objective; parameters "
                  "and every stored metric, one design per column.")
    s.tables.append(Table("Analysed designs", comparison_table(data.r, [(c.short, c.row) for c in data.chosen])))
    s.figures = F.fig_layers(data)
    if data.r.spec is None:
        s.text.append("Per-layer figures need the study file (study.toml) to rebuild the designs.")
    return s


# --- 5. batch sweep --------------------------------------------------------------------------

def batch_text(best: pd.DataFrame) -> list[str]:
    """One line per (workload, design): the best batch within the budgets, never one outside them."""
    lines = []
    for _, b in best.iterrows():
        who = f"{b['workload']}, {b['design']} (trial {int(b['trial'])})"
        if b["best batch"] is None or pd.isna(b["best batch"]):
            lines.append(f"{who}: no batch size within the budgets with the current model.")
            continue
        lines.append(f"{who}: best within the budgets at batch {int(b['best batch'])} "
                     f"({an.fmt(b[an.SWEEP_THROUGHPUT])} {an.unit_of('throughput_ips')[1]}, "
                     f"{an.fmt(b['gain vs batch 1'])}x batch 1)"
                     + ("" if b["largest batch within budgets"] == an.BATCHES[-1] else
                        f"; larger batches exceed a budget from batch "
                        f"{an.BATCHES[an.BATCHES.index(int(b['largest batch within budgets'])) + 1]} on")
                     + ".")
    return lines


def batch_section(data: ReportData) -> Section:
    s = Section("batch", "Batch sweep: do larger batches help?")
    if not data.chosen or data.r.spec is None:
        s.text.append("No designs to sweep.")
        return s
    try:
        sweep = an.batch_sweep(data.r.spec, data.chosen, data.r.workloads, data.r.budgets)
    except UserError as err:
        data.notes.append(f"batch sweep skipped: {err}")
        s.text.append("No designs to sweep.")
        return s
    s.figures = F.fig_batch(data, sweep)
    s.text.append("Latency is per batch: a batch of B images waits for all B. Advice counts only batch sizes at "
                  "which the design stays within every budget.")
    s.items += batch_text(an.best_batches(sweep))
    wide = sweep.assign(cell=[f"{an.fmt(t)}{'' if ok else ' (over budget)'}" for t, ok in
                              zip(sweep[an.SWEEP_THROUGHPUT], sweep["within budgets"])])
    wide = wide.pivot_table(index=["workload", "design", "trial"], columns="batch", values="cell", aggfunc="first",
                            sort=False).reset_index()
    unit = an.unit_of("throughput_ips")[1]
    wide.columns = [f"batch {c} [{unit}]" if isinstance(c, (int, np.integer)) else c for c in wide.columns]
    s.tables.append(Table("Throughput vs batch size", fmt_frame(wide)))
    return s


# --- 6. proxy --------------------------------------------------------------------------------

def proxy_text(stats: pd.DataFrame, regret: pd.DataFrame | None) -> str:
    parts = [f"{row['workload A']} vs {row['workload B']}: Kendall tau = {row['Kendall tau']:.2f}, "
             f"Spearman rho = {row['Spearman rho']:.2f}" for _, row in stats.iterrows()]
    text = "Rank agreement of throughput over the designs within budgets: " + "; ".join(parts) + "."
    if regret is not None and len(regret):
        worst = regret.loc[regret["regret [%]"].idxmax()]
        text += (f" Choosing the fastest design on {worst['chosen on']} ({worst['design chosen']}) "
                 f"loses {worst['regret [%]']:.0f}% of the throughput achievable on {worst['run on']} "
                 f"({worst['best design']}).")
    return text


def proxy_section(data: ReportData) -> Section:
    s = Section("proxy", "Proxy analysis: does one workload rank designs like another?")
    r = data.r
    feas = r.feasible
    if len(r.workloads) < 2:
        s.text.append("The study has one workload; add a second one (e.g. resnet50) to see whether it ranks "
                      "designs the same way.")
        return s
    if len(feas) < 3:
        s.text.append("Too few feasible designs for a proxy analysis.")
        return s
    if r.cloud is not None and not r.cloud.empty:
        # a vectorized study records only its front: rank over the front and the sample of the
        # designs table, or the proxy would compare designs already chosen on one workload
        points = r.points
        feas = points[points["feasible"].astype(bool)].reset_index(drop=True)
        ranked = min(len(feas), an.PROXY_RANK_SAMPLE)
        s.text.append(f"Over {len(feas)} designs within budgets: the front's trials and a sample of the "
                      f"{r.designs_evaluated} designs evaluated (designs.parquet); rank correlations over "
                      f"{ranked} of them (seeded sample), best designs and regret over all.")
    stats = an.proxy_stats(feas, r.workloads)
    regret = an.regret_table(feas, r.workloads)
    s.figures = F.fig_proxy(data, stats, feas)
    s.text.append(proxy_text(stats, regret))
    s.tables.append(Table("Rank correlation of throughput (designs within budgets)", fmt_frame(stats)))
    s.tables.append(Table("Regret: the fastest design on A, run on B, vs the fastest on B (both within budgets)",
                          fmt_frame(regret)))
    return s


# --- 7. convergence --------------------------------------------------------------------------

def convergence_section(data: ReportData) -> Section:
    s = Section("convergence", "Convergence")
    r = data.r
    t = r.trials
    if t.empty or not t["feasible"].any():
        s.text.append("No feasible trials: no hypervolume.")
        return s
    t = t[an.finite_mask(t, r.objectives)]
    losses = search_pareto.to_minimization(t[r.objectives].to_numpy(float), r.directions)
    unit = "trials"
    if r.cloud is not None and r.designs_evaluated:
        # A vectorized study records only its front as trials, in recording order: its progress is
        # the front of the designs evaluated so far, in the designs table.
        hist = designs_history(data.r, losses[t["feasible"].to_numpy(bool)])
        unit = "designs evaluated"
    else:
        hist = an.hypervolume_history(t["trial"].to_numpy(), losses, t["feasible"].to_numpy(bool))
    if hist.empty or hist["hypervolume"].iloc[-1] <= 0:
        s.text.append("No feasible design inside the normalized box: no hypervolume curve.")
        return s
    s.figures = F.fig_hypervolume(data, hist, unit)
    hv = hist["hypervolume"].to_numpy()
    at_half = hv[min(np.searchsorted(hist["trials"].to_numpy(), hist["trials"].max() / 2), len(hv) - 1)]
    s.text.append(f"Hypervolume reached {100 * at_half / hv[-1]:.0f}% of its final value after half the "
                  f"{unit} ({int(hist['trials'].max() / 2):,} of {int(hist['trials'].max()):,}).")
    return s


def designs_history(r: Results, front_losses: np.ndarray) -> pd.DataFrame:
    """Hypervolume history of a vectorized study over its designs table (``r.designs_evaluated``
    rows), normalized by the range of ``front_losses`` (its recorded feasible trials, as
    minimization losses)."""
    folder = r.out_dir / DESIGNS
    bounds = search_pareto.objective_bounds(front_losses)

    def batches():
        for frame in designs_table_stream(folder, [*r.objectives, "feasible"]):
            if not all(c in frame for c in [*r.objectives, "feasible"]):
                return
            yield (search_pareto.to_minimization(frame[r.objectives].to_numpy(float), r.directions),
                   frame["feasible"].to_numpy(bool))

    return an.hypervolume_history_stream(batches(), r.designs_evaluated, bounds)


def confidence_section(data: ReportData) -> Section | None:
    """How sure is this? The front re-evaluated under samples of the catalog's ranges."""
    from dse.report import uncertainty_section as us

    rec = data.recommendation
    res = us.sensitivity(data, None if rec is None else int(rec.trial))
    if res is None:
        return None
    s = Section("confidence", "How sure is this?")
    s.text.extend(us.summary_text(res))
    s.tables.append(Table("Recommended design: objectives with their P10-P90 bands",
                          pd.DataFrame(us.bands_rows(res))))
    ranking = us.ranking_rows(res)
    if ranking:
        s.tables.append(Table("Constants that move the front's ranking most (each at one end of its range)",
                              pd.DataFrame(ranking)))
    s.figures = us.fig_bands(data, res) + us.fig_tornado(data, res)
    return s


#: the report, in order (key, builder)
SECTIONS: list[tuple[str, Callable[[ReportData], Section | None]]] = [
    ("recommendation", recommendation_section),
    ("fronts", fronts_section),
    ("pareto", pareto_section),
    ("designs", designs_section),
    ("batch", batch_section),
    ("proxy", proxy_section),
    ("confidence", confidence_section),
    ("convergence", convergence_section),
]


def build_sections(data: ReportData) -> list[Section]:
    out = []
    for _, builder in SECTIONS:
        section = builder(data)
        if section is not None:
            out.append(section)
    return out


__all__ = ["SECTIONS", "Section", "Table", "build_sections"]
