"""Is the report in a results folder current? (Standard library only: ``dse run`` and ``dse report``
ask this before importing pandas or matplotlib.)

``summary.json`` records under ``report`` what the report was built from: the storage and its
fingerprint, the study file copy and a fingerprint of the dse code. A report is current when all
of these are as they are now and report.html and report.md exist.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from dse.search import results_state as rs

REPORT_FILES = ("report.html", "report.md")


def built_from(url: str | None, out_dir: Path) -> dict | None:
    """What a report built now would be built from (None: cannot tell, always rebuild)."""
    state = rs.storage_state(url, out_dir)
    if state is None:
        return None
    try:
        study = hashlib.sha1((Path(out_dir) / rs.STUDY_COPY_NAME).read_bytes()).hexdigest()
    except OSError:
        study = None
    return {"storage": rs.storage_key(url, out_dir), "storage_state": state, "code": rs.code_fingerprint(),
            "study_toml_sha1": study}


def report_current(results_dir: str | Path, storage_url: str | None = None) -> bool:
    """True when report.html/report.md exist and were built from the storage, study file and code as
    they are now (recorded in summary.json by :func:`build_report`)."""
    out_dir = Path(results_dir)
    summary = rs.read_summary(out_dir)
    if not summary or "report" not in summary or not all((out_dir / f).exists() for f in REPORT_FILES):
        return False
    url = storage_url or recorded_url(summary)
    now = built_from(url, out_dir)
    return now is not None and summary["report"] == now


def recorded_url(summary: dict) -> str | None:
    rec = summary.get("storage")
    if rec and rec != rs.FOLDER_JOURNAL and (rec.startswith("sqlite:///") or rec.endswith(".journal")):
        return rec
    return None


