"""Bring your own network: an ONNX model as a layer table (:func:`load_onnx`).

The model is read with the ``onnx`` package; its image input is fixed to batch 1 and the requested
resolution (dynamic dims are set, static ones overridden when a resolution is given), shapes are
inferred with ``onnx.shape_inference``, and the nodes that carry activations are replayed on a
:class:`~dse.workloads.layers.NetBuilder`. MACs, weights and liveness therefore follow exactly
the rules of the built-in networks.

Rows (one per node):

* ``Conv`` -> conv (dwconv when groups == input channels); ``ConvTranspose`` -> conv;
* ``Gemm``, ``MatMul`` -> fc (MACs = output elements x reduction length);
* ``MaxPool``/``AveragePool``/``LpPool``, ``Global*Pool``, ``Reduce*`` -> pool;
* ``Resize``/``Upsample`` -> upsample; ``Concat`` -> concat;
* ``Add``/``Sub``/``Mul``/``Div``/``Sum``/``Max``/``Min``/``Mean``/``Pow``/``Where`` reading two or
  more *distinct* activation tensors -> add (element-wise, zero MACs).

Fusion rule. Every other supported operator has no MACs and is not emitted as a row: activations
(Relu, Clip, Sigmoid...), normalisation (BatchNormalization...), element-wise ops with a constant
operand or with the same tensor twice (``x * sigmoid(x)``), layout and shape ops (Reshape,
Flatten, Transpose, Squeeze, Slice, Split, Pad...), quantize/dequantize. Its outputs are mapped to
the *same builder tensor* as its activation input (a view with the output's shape), i.e. it runs
in place on the tensor that produced it (a layer, or the network input). Consumers of the fused
output read that tensor, which stays alive until the last of them, so liveness is what it would be
with the op folded into the producing layer - how the built-ins count folded batch norm and
activations. A conv/fc without a bias of its own gains one bias per output channel when its only
consumer is a BatchNormalization, or an Add of a constant with one value per output channel
(folded, as the built-ins count it).

Weights may be initializers, Constant nodes or graph inputs: a graph input only used as a weight
operand (Conv/Gemm W and B, MatMul B, normalisation parameters...) is a weight, so weight-free
graphs whose inputs carry the weight shapes work (that is what :mod:`onnx_export` writes). Nodes
that read no activation (shape arithmetic, weight preprocessing) are ignored.
"""

from __future__ import annotations

import heapq
import math
import warnings
from functools import lru_cache
from pathlib import Path

from dse.errors import UserError
from dse.user_files import MAX_ONNX_BYTES, read_user_bytes
from dse.workloads.layers import INT_COLUMNS, LayerTable, NetBuilder, Tensor, conv_out
from dse.workloads.names import MAX_SIDE_PX, RESOLUTION_RE  # the same side limit as NAME@WIDTHxHEIGHT

#: Largest static dim of any tensor (int32, the limit of most ONNX runtimes and converters).
MAX_DIM = 2**31 - 1
#: Largest element, weight or MAC count of one layer, and of the whole network per image: the
#: largest integer float64 holds exactly (the model computes in float64; int64 sums stay far
#: from overflow).
MAX_COUNT = 2**53

CONV_OPS = ("Conv", "ConvTranspose")
FC_OPS = ("Gemm", "MatMul")
POOL_OPS = ("MaxPool", "AveragePool", "LpPool")
GLOBAL_POOL_OPS = ("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")
REDUCE_OPS = ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd", "ReduceL1",
              "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")
