"""Die cost: the textbook yield model, the catalog rows behind it, and die cost as a study metric."""

import json
import re

import numpy as np
import pytest
from conftest import nsga2_search

from dse.errors import UserError
from dse.hardware.cost import die_cost, dies_per_wafer, negative_binomial_yield
from dse.hardware.designs import DesignBatch
from dse.hardware.physical import derive
from dse.hardware.presets import load_preset
from dse.hardware.technology import SUPPORTED_NODES_NM, load_technology
from dse.search.scoring import constraint_values
from dse.search.spec import load_study
from dse.search.study import run_study

CM2 = 100.0  # mm^2 per cm^2


def test_hennessy_patterson_worked_example():
    """Hennessy & Patterson, Computer Architecture: A Quantitative Approach, 4th ed., sec. 1.6:
    dies 1.5 cm and 1.0 cm on a side on a 30 cm wafer give 270 and 640 dies per wafer; with
    0.4 defects per cm^2 and alpha = 4 their die yields are 0.44 and 0.68."""
    areas = np.array([1.5**2, 1.0**2]) * CM2
    assert np.round(dies_per_wafer(areas, 300.0)).tolist() == [270, 640]
    assert np.round(negative_binomial_yield(areas, 0.4 / CM2, 4.0), 2).tolist() == [0.44, 0.68]
    # alpha -> infinity is Poisson
    assert negative_binomial_yield(225.0, 0.004, 1e9) == pytest.approx(np.exp(-0.9), rel=1e-6)


def test_edge_exclusion_and_scribe_reduce_dies_per_wafer():
    base = dies_per_wafer(100.0, 300.0)
    assert dies_per_wafer(100.0, 300.0, 3.0) < base
    assert dies_per_wafer(100.0, 300.0, 0.0, 0.1) < base
    assert dies_per_wafer(1e6, 300.0) == 0.0  # larger than the wafer: no die
    tech = load_technology(16)  # ... and its cost is at least a wafer, finite, growing with area
    huge = die_cost(np.array([5e4, 1e5, 1e6]), tech)
    assert np.all(np.isfinite(huge.die_cost_usd)) and np.all(np.diff(huge.die_cost_usd) > 0)
    assert huge.die_cost_usd[0] >= tech.value("wafer_cost_16nm")


def test_die_cost_uses_the_node_rows_and_adders():
    designs, tech = load_preset("inferx_x1")
    hw = derive(designs, tech)
    c = die_cost(hw.area_mm2, tech)
    wafer, d0 = tech.value("wafer_cost_16nm"), tech.value("defect_density_16nm")
    assert wafer == 3984 and d0 == pytest.approx(0.10 / CM2)
    n = dies_per_wafer(hw.area_mm2, 300.0, 3.0, 0.1)
    y = negative_binomial_yield(hw.area_mm2, d0, 3.0)
    assert c.die_cost_usd[0] == pytest.approx(wafer / (n[0] * y[0]))
    with_adders = load_technology(16, {**tech.overrides, "die_test_cost": 1.5, "die_package_cost": 21})
    assert die_cost(hw.area_mm2, with_adders).die_cost_usd[0] == pytest.approx(c.die_cost_usd[0] + 22.5)


def test_cost_grows_faster_than_area_and_every_node_has_rows():
    for node in SUPPORTED_NODES_NM:
        tech = load_technology(node)
        areas = np.array([25.0, 50.0, 100.0, 200.0, 400.0, 800.0])
        cost = die_cost(areas, tech).die_cost_usd
        assert np.all(np.diff(cost / areas) > 0), node  # yield and edge loss: superlinear in area
    with pytest.raises(UserError, match="technology.yield_cluster_alpha"):
        load_technology(16, {"yield_cluster_alpha": 0})


def test_die_cost_is_an_objective_and_a_budget(tmp_path):
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    text = (root / "studies/yolov3-2mp-edge.toml").read_text().replace("yolov3@1920x1088", "yolov3@320x320")
    text = nsga2_search(text, trials=48, population=16, seed=1)
    text = text.replace("area_mm2 = 100", "area_mm2 = 100\ndie_cost_usd = 6")
    text = text.replace('[[objectives]]\nmetric = "area"', '[[objectives]]\nmetric = "die_cost"')
    path = tmp_path / "cost.toml"
    path.write_text(text)
    spec = load_study(path)
    assert spec.die_cost_usd == 6 and [o.column for o in spec.objectives][1] == "die_cost_usd"
    result = run_study(spec, tmp_path / "results", executor="local", progress=False)
    trials = result.trials_frame()
    assert (trials["die_cost_usd"] > 0).all()
    assert not trials.loc[trials["feasible"].astype(bool), "die_cost_usd"].gt(6).any()
    cons = constraint_values(spec, {k: trials[k].to_numpy() for k in trials.columns
                                    if trials[k].dtype.kind in "fiub"})
    assert np.allclose(cons["die_cost_usd"], trials["die_cost_usd"] / 6 - 1)
    bad = text.replace("die_cost_usd = 6", "die_cost_usd = -1")
    path.write_text(bad)
    with pytest.raises(UserError, match="budgets.die_cost_usd"):
        load_study(path)


def test_evaluate_area_only_shows_the_cost_breakdown(cli):
    out = cli("evaluate", "--preset", "tpu_v1", "--area-only")
    assert out.returncode == 0 and re.search(r"die cost: \d+\.\d\d USD per good die", out.stdout)
    js = json.loads(cli("evaluate", "--preset", "tpu_v1", "--area-only", "--json").stdout)
    c = js["die_cost"]
    assert c["die_cost_usd"] == pytest.approx(c["wafer_cost_usd"] / (c["dies_per_wafer"] * c["die_yield"]))
    assert c["wafer_cost_usd"] == 2891  # TSMC 28 nm (CSET 2020)


def test_design_batch_cost_matches_per_design():
    designs = DesignBatch.from_columns({"cores": np.array([1, 8, 32]), "sram_mb": np.array([1.0, 8, 32])}, 7)
    tech = load_technology(7)
    hw = derive(designs, tech)
    batch = die_cost(hw.area_mm2, tech).die_cost_usd
    single = [die_cost(hw.area_mm2[i:i + 1], tech).die_cost_usd[0] for i in range(3)]
    assert batch.tolist() == single
