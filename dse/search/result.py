"""What a run produced (:class:`RunResult`) and the copy of the study file kept beside the results;
shared by the study loop, the exhaustive sweep and :func:`dse.search.run.run_search`."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dse.errors import UserError
from dse.search.results_files import EXHAUSTIVE_PARQUET, STUDY_COPY
from dse.search.spec import StudySpec

if TYPE_CHECKING:
    import optuna
    import pandas as pd


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
            (out_dir / STUDY_COPY).write_text(spec.source_text)
        elif spec.source_path and spec.source_path.exists():
            shutil.copyfile(spec.source_path, out_dir / STUDY_COPY)
    except OSError as err:
        raise UserError(f"results: cannot write {out_dir / STUDY_COPY} ({err.strerror or err})") from None


__all__ = ["RunResult", "write_study_copy"]
