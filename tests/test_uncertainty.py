"""Ranges of the catalog constants, Monte Carlo over the technology, Pareto probabilities and
`dse sensitivity` (real model, real study, real CLI)."""

import json

import numpy as np
import pytest

from dse.hardware.designs import DesignBatch
from dse.hardware.presets import load_preset
from dse.hardware.ranges import (
    TechnologySamples,
    constant_ranges,
    overrides_for_sample,
    sample_factors,
    uncertain_keys,
)
from dse.hardware.technology import SUPPORTED_NODES_NM, catalog_rows, load_technology
from dse.model.api import score_designs
from dse.model.constants import model_constants
from dse.model.uncertainty import evaluate_factors, monte_carlo, one_at_a_time
from dse.search.robustness import (
    knee,
    nondominated,
    pareto_probability,
    spearman,
)
from dse.search.spec import load_study

WL = [("yolov3@320x320", None)]


def test_every_catalog_constant_has_a_range():
    ranges = constant_ranges()
    catalog = list(catalog_rows()["key"]) + list(model_constants())
    missing = [k for k in catalog if k not in ranges]
    assert not missing, (f"catalog keys without a range in dse/hardware/catalog/ranges.csv: {missing} "
                         "(add a row: key, low_factor, high_factor, reason)")
    stale = sorted(set(ranges) - set(catalog))
    assert not stale, f"ranges.csv names constants that no catalog has: {stale}"
    assert all(reason.strip() for _, _, reason in ranges.values())


def test_estimates_get_wider_ranges_than_quotes_and_stay_in_their_domain():
    rows = catalog_rows()
    ranges = constant_ranges()
    width = {k: np.log(ranges[k][1] / ranges[k][0]) for k in rows["key"]}
    by_tag = rows.assign(width=rows["key"].map(width)).groupby("tag")["width"].mean()
    assert by_tag["E"] > by_tag["Q"]
    fractions = rows.loc[rows["unit"] == "fraction", "key"]
    for node in SUPPORTED_NODES_NM:
        tech = load_technology(node)
        for k in fractions:  # the high end of a share stays a share (presets may be clipped)
            assert tech.value(k) * ranges[k][1] <= 1.0, (k, node)


def test_sampling_is_seeded_and_its_p10_p90_are_the_range():
    keys = uncertain_keys()
    a, b = sample_factors(keys, 512, seed=7), sample_factors(keys, 512, seed=7)
    assert np.array_equal(a, b) and not np.array_equal(a, sample_factors(keys, 512, seed=8))
    lo = np.array([constant_ranges()[k][0] for k in keys])
    hi = np.array([constant_ranges()[k][1] for k in keys])
    big = sample_factors(keys, 20000, seed=1)  # a range's ends are its P10 and P90
    np.testing.assert_allclose(np.quantile(big, 0.1, axis=0), lo, rtol=0.03)
    np.testing.assert_allclose(np.quantile(big, 0.9, axis=0), hi, rtol=0.03)
    np.testing.assert_allclose(np.median(big, axis=0), 1.0, atol=0.02)


def _designs():
    return DesignBatch.from_columns({"cores": np.array([1, 4, 16]), "rows": np.array([16, 32, 32]),
                                     "cols": np.array([16, 32, 64]), "sram_mb": np.array([1.0, 4.0, 16.0]),
                                     "dram_type": np.array(["LPDDR4", "LPDDR5", "DDR4"], dtype=object),
                                     "winograd": np.array([False, True, True])}, 16)


def test_zero_width_ranges_reproduce_the_point_estimates_exactly():
    designs, tech = _designs(), load_technology(16)
    keys = uncertain_keys()
    ones = evaluate_factors(designs, tech, WL, keys, np.ones((4, len(keys))))
    nominal = score_designs(designs, tech, WL)
    assert set(ones) == set(nominal)
    for k, v in nominal.items():
        assert np.array_equal(ones[k], np.broadcast_to(v, ones[k].shape)), k


