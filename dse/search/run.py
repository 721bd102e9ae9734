"""Run a study with the search its file asks for: an Optuna sampler (:mod:`dse.search.study`),
the vectorized search (:mod:`dse.search.vectorized`) or the exhaustive sweep
(:mod:`dse.search.exhaustive`). The CLI and the Python API call this."""

from __future__ import annotations

from pathlib import Path

from dse.errors import UserError
from dse.search.executors import Executor
from dse.search.scoring import RunResult
from dse.search.spec import StudySpec


def run_search(spec: StudySpec, results_root: Path | str = "results", storage_url: str | None = None,
               executor: str | None = None, ray_address: str | None = None, fresh: bool = False,
               progress: bool = True, executor_obj: Executor | None = None,
               add_trials: int | None = None) -> RunResult:
    """Run (or resume) ``spec``; ``sampler = "exhaustive"`` sweeps every design (no storage, so
    ``storage_url``, ``fresh`` and ``add_trials`` do not apply), ``vectorized`` runs whole batches
    and records the front in the Optuna study, any other sampler runs the Optuna ask/tell loop
    (``spec.trials`` in all, or ``add_trials`` more)."""
    if add_trials is not None and spec.sampler in ("exhaustive", "vectorized"):
        raise UserError(f"--add-trials: applies to the Optuna samplers, not to sampler = {spec.sampler!r} "
                        f"(set {'--designs' if spec.sampler == 'vectorized' else '--trials'} instead)")
    if spec.sampler == "exhaustive":
        from dse.search.exhaustive import run_exhaustive

        return run_exhaustive(spec, results_root, executor, ray_address, progress, executor_obj=executor_obj)
    if spec.sampler == "vectorized":
        from dse.search.vectorized import run_vectorized

        return run_vectorized(spec, results_root, storage_url, executor, ray_address, fresh, progress,
                              executor_obj)
    from dse.search.study import run_study

    return run_study(spec, results_root, storage_url, executor, ray_address, fresh, progress, executor_obj,
                     add_trials=add_trials)


__all__ = ["run_search", "RunResult"]
