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
import re
import stat
import time
import weakref
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


#: An Optuna journal's records are JSON objects whose first key is ``op_code`` (Optuna writes
#: ``{"op_code": 0, ...``; dse's batch writer ``{"op_code":0,...``).
_JOURNAL_HEAD = re.compile(rb'\A\{\s*"op_code"\s*:')
#: The 16-byte header of every SQLite 3 database file (sqlite.org/fileformat.html, 1.3).
_SQLITE_HEAD = b"SQLite format 3\x00"


def _existing_kind(path: Path, field: str) -> tuple[int, bytes] | None:
    """(size, first bytes) of an existing storage file, None when there is none. Anything but a
    regular file (a folder, a FIFO, a device) is refused without opening it."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise UserError(f"{field}: cannot use {path} ({err.strerror or err})") from None
    if not stat.S_ISREG(st.st_mode):
        what = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise UserError(f"{field}: {path} is {what}; name a journal file (dse creates it)")
    if st.st_size == 0:
        return 0, b""
    try:
        with open(path, "rb") as fh:
            return st.st_size, fh.read(64)
    except OSError as err:
        raise UserError(f"{field}: cannot read {path} ({err.strerror or err})") from None


def check_journal_file(path: Path, field: str) -> None:
    """Refuse to open ``path`` as a journal unless it is missing or already an Optuna journal.

    dse repairs a torn journal tail and appends records: done to any other file, that would damage
    it, so the format is recognised first. An empty file is taken only under a ``.journal`` name
    (a run stopped before its first record leaves one)."""
    found = _existing_kind(path, field)
    if found is None:
        return
    size, head = found
    if size == 0 and path.suffix == ".journal":
        return
    if size == 0 or not _JOURNAL_HEAD.match(head):
        raise UserError(f"{field}: {path} exists and is not an Optuna journal file; dse leaves it "
                        "untouched: name a new file (e.g. results/NAME/study.journal) or an existing journal")


def check_sqlite_file(path: Path, field: str) -> None:
    """Refuse an existing non-empty file that is not an SQLite database (never written to)."""
    found = _existing_kind(path, field)
    if found is None or found[0] == 0:
        return
    if not found[1].startswith(_SQLITE_HEAD):
        raise UserError(f"{field}: {path} exists and is not an SQLite database; dse leaves it "
                        "untouched: name a new file or an existing database")


class _LockFile:
    """One open descriptor of a ``.run.lock`` file per process (flock locks belong to the open
    file, so runs of one process share it instead of blocking one another)."""

    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)

    def __del__(self):
        try:
            os.close(self.fd)  # closing drops the flock
        except (OSError, AttributeError):
            pass


_LOCK_FILES: "weakref.WeakValueDictionary[str, _LockFile]" = weakref.WeakValueDictionary()


class RunLock:
    """Who may delete a file-backed study: a ``flock`` on ``STORAGE.run.lock``.

    Every driver holds it shared for its whole run; ``--fresh`` needs it exclusive (without
    waiting) to delete the study, then holds it shared like any driver. So a study in use is never
    deleted under a running driver, and the lock goes with the process (no stale lock after a
    SIGKILL). Handles of one process share one descriptor (see :class:`_LockFile`)."""

    def __init__(self, storage_path: Path):
        self.path = Path(str(storage_path) + ".run.lock")
        key = str(self.path.resolve())
        lock_file = _LOCK_FILES.get(key)
        if lock_file is None:
            lock_file = _LockFile(self.path)
            _LOCK_FILES[key] = lock_file
        self._file = lock_file

    def shared(self, wait_s: float = 60.0) -> None:
        """Take the lock shared; waits (bounded) while a ``--fresh`` run is deleting the study."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(self._file.fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise UserError(f"storage: {self.path} stays locked by a `dse run --fresh`; "
                                    "wait for it, then rerun") from None
                time.sleep(0.05)

    def try_exclusive(self) -> bool:
        """Take the lock exclusive if no other process holds it (never waits)."""
        try:
            fcntl.flock(self._file.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def downgrade(self) -> None:
        """Exclusive -> shared, once ``--fresh`` has deleted the old study and made the new one."""
        fcntl.flock(self._file.fd, fcntl.LOCK_SH)


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

        def __init__(self, file_path: str, lock_obj=None):
            super().__init__(file_path, lock_obj=lock_obj)
            # Held open so that its inode number cannot be reused by a file made in its place.
            self._keep_fd = os.open(file_path, os.O_RDONLY)
            self._inode = os.fstat(self._keep_fd).st_ino

        def __del__(self):
            try:
                os.close(self._keep_fd)
            except (OSError, AttributeError):
                pass

        def append_logs(self, logs):
            from optuna.storages.journal._file import get_lock_file

            data = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode("utf-8")
            with get_lock_file(self._lock):
                # Opened without O_CREAT and checked by inode: records are never written into a
                # journal that replaced this run's (deleted and created anew by another process).
                try:
                    fd = os.open(self._file_path, os.O_WRONLY | os.O_APPEND)
                except FileNotFoundError:
                    raise UserError(f"storage: {self._file_path} was deleted while this run used it; "
                                    "stopped without writing (rerun to start a new study)") from None
                with os.fdopen(fd, "ab") as f:
                    if os.fstat(f.fileno()).st_ino != self._inode:
                        raise UserError(f"storage: {self._file_path} was replaced by another process "
                                        "while this run used it; stopped without writing to it")
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


def storage_file(spec: StudySpec, out_dir: Path, url: str | None = None) -> Path | None:
    """The local file behind a journal or SQLite storage (None for database servers)."""
    url = url or spec.storage_url
    if not url:
        return out_dir / JOURNAL_NAME
    if url.startswith("sqlite:///"):
        db = url.removeprefix("sqlite:///")
        return None if db in ("", ":memory:") else Path(db)
    if url.endswith(".journal") or url.startswith("journal:"):
        return Path(url.removeprefix("journal:"))
    return None


def check_storage_path(spec: StudySpec, out_dir: Path, url: str | None = None) -> None:
    """Refuse, before anything is created beside it, a storage file that exists in another format."""
    path = storage_file(spec, out_dir, url)
    if path is None:
        return
    field = "storage" if not (url or spec.storage_url) else (
        "--storage" if url and url != spec.storage_url else "storage.url")
    if (url or spec.storage_url or "").startswith("sqlite:///"):
        check_sqlite_file(path, field)
    else:
        check_journal_file(path, field)


def storage_for(spec: StudySpec, out_dir: Path, url: str | None = None, create: bool = True):
    """The Optuna storage: a journal file in ``out_dir`` by default, or any storage URL.

    An existing file is recognised before anything touches it: a path onto a file that is not a
    journal (or not an SQLite database) is refused. ``create=False`` (reports) opens only a
    storage that exists."""
    url = url or spec.storage_url
    field = "--storage" if url and url != spec.storage_url else "storage.url"
    if not url:
        path = out_dir / JOURNAL_NAME
        check_journal_file(path, "storage")
        _require(path, create, "storage")
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
        if str(db) not in ("", ":memory:"):
            if not db.parent.is_dir():
                raise UserError(f"{field}: cannot open {url} (folder {db.parent} does not exist)")
            check_sqlite_file(db, field)
            _require(db, create, field)
        try:
            timeout = float(os.environ.get("DSE_SQLITE_BUSY_TIMEOUT_S", SQLITE_BUSY_TIMEOUT_S))
        except ValueError:
            raise UserError("DSE_SQLITE_BUSY_TIMEOUT_S: expected a number of seconds, got "
                            f"{os.environ['DSE_SQLITE_BUSY_TIMEOUT_S']!r}") from None
        try:
            import sqlalchemy

            storage = _create_rdb(lambda: RDBStorage(url, engine_kwargs={"connect_args": {"timeout": timeout}}),
                                  None if str(db) in ("", ":memory:") else db)
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
            return _create_rdb(lambda: RDBStorage(url, heartbeat_interval=None), None)
        except Exception as err:
            raise UserError(f"{field}: cannot connect to {describe_storage(spec, out_dir, url)} "
                            f"({_root_message(err)})") from None
    if url.endswith(".journal") or url.startswith("journal:"):
        path = Path(url.removeprefix("journal:"))
        if not path.parent.is_dir():
            raise UserError(f"{field}: cannot open journal file {path} (folder {path.parent} does not exist)")
        check_journal_file(path, field)
        _require(path, create, field)
        with storage_errors(str(path), "cannot open journal file"):
            return _journal(path)
    raise UserError(f"{field}: {url!r} is not a journal file path (*.journal), sqlite:///, "
                    "postgresql:// or mysql:// URL")


#: How often a database whose schema another driver is creating at the same moment is retried.
SCHEMA_RACE_RETRIES = 5


def _create_rdb(make, db_file: Path | None):
    """An RDBStorage, whose first use creates the schema. Two drivers starting together on a new
    database race to create it (one fails on a duplicate ``alembic_version`` row or table): an
    SQLite file is serialised by a lock beside it; a server is retried once the other has won."""
    for attempt in range(SCHEMA_RACE_RETRIES):
        try:
            if db_file is None:
                return make()
            fd = os.open(str(db_file) + ".init.lock", os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                return make()
            finally:
                os.close(fd)
        except Exception as err:  # noqa: BLE001 - SQLAlchemy raises many types
            text = _root_message(err).lower()
            race = "alembic_version" in text or "already exists" in text or "unique constraint" in text
            if not race or attempt == SCHEMA_RACE_RETRIES - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def _require(path: Path, create: bool, field: str) -> None:
    if not create and not path.exists():
        raise UserError(f"{field}: {path} does not exist (run the study first: `dse run STUDY.toml`)")


@contextmanager
def corrupt_storage(where: str):
    """A journal that does not parse (edited by hand, or a line lost in the middle) is one line."""
    try:
        yield
    except UserError:
        raise
    except json.JSONDecodeError as err:
        raise UserError(f"storage: cannot read {where} (corrupted: {str(err).splitlines()[0]}); "
                        "move it away to keep it, or run with --fresh to start over") from None
    except ValueError as err:
        text = (str(err).splitlines() or [type(err).__name__])[0]
        if "log format" in text.lower():  # Optuna's journal reader: a record of the wrong shape
            raise UserError(f"storage: cannot read {where} (corrupted: {text}); "
                            "move it away to keep it, or run with --fresh to start over") from None
        # Anything else is not corruption: never advise deleting the study for it.
        raise UserError(f"storage: cannot use {where} ({text})") from None


def make_results_dir(out_dir: Path) -> None:
    """Create ``out_dir``; a read-only place or a file in the way is one UserError line."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"results: cannot create folder {out_dir} (a file of that name is in the way)") from None
    except OSError as err:
        raise UserError(f"results: cannot create folder {out_dir} ({err.strerror or err}); "
                        "choose another --results folder") from None
