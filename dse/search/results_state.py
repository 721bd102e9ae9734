"""What a results folder was written from, so that nothing is redone when nothing changed.

``summary.json`` records the study's storage (:func:`storage_key`) and a fingerprint of it
(:func:`storage_state`: size and modification time of the journal or SQLite files) at the moment
the tables were written. From these:

* :func:`finished_unchanged`: a second ``dse run`` of a finished study whose storage and study
  file did not change returns the recorded summary without opening (replaying) the storage;
* :func:`tables_current`: the report reads ``trials.parquet`` instead of replaying the journal;
* :func:`check_folder_storage`: a run on another storage refuses to overwrite the folder's tables.

Databases on servers (PostgreSQL, MySQL) have no cheap fingerprint: they always take the full path.
Only the standard library is imported here (the fast path must start fast).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from dse.atomic_write import write_text_atomic
from dse.errors import UserError
from dse.search.results_files import JOURNAL_NAME, PARETO_CSV, STUDY_COPY, SUMMARY_JSON, TRIALS_PARQUET
from dse.user_files import MAX_SUMMARY_BYTES, read_user_text

SUMMARY_NAME = SUMMARY_JSON
STUDY_COPY_NAME = STUDY_COPY
TABLES = (TRIALS_PARQUET, PARETO_CSV)
FOLDER_JOURNAL = "study.journal (in the results folder)"


def storage_key(url: str | None, out_dir: Path) -> str:
    """The storage as recorded in summary.json: the folder's own journal, or the URL with file
    paths made absolute and any password removed."""
    if not url:
        return FOLDER_JOURNAL
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        return "sqlite:///" + (str(Path(path).resolve()) if path not in ("", ":memory:") else path)
    if url.endswith(".journal") or url.startswith("journal:"):
        journal = Path(url.removeprefix("journal:")).resolve()
        if journal == (Path(out_dir) / JOURNAL_NAME).resolve():
            return FOLDER_JOURNAL
        return str(journal)
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://{rest.rsplit('@', 1)[-1]}"
    return url


def _storage_files(url: str | None, out_dir: Path) -> list[Path] | None:
    if not url:
        return [Path(out_dir) / JOURNAL_NAME]
    if url.startswith("sqlite:///"):
        db = url.removeprefix("sqlite:///")
        if db in ("", ":memory:"):
            return None
        return [Path(db), Path(db + "-wal")]
    if url.endswith(".journal") or url.startswith("journal:"):
        return [Path(url.removeprefix("journal:"))]
    return None


def storage_state(url: str | None, out_dir: Path) -> list | None:
    """Size and modification time (ns) of each file of a file-based storage; None for servers or
    when the storage file does not exist."""
    files = _storage_files(url, out_dir)
    if files is None:
        return None
    state: list[list] = []
    for f in files:
        try:
            st = f.stat()
        except FileNotFoundError:
            if f is files[0]:
                return None
            state.append([f.name, None, None])
            continue
        except OSError:
            return None
        state.append([f.name, st.st_size, st.st_mtime_ns])
    return state


def read_summary(out_dir: Path) -> dict | None:
    """summary.json as a dict, or None when absent or unreadable (the slow path then decides)."""
    try:
        data = json.loads(read_user_text(Path(out_dir) / SUMMARY_NAME, what="summary file",
                                         max_bytes=MAX_SUMMARY_BYTES))
    except (UserError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def recorded_state(url: str | None, out_dir: Path) -> dict:
    """Entries for summary.json after the tables are written: ``storage`` and ``storage_state``."""
    return {"storage": storage_key(url, out_dir), "storage_state": storage_state(url, out_dir)}


def tables_current(summary: dict | None, url: str | None, out_dir: Path) -> bool:
    """True when the tables beside summary.json were written from the storage as it is now."""
    if not summary or summary.get("storage") != storage_key(url, out_dir):
        return False
    state = summary.get("storage_state")
    if state is None or state != storage_state(url, out_dir):
        return False
    return all((Path(out_dir) / t).exists() for t in TABLES)


def check_folder_storage(out_dir: Path, url: str | None) -> None:
    """Refuse a run whose storage differs from the one whose tables the folder holds."""
    summary = read_summary(out_dir)
    if not summary or "storage" not in summary:
        return
    old, new = summary["storage"], storage_key(url, out_dir)
    if old != new:
        raise UserError(f"results: {out_dir} holds the tables of the study in {old}; this run uses {new}. "
                        "Choose another --results folder to keep both, or delete the folder's summary.json "
                        "to let this run replace them")


def finished_unchanged(out_dir: Path, url: str | None, trials: int, study_text: str,
                       count_key: str = "trials_complete") -> dict | None:
    """The recorded summary when the folder already holds this study finished (its ``count_key``,
    complete trials or a vectorized search's ``designs_evaluated``, at least ``trials``, or the
    whole space evaluated), written from the storage as it is now and from the same study file;
    else None."""
    summary = read_summary(out_dir)
    if not summary or not tables_current(summary, url, out_dir):
        return None
    if int(summary.get(count_key, -1)) < trials and not summary.get("space_exhausted"):
        return None
    try:
        if (Path(out_dir) / STUDY_COPY_NAME).read_text() != study_text:
            return None
    except (OSError, UnicodeDecodeError):
        return None
    return summary


def code_fingerprint() -> str:
    """SHA-1 over the dse package's source and data files: a report built by other code is stale."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha1()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith((".py", ".csv", ".toml")):
                path = Path(dirpath) / name
                h.update(str(path.relative_to(root)).encode())
                h.update(path.read_bytes())
    return h.hexdigest()


def write_summary(out_dir: Path, summary: dict) -> None:
    """Replace summary.json atomically (a reader never sees half a file)."""
    write_text_atomic(Path(out_dir) / SUMMARY_NAME, json.dumps(summary, indent=2) + "\n")
