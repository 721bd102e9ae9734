"""SSD-ResNet34, MobileNetV2 and U-Net against published figures and hand counts."""

import numpy as np
import pytest

from dse.workloads import load_workload
from dse.workloads.layers import OP_CODE
from dse.workloads.zoo import ssd_resnet34


def _row(table, name):
    (idx,) = np.flatnonzero(table.name == name)
    return idx


# --- SSD-ResNet34 ---------------------------------------------------------------------------------

def test_ssd_resnet34_against_mlperf():
    t = load_workload("ssd_resnet34")
    assert (t.width, t.height) == (1200, 1200)
    # Published 433.411 GFLOPs (Open Model Zoo / MLPerf "433 GOPs") counts 2 ops per MAC plus
    # non-MAC elementwise work; the convolution MACs are our exact count, 0.13% below half of it.
    assert t.total_macs == 216_415_931_904
    assert 2 * t.total_macs / 433.411e9 == pytest.approx(1.0, rel=0.002)
    assert t.total_weight_elems == 19_967_606
    assert t.total_weight_elems / 20.058e6 == pytest.approx(1.0, rel=0.01)


def test_ssd_resnet34_feature_maps_and_heads():
    t = load_workload("ssd_resnet34")
    # stride-8 backbone (layer3 stride changed to 1), then the five extra blocks
    assert t.out_h[_row(t, "layer3.5.add")] == 150 and t.out_c[_row(t, "layer3.5.add")] == 256
    assert [t.out_h[_row(t, f"extra{i}.conv2")] for i in range(1, 6)] == [75, 38, 19, 9, 7]
    # 3x3 stride-3 heads give the 50, 25, 13, 7, 3, 3 grids of the 1200x1200 model
    assert [t.out_h[_row(t, f"conf{i}")] for i in range(6)] == [50, 25, 13, 7, 3, 3]
    assert [t.out_c[_row(t, f"loc{i}")] for i in range(6)] == [16, 24, 24, 24, 16, 16]
    assert [t.out_c[_row(t, f"conf{i}")] for i in range(6)] == [324, 486, 486, 486, 324, 324]
    locs = [_row(t, f"loc{i}") for i in range(6)]
    boxes = sum(t.out_h[r] * t.out_w[r] * t.out_c[r] // 4 for r in locs)
    assert boxes == 15_130
    # hand count: conf0 reads 150x150x256 and writes 50x50x324 with a 3x3 kernel
    conf0 = _row(t, "conf0")
    assert t.macs[conf0] == 50 * 50 * 324 * 256 * 9 == 1_866_240_000
    assert t.weight_elems[conf0] == 324 * 256 * 9 + 324
    # layer3.0 keeps stride 1: its 3x3 conv1 runs at 150x150, its 1x1 downsample too
    assert t.macs[_row(t, "layer3.0.conv1")] == 150 * 150 * 256 * 128 * 9
    assert t.macs[_row(t, "layer3.0.downsample")] == 150 * 150 * 256 * 128


def test_ssd_resnet34_smallest_side():
    ssd_resnet34.build(ssd_resnet34.MIN_SIDE, ssd_resnet34.MIN_SIDE)
    with pytest.raises(ValueError):
        ssd_resnet34.build(ssd_resnet34.MIN_SIDE - 1, ssd_resnet34.MIN_SIDE - 1)


# --- MobileNetV2 ----------------------------------------------------------------------------------

def test_mobilenet_v2_against_torchvision():
    t = load_workload("mobilenet_v2")
    assert t.total_macs / 300e6 == pytest.approx(1.0, rel=0.01)  # "300 M MACs" / "0.30 GFLOPS"
    assert t.total_macs == 300_774_272
    # torchvision: 3,504,872 parameters, each BN channel with 2 affine terms; folded: 1 bias each
    bn_channels = int(t.out_c[np.isin(t.op, [OP_CODE["conv"], OP_CODE["dwconv"]])].sum())
    assert bn_channels == 17_056
    assert t.total_weight_elems + bn_channels == 3_504_872
    assert t.total_weight_elems / 3_504_872 == pytest.approx(1.0, rel=0.01)


def test_mobilenet_v2_depthwise_and_residuals():
    t = load_workload("mobilenet_v2")
    dw = t.op == OP_CODE["dwconv"]
    assert dw.sum() == 17
    assert all(name.endswith(".dw") for name in t.name[dw])
    assert np.array_equal(t.groups[dw], t.in_c[dw]) and np.array_equal(t.out_c[dw], t.in_c[dw])
    assert not t.winograd_ok[dw].any()
    assert (t.op == OP_CODE["add"]).sum() == 10  # stride-1 blocks with equal in/out channels
    # hand count of block 2 (t=6, 16 -> 24, stride 2) at 112x112 input
    assert t.macs[_row(t, "features.2.expand")] == 112 * 112 * 96 * 16
    assert t.macs[_row(t, "features.2.dw")] == 56 * 56 * 96 * 9
    assert t.weight_elems[_row(t, "features.2.dw")] == 96 * 9 + 96
    assert t.macs[_row(t, "classifier")] == 1280 * 1000


# --- U-Net ----------------------------------------------------------------------------------------

def _unet_macs_per_pixel() -> int:
    """Derived by hand from the topology (padded 3x3 convs, 2x2/2 up-convolutions, 3 -> 2)."""
    ch = [64, 128, 256, 512, 1024]
    total, c_in = 0, 3
    for level, c in enumerate(ch):  # encoder + bottleneck: two 3x3 convs at 1/4^level pixels
        total += 9 * (c_in * c + c * c) / 4 ** level
        c_in = c
    for level in range(3, -1, -1):  # decoder; up-conv: 1 MAC per in/out channel pair per out pixel
        c = ch[level]
        total += (ch[level + 1] * c + 9 * (2 * c * c + c * c)) / 4 ** level
    total += 64 * 2
    assert total == int(total)
    return int(total)


def test_unet_counts_by_hand():
    t = load_workload("unet")
    assert _unet_macs_per_pixel() == 735_040
    assert t.total_macs == 1024 * 1024 * 735_040 == 770_745_303_040
    assert t.total_weight_elems / 31.0e6 == pytest.approx(1.0, rel=0.01)  # the paper's 31 M
    assert t.total_weight_elems == 31_031_810
    up = _row(t, "up1.upconv")  # 2x2 stride-2 transposed conv, 64x64x1024 -> 128x128x512
    assert (t.in_h[up], t.out_h[up], t.in_c[up], t.out_c[up]) == (64, 128, 1024, 512)
    assert t.macs[up] == 64 * 64 * 4 * 1024 * 512 == 128 * 128 * 512 * 1024
    assert t.weight_elems[up] == 2 * 2 * 1024 * 512 + 512
    out = _row(t, "outc")
    assert t.out_c[out] == 2 and t.macs[out] == 1024 * 1024 * 64 * 2
    assert t.largest_activation_elems == 1024 * 1024 * 128  # the last concat


def test_unet_skips_live_across_bottleneck():
    t = load_workload("unet")
    skips = sum((1024 >> i) ** 2 * (64 << i) for i in range(4))  # the four encoder outputs
    for name in ("bottleneck.conv1", "bottleneck.conv2", "up1.upconv"):
        assert t.live_elems[_row(t, name)] == skips > 0
    # after each concat its skip is dead; the shallowest skip is live until the last concat
    assert t.live_elems[_row(t, "up4.conv1")] == 0
    assert t.live_elems[_row(t, "up3.conv1")] == 1024 * 1024 * 64
    assert t.in_elems[_row(t, "up4.concat")] == 2 * 1024 * 1024 * 64


# --- all three: other resolutions -----------------------------------------------------------------

@pytest.mark.parametrize("default, other, tol", [
    ("ssd_resnet34", "ssd_resnet34@800x600", 0.01),
    ("mobilenet_v2", "mobilenet_v2@320x320", 0.01),  # the FC is resolution-independent
    ("unet", "unet@512x768", 0.0),
])
def test_macs_scale_with_pixels(default, other, tol):
    a, b = load_workload(default), load_workload(other)
    assert (b.width, b.height) != (a.width, a.height)
    pixels = (b.width * b.height) / (a.width * a.height)
    assert b.total_macs / a.total_macs == pytest.approx(pixels, rel=tol, abs=0 if tol else 1e-12)
    assert b.total_weight_elems == a.total_weight_elems
