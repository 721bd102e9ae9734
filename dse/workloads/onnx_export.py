"""A layer table as a weight-free ONNX graph (:func:`export_onnx`): hands our networks to other tools.

The graph has one image input ``input`` [N, C, H, W] (N symbolic) and carries every weight as a
graph input with its shape (no initializers, so files stay small: ~1 kB per layer). Layers map to
Conv (groups; U-Net's 2x2 up-convolution to ConvTranspose), Gemm (behind a Flatten), MaxPool or
GlobalAveragePool, Resize (nearest), Add/Sum and Concat; pads are chosen to give each layer's
output size. :func:`~dse.workloads.onnx_import.load_onnx` reads the file back to the same table.

A layer table does not store which tensor each layer reads, only shapes and liveness, so the
connectivity is recovered first (:func:`reconstruct_reads`): a depth-first search over the
tensors alive at each layer whose shapes and element counts (``in_slot_elems``) fit the layer's
inputs, constrained exactly by ``in_elems`` and ``live_elems`` at every layer, preferring the most
recent tensor; the input order of two-input layers is then fixed by rebuilding the table and
matching its per-slot columns.
"""

from __future__ import annotations

import dataclasses
from itertools import chain
from pathlib import Path

import numpy as np

from dse.errors import UserError
from dse.workloads.layers import OPS, LayerTable, NetBuilder, Tensor, conv_out
from dse.workloads.onnx_import import import_onnx_package

OPSET = 17
IR_VERSION = 8  # readable by onnxruntime >= 1.10 and most converters
SEARCH_BUDGET = 200_000


