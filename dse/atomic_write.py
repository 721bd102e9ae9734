"""Writing a result file atomically: readers see the old version or the new one, never a mix.

A result file (``trials.csv``, ``summary.json``, ``report.html``, figures...) is written to a
temporary file in the same folder, flushed to disk (``fsync``) and renamed over the target with
``os.replace``, which POSIX makes atomic within one file system. A process killed mid-write
(SIGKILL, power loss after the rename's directory is synced) leaves the previous version intact
plus, at worst, a hidden temporary file ``.NAME.tmp-PID-XXXXXXXX.EXT`` that a later write of the
same file removes once it is :data:`STALE_TEMP_S` old.

The temporary file keeps the target's extension so that writers that pick a format from the
file name (matplotlib's ``savefig``) write the right one. This module imports nothing from the
dse layers.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

#: A temporary file this old (seconds since its last write) belongs to a writer that died.
STALE_TEMP_S = 3600.0


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")


def _fsync_path(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a folder; the rename is still atomic
        pass
    finally:
        os.close(fd)


def _remove_stale_temps(path: Path) -> None:
    now = time.time()
    for old in path.parent.glob(f".{path.stem}.tmp-*{path.suffix}"):
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > STALE_TEMP_S:
                old.unlink()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; write the file there. On a normal exit the file is
    synced and renamed over ``path``; on an exception it is removed and ``path`` is untouched.

    ``with atomic_path(out / "trials.parquet") as tmp: frame.to_parquet(tmp)``
    """
    path = Path(path)
    tmp = _temp_name(path)
    # Created here (mode 0666 less the umask, as a plain open would) so that the cleanup below
    # owns it even if the writer fails before creating it.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        _fsync_path(tmp, os.O_RDONLY)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_path(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    _remove_stale_temps(path)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """``Path(path).write_bytes(data)``, atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    """``Path(path).write_text(text)`` in UTF-8, atomically (see :func:`atomic_path`)."""
    write_bytes_atomic(path, text.encode("utf-8"))
