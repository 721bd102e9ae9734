"""A study's search space as genes in the unit cube, decoded to design columns in whole arrays.

The vectorized search (:mod:`dse.search.vectorized`) proposes designs as a (N, G) float array of
genes in [0, 1), one gene per Optuna distribution of the study (:func:`dse.search.study.distributions`,
the searched hardware parameters, then the searched workload batches). Decoding follows the
distribution exactly, so every decoded design is a valid Optuna parameter set
(``optuna.trial.create_trial`` accepts it) and the same design the other samplers could propose:

* categorical (value lists, categorical and bool parameters) and stepped int/float ranges are
  *ordinal* genes: index ``floor(u * n)`` into the n allowed values (sorted for numbers, so that a
  small gene step is a small move in value);
* log-scaled int ranges (``IntDistribution(log=True)``) and continuous float ranges are
  *continuous* genes: ``low * (high/low) ** u`` (log) or ``low + u * (high - low)``, rounded for ints.

No Python loop over designs: everything here is (N, G) array arithmetic, except :meth:`Genome.params`,
which builds Optuna parameter dicts for the few designs that get recorded as trials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import numpy as np
import optuna.distributions as od


@dataclass(frozen=True)
class Gene:
    """One searched parameter. ``values``: the n allowed values of an ordinal gene (None for a
    continuous one); ``low``/``high``/``log``/``integer``: a continuous gene's range."""

    name: str
    distribution: od.BaseDistribution
    values: np.ndarray | None = None
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    integer: bool = False

    @property
    def ordinal(self) -> bool:
        return self.values is not None

    @property
    def size(self) -> int | None:
        """Number of allowed values (None: continuous)."""
        return None if self.values is None else len(self.values)


def _gene(name: str, dist: od.BaseDistribution) -> Gene:
    if isinstance(dist, od.CategoricalDistribution):
        choices: list = list(dist.choices)
        if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in choices):
            # Numeric value lists: neighbours in gene space are neighbours in value.
            choices = sorted(cast("list[float]", choices))
        return Gene(name, dist, values=np.array(choices, dtype=object))
    if isinstance(dist, od.IntDistribution):
        if dist.log:
            return Gene(name, dist, low=dist.low, high=dist.high, log=True, integer=True)
        return Gene(name, dist, values=np.arange(dist.low, dist.high + 1, dist.step, dtype=np.int64))
    if isinstance(dist, od.FloatDistribution):
        if dist.step is not None:
            n = int(math.floor((dist.high - dist.low) / dist.step + 1e-9)) + 1
            return Gene(name, dist, values=np.round(dist.low + dist.step * np.arange(n), 9))
        return Gene(name, dist, low=dist.low, high=dist.high, log=dist.log)
    raise TypeError(f"{name}: unsupported distribution {type(dist).__name__}")  # pragma: no cover


