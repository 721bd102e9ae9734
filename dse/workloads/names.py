"""How workloads are named, in one place: ``NAME``, ``NAME@WIDTHxHEIGHT`` or ``FILE.onnx[@WxH]``.

Shared by the built-in registry and the ONNX importer (the same side limits and resolution syntax
everywhere; the ``x`` may be written in any case, ``1920X1088``).
"""

from __future__ import annotations

import re

from dse.errors import UserError

#: Smallest and largest input side accepted for any network (pixels).
MIN_SIDE_PX = 32
MAX_SIDE_PX = 8192

#: ``NAME`` or ``NAME@RESOLUTION`` of a built-in network.
NAME_RE = re.compile(r"^(?P<name>[A-Za-z0-9_]+)(?:@(?P<res>.*))?$")
#: ``WIDTHxHEIGHT`` in pixels.
RESOLUTION_RE = re.compile(r"^(?P<w>\d+)[xX](?P<h>\d+)$")


def parse_resolution(text: str, field: str = "resolution") -> tuple[int, int]:
    """``"1920x1088"`` (or ``1920X1088``) -> (1920, 1088) (width, height in pixels)."""
    m = RESOLUTION_RE.match(str(text).strip())
    if not m:
        raise UserError(f"{field}: {text!r} is not WIDTHxHEIGHT with positive whole pixels (e.g. 1920x1088)")
    return int(m["w"]), int(m["h"])


def is_onnx_workload(text: str) -> bool:
    """``FILE.onnx`` or ``FILE.onnx@WIDTHxHEIGHT`` (an imported network)."""
    base = str(text).strip().rpartition("@")[0] or str(text).strip()
    return base.lower().endswith(".onnx")
