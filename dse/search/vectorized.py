"""The vectorized search (``search.sampler = "vectorized"``): whole batches of designs per step.

The evaluator scores tens of thousands of designs per second per core; Optuna's per-trial
machinery (ask, tell, one journal record set per trial) handles a few hundred. This mode keeps
Optuna for what it is good at (storage, resume, dashboard, reports) and takes it out of the loop:

1. *Screen*: a Latin hypercube over the space (:func:`dse.search.genome.latin_hypercube`).
2. *Evolve*: each step draws a batch of children from the parents (the feasible Pareto front of
   everything evaluated so far; feasible first, as Optuna's constrained NSGA-II), by crossover
   and mostly local mutation (one or two values of a parameter: refinement around the front),
   plus a share of random designs (:func:`dse.search.evolve.offspring`). In a discrete space a
   design is never evaluated twice; a space smaller than the budget is enumerated to the end.
3. *Evaluate* the batch as arrays (the executor: in-process or Ray, by the ``auto`` rule).
4. *Record*: every evaluated design goes to the table ``designs.parquet/`` (one Parquet part
   per step, written atomically); only front designs become Optuna trials, every
   :data:`RECORD_EVERY_S` seconds and at the end (the front designs not recorded yet, added in
   one write: parameters, distributions, objective values, constraints, metrics and the design
   id as user attributes). At the end the study's ``best_trials`` is the exact front of every
   evaluated design; earlier recordings stay as the near-front history. ``dse report``,
   optuna-dashboard and resume work as for any study.

``search.designs`` (``StudySpec.trials``) counts evaluated designs (the Optuna study holds fewer
trials: the front history). Step sizes follow the budget (:func:`step_sizes`). Killing a run loses at most the
designs not yet written to a table part (no recorded trial): parts are complete files (a torn ``.tmp`` is dropped), trials are added after
their part (and never removed), and a resume records any front design of the table that has no
trial yet.

Outputs in ``results/NAME/``: the Optuna storage (``study.journal`` by default) and
``designs.parquet/part-NNNNNN.parquet`` (:data:`TABLE_PART_ROWS` designs each) with columns ``design``, ``step``, the searched parameters
(names as in ``trials.parquet``), every metric (SI, ``LABEL:metric``), ``constraint:NAME`` and
``feasible``; ``pd.read_parquet(results/NAME/designs.parquet)`` reads them as one table.
"""

from __future__ import annotations

import os
import datetime
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from dse.errors import UserError
from dse.search.best import worst_values
from dse.search.bulk_trials import add_trials_bulk, memoized_distributions
from dse.search.evolve import Pool, offspring, violation_of
from dse.search.genome import Genome, latin_hypercube
from dse.search.executors import make_executor
from dse.search.pareto import to_minimization
from dse.search.results_files import CONSTRAINT_PREFIX, DESIGNS_PARQUET, METRICS_ATTR
from dse.search.scoring import RunResult, constraint_values, write_study_copy
from dse.search.storage import describe_storage, storage_errors, sync_storage

#: Folder of the designs table (one Parquet part per step).
DESIGNS_TABLE = DESIGNS_PARQUET
#: User attribute of a recorded trial: its row id in the designs table.
DESIGN_ATTR = "design"
#: Study user attribute with the run's counters (designs evaluated, steps, time per stage).
STATS_ATTR = "dse_vectorized"
#: Step sizes (designs): large enough for the evaluator's arrays to pay off, small enough that
#: the front moves often. Measured on the 806,400-design bench space (scripts/bench_search.py).
MIN_STEP, MAX_STEP = 1024, 16384
#: Share of the budget spent on the screen (capped at :data:`MAX_SCREEN`).
SCREEN_SHARE, MAX_SCREEN = 0.125, 65536
#: Seconds between recordings of the front into the Optuna study. Recording is the costly part
#: of the loop (about 1-3 ms per trial on a journal), and a front design recorded early is often
#: dominated later; the designs table is written every step, so a crash loses nothing (a resume
#: records the front designs that have no trial yet).
RECORD_EVERY_S = 5.0
#: The interval grows to this many times the last recording's duration (recording <= ~10%).
RECORD_SHARE_INVERSE = 10.0
#: Designs per table part: steps are buffered up to this many rows (and written before every
#: recording), so that Parquet's per-file cost is paid a few times per run, not every step.
TABLE_PART_ROWS = 65536
#: Seconds per trial of a recording and per row of a table part, assumed by a run with a wall-time
#: limit (``max_seconds``) until it has measured its own: the end of such a run records the front
#: and writes the buffered rows, and that must fit in the limit too. Measured on the large-space
#: benchmark (scripts/bench_large_space.py): 0.14 ms per recorded trial, 4 us per table row.
RECORD_S_PER_TRIAL, TABLE_S_PER_ROW = 2e-4, 5e-6
#: Proposal rounds per step before a discrete space counts as exhausted around the front.
PROPOSAL_ROUNDS = 4
#: A discrete space with fewer unseen designs than this many steps is enumerated to the end.
ENUMERATE_STEPS = 2
#: Discrete spaces up to this many designs track evaluated designs in a bitmap (1 byte each).
BITMAP_MAX_DESIGNS = 1 << 26


