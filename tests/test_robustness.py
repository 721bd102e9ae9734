"""Robustness (issue 8): CLI errors, worker crashes, storage faults, numeric safety, determinism.

Fault injection on this machine (tests run as root, so ``chmod`` blocks nothing):
* read-only results folder: the folder bind-mounted read-only onto itself (``mount --bind`` +
  ``remount,bind,ro``); where mounting is not allowed, a file in the way of the results folder;
* locked SQLite database: a second sqlite3 connection holding ``BEGIN EXCLUSIVE``, with the busy
  timeout shortened through ``DSE_SQLITE_BUSY_TIMEOUT_S``;
* full disk: the results root on a small tmpfs (``mount -t tmpfs -o size=...``), grown with
  ``remount,size=`` once the fault is gone; where mounting is not allowed, ``RLIMIT_FSIZE`` in the
  ``dse run`` subprocess (SIGXFSZ ignored so that writes fail with EFBIG);
* worker crash: ``DSE_FAULT_KILL_WORKER_ONCE`` makes the first Ray task ``os._exit(1)``.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import random_columns
from optuna.trial import TrialState

from dse.errors import UserError
from dse.hardware import designs as hwdesigns
from dse.hardware import space as hwspace
from dse.model.api import evaluate_columns
from dse.search.executors import FAULT_ENV
from dse.search.spec import load_study
from dse.search.results_files import JOURNAL_NAME
from dse.search.study import run_study

# --- helpers ------------------------------------------------------------------------------------


def dse_cmd(*args):
    return [sys.executable, "-m", "dse.cli.main", *args]


def run_dse(*args, env=None, preexec_fn=None, timeout=300):
    return subprocess.run(dse_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, preexec_fn=preexec_fn)


def assert_one_line_error(proc, *needles):
    """Exit 2, exactly one stderr line ``dse: error: ...`` (no traceback) holding every needle."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("dse: error: "), proc.stderr[-2000:]
    for needle in needles:
        assert needle.lower() in lines[0].lower(), lines[0]
    return lines[0]


def stored_trials(storage) -> dict[int, optuna.trial.FrozenTrial]:
    trials = optuna.load_study(study_name="small", storage=storage).trials
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)), "duplicated trial numbers"
    return {t.number: t for t in trials if t.state == TrialState.COMPLETE}


def journal(path: Path):
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def assert_kept(before: dict, after: dict, target: int) -> None:
    """The rerun reached ``target`` COMPLETE trials and every earlier trial is unchanged."""
    assert len(after) == target
    for number, t in before.items():
        assert after[number].params == t.params and after[number].values == t.values
        assert after[number].user_attrs["metrics"] == t.user_attrs["metrics"]


def sh(*cmd) -> bool:
    return subprocess.run(cmd, capture_output=True).returncode == 0


@contextlib.contextmanager
def mounted(target: Path, *mount_args: str):
    """``mount ARGS target``; yields False (and mounts nothing) where mounting is not allowed."""
    ok = sh("mount", *mount_args, str(target))
    try:
        yield ok
    finally:
        if ok and not sh("umount", str(target)):
            sh("umount", "-l", str(target))


RUN = ("--executor", "local", "--no-progress", "--no-report")

# --- CLI: bad flags and paths -----------------------------------------------------------------


def subcommands() -> list[str]:
    from dse.cli.main import build_parser

    parser = build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return list(action.choices)


BAD_CALLS = {
    "workloads": [["--no-such-flag"], ["yolov3@13x7"], ["--onnx", "/nonexistent/model.onnx"]],
    "evaluate": [["--no-such-flag"], ["--design", "/nonexistent/design.toml"], ["--design", "{file}"],
                 ["--preset", "t4", "--batch", "-3"]],
    "run": [["--no-such-flag", "x.toml"], ["/nonexistent/study.toml"], ["{tmp}"], ["--trials", "-1", "{study}"],
            ["--storage", "redis://x", "{study}"], ["--storage", "sqlite:////nonexistent/dir/x.db", "{study}"],
            ["--results", "{file}", "{study}"]],
    "report": [["--no-such-flag"], ["/nonexistent/results"], ["{tmp}"]],
    "validate": [["--no-such-flag"], ["/nonexistent/study.toml"]],
    "sensitivity": [["--no-such-flag"], ["/nonexistent/results"], ["{tmp}"], ["--samples", "0", "{tmp}"]],
}


