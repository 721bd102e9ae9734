"""The search loop: a constrained multi-objective Optuna study driven by batched ask/tell.

Data flow (DESIGN.md): spec -> Optuna sampler asks one population -> decode to columns ->
executor evaluates (in-process or Ray) -> objectives + constraints -> tell. Only this driver
touches the Optuna storage; every metric is stored on the trial (user attribute ``metrics``) so
the storage alone rebuilds every table and plot.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import optuna
from optuna.trial import TrialState

from dse.errors import UserError
from dse.hardware import space as hwspace
from dse.search.executors import make_executor
from dse.search.spec import OBJECTIVES, StudySpec

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: Stored metric column of each objective metric (SI units).
OBJECTIVE_COLUMN = {
    "throughput": "throughput_ips", "latency": "latency_s", "energy": "energy_j", "power": "power_w",
    "throughput_per_w": "throughput_per_w", "throughput_per_mm2": "throughput_per_mm2", "area": "area_mm2",
}
JOURNAL_NAME = "study.journal"


def objective_column(obj) -> str:
    col = OBJECTIVE_COLUMN[obj.metric]
    return col if obj.workload is None else f"{obj.workload}:{col}"


#: SQLite busy timeout (s): how long a write waits for another connection's lock before failing.
#: ``DSE_SQLITE_BUSY_TIMEOUT_S`` overrides it (tests use a short one).
SQLITE_BUSY_TIMEOUT_S = 30.0


class JournalFlockLock:
    """Journal write lock held with ``fcntl.flock`` on ``PATH.flock``.

    Optuna's default symlink lock survives a SIGKILL of its holder, and the next run then waits
    its 30 s grace period before breaking it. A kernel lock is released with the process, so a
    rerun after a crash resumes at once. (Implements ``BaseJournalFileLock``: acquire/release.)
    """

    def __init__(self, journal_path: str):
        self.path = journal_path + ".flock"
        self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)

    def acquire(self) -> bool:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return True

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def __del__(self):
        try:
            os.close(self._fd)
        except (OSError, AttributeError):
            pass


def repair_journal_tail(path: Path) -> int:
    """Cut a torn last record (no trailing newline, e.g. a write stopped by a full disk) from a
    journal file; returns the bytes removed. Optuna skips such a tail when reading but would glue
    the next record to it, corrupting the journal for good."""
    with open(path, "rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        pos, keep = size, 0
        while pos > 0:
            start = max(0, pos - (1 << 20))
            fh.seek(start)
            chunk = fh.read(pos - start)
            i = chunk.rfind(b"\n")
            if i >= 0:
                keep = start + i + 1
                break
            pos = start
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
        return size - keep


def _batch_sync_backend_class():
    from optuna.storages.journal import JournalFileBackend

    class BatchSyncJournalFileBackend(JournalFileBackend):
        """Journal file whose appends are written and flushed under the lock (so other processes
        and a crash of this one see them at once) but fsynced once per batch (:meth:`sync`), not
        once per record: Optuna writes ~17 records per trial, and per-record fsync dominated the
        loop on a busy disk. A power loss can cost the last batch at most; a torn tail is cut on
        the next open (:func:`repair_journal_tail`)."""

        def append_logs(self, logs):
            from optuna.storages.journal._file import get_lock_file

            data = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode("utf-8")
            with get_lock_file(self._lock):
                with open(self._file_path, "ab") as f:
                    f.write(data)
                    f.flush()

        def sync(self) -> None:
            fd = os.open(self._file_path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    return BatchSyncJournalFileBackend


def sync_storage(study) -> None:
    """Make what the study wrote durable (journal: one fsync per batch); no-op for databases."""
    backend = getattr(getattr(study, "_storage", None), "_backend", None)
    if hasattr(backend, "sync"):
        backend.sync()


def _journal(path: Path):
    from optuna.storages.journal import JournalStorage

    lock = JournalFlockLock(str(path))
    if path.exists():
        lock.acquire()
        try:
            repair_journal_tail(path)
        finally:
            lock.release()
    return JournalStorage(_batch_sync_backend_class()(str(path), lock_obj=lock))


def describe_storage(spec: StudySpec, out_dir: Path, url: str | None = None) -> str:
    """The storage as shown in messages: the journal path or the URL without its password."""
    url = url or spec.storage_url
    if not url:
        return str(out_dir / JOURNAL_NAME)
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://{rest.rsplit('@', 1)[-1]}"
    return url


def _root_message(err: BaseException) -> str:
    """The innermost cause's first line (SQLAlchemy and Optuna wrap the driver's message)."""
    seen = err
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__
    for e in (seen, err):
        if isinstance(e, OSError) and e.strerror:
            return e.strerror
        text = str(getattr(e, "orig", None) or e).strip()
        if text:
            return text.splitlines()[0]
    return type(err).__name__


def _storage_error_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [OSError, optuna.exceptions.StorageInternalError]
    try:
        import sqlalchemy.exc

        types.append(sqlalchemy.exc.SQLAlchemyError)
    except ImportError:  # pragma: no cover - sqlalchemy comes with optuna
        pass
    return tuple(types)


@contextmanager
def storage_errors(where: str, action: str = "cannot use"):
    """Turn OS and database errors of the storage into one :class:`UserError` line naming it."""
    try:
        yield
    except UserError:
        raise
    except _storage_error_types() as err:
        hint = ""
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            hint = "; free some space and rerun to resume (finished trials are kept)"
        elif isinstance(err, OSError) and err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            hint = "; make it writable or choose another --results/--storage"
        elif "locked" in _root_message(err).lower():
            hint = "; another process holds the database: wait for it or stop it, then rerun to resume"
        raise UserError(f"storage: {action} {where} ({_root_message(err)}){hint}") from None


def storage_for(spec: StudySpec, out_dir: Path, url: str | None = None):
    """The Optuna storage: a journal file in ``out_dir`` by default, or any storage URL."""
    url = url or spec.storage_url
    field = "--storage" if url and url != spec.storage_url else "storage.url"
    if not url:
        path = out_dir / JOURNAL_NAME
        with storage_errors(str(path), "cannot open journal file"):
            return _journal(path)
    if url.startswith("sqlite:///"):
        from optuna.storages import RDBStorage

        # WAL and synchronous=NORMAL: +30-45% for batched ask/tell (NOTES-optuna-ray.md).
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        db = Path(url.removeprefix("sqlite:///"))
        if str(db) not in ("", ":memory:") and not db.parent.is_dir():
            raise UserError(f"{field}: cannot open {url} (folder {db.parent} does not exist)")
        try:
            timeout = float(os.environ.get("DSE_SQLITE_BUSY_TIMEOUT_S", SQLITE_BUSY_TIMEOUT_S))
        except ValueError:
            raise UserError("DSE_SQLITE_BUSY_TIMEOUT_S: expected a number of seconds, got "
                            f"{os.environ['DSE_SQLITE_BUSY_TIMEOUT_S']!r}") from None
        try:
            import sqlalchemy

            storage = RDBStorage(url, engine_kwargs={"connect_args": {"timeout": timeout}})
            sqlalchemy.event.listen(storage.engine, "connect", _pragmas)
            return storage
        except Exception as err:  # SQLAlchemy/optuna raise many types for a bad database
            why = _root_message(err)
            hint = ("; another process holds the database: wait for it or stop it, then rerun to resume"
                    if "locked" in why.lower() else "")
            raise UserError(f"{field}: cannot open {url} ({why}){hint}") from None
    if url.startswith(("postgresql", "mysql")):
        from optuna.storages import RDBStorage

        try:
            return RDBStorage(url, heartbeat_interval=None)
        except Exception as err:
            raise UserError(f"{field}: cannot connect to {describe_storage(spec, out_dir, url)} "
                            f"({_root_message(err)})") from None
    if url.endswith(".journal") or url.startswith("journal:"):
        path = Path(url.removeprefix("journal:"))
        if not path.parent.is_dir():
            raise UserError(f"{field}: cannot open journal file {path} (folder {path.parent} does not exist)")
        with storage_errors(str(path), "cannot open journal file"):
            return _journal(path)
    raise UserError(f"{field}: {url!r} is not a journal file path (*.journal), sqlite:///, "
                    "postgresql:// or mysql:// URL")


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
    workloads = []
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


def constraint_values(spec: StudySpec, metrics: dict) -> dict[str, np.ndarray]:
    """Relative budget violations, (D,) each; a design is feasible when all are <= 0."""
    out = {}
    area = metrics["area_mm2"]
    if spec.area_mm2 is not None:
        out["area_mm2"] = area / spec.area_mm2 - 1.0
    for w in spec.workloads:
        lab = w.label
        power = metrics[f"{lab}:power_w"]
        if spec.power_w is not None:
            out[f"{lab}:power_w"] = power / spec.power_w - 1.0
        out[f"{lab}:power_density"] = power / area / metrics["power_density_limit_w_per_mm2"] - 1.0
        if lab in spec.latency_s:
            out[f"{lab}:latency_s"] = metrics[f"{lab}:latency_s"] / spec.latency_s[lab] - 1.0
        if lab in spec.min_throughput_ips:
            out[f"{lab}:throughput_ips"] = 1.0 - metrics[f"{lab}:throughput_ips"] / spec.min_throughput_ips[lab]
    return out


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

    def trials_frame(self):
        """Every complete trial as a DataFrame (parameters, metrics, constraints, feasibility)."""
        if self.study is None:
            return pd.read_parquet(self.out_dir / "exhaustive.parquet")
        from dse.search.tables import trials_frame

        return trials_frame(self.study)

    def pareto_frame(self):
        """The feasible Pareto-optimal trials, as rows of :meth:`trials_frame`."""
        if self.study is None:
            return self.front
        from dse.search.tables import pareto_frame

        return pareto_frame(self.study)


def _finite(x: float, fallback: float) -> float:
    return float(x) if math.isfinite(x) else fallback


class _Progress:
    """tqdm bar: trials done, feasible count, best value per objective, time left."""

    def __init__(self, spec: StudySpec, done: int, enabled: bool):
        self.enabled = enabled
        self.feasible = 0
        self.best: list[float | None] = [None] * len(spec.objectives)
        self.spec = spec
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=spec.trials, initial=done, unit="trial", desc=spec.name,
                            file=sys.stderr, dynamic_ncols=True)

    def update(self, n: int, values: np.ndarray, feasible: np.ndarray) -> None:
        self.feasible += int(feasible.sum())
        for j, obj in enumerate(self.spec.objectives):
            if feasible.any():
                col = values[feasible, j]
                cand = col.max() if obj.direction == "maximize" else col.min()
                cur = self.best[j]
                if cur is None or (cand > cur if obj.direction == "maximize" else cand < cur):
                    self.best[j] = float(cand)
        if self.enabled:
            best = " ".join(f"{o.metric}={b:.3g}" for o, b in zip(self.spec.objectives, self.best) if b is not None)
            self.bar.set_postfix_str(f"feasible={self.feasible} best: {best}", refresh=False)
            self.bar.update(n)

    def close(self) -> None:
        if self.enabled:
            self.bar.close()


@contextmanager
def _corrupt_storage(where: str):
    """A journal that does not parse (edited by hand, or a line lost in the middle) is one line."""
    try:
        yield
    except UserError:
        raise
    except ValueError as err:  # json.JSONDecodeError, "Invalid log format."
        raise UserError(f"storage: cannot read {where} (corrupted: {str(err).splitlines()[0]}); "
                        "move it away, or run with --fresh to start over") from None


def make_results_dir(out_dir: Path) -> None:
    """Create ``out_dir``; a read-only place or a file in the way is one UserError line."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"results: cannot create folder {out_dir} (a file of that name is in the way)") from None
    except OSError as err:
        raise UserError(f"results: cannot create folder {out_dir} ({err.strerror or err}); "
                        "choose another --results folder") from None


