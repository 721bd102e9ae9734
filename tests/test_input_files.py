"""Hostile input files (issue 18): FIFOs, devices, folders, huge files, deep TOML, huge ONNX dims,
cyclic ONNX graphs, limits quoted exactly. Each gives one UserError line, never a hang.

The in-process cases run under an alarm (:func:`no_hang`) so that a regression fails the test
instead of blocking the run; the CLI cases run ``dse`` in a subprocess with a timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dse.errors import UserError
from dse.hardware.designs import DesignBatch, load_design_file
from dse.search.spec import load_study
from dse.user_files import (
    MAX_ONNX_BYTES,
    MAX_TOKEN_BYTES,
    MAX_TOML_BYTES,
    MAX_TOML_DEPTH,
    read_user_bytes,
)

HANG_S = 20  # far above the milliseconds these take; only a hang reaches it


@contextlib.contextmanager
def no_hang(seconds: float = HANG_S):
    """Fail (TimeoutError) instead of blocking forever on a FIFO or an endless device."""
    def expire(*_):
        raise TimeoutError(f"still blocked after {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def hostile(tmp_path: Path, kind: str, limit: int) -> tuple[Path, str]:
    """A path of the given kind and the words its error must hold."""
    path = tmp_path / f"{kind}.toml"
    if kind == "fifo":
        os.mkfifo(path)
        return path, "is a FIFO (named pipe)"
    if kind == "zero":
        return Path("/dev/zero"), "is a character device"
    if kind == "zero-link":
        path.symlink_to("/dev/zero")
        return path, "is a character device"
    if kind == "folder":
        path.mkdir()
        return path, "is a folder"
    if kind == "huge":  # sparse: no disk used
        with open(path, "wb") as fh:
            fh.truncate(limit + 1)
        return path, f"larger than {limit:,} bytes"
    if kind == "missing":
        return path, "no such"
    raise ValueError(kind)


KINDS = ["fifo", "zero", "zero-link", "folder", "huge", "missing"]


def assert_one_line(err: UserError, path: Path, words: str):
    msg = str(err)
    assert "\n" not in msg and msg.startswith(f"{path}: ") and words in msg, msg


# --- the reader itself -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_reader_refuses_every_non_regular_or_huge_file(tmp_path, kind):
    path, words = hostile(tmp_path, kind, 1000)
    with no_hang(), pytest.raises(UserError) as err:
        read_user_bytes(path, what="study file", max_bytes=1000)
    assert_one_line(err.value, path, words)


def test_reader_limit_is_exact(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 1000)
    assert read_user_bytes(path, what="study file", max_bytes=1000) == b"x" * 1000
    with pytest.raises(UserError, match=r"larger than 999 bytes, the limit for a study file$"):
        read_user_bytes(path, what="study file", max_bytes=999)


def test_reader_refuses_a_file_that_grows_past_the_limit_while_read(tmp_path):
    """The size is checked on what is read, not only on the stat: /proc files report size 0."""
    with pytest.raises(UserError, match="larger than 16 bytes"):
        read_user_bytes("/proc/self/status", what="study file", max_bytes=16)


# --- every loader of a user file ----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_study_files(tmp_path, kind):
    path, words = hostile(tmp_path, kind, MAX_TOML_BYTES)
    with no_hang(), pytest.raises(UserError) as err:
        load_study(path)
    assert_one_line(err.value, path, words)


@pytest.mark.parametrize("kind", KINDS)
def test_design_files(tmp_path, kind):
    path, words = hostile(tmp_path, kind, MAX_TOML_BYTES)
    with no_hang(), pytest.raises(UserError) as err:
        load_design_file(path)
    assert_one_line(err.value, path, words)


@pytest.mark.parametrize("kind", KINDS)
def test_onnx_files(tmp_path, kind):
    pytest.importorskip("onnx")
    from dse.workloads.onnx_import import load_onnx

    path, words = hostile(tmp_path, kind, MAX_ONNX_BYTES)
    with no_hang(), pytest.raises(UserError) as err:
        load_onnx(path, field="onnx")
    msg = str(err.value)
    assert msg.startswith(f"onnx: {path}: ") and words in msg and "\n" not in msg, msg


@pytest.mark.parametrize("kind", ["fifo", "zero", "folder", "huge"])
def test_onnx_workload_of_a_study_file(tmp_path, kind):
    pytest.importorskip("onnx")
    path, words = hostile(tmp_path, kind, MAX_ONNX_BYTES)
    study = tmp_path / "s.toml"
    study.write_text(f'node_nm = 16\n[[workloads]]\nonnx = "{path}"\nresolution = "64x64"\n'
                     '[space]\ncores = [1, 8]\n')
    with no_hang(), pytest.raises(UserError) as err:
        load_study(study)
    assert words in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("kind", ["fifo", "zero", "folder", "huge"])
def test_ray_token_files(tmp_path, monkeypatch, kind):
    from dse.search.executors import token_source

    path, words = hostile(tmp_path, kind, MAX_TOKEN_BYTES)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    with no_hang(), pytest.raises(UserError) as err:
        token_source()
    assert str(err.value).startswith(f"RAY_AUTH_TOKEN_PATH={path}: ") and words in str(err.value)


def test_a_good_token_file_is_still_found(tmp_path, monkeypatch):
    from dse.search.executors import token_source

    path = tmp_path / "token"
    path.write_text("0" * 64 + "\n")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    assert token_source() == f"RAY_AUTH_TOKEN_PATH={path}"
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "absent"))
    assert token_source() == ""


def test_report_folder_files(tmp_path):
    """summary.json and study.toml of a results folder are read through the same reader."""
    from dse.report.load import load_results

    os.mkfifo(tmp_path / "summary.json")
    with no_hang(), pytest.raises(UserError, match=r"summary\.json: is a FIFO"):
        load_results(tmp_path)


# --- nested TOML ----------------------------------------------------------------------------------


@pytest.mark.parametrize("nesting", [
    lambda d: "a = " + "[" * d + "]" * d,
    lambda d: "a = " + "{b = " * d + "1" + "}" * d,
    lambda d: "[" + ".".join(["t"] * d) + "]\nx = 1",
])
@pytest.mark.parametrize("depth", [MAX_TOML_DEPTH + 1, 500, 5000])
def test_deeply_nested_toml(tmp_path, nesting, depth):
    path = tmp_path / "deep.toml"
    path.write_text(nesting(depth) + "\n")
    for loader in (load_study, load_design_file):
        with pytest.raises(UserError) as err:
            loader(path)
        assert str(err.value) == (f"{path}: invalid TOML (tables or arrays nested more than "
                                  f"{MAX_TOML_DEPTH} levels deep)")


def test_nesting_at_the_limit_reaches_validation(tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * MAX_TOML_DEPTH + "]" * MAX_TOML_DEPTH + "\n")
    with pytest.raises(UserError, match=r"^a: unknown"):  # parsed; the key is what is wrong
        load_study(path)


@pytest.mark.parametrize("value,ok", [(2**63 - 1, True), (-(2**63), True), (2**63, False), (10**400, False)])
def test_integers_beyond_64_bits_are_invalid_toml(tmp_path, value, ok):
    """TOML integers are 64-bit; Python's parser takes any size and float() of 10^400 overflows."""
    path = tmp_path / "d.toml"
    path.write_text(f"[design]\nnode_nm = 16\ncores = [1, {value}]\n")
    with pytest.raises(UserError) as err:
        load_design_file(path)
    if ok:  # parsed; the design validation names the field
        assert str(err.value).startswith("design.cores: "), str(err.value)
    else:
        assert str(err.value) == (f"{path}: invalid TOML (design.cores[1]: an integer of {len(str(value))} "
                                  "digits is outside the range TOML allows, "
                                  "-9223372036854775808..9223372036854775807)")


