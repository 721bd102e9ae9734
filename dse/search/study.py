"""The search loop: a constrained multi-objective Optuna study driven by batched ask/tell.

Data flow (docs/architecture.md): spec -> Optuna sampler asks one population -> decode to columns ->
executor evaluates (in-process or Ray) -> objectives + constraints -> tell. Only this driver
touches the Optuna storage; every metric is stored on the trial (user attribute ``metrics``) so
the storage alone rebuilds every table and plot.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from dse.errors import UserError
from dse.hardware import space as hwspace
from dse.search.best import worst_values
from dse.search.drivers import DriverRecord, describe_drivers, live_driver_trials, live_drivers
from dse.search.executors import Executor, make_executor
from dse.search.fingerprint import FINGERPRINT_ATTR, check_fingerprint, study_fingerprint
from dse.search.results_files import METRICS_ATTR, OBJECTIVES_ATTR
from dse.search.scoring import (RunResult, best_per_objective, better, constraint_values, feasible_mask,
                                write_study_copy)
from dse.search.spec import MAX_SEED, StudySpec
from dse.search.storage import (RunLock, check_storage_path, corrupt_storage, describe_storage, make_results_dir,
                                storage_errors, storage_file, storage_for, sync_storage)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def make_sampler(spec: StudySpec, seed: int):
    s, pop = spec.sampler, spec.population
    if s == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=pop, seed=seed)
    if s == "nsga3":
        return optuna.samplers.NSGAIIISampler(population_size=pop, seed=seed)
    if s == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if s == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if s == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if s == "vectorized":  # records its trials itself; NSGA-II serves any later study.ask
        return optuna.samplers.NSGAIISampler(population_size=pop, seed=seed)
    raise UserError(f"search.sampler: {s!r} has no Optuna sampler (exhaustive runs without one)")


def distributions(spec: StudySpec) -> dict:
    dists = dict(hwspace.optuna_distributions(spec.searched))
    for w in spec.workloads:
        if w.batch_domain is not None:
            dists[w.batch_param] = hwspace.optuna_distributions({"batch": w.batch_domain})["batch"]
    return dists


def decode(spec: StudySpec, params: list[dict]) -> tuple[dict, list]:
    """Trial params -> design columns (D,) and the (label, batch) pairs of the workloads; a batch is
    (D,) int64, or an int64 scalar when every design has the same one."""
    n = len(params)
    columns = {}
    for name in spec.searched:
        columns[name] = np.array([p[name] for p in params])
    for name, value in spec.fixed.items():
        columns[name] = np.full(n, value, dtype=object if isinstance(value, str) else None)
    workloads: list[tuple[str, Any]] = []
    for w in spec.workloads:
        if w.batch_domain is not None:
            batch = np.array([p[w.batch_param] for p in params], dtype=np.int64)
        else:
            batch = np.full(n, w.batch, dtype=np.int64)
        workloads.append((w.label, batch))
    columns["batch"] = workloads[0][1]
    # A batch shared by every design travels as a scalar (broadcast by the evaluator): less to
    # ship to workers, and chunked executors need not slice it.
    workloads = [(label, np.int64(b[0]) if n and np.all(b == b[0]) else b) for label, b in workloads]
    return columns, workloads


def _finite(x: float, fallback: float) -> float:
    return float(x) if math.isfinite(x) else fallback


class _Progress:
    """tqdm bar: trials done, feasible count, best value per objective, time left."""

    def __init__(self, spec: StudySpec, done: int, enabled: bool, total: int | None = None):
        self.enabled = enabled
        self.feasible = 0
        self.best: list[float | None] = [None] * len(spec.objectives)
        self.spec = spec
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total or spec.trials, initial=done, unit="trial", desc=spec.name,
                            file=sys.stderr, dynamic_ncols=True)

    def update(self, n: int, values: np.ndarray, feasible: np.ndarray) -> None:
        self.feasible += int(feasible.sum())
        for j, found in enumerate(best_per_objective(values, feasible, self.spec.directions)):
            if found is not None and better(found[0], self.best[j], self.spec.directions[j]):
                self.best[j] = found[0]
        if self.enabled:
            best = " ".join(f"{o.metric}={b:.3g}" for o, b in zip(self.spec.objectives, self.best) if b is not None)
            self.bar.set_postfix_str(f"feasible={self.feasible} best: {best}", refresh=False)
            self.bar.update(n)

    def close(self) -> None:
        if self.enabled:
            self.bar.close()


def _system_attrs(study) -> dict:
    return study._storage.get_study_system_attrs(study._study_id)


def _refuse_fresh(spec: StudySpec, where: str, holders: str) -> None:
    raise UserError(f"--fresh: study {spec.name} in {where} is in use by a running `dse run` ({holders}); "
                    "nothing was deleted: wait for it to finish or stop it, then rerun with --fresh")


def _delete_for_fresh(spec: StudySpec, out_dir: Path, storage_url: str | None, where: str,
                      lock: RunLock | None) -> None:
    """Delete the stored study for ``--fresh``, refusing while another driver works on it."""
    if lock is not None and not lock.try_exclusive():
        holders = "another process"
        try:
            holders = describe_drivers(live_drivers(optuna.load_study(
                study_name=spec.name, storage=storage_for(spec, out_dir, storage_url))))
        except Exception:  # noqa: BLE001 - naming the holder is best effort; the refusal is not
            pass
        _refuse_fresh(spec, where, holders)
    journal = storage_file(spec, out_dir, storage_url)
    url = storage_url or spec.storage_url
    is_journal = journal is not None and not url.startswith("sqlite:///")
    try:
        storage = storage_for(spec, out_dir, storage_url)  # a journal is read here
        existing = optuna.load_study(study_name=spec.name, storage=storage)
    except KeyError:
        return
    except ValueError:  # a corrupted journal (JSON or log format): starting over is what --fresh is for
        if not is_journal:
            raise
        journal.unlink()  # type: ignore[union-attr]
        return
    live = live_drivers(existing)  # database servers have no lock file; drivers on other hosts
    if live:
        _refuse_fresh(spec, where, describe_drivers(live))
    if is_journal:
        journal.unlink()  # type: ignore[union-attr]
    else:
        optuna.delete_study(study_name=spec.name, storage=storage)


def open_study(spec: StudySpec, out_dir: Path, storage_url: str | None = None, fresh: bool = False):
    """Create or load the study; with ``fresh`` the old one is deleted first.

    While the returned study object lives, this process holds the storage's run lock shared
    (file-backed storages), so a ``--fresh`` elsewhere refuses instead of deleting it under us."""
    make_results_dir(out_dir)
    where = describe_storage(spec, out_dir, storage_url)
    check_storage_path(spec, out_dir, storage_url)
    path = storage_file(spec, out_dir, storage_url)
    with storage_errors(where), corrupt_storage(where):
        lock = RunLock(path) if path is not None and path.parent.is_dir() else None
        if fresh:
            _delete_for_fresh(spec, out_dir, storage_url, where, lock)
        elif lock is not None:
            lock.shared()
        storage = storage_for(spec, out_dir, storage_url)
        try:
            existing = optuna.load_study(study_name=spec.name, storage=storage)
            if [d.name.lower() for d in existing.directions] != spec.directions:
                raise UserError(f"objectives: the stored study {spec.name} has other objectives; "
                                "run with --fresh to start over")
            record_fingerprint = check_fingerprint(spec, _system_attrs(existing).get(FINGERPRINT_ATTR), where)
            n_existing = len(existing.get_trials(deepcopy=False))  # no deep copy: linear at 10^5 trials
        except KeyError:
            n_existing, record_fingerprint = 0, True
        # A new seed on resume (no repeated generation), kept inside the samplers' seed range.
        sampler = make_sampler(spec, (spec.seed + n_existing) % (MAX_SEED + 1))
        study = optuna.create_study(study_name=spec.name, storage=storage, sampler=sampler,
                                    directions=spec.directions, load_if_exists=True)
        if fresh and lock is not None:
            lock.downgrade()
        # The lock lives as long as the study handle (released with it, or when the process dies).
        study._dse_run_lock = lock  # type: ignore[attr-defined]
        if record_fingerprint:
            study._storage.set_study_system_attr(study._study_id, FINGERPRINT_ATTR, study_fingerprint(spec))
        if study.user_attrs.get(OBJECTIVES_ATTR) != [o.column for o in spec.objectives]:
            study.set_user_attr(OBJECTIVES_ATTR, [o.column for o in spec.objectives])
        if study.metric_names != [o.column for o in spec.objectives]:
            # optuna-dashboard and Optuna's plots label the objectives with these names
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names([o.column for o in spec.objectives])
        # Trials left RUNNING by a crash would distort NSGA-II generations and TPE's liar: fail them,
        # but not the in-flight trials of a live concurrent driver sharing the storage.
        live = live_driver_trials(study)
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if not live(t):
                study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        sync_storage(study)
    return study


def run_study(spec: StudySpec, results_root: Path | str = "results", storage_url: str | None = None,
              executor: str | None = None, ray_address: str | None = None, fresh: bool = False,
              progress: bool = True, executor_obj: Executor | None = None,
              add_trials: int | None = None) -> RunResult:
    """Run (or resume) a study until it has ``spec.trials`` complete trials in all (counting the
    trials of other drivers sharing the storage), or ``add_trials`` more than it had (an Optuna
    sampler; :func:`dse.search.run.run_search` also dispatches ``sampler = "exhaustive"``)."""
    start = time.perf_counter()
    out_dir = spec.results_dir(results_root)
    # The executor first: a bad --ray-address fails before any results folder or storage exists.
    ex = executor_obj or make_executor(executor or spec.executor, ray_address or spec.ray_address, spec.workers,
                                       total_designs=spec.trials)
    study = open_study(spec, out_dir, storage_url, fresh)
    where = describe_storage(spec, out_dir, storage_url)
    write_study_copy(spec, out_dir)
    dists = distributions(spec)
    objective_cols = [o.column for o in spec.objectives]
    worst = worst_values(spec.directions)
    done = _count(study, TrialState.COMPLETE)
    target = spec.trials if add_trials is None else done + add_trials
    bar = _Progress(spec, done, progress, target)
    evaluated = 0
    record = DriverRecord(study)
    with storage_errors(where, "cannot write to"):
        record.write([], asking=False)  # from the start: a --fresh elsewhere can name this driver
    try:
        while True:
            with storage_errors(where):
                # The study's total, as users read --trials: other drivers' finished and in-flight
                # trials count (dead drivers' RUNNING trials were failed when the study opened).
                active = _count(study, TrialState.COMPLETE, TrialState.RUNNING)
            if active >= target:
                break
            k = min(spec.population, target - active)
            with storage_errors(where, "cannot write to"):
                record.write([], asking=True)
                trials = [study.ask(dists) for _ in range(k)]
                record.write([t.number for t in trials], asking=False)
                trials = _drop_surplus(study, trials, target)
            if not trials:
                break
            k = len(trials)
            _check_params(trials, dists, where)
            columns, workloads = decode(spec, [t.params for t in trials])
            metrics = ex.evaluate(columns, spec.node_nm, spec.technology, workloads)
            cons = constraint_values(spec, metrics)
            values = np.column_stack([metrics[c] for c in objective_cols])
            feasible = feasible_mask(cons, k)
            keys = list(metrics)
            with storage_errors(where, "cannot write to"):
                for i, trial in enumerate(trials):
                    for name, arr in cons.items():
                        trial.set_constraint(name, _finite(arr[i], 1e12))
                    trial.set_user_attr(METRICS_ATTR, {key: _finite(metrics[key][i], 0.0) for key in keys})
                    study.tell(trial, [_finite(v, worst[j]) for j, v in enumerate(values[i])])
                sync_storage(study)
            done += k
            evaluated += k
            bar.update(k, values, feasible)
        if evaluated:
            with storage_errors(where, "cannot write to"):
                record.write([], asking=False)
                sync_storage(study)
    finally:
        bar.close()
        ex.close()
    return RunResult(spec, out_dir, study, evaluated, time.perf_counter() - start, ex.name,
                     nodes_used=len(ex.nodes_used))


def _count(study, *states: TrialState) -> int:
    """Trials of ``study`` in any of ``states``."""
    return study._storage.get_n_trials(study._study_id, states)


def _drop_surplus(study, trials: list, target: int) -> list:
    """Under concurrent drivers, the trials just asked may take the study past ``target``. Keep a
    trial only if fewer than ``target`` finished or running trials precede it (by trial number, the
    order every driver sees alike); the rest are failed before evaluation, marked as surplus."""
    active = _count(study, TrialState.COMPLETE, TrialState.RUNNING)
    if active <= target:
        return trials
    numbers = sorted(t.number for t in study.get_trials(deepcopy=False,
                                                       states=(TrialState.COMPLETE, TrialState.RUNNING)))
    rank = {n: i for i, n in enumerate(numbers)}
    keep = []
    for t in trials:
        if rank.get(t.number, target) < target:
            keep.append(t)
        else:
            study._storage.set_trial_system_attr(t._trial_id, "dse_surplus", True)
            study.tell(t, state=TrialState.FAIL)
    return keep


def _check_params(trials, dists: dict, where: str) -> None:
    """A trial is told only with every searched parameter: never a finished trial without them."""
    for t in trials:
        if set(t.params) != set(dists):
            raise UserError(f"storage: trial {t.number} in {where} lost its parameters (another process "
                            "changed the study while this run used it); stopped without finishing it")


__all__ = ["run_study", "open_study", "RunResult", "decode", "distributions"]
