"""The search loop (issue 5 acceptance) with real Optuna, real storage files and a real local Ray.

A small copy of the default study (YOLOv3 at 416x416, population 64) keeps each run to seconds.
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from dse.search.spec import load_study
from dse.search.results_files import JOURNAL_NAME
from dse.search.scoring import constraint_values
from dse.search.study import run_study
from dse.search.tables import pareto_frame, trials_frame

REPO = Path(__file__).resolve().parents[1]


def complete_trials(study):
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def check_trials(study, spec, n):
    """``n`` COMPLETE trials, each with every metric and constraint, all finite; some infeasible."""
    trials = complete_trials(study)
    assert len(trials) == n
    n_constraints = 1 + 2 * len(spec.workloads)  # area, power and power density per workload
    infeasible = 0
    for t in trials:
        metrics = t.user_attrs["metrics"]
        assert "area_mm2" in metrics and f"{spec.workloads[0].label}:throughput_ips" in metrics
        assert all(math.isfinite(v) for v in metrics.values()), t.number
        assert len(t.constraints) == n_constraints
        assert all(math.isfinite(c) for c in t.constraints.values())
        assert all(math.isfinite(v) for v in t.values)
        infeasible += any(c > 0 for c in t.constraints.values())
    assert 0 < infeasible < n, "budgets should make some (not all) trials infeasible"
    return trials


def test_journal_storage(small_study, tmp_path):
    spec = load_study(small_study(trials=256, population=64))
    result = run_study(spec, tmp_path / "results", executor="local", progress=False)
    assert (tmp_path / "results" / "small" / JOURNAL_NAME).stat().st_size > 0
    assert result.evaluated == 256
    check_trials(result.study, spec, 256)
    # the storage alone rebuilds the tables: reopen the journal from scratch
    again = optuna.load_study(study_name="small", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "results" / "small" / JOURNAL_NAME))))
    frame = trials_frame(again)
    assert len(frame) == 256 and not frame.drop(columns=["duration_s"]).isna().any().any()
    assert {"constraint:area_mm2", "feasible", "area_mm2"} <= set(frame.columns)


def test_sqlite_storage_and_fresh(small_study, tmp_path):
    # SQLite is ~10x slower than the journal for batched ask/tell: a smaller run suffices.
    spec = load_study(small_study(trials=32, population=16))
    url = f"sqlite:///{tmp_path / 'study.db'}"
    result = run_study(spec, tmp_path / "results", storage_url=url, executor="local", progress=False)
    assert (tmp_path / "study.db").stat().st_size > 0
    check_trials(result.study, spec, 32)
    # rerun: nothing to do
    again = run_study(spec, tmp_path / "results", storage_url=url, executor="local", progress=False)
    assert again.evaluated == 0 and len(again.study.trials) == 32
    # --fresh deletes the stored study and starts over
    fresh = run_study(spec, tmp_path / "results", storage_url=url, executor="local", progress=False,
                      fresh=True)
    assert fresh.evaluated == 32
    assert sorted(t.number for t in fresh.study.trials) == list(range(32))


def journal_complete_count(path: Path) -> int:
    """COMPLETE trials in a journal file being written by another process (state 1 = COMPLETE)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    return sum(1 for line in data.splitlines() if b'"op_code":6' in line and b'"state":1' in line)


def dse_cmd(*args):
    return [sys.executable, "-m", "dse.cli.main", *args]


