"""The report's "How sure is this?" section: the front's P10-P90 bands, Pareto probabilities,
the recommended design's tornado chart and the constants that flip the answer.

Data: :func:`dse.search.robustness.analyse` on the feasible front (``REPORT_SAMPLES`` technology
samples, seed 0; at most ``MAX_ANALYSED_DESIGNS`` of its designs, see :func:`analysed_designs`),
cached in ``results/NAME/sensitivity.json`` together with the analysed trial numbers and the
catalog ranges it used, so an unchanged study does not re-run it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dse import jsonsafe
from dse.atomic_write import write_text_atomic
from dse.report import analysis as an
from dse.report import figures as F
from dse.report import style

#: Technology samples for the report (``dse sensitivity`` defaults to 256): P10/P90 of 128
#: samples move by a few percent of the band between seeds, enough for a figure.
REPORT_SAMPLES = 128
REPORT_SEED = 0
CACHE_FILE = "sensitivity.json"
TOP = 8
#: Front designs re-evaluated at most. The analysis costs about 16 ms and 0.5 MB per design (128
#: samples plus 2 ends per constant, each a full evaluation of every workload): the ~4,000-design
#: front of a vectorized study took 65 s and 2.5 GB of the report. A larger front is analysed on
#: the recommendation, each objective's best and an even spread along the front
#: (:func:`dse.report.analysis.spread_subset`); NSGA-II fronts (a few hundred) are analysed whole.
MAX_ANALYSED_DESIGNS = 400


def _ranges_digest() -> str:
    from importlib import resources

    text = (resources.files("dse.hardware") / "catalog" / "ranges.csv").read_bytes()
    return hashlib.sha256(text).hexdigest()[:16]


def sensitivity(data: F.ReportData, recommended_trial: int | None) -> dict | None:
    """The analysis of the front (cached); None without a study file or a feasible front."""
    from dse.search.robustness import analyse

    r = data.r
    if r.spec is None or data.front.empty or "trial" not in data.front:
        return None
    designs = analysed_designs(data)
    key = {"trials": sorted(int(t) for t in designs["trial"]), "samples": REPORT_SAMPLES,
           "seed": REPORT_SEED, "recommended": recommended_trial, "ranges": _ranges_digest(),
           "front_total": len(data.front)}
    path = Path(r.out_dir) / CACHE_FILE
    if path.exists():
        try:
            cached = json.loads(path.read_text())
            if cached.get("key") == key:
                return cached["result"]
        except (OSError, ValueError):
            pass  # unreadable cache: recompute
    res = analyse(r.spec, designs, REPORT_SAMPLES, REPORT_SEED, recommended_trial, top=TOP)
    res["front_total"] = len(data.front)
    write_text_atomic(path, jsonsafe.dumps({"key": key, "result": res}, indent=1))
    return res


def analysed_designs(data: F.ReportData) -> pd.DataFrame:
    """The front designs the section re-evaluates: the whole front up to :data:`MAX_ANALYSED_DESIGNS`,
    else the chosen designs (recommendation, each objective's best) and an even spread along it."""
    r = data.r
    return an.spread_subset(data.front, r.objectives, r.directions, MAX_ANALYSED_DESIGNS,
                            keep=[int(c.row.name) for c in data.chosen])


def fig_bands(data: F.ReportData, res: dict) -> list[F.Figure]:
    """First two objectives of the front with P10-P90 bars, coloured by Pareto probability."""
    cols = [o["column"] for o in res["objectives"]][:2]
    if len(cols) < 2:
        return []
    rows = res["pareto_probability"]
    prob = np.array([p["probability"] for p in rows])
    (xn, xu, xf), (yn, yu, yf) = an.unit_of(cols[0]), an.unit_of(cols[1])
    x = np.array([p[cols[0]] for p in rows]) * xf
    y = np.array([p[cols[1]] for p in rows]) * yf
    xe = np.array([[p["bands"][cols[0]]["p10"], p["bands"][cols[0]]["p90"]] for p in rows]) * xf
    ye = np.array([[p["bands"][cols[1]]["p10"], p["bands"][cols[1]]["p90"]] for p in rows]) * yf
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    ax.errorbar(x, y, xerr=np.abs(np.stack([x - xe[:, 0], xe[:, 1] - x])),
                yerr=np.abs(np.stack([y - ye[:, 0], ye[:, 1] - y])), fmt="none", ecolor="#B0B0B0",
                elinewidth=0.7, zorder=1)
    sc = ax.scatter(x, y, c=prob, cmap="viridis", vmin=0, vmax=1, s=18, zorder=2)
    rec = res["recommended"]
    ax.scatter([rec["nominal"][cols[0]] * xf], [rec["nominal"][cols[1]] * yf], marker="*", s=220,
               facecolor="none", edgecolor=style.role_color("recommended"), linewidths=1.6, zorder=3, label="recommended")
    fig.colorbar(sc, ax=ax, label="Pareto probability")
    ax.set_xlabel(f"{xn} [{xu}]")
    ax.set_ylabel(f"{yn} [{yu}]")
    F._sci(ax, "x", x)
    F._sci(ax, "y", y)
    ax.legend(loc="best")
    name = F.save(fig, data, "uncertainty_bands")
    return [F.Figure(name, "Front with P10-P90 bands and Pareto probabilities",
                     f"{_each(res)} at the point estimates, with the P10-P90 band of each objective over "
                     f"{res['samples']} samples of the technology constants; colour: share of samples in which "
                     f"it meets the budgets and no other {'analysed ' if _capped(res) else ''}front design "
                     "dominates it.", "uncertainty")]


def _capped(res: dict) -> bool:
    return int(res.get("front_total", res["front_designs"])) > int(res["front_designs"])


def _each(res: dict) -> str:
    if _capped(res):
        return f"Each of the {res['front_designs']} analysed front designs (of {res['front_total']})"
    return "Each front design"


def fig_tornado(data: F.ReportData, res: dict) -> list[F.Figure]:
    """Per objective: the constants that move the recommended design's value most."""
    panels = [(col, rows) for col, rows in res["tornado"].items() if rows]
    if not panels:
        return []
    fig, axes = plt.subplots(len(panels), 1, figsize=(7.5, 1.0 + 0.32 * sum(len(r) for _, r in panels)
                                                       + 0.5 * len(panels)), squeeze=False)
    for ax, (col, rows) in zip(axes[:, 0], panels):
        name = an.unit_of(col)[0]
        nom = rows[0]["nominal"]
        lo = np.array([100 * (r["value_at_low"] / nom - 1) for r in rows])
        hi = np.array([100 * (r["value_at_high"] / nom - 1) for r in rows])
        ypos = np.arange(len(rows))[::-1]
        ax.barh(ypos, lo, color="#0072B2", label="constant at its low end (P10)")
        ax.barh(ypos, hi, color="#D55E00", label="constant at its high end (P90)")
        ax.set_yticks(ypos, [r["constant"] for r in rows])
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(f"{name}: change of the recommended design [%]")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=2, fontsize=8, frameon=False)  # above the data
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    fname = F.save(fig, data, "uncertainty_tornado")
    return [F.Figure(fname, "Which constants move the recommended design",
                     "One constant at a time at its low and high end (the others at their point estimates); "
                     "ranges and reasons in dse/hardware/catalog/ranges.csv.", "uncertainty")]


