"""The built-in networks against the published counts of docs/references.md (Workloads) and hand counts."""

import json

import numpy as np
import pytest

from dse.errors import UserError
from dse.workloads import NetBuilder, load_workload, parse_workload
from dse.workloads.layers import OP_CODE


@pytest.mark.parametrize("side, bflops", [(320, "38.97"), (416, "65.86"), (608, "140.69")])
def test_yolov3_matches_darknet_bflops(side, bflops):
    table = load_workload(f"yolov3@{side}x{side}")
    assert f"{2 * table.total_macs / 1e9:.2f}" == bflops


def test_yolov3_params_and_2mp_activation():
    table = load_workload("yolov3@1920x1088")
    assert table.total_weight_elems / 1e6 == pytest.approx(61.90, rel=0.01)
    assert table.total_macs / 1e9 == pytest.approx(397.5, rel=0.01)
    assert f"{table.largest_activation_elems / 1e6:.1f}" == "66.8"  # 1920*1088*32 B; reference rounds 66.85 up
    assert table.largest_activation_elems == 1920 * 1088 * 32


def test_resnet50_matches_torchvision():
    table = load_workload("resnet50")
    assert table.total_macs / 1e9 == pytest.approx(4.09, rel=0.01)
    assert table.total_weight_elems / 1e6 == pytest.approx(25.56, rel=0.01)
    assert table.largest_activation_elems == 112 * 112 * 64  # 0.80 MB at INT8
    assert load_workload("resnet50@1440x1440").total_macs / 1e9 == pytest.approx(168.9, rel=0.01)


def test_winograd_eligibility_and_ops():
    table = load_workload("resnet50")
    conv = table.op == OP_CODE["conv"]
    three = (table.kernel_h == 3) & (table.stride == 1) & conv
    assert np.array_equal(table.winograd_ok, three)
    assert table.winograd_ok.sum() == 13  # 3x3 stride-1 convs: 16 blocks less the 3 strided ones


def test_peak_live_activation_counted_by_hand():
    # input 8x8x4 (256) -> conv a: 8x8x8 (512) -> conv b: 8x8x8 (512) -> add(a, b) -> conv c 1x1 -> 8x8x2 (128)
    b = NetBuilder("tiny", 8, 8, channels=4)
    x = b.input()
    a = b.conv(x, 8, 3, name="a")
    y = b.conv(a, 8, 3, name="b")
    s = b.add(a, y, name="add")
    b.conv(s, 2, 1, name="c")
    t = b.build()
    assert list(t.in_elems) == [256, 512, 1024, 512]
    assert list(t.out_elems) == [512, 512, 512, 128]
    # while "b" runs, a is its input; no other tensor is alive.  While "add" runs, nothing else.
    assert list(t.live_elems) == [0, 0, 0, 0]
    assert t.peak_live_elems == 1024 + 512


def _skip_net():
    """p (10x10x1) -> q (2 ch) -> r (1 ch) -> add(p, r): p is a skip read three layers later."""
    b = NetBuilder("skip", 10, 10, channels=1)
    p = b.conv(b.input(), 1, 1, name="p")
    q = b.conv(p, 2, 1, name="q")
    r = b.conv(q, 1, 1, name="r")
    b.add(p, r, name="add")
    return b.build()


def test_skip_tensor_is_live_across_intermediate_layers():
    # x(100) -> p: 10x10x1 ; q = conv(p) ; r = conv(q) ; add(p, r): p stays alive across q and r
    t = _skip_net()
    assert list(t.live_elems) == [0, 0, 100, 0]  # during q, p is q's input; during r, p is live
    assert list(t.working_elems) == [200, 300, 200 + 100 + 100, 300]
    assert t.peak_live_elems == 400


@pytest.mark.parametrize("bad, words", [
    ("yolov3@1000x1000", "multiple of 32"),
    ("resnet51", "unknown network"),
    ("yolov3@-5x3", "WIDTHxHEIGHT"),
    ("resnet50@10x10", "outside"),
])
def test_bad_names_raise_user_error(bad, words):
    with pytest.raises(UserError, match=words):
        parse_workload(bad)


@pytest.mark.parametrize("bad", ["yolov3@1000x1000", "resnet51", "yolov3@-5x3"])
def test_cli_bad_names_exit_2_with_one_line(cli, bad):
    res = cli("workloads", "--", bad)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr
    assert lines[0].startswith("dse: error: workload:")


def test_cli_lists_every_builtin_as_json(cli):
    res = cli("workloads", "--json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    names = {r["network"] for r in rows}
    assert {"resnet50", "yolov3"} <= names
    r50 = next(r for r in rows if r["network"] == "resnet50")
    assert r50["largest_activation_bytes"] == 802816
    assert set(r50) >= {"macs", "params", "largest_activation_bytes", "peak_live_activation_bytes"}


def test_cli_table_and_resolution_flag(cli):
    res = cli("workloads", "yolov3", "--resolution", "1920x1088")
    assert res.returncode == 0, res.stderr
    assert "yolov3@1920x1088" in res.stdout and "397.52" in res.stdout


def test_residency_needs_spill_long_lived_skips_first():
    # p (100) is a skip read by "add" three layers later; q, r are short-lived.
    t = _skip_net()
    # network input: always from DRAM; the add's output is the network output: always to DRAM
    assert np.isinf(t.in_slot_keep_need_elems[0, 0]) and np.isinf(t.out_keep_need_elems[3])
    # q: produced by q (active 100 + 200) and read by r (active 200 + 100): needs 300
    assert t.out_keep_need_elems[1] == 300
    # p: active at p (200), q (300) and add (300); bystander during r: 300 + 100 = 400
    assert t.out_keep_need_elems[0] == 400
    # r feeds the add right after it: fused into r's epilogue, never materialized (need 0)
    assert list(t.in_slot_elems[3]) == [100, 100] and list(t.in_slot_keep_need_elems[3]) == [400, 0]
    assert t.out_keep_need_elems[2] == 0
