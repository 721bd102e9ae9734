"""Optuna storages for studies: a journal file by default, SQLite, PostgreSQL or MySQL by URL.

Only the search driver touches the storage. Every failure (a read-only or full disk, a locked
database, a corrupted journal) becomes one :class:`~dse.errors.UserError` line naming the storage.
The journal backend is made crash-friendly: a kernel lock (no stale lock after SIGKILL), records
flushed one by one but fsynced once per batch, and a torn last record cut on the next open.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

import optuna

from dse.errors import UserError
from dse.search.results_files import JOURNAL_NAME
from dse.search.spec import StudySpec


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
    if backend is not None and hasattr(backend, "sync"):
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
    while (inner := seen.__cause__ or seen.__context__) is not None:
        seen = inner
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

        # WAL and synchronous=NORMAL: +30-45% for batched ask/tell (measured, docs/architecture.md).
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


@contextmanager
def corrupt_storage(where: str):
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
