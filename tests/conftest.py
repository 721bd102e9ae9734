"""Shared test helpers."""

import subprocess
import sys

import pytest


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `dse ARGS...` in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "dse.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def cli():
    return run_cli
