"""The report: ``results/NAME/report.html`` (self-contained), ``report.md`` and ``figures/``.

:func:`build_report` rebuilds everything from the results folder alone (the Optuna storage, the
study file copy); ``dse run`` calls it at the end of a run and ``dse report`` on demand.
"""

from __future__ import annotations

import base64
import html
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dse.atomic_write import write_text_atomic
from dse.report import analysis as an
from dse.report import figures as F
from dse.report.load import Results, load_results

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
    tables: list[Table] = field(default_factory=list)
    figures: list[F.Figure] = field(default_factory=list)


# --- tables ----------------------------------------------------------------------------------

def _metric_order(r: Results, frame: pd.DataFrame) -> list[str]:
    skip = set(r.params) | {"trial", "state", "feasible", "duration_s", "number"}
    cols = [c for c in r.objectives if c in frame]
    design = [c for c in frame.columns if ":" not in c and c not in skip and c not in cols
              and c in an.METRIC_UNITS]
    per_wl = []
    for wl in r.workloads:
        per_wl += [f"{wl}:{m}" for m in an.METRIC_UNITS if f"{wl}:{m}" in frame and f"{wl}:{m}" not in cols]
    return cols + design + per_wl


def design_table(r: Results, frame: pd.DataFrame, extra: dict[str, list] | None = None) -> pd.DataFrame:
    """Trials rows -> display table: every searched parameter and metric, friendly units in headers."""
    out = {}
    for k, v in (extra or {}).items():
        out[k] = v
    out["trial"] = [str(int(t)) for t in frame["trial"]]
    for col in r.params + _metric_order(r, frame):
        if col not in frame:
            continue
        values = frame[col]
        if col.endswith(":weights_resident"):
            out[an.header(col).replace(" [0/1]", "")] = ["yes" if v else "no" for v in values]
            continue
        if values.dtype.kind in "fiu":
            values = an.friendly(values.astype(float), col)
        out[an.header(col)] = [an.fmt(v) for v in values]
    return pd.DataFrame(out)


def chosen_table(r: Results, chosen: list[F.Chosen]) -> pd.DataFrame:
    frame = pd.DataFrame([c.row for c in chosen])
    return design_table(r, frame, {"design": [c.role for c in chosen]})


def fmt_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.apply(lambda col: [an.fmt(v) for v in col])


