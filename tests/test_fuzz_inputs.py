"""Fuzzed study and design files (issue 8): every failure is a UserError naming a path.

The strategies live in ``scripts/fuzz_inputs.py`` (which runs 100,000 examples); CI runs 2,400
here, parse-only (no evaluation).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

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
