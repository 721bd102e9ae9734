"""A layer table as a weight-free ONNX graph (:func:`export_onnx`): hands our networks to other tools.

The graph has one image input ``input`` [N, C, H, W] (N symbolic) and carries every weight as a
graph input with its shape (no initializers, so files stay small: ~1 kB per layer). Layers map to
Conv (groups; U-Net's 2x2 up-convolution to ConvTranspose), Gemm (behind a Flatten), MaxPool or
GlobalAveragePool, Resize (nearest), Add/Sum and Concat; pads are chosen to give each layer's
output size. :func:`~dse.workloads.onnx_import.load_onnx` reads the file back to the same table.

The connectivity comes from the table itself (``in_slot_tensor``, :func:`reconstruct_reads`).
"""

from __future__ import annotations

import dataclasses
from itertools import chain
from pathlib import Path

import numpy as np

from dse.atomic_write import atomic_path
from dse.errors import UserError
from dse.workloads.layers import OPS, LayerTable, conv_out
from dse.workloads.onnx_import import import_onnx_package

OPSET = 17
IR_VERSION = 8  # readable by onnxruntime >= 1.10 and most converters


def export_onnx(table: LayerTable, path, field: str = "export-onnx") -> Path:
    """Write ``table`` to ``path`` as a weight-free ONNX graph; returns the path."""
    onnx = import_onnx_package(field)
    model = to_onnx(table, field)
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            onnx.save(model, str(tmp))
    except OSError as err:
        raise UserError(f"{field}: cannot write {path}: {err.strerror or err}") from None
    return path