UPSAMPLE_OPS = ("Resize", "Upsample")
ELTWISE_OPS = ("Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean", "Pow", "Where")
#: Zero-MAC operators fused into the tensor they read (see the module docstring).
VIEW_OPS = (
    "Identity", "Dropout", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "DepthToSpace",
    "SpaceToDepth", "Cast", "CastLike", "Slice", "Split", "Pad", "Gather", "Expand", "Tile",
    "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Clip", "Elu",
    "Selu", "Celu", "Gelu", "Mish", "Softplus", "Softsign", "ThresholdedRelu", "Exp", "Log", "Neg",
    "Abs", "Sqrt", "Reciprocal", "Erf", "Floor", "Ceil", "Round", "Sign", "Softmax", "LogSoftmax",
    "Hardmax", "BatchNormalization", "InstanceNormalization", "LayerNormalization",
    "GroupNormalization", "LRN", "MeanVarianceNormalization", "LpNormalization", "QuantizeLinear",
    "DequantizeLinear",
)
#: Operators whose outputs describe shapes, not activations (their consumers are constant).
META_OPS = ("Shape", "Size")
SUPPORTED_OPS = frozenset(CONV_OPS + FC_OPS + POOL_OPS + GLOBAL_POOL_OPS + REDUCE_OPS + UPSAMPLE_OPS
                          + ("Concat",) + ELTWISE_OPS + VIEW_OPS + META_OPS)

#: Input positions that hold weights or other constants, per operator (for weight-free graphs).
_WEIGHT_INPUTS = {
    "Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (1, 2), "MatMul": (1,),
    "BatchNormalization": (1, 2, 3, 4), "InstanceNormalization": (1, 2), "LayerNormalization": (1, 2),
    "GroupNormalization": (1, 2), "PRelu": (1,), "QuantizeLinear": (1, 2), "DequantizeLinear": (1, 2),
    "Clip": (1, 2), "Resize": (1, 2, 3), "Upsample": (1,), "Reshape": (1,), "Pad": (1, 2, 3),
    "Slice": (1, 2, 3, 4), "Split": (1,), "Squeeze": (1,), "Unsqueeze": (1,), "Expand": (1,),
    "Tile": (1,), "Gather": (1,), **{op: (1,) for op in REDUCE_OPS},
}

def parse_onnx_spec(text: str, field: str = "onnx") -> tuple[str, int | None, int | None]:
    """``"net.onnx@1920x1080"`` -> ("net.onnx", 1920, 1080); ``"net.onnx"`` -> ("net.onnx", None, None)."""
    text = str(text).strip()
    base, sep, res = text.rpartition("@")
    if sep and (m := RESOLUTION_RE.match(res)):
        width, height = int(m["w"]), int(m["h"])
        check_side(width, height, field)
        return base, width, height
    if sep and not Path(text).exists():
        raise UserError(f"{field}: {text!r} is not FILE or FILE@WIDTHxHEIGHT (e.g. net.onnx@1920x1080)")
    return text, None, None


def check_side(width: int, height: int, field: str = "onnx") -> None:
    for side, value in (("width", width), ("height", height)):
        if not 1 <= value <= MAX_SIDE_PX:
            raise UserError(f"{field}: {side} {value} px is outside 1..{MAX_SIDE_PX}")


def import_onnx_package(field: str = "onnx"):
    try:
        import onnx  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise UserError(f"{field}: ONNX support needs the onnx package (pip install 'dse[onnx]')") from None
    return onnx


