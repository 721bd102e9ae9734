"""A study hosted on a real PostgreSQL server (Optuna RDB storage), resumed by a second process.

The server comes from ``DSE_TEST_POSTGRES_URL`` (``.ci/run`` installs Debian's ``postgresql``,
starts it on loopback and exports the URL). Under CI (``CI=true``) a missing server or driver is
a failure, not a skip; on a developer machine without one the tests skip.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import write_small_study

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _need(condition: bool, message: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def pg_url() -> str:
    url = os.environ.get("DSE_TEST_POSTGRES_URL", "")
    _need(bool(url), "no PostgreSQL server: DSE_TEST_POSTGRES_URL is not set (.ci/run starts one)")
    try:
        import psycopg  # noqa: F401  (SQLAlchemy 2.1: postgresql:// means psycopg 3)
    except ImportError:
        _need(False, "psycopg is not installed (pyproject test extra: psycopg[binary])")
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 5})
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except Exception as err:  # noqa: BLE001 - any driver error means no usable server
        _need(False, f"PostgreSQL at {url.rsplit('@', 1)[-1]} does not answer ({str(err).splitlines()[0]})")
    return url


def _study(folder: Path, name: str, trials: int, population: int) -> Path:
    return write_small_study(folder, name=name, trials=trials, population=population)


def _dse(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dse.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def test_study_on_postgres_resumed_by_second_process(pg_url, tmp_path):
    import optuna
    from optuna.trial import TrialState

    name = f"pg-{uuid.uuid4().hex[:10]}"
    study_file = _study(tmp_path, name, trials=24, population=12)
    common = ["run", str(study_file), "--storage", pg_url, "--executor", "local", "--results",
              str(tmp_path / "results"), "--no-progress", "--no-report"]
    try:
        first = _dse(*common)
        assert first.returncode == 0, first.stderr
        out_dir = tmp_path / "results" / name
        assert not (out_dir / "study.journal").exists()  # the trials live in PostgreSQL
        s1 = json.loads((out_dir / "summary.json").read_text())
        assert (s1["trials_complete"], s1["evaluated_this_run"]) == (24, 24)

        # A second process (think: another node) resumes the same study to a larger budget.
        second = _dse(*common, "--trials", "48")
        assert second.returncode == 0, second.stderr
        s2 = json.loads((out_dir / "summary.json").read_text())
        assert (s2["trials_complete"], s2["evaluated_this_run"]) == (48, 24)

        study = optuna.load_study(study_name=name, storage=pg_url)
        trials = study.get_trials(deepcopy=False)
        assert [t.number for t in trials] == list(range(48))
        assert all(t.state == TrialState.COMPLETE for t in trials)
        assert all("metrics" in t.user_attrs and t.constraints for t in trials)
        assert len({tuple(sorted(t.params.items())) for t in trials}) > 40  # real search, not one point

        # Rerunning at the reached budget evaluates nothing more.
        third = _dse(*common, "--trials", "48")
        assert third.returncode == 0, third.stderr
        assert json.loads((out_dir / "summary.json").read_text())["evaluated_this_run"] == 0
    finally:
        try:
            optuna.delete_study(study_name=name, storage=pg_url)
        except KeyError:
            pass


def test_wrong_postgres_password_is_one_line(pg_url, tmp_path):
    bad = re.sub(r"://([^:/@]+):[^@]*@", r"://\1:not-the-password@", pg_url)
    study_file = _study(tmp_path, "pg-bad", trials=4, population=4)
    res = _dse("run", str(study_file), "--storage", bad, "--executor", "local", "--results",
               str(tmp_path / "results"), "--no-progress", "--no-report", timeout=60)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dse: error:"), res.stderr
    assert "not-the-password" not in res.stderr  # no password in messages