# --- rendering -------------------------------------------------------------------------------

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1320px;margin:0 auto;padding:18px 28px 60px;background:#fff}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:19px;border-bottom:2px solid #e3e3e3;padding-bottom:4px;margin-top:34px}
h3{font-size:15px;margin:18px 0 6px}p,li{font-size:14px;line-height:1.45}
.meta{color:#555;font-size:13px}.note{background:#fff6e0;border-left:4px solid #e0a800;padding:6px 10px;font-size:13px}
figure{margin:12px 0 22px}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:12.5px;color:#555;margin-top:4px;max-width:1000px}
.scroll{overflow-x:auto;max-height:520px;overflow-y:auto;border:1px solid #e5e5e5}
table{border-collapse:collapse;font-size:12px;font-variant-numeric:tabular-nums}
th,td{padding:3px 7px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th{background:#f3f5f8;position:sticky;top:0;font-weight:600;z-index:1}
td:first-child,th:first-child{text-align:left}tr:hover td{background:#f7fbff}
nav a{margin-right:14px;font-size:13px;color:#0b5cad;text-decoration:none}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:13px}dt{color:#666}dd{margin:0}
"""


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in t.frame.columns)
    rows = []
    for _, row in t.frame.iterrows():
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>")
    note = f'<p class="meta">{html.escape(t.note)}</p>' if t.note else ""
    return (f"<h3>{html.escape(t.title)}</h3>{note}<div class=\"scroll\"><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _html_figure(fig: F.Figure, fig_dir: Path) -> str:
    data = base64.b64encode((fig_dir / f"{fig.name}.png").read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(fig.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption><b>{html.escape(fig.title)}.</b> {html.escape(fig.caption)} "
            f"(figures/{html.escape(fig.name)}.png and .svg)</figcaption></figure>")


def render_html(title: str, meta: dict[str, str], notes: list[str], sections: list[Section], fig_dir: Path) -> str:
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body><main>", f"<h1>{html.escape(title)}</h1>"]
    parts.append("<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in meta.items())
                 + "</dl>")
    for n in notes:
        parts.append(f'<p class="note">{html.escape(n)}</p>')
    parts.append("<nav>" + "".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in sections) + "</nav>")
    for s in sections:
        parts.append(f'<h2 id="{s.key}">{html.escape(s.title)}</h2>')
        parts += [f"<p>{html.escape(p)}</p>" for p in s.text]
        parts += [_html_figure(f, fig_dir) for f in s.figures]
        parts += [_html_table(t) for t in s.tables]
    parts.append("</main></body></html>")
    return "\n".join(parts)


def _md_cell(v) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _md_table(t: Table) -> str:
    cols = list(t.frame.columns)
    lines = [f"### {t.title}", ""]
    if t.note:
        lines += [t.note, ""]
    lines.append("| " + " | ".join(_md_cell(c) for c in cols) + " |")
    lines.append("|" + "|".join("---" for _ in cols) + "|")
    for _, row in t.frame.iterrows():
        lines.append("| " + " | ".join(_md_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def render_md(title: str, meta: dict[str, str], notes: list[str], sections: list[Section]) -> str:
    out = [f"# {title}", ""]
    out += [f"- **{k}**: {v}" for k, v in meta.items()]
    out.append("")
    out += [f"> **Note:** {n}\n" for n in notes]
    for s in sections:
        out += [f"## {s.title}", ""]
        for p in s.text:
            out += [p, ""]
        for f in s.figures:
            out += [f"![{f.title}](figures/{f.name}.png)", "", f"*{f.title}.* {f.caption} "
                    f"([SVG](figures/{f.name}.svg))", ""]
        for t in s.tables:
            out += [_md_table(t)]
    return "\n".join(out) + "\n"


# --- the report ------------------------------------------------------------------------------

def _meta(r: Results, front: pd.DataFrame) -> dict[str, str]:
    spec = r.spec
    n, nf = len(r.trials), len(r.feasible)
    meta = {"study": r.name}
    if spec is not None and spec.description:
        meta["description"] = spec.description
    if spec is not None:
        meta["process node"] = f"{spec.node_nm} nm"
        meta["workloads"] = ", ".join(f"{w.label} (batch {w.batch if w.batch is not None else 'searched'})"
                                      for w in spec.workloads)
    else:
        meta["workloads"] = ", ".join(r.workloads)
    bud = []
    if spec is not None:
        if spec.area_mm2 is not None:
            bud.append(f"area <= {an.fmt(spec.area_mm2)} mm^2")
        if spec.power_w is not None:
            bud.append(f"power <= {an.fmt(spec.power_w)} W")
        bud += [f"latency on {k} <= {an.fmt(v * 1e3)} ms" for k, v in spec.latency_s.items()]
        bud += [f"throughput on {k} >= {an.fmt(v)} inferences/s" for k, v in spec.min_throughput_ips.items()]
    meta["budgets"] = "; ".join(bud) or ("none" if spec is not None else "unknown (no study file)")
    meta["objectives"] = "; ".join(f"{d} {an.header(c)}" for c, d in zip(r.objectives, r.directions))
    if spec is not None:
        meta["search"] = f"{spec.sampler}, {spec.trials} trials planned, population {spec.population}, seed {spec.seed}"
    meta["trials"] = (f"{n} complete, {nf} feasible ({100 * nf / n:.0f}%), {len(front)} on the Pareto front"
                      if n else "none complete")
    if spec is not None and spec.fixed:
        meta["fixed parameters"] = ", ".join(f"{k} = {v}" for k, v in spec.fixed.items())
    meta["source"] = r.source
    meta["generated"] = time.strftime("%Y-%m-%d %H:%M")
    return meta


def build_report(results_dir: str | Path) -> Path:
    """Write report.html, report.md and figures/*.png|svg into ``results_dir``; returns report.html.

    Raises :class:`dse.errors.UserError` for a missing, empty or corrupt results folder.
    """
    r = load_results(results_dir)
    out_dir = r.out_dir
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    front = F.pareto_front(r)
    chosen = F.choose_designs(r, front)
    data = F.ReportData(results=r, fig_dir=fig_dir, front=front, chosen=chosen, notes=list(r.notes))
    n, nf = len(r.trials), len(r.feasible)
    if n == 0:
        data.notes.append("The study has no complete trials yet: nothing to plot.")
    elif nf == 0:
        data.notes.append(f"None of the {n} trials meets the budgets: there is no feasible design, so no "
                          "Pareto front, design analysis, batch sweep or convergence curve. Relax the budgets "
                          "or widen the design space.")
    elif nf < 5:
        data.notes.append(f"Only {nf} of {n} trials are feasible: the front is thin; consider more trials "
                          "or looser budgets.")

    sections = []
    s = Section("fronts", "1. Pareto fronts")
    s.figures = F.fig_fronts(data)
    if not s.figures:
        s.text.append("No trials to plot.")
    sections.append(s)

    s = Section("pareto", "2. Pareto designs")
    if len(front):
        ordered = front.sort_values(r.objectives[0], ascending=r.directions[0] != "maximize")
        s.text.append(f"{len(front)} feasible designs that no other feasible design beats on every objective "
                      f"(sorted by {an.header(r.objectives[0])}). All trials: trials.csv / trials.parquet.")
        s.figures = F.fig_parallel(data)
        tab = design_table(r, ordered.head(MAX_TABLE_ROWS))
        note = (f"first {MAX_TABLE_ROWS} of {len(front)} rows; all in pareto.csv" if len(front) > MAX_TABLE_ROWS
                else "")
        s.tables.append(Table("Pareto designs", tab, note))
    else:
        s.text.append("No feasible design, so no Pareto front.")
    sections.append(s)

    s = Section("designs", "3. Knee and extremes: where the time goes")
    if chosen:
        s.text.append("The knee is the front design closest to the ideal point once every objective is scaled "
                      "to [0, 1] over the front; the extremes are the front's best designs on the first two "
                      "objectives.")
        s.tables.append(Table("Analysed designs", chosen_table(r, chosen)))
        s.figures = F.fig_layers(data)
        if r.spec is None:
            s.text.append("Per-layer figures need the study file (study.toml) to rebuild the designs.")
    else:
        s.text.append("No feasible design to analyse.")
    sections.append(s)

    s = Section("batch", "4. Batch sweep: do larger batches help?")
    figs, sweep = F.fig_batch(data) if chosen else ([], None)
    s.figures = figs
    if sweep is not None:
        s.text.append(_batch_summary(sweep))
        wide = sweep.pivot_table(index=["workload", "design", "trial"], columns="batch",
                                 values="throughput [inferences/s]", sort=False).reset_index()
        wide.columns = [f"batch {c} [inferences/s]" if isinstance(c, (int, np.integer)) else c for c in wide.columns]
        s.tables.append(Table("Throughput vs batch size", fmt_frame(wide)))
    else:
        s.text.append("No designs to sweep.")
    sections.append(s)

    s = Section("proxy", "5. Proxy analysis: does one workload rank designs like another?")
    figs, stats, regret = F.fig_proxy(data)
    s.figures = figs
    if stats is not None:
        s.text.append(_proxy_summary(stats, regret))
        s.tables.append(Table("Rank correlation of throughput (feasible designs)", fmt_frame(stats)))
        s.tables.append(Table("Regret: the best design for A, run on B, vs the best design for B",
                              fmt_frame(regret)))
    elif len(r.workloads) < 2:
        s.text.append("The study has one workload; add a second one (e.g. resnet50) to see whether it "
                      "ranks designs the same way.")
    else:
        s.text.append("Too few feasible designs for a proxy analysis.")
    sections.append(s)

    s = Section("convergence", "6. Convergence")
    figs, hist = F.fig_hypervolume(data)
    s.figures = figs
    if hist is not None and len(hist):
        hv = hist["hypervolume"].to_numpy()
        at_half = hv[np.searchsorted(hist["trials"].to_numpy(), hist["trials"].max() / 2)]
        s.text.append(f"Hypervolume reached {100 * at_half / hv[-1]:.0f}% of its final value after half the "
                      f"trials ({int(hist['trials'].max() / 2)} of {int(hist['trials'].max())}).")
    else:
        s.text.append("No feasible trials: no hypervolume.")
    sections.append(s)

    title = f"dse report: {r.name}"
    meta = _meta(r, front)
    write_text_atomic(out_dir / "report.html", render_html(title, meta, data.notes, sections, fig_dir))
    write_text_atomic(out_dir / "report.md", render_md(title, meta, data.notes, sections))
    return out_dir / "report.html"


def _batch_summary(sweep: pd.DataFrame) -> str:
    parts = []
    for (wl, design), g in sweep.groupby(["workload", "design"], sort=False):
        g = g.sort_values("batch")
        tp = g["throughput [inferences/s]"].to_numpy()
        best = int(g["batch"].iloc[int(np.argmax(tp))])
        gain = tp.max() / tp[0] if tp[0] > 0 else float("nan")
        parts.append(f"{wl}, {design}: best at batch {best} ({an.fmt(gain)}x batch 1)")
    return ("Throughput per design and workload: " + "; ".join(parts) + ". Latency is per batch: a batch "
            "of B images waits for all B.")


def _proxy_summary(stats: pd.DataFrame, regret: pd.DataFrame | None) -> str:
    parts = [f"{row['workload A']} vs {row['workload B']}: tau = {row['Kendall tau']:.2f}, "
             f"rho = {row['Spearman rho']:.2f}" for _, row in stats.iterrows()]
    text = "Rank agreement over the feasible designs: " + "; ".join(parts) + "."
    if regret is not None and len(regret):
        worst = regret.loc[regret["regret [%]"].idxmax()]
        text += (f" Worst case: choosing on {worst['chosen on']} loses {worst['regret [%]']:.0f}% of the "
                 f"achievable throughput on {worst['run on']}.")
    return text