def open_study(spec: StudySpec, out_dir: Path, storage_url: str | None = None, fresh: bool = False):
    """Create or load the study; with ``fresh`` the old one is deleted first."""
    make_results_dir(out_dir)
    where = describe_storage(spec, out_dir, storage_url)
    with storage_errors(where), _corrupt_storage(where):
        if fresh:
            journal = out_dir / JOURNAL_NAME
            if not (storage_url or spec.storage_url) and journal.exists():
                journal.unlink()
        storage = storage_for(spec, out_dir, storage_url)
        if fresh and (storage_url or spec.storage_url):
            try:
                optuna.delete_study(study_name=spec.name, storage=storage)
            except KeyError:
                pass
        try:
            existing = optuna.load_study(study_name=spec.name, storage=storage)
            if [d.name.lower() for d in existing.directions] != spec.directions:
                raise UserError(f"objectives: the stored study {spec.name} has other objectives; "
                                "run with --fresh to start over")
            n_existing = len(existing.trials)
        except KeyError:
            n_existing = 0
        sampler = make_sampler(spec, spec.seed + n_existing)  # new seed on resume: no repeated generation
        study = optuna.create_study(study_name=spec.name, storage=storage, sampler=sampler,
                                    directions=spec.directions, load_if_exists=True)
        if study.user_attrs.get("dse_objectives") != [objective_column(o) for o in spec.objectives]:
            study.set_user_attr("dse_objectives", [objective_column(o) for o in spec.objectives])
        # Trials left RUNNING by a crash would distort NSGA-II generations and TPE's liar: fail them,
        # but not the in-flight trials of a live concurrent driver sharing the storage.
        live = _live_driver_trials(study)
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if not live(t):
                study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        sync_storage(study)
    return study


