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
