"""What the study loop and the exhaustive sweep share: budgets as constraint values, feasibility
and best values (from :mod:`dse.search.best`), the run result and the copy of the study file
beside the results.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dse.atomic_write import write_text_atomic
from dse.errors import UserError
from dse.model.metrics import column_name
from dse.search.best import best_per_objective, better, feasible_mask, smallest_seen
from dse.search.results_files import EXHAUSTIVE_PARQUET, STUDY_COPY
from dse.search.spec import StudySpec

if TYPE_CHECKING:
    import optuna
    import pandas as pd


def constraint_values(spec: StudySpec, metrics: dict) -> dict[str, np.ndarray]:
    """Relative budget violations, (D,) each; a design is feasible when all are <= 0."""
    out = {}
    area = metrics["area_mm2"]
    if spec.area_mm2 is not None:
        out["area_mm2"] = area / spec.area_mm2 - 1.0
    if spec.die_cost_usd is not None:
        out["die_cost_usd"] = metrics["die_cost_usd"] / spec.die_cost_usd - 1.0
    for w in spec.workloads:
        lab = w.label
        power = metrics[column_name("power_w", lab)]
        if spec.power_w is not None:
            out[column_name("power_w", lab)] = power / spec.power_w - 1.0
        out[column_name("power_density", lab)] = power / area / metrics["power_density_limit_w_per_mm2"] - 1.0
        if lab in spec.latency_s:
            out[column_name("latency_s", lab)] = metrics[column_name("latency_s", lab)] / spec.latency_s[lab] - 1.0
        if lab in spec.min_throughput_ips:
            col = column_name("throughput_ips", lab)
            out[col] = 1.0 - metrics[col] / spec.min_throughput_ips[lab]
    return out


def budget_columns(spec: StudySpec) -> list[str]:
    """Stored columns the area and power budgets read: ``area_mm2`` and ``LABEL:power_w``."""
    return ["area_mm2", *(column_name("power_w", w.label) for w in spec.workloads)]


@dataclass
class RunResult:
    """What a run produced. Exhaustive sweeps have no Optuna study (``study`` is None): their
    table is ``out_dir/exhaustive.parquet`` and their exact front is ``front``."""

    spec: StudySpec
    out_dir: Path
    study: optuna.Study | None
    evaluated: int  # trials (or designs, for exhaustive sweeps) evaluated by this run
    seconds: float
    executor: str
    summary: dict | None = None
    front: pd.DataFrame | None = None
    nodes_used: int = 0  # Ray nodes that ran evaluation chunks (0: evaluated in-process)

    def trials_frame(self) -> pd.DataFrame:
        """Every complete trial as a DataFrame (parameters, metrics, constraints, feasibility)."""
        if self.study is None:
            import pandas as pd

            return pd.read_parquet(self.out_dir / EXHAUSTIVE_PARQUET)
        from dse.search.tables import trials_frame

        return trials_frame(self.study)

    def pareto_frame(self) -> pd.DataFrame | None:
        """The feasible Pareto-optimal trials, as rows of :meth:`trials_frame`."""
        if self.study is None:
            return self.front
        from dse.search.tables import pareto_frame

        return pareto_frame(self.study)


def write_study_copy(spec: StudySpec, out_dir: Path) -> None:
    """Keep the study file beside its results (what produced them)."""
    try:
        if spec.source_text:
            write_text_atomic(out_dir / STUDY_COPY, spec.source_text)
        elif spec.source_path and spec.source_path.exists():
            shutil.copyfile(spec.source_path, out_dir / STUDY_COPY)
    except OSError as err:
        raise UserError(f"results: cannot write {out_dir / STUDY_COPY} ({err.strerror or err})") from None


__all__ = ["constraint_values", "feasible_mask", "best_per_objective", "better", "budget_columns",
           "smallest_seen", "RunResult", "write_study_copy"]
