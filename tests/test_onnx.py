"""ONNX import/export: small hand-counted graphs, zoo round trips, errors (API and CLI)."""

import json
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from dse.errors import UserError  # noqa: E402
from dse.workloads import load_workload  # noqa: E402
from dse.workloads.layers import OP_CODE  # noqa: E402
from dse.workloads.onnx_export import export_onnx, table_columns, to_onnx  # noqa: E402
from dse.workloads.onnx_import import load_onnx  # noqa: E402

F = TensorProto.FLOAT


def _vi(name, shape):
    return helper.make_tensor_value_info(name, F, shape)


def _init(name, shape):
    return numpy_helper.from_array(np.zeros(shape, dtype=np.float32), name)


def _save(tmp_path, nodes, inputs, outputs, inits=(), name="net", opset=17):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def _ops(table):
    inv = {v: k for k, v in OP_CODE.items()}
    return [inv[int(o)] for o in table.op]


@pytest.fixture
def residual(tmp_path):
    """x 8x8x8 -> conv1 3x3 (+B) -> Relu -> conv2 3x3 (no B) -> BN -> Add(x) -> Relu -> GAP -> Flatten -> Gemm 10.

    Weights are initializers; static input.
    """
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c2", "g", "bb", "m", "v"], ["n2"], name="bn2"),
        helper.make_node("Add", ["x", "n2"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["p"], name="gap"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], name="fc", transB=1),
    ]
    inits = [_init("w1", [8, 8, 3, 3]), _init("b1", [8]), _init("w2", [8, 8, 3, 3]), _init("wf", [10, 8]),
             _init("bf", [10])] + [_init(n, [8]) for n in ("g", "bb", "m", "v")]
    return _save(tmp_path, nodes, [_vi("x", [1, 8, 8, 8])], [_vi("y", [1, 10])], inits, "residual")


def test_residual_block_counted_by_hand(residual):
    t = load_onnx(residual)
    assert t.label == "residual@8x8"
    assert list(t.name) == ["conv1", "conv2", "add", "gap", "fc"]  # Relu, BN, Flatten fused
    assert _ops(t) == ["conv", "conv", "add", "pool", "fc"]
    # conv: 8x8 outputs x 8 channels x (8 x 3 x 3) = 36,864 MACs each; fc 8 x 10
    assert list(t.macs) == [36864, 36864, 0, 0, 80]
    # 8*8*9 weights + 8 bias; conv2 has no bias but BN folds one in; fc 80 + 10
    assert list(t.weight_elems) == [584, 584, 0, 0, 90]
    assert list(t.in_elems) == [512, 512, 1024, 512, 8]
    assert list(t.out_elems) == [512, 512, 512, 8, 10]
    # x (512) is alive across conv2 (read again by the add), not counted while conv1 reads it
    assert list(t.live_elems) == [0, 512, 0, 0, 0]
    assert t.peak_live_elems == 512 + 512 + 512
    assert list(t.winograd_ok) == [True, True, False, False, False]


@pytest.fixture
def depthwise(tmp_path):
    """Weight-free graph (weights are graph inputs), dynamic N/H/W: expand 1x1 -> Clip -> dw 3x3/2 -> Clip -> project."""
    nodes = [
        helper.make_node("Conv", ["x", "we", "be"], ["e"], name="expand", kernel_shape=[1, 1]),
        helper.make_node("Clip", ["e", "lo", "hi"], ["e6"], name="relu6a"),
        helper.make_node("Conv", ["e6", "wd", "bd"], ["d"], name="dw", kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1], group=16),
        helper.make_node("Clip", ["d", "lo", "hi"], ["d6"], name="relu6b"),
        helper.make_node("Conv", ["d6", "wp", "bp"], ["y"], name="project", kernel_shape=[1, 1]),
    ]
    inputs = [_vi("x", ["N", 4, "H", "W"]), _vi("we", [16, 4, 1, 1]), _vi("be", [16]), _vi("wd", [16, 1, 3, 3]),
              _vi("bd", [16]), _vi("wp", [8, 16, 1, 1]), _vi("bp", [8]), _vi("lo", []), _vi("hi", [])]
    return _save(tmp_path, nodes, inputs, [_vi("y", ["N", 8, "h", "w"])], name="depthwise")


