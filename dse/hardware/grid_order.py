"""The one order of every grid of designs: row-major over its axes, the last axis varying fastest.

:func:`dse.hardware.designs.grid` (the grid as one DesignBatch) and the exhaustive sweep (chunks of
flat indices, :mod:`dse.search.exhaustive`) both decode flat indices with :func:`axis_positions`,
so design ``i`` is the same design in both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def axis_positions(flat: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    """Positions along each axis of the flat indices ``flat`` (N,) of a grid with axis lengths
    ``sizes``: one (N,) int64 array per axis, ``flat = sum(pos[k] * prod(sizes[k+1:]))``."""
    flat = np.asarray(flat, dtype=np.int64)
    out, stride = [], math.prod(sizes)
    for n in sizes:
        stride //= n
        out.append((flat // stride) % n)
    return out
