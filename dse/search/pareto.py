"""Pareto fronts and hypervolumes of objective arrays (numpy, no Optuna objects).

* :func:`pareto_mask`: the exact non-dominated set of N points in M objectives, vectorized; meant
  for exhaustive sweeps (N up to ~10^7, M = 2..4).
* :func:`hypervolume`: the hypervolume of a set of points after normalizing every objective to
  [0, 1] (0 = best), so that studies with objectives in W, mm^2 and inferences/s compare fairly.
  It wraps Optuna's private ``optuna._hypervolume.compute_hypervolume`` (Optuna 5 has no public
  hypervolume function): this module is the only place that imports it.

Conventions. ``values`` is an (N, M) float array in the objectives' own units; ``directions`` is a
sequence of M strings ``"minimize"``/``"maximize"`` (or Optuna ``StudyDirection``s). Point ``a``
dominates ``b`` when ``a`` is no worse in every objective and strictly better in one. Identical
points do not dominate each other: duplicates of a non-dominated point are all on the front.
Rows with a non-finite value (NaN, inf) are never on the front.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Candidates compared at once against the running front (memory: BLOCK x FRONT_BLOCK bools).
BLOCK = 2048
#: Front points compared at once; candidates dominated so far are dropped between sub-blocks.
FRONT_BLOCK = 256


def direction_signs(directions: Sequence, m: int) -> np.ndarray:
    """(M,) +1 for minimize, -1 for maximize."""
    if len(directions) != m:
        raise ValueError(f"{len(directions)} directions for {m} objectives")
    signs = []
    for d in directions:
        name = getattr(d, "name", d)
        name = str(name).lower()
        if name not in ("minimize", "maximize"):
            raise ValueError(f"direction {d!r} is not 'minimize' or 'maximize'")
        signs.append(1.0 if name == "minimize" else -1.0)
    return np.array(signs)


def to_minimization(values, directions) -> np.ndarray:
    """(N, M) float64 copy with maximized objectives negated (so every column is minimized)."""
    vals = np.asarray(values, dtype=np.float64)
    if vals.ndim != 2:
        raise ValueError(f"values must be (N, M), got shape {vals.shape}")
    return vals * direction_signs(directions, vals.shape[1])


def _weakly_dominated_by(front: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """bool (C,): candidate rows weakly dominated (<= in every column) by a row of ``front``.

    Compares in sub-blocks of the front and drops candidates already dominated, so the cost is
    close to (candidates surviving) x (front), not candidates x front.
    """
    n, m = cand.shape
    dominated = np.zeros(n, dtype=bool)
    alive = np.arange(n)
    for start in range(0, front.shape[0], FRONT_BLOCK):
        if alive.size == 0:
            break
        f = front[start:start + FRONT_BLOCK]
        c = cand[alive]
        le = f[:, None, 0] <= c[None, :, 0]
        for j in range(1, m):
            le &= f[:, None, j] <= c[None, :, j]
        hit = le.any(axis=0)
        dominated[alive[hit]] = True
        alive = alive[~hit]
    return dominated


def weakly_dominated_by(front, cand) -> np.ndarray:
    """bool (C,): rows of ``cand`` (C, M) that some row of ``front`` (F, M) is <= in every column
    (both in minimization form). Blocked: about (surviving candidates) x F comparisons."""
    front = np.asarray(front, dtype=np.float64)
    cand = np.asarray(cand, dtype=np.float64)
    if front.shape[0] == 0 or cand.shape[0] == 0:
        return np.zeros(cand.shape[0], dtype=bool)
    return _weakly_dominated_by(front, cand)


def _prefilter(v: np.ndarray, n_probes: int = 8) -> np.ndarray:
    """bool (N,): rows not strictly dominated by a few surely-optimal probes (cheap, exact).

    A minimizer of a positively weighted sum of the (rescaled) objectives is never dominated; any
    row it strictly dominates is off the front. This removes most rows of large sweeps in
    O(N x probes) before the sort.
    """
    n, m = v.shape
    lo, hi = v.min(axis=0), v.max(axis=0)
    scale = np.where(hi > lo, hi - lo, 1.0)
    rng = np.random.default_rng(12345)
    weights = np.vstack([np.full(m, 1.0 / m), np.eye(m) * 0.9 + 0.1 / m,
                         rng.dirichlet(np.ones(m), max(0, n_probes - m - 1))])
    weights = weights / scale  # weighted sums of the rescaled objectives
    chunk = 1 << 20
    best_val = np.full(weights.shape[0], np.inf)
    best_idx = np.zeros(weights.shape[0], dtype=np.int64)
    for start in range(0, n, chunk):
        sums = v[start:start + chunk] @ weights.T
        i = np.argmin(sums, axis=0)
        val = sums[i, np.arange(weights.shape[0])]
        better = val < best_val
        best_val[better], best_idx[better] = val[better], start + i[better]
    probes = np.unique(v[best_idx], axis=0)
    keep = np.ones(n, dtype=bool)
    for start in range(0, n, chunk):
        c = v[start:start + chunk]
        k = keep[start:start + chunk]
        for p in probes:
            ge = c[:, 0] >= p[0]
            gt = c[:, 0] > p[0]
            for j in range(1, m):
                ge &= c[:, j] >= p[j]
                gt |= c[:, j] > p[j]
            k &= ~(ge & gt)
    return keep


def _mask_sorted_unique(s: np.ndarray, block: int | None = None) -> np.ndarray:
    """Front of distinct, lexicographically sorted minimization rows (N, M >= 2).

    In that order a dominator always comes first, and a row is dominated exactly when an earlier
    row is <= in columns 1..M-1 (column 0 is already <=, and distinct rows differ somewhere).
    """
    n, m = s.shape
    block = block or BLOCK
    tail = s[:, 1:]
    if m == 2:  # earlier rows' running minimum of column 1
        prev_min = np.empty(n)
        prev_min[0] = np.inf
        np.minimum.accumulate(tail[:-1, 0], out=prev_min[1:])
        return tail[:, 0] < prev_min
    keep = np.zeros(n, dtype=bool)
    if m == 3:
        # Staircase of the earlier rows' (col1, col2): col1 ascending, col2 strictly descending.
        st1, st2 = np.empty(0), np.empty(0)
        for start in range(0, n, block):
            c = tail[start:start + block]
            idx = np.arange(c.shape[0])
            if st1.size:
                k = np.searchsorted(st1, c[:, 0], side="right") - 1
                ok = ~((k >= 0) & (st2[np.maximum(k, 0)] <= c[:, 1]))
                idx, c = idx[ok], c[ok]
            if c.shape[0] > 1:  # earlier rows of the same block
                le = (c[:, None, 0] <= c[None, :, 0]) & (c[:, None, 1] <= c[None, :, 1])
                le &= np.tri(c.shape[0], k=-1, dtype=bool).T  # row i earlier than column j
                ok = np.asarray(~le.any(axis=0))
                idx, c = idx[ok], c[ok]
            if idx.size:
                keep[start + idx] = True
                p1, p2 = np.concatenate([st1, c[:, 0]]), np.concatenate([st2, c[:, 1]])
                order = np.lexsort((p2, p1))
                p1, p2 = p1[order], p2[order]
                run = np.minimum.accumulate(p2)
                step = np.ones(p1.size, dtype=bool)
                step[1:] = run[1:] < run[:-1]
                st1, st2 = p1[step], run[step]
        return keep
    front = np.empty((0, m - 1))
    for start in range(0, n, block):
        c = tail[start:start + block]
        idx = np.arange(c.shape[0])
        if front.shape[0]:
            ok = ~_weakly_dominated_by(front, c)
            idx, c = idx[ok], c[ok]
        if c.shape[0] > 1:
            le = np.ones((c.shape[0], c.shape[0]), dtype=bool)
            for j in range(m - 1):
                le &= c[:, None, j] <= c[None, :, j]
            le &= np.tri(c.shape[0], k=-1, dtype=bool).T
            ok = np.asarray(~le.any(axis=0))
            idx, c = idx[ok], c[ok]
        if idx.size:
            keep[start + idx] = True
            front = np.concatenate([front, c])
    return keep


def _mask_finite(v: np.ndarray) -> np.ndarray:
    """Exact front of finite minimization rows (N, M >= 2), duplicates all kept."""
    n = v.shape[0]
    rows = np.arange(n)
    if n > 4 * BLOCK:
        rows = np.flatnonzero(_prefilter(v))
    w = v[rows]
    order = np.lexsort(tuple(w[:, j] for j in range(w.shape[1] - 1, -1, -1)))
    s = w[order]
    first = np.ones(s.shape[0], dtype=bool)  # first copy of each distinct row
    first[1:] = np.any(s[1:] != s[:-1], axis=1)
    group = np.cumsum(first) - 1
    on_front = _mask_sorted_unique(s[first])[group]
    mask = np.zeros(n, dtype=bool)
    mask[rows[order[on_front]]] = True
    return mask


def pareto_mask(values, directions) -> np.ndarray:
    """bool (N,): the exact non-dominated rows of ``values`` (N, M) under ``directions`` (M,).

    Duplicated non-dominated points are all kept; rows with NaN or inf are never kept.
    Method: a few weighted-sum minimizers (surely optimal) first discard the rows they dominate;
    the rest is de-duplicated and sorted lexicographically, so that only earlier rows can
    dominate a row. M = 2 is then a running minimum, M = 3 a staircase search per block of rows
    (O(N log N)-like), M >= 4 blocks of rows checked against the running front (about N x front
    size comparisons). Typical: 10^7 random rows with M = 3 in a few seconds.
    """
    v = to_minimization(values, directions)
    n, m = v.shape
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    rows = np.flatnonzero(np.all(np.isfinite(v), axis=1))
    if rows.size == 0:
        return mask
    w = v[rows]
    sub = (w[:, 0] == w[:, 0].min()) if m == 1 else _mask_finite(w)
    mask[rows[sub]] = True
    return mask


def normalize(values, directions, bounds) -> np.ndarray:
    """(N, M) values mapped to [0, 1] per objective with 0 = best, 1 = worst end of ``bounds``.

    ``bounds``: (M, 2) of (low, high) in the objectives' own units (low < high; for a maximized
    objective, ``high`` maps to 0). Values outside the bounds map outside [0, 1].
    """
    vals = np.asarray(values, dtype=np.float64)
    b = np.asarray(bounds, dtype=np.float64)
    if b.shape != (vals.shape[1], 2):
        raise ValueError(f"bounds must be (M, 2) = ({vals.shape[1]}, 2), got {b.shape}")
    span = b[:, 1] - b[:, 0]
    span = np.where(span > 0, span, 1.0)  # a constant objective: any positive scale works
    signs = direction_signs(directions, vals.shape[1])
    low_norm = (vals - b[:, 0]) / span
    return np.where(signs > 0, low_norm, 1.0 - low_norm)


def objective_bounds(values, directions=None) -> np.ndarray:
    """(M, 2) per-objective (min, max) over the finite rows of ``values`` (e.g. a reference front)."""
    vals = np.asarray(values, dtype=np.float64)
    vals = vals[np.all(np.isfinite(vals), axis=1)]
    if vals.size == 0:
        raise ValueError("no finite rows to take bounds from")
    return np.column_stack([vals.min(axis=0), vals.max(axis=0)])


def normalize_losses(losses, bounds=None) -> np.ndarray:
    """(N, M) losses (every column minimized) mapped to [0, 1] per column, 0 = best.

    ``bounds``: (M, 2) (low, high); default: the observed range of the finite rows.
    """
    losses = np.asarray(losses, dtype=np.float64)
    bounds = objective_bounds(losses) if bounds is None else bounds
    return normalize(losses, ["minimize"] * losses.shape[1], bounds)


def hypervolume(values, directions, ref_point=None, bounds=None) -> float:
    """Hypervolume dominated by ``values`` (N, M) after normalizing each objective to [0, 1].

    Args:
        values: objective values in their own units, (N, M); dominated rows are allowed.
        directions: M ``"minimize"``/``"maximize"``.
        ref_point: (M,) reference point in the *normalized* space (default 1.1 in every
            objective, i.e. 10% beyond the worst end of ``bounds``).
        bounds: (M, 2) (low, high) per objective in their own units (default: the min and max of
            ``values``). To compare fronts, pass the same bounds (e.g. a reference front's).
    Returns:
        The normalized hypervolume (a float; 1.1^M at most with the default reference point).
        Rows that do not strictly dominate the reference point (or are not finite) add nothing.
    """
    vals = np.asarray(values, dtype=np.float64)
    if vals.ndim != 2:
        raise ValueError(f"values must be (N, M), got shape {vals.shape}")
    m = vals.shape[1]
    vals = vals[np.all(np.isfinite(vals), axis=1)]
    if vals.shape[0] == 0:
        return 0.0
    if bounds is None:
        bounds = objective_bounds(vals)
    norm = normalize(vals, directions, bounds)
    ref = np.full(m, 1.1) if ref_point is None else np.asarray(ref_point, dtype=np.float64)
    if ref.shape != (m,):
        raise ValueError(f"ref_point must have {m} values, got shape {ref.shape}")
    return hypervolume_of_losses(norm, ref)


def hypervolume_of_losses(losses, ref) -> float:
    """Hypervolume dominated by (N, M) losses (every column minimized) up to ``ref`` (M,), in the
    losses' own units. Rows not strictly better than ``ref`` in every column add nothing."""
    from optuna._hypervolume import compute_hypervolume  # private in Optuna 5: wrapped only here

    losses = np.asarray(losses, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if losses.size == 0:
        return 0.0
    losses = losses[np.all(np.isfinite(losses), axis=1) & np.all(losses < ref, axis=1)]
    if losses.shape[0] == 0:
        return 0.0
    if losses.shape[1] == 1:
        return float(ref[0] - losses[:, 0].min())
    losses = np.unique(losses[pareto_mask(losses, ["minimize"] * losses.shape[1])], axis=0)
    if losses.shape[1] == 3 and losses.shape[0] > SWEEP_3D_MIN_POINTS:
        return _hypervolume_3d_sweep(losses, ref)
    return float(compute_hypervolume(losses, ref, assume_pareto=True))


#: Above this many points a 3-objective hypervolume uses :func:`_hypervolume_3d_sweep`: Optuna's
#: exact 3-D method builds an (N, N) matrix (N = 50,000 front points: 20 GB, measured OOM).
SWEEP_3D_MIN_POINTS = 2000


def _hypervolume_3d_sweep(losses: np.ndarray, ref: np.ndarray) -> float:
    """Exact 3-D hypervolume in O(N) memory: sweep the points by the third column and keep the
    2-D staircase (first two columns) of the points seen so far, with its dominated area updated
    at each insertion. ``losses`` (N, 3), every row strictly better than ``ref`` (3,)."""
    import bisect

    pts = losses[np.argsort(losses[:, 2], kind="stable")]
    rx, ry, rz = (float(v) for v in ref)
    xs: list[float] = []  # staircase: x ascending, y strictly descending
    ys: list[float] = []
    area = volume = 0.0
    rows = pts.tolist()
    for i, (x, y, z) in enumerate(rows):
        k = bisect.bisect_left(xs, x)
        if not (k > 0 and ys[k - 1] <= y):  # not dominated in 2-D by a point on its left
            height = ys[k - 1] if k > 0 else ry  # the staircase's height just right of x
            a, j = x, k
            added = 0.0
            while j < len(xs):
                added += (xs[j] - a) * max(0.0, height - y)
                a, height = xs[j], ys[j]
                if ys[j] < y:
                    break
                j += 1
            else:
                added += (rx - a) * max(0.0, height - y)
            del xs[k:j], ys[k:j]  # points p dominates in 2-D (x >= its x, y >= its y)
            xs.insert(k, x)
            ys.insert(k, y)
            area += added
        z_next = rows[i + 1][2] if i + 1 < len(rows) else rz
        volume += area * (z_next - z)
    return float(volume)


__all__ = ["pareto_mask", "weakly_dominated_by", "hypervolume", "hypervolume_of_losses", "normalize",
           "normalize_losses", "objective_bounds", "to_minimization", "direction_signs"]