# --- limits quoted exactly ----------------------------------------------------------------------


@pytest.mark.parametrize("value,message", [
    (0.19999999999, "design.clock_ghz: 0.19999999999 is below the minimum 0.2 "),
    (2.5000000001, "design.clock_ghz: 2.5000000001 is above the maximum 2.5 "),
])
def test_limits_and_values_are_printed_so_they_differ(value, message):
    with pytest.raises(UserError) as err:  # one design, validated as a design file is
        DesignBatch.from_params([{"clock_ghz": value}], 16)
    assert str(err.value).startswith(message), str(err.value)
    with pytest.raises(UserError) as err:  # columns (the search's path)
        DesignBatch.from_columns({"clock_ghz": np.array([1.0, value])}, 16)
    assert str(err.value).startswith(message), str(err.value)


def test_cli_quotes_the_clock_limit_exactly(tmp_path, cli):
    path = tmp_path / "d.toml"
    path.write_text("[design]\nnode_nm = 16\nclock_ghz = 0.19999999999\n")
    out = cli("evaluate", "--design", str(path), "--area-only")
    assert out.returncode == 2
    assert out.stderr == ("dse: error: design.clock_ghz: 0.19999999999 is below the minimum 0.2 "
                          "(allowed: 0.2..2.5 GHz)\n")


