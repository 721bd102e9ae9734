"""Best values among designs: feasibility from constraint values, the best value per objective,
running minima. Pure numpy; used by the study loop, the exhaustive sweep, the tables and the report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dse.model.metrics import MAXIMIZE


def feasible_mask(constraints: dict[str, np.ndarray], n: int) -> np.ndarray:
    """bool (n,): every constraint value <= 0 (NaN counts as violated)."""
    ok = np.ones(n, dtype=bool)
    for values in constraints.values():
        ok &= np.asarray(values) <= 0
    return ok


def best_per_objective(values: np.ndarray, feasible: np.ndarray, directions: Sequence[str]
                       ) -> list[tuple[float, int] | None]:
    """Per objective column j of ``values`` (D, K): (best value, row index) among the feasible
    rows with a finite value, or None when there is none."""
    out: list[tuple[float, int] | None] = []
    for j, direction in enumerate(directions):
        rows = np.flatnonzero(feasible & np.isfinite(values[:, j]))
        if not len(rows):
            out.append(None)
            continue
        col = values[rows, j]
        k = int(np.argmax(col) if direction == MAXIMIZE else np.argmin(col))
        out.append((float(col[k]), int(rows[k])))
    return out


#: Magnitude of the finite stand-in told to Optuna for a non-finite objective value.
WORST_VALUE = 1e300


def worst_values(directions: Sequence[str]) -> list[float]:
    """Per objective, a finite value worse than any real one: a non-finite objective (e.g. a zero
    bandwidth override) ranks last, never best."""
    return [-WORST_VALUE if d == MAXIMIZE else WORST_VALUE for d in directions]


def better(a: float, b: float | None, direction: str) -> bool:
    """Is ``a`` better than ``b`` (None: nothing yet) in ``direction``?"""
    return b is None or (a > b if direction == MAXIMIZE else a < b)


def smallest_seen(metrics: dict, columns: list[str], seen: dict[str, float] | None = None) -> dict[str, float]:
    """Running minimum of each column over finite values (what to report when no design is
    feasible: how far the budgets are from what the space offers)."""
    out = dict(seen or {})
    for col in columns:
        values = np.asarray(metrics[col], dtype=float)
        values = values[np.isfinite(values)]
        if len(values):
            out[col] = min(float(values.min()), out.get(col, np.inf))
    return out


__all__ = ["feasible_mask", "best_per_objective", "better", "smallest_seen", "worst_values", "WORST_VALUE"]
