"""Beyond one machine (issue 7): a real two-node Ray cluster, shared storage, fast failures.

The cluster is started here with the real CLI (``ray start --head`` plus a second ``ray start
--address`` node with its own resources), with Ray 2.60's token authentication on
(``RAY_AUTH_MODE=token`` and a token of our own in ``RAY_AUTH_TOKEN``), and stopped by process
group at the end. Drivers are subprocesses, as on a cluster, so this module never touches the
test session's own Ray (``tests/conftest.py``'s local fixture).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from conftest import write_small_study

pytestmark = [pytest.mark.cluster, pytest.mark.ray]

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
START_TIMEOUT_S = 90.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _study(folder: Path, name: str, trials: int, population: int) -> Path:
    return write_small_study(folder, name=name, trials=trials, population=population)


def _dse(*args: str, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dse.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def _python(code: str, *args: str, env: dict, timeout: float = 240) -> dict:
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True,
                         text=True, timeout=timeout, cwd=ROOT, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def _stop(procs: list[subprocess.Popen]) -> None:
    """Stop `ray start --block` processes and everything they started (their process groups):
    SIGTERM to all (Ray drains), SIGKILL to what is left after a few seconds."""
    def alive(proc):
        proc.poll()
        return subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True).returncode == 0

    for sig, wait_s in ((signal.SIGTERM, 3), (signal.SIGKILL, 5)):
        for proc in procs:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and any(alive(p) for p in procs):
            time.sleep(0.3)


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes on this machine (1 CPU each; the second has the resource ``dse_node2``)."""
    token = secrets.token_hex(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token, RAY_USAGE_STATS_ENABLED="0")
    temp_dir = tempfile.mkdtemp(prefix="dse-ray-")  # short: Ray's socket paths are length-limited
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--block", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--object-store-memory=80000000",
              "--disable-usage-stats"]
    procs: list[subprocess.Popen] = []
    logs = Path(temp_dir)

    def start(name: str, args: list[str]) -> None:
        log = open(logs / f"{name}.log", "w")
        procs.append(subprocess.Popen([RAY, "start", *args, *common], stdout=log, stderr=subprocess.STDOUT,
                                      env=env, start_new_session=True))

    try:
        start("head", ["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp_dir}"])
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    pytest.fail(f"Ray head did not start: {(logs / 'head.log').read_text()[-2000:]}")
                time.sleep(0.3)
        start("node2", [f"--address={address}", '--resources={"dse_node2": 1}'])
        nodes = _python("""
            import json, sys, time, ray
            ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
            deadline = time.monotonic() + float(sys.argv[2])
            while True:
                alive = [n for n in ray.nodes() if n["Alive"]]
                if len(alive) >= 2 or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            print(json.dumps({n["NodeID"]: n["Resources"] for n in alive}))
        """, address, str(START_TIMEOUT_S), env=env)
        if len(nodes) != 2:
            pytest.fail(f"second Ray node did not join: {nodes}; {(logs / 'node2.log').read_text()[-2000:]}")
        yield {"address": address, "env": env, "nodes": nodes, "port": port}
    finally:
        _stop(procs)
        shutil.rmtree(temp_dir, ignore_errors=True)


RUN_THROUGH_EXECUTOR = """
    import json, sys, ray
    from dse.search.executors import RayExecutor
    from dse.search.spec import load_study
    from dse.search.study import run_study

    ex = RayExecutor(sys.argv[2])
    result = run_study(load_study(sys.argv[1]), results_root=sys.argv[3], executor_obj=ex, progress=False)
    print(json.dumps({"evaluated": result.evaluated, "nodes_used": sorted(ex.nodes_used),
                      "tasks_run": ex.tasks_run, "workers": ex.workers,
                      "complete": len(result.study.trials)}))
"""


def test_study_chunks_run_on_both_nodes(cluster, tmp_path):
    """`auto` (via RAY_ADDRESS) attaches to the cluster; chunks follow its 2 CPUs onto both nodes."""
    study = _study(tmp_path, "cluster-nodes", trials=48, population=16)
    env = dict(cluster["env"], RAY_ADDRESS=cluster["address"])
    out = _python(RUN_THROUGH_EXECUTOR, str(study), "auto", str(tmp_path / "results"), env=env)
    assert out["evaluated"] == 48 and out["complete"] == 48
    assert out["workers"] == 2  # cluster CPUs, not this machine's
    assert out["tasks_run"] == 3 * 2 * 3  # 3 batches x (2 CPUs x 3 tasks per CPU)
    assert set(out["nodes_used"]) == set(cluster["nodes"])  # both nodes ran chunks


def test_dse_run_through_cluster_address(cluster, tmp_path):
    study = _study(tmp_path, "cluster-cli", trials=32, population=16)
    res = _dse("run", str(study), "--ray-address", cluster["address"], "--executor", "ray",
               "--results", str(tmp_path / "results"), "--no-progress", "--no-report", env=cluster["env"])
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((tmp_path / "results/cluster-cli/summary.json").read_text())
    assert summary["trials_complete"] == 32 and summary["executor"] == "ray"
    if "ray_nodes_used" in summary:  # once run_cmd reports RayExecutor.nodes_used (issue 7)
        assert summary["ray_nodes_used"] == 2


def _no_auth_env(base: dict, home: Path) -> dict:
    env = {k: v for k, v in base.items() if not k.startswith("RAY_")}
    env["HOME"] = str(home)  # no ~/.ray/auth_token either
    return env