# --- through the CLI: one line, exit 2, in a subprocess ------------------------------------------


def assert_cli_one_line(out, *words):
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dse: error: "), out.stderr[-2000:]
    assert all(w in lines[0] for w in words), lines[0]


def test_cli_study_file_fifo_and_nested(tmp_path, cli):
    fifo = tmp_path / "s.toml"
    os.mkfifo(fifo)
    out = cli("run", str(fifo), "--results", str(tmp_path / "res"), timeout=60)
    assert_cli_one_line(out, str(fifo), "is a FIFO")
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 500 + "]" * 500 + "\n")
    out = cli("run", str(deep), "--results", str(tmp_path / "res"), timeout=60)
    assert_cli_one_line(out, str(deep), f"nested more than {MAX_TOML_DEPTH} levels")
    assert not (tmp_path / "res").exists()


def test_cli_design_file_dev_zero(cli):
    out = cli("evaluate", "--design", "/dev/zero", timeout=60)
    assert_cli_one_line(out, "/dev/zero: is a character device, expected a design file")


def test_cli_huge_onnx_file(tmp_path, cli):
    pytest.importorskip("onnx")
    path = tmp_path / "huge.onnx"
    with open(path, "wb") as fh:
        fh.truncate(MAX_ONNX_BYTES + 1)
    out = cli("workloads", "--onnx", str(path), timeout=60)
    assert_cli_one_line(out, f"{path}: larger than {MAX_ONNX_BYTES:,} bytes")


