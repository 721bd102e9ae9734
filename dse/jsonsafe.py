"""JSON that every parser reads: non-finite numbers become ``null``, never ``NaN`` or ``Infinity``.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which strict parsers (browsers'
``JSON.parse``, jq, most languages) reject. Every JSON dse prints or writes goes through here.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (numpy scalars included) replaced by ``None``."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if hasattr(value, "item") and callable(value.item):  # numpy scalar -> Python scalar
        try:
            value = value.item()
        except (TypeError, ValueError):
            return value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(value: Any, **kwargs) -> str:
    """``json.dumps`` of :func:`finite` ``(value)``; raises if anything non-finite slipped through."""
    return json.dumps(finite(value), allow_nan=False, **kwargs)
