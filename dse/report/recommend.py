"""The report's answer: which design to build, why, what it relies on, and its nearest alternatives.

The recommended design is the knee of the feasible Pareto front (:func:`analysis.choose_designs`):
among the designs that meet every budget and that no other such design beats on all objectives,
the one closest to the ideal point once each objective is scaled to [0, 1] over the front. It is
chosen from the stored trial metrics only, so ``summary.json`` can carry it without re-evaluating
anything; bound shares and feature reliances re-evaluate the one design with the current model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dse.errors import UserError
from dse.report import analysis as an
from dse.search import pareto as search_pareto

HOW_CHOSEN = ("the knee of the feasible Pareto front: of the {front} designs that meet every budget and that no "
              "other such design beats on all objectives, the one closest to the ideal point once each objective "
              "is scaled to [0, 1] over the front (equal weight to {objectives})")
#: nearest alternatives listed beside the recommendation
MAX_ALTERNATIVES = 3


@dataclass
class Alternative:
    """A front design better than the recommendation in one objective (the nearest such design)."""

    row: pd.Series
    better_in: str  # objective column it improves
    changes: dict[str, float]  # objective column -> relative change vs the recommendation (0.18 = +18%)
    summary: str  # "+18% throughput on X for +35% area, +22% power on X"

    @property
    def trial(self) -> int:
        return int(self.row["trial"])


@dataclass
class Recommendation:
    chosen: an.Chosen
    reason: str
    objectives: dict[str, float]  # objective column -> stored SI value
    against_budgets: list[str]  # "area 42.1 mm^2 of 100 mm^2 (42%)"
    alternatives: list[Alternative] = field(default_factory=list)
    bound_shares: dict[str, dict[str, float]] = field(default_factory=dict)  # workload -> bound -> 0..1
    relies_on: list[str] = field(default_factory=list)
    fusion: dict[str, dict] = field(default_factory=dict)  # workload -> see add_fusion
    fusion_text: list[str] = field(default_factory=list)  # one sentence per objective workload

    @property
    def trial(self) -> int:
        return self.chosen.trial


def _plain(value):
    """JSON-safe Python value of a table cell."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def design_params(row: pd.Series, params: list[str]) -> dict:
    """The searched parameters of a trials row (friendly units as stored), JSON-safe."""
    return {p: _plain(row[p]) for p in params if p in row and not pd.isna(row[p])}


def _pct(x: float) -> str:
    return f"{100 * x:+.0f}%"


def alternatives(front: pd.DataFrame, rec_index: int, objectives: list[str], directions: list[str],
                 limit: int = MAX_ALTERNATIVES) -> list[Alternative]:
    """For each objective, the front design nearest to the recommendation (objectives scaled to
    [0, 1] over the front) that is strictly better in that objective; deduplicated, at most ``limit``."""
    values = front[objectives].to_numpy(float)
    z = search_pareto.normalize_losses(search_pareto.to_minimization(values, directions))
    dist = np.sqrt(((z - z[rec_index]) ** 2).sum(axis=1))
    rec = values[rec_index]
    out: list[Alternative] = []
    seen = {rec_index}
    for j, col in enumerate(objectives):
        better = [int(i) for i in np.flatnonzero(z[:, j] < z[rec_index, j] - 1e-12) if int(i) not in seen]
        if not better:
            continue
        i = int(min(better, key=lambda k: dist[k]))
        seen.add(i)
        changes = {c: (values[i, m] / rec[m] - 1.0) if rec[m] else float("nan") for m, c in enumerate(objectives)}
        gain = f"{_pct(changes[col])} {an.unit_of(col)[0]}"
        costs = [f"{_pct(changes[c])} {an.unit_of(c)[0]}" for m, c in enumerate(objectives)
                 if m != j and z[i, m] > z[rec_index, m] + 1e-12]
        summary = gain + (" for " + ", ".join(costs) if costs else "")
        out.append(Alternative(front.loc[i], col, changes, summary))
        if len(out) >= limit:
            break
    return out