def to_onnx(table: LayerTable, field: str = "export-onnx"):
    """``table`` as an in-memory ``onnx.ModelProto`` (see :func:`export_onnx`)."""
    import_onnx_package(field)
    from onnx import TensorProto, helper  # noqa: PLC0415

    reads = reconstruct_reads(table, field)
    n = len(table)
    where = f"{field}: {table.label}"
    shapes = _tensor_shapes(table)
    used_names: set[str] = {"input"}

    def unique(base: str) -> str:
        name, i = base, 1
        while name in used_names:
            name, i = f"{base}_{i}", i + 1
        used_names.add(name)
        return name

    names = ["input"] + [unique(str(table.name[k])) for k in range(n)]
    # every tensor's dims; filled in network order, so a layer's inputs are known when it is read
    dims: list[list] = [["N", shapes[0][2], shapes[0][0], shapes[0][1]]] + [[] for _ in range(n)]
    nodes, weight_inputs, cache = [], [], {}

    def const(base: str, values, dtype) -> str:
        out = unique(base)
        nodes.append(helper.make_node("Constant", [], [out], name=out, value=helper.make_tensor(
            out, dtype, [len(values)], list(values))))
        return out

    def as4d(t: int) -> str:
        if len(dims[t]) == 4:
            return names[t]
        if ("4d", t) not in cache:
            h, w, c = shapes[t]
            shape = const(f"{names[t]}.shape4d", [0, c, h, w], TensorProto.INT64)
            out = unique(f"{names[t]}.4d")
            nodes.append(helper.make_node("Reshape", [names[t], shape], [out], name=out))
            cache[("4d", t)] = out
        return cache[("4d", t)]

    def as2d(t: int) -> str:
        if len(dims[t]) == 2:
            return names[t]
        if ("2d", t) not in cache:
            out = unique(f"{names[t]}.flat")
            nodes.append(helper.make_node("Flatten", [names[t]], [out], name=out, axis=1))
            cache[("2d", t)] = out
        return cache[("2d", t)]

    def weight(base: str, shape: list[int]) -> str:
        name = unique(base)
        weight_inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        return name

    for k in range(n):
        op, name, out = OPS[table.op[k]], str(table.name[k]), names[k + 1]
        ih, iw, ic = int(table.in_h[k]), int(table.in_w[k]), int(table.in_c[k])
        oh, ow, oc = int(table.out_h[k]), int(table.out_w[k]), int(table.out_c[k])
        kh, kw, s, g = int(table.kernel_h[k]), int(table.kernel_w[k]), int(table.stride[k]), int(table.groups[k])
        macs, weights = int(table.macs[k]), int(table.weight_elems[k])
        srcs = reads[k]

        def bad(why: str):
            return UserError(f"{where}: layer {name!r} ({op}) cannot be written as ONNX: {why}")

        if op in ("conv", "dwconv") and (oh, ow) == (2 * ih, 2 * iw) and (kh, kw, s, g) == (1, 1, 1, 1):
            if macs != oh * ow * oc * ic or weights != 4 * ic * oc + oc:
                raise bad("unrecognised up-convolution")
            w = weight(f"{name}.weight", [ic, oc, 2, 2])
            b = weight(f"{name}.bias", [oc])
            nodes.append(helper.make_node("ConvTranspose", [as4d(srcs[0]), w, b], [out], name=name,
                                          kernel_shape=[2, 2], strides=[2, 2]))
            dims[k + 1] = ["N", oc, oh, ow]
        elif op in ("conv", "dwconv"):
            per_out = (ic // g) * kh * kw
            if macs != oh * ow * oc * per_out or weights - oc * per_out not in (0, oc):
                raise bad("MACs or weights are not those of a convolution")
            (sh, ph0, ph1), (sw, pw0, pw1) = _window(ih, oh, kh, s, bad), _window(iw, ow, kw, s, bad)
            ins = [as4d(srcs[0]), weight(f"{name}.weight", [oc, ic // g, kh, kw])]
            if weights - oc * per_out:
                ins.append(weight(f"{name}.bias", [oc]))
            nodes.append(helper.make_node("Conv", ins, [out], name=name, kernel_shape=[kh, kw],
                                          strides=[sh, sw], pads=[ph0, pw0, ph1, pw1], group=g))
            dims[k + 1] = ["N", oc, oh, ow]
        elif op == "fc":
            n_in = ih * iw * ic
            if macs != n_in * oc or weights - n_in * oc not in (0, oc) or (oh, ow) != (1, 1):
                raise bad("MACs or weights are not those of a fully connected layer")
            ins = [as2d(srcs[0]), weight(f"{name}.weight", [oc, n_in])]
            if weights - n_in * oc:
                ins.append(weight(f"{name}.bias", [oc]))
            nodes.append(helper.make_node("Gemm", ins, [out], name=name, transB=1))
            dims[k + 1] = ["N", oc]
        elif op == "pool":
            if macs or weights or oc != ic:
                raise bad("a pool has no MACs or weights and keeps the channels")
            if (oh, ow, kh, kw, s) == (1, 1, ih, iw, 1):
                nodes.append(helper.make_node("GlobalAveragePool", [as4d(srcs[0])], [out], name=name))
            else:
                (sh, ph0, ph1), (sw, pw0, pw1) = _window(ih, oh, kh, s, bad), _window(iw, ow, kw, s, bad)
                nodes.append(helper.make_node("MaxPool", [as4d(srcs[0])], [out], name=name,
                                              kernel_shape=[kh, kw], strides=[sh, sw],
                                              pads=[ph0, pw0, ph1, pw1]))
            dims[k + 1] = ["N", oc, oh, ow]
        elif op == "upsample":
            if oc != ic or oh % ih or ow % iw:
                raise bad("only whole-number upsampling factors are written")
            scales = const(f"{name}.scales", [1.0, 1.0, oh / ih, ow / iw], TensorProto.FLOAT)
            nodes.append(helper.make_node("Resize", [as4d(srcs[0]), "", scales], [out], name=name,
                                          mode="nearest"))
            dims[k + 1] = ["N", oc, oh, ow]
        elif op == "add":
            nodes.append(helper.make_node("Add" if len(srcs) == 2 else "Sum", [as4d(t) for t in srcs],
                                          [out], name=name))
            dims[k + 1] = ["N", oc, oh, ow]
        elif op == "concat":
            nodes.append(helper.make_node("Concat", [as4d(t) for t in srcs], [out], name=name, axis=1))
            dims[k + 1] = ["N", oc, oh, ow]
        else:
            raise bad("unknown operator")

    read = set(chain.from_iterable(reads))
    outputs = [helper.make_tensor_value_info(names[t], TensorProto.FLOAT, dims[t])
               for t in range(1, n + 1) if t not in read]
    graph = helper.make_graph(
        nodes, table.network,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims[0])] + weight_inputs, outputs,
        doc_string=f"dse layer table {table.label}: weight-free (weights are graph inputs)")
    model = helper.make_model(graph, producer_name="dse", opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    helper.set_model_props(model, {"dse.network": table.network, "dse.width": str(table.width),
                                   "dse.height": str(table.height)})
    return model


def _window(n_in: int, n_out: int, k: int, stride: int, bad) -> tuple[int, int, int]:
    """(stride, pad_begin, pad_end) that give ``n_out`` from ``n_in`` with a k-wide window."""
    for s in dict.fromkeys((stride, 1, 2, 3, 4)):
        for p in dict.fromkeys((k // 2, *range(k))):
            if conv_out(n_in, k, s, p) == n_out:
                return s, p, p
        end = (n_out - 1) * s + k - n_in
        if end >= 0 and conv_out(n_in + end, k, s, 0) == n_out:
            return s, 0, end
    raise bad(f"no stride/padding gives {n_out} from {n_in} with kernel {k}")


def _tensor_shapes(table: LayerTable) -> list[tuple[int, int, int]]:
    """(h, w, c) of tensor 0 (the network input) and of every layer output (tensor k + 1)."""
    first = (int(table.in_h[0]), int(table.in_w[0]), int(table.in_c[0]))
    return [first] + [(int(h), int(w), int(c)) for h, w, c in zip(table.out_h, table.out_w, table.out_c)]


def reconstruct_reads(table: LayerTable, field: str = "export-onnx") -> list[list[int]]:
    """Which tensors each layer reads (0: network input, k + 1: output of layer k).

    The table records it (``in_slot_tensor``: tensors are numbered in creation order, the network
    input first and then one output per layer), so this is a lookup.
    """
    if len(table) == 0:
        raise UserError(f"{field}: {table.label}: no layers to export")
    return [[int(t) for t in row if t >= 0] for row in table.in_slot_tensor]


def table_columns(table: LayerTable) -> dict[str, np.ndarray]:
    """Every per-layer array of a table, by column name (for comparisons)."""
    return {f.name: getattr(table, f.name) for f in dataclasses.fields(table)
            if isinstance(getattr(table, f.name), np.ndarray)}
