"""The metric registry is the one declaration of the model's outputs: the evaluator, the study
objectives and the stored objective columns all follow it."""

import numpy as np
import pytest

from dse.hardware.presets import load_preset
from dse.model import metrics
from dse.model.api import evaluate, evaluate_columns
from dse.search.spec import parse_study


def test_evaluator_columns_are_the_registry():
    designs, tech = load_preset("tpu_v1")
    out = evaluate_columns(designs.columns(), designs.node_nm, dict(tech.overrides), [("resnet50", None)])
    expected = set(metrics.DESIGN_METRICS) | {f"resnet50:{c}" for c in metrics.WORKLOAD_METRICS}
    assert set(out) == expected
    frame = evaluate(designs, "resnet50", technology=tech)
    assert set(frame.columns) == {"design", "workload", *metrics.WORKLOAD_METRICS, *metrics.DESIGN_METRICS}
    assert np.isclose(frame["latency_s"].iloc[0], out["resnet50:latency_s"][0])


@pytest.mark.parametrize("name", sorted(metrics.OBJECTIVES))
def test_every_objective_reads_a_stored_column(name):
    metric = metrics.OBJECTIVES[name]
    spec = parse_study({"node_nm": 16, "workloads": [{"name": "resnet50"}], "space": {"cores": [1, 8]},
                        "objectives": [{"metric": name}]}, "s")
    obj = spec.objectives[0]
    assert obj.direction == metric.direction in (metrics.MAXIMIZE, metrics.MINIMIZE)
    designs, tech = load_preset("tpu_v1")
    out = evaluate_columns(designs.columns(), designs.node_nm, {}, [(spec.workloads[0].label, None)])
    assert obj.column in out  # the column an objective names exists


def test_every_column_has_its_si_unit_in_its_name_or_is_dimensionless():
    suffix = {"s": "_s", "W": "_w", "mm^2": "_mm2", "J/inference": "_j", "bytes/inference": "_bytes",
              "W/mm^2": "_w_per_mm2", "inferences/s": "_ips"}
    for m in metrics.METRICS:
        if m.si_unit in suffix:
            assert m.column.endswith(suffix[m.si_unit]), m
        assert metrics.metric_of(f"yolov3@608x608:{m.column}") is m
    assert metrics.split_column("/tmp/a:b/net.onnx@64x64:latency_s") == ("/tmp/a:b/net.onnx@64x64", "latency_s")
    assert metrics.BY_COLUMN["latency_s"].header("w") == "latency on w [ms]"
