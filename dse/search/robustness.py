"""How sure is a study's answer: Pareto probabilities, bands and the constants that decide it.

Input: a study's feasible Pareto front (D designs) scored by :mod:`dse.model.uncertainty` under
S Monte Carlo samples of the technology and under each constant at its low and high end.

* Pareto probability of a front design: the share of samples in which it meets every budget and
  no other front design dominates it (its objectives are compared with the front's designs in
  the same sample; a design alone on its front has probability 1 when it always meets the budgets).
* Recommendation stability: the share of samples in which the recommended design is still the
  one the recommendation rule picks among the front's designs.
* Tornado: per objective, the constants whose low..high range moves the recommended design's
  value most (one at a time, the others at their point estimates).
* Front ranking: per constant and end, Spearman's rank correlation between the front's objective
  values at the point estimates and at that end, the share of the front still Pareto-optimal and
  feasible, and whether the recommendation changes ("flips").

Metric arrays may have any leading shape; the last axis is the design axis.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from dse.hardware.designs import DesignBatch
from dse.hardware.ranges import constant_ranges
from dse.search.pareto import direction_signs
from dse.search.scoring import constraint_values
from dse.search.spec import StudySpec
from dse.search.study import decode

#: Constants listed per objective in a tornado.
TORNADO_TOP = 10

#: A recommendation rule: (losses (..., D, M) to minimize, feasible (..., D)) -> index (...,).
Recommender = Callable[[np.ndarray, np.ndarray], np.ndarray]


def study_designs(spec: StudySpec, trials: pd.DataFrame) -> tuple[DesignBatch, list]:
    """The designs of ``trials`` rows (a study's trial table) and their (label, batch) workloads,
    decoded exactly as the study evaluated them."""
    names = list(spec.searched) + [w.batch_param for w in spec.workloads if w.batch_domain is not None]
    params = [{n: row[n] for n in names} for row in trials[names].to_dict(orient="records")] if names \
        else [{} for _ in range(len(trials))]
    for p in params:  # parquet and pandas give numpy scalars; Optuna gave Python ones
        for k, v in p.items():
            p[k] = v.item() if hasattr(v, "item") else v
    columns, workloads = decode(spec, params)
    return DesignBatch.from_columns(columns, spec.node_nm, repair_channels=True), workloads


def losses(spec: StudySpec, metrics: dict) -> np.ndarray:
    """(..., D, M) objective values to minimize (maximized ones negated)."""
    cols = [np.asarray(metrics[o.column], dtype=np.float64) for o in spec.objectives]
    return np.stack(cols, axis=-1) * direction_signs(spec.directions, len(cols))


def feasible(spec: StudySpec, metrics: dict) -> np.ndarray:
    """(..., D) bool: every budget met (relative violation <= 0) and every objective finite."""
    ok = np.all(np.isfinite(losses(spec, metrics)), axis=-1)
    for viol in constraint_values(spec, metrics).values():
        ok &= np.asarray(viol) <= 0  # NaN compares False: infeasible
    return ok


def nondominated(loss: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """(S, D) bool: design d is feasible and no feasible design of the same sample dominates it.

    ``loss``: (S, D, M) to minimize; ``ok``: (S, D) feasibility. One exact Pareto mask
    (:func:`dse.search.pareto.pareto_mask`, O(D log D) for M <= 3) per sample: the samples were
    evaluated in one batch; this loop only sorts their results."""
    from dse.search.pareto import pareto_mask

    loss, ok = np.asarray(loss, dtype=np.float64), np.asarray(ok, dtype=bool)
    masked = np.where(ok[..., None], loss, np.nan)  # rows with NaN are never on the front
    minimize = ["minimize"] * loss.shape[-1]
    flat = masked.reshape(-1, *masked.shape[-2:])
    out = np.stack([pareto_mask(v, minimize) for v in flat]) if flat.shape[1] else np.zeros(flat.shape[:2], bool)
    return out.reshape(ok.shape)


def knee(loss: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Default recommendation rule: the feasible design nearest the ideal point after min-max
    scaling of each objective over the feasible designs (the knee of the front). (..., D, M) ->
    (...,) index; -1 when nothing is feasible."""
    big = np.where(ok[..., None], loss, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: nothing feasible there
        lo, hi = np.nanmin(big, axis=-2, keepdims=True), np.nanmax(big, axis=-2, keepdims=True)
        scaled = (big - lo) / np.where(hi > lo, hi - lo, 1.0)
        dist = np.sqrt(np.nansum(scaled**2, axis=-1))
    dist = np.where(ok, dist, np.inf)
    return np.where(ok.any(axis=-1), np.argmin(dist, axis=-1), -1)


def pareto_probability(spec: StudySpec, metrics: dict) -> np.ndarray:
    """(D,) share of the S samples (metrics are (S, D)) in which each design is feasible and
    non-dominated among the designs given."""
    return nondominated(losses(spec, metrics), feasible(spec, metrics)).mean(axis=0)


def recommendation_stability(spec: StudySpec, metrics: dict, recommended: int,
                             rule: Recommender = knee) -> float:
    """Share of the samples ((S, D) metrics) in which ``rule`` still picks ``recommended``."""
    return float(np.mean(rule(losses(spec, metrics), feasible(spec, metrics)) == recommended))


def spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation along the last axis (ties broken by order); (...,) result, NaN
    for fewer than 2 designs or a constant input."""
    def ranks(x):
        return np.argsort(np.argsort(x, axis=-1, kind="stable"), axis=-1, kind="stable").astype(np.float64)

    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    ra, rb = ranks(a), ranks(b)
    ra -= ra.mean(axis=-1, keepdims=True)
    rb -= rb.mean(axis=-1, keepdims=True)
    den = np.sqrt((ra**2).sum(axis=-1) * (rb**2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(axis=-1) / den, np.nan)


def tornado(spec: StudySpec, oat, design: int, top: int = TORNADO_TOP) -> dict[str, list[dict]]:
    """Per objective column: the ``top`` constants with the largest swing of ``design``'s value
    between their low and high ends (``oat``: :class:`dse.model.uncertainty.OneAtATime`)."""
    ranges = constant_ranges()
    out = {}
    for o in spec.objectives:
        col = o.column
        nom = float(oat.nominal[col][design])
        low, high = oat.low[col][:, design], oat.high[col][:, design]
        swing = np.abs(high - low)
        order = np.argsort(-np.where(np.isfinite(swing), swing, -1.0), kind="stable")[:top]
        out[col] = [{
            "constant": oat.keys[k], "low_factor": float(oat.ends[k, 0]), "high_factor": float(oat.ends[k, 1]),
            "value_at_low": float(low[k]), "value_at_high": float(high[k]), "nominal": nom,
            "swing_pct": float(100.0 * swing[k] / abs(nom)) if nom else float("nan"),
            "reason": ranges[oat.keys[k]][2],
        } for k in order if swing[k] > 0]
    return out


def front_ranking(spec: StudySpec, oat, recommended: int, rule: Recommender = knee) -> list[dict]:
    """Per constant: at its low and high end, the rank correlation of each objective over the
    front, the share of the front still non-dominated and feasible, and the design ``rule``
    recommends. Sorted: flips first, then by the lowest rank correlation."""
    out = []
    for end, metrics in (("low", oat.low), ("high", oat.high)):
        L, ok = losses(spec, metrics), feasible(spec, metrics)  # (K, D, M), (K, D)
        keep = nondominated(L, ok).mean(axis=-1)
        rec = rule(L, ok)
        nominal_L = losses(spec, oat.nominal)
        rho = spearman(np.moveaxis(L, -1, -2), np.moveaxis(nominal_L, -1, -2)[None])  # (K, M)
        for k, key in enumerate(oat.keys):
            out.append({
                "constant": key, "end": end, "factor": float(oat.ends[k, 0 if end == "low" else 1]),
                "rank_correlation": {o.column: float(rho[k, j]) for j, o in enumerate(spec.objectives)},
                "min_rank_correlation": float(np.nanmin(rho[k])) if np.isfinite(rho[k]).any() else float("nan"),
                "front_retained": float(keep[k]),
                "recommended": int(rec[k]),
                "flips_recommendation": bool(rec[k] != recommended),
            })
    out.sort(key=lambda r: (not r["flips_recommendation"],
                            r["min_rank_correlation"] if np.isfinite(r["min_rank_correlation"]) else 1.0,
                            r["front_retained"]))
    return out


def bands(mc_metrics: dict, columns: Sequence[str], design: int, q=(0.1, 0.5, 0.9)) -> dict[str, dict]:
    """P10/P50/P90 of ``columns`` for one design from (S, D) Monte Carlo metrics."""
    out = {}
    for c in columns:
        p10, p50, p90 = np.quantile(mc_metrics[c][:, design], q)
        out[c] = {"p10": float(p10), "p50": float(p50), "p90": float(p90)}
    return out


def study_front(spec: StudySpec, trials: pd.DataFrame) -> pd.DataFrame:
    """The feasible Pareto-optimal rows of a study's trial table (stored objectives)."""
    from dse.search.pareto import pareto_mask

    feas = trials[trials["feasible"].astype(bool)] if "feasible" in trials else trials
    cols = [o.column for o in spec.objectives]
    mask = pareto_mask(feas[cols].to_numpy(dtype=np.float64), spec.directions)
    return feas[mask].reset_index(drop=True)


def analyse(spec: StudySpec, front: pd.DataFrame, n_samples: int, seed: int,
            recommended_trial: int | None = None, rule: Recommender = knee, top: int = TORNADO_TOP) -> dict:
    """Everything ``dse sensitivity`` prints, as plain JSON-able data (SI units as stored).

    ``front``: rows of the study's trial table (with ``trial`` and the searched parameters).
    ``recommended_trial``: the study's recommendation if it made one, else ``rule`` picks it.
    """
    from dse.hardware.technology import load_technology
    from dse.model.uncertainty import monte_carlo, one_at_a_time

    if front.empty:
        raise ValueError("front: no feasible design to analyse")
    designs, workloads = study_designs(spec, front)
    tech = load_technology(spec.node_nm, spec.technology)
    mc = monte_carlo(designs, tech, workloads, n_samples, seed)
    oat = one_at_a_time(designs, tech, workloads)
    trial_ids = front["trial"].to_numpy() if "trial" in front else np.arange(len(front))
    nominal_L, nominal_ok = losses(spec, mc.nominal), feasible(spec, mc.nominal)
    if recommended_trial is not None and recommended_trial in set(trial_ids.tolist()):
        rec, how = int(np.flatnonzero(trial_ids == recommended_trial)[0]), "the study's recommendation"
    else:
        rec, how = int(rule(nominal_L, nominal_ok)), "knee of the front (nearest the ideal point after min-max scaling)"
    cols = [o.column for o in spec.objectives]
    prob = pareto_probability(spec, mc.metrics)
    ranking = front_ranking(spec, oat, rec, rule)
    flips = sorted({r["constant"] for r in ranking if r["flips_recommendation"]})
    params = list(spec.searched) + [w.batch_param for w in spec.workloads if w.batch_domain is not None]
    return {
        "study": spec.name, "node_nm": spec.node_nm, "front_designs": len(front), "samples": mc.n_samples,
        "seed": int(seed), "constants_sampled": len(mc.keys),
        "objectives": [{"column": c, "direction": o.direction} for c, o in zip(cols, spec.objectives)],
        "recommended": {
            "trial": int(trial_ids[rec]), "chosen_by": how,
            "params": {p: (v.item() if hasattr(v, "item") else v) for p, v in front.iloc[rec][params].items()},
            "nominal": {c: float(mc.nominal[c][rec]) for c in cols},
            "bands": bands(mc.metrics, cols, rec),
            "pareto_probability": float(prob[rec]),
            "stays_recommended": recommendation_stability(spec, mc.metrics, rec, rule),
        },
        "pareto_probability": sorted(
            ({"trial": int(t), "probability": float(p), **{c: float(mc.nominal[c][i]) for c in cols},
              "bands": bands(mc.metrics, cols, i)}
             for i, (t, p) in enumerate(zip(trial_ids, prob))), key=lambda r: -r["probability"]),
        "tornado": tornado(spec, oat, rec, top),
        "front_ranking": ranking[: 2 * top],
        "flips_recommendation": flips,
    }