#: Study system attribute per driver: {host, pid, pstart, heartbeat, trials, asking_since}.
DRIVER_ATTR_PREFIX = "dse_driver:"
#: A driver on another host is live while its heartbeat (one per batch) is younger than this.
HEARTBEAT_GRACE_S = 600.0


def _process_start(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _pid_alive(pid, pstart) -> bool:
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False  # runs in one process are sequential: an earlier one is not in flight
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    now = _process_start(pid)
    return pstart is None or now is None or now == pstart


def _live_driver_trials(study):
    """Predicate: is this RUNNING trial in flight in a live driver (same host: its process exists;
    other hosts: heartbeat younger than :data:`HEARTBEAT_GRACE_S`)?"""
    import socket

    try:
        attrs = study._storage.get_study_system_attrs(study._study_id)
    except Exception:  # noqa: BLE001 - an older or foreign storage: no driver records
        return lambda t: False
    host, now = socket.gethostname(), time.time()
    numbers: set[int] = set()
    asking: list[float] = []
    for key, rec in attrs.items():
        if not key.startswith(DRIVER_ATTR_PREFIX) or not isinstance(rec, dict):
            continue
        if rec.get("host") == host:
            alive = _pid_alive(rec.get("pid"), rec.get("pstart"))
        else:
            alive = now - float(rec.get("heartbeat") or 0) < HEARTBEAT_GRACE_S
        if alive:
            numbers.update(n for n in rec.get("trials") or [] if isinstance(n, int))
            if rec.get("asking_since"):
                asking.append(float(rec["asking_since"]) - 1.0)
    since = min(asking) if asking else None

    def live(t) -> bool:
        if t.number in numbers:
            return True
        return since is not None and t.datetime_start is not None and t.datetime_start.timestamp() >= since

    return live


class _DriverRecord:
    """This driver's in-flight trials, one small study attribute write per batch step."""

    def __init__(self, study):
        import socket

        self.study = study
        self.key = f"{DRIVER_ATTR_PREFIX}{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
        self.base = {"host": socket.gethostname(), "pid": os.getpid(), "pstart": _process_start(os.getpid())}

    def write(self, trials: list[int], asking: bool) -> None:
        now = time.time()
        self.study._storage.set_study_system_attr(self.study._study_id, self.key, {
            **self.base, "heartbeat": now, "trials": trials, "asking_since": now if asking else None})


def run_study(spec: StudySpec, results_root: Path | str = "results", storage_url: str | None = None,
              executor: str | None = None, ray_address: str | None = None, fresh: bool = False,
              progress: bool = True, executor_obj=None) -> RunResult:
    """Run (or resume) a study until it has ``spec.trials`` complete trials."""
    if spec.sampler == "exhaustive":
        from dse.search.exhaustive import run_exhaustive

        return run_exhaustive(spec, results_root, executor, ray_address, progress)
    start = time.perf_counter()
    out_dir = spec.results_dir(results_root)
    # The executor first: a bad --ray-address fails before any results folder or storage exists.
    ex = executor_obj or make_executor(executor or spec.executor, ray_address or spec.ray_address, spec.workers)
    study = open_study(spec, out_dir, storage_url, fresh)
    where = describe_storage(spec, out_dir, storage_url)
    write_study_copy(spec, out_dir)
    dists = distributions(spec)
    objective_cols = [objective_column(o) for o in spec.objectives]
    # A non-finite objective (e.g. a zero bandwidth override) ranks last, never best.
    worst = [-1e300 if o.direction == "maximize" else 1e300 for o in spec.objectives]
    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    bar = _Progress(spec, done, progress)
    evaluated = 0
    record = _DriverRecord(study)
    try:
        while done < spec.trials:
            k = min(spec.population, spec.trials - done)
            with storage_errors(where, "cannot write to"):
                record.write([], asking=True)
                trials = [study.ask(dists) for _ in range(k)]
                record.write([t.number for t in trials], asking=False)
            columns, workloads = decode(spec, [t.params for t in trials])
            metrics = ex.evaluate(columns, spec.node_nm, spec.technology, workloads)
            cons = constraint_values(spec, metrics)
            values = np.column_stack([metrics[c] for c in objective_cols])
            feasible = np.all(np.column_stack(list(cons.values())) <= 0, axis=1) if cons else np.ones(k, bool)
            keys = list(metrics)
            with storage_errors(where, "cannot write to"):
                for i, trial in enumerate(trials):
                    for name, arr in cons.items():
                        trial.set_constraint(name, _finite(arr[i], 1e12))
                    trial.set_user_attr("metrics", {key: _finite(metrics[key][i], 0.0) for key in keys})
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
    return RunResult(spec, out_dir, study, evaluated, time.perf_counter() - start,
                     getattr(ex, "last_choice", ex.name), nodes_used=len(getattr(ex, "nodes_used", ())))


def write_study_copy(spec: StudySpec, out_dir: Path) -> None:
    """Keep the study file beside its results (what produced them)."""
    try:
        if spec.source_text:
            (out_dir / "study.toml").write_text(spec.source_text)
        elif spec.source_path and spec.source_path.exists():
            shutil.copyfile(spec.source_path, out_dir / "study.toml")
    except OSError as err:
        raise UserError(f"results: cannot write {out_dir / 'study.toml'} ({err.strerror or err})") from None


def study_summary_objectives(spec: StudySpec) -> list[dict]:
    return [{"key": objective_column(o), "direction": o.direction, "unit": OBJECTIVES[o.metric][1],
             "label": o.label} for o in spec.objectives]


__all__ = ["run_study", "open_study", "storage_errors", "describe_storage", "repair_journal_tail", "RunResult", "objective_column", "constraint_values", "decode",
           "distributions", "storage_for"]