def test_resume_after_sigkill(small_study, tmp_path):
    target = 512
    study = small_study(trials=target, population=64)
    results = tmp_path / "results"
    cmd = dse_cmd("run", str(study), "--results", str(results), "--executor", "local", "--no-progress",
                  "--no-report")
    journal = results / "small" / JOURNAL_NAME
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while journal_complete_count(journal) < 64 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert killed, "the run finished before it could be killed: raise the trial count"
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    before = {t.number: (t.params, t.values, t.user_attrs["metrics"])
              for t in optuna.load_study(study_name="small", storage=storage).trials
              if t.state == TrialState.COMPLETE}
    assert 64 <= len(before) < target

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    trials = optuna.load_study(study_name="small", storage=storage).trials
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    done = {t.number: t for t in trials if t.state == TrialState.COMPLETE}
    assert len(done) == target
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    for number, (params, values, metrics) in before.items():  # nothing evaluated before is lost
        assert done[number].params == params
        assert done[number].values == values
        assert done[number].user_attrs["metrics"] == metrics
    # the tables reflect the storage
    frame = pd.read_csv(results / "small" / "trials.csv")
    assert len(frame) == target and frame["trial"].is_unique


def test_fresh_cli_starts_over(small_study, tmp_path, cli):
    study = small_study(trials=64, population=32)
    results = tmp_path / "results"
    args = ("run", str(study), "--results", str(results), "--executor", "local", "--no-progress", "--no-report")
    assert cli(*args).returncode == 0
    assert cli(*args, "--trials", "96").returncode == 0
    frame = pd.read_csv(results / "small" / "trials.csv")
    assert len(frame) == 96
    out = cli(*args, "--fresh")
    assert out.returncode == 0, out.stderr
    frame = pd.read_csv(results / "small" / "trials.csv")
    assert sorted(frame["trial"]) == list(range(64))


def test_ray_executor_matches_local(small_study, tmp_path, ray_local):
    spec = load_study(small_study(trials=64, population=32))
    local = run_study(spec, tmp_path / "local", executor="local", progress=False)
    ray = run_study(spec, tmp_path / "ray", executor="ray", progress=False)
    assert ray.executor == "ray"
    a, b = local.trials_frame(), ray.trials_frame()
    cols = [c for c in a.columns if c not in ("duration_s",)]
    pd.testing.assert_frame_equal(a[cols], b[cols])


def test_python_api(small_study, tmp_path):
    spec = load_study(small_study(trials=64, population=32))
    assert spec.directions == ["maximize", "minimize", "minimize"]
    result = run_study(spec, tmp_path / "results", executor="local", progress=False)
    trials, front = result.trials_frame(), result.pareto_frame()
    assert isinstance(trials, pd.DataFrame) and isinstance(front, pd.DataFrame)
    assert len(trials) == 64 and 0 < len(front) <= trials["feasible"].sum()
    assert set(trials["noc_width_bits"]) <= {64, 128, 256, 512, 1024}  # powers of two, never 533 bits
    assert front["feasible"].all()
    pd.testing.assert_frame_equal(front, pareto_frame(result.study))
    # the front is non-dominated among the feasible trials
    obj = trials.loc[trials["feasible"], ["yolov3@416x416:throughput_ips", "area_mm2", "yolov3@416x416:power_w"]]
    loss = obj.to_numpy() * np.array([-1, 1, 1])
    for row in front[obj.columns].to_numpy() * np.array([-1, 1, 1]):
        assert not np.any(np.all(loss <= row, axis=1) & np.any(loss < row, axis=1))
    # constraint values are relative budget violations, recomputable from the stored metrics
    t = complete_trials(result.study)[0]
    metrics = {k: np.array([v]) for k, v in t.user_attrs["metrics"].items()}
    cons = constraint_values(spec, metrics)
    assert list(cons) == list(t.constraints)
    assert np.allclose([v[0] for v in cons.values()], list(t.constraints.values()))


def test_a_study_with_nothing_to_search_is_a_user_error(tmp_path, cli):
    study = tmp_path / "fixed.toml"
    study.write_text('node_nm = 16\n[[workloads]]\nname = "resnet50"\n[space]\ncores = 8\n')
    res = cli("run", str(study), "--results", str(tmp_path / "res"), "--no-progress")
    assert res.returncode == 2 and res.stderr.startswith("dse: error: space: nothing to search")
    assert not (tmp_path / "res").exists()