def load_onnx(path, width: int | None = None, height: int | None = None,
              allow_unsupported: bool = False, *, name: str | None = None,
              field: str = "onnx") -> LayerTable:
    """The layer table of the ONNX model at ``path`` at ``width`` x ``height`` (batch 1).

    ``width``/``height`` set the image input's spatial dims (required when they are dynamic).
    Unsupported operators raise one :class:`UserError` listing them all, unless
    ``allow_unsupported``: then they pass their first activation input through with zero MACs
    (a warning names them). ``name`` is the network name (default: the name stored by
    :func:`~dse.workloads.onnx_export.export_onnx`, else the file stem). Any problem with the file
    is a :class:`UserError` prefixed with ``field``.
    """
    onnx = import_onnx_package(field)
    path = Path(path)
    where = f"{field}: {path}"
    if (width is None) != (height is None):
        raise UserError(f"{where}: give both width and height, or neither")
    if width is not None and height is not None:
        check_side(width, height, where)
    model = _read_model(onnx, path, where)
    graph = model.graph
    _sort_nodes(graph, where)
    _check_dims(graph, where)
    image = _image_input(graph, where)
    act_nodes = _activation_nodes(graph, image.name)
    unsupported = sorted({_op_key(n) for n in act_nodes if _op_key(n) not in SUPPORTED_OPS})
    if unsupported and not allow_unsupported:
        raise UserError(f"{where}: unsupported ONNX operators: {', '.join(unsupported)} "
                        f"(supported: {', '.join(sorted(SUPPORTED_OPS))}; allow-unsupported passes "
                        "them through with zero MACs)")
    if unsupported:
        warnings.warn(f"{where}: unsupported ONNX operators counted as zero-MAC pass-through: "
                      f"{', '.join(unsupported)}", stacklevel=2)
    width, height, channels = _fix_input(image, width, height, where)
    del graph.value_info[:]  # stale shapes (e.g. at another resolution) would conflict
    for out in graph.output:
        if out.type.HasField("tensor_type"):
            out.type.tensor_type.ClearField("shape")
    model = _upgrade(onnx, model)
    model = _infer(onnx, model, strict=not unsupported, where=where, res=(width, height))
    if unsupported:
        model = _pass_shapes_through(onnx, model, image.name, where, (width, height))
    meta = {p.key: p.value for p in model.metadata_props}
    network = name or meta.get("dse.network") or path.stem
    try:
        return _Importer(onnx, model, image.name, where).run(network, width, height, channels)
    except UserError:
        raise
    except (ValueError, KeyError, IndexError, ZeroDivisionError) as err:  # inconsistent graph
        raise UserError(f"{where}: cannot convert the graph at {width}x{height} ({_first_line(err)})") from None


def load_onnx_workload(onnx: str, resolution: str | None = None, allow_unsupported: bool = False,
                       base_dir=None, field: str = "workload") -> LayerTable:
    """A study-file workload ``{onnx = "models/net.onnx", resolution = "1920x1080"}`` (cached).

    A relative path is taken from ``base_dir`` (the study file's directory). The table is cached
    per file version and resolution: do not mutate it.
    """
    path = Path(onnx)
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    width = height = None
    if resolution is not None:
        m = RESOLUTION_RE.match(str(resolution).strip())
        if not m:
            raise UserError(f"{field}: resolution {resolution!r} is not WIDTHxHEIGHT (e.g. 1920x1080)")
        width, height = int(m["w"]), int(m["h"])
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None  # load_onnx reports the problem
    return _load_cached(str(path), stamp, width, height, bool(allow_unsupported), field)


@lru_cache(maxsize=32)
def _load_cached(path: str, stamp, width, height, allow_unsupported: bool, field: str) -> LayerTable:
    return load_onnx(path, width, height, allow_unsupported, field=field)


# -- reading and preparing the model ----------------------------------------------------------


def _read_model(onnx, path: Path, where: str):
    data = read_user_bytes(path, what="ONNX file", max_bytes=MAX_ONNX_BYTES, where=where)
    if not data:
        raise UserError(f"{where}: file is empty, not an ONNX model")
    try:
        model = onnx.load_model_from_string(data)
    except Exception as err:  # protobuf DecodeError, ...
        raise UserError(f"{where}: not a valid ONNX model ({_first_line(err)})") from None
    if not model.graph.node or not model.graph.input:
        raise UserError(f"{where}: not a valid ONNX model (no graph nodes or inputs)")
    return model


