"""The report: ``results/NAME/report.html`` (self-contained), ``report.md`` and ``figures/``.

:func:`build_report` rebuilds everything from the results folder alone (the Optuna storage, the
study file copy); ``dse run`` calls it at the end of a run and ``dse report`` on demand. It adds
the ``recommendation`` and a record of what the report was built from to ``summary.json``; when
the storage, the study file and the code are unchanged since, the report is not rebuilt.
"""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path

import pandas as pd

from dse.atomic_write import write_text_atomic
from dse.model.metrics import column_name
from dse.report import analysis as an
from dse.report import figures as F
from dse.report import interactive
from dse.report import recommend as rc
from dse.report.context import ReportData
from dse.report.freshness import built_from, recorded_url
from dse.report.load import Results, load_results
from dse.report.sections import Section, Table, build_sections

# --- rendering -------------------------------------------------------------------------------

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1320px;margin:0 auto;padding:18px 28px 60px;background:#fff}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:19px;border-bottom:2px solid #e3e3e3;padding-bottom:4px;margin-top:34px}
h3{font-size:15px;margin:18px 0 6px}p,li{font-size:14px;line-height:1.45}
.meta{color:#555;font-size:13px}.note{background:#fff6e0;border-left:4px solid #e0a800;padding:6px 10px;font-size:13px}
figure{margin:12px 0 22px}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:12.5px;color:#555;margin-top:4px;max-width:1000px}
.scroll{overflow:auto;max-height:460px;max-width:100%;border:1px solid #e5e5e5}
table{border-collapse:collapse;font-size:12px;font-variant-numeric:tabular-nums}
th,td{padding:3px 7px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th{background:#f3f5f8;position:sticky;top:0;font-weight:600;z-index:2;white-space:normal;min-width:70px;
vertical-align:bottom}
td:first-child{position:sticky;left:0;background:#fff;z-index:1}th:first-child{left:0;z-index:3}
.answer{background:#f2f8f2;border:1px solid #cfe3cf;border-left:5px solid #D55E00;padding:4px 16px 8px;margin:12px 0}
.answer p:first-child{font-size:16px}
.xgrid{display:grid;grid-template-columns:1fr 1fr;gap:8px}.plot{min-height:300px}
.xsel{font-size:12.5px;background:#f7f7f7;border:1px solid #e5e5e5;padding:6px 10px;margin:6px 0}
.xsel span{margin-right:6px;white-space:nowrap}
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


def _section_html(num: int, s: Section, fig_dir: Path) -> list[str]:
    parts = [f'<h2 id="{s.key}">{num}. {html.escape(s.title)}</h2>']
    body = [f"<p>{html.escape(p)}</p>" for p in s.text]
    if s.items:
        body.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in s.items) + "</ul>")
    if s.key == "recommendation":
        body = [f'<div class="answer">{"".join(body)}</div>']
    parts += body
    parts += s.html
    parts += [_html_figure(f, fig_dir) for f in s.figures]
    parts += [_html_table(t) for t in s.tables]
    return parts


def render_html(title: str, meta: dict[str, str], notes: list[str], sections: list[Section], fig_dir: Path) -> str:
    interactive_views = any(s.html for s in sections)
    # Plotly.js once in the head (offline), then the page functions that draw the embedded specs
    script = (f"<script>{interactive.plotly_js()}</script><script>{interactive.PAGE_JS}</script>"
              if interactive_views else "")
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style>{script}</head><body><main>", f"<h1>{html.escape(title)}</h1>"]
    parts.append("<nav>" + "".join(f'<a href="#{s.key}">{k}. {html.escape(s.title)}</a>'
                                   for k, s in enumerate(sections, 1)) + "</nav>")
    for n in notes:
        parts.append(f'<p class="note">{html.escape(n)}</p>')
    for k, s in enumerate(sections, 1):
        parts += _section_html(k, s, fig_dir)
        if k == 1:  # the answer first, then what the study was
            parts.append("<h2 id=\"study\">The study</h2><dl>" + "".join(
                f"<dt>{html.escape(key)}</dt><dd>{html.escape(v)}</dd>" for key, v in meta.items()) + "</dl>")
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
    out += [f"> **Note:** {n}\n" for n in notes]
    for k, s in enumerate(sections, 1):
        out += [f"## {k}. {s.title}", ""]
        for p in s.text:
            out += [p, ""]
        if s.items:
            out += [f"- {i}" for i in s.items] + [""]
        if s.html:
            out += ["(Interactive views of this section: report.html.)", ""]
        for f in s.figures:
            out += [f"![{f.title}](figures/{f.name}.png)", "", f"*{f.title}.* {f.caption} "
                    f"([SVG](figures/{f.name}.svg))", ""]
        for t in s.tables:
            out += [_md_table(t)]
        if k == 1:
            out += ["## The study", ""] + [f"- **{key}**: {v}" for key, v in meta.items()] + [""]
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
        limits = [(col, "<=", v) for col, v in (("area_mm2", spec.area_mm2), ("die_cost_usd", spec.die_cost_usd),
                                                 ("power_w", spec.power_w)) if v is not None]
        limits += [(column_name("latency_s", k), "<=", v) for k, v in spec.latency_s.items()]
        limits += [(column_name("throughput_ips", k), ">=", v) for k, v in spec.min_throughput_ips.items()]
        bud += [f"{an.unit_of(col)[0]} {op} {an.with_unit(col, v)}" for col, op, v in limits]
    meta["budgets"] = "; ".join(bud) or ("none" if spec is not None else "unknown (no study file)")
    meta["objectives"] = "; ".join(f"{d} {an.header(c)}" for c, d in zip(r.objectives, r.directions))
    if spec is not None:
        if spec.budget_key == "designs":  # the vectorized search: its trials are the recorded front
            meta["search"] = (f"{spec.sampler}, {spec.trials} designs planned (every one in designs.parquet/; "
                              f"the front designs are the trials), seed {spec.seed}")
        else:
            meta["search"] = (f"{spec.sampler}, {spec.trials} trials planned, population {spec.population}, "
                              f"seed {spec.seed}")
    meta["trials"] = (f"{n} complete, {nf} feasible ({100 * nf / n:.0f}%), {len(front)} on the Pareto front"
                      if n else "none complete")
    if spec is not None and spec.fixed:
        meta["fixed parameters"] = ", ".join(f"{k} = {v}" for k, v in spec.fixed.items())
    meta["source"] = r.source
    meta["generated"] = time.strftime("%Y-%m-%d %H:%M")
    return meta


def build_report(results_dir: str | Path, storage_url: str | None = None) -> Path:
    """Write report.html, report.md and figures/*.png|svg into ``results_dir``; returns report.html.

    Also records in summary.json (when the folder has one) the ``recommendation`` and what the
    report was built from. Raises :class:`dse.errors.UserError` for a missing, empty or corrupt
    results folder.
    """
    from dse.search import results_state as rs

    r = load_results(results_dir, storage_url)
    out_dir = r.out_dir
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    for old in list(fig_dir.glob("*.png")) + list(fig_dir.glob("*.svg")):
        old.unlink()  # figures of an earlier report that this one may not draw
    front = an.pareto_front(r.trials, r.objectives, r.directions)
    chosen = an.choose_designs(front, r.objectives, r.directions, len(r.workloads) > 1)
    data = ReportData(results=r, fig_dir=fig_dir, front=front, chosen=chosen, notes=list(r.notes))
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
    rec = rc.recommend(front, chosen, r.objectives, r.directions, r.budgets, r.workloads, r.spec)
    if rec is not None and r.spec is not None:
        for wl in r.workloads:
            got = data.layers(wl)
            if got is not None:
                lay = got[0]
                rec.bound_shares[wl] = {k: round(v, 4) for k, v in an.bound_shares(lay[lay["design"] == 0]).items()}
        rc.add_reliances(rec, r.spec, r.workloads)
    if rec is not None:
        lays = {wl: (got[0] if (got := data.layers(wl)) is not None else None) for wl in r.workloads} \
            if r.spec is not None else {}
        rc.add_fusion(rec, front, r.workloads, an.objective_workloads(r.objectives, r.workloads), lays)
    data.recommendation = rec
    sections = build_sections(data)

    title = f"dse report: {r.name}"
    meta = _meta(r, front)
    write_text_atomic(out_dir / "report.html", render_html(title, meta, data.notes, sections, fig_dir))
    write_text_atomic(out_dir / "report.md", render_md(title, meta, data.notes, sections))

    summary = rs.read_summary(out_dir)
    if summary is not None:
        summary["recommendation"] = rc.record(rec, r.params)
        summary["report"] = built_from(storage_url or recorded_url(summary), out_dir)
        rs.write_summary(out_dir, summary)
    return out_dir / "report.html"