def test_cli_ray_token_file_dev_zero(tmp_path):
    """A port that accepts connections (so the probe reaches the token) and the token at
    /dev/zero: one line naming the variable, no read until the memory is gone."""
    with socket.socket() as server:
        server.bind(("0.0.0.0", 0))  # dse resolves 127.0.0.1 to the node IP, as ray.init does
        server.listen()
        port = server.getsockname()[1]
        study = tmp_path / "s.toml"
        study.write_text('node_nm = 16\n[[workloads]]\nname = "resnet50"\n[space]\ncores = [1, 8]\n'
                         '[search]\ntrials = 8\npopulation = 4\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env.update(RAY_AUTH_TOKEN_PATH="/dev/zero")
        out = subprocess.run([sys.executable, "-m", "dse.cli.main", "run", str(study), "--results",
                              str(tmp_path / "res"), "--ray-address", f"127.0.0.1:{port}",
                              "--executor", "ray", "--no-progress", "--no-report"],
                             capture_output=True, text=True, timeout=120, env=env)
    assert_cli_one_line(out, "RAY_AUTH_TOKEN_PATH=/dev/zero: is a character device")


# --- hostile ONNX graphs ------------------------------------------------------------------------


def _onnx_model(tmp_path, nodes, inputs, name="net", output=None):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
                                            for n, s in inputs],
                              [helper.make_tensor_value_info(output or nodes[-1].output[0], TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def _conv(x="x", w="w", y="y", name="conv"):
    from onnx import helper

    return helper.make_node("Conv", [x, w], [y], kernel_shape=[1, 1], name=name)


@pytest.mark.parametrize("inputs,words", [
    ([("x", [1, 3, 2**31, 2**31]), ("w", [8, 3, 1, 1])],
     "tensor 'x' has a dim of 2147483648, above the limit 2147483647 (2^31 - 1)"),
    ([("x", [1, 2**40, 64, 64]), ("w", [8, 2**40, 1, 1])], "has a dim of 1099511627776, above the limit"),
    ([("x", [1, 3, 9000, 64]), ("w", [8, 3, 1, 1])],
     "input 'x' has a static height of 9000 px, outside 1..8192"),
    ([("x", [1, 3, 64, 8193]), ("w", [8, 3, 1, 1])], "static width of 8193 px, outside 1..8192"),
    # every dim below 2^31, yet 2^64 MACs: (64 x 64 x 2^31-1) outputs x (2^31-1) each
    ([("x", [1, 2**31 - 1, 64, 64]), ("w", [2**31 - 1, 2**31 - 1, 1, 1])],
     "layer 'conv' has macs = 18,889,465,913,886,394,814,464, above the limit 9,007,199,254,740,992 (2^53)"),
])
def test_huge_static_onnx_dims(tmp_path, inputs, words):
    from dse.workloads.onnx_import import load_onnx

    path = _onnx_model(tmp_path, [_conv()], inputs)
    with pytest.raises(UserError) as err:
        load_onnx(path, field="onnx")
    assert str(err.value) == f"onnx: {path}: {words}" or words in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


def test_static_side_at_the_limit_is_accepted(tmp_path):
    from dse.workloads.onnx_import import load_onnx

    path = _onnx_model(tmp_path, [_conv()], [("x", [1, 3, 8192, 16]), ("w", [8, 3, 1, 1])])
    assert load_onnx(path).label == "net@16x8192"


def test_huge_onnx_dims_in_a_study_file(tmp_path):
    path = _onnx_model(tmp_path, [_conv()], [("x", [1, 3, 2**31, 64]), ("w", [8, 3, 1, 1])])
    study = tmp_path / "s.toml"
    study.write_text(f'node_nm = 16\n[[workloads]]\nonnx = "{path.name}"\n[space]\ncores = [1, 8]\n')
    with pytest.raises(UserError, match=r"has a dim of 2147483648, above the limit 2147483647"):
        load_study(study)


def test_cli_huge_onnx_dims(tmp_path, cli):
    path = _onnx_model(tmp_path, [_conv()], [("x", [1, 2**31 - 1, 64, 64]), ("w", [2**31 - 1, 2**31 - 1, 1, 1])])
    out = cli("workloads", "--onnx", str(path), timeout=120)
    assert_cli_one_line(out, str(path), "above the limit 9,007,199,254,740,992 (2^53)")


@pytest.mark.parametrize("edges", [
    [("Add", ["x", "b"], "a", "add"), ("Conv", ["a", "w"], "b", "conv")],  # x -> add -> conv -> add
    [("Add", ["x", "a"], "a", "add")],  # a node reading its own output
])
def test_cyclic_onnx_graphs_are_rejected(tmp_path, edges):
    pytest.importorskip("onnx")
    from onnx import helper

    from dse.workloads.onnx_import import load_onnx

    nodes = [helper.make_node(op, ins, [out], name=name, **({"kernel_shape": [1, 1]} if op == "Conv" else {}))
             for op, ins, out, name in edges]
    path = _onnx_model(tmp_path, nodes, [("x", [1, 3, 8, 8]), ("w", [3, 3, 1, 1])])
    with pytest.raises(UserError) as err:
        load_onnx(path, field="onnx")
    assert str(err.value) == (f"onnx: {path}: the graph has a cycle (through Add node 'add'); "
                              "an ONNX graph must be acyclic")


def test_onnx_nodes_out_of_order_are_sorted(tmp_path):
    """Acyclic but not in topological order (ONNX requires the order; some writers do not keep it)."""
    pytest.importorskip("onnx")
    from onnx import helper

    from dse.workloads.onnx_import import load_onnx

    inputs = [("x", [1, 3, 8, 8]), ("w", [4, 3, 1, 1])]
    relu = helper.make_node("Relu", ["a"], ["y"], name="relu")
    ordered = _onnx_model(tmp_path, [_conv(y="a"), relu], inputs, name="ordered", output="y")
    unordered = _onnx_model(tmp_path, [relu, _conv(y="a")], inputs, name="unordered", output="y")
    a, b = load_onnx(ordered), load_onnx(unordered)
    assert list(a.macs) == list(b.macs) == [8 * 8 * 4 * 3]