def summary_text(res: dict) -> list[str]:
    rec = res["recommended"]
    probs = np.array([p["probability"] for p in res["pareto_probability"]])
    total = int(res.get("front_total", res["front_designs"]))
    if total > res["front_designs"]:
        which = (f"{res['front_designs']} of the front's {total} designs (the recommendation, each objective's "
                 f"best and an even spread along the front: at most {MAX_ANALYSED_DESIGNS} are analysed, "
                 "and Pareto probabilities count only these designs as rivals)")
        every = f"`dse sensitivity {res['study']}` analyses the whole front, with more samples"
    else:
        which = f"The front's {res['front_designs']} designs"
        every = f"`dse sensitivity {res['study']}` repeats this with more samples"
    out = [(f"The technology constants are estimates: {res['constants_sampled']} of them have a plausible range "
            f"(P10..P90, with its reason, in dse/hardware/catalog/ranges.csv). {which} "
            f"were re-evaluated under {res['samples']} samples of them (seed {res['seed']}; {every})."),
           (f"The recommended design (trial {rec['trial']}, {rec['chosen_by']}) stays on the front in "
            f"{rec['pareto_probability']:.0%} of the samples and stays the recommendation in "
            f"{rec['stays_recommended']:.0%}."),
           (f"{int((probs >= 0.9).sum())} of the {len(probs)} {'analysed ' if total > len(probs) else ''}"
            f"front designs stay on the front in at least 90% "
            f"of the samples; {int((probs < 0.5).sum())} in fewer than half.")]
    flips = res["flips_recommendation"]
    out.append("Constants that change the recommendation at one end of their range: "
               + (", ".join(flips) if flips else "none (the recommendation holds at both ends of every range)")
               + ".")
    return out


def bands_rows(res: dict) -> list[dict]:
    """The recommended design's objectives with their bands, in display units."""
    rec = res["recommended"]
    out = []
    for col, b in rec["bands"].items():
        f = an.unit_of(col)[2]
        out.append({"objective": an.header(col), "point estimate": an.fmt(rec["nominal"][col] * f),
                    "P10": an.fmt(b["p10"] * f), "median": an.fmt(b["p50"] * f), "P90": an.fmt(b["p90"] * f)})
    return out


def ranking_rows(res: dict) -> list[dict]:
    out = []
    for r in res["front_ranking"][:TOP]:
        out.append({"constant": r["constant"], "end": f"{r['end']} (x{r['factor']:g})",
                    "lowest rank correlation": f"{r['min_rank_correlation']:.2f}",
                    "front kept": f"{r['front_retained']:.0%}",
                    "recommendation": "flips" if r["flips_recommendation"] else "holds"})
    return out
