"""Fuzzed input files (issues 8 and 18): every failure is a UserError naming a path.

The strategies live in ``scripts/fuzz_inputs.py`` (which runs 100,000 examples); CI runs a few
hundred per kind here: study and design files (parse only), special files, ONNX graphs and
technology overrides (evaluated).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fuzz_inputs.py"


def load_fuzzer():
    spec = importlib.util.spec_from_file_location("fuzz_inputs", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


fuzz = load_fuzzer()


def test_study_files_fail_only_with_user_errors():
    stats = fuzz.run(1600, kinds=("study",), report=lambda _msg: None)
    assert stats["examples"] == 1600
    assert stats["non_user_errors"] == 0, stats["failures"][:5]


def test_design_files_fail_only_with_user_errors():
    stats = fuzz.run(800, kinds=("design",), report=lambda _msg: None, max_reported=10_000)
    assert stats["examples"] == 800
    assert stats["non_user_errors"] == 0, stats["failures"][:5]


def test_special_files_fail_only_with_user_errors():
    """FIFOs, devices, sockets, folders, symlinks, sparse files at and over the size limits, as
    study, design, ONNX and Ray token files: one line each, no hang."""
    stats = fuzz.run(200, kinds=("special",), report=lambda _msg: None)
    assert stats["examples"] == 200
    assert stats["non_user_errors"] == 0, stats["failures"][:5]


def test_hostile_onnx_graphs_fail_only_with_user_errors():
    pytest.importorskip("onnx")
    stats = fuzz.run(150, kinds=("onnx",), report=lambda _msg: None)
    assert stats["examples"] == 150
    assert stats["non_user_errors"] == 0, stats["failures"][:5]


def test_technology_overrides_are_rejected_or_give_finite_metrics():
    """Needs the physical domain of every override (issue 18, the lead's part: a DRAM efficiency
    or bandwidth of 0 gives NaN throughput without it); runs as soon as it is there."""
    from dse.hardware import technology

    if not hasattr(technology, "override_domain"):
        pytest.skip("technology override domains are not on this branch yet")
    stats = fuzz.run(150, kinds=("technology",), report=lambda _msg: None)
    assert stats["examples"] == 150
    assert stats["non_user_errors"] == 0, stats["failures"][:5]


@pytest.mark.parametrize("target", fuzz.TARGETS)
@pytest.mark.parametrize("file_kind", fuzz.FILE_KINDS)
def test_every_special_file_kind(tmp_path, target, file_kind):
    if target == "onnx":
        pytest.importorskip("onnx")
    assert fuzz.check_special(target, file_kind, "name with spaces ☃.toml", 7, tmp_path) is None


def test_checker_flags_hangs_and_non_finite_metrics(tmp_path):
    """The oracle of the new kinds can fail: a blocking read is a hang, NaN metrics are flagged."""
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(TimeoutError):
        with fuzz.hang_alarm(0.5):
            open(tmp_path / "fifo").read()  # what the readers did before issue 18
    doc = fuzz.tomllib.loads(fuzz.DESIGN_BASES[0])
    doc.setdefault("technology", {})["layer_overhead_s"] = 1e-6
    design = fuzz.dumps(doc)
    assert fuzz.check_technology(design.encode(), tmp_path / "d.toml") is None
    fuzz.load_design_file(tmp_path / "d.toml")  # it loads: the evaluation below is reached
    nan_metrics = fuzz.evaluate_columns  # a stand-in model that returns NaN must be caught
    try:
        fuzz.evaluate_columns = lambda *a, **k: {"x": np.array([np.nan])}
        assert "non-finite x" in fuzz.check_technology(design.encode(), tmp_path / "d.toml")
    finally:
        fuzz.evaluate_columns = nan_metrics


@pytest.mark.parametrize("data", [b"", b"\n", b"# comment only\n", b"\xff\xfe\x00", b"[[[",
                                  b'node_nm = 16\nnode_nm = 16\n', b"node_nm = nan\n[[workloads]]\nname = \"resnet50\"\n"])
def test_degenerate_study_files(tmp_path, data):
    path = tmp_path / "s.toml"
    assert fuzz.check(data, "study", path) is None


def test_checker_flags_non_user_errors(tmp_path):
    """The oracle itself: a message without a path, or spanning lines, counts as a failure."""
    good = fuzz.STUDY_TEXT.encode()
    assert fuzz.check(good, "study", tmp_path / "ok.toml") is None
    bad = good.replace(b"[space]", b'[space]\n"a\\nb" = 1')
    assert fuzz.check(bad, "study", tmp_path / "bad.toml") is None  # quoted key: one line
    from dse.search.spec import load_study
    from dse.errors import UserError

    with pytest.raises(UserError, match=r'^space\."a\\u000ab": unknown key'):
        load_study(tmp_path / "bad.toml")


@pytest.mark.parametrize("edit,match", [
    # found by the fuzzer: `$` let a trailing newline through (results/NAME\n/ and a key shown unquoted)
    (lambda t: t.replace('name = "yolov3-2mp-edge"', 'name = "abc\\n"'), r"^name: 'abc\\n' must be"),
    (lambda t: t.replace('batch = 1', 'batch = 1\n"v\\n" = 1'), r'^workloads\[0\]\."v\\u000a": unknown key'),
    (lambda t: t + '\n[technology]\n"k\\r" = 1\n', r'^technology\."k\\u000d": unknown technology key'),
    (lambda t: t.replace("cores = [1, 64]", 'cores = {low = 1, high = 64, "\\n" = 2}'),
     r'^space\.cores\."\\u000a": unknown key'),
    (lambda t: t.replace('noc = ["bus", "ring", "mesh", "crossbar"]', 'noc = {low = 1}'),
     r"^space\.noc: expected a list of choices or one value"),
])
def test_fuzzer_findings_stay_fixed(tmp_path, edit, match):
    from dse.errors import UserError
    from dse.search.spec import load_study

    path = tmp_path / "s.toml"
    path.write_text(edit(fuzz.STUDY_TEXT))
    with pytest.raises(UserError, match=match):
        load_study(path)
