"""Tables rebuilt from the Optuna storage alone: every trial, the Pareto set, the summary.

Column names carry their units: parameters in friendly units (``clock_ghz``, ``sram_mb``),
metrics in SI (``LABEL:throughput_ips``, ``LABEL:latency_s``, ``area_mm2``, ``LABEL:dram_bytes``),
constraint columns ``constraint:NAME`` as relative budget violations (feasible when <= 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from dse.search.pareto import best_per_objective

METRICS_ATTR = "metrics"
OBJECTIVES_ATTR = "dse_objectives"


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per finished trial: number, state, parameters, metrics, constraints, feasibility."""
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        row = {"trial": t.number, "state": t.state.name}
        row.update(t.params)
        row.update(t.user_attrs.get(METRICS_ATTR, {}))
        cons = t.constraints or {}
        for name, value in cons.items():
            row[f"constraint:{name}"] = value
        row["feasible"] = bool(all(c <= 0 for c in cons.values()))
        row["duration_s"] = t.duration.total_seconds() if t.duration else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def objective_columns(study: optuna.Study) -> list[str]:
    return list(study.user_attrs.get(OBJECTIVES_ATTR, []))


def pareto_frame(study: optuna.Study, trials: pd.DataFrame | None = None) -> pd.DataFrame:
    """Feasible Pareto-optimal trials (Optuna's ``best_trials``), as rows of :func:`trials_frame`."""
    trials = trials_frame(study) if trials is None else trials
    if trials.empty:
        return trials
    best = {t.number for t in study.best_trials}
    return trials[trials["trial"].isin(best)].reset_index(drop=True)


def write_tables(study: optuna.Study, out_dir: Path, extra_summary: dict | None = None) -> dict:
    """Write trials.parquet, trials.csv, pareto.csv and summary.json to ``out_dir``."""
    out_dir = Path(out_dir)
    trials = trials_frame(study)
    pareto = pareto_frame(study, trials)
    trials.to_parquet(out_dir / "trials.parquet", index=False)
    trials.to_csv(out_dir / "trials.csv", index=False)
    pareto.to_csv(out_dir / "pareto.csv", index=False)
    objectives = objective_columns(study)
    directions = [d.name.lower() for d in study.directions]
    summary = {
        "study": study.study_name,
        "trials_complete": int(len(trials)),
        "trials_feasible": int(trials["feasible"].sum()) if len(trials) else 0,
        "pareto_size": int(len(pareto)),
        "objectives": [{"column": c, "direction": d} for c, d in zip(objectives, directions)],
        "best": {},
    }
    have = [c for c in objectives if c in trials]
    if len(trials) and have:
        dirs = [d for c, d in zip(objectives, directions) if c in trials]
        rows = best_per_objective(trials[have].to_numpy(float), dirs, trials["feasible"].to_numpy(bool))
        for col, row in zip(have, rows):
            if row is not None:
                summary["best"][col] = {"value": float(trials[col].iloc[row]), "trial": int(trials["trial"].iloc[row])}
    summary.update(extra_summary or {})
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