def test_every_subcommand_rejects_bad_flags_and_paths(tmp_path, small_study):
    names = subcommands()
    assert {"workloads", "evaluate", "run", "report"} <= set(names)
    study = small_study(trials=8, population=4)
    afile = tmp_path / "a-file"
    afile.write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    calls = []
    for name in names:
        for args in BAD_CALLS.get(name, [["--no-such-flag"]]):
            args = [a.format(tmp=empty, study=study, file=afile) for a in args]
            calls.append(([name, *args], subprocess.Popen(
                dse_cmd(name, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    calls.append((["no-such-command"], subprocess.Popen(dse_cmd("no-such-command"), stdout=subprocess.PIPE,
                                                        stderr=subprocess.PIPE, text=True)))
    for args, proc in calls:  # launched together: ~1 s of imports each, on 2 cores
        out, err = proc.communicate(timeout=120)
        lines = err.strip().splitlines()
        assert proc.returncode == 2, (args, proc.returncode, err[-1500:])
        assert len(lines) == 1 and lines[0].startswith("dse: error: "), (args, err[-1500:])


# --- worker crash -------------------------------------------------------------------------------


def test_worker_crash_loses_and_duplicates_nothing(small_study, tmp_path, monkeypatch, ray_local):
    spec = load_study(small_study(trials=128, population=64))
    marker = tmp_path / "worker-killed-once"
    monkeypatch.setenv(FAULT_ENV, str(marker))
    crashed = run_study(spec, tmp_path / "ray", executor="ray", progress=False)
    assert marker.exists(), "the fault was not injected"
    monkeypatch.delenv(FAULT_ENV)
    trials = crashed.study.trials
    assert sorted(t.number for t in trials) == list(range(128))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    local = run_study(spec, tmp_path / "local", executor="local", progress=False)
    a, b = crashed.trials_frame(), local.trials_frame()
    cols = [c for c in a.columns if c != "duration_s"]
    pd.testing.assert_frame_equal(a[cols], b[cols])


# --- storage faults ------------------------------------------------------------------------------


@pytest.mark.root
def test_read_only_results_folder(small_study, tmp_path):
    study = small_study(trials=64, population=32)
    results = tmp_path / "results"
    assert run_dse("run", str(study), "--results", str(results), *RUN).returncode == 0
    folder = results / "small"
    before = stored_trials(journal(folder / JOURNAL_NAME))
    with mounted(folder, "--bind", str(folder)) as ok:
        if not ok or not sh("mount", "-o", "remount,bind,ro", str(folder)):
            pytest.skip("bind mounts not allowed here (the file-in-the-way case still runs)")
        assert not os.access(folder, os.W_OK) or not sh("touch", str(folder / "probe"))
        proc = run_dse("run", str(study), "--results", str(results), "--trials", "128", *RUN)
        assert_one_line_error(proc, "read-only", str(folder))
    proc = run_dse("run", str(study), "--results", str(results), "--trials", "128", *RUN)
    assert proc.returncode == 0, proc.stderr
    assert_kept(before, stored_trials(journal(folder / JOURNAL_NAME)), 128)


def test_file_in_the_way_of_the_results_folder(small_study, tmp_path):
    study = small_study(trials=32, population=16)
    results = tmp_path / "results"
    results.mkdir()
    (results / "small").write_text("not a folder")
    proc = run_dse("run", str(study), "--results", str(results), *RUN)
    assert_one_line_error(proc, str(results / "small"))
    (results / "small").unlink()
    assert run_dse("run", str(study), "--results", str(results), *RUN).returncode == 0


def test_locked_sqlite_database(small_study, tmp_path):
    study = small_study(trials=16, population=8)
    db = tmp_path / "study.db"
    args = ("run", str(study), "--results", str(tmp_path / "results"), "--storage", f"sqlite:///{db}", *RUN)
    assert run_dse(*args).returncode == 0
    url = f"sqlite:///{db}"
    before = stored_trials(optuna.storages.RDBStorage(url))
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        proc = run_dse(*args, "--trials", "24", env={"DSE_SQLITE_BUSY_TIMEOUT_S": "0.5"})
        assert_one_line_error(proc, "locked", str(db))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    proc = run_dse(*args, "--trials", "24")
    assert proc.returncode == 0, proc.stderr
    assert_kept(before, stored_trials(optuna.storages.RDBStorage(url)), 24)


def _fsize_limit(limit_bytes: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes then fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return apply


@pytest.mark.root
def test_full_disk(small_study, tmp_path):
    """The results root fills up mid-run: one clear line; after freeing space the rerun resumes."""
    study = small_study(trials=256, population=64)
    results = tmp_path / "results"
    results.mkdir()
    target = ("run", str(study), "--results", str(results), *RUN)
    with mounted(results, "-t", "tmpfs", "-o", "size=400k") as ok:
        if ok:  # a small tmpfs: the journal (~5 KB per trial) fills it during the second generation
            proc = run_dse(*target)
        else:  # no mounts here: a file-size limit in the subprocess
            proc = run_dse(*target, preexec_fn=_fsize_limit(400_000))
        line = assert_one_line_error(proc, "storage", "rerun")
        assert "space" in line.lower() or "too large" in line.lower()
        folder = results / "small"
        before = stored_trials(journal(folder / JOURNAL_NAME))
        assert 0 < len(before) < 256
        if ok:
            assert sh("mount", "-o", "remount,size=64m", str(results))
        proc = run_dse(*target)
        assert proc.returncode == 0, proc.stderr
        assert_kept(before, stored_trials(journal(folder / JOURNAL_NAME)), 256)


# --- numeric safety --------------------------------------------------------------------------------


#: Parameters whose corners are cycled over the grid instead of crossed with it (crossing them all
#: would make the corner grid 12 times larger): every design is still a corner, and every value of
#: these appears with many combinations of the others.
CYCLED = ("dataflow", "local_kib", "sram_bw_bytes_per_cycle", "schedule", "batch_schedule", "fusion_halo")


def corner_designs(node_nm: int = 16):
    """Every combination of each numeric parameter's bounds and every categorical choice (DRAM
    channel counts not allowed for their type are dropped); the :data:`CYCLED` parameters take
    their corner values in turn along the grid."""
    domains = {}
    for p in hwspace.PARAMETERS:
        if p.name not in CYCLED:
            domains[p.name] = {"values": [p.low, p.high]} if p.numeric else list(p.choices)
    grid = hwdesigns.grid(domains, node_nm)
    index = np.arange(len(grid))
    cycled = {}
    for k, name in enumerate(CYCLED):
        p = hwspace.get_parameter(name)
        values = np.asarray([p.low, p.high] if p.numeric else list(p.choices), dtype=object)
        cycled[name] = values[(index // (k + 1) + k) % len(values)]
        if p.numeric:
            cycled[name] = cycled[name].astype(np.int64)
    return grid.with_values(**cycled)


def assert_finite(metrics: dict) -> None:
    for key, arr in metrics.items():
        bad = ~np.isfinite(np.asarray(arr, dtype=np.float64))
        assert not bad.any(), f"{key}: {int(bad.sum())} non-finite values"


def test_domain_corners_give_finite_metrics():
    designs = corner_designs()
    assert len(designs) > 10_000
    columns = designs.columns()
    for workload in ("resnet50@224x224", "yolov3@1920x1088"):
        metrics = evaluate_columns(columns, 16, {}, [(workload, None)])
        assert_finite(metrics)
        assert (metrics[f"{workload}:throughput_ips"] > 0).all()


def test_a_million_random_designs_give_finite_metrics():
    n, chunk = 1_000_000, 125_000  # chunks bound the (designs x layers) arrays to ~50 MB each
    columns = random_columns(n, np.random.default_rng(8))
    seen = 0
    for start in range(0, n, chunk):
        part = {k: v[start:start + chunk] for k, v in columns.items()}
        metrics = evaluate_columns(part, 7, {}, [("resnet50@224x224", None)])  # DRAM channels repaired
        assert_finite(metrics)
        seen += len(metrics["area_mm2"])
    assert seen == n


@pytest.mark.parametrize("name,value", [
    ("cores", 0), ("cores", 257), ("rows", 2), ("clock_ghz", 0.0), ("clock_ghz", math.nan),
    ("sram_mb", math.inf), ("sram_mb", -1.0), ("dram_channels", 99), ("noc_width_bits", 10**9),
    ("batch", 0), ("precision", "int4"), ("dram_type", "SDRAM"), ("noc", "torus"), ("cores", 2.5),
])
def test_designs_outside_the_domain_are_rejected_before_evaluation(name, value):
    columns = random_columns(4, np.random.default_rng(0))
    bad = columns[name].astype(object)
    bad[2] = value
    columns[name] = bad
    with pytest.raises(UserError, match=rf"^design\.{name}: "):
        evaluate_columns(columns, 16, {}, [("resnet50@224x224", None)])


def test_study_space_outside_the_domain_is_rejected(small_study, tmp_path):
    path = small_study(trials=8, population=4)
    path.write_text(path.read_text().replace("cores = [1, 64]", "cores = [0, 100000]"))
    with pytest.raises(UserError, match=r"^space\.cores\.low: 0 is below the minimum 1"):
        load_study(path)


# --- determinism ------------------------------------------------------------------------------------


def test_same_study_and_seed_give_identical_trials(small_study, tmp_path, ray_local):
    spec = load_study(small_study(trials=128, population=64, seed=7))
    frames = {}
    for name, executor in (("local-a", "local"), ("local-b", "local"), ("ray-a", "ray"), ("ray-b", "ray")):
        frames[name] = run_study(spec, tmp_path / name, executor=executor, progress=False).trials_frame()
    cols = [c for c in frames["local-a"].columns if c != "duration_s"]
    pd.testing.assert_frame_equal(frames["local-a"][cols], frames["local-b"][cols])
    params = [p for p in spec.searched]
    for a, b in (("ray-a", "ray-b"), ("ray-a", "local-a")):
        for gen in range(2):  # the same designs are evaluated per generation
            ga = frames[a][frames[a]["trial"] // 64 == gen][params].to_dict("records")
            gb = frames[b][frames[b]["trial"] // 64 == gen][params].to_dict("records")
            assert ga == gb
        pd.testing.assert_frame_equal(frames[a][cols], frames[b][cols])
    other = run_study(load_study(small_study(trials=64, population=64, seed=8, name="small")),
                      tmp_path / "seed8", executor="local", progress=False).trials_frame()
    assert other[params].to_dict("records") != frames["local-a"][params].head(64).to_dict("records")


def test_torn_and_corrupted_journals(small_study, tmp_path):
    """A torn last record (a write cut by a full disk) is cut on resume; a corrupted record in the
    middle is one clear error, and --fresh starts over."""
    spec = load_study(small_study(trials=32, population=16))
    run_study(spec, tmp_path, executor="local", progress=False)
    path = tmp_path / "small" / JOURNAL_NAME
    before = stored_trials(journal(path))
    with open(path, "ab") as fh:
        fh.write(b'{"op_code":6,"worker_id":"x","trial_id":')
    from dataclasses import replace

    result = run_study(replace(spec, trials=48), tmp_path, executor="local", progress=False)
    assert result.evaluated == 16
    assert_kept(before, stored_trials(journal(path)), 48)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[5] = b"garbage" + lines[5]
    path.write_bytes(b"".join(lines))
    with pytest.raises(UserError, match=r"^storage: cannot read .*study\.journal \(corrupted: .*--fresh"):
        run_study(spec, tmp_path, executor="local", progress=False)
    assert run_study(spec, tmp_path, executor="local", progress=False, fresh=True).evaluated == 32
