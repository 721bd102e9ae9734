"""Exhaustive search end to end on a tiny space: the front is the brute-force feasible front."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from dse.errors import UserError
from dse.hardware import space
from dse.hardware.designs import grid as design_grid
from dse.model.api import evaluate_columns
from dse.search.exhaustive import run_exhaustive
from dse.search.spec import load_study
from dse.search.run import run_search
from dse.search.scoring import constraint_values

STUDY = """
name = "tiny-exhaustive"
node_nm = 16

[[workloads]]
name = "resnet50@224x224"
batch = [1, 4]

[space]
cores = {low = 4, high = 64, step = 30}
rows = [16, 32]
clock_ghz = {low = 0.5, high = 1.0, step = 0.5}
sram_mb = [2, 8]
dram_type = ["LPDDR4", "HBM2E"]
dram_channels = [1, 4]
noc = ["bus", "mesh"]

[budgets]
area_mm2 = 60
power_w = 5

[[objectives]]
metric = "throughput"

[[objectives]]
metric = "area"

[[objectives]]
metric = "power"

[search]
sampler = "exhaustive"

[execution]
executor = "local"
"""


def brute_front(frame: pd.DataFrame, cols, directions) -> set[int]:
    sign = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    feas = frame[frame["feasible"]]
    v = feas[cols].to_numpy() * sign
    keep = []
    for i in range(len(v)):
        dominated = np.all(v <= v[i], axis=1) & np.any(v < v[i], axis=1)
        if not dominated.any():
            keep.append(int(feas["design"].iloc[i]))
    return set(keep)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exh")
    path = folder / "tiny.toml"
    path.write_text(STUDY)
    spec = load_study(path)
    result = run_search(spec, results_root=folder / "results", progress=False)
    return spec, result


def test_exhaustive_front_is_brute_force_front(tiny):
    spec, result = tiny
    out = result.out_dir
    table = pd.read_parquet(out / "exhaustive.parquet")
    hw_size = space.grid_size({**spec.searched, **spec.fixed})
    assert len(table) == hw_size * 3 == result.evaluated  # batch 1, 2, 4
    assert 100 <= len(table) <= 2000
    assert table["design"].tolist() == list(range(len(table)))
    cols = [o.column for o in spec.objectives]

    # Independent re-evaluation of every design of the grid, in one call.
    grid = design_grid({**spec.searched, **spec.fixed}, spec.node_nm).to_frame()
    rep = grid.loc[grid.index.repeat(3)].reset_index(drop=True)
    batch = np.tile([1, 2, 4], len(grid))
    columns = {k: rep[k].to_numpy() for k in space.PARAMETER_NAMES if k != "batch"}
    columns["batch"] = batch
    label = spec.workloads[0].label
    metrics = evaluate_columns(columns, spec.node_nm, {}, [(label, batch)])
    cons = constraint_values(spec, metrics)
    feasible = np.all(np.column_stack(list(cons.values())) <= 0, axis=1)
    np.testing.assert_array_equal(table["feasible"].to_numpy(), feasible)
    for c in cols:
        np.testing.assert_allclose(table[c].to_numpy(), metrics[c])
    np.testing.assert_array_equal(table[f"batch.{label}"].to_numpy(), batch)
    for name in spec.searched:
        assert table[name].astype(object).tolist() == rep[name].tolist()

    want = brute_front(table, cols, spec.directions)
    assert 0 < len(want) < feasible.sum()
    assert set(table.loc[table["pareto"], "design"]) == want
    pareto = pd.read_csv(out / "pareto.csv")
    assert set(pareto["design"]) == want
    assert set(result.front["design"]) == want

    summary = json.loads((out / "summary.json").read_text())
    assert summary["designs_evaluated"] == summary["trials_complete"] == len(table)
    assert summary["designs_feasible"] == summary["trials_feasible"] == int(feasible.sum())
    assert summary["front_size"] == summary["pareto_size"] == len(want)
    assert summary["designs_per_s"] > 0 and summary["executor"] == "local"
    assert summary["table_rule"] == "every design"
    assert (out / "study.toml").read_text() == STUDY
    assert result.study is None and result.summary == summary


def test_exhaustive_large_space_rule_and_chunks(tiny, tmp_path):
    """Above the table limit only feasible designs are written; chunking changes nothing."""
    spec, first = tiny
    result = run_exhaustive(spec, tmp_path, executor="local", progress=False, chunk_size=37,
                            full_table_max=10)
    table = pd.read_parquet(result.out_dir / "exhaustive.parquet")
    assert table["feasible"].all()
    assert len(table) == first.summary["designs_feasible"]
    assert set(table.loc[table["pareto"], "design"]) == set(first.front["design"])
    assert result.summary["chunks"] > 10
    assert result.summary["table_rule"].startswith("feasible designs only")


def test_exhaustive_refuses_huge_space(tiny, tmp_path):
    spec, _ = tiny
    big = replace(spec, searched={**spec.searched, "cores": space.make_domain("cores", [1, 256]),
                                  "cols": space.make_domain("cols", [4, 256]),
                                  "noc_width_bits": space.make_domain("noc_width_bits", [32, 4096]),
                                  "clock_ghz": space.make_domain("clock_ghz", [0.2, 2.5])})
    with pytest.raises(UserError, match="more than"):
        run_exhaustive(big, tmp_path, executor="local", progress=False)


def test_exhaustive_study_through_the_cli(tmp_path, cli):
    study = tmp_path / "tiny.toml"
    study.write_text("""
name = "tiny-exhaustive"
node_nm = 16
[[workloads]]
name = "resnet50"
[space]
cores = {values = [1, 4, 16]}
sram_mb = {values = [2, 8, 32]}
dram_type = ["LPDDR4X", "LPDDR5"]
dram_channels = {values = [1, 2]}
[budgets]
area_mm2 = 50
power_w = 5
[search]
sampler = "exhaustive"
""")
    res = cli("run", str(study), "--results", str(tmp_path / "res"), "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "36 trials" in res.stdout
    out = tmp_path / "res" / "tiny-exhaustive"
    assert (out / "exhaustive.parquet").exists() and (out / "pareto.csv").exists()
    assert (out / "report.html").exists() and (out / "figures" / "front_resnet50_224x224.png").exists()
