"""Depth-first (layer-fused) schedules and batch schedules: published anchors and properties.

Anchors: Alwani et al., "Fused-Layer CNN Accelerators" (MICRO 2016): the first five convolutions
of VGG-19 at 224x224 (fp32, with their two pooling layers) move about 77 MB of feature maps off
chip layer by layer and about 3.6 MB fused, with 362 KB of on-chip feature-map storage; the InferX
X1 claim of 11.4 frames/s on YOLOv3 at 2 MP (docs/references.md).
"""

import numpy as np
import pytest
from conftest import random_columns

from dse.hardware import space as hwspace
from dse.hardware.designs import DesignBatch
from dse.hardware.physical import derive
from dse.hardware.presets import load_preset
from dse.hardware.technology import load_technology
from dse.model.api import evaluate
from dse.model.evaluator import evaluate_workload
from dse.model.fusion import fusion_plan
from dse.model.validation import fusion_anchor, fusion_anchor_design, fusion_rows
from dse.workloads.registry import load_workload
from dse.workloads.zoo.vgg19 import build_prefix

KIB = 1024
MB = 1e6
ALWANI_STORAGE_BYTES = 362 * KIB  # on-chip feature-map storage of the fused design
ALWANI_LAYER_BYTES = 77 * MB  # published, layer by layer
ALWANI_FUSED_BYTES = 3.6 * MB  # published, fused
TOLERANCE = 0.20
SCHEDULE = {name: code for code, name in enumerate(hwspace.SCHEDULES)}
BATCH_SCHEDULE = {name: code for code, name in enumerate(hwspace.BATCH_SCHEDULES)}


def _alwani(schedule: str):
    """The five VGG-19 convolutions on an fp32 design whose SRAM holds the layers' weights beside
    Alwani's 362 KB of feature-map storage (their weights sit in on-chip buffers of their own):
    the anchor `dse validate` runs from its data file."""
    (row,) = fusion_rows()
    assert float(row["feature_map_storage_bytes"]) == ALWANI_STORAGE_BYTES
    table, design = fusion_anchor_design(row, schedule)
    frame, layers = evaluate(design, table, per_layer=True)
    assert fusion_anchor(row, schedule)["dram_activation_bytes"] == frame["dram_activation_bytes"][0]
    return table, frame.iloc[0], layers[table.label]


def test_vgg19_in_the_zoo_matches_the_paper():
    vgg = load_workload("vgg19@224x224")
    assert vgg.total_weight_elems == 143_667_240  # the paper's 144 M parameters
    assert vgg.total_macs == 19_632_062_464
    first5 = build_prefix(5)
    assert list(first5.name) == ["conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2", "conv3_1"]


def test_alwani_layer_by_layer_feature_map_traffic():
    _, row, _ = _alwani("layer")
    assert row["fused_layers"] == 0
    assert row["dram_activation_bytes"] == pytest.approx(ALWANI_LAYER_BYTES, rel=TOLERANCE)


def test_alwani_fused_feature_map_traffic_and_storage():
    table, row, layers = _alwani("fused")
    # all seven layers in one stack: only the input image is read and conv3_1's output written
    assert row["fused_layers"] == len(table)
    assert (layers["stack"] == 0).all()
    assert row["dram_activation_bytes"] == pytest.approx(ALWANI_FUSED_BYTES, rel=TOLERANCE)
    # the model's smallest buffer for that stack is Alwani's storage (line caches dominate)
    whole = [p for p in fusion_plan(table) if p.n_stacks == 1 and p.stack_last[0] == len(table) - 1]
    assert whole and whole[0].cached.buffer_elems.min() * 4 == pytest.approx(ALWANI_STORAGE_BYTES, rel=0.05)


def test_alwani_storage_is_the_threshold():
    """With less on-chip storage than the line caches need, the seven layers cannot all fuse."""
    (anchor,) = fusion_rows()
    table, design = fusion_anchor_design(anchor, "fused", storage_bytes=0.5 * ALWANI_STORAGE_BYTES)
    row = evaluate(design, table).iloc[0]
    assert row["fused_layers"] < len(table)
    assert row["dram_activation_bytes"] > 1.5 * ALWANI_FUSED_BYTES


def test_inferx_x1_yolov3_2mp_within_15_percent():
    designs, tech = load_preset("inferx_x1")
    row = evaluate(designs, "yolov3@1440x1440", technology=tech).iloc[0]
    assert row["throughput_ips"] == pytest.approx(11.4, rel=0.15)
    assert row["fused_layers"] > 0  # the default schedule (auto) fuses the megapixel layers
    layer = evaluate(designs.with_values(schedule=np.array([SCHEDULE["layer"]])), "yolov3@1440x1440",
                     technology=tech).iloc[0]
    assert layer["throughput_ips"] < row["throughput_ips"]
    assert layer["dram_activation_bytes"] > 2 * row["dram_activation_bytes"]


def test_dram_split_adds_up():
    designs, tech = load_preset("inferx_x1")
    row = evaluate(designs, "yolov3@1440x1440", technology=tech).iloc[0]
    assert row["dram_weight_bytes"] + row["dram_activation_bytes"] == pytest.approx(row["dram_bytes"], rel=1e-12)
    assert row["dram_weight_bytes"] > 0 and row["dram_activation_bytes"] > 0


