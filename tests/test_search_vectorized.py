"""The vectorized search: exact front of an enumerable space, resume and report like any study,
no recorded trial lost to a SIGKILL, bulk journal writes equal to Optuna's own."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import optuna.distributions as od
import pandas as pd
import pytest

from dse.search.bulk_trials import add_trials_bulk
from dse.search.evolve import Pool, constrained_front
from dse.search.exhaustive import run_exhaustive
from dse.search.genome import Genome, latin_hypercube
from dse.search.pareto import pareto_mask
from dse.search.spec import load_study
from dse.search.storage import storage_for
from dse.search.run import run_search
from dse.search.vectorized import DESIGNS_TABLE, SeenDesigns

from conftest import write_small_study

#: A discrete space of 3*3*3*2*3*2*3*2*2 = 3,888 designs (YOLOv3 at 416x416: fast to evaluate).
SMALL_SPACE = """
name = "{name}"
node_nm = 16

[[workloads]]
name = "yolov3@416x416"
batch = 1

[space]
cores = {{low = 4, high = 28, step = 12}}
rows = {{values = [8, 16, 32]}}
cols = {{values = [8, 16, 32]}}
clock_ghz = {{low = 0.5, high = 1.0, step = 0.5}}
sram_mb = {{values = [1, 4, 16]}}
dram_type = ["LPDDR4", "LPDDR5"]
dram_channels = {{values = [1, 2, 4]}}
noc = ["bus", "mesh"]
noc_width_bits = {{values = [128, 1024]}}
precision = "int8"
lowering = "im2col"
winograd = false

[budgets]
area_mm2 = 40
power_w = 4

[[objectives]]
metric = "throughput"
workload = "yolov3@416x416"

[[objectives]]
metric = "area"

[[objectives]]
metric = "power"
workload = "yolov3@416x416"

[search]
sampler = "vectorized"
designs = {trials}
seed = 3

