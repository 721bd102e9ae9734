"""What defines a study, recorded in its storage so that a resume cannot merge two studies.

Two study files with the same ``name`` (or one file edited between runs) share a storage. Their
trials must not be mixed: a front of 16 nm and 7 nm designs, or of two spaces, answers no question.
The fingerprint holds, per part, a canonical text of what the results depend on: workloads (and
their batches), process node, space (searched domains and fixed values other than defaults),
budgets, objectives and technology overrides. The number of trials, the sampler, its seed and where
the study runs are not part of it: changing them resumes the same study.
"""

from __future__ import annotations

import json
from typing import Any

from dse.errors import UserError
from dse.hardware import space as hwspace
from dse.search.spec import StudySpec

#: Study system attribute holding the fingerprint (a dict: part -> canonical JSON text).
FINGERPRINT_ATTR = "dse_fingerprint"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr, separators=(",", ":"))


def study_fingerprint(spec: StudySpec) -> dict[str, str]:
    """The parts of ``spec`` that define its results, each as canonical JSON text."""
    fixed = {}
    for name, value in spec.fixed.items():
        if value != hwspace.get_parameter(name).default:  # a new parameter's default changes nothing
            fixed[name] = value
    return {
        "workloads": _canonical([[w.label, w.batch, repr(w.batch_domain)] for w in spec.workloads]),
        "node_nm": _canonical(spec.node_nm),
        "space": _canonical({"searched": {k: repr(v) for k, v in spec.searched.items()}, "fixed": fixed}),
        "budgets": _canonical({"area_mm2": spec.area_mm2, "power_w": spec.power_w, "latency_s": spec.latency_s,
                               "min_throughput_ips": spec.min_throughput_ips}),
        "objectives": _canonical([[o.metric, o.workload] for o in spec.objectives]),
        "technology": _canonical(spec.technology),
    }


def _show(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_fingerprint(spec: StudySpec, stored: dict | None, where: str) -> bool:
    """Compare a stored fingerprint with ``spec``'s; returns True when one must be recorded (none
    stored yet). A mismatch is one :class:`UserError` line naming what changed."""
    if not isinstance(stored, dict):
        return True
    now = study_fingerprint(spec)
    changed = [part for part in now if stored.get(part) != now[part]]
    if not changed:
        return False
    detail = "; ".join(f"{part}: {_show(str(stored.get(part)))} -> {_show(now[part])}"
                       if part in ("node_nm", "objectives", "technology") else f"{part} changed"
                       for part in changed)
    raise UserError(f"study {spec.name}: {where} holds a different study ({detail}); to keep both, "
                    f"give this study another `name`; to replace the stored one, rerun with --fresh")