def against_budgets(row: pd.Series, budgets: dict[str, float], workloads: list[str], spec) -> list[str]:
    """The design's use of each budget, friendly units: ``area 42.1 mm^2 of 100 mm^2 (42%)``."""
    lines = []
    if "area_mm2" in budgets:
        lines.append(_use(row.get("area_mm2"), budgets["area_mm2"], "area_mm2"))
    if "power_w" in budgets:
        lines += [_use(row.get(f"{wl}:power_w"), budgets["power_w"], f"{wl}:power_w") for wl in workloads]
    if spec is not None:
        lines += [_use(row.get(f"{wl}:latency_s"), v, f"{wl}:latency_s") for wl, v in spec.latency_s.items()]
        lines += [_use(row.get(f"{wl}:throughput_ips"), v, f"{wl}:throughput_ips", at_least=True)
                  for wl, v in spec.min_throughput_ips.items()]
    return [x for x in lines if x]


def _use(value, budget: float, col: str, at_least: bool = False) -> str:
    if value is None or pd.isna(value):
        return ""
    word = "at least" if at_least else "of"
    return (f"{an.unit_of(col)[0]} {an.with_unit(col, value)} {word} {an.with_unit(col, budget)} "
            f"({100 * float(value) / budget:.0f}%)")


def recommend(front: pd.DataFrame, chosen: list[an.Chosen], objectives: list[str], directions: list[str],
              budgets: dict[str, float], workloads: list[str], spec) -> Recommendation | None:
    """The recommendation from stored metrics (None without a feasible design)."""
    rec = next((c for c in chosen if c.key == "recommended"), None)
    if rec is None:
        return None
    names = ", ".join(an.header(c) for c in objectives)
    reason = HOW_CHOSEN.format(front=len(front), objectives=names)
    objs = {c: float(rec.row[c]) for c in objectives}
    alts = alternatives(front, int(rec.row.name), objectives, directions)
    return Recommendation(rec, reason, objs, against_budgets(rec.row, budgets, workloads, spec), alts)


def add_reliances(rec: Recommendation, spec, workloads: list[str]) -> None:
    """What the design relies on: each on/off feature it uses (the throughput lost without it, with
    the current model) and its batch sizes. Needs the study spec; a failure becomes a note line."""
    from dse.hardware import space as hwspace

    row = rec.chosen.row
    for p in hwspace.PARAMETERS:
        if p.kind != "bool":
            continue
        on = row[p.name] if p.name in row and not pd.isna(row[p.name]) else (spec.fixed.get(p.name) if spec else None)
        if not bool(on):
            continue
        losses = []
        try:
            for wl in workloads:
                with_it = float(an.throughput_ips(spec, [row], wl)[0])
                without = float(an.throughput_ips(spec, [row], wl, overrides={p.name: False})[0])
                if with_it > 0:
                    losses.append(f"{100 * (1 - without / with_it):.0f}% less throughput on {wl} without it")
        except UserError as err:
            losses.append(f"not re-evaluated: {err}")
        rec.relies_on.append(f"{p.name} ({p.help}): " + "; ".join(losses))
    for wl in workloads:
        col = f"{wl}:{an.FUSED_LAYERS}"
        if col not in row or pd.isna(row[col]) or int(row[col]) == 0:
            continue
        what = f"depth-first fusion on {wl} ({int(row[col])} of {an.layer_count(wl)} layers in fused stacks)"
        try:
            with_it = float(an.throughput_ips(spec, [row], wl)[0])
            layer = float(an.throughput_ips(spec, [row], wl, overrides={"schedule": "layer"})[0])
            loss = (f"{100 * (1 - layer / with_it):.0f}% less throughput on {wl} layer by layer" if with_it > 0
                    else "no throughput either way")
        except UserError as err:
            loss = f"not re-evaluated: {err}"
        rec.relies_on.append(f"{what}: {loss}")
    for wl in workloads:
        b = an.workload_batch(row, wl)
        if b > 1:
            rec.relies_on.append(f"batch {b} on {wl}: its latency is that of a whole batch of {b} images")
    if not any(r.startswith("batch") for r in rec.relies_on):
        rec.relies_on.append("batch 1 on every workload (its latency is one image's)")