def export_onnx(table: LayerTable, path, field: str = "export-onnx") -> Path:
    """Write ``table`` to ``path`` as a weight-free ONNX graph; returns the path."""
    onnx = import_onnx_package(field)
    model = to_onnx(table, field)
    path = Path(path)
    try:
        onnx.save(model, str(path))
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
    dims: list[list] = [["N", shapes[0][2], shapes[0][0], shapes[0][1]]] + [None] * n
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

    Depth-first search over the set A of tensors alive when layer k starts (produced before it and
    read by it or later): the layer's inputs are taken from A, ``sum(A) - sum(inputs)`` must equal
    ``live_elems[k]``, and each input either dies or stays, the output enters A or not (a network
    output); at the end A must be empty. Among equal candidates the most recent tensor comes first.
    """
    n = len(table)
    where = f"{field}: {table.label}"
    if n == 0:
        raise UserError(f"{where}: no layers to export")
    if OPS[table.op[0]] == "concat":
        raise UserError(f"{where}: cannot recover the network input of a table starting with concat")
    shapes = _tensor_shapes(table)
    size = [h * w * c for h, w, c in shapes]
    live = [int(v) for v in table.live_elems]
    ins = [int(v) for v in table.in_elems]
    slots = getattr(table, "in_slot_elems", None)
    slot_sizes = [[int(e) for e in slots[k] if e > 0] for k in range(n)] if slots is not None else None

    def candidates(k: int, alive: frozenset):
        op = OPS[table.op[k]]
        want = (int(table.in_h[k]), int(table.in_w[k]), int(table.in_c[k]))
        cands = sorted(alive, reverse=True)
        sizes = slot_sizes[k] if slot_sizes is not None else None
        if op == "add":
            fits = [t for t in cands if shapes[t] == want]
            count = len(sizes) if sizes else 2
            yield from _sequences(fits, count, sizes, size, lambda seq: True)
        elif op == "concat":
            fits = [t for t in cands if shapes[t][:2] == want[:2]]
            counts = [len(sizes)] if sizes else range(1, len(fits) + 1)
            for count in counts:
                yield from _sequences(fits, count, sizes, size,
                                      lambda seq: sum(shapes[t][2] for t in seq) == want[2])
        else:
            for t in cands:
                if shapes[t] == want and (not sizes or sizes == [size[t]]):
                    yield [t]

    def options(k: int, alive: frozenset):
        total = sum(size[t] for t in alive)
        for reads in candidates(k, alive):
            distinct = set(reads)
            if total - sum(size[t] for t in distinct) != live[k] or sum(size[t] for t in reads) != ins[k]:
                continue
            rest = alive - distinct
            ordered = sorted(distinct)
            for mask in range(1 << len(ordered)):  # mask 0: every input dies
                kept = {t for i, t in enumerate(ordered) if mask >> i & 1}
                for enters in (True, False):
                    nxt = rest | kept | ({k + 1} if enters else set())
                    if k + 1 == n:
                        if not nxt:
                            yield reads, frozenset()
                        continue
                    if sum(size[t] for t in nxt) == live[k + 1] + ins[k + 1]:
                        yield reads, frozenset(nxt)

    failed: set = set()
    start = frozenset({0})
    stack = [(0, options(0, start))]
    path: list[list[int]] = []
    budget = SEARCH_BUDGET
    while stack:
        k, it = stack[-1]
        step = next(it, None)
        if step is None:
            stack.pop()
            if path:
                path.pop()
            continue
        reads, nxt = step
        if k + 1 == n:
            path.append(reads)
            return _order_slots(table, path)
        if (k + 1, nxt) in failed:
            continue
        budget -= 1
        if budget < 0:
            break
        path.append(reads)
        stack.append((k + 1, _remember(options(k + 1, nxt), failed, (k + 1, nxt))))
    raise UserError(f"{where}: cannot recover which tensors each layer reads from the table's "
                    "shapes and liveness (not a table built by dse?)")


def _remember(it, failed: set, key):
    """Iterate ``it``; once exhausted, record ``key`` as a dead end."""
    yield from it
    failed.add(key)


def _sequences(cands: list[int], count: int, sizes: list[int] | None, size: list[int], ok):
    """Ordered sequences of ``count`` distinct candidates (element counts ``sizes`` if given)."""
    prefix: list[int] = []

    def rec():
        if len(prefix) == count:
            if ok(prefix):
                yield list(prefix)
            return
        for t in cands:
            if t not in prefix and (not sizes or size[t] == sizes[len(prefix)]):
                prefix.append(t)
                yield from rec()
                prefix.pop()

    return rec()


def _replay(table: LayerTable, reads: list[list[int]]) -> LayerTable:
    """Rebuild ``table`` from its rows and ``reads`` with a NetBuilder (same liveness rules)."""
    shapes = _tensor_shapes(table)
    b = NetBuilder(table.network, table.width, table.height, shapes[0][2])
    x = b.input()
    tensors = [Tensor(x.tid, *shapes[0])]
    for k in range(len(table)):
        t = b._add(  # noqa: SLF001 - replays a row exactly as recorded
            str(table.name[k]), OPS[table.op[k]], [tensors[i] for i in reads[k]], *shapes[k + 1],
            int(table.kernel_h[k]), int(table.kernel_w[k]), int(table.stride[k]), int(table.groups[k]),
            macs=int(table.macs[k]), weights=int(table.weight_elems[k]))
        tensors.append(t)
    return b.build()


def _order_slots(table: LayerTable, reads: list[list[int]]) -> list[list[int]]:
    """Order the inputs of multi-input layers as the table's per-slot columns say, if it has them."""
    need = getattr(table, "in_slot_keep_need_elems", None)
    if need is None:
        return reads
    rebuilt = _replay(table, reads)
    got = rebuilt.in_slot_keep_need_elems
    for k, r in enumerate(reads):
        if len(r) == 2 and not np.array_equal(got[k, :2], need[k, :2]) and np.array_equal(got[k, 1::-1], need[k, :2]):
            reads[k] = [r[1], r[0]]
    return reads


def table_columns(table: LayerTable) -> dict[str, np.ndarray]:
    """Every per-layer array of a table, by column name (for comparisons)."""
    return {f.name: getattr(table, f.name) for f in dataclasses.fields(table)
            if isinstance(getattr(table, f.name), np.ndarray)}
