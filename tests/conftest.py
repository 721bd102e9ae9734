"""Shared test helpers."""

import math
import subprocess
import sys

import numpy as np
import pytest
from pathlib import Path

from dse.hardware import space as hwspace


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `dse ARGS...` in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "dse.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout)


def pytest_collection_modifyitems(config, items):
    """Tests that use the shared local Ray carry the ``ray`` marker (``-m "not ray"`` skips them)."""
    for item in items:
        if "ray_local" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ray)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def ray_local():
    """A real local Ray (2 CPUs, no dashboard) started once per test run and shut down at the end.

    Code under test that calls ``ray.init`` only when ``ray.is_initialized()`` is false (the
    executors do) joins this instance instead of starting its own (~3 s and ~800 MB each).
    """
    ray = pytest.importorskip("ray")
    started = False
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR",
                 log_to_driver=False)
        started = True
    yield ray
    if started and ray.is_initialized():
        ray.shutdown()


SMALL_STUDY_SOURCE = "studies/yolov3-2mp-edge.toml"


def nsga2_search(text: str, trials: int, population: int, seed: int) -> str:
    """A study file's text with its [search] table replaced by NSGA-II with these trials (the default
    study runs the vectorized search, whose budget is designs, not trials)."""
    import re

    search = f'[search]\nsampler = "nsga2"\ntrials = {trials}\npopulation = {population}\nseed = {seed}\n\n'
    out, n = re.subn(r"(?ms)^\[search\]\n.*?(?=^\[)", search, text)
    assert n == 1, "the default study has one [search] table followed by another table"
    return out


def write_small_study(folder, *, trials: int = 256, population: int = 64, seed: int = 1,
                      workload: str = "yolov3@416x416", name: str = "small", extra: str = "") -> Path:
    """The default study copied to ``folder/NAME.toml`` with a small workload and budget.

    Budgets stay the default study's (100 mm^2, 10 W): tight enough that some designs are infeasible.
    """
    root = Path(__file__).resolve().parents[1]
    text = (root / SMALL_STUDY_SOURCE).read_text()
    # one workload: the default study's second one (ResNet-50, evaluated for the proxy analysis) is dropped
    text = text.replace('[[workloads]]\nname = "resnet50@224x224"\nbatch = 1\n', "")
    text = text.replace("yolov3@1920x1088", workload)
    text = text.replace('name = "yolov3-2mp-edge"', f'name = "{name}"')
    text = nsga2_search(text, trials, population, seed)
    path = Path(folder) / f"{name}.toml"
    path.write_text(text + extra)
    return path


@pytest.fixture
def small_study(tmp_path):
    """Factory: ``small_study(trials=..., population=..., seed=...)`` -> path of a study file."""
    def make(**kwargs):
        return write_small_study(tmp_path, **kwargs)

    return make


def random_columns(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``n`` random designs inside every parameter's domain (log-uniform where the space is log)."""
    cols = {}
    for p in hwspace.PARAMETERS:
        if not p.numeric:
            cols[p.name] = np.asarray(p.choices, dtype=object)[rng.integers(0, len(p.choices), n)]
            if p.kind == "bool":
                cols[p.name] = cols[p.name].astype(bool)
            continue
        if p.log and p.low == 0:  # log range from 0 (local_kib): zero (none) or log-uniform from 1
            x = np.exp(rng.uniform(0.0, math.log(p.high), n)) * (rng.random(n) >= 0.125)
        elif p.log:
            x = np.exp(rng.uniform(math.log(p.low), math.log(p.high), n))
        else:
            x = rng.uniform(p.low, p.high, n)
        cols[p.name] = np.clip(np.rint(x), p.low, p.high).astype(np.int64) if p.kind != "float" else np.clip(x, p.low, p.high)
    cols["batch"] = np.minimum(cols["batch"], 64)  # the evaluator's memory grows with the batch
    return cols
