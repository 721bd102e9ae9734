"""Records of the drivers working on one study, so that a resume fails only dead drivers' trials.

Several `dse run` processes may share a study (a journal on a shared filesystem, PostgreSQL). Each
writes a study system attribute with its host, pid, process start time, heartbeat and in-flight
trials; on resume, RUNNING trials of a live driver are spared and those of dead ones are failed.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

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


def _records(study) -> dict[str, dict]:
    try:
        attrs = study._storage.get_study_system_attrs(study._study_id)
    except Exception:  # noqa: BLE001 - an older or foreign storage: no driver records
        return {}
    return {k: r for k, r in attrs.items() if k.startswith(DRIVER_ATTR_PREFIX) and isinstance(r, dict)}


def live_drivers(study, exclude_key: str | None = None) -> list[dict]:
    """Records of the drivers still working on ``study`` (same host: their process exists; other
    hosts: heartbeat younger than :data:`HEARTBEAT_GRACE_S`), this process's excluded."""
    host, now = socket.gethostname(), time.time()
    out = []
    for key, rec in _records(study).items():
        if key == exclude_key:
            continue
        if rec.get("host") == host:
            alive = _pid_alive(rec.get("pid"), rec.get("pstart"))
        else:
            alive = now - float(rec.get("heartbeat") or 0) < HEARTBEAT_GRACE_S
        if alive:
            out.append(rec)
    return out


def describe_drivers(records: list[dict]) -> str:
    """``host H pid P`` for each record, for messages naming who holds a study."""
    return ", ".join(f"host {r.get('host', '?')} pid {r.get('pid', '?')}" for r in records) or "another process"


def live_driver_trials(study):
    """Predicate: is this RUNNING trial in flight in a live driver?"""
    numbers: set[int] = set()
    asking: list[float] = []
    for rec in live_drivers(study):
        numbers.update(n for n in rec.get("trials") or [] if isinstance(n, int))
        if rec.get("asking_since"):
            asking.append(float(rec["asking_since"]) - 1.0)
    since = min(asking) if asking else None

    def live(t) -> bool:
        if t.number in numbers:
            return True
        return since is not None and t.datetime_start is not None and t.datetime_start.timestamp() >= since

    return live


class DriverRecord:
    """This driver's in-flight trials, one small study attribute write per batch step."""

    def __init__(self, study):
        self.study = study
        self.key = f"{DRIVER_ATTR_PREFIX}{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
        self.base = {"host": socket.gethostname(), "pid": os.getpid(), "pstart": _process_start(os.getpid())}

    def write(self, trials: list[int], asking: bool) -> None:
        now = time.time()
        self.study._storage.set_study_system_attr(self.study._study_id, self.key, {
            **self.base, "heartbeat": now, "trials": trials, "asking_since": now if asking else None})