class Genome:
    """The genes of a study space, in the order of ``distributions`` (a dict name -> Optuna
    distribution, e.g. :func:`dse.search.study.distributions`)."""

    def __init__(self, distributions: dict[str, od.BaseDistribution]):
        self.genes = [_gene(name, dist) for name, dist in distributions.items()]
        self.names = [g.name for g in self.genes]
        self.distributions = dict(distributions)
        sizes = [g.size for g in self.genes]
        #: (G,) values per ordinal gene, 0 for continuous genes.
        self.sizes = np.array([s or 0 for s in sizes], dtype=np.int64)
        self.discrete = all(s is not None for s in sizes)
        #: Designs in the space (inf when a gene is continuous).
        self.total = math.prod(int(s or 0) for s in sizes) if self.discrete else math.inf

    def __len__(self) -> int:
        return len(self.genes)

    def indices(self, genes: np.ndarray) -> np.ndarray:
        """(N, G) int64 value index of each ordinal gene (0 for continuous genes)."""
        u = np.clip(np.asarray(genes, dtype=np.float64), 0.0, np.nextafter(1.0, 0.0))
        return np.where(self.sizes > 0, np.floor(u * self.sizes).astype(np.int64), 0)

    def canonical(self, genes: np.ndarray) -> np.ndarray:
        """(N, G) genes moved to the centre of their ordinal cell (a design has one gene vector)."""
        u = np.clip(np.asarray(genes, dtype=np.float64), 0.0, np.nextafter(1.0, 0.0))
        centre = (self.indices(u) + 0.5) / np.maximum(self.sizes, 1)
        return np.where(self.sizes > 0, centre, u)

    def keys(self, genes: np.ndarray) -> np.ndarray | None:
        """(N,) int64 mixed-radix code of each design of a discrete space (equal codes: the same
        design), or None when a gene is continuous or the space does not fit in int64."""
        if not self.discrete or self.total >= 2**62:
            return None
        idx = self.indices(genes)
        code = np.zeros(idx.shape[0], dtype=np.int64)
        for j, n in enumerate(self.sizes):
            code = code * int(n) + idx[:, j]
        return code

    def from_keys(self, keys: np.ndarray) -> np.ndarray:
        """(N, G) canonical genes of the designs with mixed-radix codes ``keys`` (see :meth:`keys`)."""
        keys = np.asarray(keys, dtype=np.int64)
        out = np.empty((keys.size, len(self.genes)))
        rest = keys.copy()
        for j in range(len(self.genes) - 1, -1, -1):
            n = int(self.sizes[j])
            out[:, j] = (rest % n + 0.5) / n
            rest //= n
        return out

    def decode(self, genes: np.ndarray) -> dict[str, np.ndarray]:
        """Parameter columns (N,) in the distributions' own values (friendly units, choice values).

        Args:
            genes: (N, G) floats in [0, 1] (clipped).
        """
        u = np.clip(np.asarray(genes, dtype=np.float64), 0.0, np.nextafter(1.0, 0.0))
        idx = self.indices(u)
        out: dict[str, np.ndarray] = {}
        for j, g in enumerate(self.genes):
            if g.values is not None:
                col = g.values[idx[:, j]]
                first = g.values[0]
                if isinstance(first, (bool, np.bool_)):
                    col = col.astype(bool)
                elif isinstance(first, str):
                    col = col.astype(str)
                elif not isinstance(first, (int, float, np.integer, np.floating)) or g.values.dtype == object:
                    col = np.array(col.tolist())
                out[g.name] = col
                continue
            if g.log:
                lo, hi = (g.low - 0.5, g.high + 0.5) if g.integer else (g.low, g.high)
                lo = max(lo, g.low * 0.5) if g.integer else lo
                val = lo * (hi / lo) ** u[:, j]
            else:
                val = g.low + u[:, j] * (g.high - g.low)
            if g.integer:
                val = np.clip(np.rint(val), g.low, g.high).astype(np.int64)
            else:
                val = np.clip(val, g.low, g.high)
            out[g.name] = val
        return out

    def encode(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """(N, G) genes of designs given as parameter columns (the inverse of :meth:`decode`;
        ordinal genes at the centre of their cell). Values outside a distribution raise ValueError."""
        n = len(next(iter(columns.values()))) if columns else 0
        out = np.empty((n, len(self.genes)))
        for j, g in enumerate(self.genes):
            col = np.asarray(columns[g.name])
            if g.values is not None:
                vals = g.values
                if isinstance(vals[0], (bool, np.bool_)):
                    col = col.astype(bool)
                lookup = {v: i for i, v in enumerate(vals.tolist())}
                uniq, inverse = np.unique(col, return_inverse=True)
                try:
                    pos = np.array([lookup[v] for v in uniq.tolist()], dtype=np.int64)
                except KeyError as err:
                    raise ValueError(f"{g.name}: {err.args[0]!r} is not one of its values") from None
                out[:, j] = (pos[inverse.reshape(-1)] + 0.5) / len(vals)
                continue
            val = col.astype(np.float64)
            if g.log:
                lo, hi = (g.low - 0.5, g.high + 0.5) if g.integer else (g.low, g.high)
                lo = max(lo, g.low * 0.5) if g.integer else lo
                out[:, j] = np.log(val / lo) / np.log(hi / lo)
            else:
                span = g.high - g.low
                out[:, j] = (val - g.low) / span if span > 0 else 0.5
        return np.clip(out, 0.0, np.nextafter(1.0, 0.0))

    def params(self, columns: dict[str, np.ndarray], rows: np.ndarray) -> list[dict]:
        """Optuna parameter dicts (plain Python values) of the designs ``rows`` of ``columns``."""
        lists = {name: columns[name][rows].tolist() for name in self.names}
        return [{name: lists[name][i] for name in self.names} for i in range(len(rows))]


def latin_hypercube(n: int, dims: int, rng: np.random.Generator) -> np.ndarray:
    """(n, dims) Latin hypercube sample of [0, 1): each axis cut into n strata, one point in each
    (a space-filling screen; each ordinal value gets its share of points)."""
    u = (rng.random((n, dims)) + np.arange(n)[:, None]) / max(n, 1)
    return np.take_along_axis(u, rng.random((n, dims)).argsort(axis=0), axis=0)


__all__ = ["Gene", "Genome", "latin_hypercube"]