@pytest.mark.parametrize("case", ["refused", "no-token", "wrong-token", "mode-without-token", "bad-format"])
def test_bad_address_or_token_fails_fast_in_one_line(cluster, tmp_path, case):
    study = _study(tmp_path, "cluster-bad", trials=8, population=8)
    address, env = cluster["address"], _no_auth_env(cluster["env"], tmp_path)
    expect = {"refused": "cannot reach", "no-token": "requires a token", "wrong-token": "rejected the token",
              "mode-without-token": "no token", "bad-format": "HOST:PORT"}[case]
    if case == "refused":
        address = f"127.0.0.1:{_free_port()}"
    elif case == "wrong-token":
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0" * 64)
    elif case == "mode-without-token":
        env.update(RAY_AUTH_MODE="token")
    elif case == "bad-format":
        address = "head-node-without-port"
    start = time.monotonic()
    res = _dse("run", str(study), "--ray-address", address, "--executor", "ray",
               "--results", str(tmp_path / "results"), "--no-progress", "--no-report", env=env, timeout=60)
    elapsed = time.monotonic() - start
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, res.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("dse: error: --ray-address"), res.stderr[-2000:]
    assert expect in lines[0]
    assert elapsed < 15, f"took {elapsed:.1f} s (Ray's own failure takes 20 s after start-up)"


def test_two_concurrent_drivers_share_one_journal(tmp_path):
    """Two `dse run` drivers (as on two nodes) on one journal file: every trial either driver asked
    is complete, the drivers' counts add up to the study's, and numbers have no gaps. (The second
    driver must not fail the first's in-flight trials as crash leftovers: study.py's driver records.)"""
    import optuna
    from optuna.trial import TrialState

    study = _study(tmp_path, "shared", trials=320, population=16)
    journal = tmp_path / "shared" / "study.journal"
    journal.parent.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    cmds = [[sys.executable, "-m", "dse.cli.main", "run", str(study), "--storage", str(journal),
             "--executor", "local", "--results", str(tmp_path / f"driver{i}"), "--no-progress", "--no-report"]
            for i in (1, 2)]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for cmd in cmds]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    counts = [json.loads((tmp_path / f"driver{i}/shared/summary.json").read_text())["evaluated_this_run"]
              for i in (1, 2)]
    stored = optuna.load_study(study_name="shared", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))))
    trials = stored.get_trials(deepcopy=False)
    states = {s: sum(t.state == s for t in trials) for s in TrialState}
    assert states[TrialState.RUNNING] == 0, states  # none lost
    # --trials is the study's total: together they stop at 320. Trials asked past it at the very
    # end (both drivers asked at once) are failed unevaluated and marked as surplus.
    assert sum(counts) == states[TrialState.COMPLETE] == 320, (counts, states)
    assert all(t.system_attrs.get("dse_surplus") for t in trials if t.state == TrialState.FAIL)
    assert [t.number for t in trials] == list(range(len(trials)))
    assert all("metrics" in t.user_attrs for t in trials if t.state == TrialState.COMPLETE)
    assert min(counts) > 0, counts  # they really ran at the same time


@pytest.mark.parametrize("how", ["stopped", "frozen"])
def test_lost_ray_head_is_one_line_within_seconds(tmp_path, how):
    """The head of the cluster dies (``stopped``) or its GCS freezes, still accepting connections
    without answering (``frozen``, SIGSTOP): dse stops with its own one line within seconds (Ray's
    own failure takes about a minute, and its exit handlers wait for a frozen head forever), and
    every finished trial is kept in the journal."""
    import optuna
    from optuna.trial import TrialState

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32), RAY_USAGE_STATS_ENABLED="0")
    temp_dir = tempfile.mkdtemp(prefix="dse-ray-")
    port = _free_port()
    head = subprocess.Popen([RAY, "start", "--head", f"--port={port}", "--include-dashboard=false",
                             f"--temp-dir={temp_dir}", "--block", "--node-ip-address=127.0.0.1", "--num-cpus=1",
                             "--object-store-memory=80000000", "--disable-usage-stats"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    driver = None
    frozen: list[str] = []
    try:
        from dse.search.executors import resolve_ray_address

        host = resolve_ray_address(f"127.0.0.1:{port}").rpartition(":")[0]  # as the driver will
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and head.poll() is None, "Ray head did not start"
                time.sleep(0.3)
        study = _study(tmp_path, "headless", trials=100_000, population=16)
        journal = tmp_path / "results" / "headless" / "study.journal"
        driver = subprocess.Popen([sys.executable, "-m", "dse.cli.main", "run", str(study), "--ray-address",
                                   f"127.0.0.1:{port}", "--executor", "ray", "--results", str(tmp_path / "results"),
                                   "--no-progress", "--no-report"], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 180
        while not (journal.exists() and journal.read_bytes().count(b'"state":1') >= 16):
            assert driver.poll() is None, driver.communicate()
            assert time.monotonic() < deadline, "no finished trials in time"
            time.sleep(0.3)
        if how == "frozen":
            frozen = subprocess.run(["pgrep", "-g", str(head.pid), "-f", "gcs_server"], capture_output=True,
                                    text=True).stdout.split()
            assert frozen, "no gcs_server process in the head's process group"
            for pid in frozen:
                os.kill(int(pid), signal.SIGSTOP)
        else:
            _stop([head])
        killed = time.monotonic()
        _, err = driver.communicate(timeout=120)
        elapsed = time.monotonic() - killed
    finally:
        if driver is not None and driver.poll() is None:
            driver.kill()
        for pid in frozen:
            try:
                os.kill(int(pid), signal.SIGCONT)
            except ProcessLookupError:
                pass
        _stop([head])
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert driver.returncode == 2, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("dse: error:")]
    assert lines and "stopped answering" in lines[0] and "rerun to resume" in lines[0], err[-3000:]
    assert elapsed < 30, f"took {elapsed:.1f} s"
    stored = optuna.load_study(study_name="headless", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))))
    done = stored.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert len(done) >= 16 and all("metrics" in t.user_attrs for t in done)
