"""Data integrity: a study in use is never deleted, a file that is not a storage is never touched.

Through the CLI in subprocesses, with real journal and SQLite files and real concurrent drivers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from conftest import run_cli, write_small_study
from dse.errors import UserError
from dse.search.spec import load_study
from dse.search.storage import storage_for


def _study_file(folder: Path, trials: int, name: str = "s", extra: str = "") -> Path:
    path = write_small_study(folder, trials=trials, population=32, name=name, extra=extra)
    path.write_text(path.read_text().replace('executor = "auto"', 'executor = "local"'))
    return path


def _complete_trials(journal: Path) -> list:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def _start_driver(study: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dse.cli.main", "run", str(study), "--no-report",
                             "--no-progress", "--results", str(cwd / "results")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_trials(journal: Path, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if journal.exists() and b'"state":1' in journal.read_bytes():
            return
        time.sleep(0.2)
    raise AssertionError("the driver wrote no finished trial in time")


def test_fresh_refuses_while_another_driver_runs(tmp_path):
    study = _study_file(tmp_path, trials=1_000_000 // 10)
    journal = tmp_path / "results" / "s" / "study.journal"
    driver = _start_driver(study, tmp_path)
    try:
        _wait_for_trials(journal, driver)
        before = journal.stat().st_ino
        res = run_cli("run", str(study), "--trials", "32", "--fresh", "--no-report", "--no-progress",
                      "--results", str(tmp_path / "results"))
        assert res.returncode == 2, res.stderr
        assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
        assert "in use by a running `dse run`" in res.stderr and f"pid {driver.pid}" in res.stderr
        assert "nothing was deleted" in res.stderr
        assert journal.stat().st_ino == before  # the journal was not deleted or replaced
        assert driver.poll() is None  # the first driver goes on
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    done = _complete_trials(journal)
    assert done, "the first driver's finished trials are kept"
    names = set(done[0].params)
    assert all(set(t.params) == names and t.values for t in done)
    # Once the driver is gone, --fresh starts over as asked.
    res = run_cli("run", str(study), "--trials", "32", "--fresh", "--no-report", "--no-progress",
                  "--results", str(tmp_path / "results"))
    assert res.returncode == 0, res.stderr
    assert len(_complete_trials(journal)) == 32


@pytest.mark.parametrize("url_kind", ["journal", "sqlite"])
def test_storage_path_onto_another_file_is_refused_and_untouched(tmp_path, url_kind):
    victim = tmp_path / "victim.txt"
    content = b"first line\nlast line without newline"
    victim.write_bytes(content)
    url = f"journal:{victim}" if url_kind == "journal" else f"sqlite:///{victim}"
    study = _study_file(tmp_path, trials=8, extra=f'\n[storage]\nurl = "{url}"\n')
    res = run_cli("run", str(study), "--no-report", "--no-progress", "--results", str(tmp_path / "results"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "storage.url" in res.stderr and "untouched" in res.stderr
    assert "--fresh" not in res.stderr  # never advise deleting data that is not ours
    assert victim.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("victim")) == ["victim.txt"]
    # The same through --storage.
    plain = _study_file(tmp_path, trials=8, name="plain")
    res = run_cli("run", str(plain), "--storage", url, "--no-report", "--no-progress",
                  "--results", str(tmp_path / "results"))
    assert res.returncode == 2 and "--storage" in res.stderr
    assert victim.read_bytes() == content


def test_special_files_are_refused_without_opening(tmp_path):
    fifo = tmp_path / "pipe.journal"
    os.mkfifo(fifo)
    study = _study_file(tmp_path, trials=8, extra=f'\n[storage]\nurl = "journal:{fifo}"\n')
    start = time.monotonic()
    res = run_cli("run", str(study), "--no-report", "--no-progress", "--results", str(tmp_path / "results"),
                  timeout=60)
    assert res.returncode == 2 and "not a regular file" in res.stderr
    assert time.monotonic() - start < 30


def test_a_replaced_journal_is_never_written(tmp_path):
    """A driver whose journal was deleted and made anew by another process stops without writing
    into the new one (the cause of a finished trial without parameters)."""
    study_path = _study_file(tmp_path, trials=8)
    spec = load_study(study_path)
    journal = tmp_path / "j.journal"
    storage = storage_for(spec, tmp_path, f"journal:{journal}")
    study = optuna.create_study(study_name="s", storage=storage, directions=["minimize"])
    study.enqueue_trial({})
    journal.unlink()
    journal.write_bytes(b"")
    with pytest.raises(UserError, match="deleted|replaced"):
        study.ask()
    assert journal.read_bytes() == b""


def _run(study: Path, *flags: str, results: Path | None = None) -> subprocess.CompletedProcess:
    results = results or study.parent / "results"
    return run_cli("run", str(study), "--no-report", "--no-progress", "--results", str(results), *flags)


def test_resuming_a_different_study_is_refused_naming_what_changed(tmp_path):
    study = _study_file(tmp_path, trials=16)
    assert _run(study).returncode == 0
    journal = tmp_path / "results" / "s" / "study.journal"
    size = journal.stat().st_size
    original = study.read_text()
    for edit, named in [(lambda t: t.replace("node_nm = 16", "node_nm = 7"), "node_nm: 16 -> 7"),
                        (lambda t: t.replace("area_mm2 = 100", "area_mm2 = 50"), "budgets changed"),
                        (lambda t: t.replace("cores = [1, 64]", "cores = [1, 32]"), "space changed")]:
        study.write_text(edit(original))
        res = _run(study)
        assert res.returncode == 2, res.stderr
        assert named in res.stderr and "another `name`" in res.stderr and "Traceback" not in res.stderr
        assert journal.stat().st_size == size  # nothing was written to the stored study
    # What does not define the study (trials, seed, sampler settings) resumes it.
    study.write_text(original.replace("trials = 16", "trials = 32").replace("seed = 1", "seed = 5"))
    res = _run(study)
    assert res.returncode == 0, res.stderr
    assert "32 trials" in res.stdout


@pytest.mark.parametrize("storage", ["journal", "sqlite"])
def test_trials_is_the_total_under_concurrent_drivers(tmp_path, storage):
    extra = "" if storage == "journal" else f'\n[storage]\nurl = "sqlite:///{tmp_path / "s.db"}"\n'
    study = _study_file(tmp_path, trials=48, extra=extra)
    procs = [subprocess.Popen([sys.executable, "-m", "dse.cli.main", "run", str(study), "--no-report",
                               "--no-progress", "--results", str(tmp_path / "results")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    spec = load_study(study)
    st = optuna.load_study(study_name="s", storage=storage_for(spec, tmp_path / "results" / "s"))
    assert len(st.get_trials(states=(TrialState.COMPLETE,))) == 48
    assert not st.get_trials(states=(TrialState.RUNNING,))
    # --add-trials adds to what the study has.
    res = _run(study, "--add-trials", "16")
    assert res.returncode == 0, res.stderr
    assert len(st.get_trials(states=(TrialState.COMPLETE,))) == 64


@pytest.mark.parametrize("flags, message", [
    (("--trials", "2000000"), "--trials: 2000000 is outside 1..1000000"),
    (("--add-trials", "0"), "--add-trials: 0 is outside 1..1000000"),
    (("--trials", "8", "--add-trials", "8"), "--add-trials: not allowed with --trials"),
])
def test_trial_flags_are_checked(tmp_path, flags, message):
    res = _run(_study_file(tmp_path, trials=8), *flags)
    assert res.returncode == 2 and message in res.stderr
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_seed_range_is_checked_when_the_study_is_read(tmp_path):
    study = _study_file(tmp_path, trials=8)
    study.write_text(study.read_text().replace("seed = 1", f"seed = {2**32}"))
    res = _run(study)
    assert res.returncode == 2 and "search.seed: 4294967296 is outside 0..4294967295" in res.stderr
    study.write_text(study.read_text().replace(f"seed = {2**32}", f"seed = {2**32 - 1}"))
    assert _run(study).returncode == 0
    res = _run(study, "--trials", "16")  # the resume offsets the seed past 2^32 - 1: wrapped
    assert res.returncode == 0, res.stderr
    assert "corrupt" not in res.stderr


@pytest.mark.parametrize("key, value, allowed", [
    ("dram_lpddr4_efficiency", "0", "0.01 <= value <= 1 fraction"),
    ("dram_lpddr4_bw_per_channel", "5e-324", "0.001 <= value <= 100000 GB/s"),
    ("layer_overhead_s", "1e308", "0 <= value <= 1 s"),
])
def test_degenerate_technology_overrides_are_refused(tmp_path, key, value, allowed):
    study = _study_file(tmp_path, trials=8, extra=f"\n[technology]\n{key} = {value}\n")
    res = _run(study)
    assert res.returncode == 2 and f"technology.{key}" in res.stderr and allowed in res.stderr


def test_json_output_is_strict_json(tmp_path):
    import json

    from dse import jsonsafe

    def strict(text):
        return json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))

    assert strict(jsonsafe.dumps({"a": float("nan"), "b": [np.float64("inf"), np.int64(3)]})) == {
        "a": None, "b": [None, 3]}
    res = run_cli("evaluate", "--preset", "t4", "--workload", "resnet50", "--json")
    assert res.returncode == 0, res.stderr
    strict(res.stdout)


def test_non_image_onnx_model_in_a_study_file(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"], name="fc1"), helper.make_node("Relu", ["m"], ["y"])]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])],
                              [numpy_helper.from_array(np.zeros((256, 64), np.float32), "w")])
    onnx.save(helper.make_model(graph), str(tmp_path / "mlp.onnx"))
    study = tmp_path / "mlp.toml"
    study.write_text('node_nm = 16\n[[workloads]]\nonnx = "mlp.onnx"\n[space]\ncores = [1, 4]\n'
                     '[[objectives]]\nmetric = "area"\n[search]\ntrials = 4\npopulation = 4\n'
                     '[execution]\nexecutor = "local"\n')
    res = _run(study)
    assert res.returncode == 0, res.stderr
    assert "4 trials" in res.stdout


def test_storage_paths_are_relative_to_the_study_file(tmp_path):
    folder = tmp_path / "studies"
    folder.mkdir()
    study = _study_file(folder, trials=8, extra='\n[storage]\nurl = "journal:my.journal"\n')
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    res = subprocess.run([sys.executable, "-m", "dse.cli.main", "run", str(study), "--no-report",
                          "--no-progress", "--results", str(tmp_path / "results")],
                         cwd=elsewhere, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert (folder / "my.journal").exists() and not (elsewhere / "my.journal").exists()


def test_report_never_creates_a_storage_and_reports_write_errors_in_one_line(tmp_path):
    study = _study_file(tmp_path, trials=8, extra=f'\n[storage]\nurl = "sqlite:///{tmp_path / "s.db"}"\n')
    assert _run(study).returncode == 0
    out = tmp_path / "results" / "s"
    (tmp_path / "s.db").rename(tmp_path / "moved.db")
    for name in ("trials.parquet", "exhaustive.parquet"):
        (out / name).unlink(missing_ok=True)
    res = run_cli("report", str(out))
    assert res.returncode == 2 and "does not exist" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "s.db").exists()
    # A folder the report cannot write into (a file where its figures folder goes): one line.
    (tmp_path / "moved.db").rename(tmp_path / "s.db")
    (out / "figures").mkdir(exist_ok=True)
    import shutil

    shutil.rmtree(out / "figures")
    (out / "figures").write_text("in the way")
    res = run_cli("report", str(out))
    assert res.returncode == 2 and "Traceback" not in res.stderr and res.stderr.count("\n") == 1


def test_summary_directions_are_checked_and_nan_objectives_do_not_break_the_report(tmp_path):
    import json

    import pandas as pd

    study = _study_file(tmp_path, trials=16)
    assert _run(study).returncode == 0
    out = tmp_path / "results" / "s"
    (out / "study.journal").unlink()  # the report falls back to trials.parquet + summary.json
    summary = json.loads((out / "summary.json").read_text())
    column = summary["objectives"][0]["column"]
    table = pd.read_parquet(out / "trials.parquet")
    table.loc[table.index[:3], column] = float("nan")
    table.to_parquet(out / "trials.parquet")
    res = run_cli("report", str(out))
    assert res.returncode == 0, res.stderr
    summary["objectives"][0]["direction"] = "upwards"
    (out / "summary.json").write_text(json.dumps(summary))
    res = run_cli("report", str(out))
    assert res.returncode == 2 and "direction 'upwards' is not maximize or minimize" in res.stderr


def test_every_catalog_constant_has_a_physical_domain():
    from dse.hardware.technology import catalog_rows, override_domain

    rows = catalog_rows()
    for key, unit, v7, v16 in zip(rows["key"], rows["unit"], rows["value_7nm"], rows["value_16nm"]):
        low, inclusive, high, reason = override_domain(key, unit)
        assert reason and low <= high
        for value in (v7, v16):  # the catalog's own values lie inside their domains
            assert (value > low or (inclusive and value == low)) and value <= high, (key, value)