[execution]
executor = "local"
"""


def _small_study(folder: Path, name: str = "vsmall", trials: int = 3888) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(SMALL_SPACE.format(name=name, trials=trials))
    return path


def _front_set(values: np.ndarray, digits: int = 9) -> set[tuple]:
    return {tuple(float(f"{v:.{digits}g}") for v in row) for row in values}


def test_genome_decodes_inside_every_distribution_and_round_trips():
    dists = {
        "a": od.IntDistribution(4, 64, step=12),
        "b": od.IntDistribution(32, 4096, log=True),
        "c": od.FloatDistribution(0.4, 1.5, step=0.1),
        "d": od.FloatDistribution(0.25, 256.0, log=True),
        "e": od.CategoricalDistribution(["bus", "ring", "mesh"]),
        "f": od.CategoricalDistribution([False, True]),
        "g": od.CategoricalDistribution([16.0, 1.0, 4.0]),
    }
    genome = Genome(dists)
    rng = np.random.default_rng(0)
    genes = np.vstack([latin_hypercube(500, len(genome), rng), np.zeros((1, len(genome))),
                       np.ones((1, len(genome)))])
    cols = genome.decode(genes)
    for name, dist in dists.items():
        for value in cols[name].tolist():
            assert dist._contains(dist.to_internal_repr(value)), (name, value)
    for row in genome.params(cols, np.arange(len(genes))):
        optuna.trial.create_trial(params=row, distributions=dists, values=[1.0])  # validates
    # Every value is reachable: the extremes decode to the ends of each range.
    assert cols["a"].min() == 4 and cols["a"].max() == 64
    assert cols["b"].min() == 32 and cols["b"].max() == 4096
    assert set(cols["e"]) == {"bus", "ring", "mesh"} and set(cols["g"]) == {1.0, 4.0, 16.0}
    # encode(decode(genes)) decodes to the same designs.
    again = genome.decode(genome.encode(cols))
    for name in dists:
        assert np.array_equal(np.asarray(again[name]), np.asarray(cols[name])) or np.allclose(
            again[name], cols[name], rtol=1e-12), name


def test_discrete_keys_round_trip_and_seen_set():
    genome = Genome({"a": od.IntDistribution(0, 4), "b": od.CategoricalDistribution(["x", "y", "z"])})
    assert genome.total == 15
    keys = np.arange(15)
    genes = genome.from_keys(keys)
    assert np.array_equal(genome.keys(genes), keys)
    for bitmap_max in (100, 0):  # bitmap and sorted-array bookkeeping agree
        import dse.search.vectorized as vec

        old, vec.BITMAP_MAX_DESIGNS = vec.BITMAP_MAX_DESIGNS, bitmap_max
        try:
            seen = SeenDesigns(15)
            seen.add(np.array([3, 7, 1]))
            assert seen.contains(np.array([1, 2, 3, 7, 14])).tolist() == [True, False, True, True, False]
            assert sorted(seen.unseen().tolist()) == sorted(set(range(15)) - {1, 3, 7})
        finally:
            vec.BITMAP_MAX_DESIGNS = old


def test_pool_merge_keeps_the_exact_constrained_front():
    rng = np.random.default_rng(5)
    objs = rng.random((3000, 3))
    vio = np.where(rng.random(3000) < 0.3, rng.random(3000), 0.0)
    pool = Pool.empty(2, 3)
    for start in range(0, 3000, 700):  # infeasible-only first batches, then feasible ones
        sl = slice(start, start + 700)
        pool.merge(rng.random((len(objs[sl]), 2)), objs[sl], vio[sl], np.arange(3000)[sl])
    expected = np.flatnonzero(constrained_front(objs, vio))
    assert sorted(pool.ids.tolist()) == sorted(expected.tolist())
    infeasible = Pool.empty(1, 2)
    infeasible.merge(np.zeros((5, 1)), np.zeros((5, 2)), np.array([3.0, 0.5, 2.0, 0.7, 9.0]), np.arange(5))
    assert not infeasible.feasible and 1 in infeasible.ids  # least violating kept while none is feasible


def test_bulk_trials_read_back_as_add_trials_writes_them(tmp_path):
    dists = {"x": od.FloatDistribution(0.0, 1.0), "c": od.CategoricalDistribution(["a", "b"])}
    trials = [optuna.trial.create_trial(params={"x": 0.1 * i, "c": "ab"[i % 2]}, distributions=dists,
                                        values=[float(i), 2.0 * i], user_attrs={"design": i},
                                        constraints={"area": i - 2.0}) for i in range(6)]
    spec = load_study(_small_study(tmp_path))
    got = {}
    for how in ("bulk", "optuna"):
        folder = tmp_path / how
        folder.mkdir()
        study = optuna.create_study(study_name="s", storage=storage_for(spec, folder),
                                    directions=["minimize", "maximize"])
        add_trials_bulk(study, trials) if how == "bulk" else study.add_trials(trials)
        reopened = optuna.load_study(study_name="s", storage=storage_for(spec, folder))
        got[how] = [(t.number, t.params, t.values, t.user_attrs, t.constraints, t.state)
                    for t in reopened.get_trials()]
    assert got["bulk"] == got["optuna"] and len(got["bulk"]) == 6
    bad = optuna.trial.create_trial(params={"x": 0.5}, distributions={"x": od.FloatDistribution(0, 1)},
                                    values=[1.0])
    with pytest.raises(ValueError):
        add_trials_bulk(study, [bad])  # one value for two objectives


def test_vectorized_finds_the_exact_front_of_an_enumerable_space(tmp_path):
    spec = load_study(_small_study(tmp_path))
    exact = run_exhaustive(spec, tmp_path / "exh", executor="local", progress=False)
    cols = list(exact.front.columns[:0]) or [c["column"] for c in exact.summary["objectives"]]
    result = run_search(spec, results_root=tmp_path / "res", executor="local", progress=False)
    assert result.summary["space_exhausted"] and result.summary["designs_evaluated"] == 3888
    table = pd.read_parquet(result.out_dir / DESIGNS_TABLE)
    assert len(table) == 3888 and table["design"].is_unique
    # Every design evaluated once: the searched parameters are never repeated.
    assert not table.duplicated(subset=list(spec.searched)).any()
    best = np.array([t.values for t in result.study.best_trials])
    assert _front_set(best) == _front_set(exact.front[cols].to_numpy(dtype=float))
    # The recorded trials carry what the other samplers store (metrics, constraints, params).
    t = result.study.best_trials[0]
    assert set(t.params) == set(spec.searched) and t.constraints and "area_mm2" in t.user_attrs["metrics"]


def test_vectorized_study_resumes_and_reports_like_any_other(tmp_path, cli):
    path = _small_study(tmp_path, "vres", trials=1500)
    res = tmp_path / "results"
    first = cli("run", str(path), "--results", str(res), "--no-progress", "--no-report")
    assert first.returncode == 0, first.stderr
    out = res / "vres"
    assert len(pd.read_parquet(out / DESIGNS_TABLE)) == 1500
    n_first = len(optuna.load_study(study_name="vres", storage=storage_for(load_study(path), out)).trials)
    second = cli("run", str(path), "--results", str(res), "--no-progress", "--no-report", "--designs", "2500")
    assert second.returncode == 0, second.stderr
    table = pd.read_parquet(out / DESIGNS_TABLE)
    assert len(table) == 2500 and table["design"].is_unique
    assert not table.duplicated(subset=["cores", "rows", "cols", "clock_ghz", "sram_mb", "dram_type",
                                        "dram_channels", "noc", "noc_width_bits"]).any()
    study = optuna.load_study(study_name="vres", storage=storage_for(load_study(path), out))
    assert len(study.trials) >= n_first
    # The study's front is the exact feasible front of every design in the table.
    spec = load_study(path)
    cols = ["yolov3@416x416:throughput_ips", "area_mm2", "yolov3@416x416:power_w"]
    feas = table[table["feasible"]]
    table_front = feas[pareto_mask(feas[cols].to_numpy(), spec.directions)]
    assert _front_set(np.array([t.values for t in study.best_trials])) == _front_set(table_front[cols].to_numpy())
    report = cli("report", str(out))
    assert report.returncode == 0, report.stderr
    assert (out / "report.html").exists() and (out / "trials.parquet").exists()


def test_report_of_a_vectorized_study_samples_its_table_and_caps_the_sensitivity(tmp_path, monkeypatch, cli):
    import json

    from dse.report import load, uncertainty_section
    from dse.report.html import build_report

    path = _small_study(tmp_path, "vrep", trials=3000)
    spec = load_study(path)
    ran = cli("run", str(path), "--results", str(tmp_path / "results"), "--no-progress", "--no-report")
    assert ran.returncode == 0, ran.stderr
    out = tmp_path / "results" / "vrep"
    table = pd.read_parquet(out / DESIGNS_TABLE)
    monkeypatch.setattr(load, "DESIGNS_SAMPLE", 700)
    r = load.load_results(out)
    assert r.designs_evaluated == 3000 and r.cloud is not None and 0 < len(r.cloud) <= 700
    assert r.cloud["trial"].isna().all() and r.cloud["design"].is_unique
    # sampled rows are rows of the table, none of them a recorded trial
    merged = r.cloud.merge(table, on="design", suffixes=("", "_t"))
    assert len(merged) == len(r.cloud) and (merged["area_mm2"] == merged["area_mm2_t"]).all()
    cols = [o.column for o in spec.objectives]
    assert r.cloud.merge(r.trials[cols], on=cols).empty
    assert len(r.points) == len(r.trials) + len(r.cloud)
    again = load.load_results(out)
    assert again.cloud is not None and again.cloud["design"].tolist() == r.cloud["design"].tolist()  # seeded

    from dse.report.analysis import pareto_front

    front_n = len(pareto_front(r.trials, r.objectives, r.directions))
    cap = 6
    assert front_n > cap
    monkeypatch.setattr(uncertainty_section, "MAX_ANALYSED_DESIGNS", cap)
    build_report(out)
    md = (out / "report.md").read_text()
    assert (f"Every trial (the {len(r.trials)} recorded front designs) and a seeded sample of {len(r.cloud)} "
            "of the other designs evaluated (3000 in all, in designs.parquet/);" in md)
    assert re.search(rf"{cap} of the front's \d+ designs \(the recommendation", md)
    # Convergence runs over the designs table in evaluation order, not over the recorded trials;
    # it ends at the hypervolume of the recorded front (the exact front of the table).
    assert "after half the designs evaluated (1,500 of 3,000)" in md
    from dse.report.analysis import hypervolume_history
    from dse.report.sections import designs_history
    from dse.search.pareto import to_minimization

    losses = to_minimization(r.trials[r.objectives].to_numpy(float), r.directions)
    feasible = r.trials["feasible"].to_numpy(bool)
    hist = designs_history(r, losses[feasible])
    recorded = hypervolume_history(r.trials["trial"].to_numpy(), losses, feasible)
    assert hist["trials"].iloc[-1] == 3000 and np.all(np.diff(hist["hypervolume"]) >= -1e-12)
    assert hist["hypervolume"].iloc[-1] == pytest.approx(recorded["hypervolume"].iloc[-1], rel=1e-12)
    cached = json.loads((out / uncertainty_section.CACHE_FILE).read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert cached["result"]["front_designs"] == cap
    assert cached["result"]["recommended"]["trial"] == summary["recommendation"]["trial"]
    # under the cap: the whole front, and the text says so
    monkeypatch.setattr(uncertainty_section, "MAX_ANALYSED_DESIGNS", 100_000)
    build_report(out)
    md = (out / "report.md").read_text()
    assert f"The front's {front_n} designs were re-evaluated" in md and "analysed front designs" not in md
    assert json.loads((out / uncertainty_section.CACHE_FILE).read_text())["result"]["front_designs"] == front_n


def test_sigkill_mid_run_loses_no_recorded_trial(tmp_path):
    path = write_small_study(tmp_path, trials=1_000_000, name="vkill",
                             extra="")
    text = path.read_text().replace('sampler = "nsga2"', 'sampler = "vectorized"')
    text = text.replace("trials = 1000000", "designs = 1000000")
    text = text.replace('executor = "auto"', 'executor = "local"')
    path.write_text(text)
    spec = load_study(path)
    res = tmp_path / "results"
    out = res / "vkill"
    proc = subprocess.Popen([sys.executable, "-m", "dse.cli.main", "run", str(path), "--results", str(res),
                             "--no-progress", "--no-report"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    before: list = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.3)
            if (out / "study.journal").exists():
                try:
                    before = optuna.load_study(study_name="vkill", storage=storage_for(spec, out)).trials
                except KeyError:
                    continue
                if before:
                    break
        assert before, "no trial was recorded before the deadline"
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    after = optuna.load_study(study_name="vkill", storage=storage_for(spec, out)).trials
    by_number = {t.number: t for t in after}
    for t in before:
        kept = by_number[t.number]
        assert kept.values == t.values and kept.params == t.params and kept.user_attrs == t.user_attrs
    # Resume to a few more designs: the table and the study agree, nothing is evaluated twice.
    table_rows = len(pd.read_parquet(out / DESIGNS_TABLE))
    from dataclasses import replace

    result = run_search(replace(spec, trials=table_rows + 2048), results_root=res, executor="local",
                       progress=False)
    table = pd.read_parquet(out / DESIGNS_TABLE)
    assert len(table) == table_rows + 2048 and table["design"].is_unique
    recorded = {t.user_attrs["design"] for t in result.study.trials}
    assert recorded <= set(table["design"])
    assert {t.number for t in before} <= {t.number for t in result.study.trials}


def test_best_trial_numbers_match_optunas_best_trials():
    from dse.search.tables import best_trial_numbers

    rng = np.random.default_rng(2)
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    dists = {"x": od.FloatDistribution(0, 1)}
    values = rng.integers(0, 6, size=(400, 3)).astype(float)  # ties and duplicates on purpose
    study.add_trials([optuna.trial.create_trial(params={"x": 0.5}, distributions=dists, values=list(v),
                                                constraints={"a": float(rng.normal())}) for v in values])
    assert best_trial_numbers(study) == {t.number for t in study.best_trials}
    assert len(best_trial_numbers(study)) > 1


def test_pool_above_its_cap_keeps_a_spread_subset_of_the_front(monkeypatch):
    import dse.search.evolve as evolve

    monkeypatch.setattr(evolve, "MAX_POOL", 100)
    rng = np.random.default_rng(11)
    objs = rng.dirichlet(np.ones(3), 1000)  # every point on the front
    pool = Pool.empty(1, 3)
    pool.merge(np.zeros((1000, 1)), objs, np.zeros(1000), np.arange(1000))
    assert len(pool) == 100
    for j in range(3):  # the extremes of each objective survive the truncation (largest crowding)
        assert int(np.argmin(objs[:, j])) in pool.ids


def _parse_search(search: dict):
    from dse.search.spec import parse_study

    data = {"node_nm": 16, "workloads": [{"name": "resnet50"}], "space": {"cores": [1, 8]}}
    if search is not None:
        data["search"] = search
    return parse_study(data, "s")


def test_default_sampler_and_the_unit_of_each_budget():
    from dse.errors import UserError
    from dse.search.spec import DEFAULT_DESIGNS

    spec = _parse_search({})  # no sampler, no budget: the vectorized search and its design budget
    assert (spec.sampler, spec.trials, spec.budget_key) == ("vectorized", DEFAULT_DESIGNS, "designs")
    spec = _parse_search({"designs": 5000, "seed": 2})
    assert (spec.sampler, spec.trials) == ("vectorized", 5000)
    # A file that sets trials but names no sampler keeps what trials always meant: nsga2 trials.
    spec = _parse_search({"trials": 300})
    assert (spec.sampler, spec.trials, spec.budget_key) == ("nsga2", 300, "trials")
    assert _parse_search({"sampler": "tpe", "trials": 40}).trials == 40
    with pytest.raises(UserError, match=r"^search\.trials: sampler = 'vectorized' counts designs evaluated, "
                       r"not Optuna trials: set search\.designs"):
        _parse_search({"sampler": "vectorized", "trials": 2048})
    with pytest.raises(UserError, match=r"^search\.designs: applies to sampler = \"vectorized\".*set search\.trials"):
        _parse_search({"sampler": "nsga2", "designs": 2048})
    with pytest.raises(UserError, match=r"^search\.designs: applies to sampler"):
        _parse_search({"trials": 10, "designs": 2048})  # trials picked nsga2: designs has no meaning
    with pytest.raises(UserError, match=r"^search\.designs: 100000001 is above 100000000"):
        _parse_search({"designs": 100_000_001})


def test_cli_budget_flags_name_the_samplers_unit(tmp_path, cli):
    vec = _small_study(tmp_path, "vflags", trials=100)
    out = cli("run", str(vec), "--results", str(tmp_path / "r"), "--trials", "50", "--no-progress")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "--trials:" in out.stderr and "use --designs N" in out.stderr
    nsga = write_small_study(tmp_path, trials=8, population=4, name="nflags")
    out = cli("run", str(nsga), "--results", str(tmp_path / "r"), "--designs", "50", "--no-progress")
    assert out.returncode == 2 and "--designs: applies to sampler" in out.stderr and "use --trials N" in out.stderr
    out = cli("run", str(vec), "--results", str(tmp_path / "r"), "--add-trials", "5", "--no-progress")
    assert out.returncode == 2 and "set --designs instead" in out.stderr
    assert not (tmp_path / "r").exists()  # refused before anything was written


def test_vectorized_refuses_to_resume_another_samplers_study(tmp_path):
    from dataclasses import replace

    from dse.errors import UserError

    path = write_small_study(tmp_path, trials=8, population=4, name="mixed")
    spec = load_study(path)
    first = run_search(replace(spec, executor="local"), results_root=tmp_path / "r", progress=False)
    assert len(first.study.trials) == 8
    vec = replace(spec, sampler="vectorized", trials=2048, executor="local")
    with pytest.raises(UserError, match=r"^search\.sampler: .* holds 8 trials of another sampler; .*--fresh"):
        run_search(vec, results_root=tmp_path / "r", progress=False)
    again = run_search(vec, results_root=tmp_path / "r", progress=False, fresh=True)
    assert again.summary["designs_evaluated"] == 2048


def test_rerun_of_a_finished_vectorized_study_returns_at_once(tmp_path, cli):
    path = _small_study(tmp_path, "vrerun", trials=1200)
    res = tmp_path / "results"
    first = cli("run", str(path), "--results", str(res), "--no-progress", "--no-report")
    assert first.returncode == 0, first.stderr
    journal = res / "vrerun" / "study.journal"
    state = (journal.stat().st_size, journal.stat().st_mtime_ns)
    second = cli("run", str(path), "--results", str(res), "--no-progress", "--no-report")
    assert second.returncode == 0, second.stderr
    assert (journal.stat().st_size, journal.stat().st_mtime_ns) == state  # not even opened for writing
    summary = __import__("json").loads((res / "vrerun" / "summary.json").read_text())
    assert summary["designs_evaluated"] == 1200
    more = cli("run", str(path), "--results", str(res), "--no-progress", "--no-report", "--designs", "1300")
    assert more.returncode == 0, more.stderr
    assert len(pd.read_parquet(res / "vrerun" / DESIGNS_TABLE)) == 1300


def test_proxy_section_of_a_vectorized_study_ranks_the_evaluated_designs(tmp_path, cli):
    """A vectorized study records only its front; the proxy section must rank the front and the
    sample of the designs table, and name the best design on each workload among all of them."""
    from dse.report import analysis as an
    from dse.report import load
    from dse.report.html import build_report

    path = tmp_path / "vproxy.toml"
    path.write_text(SMALL_SPACE.format(name="vproxy", trials=2000).replace(
        '[[workloads]]\nname = "yolov3@416x416"\nbatch = 1\n',
        '[[workloads]]\nname = "yolov3@416x416"\nbatch = 1\n\n[[workloads]]\nname = "resnet50@224x224"\nbatch = 1\n'))
    ran = cli("run", str(path), "--results", str(tmp_path / "results"), "--no-progress", "--no-report")
    assert ran.returncode == 0, ran.stderr
    out = tmp_path / "results" / "vproxy"
    r = load.load_results(out)
    assert r.cloud is not None and len(r.cloud) > 0
    pool = r.points[r.points["feasible"].astype(bool)].reset_index(drop=True)
    assert len(pool) > len(r.feasible)  # more than the recorded front
    build_report(out)
    md = (out / "report.md").read_text()
    assert f"Over {len(pool)} designs within budgets: the front's trials and a sample of the 2000 designs" in md
    # the best design on ResNet-50 is the best of the whole pool, a sampled row if that is where it is
    best = an.design_labels(pool.loc[[pool["resnet50@224x224:throughput_ips"].idxmax()]])[0]
    assert f"the throughput achievable on resnet50@224x224 ({best})" in md