def test_each_sample_equals_the_scalar_model_with_that_sample_as_overrides():
    designs, tech = load_preset("inferx_x1")
    mc = monte_carlo(designs, tech, WL, n_samples=6, seed=3)
    sampled = TechnologySamples(tech, mc.keys, mc.factors, rows_per_sample=1)
    for s in (0, 5):
        ref = score_designs(designs, load_technology(16, overrides_for_sample(sampled, s)), WL)
        for k, v in ref.items():
            np.testing.assert_allclose(mc.metrics[k][s], v, rtol=1e-12, err_msg=k)
    again = monte_carlo(designs, tech, WL, n_samples=6, seed=3)
    assert all(np.array_equal(again.metrics[k], v) for k, v in mc.metrics.items())
    p10, p50, p90 = mc.quantiles("area_mm2")[:, 0]
    assert p10 < p50 < p90


def test_one_at_a_time_moves_only_its_constant():
    designs, tech = _designs(), load_technology(16)
    oat = one_at_a_time(designs, tech, WL, keys=["sram_area_per_mib", "mac_energy_calibration"])
    low_sram = load_technology(16, {"sram_area_per_mib": tech.value("sram_area_per_mib") * oat.ends[0, 0]})
    np.testing.assert_allclose(oat.low["area_mm2"][0], score_designs(designs, low_sram, WL)["area_mm2"], rtol=1e-12)
    assert np.array_equal(oat.low["area_mm2"][1], oat.nominal["area_mm2"])  # energy leaves area alone
    assert np.all(oat.high["yolov3@320x320:energy_j"][1] > oat.nominal["yolov3@320x320:energy_j"])


def test_pareto_probability(tmp_path, small_study):
    spec = load_study(small_study(workload="yolov3@320x320"))
    designs = _designs().take([1])
    mc = monte_carlo(designs, load_technology(16), WL, n_samples=32, seed=0)
    # alone on its front and within budgets in every sample: probability 1
    assert pareto_probability(spec, mc.metrics).tolist() == [1.0]
    # a second design that is worse on every objective in every sample: probability 0
    metrics = {k: np.concatenate([v, v], axis=1) for k, v in mc.metrics.items()}
    metrics["yolov3@320x320:throughput_ips"][:, 1] *= 0.5
    metrics["area_mm2"][:, 1] *= 2
    assert pareto_probability(spec, metrics).tolist() == [1.0, 0.0]
    # an over-budget sample is not counted
    metrics["area_mm2"][:8, 0] = 1e9
    assert pareto_probability(spec, metrics)[0] == pytest.approx(24 / 32)


def test_dominance_knee_and_rank_correlation():
    loss = np.array([[[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [1.0, 1.0]]])
    ok = np.array([[True, True, True, True]])
    assert nondominated(loss, ok).tolist() == [[True, True, True, False]]
    assert knee(loss, ok).tolist() == [2]
    assert nondominated(loss, np.array([[False, True, True, True]])).tolist() == [[False, True, True, False]]
    assert spearman(np.array([1.0, 2, 3]), np.array([10.0, 20, 30])) == pytest.approx(1.0)
    assert spearman(np.array([1.0, 2, 3]), np.array([3.0, 2, 1])) == pytest.approx(-1.0)


def test_sensitivity_cli(small_study, tmp_path, cli):
    study = small_study(trials=64, population=32, workload="yolov3@320x320")
    out = cli("run", str(study), "--results", str(tmp_path / "results"), "--executor", "local",
              "--no-progress", "--no-report")
    assert out.returncode == 0, out.stderr
    res = cli("sensitivity", str(tmp_path / "results" / "small"), "--samples", "16", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["samples"] == 16 and data["front_designs"] == len(data["pareto_probability"]) > 0
    assert all(0 <= r["probability"] <= 1 for r in data["pareto_probability"])
    rec = data["recommended"]
    assert 0 <= rec["stays_recommended"] <= 1
    for col, band in rec["bands"].items():
        assert band["p10"] <= band["p50"] <= band["p90"], col
    assert set(data["tornado"]) == {o["column"] for o in data["objectives"]}
    text = cli("sensitivity", str(tmp_path / "results" / "small"), "--samples", "16")
    assert text.returncode == 0 and "stays recommended in" in text.stdout and "tornado" in text.stdout
    bad = cli("sensitivity", str(tmp_path / "nothing-here"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    bad = cli("sensitivity", str(tmp_path / "results" / "small"), "--samples", "0")
    assert bad.returncode == 2 and "--samples" in bad.stderr
