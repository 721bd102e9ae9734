"""Monte Carlo over the technology, and one-constant-at-a-time sensitivity, for a batch of designs.

Every evaluation here is ONE call of the vectorized model on a batch of S x D rows: the D designs
repeated S times (sample-major: row ``s * D + d``), scored under a
:class:`~dse.hardware.ranges.TechnologySamples` whose sampled constants are (S x D,) arrays.
There is no Python loop over samples; the cost is that of evaluating S x D designs.

* :func:`monte_carlo`: S samples of every constant with a range (``catalog/ranges.csv``),
  seeded; every metric becomes an (S, D) array; :meth:`MonteCarlo.quantiles` gives P10/P50/P90.
* :func:`one_at_a_time`: each constant at its low and at its high end, the others at their point
  estimates (the tornado chart's input): (K, D) arrays for the low and the high ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dse.hardware.designs import DesignBatch
from dse.hardware.ranges import (
    TechnologySamples,
    constant_ranges,
    sample_factors,
    uncertain_keys,
)
from dse.hardware.technology import Technology
from dse.model.api import score_designs

#: Default number of technology samples (P10/P90 move by about 1% of the band between seeds).
DEFAULT_SAMPLES = 256
QUANTILES = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class MonteCarlo:
    """``metrics``: name -> (S, D) float64; ``nominal``: name -> (D,) at the point estimates;
    ``keys``: the sampled constants; ``factors``: (S, K) multipliers of their point estimates."""

    keys: tuple[str, ...]
    factors: np.ndarray
    metrics: dict[str, np.ndarray]
    nominal: dict[str, np.ndarray]
    seed: int

    @property
    def n_samples(self) -> int:
        return int(self.factors.shape[0])

    def quantiles(self, name: str, q: Sequence[float] = QUANTILES) -> np.ndarray:
        """(len(q), D) quantiles of metric ``name`` over the samples (NaN-free metrics)."""
        return np.quantile(self.metrics[name], q, axis=0)


def _workloads_for_rows(workloads, n_designs: int, n_repeats: int):
    """(label, batch) pairs with every per-design batch array tiled to the S x D rows."""
    out = []
    for label, batch in workloads:
        if batch is None or np.ndim(batch) == 0:
            out.append((label, batch))
        else:
            out.append((label, np.tile(np.broadcast_to(np.asarray(batch), (n_designs,)), n_repeats)))
    return out


def evaluate_factors(designs: DesignBatch, tech: Technology, workloads, keys: Sequence[str],
                     factors: np.ndarray) -> dict[str, np.ndarray]:
    """Score D designs under each row of ``factors`` (S, K): name -> (S, D) arrays.

    ``workloads``: (label, batch) pairs as for :func:`dse.model.api.score_designs`, batch (D,),
    a scalar or None. ``tech``: the study's technology (node, overrides), the point estimate.
    """
    factors = np.asarray(factors, dtype=np.float64)
    n, s = len(designs), factors.shape[0]
    rows = designs.take(np.tile(np.arange(n), s))
    sampled = TechnologySamples(tech, keys, factors, rows_per_sample=n)
    out = score_designs(rows, sampled, _workloads_for_rows(workloads, n, s))
    return {k: v.reshape(s, n) for k, v in out.items()}


def monte_carlo(designs: DesignBatch, tech: Technology, workloads, n_samples: int = DEFAULT_SAMPLES,
                seed: int = 0, keys: Sequence[str] | None = None) -> MonteCarlo:
    """Evaluate D designs under ``n_samples`` seeded samples of the constants ``keys`` (default:
    every catalog constant with a non-zero range). Same seed, same samples, same result."""
    keys = uncertain_keys() if keys is None else tuple(keys)
    factors = sample_factors(keys, n_samples, seed)
    metrics = evaluate_factors(designs, tech, workloads, keys, factors)
    nominal = score_designs(designs, tech, workloads)
    return MonteCarlo(keys=tuple(keys), factors=factors, metrics=metrics, nominal=nominal, seed=int(seed))


@dataclass(frozen=True)
class OneAtATime:
    """``low[name]``/``high[name]``: (K, D) metric with constant k at its low/high end, the others
    at their point estimates; ``nominal[name]``: (D,). ``keys``: the K constants, ``ends``: (K, 2)
    factors."""

    keys: tuple[str, ...]
    ends: np.ndarray
    low: dict[str, np.ndarray]
    high: dict[str, np.ndarray]
    nominal: dict[str, np.ndarray]


def one_at_a_time(designs: DesignBatch, tech: Technology, workloads,
                  keys: Sequence[str] | None = None) -> OneAtATime:
    """Every constant with a range at its low and its high end, one at a time (2K x D rows)."""
    keys = uncertain_keys() if keys is None else tuple(keys)
    ranges = constant_ranges()
    ends = np.array([[ranges[k][0], ranges[k][1]] for k in keys], dtype=np.float64).reshape(len(keys), 2)
    factors = np.ones((2 * len(keys), len(keys)))
    idx = np.arange(len(keys))
    factors[2 * idx, idx] = ends[:, 0]
    factors[2 * idx + 1, idx] = ends[:, 1]
    metrics = evaluate_factors(designs, tech, workloads, keys, factors)
    return OneAtATime(keys=tuple(keys), ends=ends, low={k: v[0::2] for k, v in metrics.items()},
                      high={k: v[1::2] for k, v in metrics.items()},
                      nominal=score_designs(designs, tech, workloads))
