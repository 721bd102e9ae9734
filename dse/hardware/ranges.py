"""Plausible ranges of the catalog constants and technologies sampled from them.

``catalog/ranges.csv`` has one row per constant of the technology catalog and of the model's
``constants.csv``: ``key, low_factor, high_factor, reason``. The factors multiply the value the
study uses (at its node, after its overrides), so one range serves every node and every preset;
``low_factor <= 1 <= high_factor``, and ``1, 1`` marks a definition or a standard (zero width).
A quoted measurement gets a narrow range, an estimate a wide one; ``reason`` says why.

Meaning of a range: ``low`` and ``high`` are the constant's P10 and P90, an 80% interval around
the point estimate (the usual way to elicit a plausible range). Sampling: each factor is drawn
independently from a two-piece lognormal with median 1 whose 10th and 90th percentiles are
``low`` and ``high``: log f = z ln(high) / 1.2816 for z >= 0 and z ln(1/low) / 1.2816 for
z < 0, z standard normal clipped to +-3 so that no sample is absurd. The median is the point
estimate, and a zero-width range returns the point estimate exactly. Shares (unit ``fraction``)
are clipped at 1 (``area_overhead_fraction`` at 0.95).

:class:`TechnologySamples` is a :class:`~dse.hardware.technology.Technology` look-alike whose
:meth:`~TechnologySamples.value` returns one value per design row: R = S x D rows, sample-major
(row ``s * D + d`` is design ``d`` under sample ``s``). :func:`dse.hardware.physical.derive` and
:func:`dse.hardware.cost.die_cost` broadcast it like a scalar technology, so S samples of D
designs are evaluated as one batch of S x D designs without a Python loop over samples.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources

import numpy as np

from dse.errors import UserError
from dse.hardware.technology import UNIT_TO_SI, Technology, catalog_rows, override_domain

#: Rows whose value must stay below 1 after sampling (a share of the die / of a resource).
FRACTION_CEILING = {"area_overhead_fraction": 0.95}
#: Standard-normal quantile of P90: a range's ends are the 10th and 90th percentiles.
Z_P90 = 1.2815515655446004
#: Sampled standard-normal values are clipped to +-Z_CLIP (0.3% of the mass beyond).
Z_CLIP = 3.0


@lru_cache(maxsize=1)
def constant_ranges() -> dict[str, tuple[float, float, str]]:
    """key -> (low_factor, high_factor, reason) from ``catalog/ranges.csv``."""
    path = resources.files("dse.hardware") / "catalog" / "ranges.csv"
    out = {}
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["key"] in out:
                raise RuntimeError(f"catalog/ranges.csv: {row['key']} is listed twice")
            low, high = float(row["low_factor"]), float(row["high_factor"])
            if not 0 < low <= 1 <= high:
                raise RuntimeError(f"catalog/ranges.csv: {row['key']}: need 0 < low <= 1 <= high")
            out[row["key"]] = (low, high, row["reason"])
    return out


def uncertain_keys(keys: Sequence[str] | None = None) -> tuple[str, ...]:
    """Catalog keys with a range of non-zero width, in catalog order (or in the order given)."""
    ranges = constant_ranges()
    keys = tuple(catalog_rows()["key"]) if keys is None else tuple(keys)
    return tuple(k for k in keys if ranges[k][0] < 1 or ranges[k][1] > 1)


def sample_factors(keys: Sequence[str], n_samples: int, seed: int) -> np.ndarray:
    """(n_samples, len(keys)) factors, two-piece lognormal per key with P10 = low, median 1,
    P90 = high (z clipped to +-Z_CLIP); same seed, same factors."""
    if int(n_samples) < 1:
        raise UserError(f"samples: {n_samples} must be >= 1")
    ranges = constant_ranges()
    low = np.log([ranges[k][0] for k in keys])
    high = np.log([ranges[k][1] for k in keys])
    z = np.clip(np.random.default_rng(seed).standard_normal((int(n_samples), len(keys))), -Z_CLIP, Z_CLIP)
    log_f = np.where(z >= 0, z * high, -z * low) / Z_P90  # low < 0: ln(low) * |z| / Z_P90
    return np.exp(log_f)


class TechnologySamples:
    """A technology whose listed constants vary per row: R = n_samples x rows_per_sample rows.

    ``base``: the study's technology (node and overrides). ``keys``: the constants that vary.
    ``factors``: (n_samples, len(keys)) multipliers of the base values. :meth:`value` returns a
    float for a constant not in ``keys`` and an (R,) float64 array (sample-major) otherwise.
    """

    def __init__(self, base: Technology, keys: Sequence[str], factors: np.ndarray, rows_per_sample: int):
        factors = np.asarray(factors, dtype=np.float64)
        if factors.ndim != 2 or factors.shape[1] != len(keys):
            raise ValueError(f"factors: shape {factors.shape} != (samples, {len(keys)})")
        self.base = base
        self.node_nm = base.node_nm
        self.overrides = base.overrides
        self.rows_per_sample = int(rows_per_sample)
        self.n_samples = factors.shape[0]
        self._column = {k: i for i, k in enumerate(keys)}
        self._factors = factors
        self._fraction = set(catalog_rows().loc[catalog_rows()["unit"] == "fraction", "key"])
        self._unit = dict(zip(catalog_rows()["key"], catalog_rows()["unit"]))
        self._cache: dict[str, np.ndarray] = {}

    @property
    def rows(self) -> int:
        return self.n_samples * self.rows_per_sample

    def value(self, key: str):
        """SI value of ``key``: a float, or an (R,) array when ``key`` is sampled."""
        if key not in self._column:
            return self.base.value(key)
        if key not in self._cache:
            per_sample = self.base.value(key) * self._factors[:, self._column[key]]
            # A sample stays inside the constant's physical domain (override_domains.csv): a
            # sampled share of 1 or more, or a zero bandwidth, is no technology at all.
            low, inclusive, high, _ = override_domain(key, self._unit[key])
            si = UNIT_TO_SI[self._unit[key]][0]
            floor = low * si if inclusive else np.nextafter(low * si, np.inf)
            per_sample = np.clip(per_sample, floor, high * si)
            if key in self._fraction:  # a share cannot exceed the whole
                per_sample = np.minimum(per_sample, FRACTION_CEILING.get(key, 1.0))
            self._cache[key] = np.repeat(per_sample, self.rows_per_sample)
        return self._cache[key]

    def values(self, keys) -> np.ndarray:
        """(len(keys),) floats, or (len(keys), R) when any of ``keys`` is sampled."""
        vals = [self.value(k) for k in keys]
        if all(np.ndim(v) == 0 for v in vals):
            return np.array(vals, dtype=np.float64)
        return np.stack([np.broadcast_to(np.asarray(v, dtype=np.float64), (self.rows,)) for v in vals])

    def sample_values(self, key: str) -> np.ndarray:
        """(n_samples,) value of ``key`` in each sample (SI units)."""
        v = self.value(key)
        return np.full(self.n_samples, v) if np.ndim(v) == 0 else v[:: self.rows_per_sample]

    def keys(self) -> tuple[str, ...]:
        return self.base.keys()


def overrides_for_sample(tech: TechnologySamples, sample: int) -> Mapping[str, float]:
    """The catalog-unit overrides that reproduce sample ``sample`` as a plain Technology (tests,
    and re-evaluating one sample with the scalar model)."""
    rows = catalog_rows().set_index("key")
    out = dict(tech.overrides)
    for key in tech._column:
        si = float(tech.sample_values(key)[sample])
        out[key] = si / UNIT_TO_SI[rows.at[key, "unit"]][0]
    return out