def step_sizes(budget: int) -> tuple[int, int]:
    """(screen, step): designs of the first (screen) step and of each later step."""
    step = int(min(MAX_STEP, max(MIN_STEP, budget // 64)))
    screen = int(min(MAX_SCREEN, max(step, budget * SCREEN_SHARE)))
    return min(screen, budget), step


@dataclass
class Timings:
    """Seconds per stage of the run (the closing question of issue 16: where does time go)."""

    open_s: float = 0.0
    propose_s: float = 0.0
    evaluate_s: float = 0.0
    front_s: float = 0.0
    table_s: float = 0.0
    study_s: float = 0.0
    steps: int = 0
    recorded: int = 0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = {k: round(v, 3) if isinstance(v, float) else v for k, v in self.__dict__.items() if k != "extra"}
        out.update(self.extra)
        return out


def _eval_inputs(spec, params: dict[str, np.ndarray], n: int) -> tuple[dict, list]:
    """Design columns and (label, batch) workloads for the evaluator (as dse.search.study.decode)."""
    columns = {name: params[name] for name in spec.searched}
    for name, value in spec.fixed.items():
        columns[name] = np.full(n, value, dtype=object if isinstance(value, str) else None)
    workloads: list[tuple[str, np.ndarray]] = []
    for w in spec.workloads:
        if w.batch_domain is not None:
            workloads.append((w.label, np.asarray(params[w.batch_param], dtype=np.int64)))
        else:
            workloads.append((w.label, np.asarray(w.batch, dtype=np.int64)))  # 0-d: broadcast
    columns["batch"] = (workloads[0][1] if np.ndim(workloads[0][1]) else np.full(n, workloads[0][1]))
    return columns, workloads


class DesignsTable:
    """The folder of Parquet parts holding every evaluated design (see the module docstring)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def parts(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        for tmp in [*self.folder.glob(".*.tmp"), *self.folder.glob("*.tmp")]:  # torn by a crash: redone
            tmp.unlink(missing_ok=True)
        return sorted(self.folder.glob("part-*.parquet"))

    def reset(self) -> None:
        if self.folder.exists():
            shutil.rmtree(self.folder)

    def write(self, part: int, frame: pd.DataFrame) -> None:
        """Write part number ``part`` atomically (a crash leaves a whole part or a hidden
        ``.part-NNNNNN.parquet.tmp``, which Parquet readers of the folder skip: names starting
        with a dot are not part of a dataset)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"part-{part:06d}.parquet"
        tmp = self.folder / f".{path.name}.tmp"
        frame.to_parquet(tmp, index=False)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def read(self, columns: list[str] | None = None, ids: np.ndarray | None = None) -> pd.DataFrame:
        import pyarrow.dataset as ds

        parts = self.parts()
        if not parts:
            return pd.DataFrame(columns=columns or [])
        data = ds.dataset([str(p) for p in parts], format="parquet")
        names = [c for c in (columns or data.schema.names) if c in data.schema.names]
        flt = ds.field(DESIGN_ATTR).isin(ids.tolist()) if ids is not None else None
        return data.to_table(columns=names, filter=flt).to_pandas()


class _Recorder:
    """Adds front designs to the Optuna study as complete trials (one storage write per call)."""

    def __init__(self, spec, study, genome: Genome, objective_cols: list[str], where: str):
        from dse.search.study import _finite

        self.study, self.genome, self.where = study, genome, where
        self.objective_cols = objective_cols
        self.finite = _finite
        self.worst = worst_values(spec.directions)
        ids = [t.user_attrs.get(DESIGN_ATTR) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
        self.recorded: set[int] = {i for i in ids if i is not None}
        #: Complete trials that no vectorized search recorded (another sampler's).
        self.foreign = len(ids) - sum(i is not None for i in ids)

    def record(self, frame: pd.DataFrame) -> int:
        """Record the rows of ``frame`` (a designs-table frame) whose design has no trial yet.
        Returns the number of trials added."""
        if frame.empty:
            return 0
        ids_all = frame[DESIGN_ATTR].to_numpy(dtype=np.int64)
        todo = np.array([i not in self.recorded for i in ids_all.tolist()], dtype=bool)
        frame = frame[todo]
        if frame.empty:
            return 0
        names = self.genome.names
        metric_keys = [c for c in frame.columns if c not in (DESIGN_ATTR, "step", "feasible")
                       and not c.startswith(CONSTRAINT_PREFIX) and c not in names]
        cons_cols = [c for c in frame.columns if c.startswith(CONSTRAINT_PREFIX)]
        plist = self.genome.params({n: frame[n].to_numpy() for n in names}, np.arange(len(frame)))
        metric_lists = {k: frame[k].to_numpy(dtype=np.float64).tolist() for k in metric_keys}
        cons_lists = {c.split(":", 1)[1]: frame[c].to_numpy(dtype=np.float64).tolist() for c in cons_cols}
        values = frame[self.objective_cols].to_numpy(dtype=np.float64).tolist()
        ids = frame[DESIGN_ATTR].to_numpy().tolist()
        f = self.finite
        # Trials built as create_trial builds them, but the distributions are converted and the
        # first trial validated once: the genome decodes inside the distributions by construction.
        first = optuna.trial.create_trial(
            params=plist[0], distributions=self.genome.distributions,
            values=[f(v, self.worst[j]) for j, v in enumerate(values[0])])
        dists = first.distributions
        now = datetime.datetime.now()
        trials = []
        for i in range(len(frame)):
            t = FrozenTrial(number=-1, trial_id=-1, state=TrialState.COMPLETE, value=None,
                            values=[f(v, self.worst[j]) for j, v in enumerate(values[i])],
                            datetime_start=now, datetime_complete=now, params=plist[i],
                            distributions=dists,
                            user_attrs={METRICS_ATTR: {k: f(metric_lists[k][i], 0.0) for k in metric_keys},
                                        DESIGN_ATTR: int(ids[i])},
                            system_attrs={}, intermediate_values={})
            for k, v in cons_lists.items():
                t.set_constraint(k, f(v[i], 1e12))
            trials.append(t)
        trials[0]._validate()
        with storage_errors(self.where, "cannot write to"):
            add_trials_bulk(self.study, trials, validate=False)
            sync_storage(self.study)
        self.recorded.update(int(i) for i in ids)
        return len(trials)


def run_vectorized(spec, results_root: Path | str = "results", storage_url: str | None = None,
                   executor: str | None = None, ray_address: str | None = None, fresh: bool = False,
                   progress: bool = True, executor_obj=None, *, max_seconds: float | None = None,
                   screen_size: int | None = None, step_size: int | None = None,
                   record_every_s: float | None = None):
    """Run (or resume) a vectorized search until ``spec.trials`` designs have been evaluated.

    Args:
        spec: a StudySpec (any sampler name; this function is ``search.sampler = "vectorized"``).
        results_root, storage_url, executor, ray_address, fresh, progress, executor_obj: as
            :func:`dse.search.study.run_study`.
        max_seconds: stop after the step that passes this wall time (benchmarks at equal time).
        screen_size, step_size: designs in the screen and in each later step (default:
            :func:`step_sizes` of the budget).
        record_every_s: seconds between recordings of the front into the study (default
            :data:`RECORD_EVERY_S`; the end of the run always records).
    Returns:
        RunResult: ``study`` holds the recorded (front) trials, ``evaluated`` the designs of this
        run, ``summary`` the counters and the seconds per stage.
    """
    from dse.search.study import distributions, open_study

    start = time.perf_counter()
    tm = Timings()
    out_dir = spec.results_dir(results_root)
    ex = executor_obj or make_executor(executor or spec.executor, ray_address or spec.ray_address, spec.workers,
                                       total_designs=spec.trials)
    table = DesignsTable(out_dir / DESIGNS_TABLE)
    if fresh:
        table.reset()
    with memoized_distributions():  # the journal replay parses each distribution JSON once
        study = open_study(spec, out_dir, storage_url, fresh)
    where = describe_storage(spec, out_dir, storage_url)
    write_study_copy(spec, out_dir)
    genome = Genome(distributions(spec))
    objective_cols = [o.column for o in spec.objectives]
    directions = spec.directions
    recorder = _Recorder(spec, study, genome, objective_cols, where)
    pool = Pool.empty(len(genome), len(objective_cols))
    front = pd.DataFrame()  # the designs-table rows of the pool, in pool order
    discrete = genome.keys(np.zeros((1, len(genome)))) is not None
    seen = SeenDesigns(int(genome.total)) if discrete else None
    record_every = RECORD_EVERY_S if record_every_s is None else record_every_s

    # --- resume: the table is the truth; the study gets any front design it lacks ---------------
    if recorder.foreign:  # e.g. a study that ran nsga2 when a study naming no sampler meant nsga2
        raise UserError(f"search.sampler: {where} holds {recorder.foreign} trials of another sampler; "
                        "sampler = \"vectorized\" resumes only its own studies: name the sampler that ran "
                        "them in [search] (search.trials then counts Optuna trials), or run with --fresh "
                        "(or another --results folder) to start a vectorized search")
    parts = table.parts()
    done, next_id, step, part_no = 0, 0, 0, len(parts)
    if parts:
        import pyarrow.dataset as ds

        schema = ds.dataset([str(p) for p in parts], format="parquet").schema
        cons_cols = [c for c in schema.names if c.startswith(CONSTRAINT_PREFIX)]
        missing = [c for c in [DESIGN_ATTR, *genome.names, *objective_cols] if c not in schema.names]
        if missing:
            raise UserError(f"results: {table.folder} has no column {missing[0]!r} for this study; "
                            "run with --fresh to start over")
        old = table.read([DESIGN_ATTR, "step", *genome.names, *objective_cols, *cons_cols])
        step = int(old["step"].max()) + 1 if len(old) else 0
        try:
            genes = genome.encode({n: old[n].to_numpy() for n in genome.names})
        except ValueError as err:
            raise UserError(f"results: {table.folder} holds designs outside this study's space ({err}); "
                            "run with --fresh to start over") from None
        ids = old[DESIGN_ATTR].to_numpy(dtype=np.int64)
        done, next_id = len(old), int(ids.max()) + 1 if len(ids) else 0
        objs = to_minimization(old[objective_cols].to_numpy(dtype=np.float64), directions)
        vio = violation_of({c: old[c].to_numpy() for c in cons_cols}, len(old))
        vio = np.where(np.all(np.isfinite(objs), axis=1), vio, np.inf)
        pool.merge(genes, objs, vio, ids)
        keys = genome.keys(genes)
        if seen is not None and keys is not None:
            seen.add(np.unique(keys))
        front = table.read(ids=pool.ids)
        front = front.set_index(DESIGN_ATTR, drop=False).loc[pool.ids].reset_index(drop=True)
        tm.recorded += recorder.record(front)  # a crash between a part and its trials
    if recorder.recorded and max(recorder.recorded) >= next_id:
        raise UserError(f"results: {table.folder} lacks designs that the trials in {where} record "
                        "(was the folder deleted?); run with --fresh to start over")
    tm.open_s = time.perf_counter() - start

    budget = spec.trials
    screen, step_n = step_sizes(budget)
    screen, step_n = screen_size or screen, step_size or step_n
    rng = np.random.default_rng([spec.seed, done])  # a resumed run draws new designs
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=budget, initial=min(done, budget), unit="design", unit_scale=True,
                   desc=f"{spec.name} (vectorized)", file=sys.stderr, dynamic_ncols=True)
    evaluated = 0
    written = 0  # rows written as table parts by this run
    exhausted = False
    last_record = time.perf_counter()
    buffered: list[pd.DataFrame] = []  # steps not yet written as a table part
    try:
        while done < budget and not exhausted:
            if max_seconds is not None and time.perf_counter() - start >= max_seconds:
                break
            t0 = time.perf_counter()
            want = min(screen if done == 0 else step_n, budget - done)
            if max_seconds is not None:  # do not overshoot a wall-time limit by a large step
                # The end of the run (record the front, write the buffered rows) counts too.
                per_trial = tm.study_s / tm.recorded if tm.recorded else RECORD_S_PER_TRIAL
                per_row = tm.table_s / max(1, written) if written else TABLE_S_PER_ROW
                finish_s = per_trial * len(pool) + per_row * sum(len(f) for f in buffered)
                left_s = max_seconds - (time.perf_counter() - start) - finish_s
                per_design = (time.perf_counter() - start - tm.open_s - tm.study_s - tm.table_s) / evaluated \
                    if evaluated else None
                if left_s <= 0 or (per_design is not None and left_s < per_design * MIN_STEP / 2):
                    break
                want = min(want, MIN_STEP * 4) if per_design is None else \
                    min(want, max(MIN_STEP, int(left_s / per_design)))
            genes, exhausted = _propose(genome, pool, want, seen, rng)
            if len(genes) == 0:
                break
            n = len(genes)
            params = genome.decode(genes)
            columns, workloads = _eval_inputs(spec, params, n)
            t1 = time.perf_counter()
            tm.propose_s += t1 - t0
            metrics = ex.evaluate(columns, spec.node_nm, spec.technology, workloads)
            t2 = time.perf_counter()
            tm.evaluate_s += t2 - t1
            cons = constraint_values(spec, metrics)
            values = np.column_stack([metrics[c] for c in objective_cols])
            objs = to_minimization(values, directions)
            finite = np.all(np.isfinite(objs), axis=1)
            vio = np.where(finite, violation_of(cons, n), np.inf)
            ids = np.arange(next_id, next_id + n, dtype=np.int64)
            frame = pd.DataFrame({DESIGN_ATTR: ids, "step": np.full(n, step, dtype=np.int64),
                                  **{name: params[name] for name in genome.names},
                                  **{k: v for k, v in metrics.items() if k not in genome.names},
                                  **{f"{CONSTRAINT_PREFIX}{k}": v for k, v in cons.items()},
                                  "feasible": finite & (vio <= 0)})
            keep = pool.merge(genes, objs, vio, ids)
            front = pd.concat([front, frame], ignore_index=True)[keep].reset_index(drop=True) \
                if len(front) else frame[keep[-n:]].reset_index(drop=True)
            t3 = time.perf_counter()
            tm.front_s += t3 - t2
            buffered.append(frame)
            if sum(len(f) for f in buffered) >= TABLE_PART_ROWS:
                written += sum(len(f) for f in buffered)
                table.write(part_no, pd.concat(buffered, ignore_index=True))
                part_no, buffered = part_no + 1, []
            t4 = time.perf_counter()
            tm.table_s += t4 - t3
            next_id += n
            done += n
            evaluated += n
            step += 1
            tm.steps += 1
            if t4 - last_record >= record_every:
                if buffered:  # a trial is recorded only once its design is in the table
                    written += sum(len(f) for f in buffered)
                    table.write(part_no, pd.concat(buffered, ignore_index=True))
                    part_no, buffered = part_no + 1, []
                t4b = time.perf_counter()
                tm.table_s += t4b - t4
                t4 = t4b
                tm.recorded += recorder.record(front)
                last_record = time.perf_counter()
                tm.study_s += last_record - t4
                # Recording stays a small share of the run when the front is large and moving.
                record_every = max(record_every, RECORD_SHARE_INVERSE * (last_record - t4))
            if bar is not None:
                bar.set_postfix_str(f"front={len(pool)}{'' if pool.feasible else ' (none feasible)'}",
                                    refresh=False)
                bar.update(n)
        t5 = time.perf_counter()
        if buffered:
            table.write(part_no, pd.concat(buffered, ignore_index=True))
            part_no, buffered = part_no + 1, []
        tm.table_s += time.perf_counter() - t5
        t5 = time.perf_counter()
        tm.recorded += recorder.record(front)
        with storage_errors(where, "cannot write to"):
            stats = {"designs_evaluated": done, "designs_this_run": evaluated, "front_size": len(pool),
                     "space_exhausted": bool(exhausted), "table": DESIGNS_TABLE}
            study.set_user_attr(STATS_ATTR, stats)
            sync_storage(study)
        tm.study_s += time.perf_counter() - t5
    finally:
        if bar is not None:
            bar.close()
        ex.close()
    seconds = time.perf_counter() - start
    tm.extra = {"seconds": round(seconds, 3)}
    summary = {**stats, "sampler": "vectorized", "designs_per_s": round(evaluated / seconds, 1) if seconds else None,
               "timings": tm.as_dict()}
    return RunResult(spec, out_dir, study, evaluated, seconds, ex.name, summary=summary,
                     nodes_used=len(ex.nodes_used))


class SeenDesigns:
    """The designs of a discrete space evaluated so far, by mixed-radix code (:meth:`Genome.keys`):
    a bitmap when the space has at most :data:`BITMAP_MAX_DESIGNS` designs, else a sorted array."""

    def __init__(self, total: int):
        self.total = total
        self.count = 0
        self.bitmap = np.zeros(total, dtype=bool) if total <= BITMAP_MAX_DESIGNS else None
        self.sorted = np.empty(0, dtype=np.int64)

    def contains(self, keys: np.ndarray) -> np.ndarray:
        if self.bitmap is not None:
            return self.bitmap[keys]
        pos = np.minimum(np.searchsorted(self.sorted, keys), max(self.sorted.size - 1, 0))
        return self.sorted[pos] == keys if self.sorted.size else np.zeros(keys.size, dtype=bool)

    def add(self, keys: np.ndarray) -> None:
        """Add distinct keys that are not in the set yet."""
        if self.bitmap is not None:
            self.bitmap[keys] = True
        else:
            self.sorted = np.sort(np.concatenate([self.sorted, keys]), kind="stable")
        self.count += keys.size

    def unseen(self) -> np.ndarray:
        if self.bitmap is not None:
            return np.flatnonzero(~self.bitmap)
        return np.setdiff1d(np.arange(self.total, dtype=np.int64), self.sorted, assume_unique=True)


def _candidates(genome: Genome, pool: Pool, n: int, rng: np.random.Generator) -> np.ndarray:
    genes = latin_hypercube(n, len(genome), rng) if len(pool) == 0 else offspring(pool, n, genome.sizes, rng)
    return genome.canonical(genes)


def _propose(genome: Genome, pool: Pool, n: int, seen: SeenDesigns | None, rng: np.random.Generator):
    """Up to n new genes (canonical; in a discrete space never evaluated before) and whether a
    discrete space has no unseen design left."""
    if seen is None:  # continuous (or huge) space: repeats are unlikely, no bookkeeping
        return _candidates(genome, pool, n, rng), False
    unseen = seen.total - seen.count
    if unseen <= 0:
        return np.empty((0, len(genome))), True
    if unseen <= ENUMERATE_STEPS * n and seen.total <= BITMAP_MAX_DESIGNS:
        # Few designs left: enumerate them (the search then ends exact).
        rest = seen.unseen()
        if rest.size > n:
            rest = rng.choice(rest, size=n, replace=False)
        seen.add(rest)
        return genome.from_keys(rest), seen.count >= seen.total
    genes_parts: list[np.ndarray] = []
    keys_parts: list[np.ndarray] = []
    got = 0
    for attempt in range(PROPOSAL_ROUNDS + 1):
        need = n - got
        # The last round draws uniformly: the neighbourhood of the front may be explored out.
        cand = (_candidates(genome, pool, need, rng) if attempt < PROPOSAL_ROUNDS
                else genome.canonical(rng.random((need, len(genome)))))
        cand_keys = genome.keys(cand)
        assert cand_keys is not None  # a discrete space (seen is None otherwise)
        keys, first = np.unique(cand_keys, return_index=True)
        fresh = ~seen.contains(keys)
        if keys_parts:
            fresh &= ~np.isin(keys, np.concatenate(keys_parts))
        genes_parts.append(cand[first[fresh]])
        keys_parts.append(keys[fresh])
        got += int(fresh.sum())
        if got >= n * 0.9:
            break
    if got == 0 and seen.bitmap is not None:  # near-exhausted region: take unseen designs directly
        rest = seen.unseen()
        rest = rng.choice(rest, size=min(n, rest.size), replace=False)
        genes_parts.append(genome.from_keys(rest))
        keys_parts.append(rest)
    genes = np.concatenate(genes_parts)[:n]
    keys = np.concatenate(keys_parts)[:n]
    seen.add(keys)
    return genes, False


__all__ = ["run_vectorized", "DesignsTable", "SeenDesigns", "DESIGNS_TABLE", "step_sizes"]