def test_depthwise_block_weight_free_dynamic(depthwise):
    t = load_onnx(depthwise, 16, 16)
    assert t.label == "depthwise@16x16"
    assert _ops(t) == ["conv", "dwconv", "conv"]
    assert list(t.groups) == [1, 16, 1]
    # expand: 16x16x16 outputs x 4; dw: 8x8x16 outputs x 9; project: 8x8x8 outputs x 16
    assert list(t.macs) == [16384, 9216, 8192]
    assert list(t.weight_elems) == [16 * 4 + 16, 16 * 9 + 16, 8 * 16 + 8]
    assert list(t.in_elems) == [1024, 4096, 1024]
    assert list(t.out_elems) == [4096, 1024, 512]
    assert list(t.live_elems) == [0, 0, 0]
    assert load_onnx(depthwise, 32, 16).total_macs == 2 * t.total_macs  # resolution is honoured


@pytest.fixture
def head(tmp_path):
    """YOLO-like head: A = conv3x3/2(x) -> LeakyRelu; detect(A) -> Sigmoid; B = conv1x1(A);
    up = Resize x2 (B); cat = Concat(up, x); C = conv1x1(cat)."""
    nodes = [
        helper.make_node("Conv", ["x", "wa", "ba"], ["a"], name="convA", kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("LeakyRelu", ["a"], ["al"], name="leaky", alpha=0.1),
        helper.make_node("Conv", ["al", "wd", "bd"], ["d"], name="detect", kernel_shape=[1, 1]),
        helper.make_node("Sigmoid", ["d"], ["ds"], name="sig"),
        helper.make_node("Conv", ["al", "wb", "bb"], ["b"], name="convB", kernel_shape=[1, 1]),
        helper.make_node("Resize", ["b", "", "scales"], ["up"], name="up", mode="nearest"),
        helper.make_node("Concat", ["up", "x"], ["cat"], name="cat", axis=1),
        helper.make_node("Conv", ["cat", "wc", "bc"], ["c"], name="convC", kernel_shape=[1, 1]),
    ]
    inits = [_init("wa", [16, 8, 3, 3]), _init("ba", [16]), _init("wd", [2, 16, 1, 1]), _init("bd", [2]),
             _init("wb", [8, 16, 1, 1]), _init("bb", [8]), _init("wc", [4, 16, 1, 1]), _init("bc", [4]),
             numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales")]
    outputs = [_vi("ds", [1, 2, 8, 8]), _vi("c", [1, 4, 16, 16])]
    return _save(tmp_path, nodes, [_vi("x", [1, 8, 16, 16])], outputs, inits, "head")


def test_concat_upsample_head_counted_by_hand(head):
    t = load_onnx(head)
    assert list(t.name) == ["convA", "detect", "convB", "up", "cat", "convC"]
    assert _ops(t) == ["conv", "conv", "conv", "upsample", "concat", "conv"]
    assert list(t.macs) == [1024 * 72, 128 * 16, 512 * 16, 0, 0, 1024 * 16]
    assert t.total_macs == 100352
    assert list(t.weight_elems) == [16 * 72 + 16, 2 * 16 + 2, 8 * 16 + 8, 0, 0, 4 * 16 + 4]
    assert list(t.in_elems) == [2048, 1024, 1024, 512, 4096, 4096]
    assert list(t.out_elems) == [1024, 128, 512, 2048, 4096, 1024]
    # x (2048) stays alive from the input to the concat; A is read by detect and convB themselves
    assert list(t.live_elems) == [0, 2048, 2048, 2048, 0, 0]
    assert t.in_c[4] == 16 and t.out_c[4] == 16


def test_non_square_kernel_asymmetric_pads_and_matmul(tmp_path):
    nodes = [
        helper.make_node("Conv", ["x", "w17"], ["a"], name="c1x7", kernel_shape=[1, 7], pads=[0, 3, 0, 3]),
        helper.make_node("Conv", ["a", "w3"], ["b"], name="same_s2", kernel_shape=[3, 3], strides=[2, 2],
                         pads=[0, 0, 1, 1]),
        helper.make_node("Reshape", ["b", "shape"], ["f"], name="reshape"),
        helper.make_node("MatMul", ["f", "wm"], ["m"], name="matmul"),
        helper.make_node("Add", ["m", "bm"], ["y"], name="bias"),
    ]
    inits = [_init("w17", [4, 4, 1, 7]), _init("w3", [4, 4, 3, 3]), _init("wm", [64, 5]), _init("bm", [5]),
             numpy_helper.from_array(np.array([1, 64], dtype=np.int64), "shape")]
    path = _save(tmp_path, nodes, [_vi("x", [1, 4, 8, 8])], [_vi("y", [1, 5])], inits, "odd")
    t = load_onnx(path)
    assert _ops(t) == ["conv", "conv", "fc"]
    assert list(t.kernel_h) == [1, 3, 1] and list(t.kernel_w) == [7, 3, 1]
    assert list(t.out_h) == [8, 4, 1] and list(t.out_w) == [8, 4, 1]
    assert list(t.macs) == [256 * 4 * 7, 64 * 4 * 9, 64 * 5]
    assert list(t.weight_elems) == [4 * 4 * 7, 4 * 4 * 9, 64 * 5 + 5]  # MatMul + Add(const): one bias each
    assert (t.in_h[2], t.in_w[2], t.in_c[2]) == (4, 4, 4)  # fc over the flattened conv output


@pytest.mark.parametrize("workload", ["resnet50", "yolov3@416x416", "mobilenet_v2", "unet@256x256"])
def test_zoo_round_trip_identical(tmp_path, workload):
    table = load_workload(workload)
    path = export_onnx(table, tmp_path / "net.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert not model.graph.initializer and path.stat().st_size < 100_000  # weight-free
    back = load_onnx(path)
    assert back.label == table.label
    a, b = table_columns(table), table_columns(back)
    assert a.keys() == b.keys()
    for col in a:
        assert np.array_equal(a[col], b[col]), col


def test_export_then_other_resolution(tmp_path):
    path = export_onnx(load_workload("yolov3@416x416"), tmp_path / "y.onnx")
    assert f"{2 * load_onnx(path, 608, 608).total_macs / 1e9:.2f}" == "140.69"  # darknet BFLOPs


# -- errors -----------------------------------------------------------------------------------


def _unsupported(tmp_path):
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], name="c1", kernel_shape=[1, 1]),
        helper.make_node("Foo", ["a"], ["b"], name="foo", domain="com.example"),
        helper.make_node("Einsum", ["b"], ["c"], name="ein", equation="nchw->nchw"),
        helper.make_node("Conv", ["c", "w"], ["y"], name="c2", kernel_shape=[1, 1]),
    ]
    graph = helper.make_graph(nodes, "u", [_vi("x", [1, 4, 8, 8])], [_vi("y", [1, 4, 8, 8])],
                              initializer=[_init("w", [4, 4, 1, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                     helper.make_opsetid("com.example", 1)])
    model.ir_version = 8
    path = tmp_path / "u.onnx"
    onnx.save(model, str(path))
    return path


def test_unsupported_listed_once_or_passed_through(tmp_path):
    path = _unsupported(tmp_path)
    with pytest.raises(UserError, match=r"unsupported ONNX operators: Einsum, com\.example\.Foo \(supported: "):
        load_onnx(path)
    with pytest.warns(UserWarning, match="Einsum, com.example.Foo"):
        t = load_onnx(path, allow_unsupported=True)
    assert list(t.name) == ["c1", "c2"] and t.total_macs == 2 * 64 * 16


def _bad_files(tmp_path, depthwise):
    (tmp_path / "corrupt.onnx").write_bytes(b"this is not a protobuf \xff\xfe\x00" * 10)
    (tmp_path / "empty.onnx").write_bytes(b"")
    return {
        "corrupt": (str(tmp_path / "corrupt.onnx"), "not a valid ONNX model"),
        "missing": (str(tmp_path / "missing.onnx"), "no such ONNX file"),
        "empty": (str(tmp_path / "empty.onnx"), "empty"),
        "dynamic": (str(depthwise), "dynamic height/width; give a resolution"),
    }


@pytest.mark.parametrize("case", ["corrupt", "missing", "empty", "dynamic"])
def test_bad_files_raise_user_error(tmp_path, depthwise, case):
    path, words = _bad_files(tmp_path, depthwise)[case]
    with pytest.raises(UserError, match=words):
        load_onnx(path)


@pytest.mark.parametrize("case", ["corrupt", "missing", "empty", "dynamic", "unsupported"])
def test_cli_bad_files_exit_2_one_line(cli, tmp_path, depthwise, case):
    files = _bad_files(tmp_path, depthwise)
    files["unsupported"] = (str(_unsupported(tmp_path)), "unsupported ONNX operators")
    path, words = files[case]
    res = cli("workloads", "--onnx", path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr
    assert lines[0].startswith("dse: error: --onnx: ") and words in lines[0]


def test_cli_lists_onnx_and_exports(cli, tmp_path, head, depthwise):
    res = cli("workloads", "--json", "--onnx", str(head), "--onnx", f"{depthwise}@16x16")
    assert res.returncode == 0, res.stderr
    rows = {r["workload"]: r for r in json.loads(res.stdout)}
    assert set(rows) == {"head@16x16", "depthwise@16x16"}
    assert rows["head@16x16"]["macs"] == 100352 and rows["depthwise@16x16"]["macs"] == 33792

    res = cli("workloads", "resnet50", "--onnx", str(_unsupported(tmp_path)), "--allow-unsupported",
              "--export-onnx", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    assert res.stderr.startswith("dse: warning: ") and "Foo" in res.stderr
    paths = res.stdout.split()
    assert paths == [str(tmp_path / "out" / "resnet50_224x224.onnx"), str(tmp_path / "out" / "u_8x8.onnx")]
    assert load_onnx(paths[0]).total_macs == load_workload("resnet50").total_macs


def test_to_onnx_emits_no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_onnx(load_workload("resnet50"))


def test_study_workload_helper(tmp_path, depthwise):
    from dse.workloads.onnx_import import load_onnx_workload

    t = load_onnx_workload("depthwise.onnx", "16x16", base_dir=tmp_path)
    assert t.total_macs == 33792 and load_onnx_workload(str(depthwise), "16x16") is t  # cached
    with pytest.raises(UserError, match="resolution"):
        load_onnx_workload(str(depthwise), "16by16")
    with pytest.raises(UserError, match="workload: .*dynamic height/width"):
        load_onnx_workload(str(depthwise))


def test_onnx_workload_in_a_study_file(tmp_path, cli):
    export_onnx(load_workload("resnet50"), tmp_path / "net.onnx")
    study = tmp_path / "onnx-study.toml"
    study.write_text("""
name = "onnx-study"
node_nm = 16
[[workloads]]
onnx = "net.onnx"
resolution = "320x320"
batch = 2
[[workloads]]
name = "resnet50"
[space]
cores = [1, 16]
sram_mb = [1, 32]
[budgets]
area_mm2 = 100
latency_ms = {"net.onnx" = 500}
[[objectives]]
metric = "throughput"
workload = "net.onnx"
[[objectives]]
metric = "area"
[search]
trials = 16
population = 8
""")
    from dse.search.spec import load_study

    spec = load_study(study)
    label = f"{(tmp_path / 'net.onnx').resolve()}@320x320"
    assert spec.workloads[0].label == label and spec.workloads[0].batch == 2
    assert spec.objectives[0].workload == label and label in spec.latency_s
    res = cli("run", str(study), "--results", str(tmp_path / "res"), "--no-progress", "--no-report",
              "--executor", "local")
    assert res.returncode == 0, res.stderr
    import pandas as pd

    trials = pd.read_csv(tmp_path / "res" / "onnx-study" / "trials.csv")
    assert len(trials) == 16 and (trials[f"{label}:throughput_ips"] > 0).all()
    # the imported ResNet-50 at 320x320 does more work per image than the built-in at 224x224
    assert (trials[f"{label}:latency_s"] / 2 > trials["resnet50@224x224:latency_s"]).all()


def test_onnx_workload_errors_name_the_study_field(tmp_path):
    from dse.search.spec import load_study

    study = tmp_path / "bad.toml"
    study.write_text('node_nm = 16\n[[workloads]]\nonnx = "missing.onnx"\n')
    with pytest.raises(UserError, match=r"workloads\[0\]\.onnx"):
        load_study(study)
