"""Die cost: dies per wafer, yield and cost per good die, vectorized over designs.

Model (constants from ``catalog/cost.csv``; areas in mm^2, lengths in mm, money in USD). Wafer
price and defect density have one row per node (``wafer_cost_16nm``, ``defect_density_16nm``):
published prices do not follow the catalog's power-law node rule::

    usable diameter   d  = wafer_diameter - 2 * wafer_edge_exclusion
    die footprint     A' = (sqrt(A) + scribe_width)^2            square die plus its saw street
    dies per wafer    N  = pi d^2 / (4 A') - pi d / sqrt(2 A')    (Hennessy & Patterson, sec. 1.6)
    die yield         Y  = (1 + A D0 / alpha)^(-alpha)            negative binomial (Stapper)
    silicon cost      C  = wafer_cost_<node> / (N Y),   D0 = defect_density_<node>
    die_cost_usd         = C + die_test_cost + die_package_cost   (the adders default to 0)

Why the negative binomial: defects cluster on real wafers, so a Poisson model (alpha -> inf,
Y = exp(-A D0)) is too pessimistic for large dies, and Murphy's model has no knob for the
clustering. The negative binomial has one (``yield_cluster_alpha``), is the form used by
Hennessy & Patterson and by ttm-cas (Ning et al., ISCA 2023), and reduces to Poisson for large
alpha. Yield uses the die area A (defects in the scribe kill nothing); N uses the footprint A'.
N is kept continuous (no rounding) so that cost is smooth in area. A die that does not fit the
wafer (N < 1) is charged one whole wafer per die (N floored at 1, in :func:`die_cost` only), so
the cost stays finite and still grows with area through the yield; such dies are far beyond the
lithography reticle (about 858 mm^2), which the model does not check.

Every function broadcasts: technology values may be scalars or arrays aligned with ``area_mm2``
(Monte Carlo samples, see :mod:`dse.model.uncertainty`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np


def dies_per_wafer(area_mm2, diameter_mm, edge_exclusion_mm=0.0, scribe_mm=0.0):
    """Gross dies per wafer (continuous), same shape as the broadcast inputs.

    ``area_mm2``: die area; ``diameter_mm``: wafer diameter; ``edge_exclusion_mm``: unusable rim;
    ``scribe_mm``: saw street added to each die's side.
    """
    area = np.asarray(area_mm2, dtype=np.float64)
    usable = np.asarray(diameter_mm, dtype=np.float64) - 2.0 * np.asarray(edge_exclusion_mm, dtype=np.float64)
    footprint = (np.sqrt(area) + scribe_mm) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        n = math.pi * usable**2 / (4.0 * footprint) - math.pi * usable / np.sqrt(2.0 * footprint)
    return np.where(np.isfinite(n), np.maximum(n, 0.0), 0.0)


def negative_binomial_yield(area_mm2, defects_per_mm2, alpha):
    """Share of dies without a killer defect, (1 + A D0 / alpha)^-alpha; broadcast shape."""
    area = np.asarray(area_mm2, dtype=np.float64)
    return (1.0 + area * np.asarray(defects_per_mm2, dtype=np.float64) / alpha) ** (-np.asarray(alpha, dtype=np.float64))


@dataclass(frozen=True)
class DieCost:
    """Cost breakdown of D dies; every field is a (D,) float64 array (USD unless named)."""

    dies_per_wafer: np.ndarray       # gross dies per wafer (continuous)
    die_yield: np.ndarray            # fraction of good dies
    wafer_cost_usd: np.ndarray
    silicon_cost_usd: np.ndarray     # wafer cost per good die
    test_cost_usd: np.ndarray
    package_cost_usd: np.ndarray
    die_cost_usd: np.ndarray         # silicon + test + package


def die_cost(area_mm2, tech) -> DieCost:
    """Cost of a good die of ``area_mm2`` (D,) at ``tech`` (a Technology, or one whose values are
    arrays aligned with the designs)."""
    area = np.asarray(area_mm2, dtype=np.float64)
    n = dies_per_wafer(area, tech.value("wafer_diameter"), tech.value("wafer_edge_exclusion"),
                       tech.value("scribe_width"))
    y = negative_binomial_yield(area, tech.value(f"defect_density_{tech.node_nm}nm"),
                                tech.value("yield_cluster_alpha"))
    wafer = np.broadcast_to(np.asarray(tech.value(f"wafer_cost_{tech.node_nm}nm"), dtype=np.float64), area.shape)
    good = np.maximum(n, 1.0) * y  # a die larger than the wafer costs at least a wafer
    silicon = wafer / good
    test = np.broadcast_to(np.asarray(tech.value("die_test_cost"), dtype=np.float64), area.shape)
    package = np.broadcast_to(np.asarray(tech.value("die_package_cost"), dtype=np.float64), area.shape)
    return DieCost(dies_per_wafer=n, die_yield=y, wafer_cost_usd=np.array(wafer), silicon_cost_usd=silicon,
                   test_cost_usd=np.array(test), package_cost_usd=np.array(package),
                   die_cost_usd=silicon + test + package)


def cost_dict(cost: DieCost) -> dict[str, np.ndarray]:
    """The breakdown as a dict of (D,) arrays keyed by field name."""
    return {f.name: getattr(cost, f.name) for f in fields(cost)}