def fusion_sentence(workload: str, entry: dict) -> str:
    """``The recommended design runs 51 of 102 yolov3@1920x1088 layers depth-first in 6 stacks; 80% of
    the front's designs (40 of 50) rely on fusion.`` from an :func:`add_fusion` entry."""
    if not entry["recorded"]:
        return (f"Whether the designs run {workload} depth-first (layer fusion) is {an.NOT_RECORDED}: the study "
                "was stored before the model had fusion (rerun it with --fresh to record it).")
    n, total, stacks = entry["fused_layers"], entry["layers"], entry.get("stacks")
    if n == 0:
        head = f"The recommended design runs {workload} layer by layer (no depth-first stacks)"
    else:
        k = len(stacks) if stacks is not None else None
        head = (f"The recommended design runs {n} of {total if total else '?'} {workload} layers depth-first"
                + (f" in {k} stack{'s' if k != 1 else ''}" if k else ""))
    share = entry["front_fused"] / entry["front_recorded"] if entry["front_recorded"] else None
    tail = (f"{100 * share:.0f}% of the front's designs ({entry['front_fused']} of {entry['front_recorded']}) rely "
            "on fusion (run some layers depth-first)" if share is not None else "")
    missing = entry["front_designs"] - entry["front_recorded"]
    if missing:
        tail += f" ({missing} front designs: {an.NOT_RECORDED})"
    return head + ("; " + tail if tail else "") + "."


def add_fusion(rec: Recommendation, front: pd.DataFrame, workloads: list[str], objective_workloads: list[str],
               layers: dict[str, pd.DataFrame | None]) -> None:
    """Whether the recommendation and the front rely on depth-first fusion, per workload, from the
    stored ``LABEL:fused_layers``. ``layers``: per-layer rows of the chosen designs (design 0 = the
    recommendation) re-evaluated with the current model; its stacks are listed when they cover the
    stored number of fused layers (the model may have changed since the study ran).

    Each entry of ``rec.fusion``: ``recorded`` (False for studies stored before fusion),
    ``fused_layers``, ``layers`` (of the network), ``stacks`` (first_layer, last_layer, layers, bands,
    tiles; absent when not re-evaluated), ``front_designs``, ``front_recorded``, ``front_fused``
    (front designs with fused_layers > 0) and, for objective workloads, ``text`` (the sentence)."""
    row = rec.chosen.row
    for wl in workloads:
        col = f"{wl}:{an.FUSED_LAYERS}"
        ff = an.front_fusion(front, wl)
        recorded = col in row and not pd.isna(row[col])
        entry: dict = {"recorded": bool(recorded), "layers": an.layer_count(wl), "front_designs": ff.designs,
                       "front_recorded": ff.recorded, "front_fused": ff.fused}
        if recorded:
            entry["fused_layers"] = int(row[col])
            lay = layers.get(wl)
            if lay is not None:
                stacks = an.fused_stacks(lay[lay["design"] == 0])
                if sum(st["layers"] for st in stacks) == entry["fused_layers"]:
                    entry["stacks"] = [{k: st[k] for k in ("first_layer", "last_layer", "layers", "bands", "tiles")}
                                       for st in stacks]
        if wl in objective_workloads:
            entry["text"] = fusion_sentence(wl, entry)
            rec.fusion_text.append(entry["text"])
        rec.fusion[wl] = entry


def record(rec: Recommendation | None, params: list[str]) -> dict | None:
    """``summary.json``'s ``recommendation``: trial, parameters, objectives (SI), reason, alternatives."""
    if rec is None:
        return None
    return {
        "trial": rec.trial,
        "params": design_params(rec.chosen.row, params),
        "objectives": {k: _plain(v) for k, v in rec.objectives.items()},
        "reason": rec.reason,
        "budgets": rec.against_budgets,
        "alternatives": [{"trial": a.trial, "better_in": a.better_in, "trade_off": a.summary,
                          "objectives": {c: _plain(float(a.row[c])) for c in rec.objectives}}
                         for a in rec.alternatives],
        "bound_shares": rec.bound_shares,
        "relies_on": rec.relies_on,
        "fusion": rec.fusion,
    }