def _sort_nodes(graph, where: str) -> None:
    """Put the nodes in topological order (ONNX requires it; some writers do not); a cycle is
    one UserError naming a node on it. Kahn's algorithm, keeping the file order among ready nodes."""
    nodes = list(graph.node)
    producer = {out: i for i, node in enumerate(nodes) for out in node.output if out}
    needs = [{producer[x] for x in node.input if x in producer} for node in nodes]
    users: list[list[int]] = [[] for _ in nodes]
    for i, deps in enumerate(needs):
        for j in deps:
            users[j].append(i)
    waiting = [len(deps) for deps in needs]
    ready = [i for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users[i]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    if len(order) < len(nodes):
        stuck = nodes[min(set(range(len(nodes))) - set(order))]
        raise UserError(f"{where}: the graph has a cycle (through {stuck.op_type} node "
                        f"'{stuck.name or stuck.output[0]}'); an ONNX graph must be acyclic")
    if order != list(range(len(nodes))):
        del graph.node[:]
        graph.node.extend(nodes[i] for i in order)


def _check_dims(graph, where: str) -> None:
    """Every static dim of the graph's inputs, outputs, value infos, initializers and constants
    is at most :data:`MAX_DIM` (larger ones would overflow the shape arithmetic)."""
    shaped = [(vi.name, [d.dim_value for d in vi.type.tensor_type.shape.dim])
              for vi in list(graph.input) + list(graph.value_info) + list(graph.output)
              if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape")]
    shaped += [(t.name, list(t.dims)) for t in graph.initializer]
    shaped += [(node.output[0], list(a.t.dims)) for node in graph.node
               if node.op_type == "Constant" and node.output for a in node.attribute if a.name == "value"]
    for name, dims in shaped:
        big = next((d for d in dims if d > MAX_DIM), None)
        if big is not None:
            raise UserError(f"{where}: tensor '{name}' has a dim of {big}, above the limit "
                            f"{MAX_DIM} (2^31 - 1)")


def _first_line(err: BaseException, limit: int = 200) -> str:
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return text if len(text) <= limit else text[:limit] + "..."


def _op_key(node) -> str:
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"


def _image_input(graph, where: str):
    """The one graph input that carries activations (the others are weights)."""
    init = {t.name for t in graph.initializer}
    uses: dict[str, list[bool]] = {}
    for node in graph.node:
        weight_pos = _WEIGHT_INPUTS.get(node.op_type, ()) if node.domain in ("", "ai.onnx") else ()
        for i, name in enumerate(node.input):
            uses.setdefault(name, []).append(i in weight_pos)
    images = [v for v in graph.input if v.name not in init and v.name in uses and not all(uses[v.name])]
    if len(images) != 1:
        found = ", ".join(v.name for v in images) or "none"
        raise UserError(f"{where}: expected one image input (the others weights), found: {found}")
    return images[0]


def _activation_nodes(graph, image: str) -> list:
    """Nodes that read an activation (derived from the image input), in graph order."""
    act = {image}
    nodes = []
    for node in graph.node:
        if node.op_type in META_OPS or not any(i in act for i in node.input):
            continue
        nodes.append(node)
        act.update(o for o in node.output if o)
    return nodes


def _dim(d) -> int | None:
    return d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None


def _fix_input(image, width, height, where) -> tuple[int, int, int]:
    """Set batch 1 and the resolution on the image input; returns (width, height, channels)."""
    if not image.type.HasField("tensor_type") or not image.type.tensor_type.HasField("shape"):
        raise UserError(f"{where}: input '{image.name}' has no shape")
    dims = image.type.tensor_type.shape.dim
    rank = len(dims)
    if rank >= 2:
        dims[0].dim_value = 1
    if rank == 4:
        nhwc = _dim(dims[1]) is None and _dim(dims[3]) is not None
        hi, wi, ci = (1, 2, 3) if nhwc else (2, 3, 1)
        if width is not None:
            dims[hi].dim_value, dims[wi].dim_value = height, width
        elif _dim(dims[hi]) is None or _dim(dims[wi]) is None:
            raise UserError(f"{where}: input '{image.name}' has a dynamic height/width; give a "
                            "resolution (FILE@WIDTHxHEIGHT, e.g. net.onnx@1920x1080)")
        else:
            for side, d in (("width", dims[wi]), ("height", dims[hi])):
                if (px := _dim(d)) is not None and px > MAX_SIDE_PX:
                    raise UserError(f"{where}: input '{image.name}' has a static {side} of {px} px, "
                                    f"outside 1..{MAX_SIDE_PX}; give a resolution (FILE@WIDTHxHEIGHT)")
        if _dim(dims[ci]) is None:
            raise UserError(f"{where}: input '{image.name}' has a dynamic channel count")
        w, h, c = _dim(dims[wi]), _dim(dims[hi]), _dim(dims[ci])
        assert w is not None and h is not None and c is not None  # set or checked just above
        return w, h, c
    shape = [_dim(d) for d in dims]
    if width is not None:
        raise UserError(f"{where}: input '{image.name}' is not an image (rank {rank}, not N,C,H,W); "
                        "give no resolution")
    if any(d is None for d in shape[1:]) or rank == 0:
        raise UserError(f"{where}: input '{image.name}' has dynamic dims {_fmt_shape(dims)}; "
                        "only batch may be dynamic for a non-image input")
    h, w, c = hwc([1] + shape[1:] if rank >= 2 else shape)
    return w, h, c


def _fmt_shape(dims) -> str:
    return "[" + ", ".join(str(_dim(d) or d.dim_param or "?") for d in dims) + "]"


def _upgrade(onnx, model, opset: int = 17):
    """Convert older models to ``opset``: shape inference folds shape arithmetic (Shape -> Gather
    -> Concat -> Reshape, as PyTorch exports ``x.view(x.size(0), -1)``) only for recent opsets."""
    current = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), opset)
    if current >= opset:
        return model
    try:
        from onnx import version_converter  # noqa: PLC0415

        return version_converter.convert_version(model, opset)
    except Exception:  # some old operators do not convert: infer shapes on the original
        return model


