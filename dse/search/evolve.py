"""Whole-population steps of the vectorized search: constrained front, parent pool, offspring.

Everything works on arrays of many designs at once (no Python loop over designs):

* objectives are in minimization form (N, M) (:func:`dse.search.pareto.to_minimization`);
* ``violation`` (N,) is the sum of the positive relative budget violations (0: feasible);
* genes are (N, G) floats in [0, 1) (:class:`dse.search.genome.Genome`).

Feasible first, as Optuna's constrained NSGA-II: a feasible design beats every infeasible one,
feasible designs compare by Pareto dominance, infeasible ones by their total violation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.search.pareto import pareto_mask, weakly_dominated_by

#: Infeasible designs kept as parents while no design is feasible (the least violating ones).
INFEASIBLE_PARENTS = 64
#: Largest pool: a front above this size (continuous spaces grow fronts of 10^4-10^5 designs)
#: keeps its least crowded members, as NSGA-II truncates by crowding distance. Below it the pool
#: is the exact front of every evaluated design.
MAX_POOL = 5000


def violation_of(constraints: dict[str, np.ndarray], n: int) -> np.ndarray:
    """(N,) total relative budget violation (sum of the positive parts; NaN counts as infinite)."""
    total = np.zeros(n)
    for arr in constraints.values():
        a = np.asarray(arr, dtype=np.float64)
        total += np.where(np.isnan(a), np.inf, np.maximum(a, 0.0))
    return total


def constrained_front(objectives: np.ndarray, violation: np.ndarray) -> np.ndarray:
    """bool (N,): the first front under feasible-first ranking.

    With a feasible design (violation 0 and finite objectives): the feasible Pareto front (exact,
    duplicates kept). Otherwise the :data:`INFEASIBLE_PARENTS` least violating designs.
    """
    n = objectives.shape[0]
    feasible = (violation <= 0) & np.all(np.isfinite(objectives), axis=1)
    mask = np.zeros(n, dtype=bool)
    if feasible.any():
        rows = np.flatnonzero(feasible)
        mask[rows[pareto_mask(objectives[rows], ["minimize"] * objectives.shape[1])]] = True
        return mask
    order = np.argsort(violation, kind="stable")[:INFEASIBLE_PARENTS]
    mask[order] = True
    return mask


@dataclass
class Pool:
    """The parents: the constrained front of every design evaluated so far.

    ``genes`` (P, G), ``objectives`` (P, M) minimization form, ``violation`` (P,), ``ids`` (P,)
    design ids (rows of the designs table).
    """

    genes: np.ndarray
    objectives: np.ndarray
    violation: np.ndarray
    ids: np.ndarray

    @classmethod
    def empty(cls, n_genes: int, n_objectives: int) -> "Pool":
        return cls(np.empty((0, n_genes)), np.empty((0, n_objectives)), np.empty(0), np.empty(0, np.int64))

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def feasible(self) -> bool:
        return bool(len(self) and self.violation.max() <= 0)

    def merge(self, genes, objectives, violation, ids) -> np.ndarray:
        """Add designs and keep the constrained front of the union (the front of the union equals
        the front of (old front + new designs), so no evaluated design needs to be kept).
        Returns bool (P_old + n_new,): which rows of (old pool, new designs) were kept."""
        n_old = len(self)
        feasible = (violation <= 0) & np.all(np.isfinite(objectives), axis=1)
        if self.feasible and n_old:
            # Incremental: candidates the front already weakly dominates are out (a duplicate of a
            # front point adds nothing); the rest's own front then removes the old points it
            # dominates (strictly: no survivor equals an old point).
            keep_new = feasible.copy()
            rows = np.flatnonzero(keep_new)
            keep_new[rows[weakly_dominated_by(self.objectives, objectives[rows])]] = False
            rows = np.flatnonzero(keep_new)
            m = objectives.shape[1]
            keep_new[rows[~pareto_mask(objectives[rows], ["minimize"] * m)]] = False
            keep_old = ~weakly_dominated_by(objectives[keep_new], self.objectives)
            keep = np.concatenate([keep_old, keep_new])
        else:
            keep = constrained_front(np.concatenate([self.objectives, objectives]),
                                     np.concatenate([self.violation, violation]))
        if keep.sum() > MAX_POOL:
            rows = np.flatnonzero(keep)
            crowd = crowding(np.concatenate([self.objectives, objectives])[rows])
            keep[rows[np.argsort(-crowd, kind="stable")[MAX_POOL:]]] = False
        self.genes = np.concatenate([self.genes, genes])[keep]
        self.objectives = np.concatenate([self.objectives, objectives])[keep]
        self.violation = np.concatenate([self.violation, violation])[keep]
        self.ids = np.concatenate([self.ids, ids])[keep]
        return keep


def crowding(objectives: np.ndarray, ends: float | None = np.inf) -> np.ndarray:
    """(P,) NSGA-II crowding distance of front members: per objective (normalized to the front's
    range), the gap between the two neighbours in sorted order; the two ends of each objective get
    ``ends`` (infinite, as NSGA-II: truncation keeps the extremes) or, when ``ends`` is None, twice
    the mean gap."""
    p = objectives.shape[0]
    if p < 3:
        return np.ones(p)
    lo, hi = objectives.min(axis=0), objectives.max(axis=0)
    z = (objectives - lo) / np.where(hi > lo, hi - lo, 1.0)
    z = np.where(np.isfinite(z), z, 0.0)
    crowd = np.zeros(p)
    for j in range(z.shape[1]):
        order = np.argsort(z[:, j], kind="stable")
        s = z[order, j]
        gap = np.empty(p)
        gap[1:-1] = s[2:] - s[:-2]
        gap[0] = gap[-1] = 2.0 * (s[-1] - s[0]) / max(p - 1, 1) if ends is None else ends
        crowd[order] += gap
    return crowd


def sparsity_weights(objectives: np.ndarray) -> np.ndarray:
    """(P,) parent weights favouring lonely front members (:func:`crowding`), every member keeping
    a fair chance. Sums to 1."""
    p = objectives.shape[0]
    if p < 3:
        return np.full(p, 1.0 / max(p, 1))
    crowd = crowding(objectives, ends=None)
    w = crowd + crowd.mean() * 0.5 + 1e-12
    return w / w.sum()


def offspring(pool: Pool, n: int, sizes: np.ndarray, rng: np.random.Generator, *,
              explore: float = 0.1, crossover: float = 0.5, local: float = 0.8,
              sigma: float = 0.05) -> np.ndarray:
    """(n, G) new genes: children of the pool's members, plus a share of uniform random designs.

    Args:
        pool: the parents (must not be empty).
        sizes: (G,) values per ordinal gene, 0 for continuous genes (``Genome.sizes``).
        explore: share of uniform random designs (keeps finding other regions).
        crossover: share of children that take each gene from a second parent with p = 0.5.
        local: share of mutated genes moved locally (one or two ordinal values, or a normal step
            of ``sigma`` for continuous genes); the others are redrawn uniformly.
    """
    g = pool.genes.shape[1]
    w = sparsity_weights(pool.objectives) if pool.feasible else None
    a = pool.genes[rng.choice(len(pool), size=n, p=w)]
    b = pool.genes[rng.choice(len(pool), size=n, p=w)]
    take_b = (rng.random((n, g)) < 0.5) & (rng.random(n) < crossover)[:, None]
    child = np.where(take_b, b, a)
    # Mutate each gene with p = 1/G, and at least one gene per child (no clone of a parent).
    mutate = rng.random((n, g)) < 1.0 / g
    mutate[np.arange(n), rng.integers(g, size=n)] = True
    cell = np.where(sizes > 0, 1.0 / np.maximum(sizes, 1), sigma)
    step = rng.normal(size=(n, g)) * cell
    # An ordinal step moves at least one value, so that a local move is never a no-op.
    step = np.where(sizes > 0, np.sign(step) * np.maximum(np.abs(step), cell), step)
    moved = np.where(rng.random((n, g)) < local, child + step, rng.random((n, g)))
    moved = np.abs(moved)  # reflect at 0 and at 1
    moved = np.where(moved >= 1.0, 2.0 - moved, moved)
    child = np.where(mutate, np.clip(moved, 0.0, np.nextafter(1.0, 0.0)), child)
    wild = rng.random(n) < explore
    child[wild] = rng.random((int(wild.sum()), g))
    return child


__all__ = ["Pool", "constrained_front", "violation_of", "offspring", "sparsity_weights", "crowding",
           "INFEASIBLE_PARENTS", "MAX_POOL"]
