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
        b = an.workload_batch(row, wl)
        if b > 1:
            rec.relies_on.append(f"batch {b} on {wl}: its latency is that of a whole batch of {b} images")
    if not any(r.startswith("batch") for r in rec.relies_on):
        rec.relies_on.append("batch 1 on every workload (its latency is one image's)")


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
    }