def _infer(onnx, model, strict: bool, where: str, res: tuple[int, int]):
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=strict, data_prop=True)
    except Exception as err:
        raise UserError(f"{where}: shape inference failed at {res[0]}x{res[1]} ({_first_line(err)})") from None


def _pass_shapes_through(onnx, model, image: str, where: str, res):
    """Give outputs of unsupported operators the type of their first activation input, re-infer."""
    for _ in range(len(model.graph.node)):
        known = _known_types(model.graph)
        added = False
        for node in _activation_nodes(model.graph, image):
            if _op_key(node) in SUPPORTED_OPS:
                continue
            src = next((i for i in node.input if i in known), None)
            for out in node.output:
                if out and out not in known and src is not None:
                    vi = model.graph.value_info.add()
                    vi.name = out
                    vi.type.CopyFrom(known[src])
                    known[out] = vi.type
                    added = True
        if not added:
            return model
        model = _infer(onnx, model, strict=False, where=where, res=res)
    return model


def _known_types(graph) -> dict:
    out = {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            if all(_dim(d) is not None for d in vi.type.tensor_type.shape.dim):
                out[vi.name] = vi.type
    return out


# -- conversion -------------------------------------------------------------------------------


def hwc(shape) -> tuple[int, int, int]:
    """The (h, w, c) of an ONNX activation shape at batch 1 (the element count is preserved).

    [N, C, H, W] -> (N*H, W, C); [N, C, L] -> (N, L, C); [N, F] -> (1, N, F); [F] -> (1, 1, F);
    higher ranks fold the trailing dims into w.
    """
    shape = [int(d) for d in shape]
    if len(shape) == 0:
        return 1, 1, 1
    if len(shape) == 1:
        return 1, 1, shape[0]
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    if len(shape) == 3:
        return shape[0], shape[2], shape[1]
    return shape[0] * shape[2], math.prod(shape[3:]), shape[1]


def view(t: Tensor, shape) -> Tensor:
    """``t`` with another shape: the same builder tensor (liveness is that of ``t``)."""
    h, w, c = hwc(shape)
    return t if (h, w, c) == (t.h, t.w, t.c) else Tensor(t.tid, h, w, c)


def _attrs(node) -> dict:
    from onnx import helper  # noqa: PLC0415

    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


class _Importer:
    def __init__(self, onnx, model, image: str, where: str):
        self.onnx = onnx
        self.graph = model.graph
        self.image = image
        self.where = where
        self.shapes: dict[str, list[int] | None] = {}
        for vi in list(self.graph.input) + list(self.graph.value_info) + list(self.graph.output):
            if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
                dims = [_dim(d) for d in vi.type.tensor_type.shape.dim]
                known = [d for d in dims if d is not None]
                self.shapes[vi.name] = known if len(known) == len(dims) else None
        _check_dims(self.graph, where)  # shapes as inferred
        self.const_values = {}
        for t in self.graph.initializer:
            self.shapes[t.name] = list(t.dims)
            self.const_values[t.name] = t
        for node in self.graph.node:
            if node.op_type == "Constant" and node.output:
                value = next((a.t for a in node.attribute if a.name == "value"), None)
                if value is not None:
                    self.shapes[node.output[0]] = list(value.dims)
        self.consumers: dict[str, list] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.outputs = {o.name for o in self.graph.output}
        self.act_names = {image}.union(*(n.output for n in _activation_nodes(self.graph, image)))
        self.act: dict[str, Tensor] = {}  # ONNX activation tensor name -> builder tensor (view)
        self.orig: dict[int, Tensor] = {}  # builder tensor id -> tensor as the builder made it

    # helpers
    def shape(self, name: str, node) -> list[int]:
        s = self.shapes.get(name)
        if s is None:
            raise UserError(f"{self.where}: cannot infer the shape of '{name}' ({node.op_type} node "
                            f"'{node.name or node.output[0]}'); is an input dim dynamic?")
        return s

    def out_shape(self, node, i: int = 0) -> list[int]:
        return self.shape(node.output[i], node)

    def has_input(self, node, i: int) -> bool:
        return len(node.input) > i and node.input[i] != ""

    def bias_follows(self, node, n_out: int) -> bool:
        """True when the node's only consumer folds a per-channel bias into it."""
        out = node.output[0]
        cons = self.consumers.get(out, [])
        if len(cons) != 1 or out in self.outputs:
            return False
        nxt = cons[0]
        if nxt.op_type == "BatchNormalization":
            return True
        if nxt.op_type == "Add" and len(nxt.input) == 2:
            other = nxt.input[1] if nxt.input[0] == out else nxt.input[0]
            shape = self.shapes.get(other)
            return other not in self.act_names and shape is not None and math.prod(shape) == n_out
        return False

    def flat_source(self, x: Tensor) -> Tensor:
        o = self.orig[x.tid]
        return o if o.elems == x.elems else x

    def emit(self, name, op, inputs, out_shape, k_h=1, k_w=1, stride=1, groups=1, macs=0, weights=0):
        """A row with an explicit output shape (non-square kernels, asymmetric pads, broadcasting...).

        NetBuilder has no public method taking an explicit output shape, so this goes through its
        row recorder (the same one every public method uses: liveness is tracked identically).
        """
        h, w, c = hwc(out_shape)
        return self.b._add(name, op, list(inputs), h, w, c, k_h, k_w, stride, groups,
                           macs=int(macs), weights=int(weights))

    # main loop
    def run(self, network: str, width: int, height: int, channels: int) -> LayerTable:
        self.b = NetBuilder(network, width, height, channels)
        layers = 0
        t0 = self.b.input()
        self.orig[t0.tid] = t0
        self.act[self.image] = view(t0, self.shape(self.image, self.graph.node[0]))
        for index, node in enumerate(self.graph.node):
            acts = [self.act[i] for i in node.input if i in self.act]
            if node.op_type in META_OPS or not acts:
                continue
            name = node.name or node.output[0] or f"{node.op_type}_{index}"
            out = self.convert(node, acts, name)
            if out is None:  # fused: every output is a view of the first activation input
                for o in node.output:
                    if o:
                        s = self.shapes.get(o)
                        self.act[o] = view(acts[0], s) if s is not None else acts[0]
            else:
                layers += 1
                self.orig.setdefault(out.tid, out)
                for i, o in enumerate(node.output):
                    if o:
                        s = self.shapes.get(o)
                        self.act[o] = view(out, s) if s is not None else out
        if not layers:
            raise UserError(f"{self.where}: the model has no layers (no operator reads the input)")
        self.check_counts()
        return self.b.build()

    def check_counts(self) -> None:
        """Every count of every layer, and the network's totals, are at most :data:`MAX_COUNT`."""
        limit = f"above the limit {MAX_COUNT:,} (2^53)"
        rows = self.b._rows  # the builder's row records (see emit)
        for row in rows:
            for col in INT_COLUMNS:
                if abs(row.get(col, 0)) > MAX_COUNT:
                    raise UserError(f"{self.where}: layer '{row['name']}' has {col} = {row[col]:,}, {limit}")
        totals = {"MACs": sum(r["macs"] for r in rows), "weights": sum(r["weight_elems"] for r in rows),
                  "activation elements": sum(self.b._elems.values())}
        for what, total in totals.items():
            if total > MAX_COUNT:
                raise UserError(f"{self.where}: {total:,} {what} per image in total, {limit}")

    def convert(self, node, acts: list[Tensor], name: str) -> Tensor | None:
        op = _op_key(node)
        x = acts[0]
        if op == "Conv":
            return self.conv(node, x, name)
        if op == "ConvTranspose":
            return self.conv_transpose(node, x, name)
        if op in FC_OPS:
            return self.fc(node, name)
        if op in POOL_OPS:
            return self.pool(node, x, name)
        if op in GLOBAL_POOL_OPS:
            return self.b.global_pool(x, name=name)
        if op in REDUCE_OPS:
            oh, ow, oc = hwc(self.out_shape(node))
            if (oh, ow, oc) == (1, 1, x.c) and len(self.shapes.get(node.input[0]) or ()) == 4:
                return self.b.global_pool(x, name=name)
            return self.emit(name, "pool", [x], self.out_shape(node), max(1, x.h // oh), max(1, x.w // ow))
        if op in UPSAMPLE_OPS:
            out = self.out_shape(node)
            oh, ow, oc = hwc(out)
            if (len(out) == 4 and oc == x.c and oh % x.h == 0 and ow % x.w == 0
                    and oh // x.h == ow // x.w >= 1):
                return self.b.upsample(x, oh // x.h, name=name)
            return self.emit(name, "upsample", [x], out)
        if op == "Concat":
            out = self.out_shape(node)
            axis = _attrs(node).get("axis", 1) % len(out)
            if (axis == 1 and len(out) == 4 and len(acts) == len(node.input)
                    and all((t.h, t.w) == (x.h, x.w) for t in acts)):
                return self.b.concat(acts, name=name)
            return self.emit(name, "concat", acts, out)
        distinct = list({t.tid: t for t in acts}.values())
        if op in ELTWISE_OPS or op not in SUPPORTED_OPS:
            if len(distinct) <= 1:
                return None
            if len(distinct) == 2 and (distinct[0].h, distinct[0].w, distinct[0].c) == (
                    distinct[1].h, distinct[1].w, distinct[1].c):
                return self.b.add(distinct[0], distinct[1], name=name)
            s = self.shapes.get(node.output[0])
            return self.emit(name, "add", distinct, s if s is not None else [1, x.c, x.h, x.w])
        return None  # VIEW_OPS

    def conv(self, node, x: Tensor, name: str) -> Tensor:
        ws = self.shape(node.input[1], node)  # [M, C/groups, *kernel]
        a = _attrs(node)
        groups = a.get("group", 1)
        out = self.out_shape(node)
        kernel = ws[2:] or [1]
        n_out, per_out = ws[0], ws[1] * math.prod(kernel)
        bias = self.has_input(node, 2) or self.bias_follows(node, n_out)
        oh, ow, oc = hwc(out)
        if len(kernel) == 2 and kernel[0] == kernel[1] and x.c % groups == 0:
            k = kernel[0]
            s, p = self._square(a, k, 2)
            if s is not None and conv_out(x.h, k, s, p) == oh and conv_out(x.w, k, s, p) == ow:
                return self.b.conv(x, n_out, k, stride=s, pad=p, groups=groups, bias=bias, name=name)
        kh, kw = (kernel[0], math.prod(kernel[1:])) if len(kernel) >= 2 else (1, kernel[0])
        op = "dwconv" if groups > 1 and groups == x.c else "conv"
        stride = (a.get("strides") or [1])[0]
        return self.emit(name, op, [x], out, kh, kw, stride, groups, macs=oh * ow * oc * per_out,
                         weights=n_out * per_out + (n_out if bias else 0))

    @staticmethod
    def _square(a: dict, k: int, rank: int) -> tuple[int | None, int]:
        """(stride, pad) when strides, pads and dilations are the same on every side, else (None, 0)."""
        strides = a.get("strides") or [1] * rank
        pads = a.get("pads") or [0] * (2 * rank)
        auto = a.get("auto_pad", "NOTSET")
        if len(set(strides)) != 1 or set(a.get("dilations") or [1]) != {1}:
            return None, 0
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            return strides[0], k // 2
        if auto == "VALID":
            return strides[0], 0
        return (strides[0], pads[0]) if len(set(pads)) == 1 else (None, 0)

    def conv_transpose(self, node, x: Tensor, name: str) -> Tensor:
        ws = self.shape(node.input[1], node)  # [C, M/groups, *kernel]
        a = _attrs(node)
        groups = a.get("group", 1)
        out = self.out_shape(node)
        kernel = ws[2:] or [1]
        n_out = ws[1] * groups
        bias = self.has_input(node, 2) or self.bias_follows(node, n_out)
        oh, ow, oc = hwc(out)
        if (kernel == [2, 2] and groups == 1 and bias and (a.get("strides") or [1]) == [2, 2]
                and (oh, ow) == (2 * x.h, 2 * x.w)):
            return self.b.conv_transpose2x2(x, n_out, name=name)
        kh, kw = (kernel[0], math.prod(kernel[1:])) if len(kernel) >= 2 else (1, kernel[0])
        stride = (a.get("strides") or [1])[0]
        weights = ws[0] * ws[1] * math.prod(kernel) + (n_out if bias else 0)
        return self.emit(name, "conv", [x], out, kh, kw, stride, groups,
                         macs=x.elems * ws[1] * math.prod(kernel), weights=weights)

    def fc(self, node, name: str) -> Tensor:
        a_name, b_name = node.input[0], node.input[1]
        sa, sb = self.shape(a_name, node), self.shape(b_name, node)
        out = self.out_shape(node)
        inputs = [self.act[n] for n in (a_name, b_name) if n in self.act]
        const_elems = sum(math.prod(s) for n, s in ((a_name, sa), (b_name, sb)) if n not in self.act)
        if node.op_type == "Gemm":
            at = _attrs(node)
            m, k = (sa[1], sa[0]) if at.get("transA", 0) else (sa[0], sa[1])
            n = sb[0] if at.get("transB", 0) else sb[1]
            rows = m
        else:
            k, n = sa[-1], out[-1] if out else 1
            rows = math.prod(out) // max(n, 1)
        bias = (node.op_type == "Gemm" and self.has_input(node, 2)) or self.bias_follows(node, n)
        if rows == 1 and a_name in self.act and b_name not in self.act:
            x = self.flat_source(self.act[a_name])
            if x.elems == k and const_elems == k * n:
                return self.b.fc(x, n, bias=bias, name=name)
        return self.emit(name, "fc", inputs, out, macs=math.prod(out) * k,
                         weights=const_elems + (n if bias else 0))

    def pool(self, node, x: Tensor, name: str) -> Tensor:
        a = _attrs(node)
        kernel = a.get("kernel_shape") or [1]
        out = self.out_shape(node)
        oh, ow, _ = hwc(out)
        if len(kernel) == 2 and kernel[0] == kernel[1] and not a.get("ceil_mode", 0):
            k = kernel[0]
            s, p = self._square(a, k, 2)
            if s is not None and conv_out(x.h, k, s, p) == oh and conv_out(x.w, k, s, p) == ow:
                return self.b.pool(x, k, s, pad=p, name=name)
        kh, kw = (kernel[0], math.prod(kernel[1:])) if len(kernel) >= 2 else (1, kernel[0])
        return self.emit(name, "pool", [x], out, kh, kw, (a.get("strides") or [1])[0])