def test_batching_hurts_megapixel_models_in_lockstep_and_helps_resnet50():
    base = dict(cores=4, rows=32, cols=32, clock_ghz=1.0, sram_mb=8, dram_type="LPDDR4X", dram_channels=2,
                schedule="fused", batch_schedule="lockstep")
    per_image = {}
    for workload in ("yolov3@1920x1088", "resnet50@224x224"):
        d = DesignBatch.from_columns({**base, "batch": [1, 10]}, 16)
        per_image[workload] = evaluate(d, workload)["dram_bytes"].to_numpy()
    assert per_image["yolov3@1920x1088"][1] > per_image["yolov3@1920x1088"][0]
    assert per_image["resnet50@224x224"][1] < 0.6 * per_image["resnet50@224x224"][0]


def test_batch_schedule_auto_is_the_cheaper_per_tensor():
    d = DesignBatch.from_columns({"sram_mb": 8, "batch": 10, "schedule": "layer",
                                  "batch_schedule": ["auto", "lockstep", "per_image"]}, 16)
    for workload in ("yolov3@1920x1088", "resnet50@224x224"):
        dram = evaluate(d, workload)["dram_bytes"].to_numpy()
        assert dram[0] <= min(dram[1], dram[2]) * (1 + 1e-12)
    # resnet50's activations fit one image at a time, not ten: per_image saves the weights
    dram = evaluate(d, "resnet50@224x224")["dram_bytes"].to_numpy()
    assert dram[2] < dram[1]


# --- properties over random designs ---------------------------------------------------------------

def _random_designs(n: int, seed: int, **fixed) -> DesignBatch:
    """``n`` random designs of the whole space (conftest.random_columns), batch <= 16, SRAM
    <= 64 MiB (room to grow in the monotonicity tests), the ``fixed`` columns as given."""
    cols = random_columns(n, np.random.default_rng(seed))
    cols["batch"] = np.minimum(cols["batch"], 16)
    cols["sram_mb"] = np.minimum(cols["sram_mb"], 64)
    cols.update(fixed)
    return DesignBatch.from_columns(cols, 16, repair_channels=True)


WORKLOADS = ("yolov3@1920x1088", "resnet50@224x224", "unet@512x512", "vgg19@224x224")
TECH = load_technology(16)


def _run(table, designs: DesignBatch):
    return evaluate_workload(table, designs, derive(designs, TECH))


@pytest.mark.parametrize("workload", WORKLOADS)
def test_auto_never_picks_a_slower_schedule(workload):
    table = load_workload(workload)
    d = _random_designs(1500, seed=11)
    auto = _run(table, d.with_values(schedule=np.full(len(d), SCHEDULE["auto"], dtype=np.int8)))
    layer = _run(table, d.with_values(schedule=np.full(len(d), SCHEDULE["layer"], dtype=np.int8)))
    assert (layer.fused_layers == 0).all()
    assert (auto.latency_s <= layer.latency_s).all()
    fused = auto.fused_layers > 0
    assert fused.any(), "some random designs should profit from fusion"
    # where auto fuses, it is faster (per stack, hence in total)
    assert (auto.latency_s[fused] < layer.latency_s[fused]).all()


@pytest.mark.parametrize("workload", ("yolov3@416x416", "resnet50@224x224", "unet@256x256", "vgg19@224x224"))
def test_sram_that_holds_every_activation_makes_schedules_equal(workload):
    table = load_workload(workload)
    need_mb = (table.total_weight_elems + table.peak_live_elems * 2) / 2**20
    d = _random_designs(300, seed=5, precision="int8", batch=np.full(300, 2))
    d = d.with_values(sram_bytes=np.full(len(d), max(need_mb * 1.01, 0.25) * 2**20))
    layer = _run(table, d.with_values(schedule=np.full(len(d), SCHEDULE["layer"], dtype=np.int8)))
    fused = _run(table, d.with_values(schedule=np.full(len(d), SCHEDULE["fused"], dtype=np.int8)))
    assert layer.weights_resident.all()
    np.testing.assert_allclose(fused.dram_bytes, layer.dram_bytes, rtol=1e-12)


def _never_rises_with_sram(table, designs: DesignBatch, metric: str, rtol: float) -> None:
    """``metric`` of every design never rises as its SRAM alone grows (x1.3, x2, x4)."""
    previous = None
    for factor in (1.0, 1.3, 2.0, 4.0):
        value = getattr(_run(table, designs.with_values(sram_bytes=designs.sram_bytes * factor)), metric)
        if previous is not None:
            assert (value <= previous * (1 + rtol)).all(), (metric, factor)
        previous = value


@pytest.mark.parametrize("schedule", ["layer", "fused"])
@pytest.mark.parametrize("workload", WORKLOADS)
def test_dram_traffic_never_rises_when_sram_alone_grows(workload, schedule):
    """The traffic models (schedule layer or fused, batch in lockstep): more SRAM, never more
    DRAM bytes. (``auto`` optimizes latency, which never rises: next test.)"""
    d = _random_designs(1000, seed=7, schedule=schedule, batch_schedule="lockstep")
    _never_rises_with_sram(load_workload(workload), d, "dram_bytes", 1e-12)


@pytest.mark.parametrize("workload", WORKLOADS)
def test_latency_never_rises_when_sram_alone_grows_under_auto(workload):
    d = _random_designs(1000, seed=3, schedule="auto", batch_schedule="lockstep", batch=np.ones(1000, int))
    _never_rises_with_sram(load_workload(workload), d, "latency_s", 1e-9)
