"""Networks as layer tables: one row per layer, numpy struct-of-arrays.

A :class:`LayerTable` is what every other layer of dse sees of a network. All counts are per
inference of ONE input image (batch 1); the evaluator multiplies by the batch size.

Activation liveness: a tensor is alive from the layer that produces it until the last layer that
reads it. ``live_elems[l]`` counts the elements of tensors that are alive *across* layer ``l``
without being read or written by it (skip connections, route/concat sources, inputs of later
adds). The peak live activation is therefore ``max(in_elems + out_elems + live_elems)``. Network
outputs (detection heads, logits) are streamed out as they are produced and are not kept alive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Operator kinds, in the order of their integer codes in ``LayerTable.op``.
OPS = ("conv", "dwconv", "fc", "pool", "upsample", "add", "concat")
OP_CODE = {name: code for code, name in enumerate(OPS)}

#: Integer columns of a layer table (all int64, per image).
INT_COLUMNS = (
    "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "kernel_h", "kernel_w", "stride", "groups",
    "macs", "weight_elems", "in_elems", "out_elems", "live_elems",
)


@dataclass(frozen=True, eq=False)
class LayerTable:
    """A network as a table of L layers (every array has shape (L,)).

    Columns: ``name`` (str), ``op`` (int8 code into :data:`OPS`), input/output H, W, C,
    ``kernel_h``/``kernel_w``, ``stride``, ``groups``, ``macs`` (multiply-accumulates per image),
    ``weight_elems`` (weights plus one bias per output channel: batch norm folded),
    ``in_elems``/``out_elems`` (activation elements read/written per image; several inputs are
    summed), ``live_elems`` (other activation elements alive across the layer), ``winograd_ok``
    (3x3, stride 1, dense convolution).

    ``fused_into_prev`` (L,) bool: a residual add executed in the epilogue of the layer before
    it (one kernel: its time terms join that layer's before the max of the bounds).

    Tensors (T of them, network input first): ``tensor_elems``, ``tensor_need_elems`` (the
    per-image SRAM, in elements, needed to keep the tensor on chip for its whole life; see
    :meth:`NetBuilder.build`; ``inf`` for the network input and outputs, which live in DRAM),
    ``tensor_readers`` (layers reading it), ``tensor_first``/``tensor_last`` (the layers
    of its life, producer to last reader); ``out_tensor`` (L,) and ``in_slot_tensor`` (L, K) (-1
    for unused slots) say which tensor each layer writes and reads.
    """

    network: str
    width: int
    height: int
    name: np.ndarray
    op: np.ndarray
    in_h: np.ndarray
    in_w: np.ndarray
    in_c: np.ndarray
    out_h: np.ndarray
    out_w: np.ndarray
    out_c: np.ndarray
    kernel_h: np.ndarray
    kernel_w: np.ndarray
    stride: np.ndarray
    groups: np.ndarray
    macs: np.ndarray
    weight_elems: np.ndarray
    in_elems: np.ndarray
    out_elems: np.ndarray
    live_elems: np.ndarray
    winograd_ok: np.ndarray
    fused_into_prev: np.ndarray
    out_tensor: np.ndarray
    in_slot_tensor: np.ndarray
    tensor_elems: np.ndarray
    tensor_need_elems: np.ndarray
    tensor_readers: np.ndarray
    tensor_first: np.ndarray
    tensor_last: np.ndarray

    @property
    def out_keep_need_elems(self) -> np.ndarray:
        """(L,) residency need of each layer's output tensor, elements per image."""
        return self.tensor_need_elems[self.out_tensor]

    @property
    def in_slot_elems(self) -> np.ndarray:
        """(L, K) elements of each input slot per image (0 for unused slots)."""
        return np.where(self.in_slot_tensor >= 0, self.tensor_elems[self.in_slot_tensor], 0)

    @property
    def in_slot_keep_need_elems(self) -> np.ndarray:
        """(L, K) residency need of each input slot's tensor (0 for unused slots)."""
        return np.where(self.in_slot_tensor >= 0, self.tensor_need_elems[self.in_slot_tensor], 0.0)

    @property
    def label(self) -> str:
        """``NAME@WIDTHxHEIGHT``, the canonical workload name."""
        return f"{self.network}@{self.width}x{self.height}"

    def __len__(self) -> int:
        return int(self.op.shape[0])

    @property
    def total_macs(self) -> int:
        return int(self.macs.sum())

    @property
    def total_weight_elems(self) -> int:
        return int(self.weight_elems.sum())

    @property
    def largest_activation_elems(self) -> int:
        """Largest single tensor (layer output or the network input), elements per image."""
        return int(max(self.out_elems.max(), self.in_h[0] * self.in_w[0] * self.in_c[0]))

    @property
    def working_elems(self) -> np.ndarray:
        """(L,) activation elements alive while each layer runs: inputs + output + live skips."""
        return self.in_elems + self.out_elems + self.live_elems

    @property
    def peak_live_elems(self) -> int:
        """Peak of :attr:`working_elems` over the network, elements per image."""
        return int(self.working_elems.max())

    def to_frame(self) -> pd.DataFrame:
        """The table as a pandas DataFrame (one row per layer, op as its name)."""
        data = {"name": self.name, "op": np.asarray(OPS, dtype=object)[self.op]}
        for col in INT_COLUMNS:
            data[col] = getattr(self, col)
        data["winograd_ok"] = self.winograd_ok
        return pd.DataFrame(data)


@dataclass(frozen=True)
class Tensor:
    """A symbolic activation tensor of one image while a network is being built."""

    tid: int
    h: int
    w: int
    c: int

    @property
    def elems(self) -> int:
        return self.h * self.w * self.c


def conv_out(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output side of a convolution or pooling window (floor convention, as PyTorch and darknet)."""
    return (size + 2 * pad - kernel) // stride + 1


@dataclass
class NetBuilder:
    """Builds a :class:`LayerTable` layer by layer while tracking tensor shapes and liveness."""

    network: str
    width: int
    height: int
    channels: int = 3
    _rows: list = field(default_factory=list)
    _inputs: list = field(default_factory=list)  # tensor ids read by each layer
    _producer: dict = field(default_factory=dict)  # tensor id -> layer index (-1: network input)
    _elems: dict = field(default_factory=dict)  # tensor id -> elements
    _next_tid: int = 0

    def input(self) -> Tensor:
        return self._new_tensor(self.height, self.width, self.channels, producer=-1)

    def _new_tensor(self, h: int, w: int, c: int, producer: int) -> Tensor:
        if h <= 0 or w <= 0 or c <= 0:
            raise ValueError(f"{self.network}: non-positive tensor shape {h}x{w}x{c}")
        t = Tensor(self._next_tid, h, w, c)
        self._next_tid += 1
        self._producer[t.tid] = producer
        self._elems[t.tid] = t.elems
        return t

    def _add(self, name, op, inputs, out_h, out_w, out_c, k_h=1, k_w=1, stride=1, groups=1,
             macs=0, weights=0) -> Tensor:
        layer = len(self._rows)
        first = inputs[0]
        out = self._new_tensor(out_h, out_w, out_c, producer=layer)
        self._rows.append(dict(
            name=name or f"{op}{layer}", op=OP_CODE[op], in_h=first.h, in_w=first.w,
            in_c=sum(t.c for t in inputs) if op == "concat" else first.c,
            out_h=out_h, out_w=out_w, out_c=out_c, kernel_h=k_h, kernel_w=k_w, stride=stride,
            groups=groups, macs=macs, weight_elems=weights,
            in_elems=sum(t.elems for t in inputs), out_elems=out.elems,
            winograd_ok=(op == "conv" and k_h == 3 and k_w == 3 and stride == 1 and groups == 1),
        ))
        self._inputs.append([t.tid for t in inputs])
        return out

    def conv(self, x: Tensor, out_c: int, k: int, stride: int = 1, pad: int | None = None,
             groups: int = 1, bias: bool = True, name: str | None = None) -> Tensor:
        """A 2-D convolution (k x k); ``pad`` defaults to k // 2 ("same" at stride 1)."""
        pad = k // 2 if pad is None else pad
        if x.c % groups or out_c % groups:
            raise ValueError(f"{self.network}: channels {x.c}->{out_c} not divisible by groups {groups}")
        oh, ow = conv_out(x.h, k, stride, pad), conv_out(x.w, k, stride, pad)
        per_out = (x.c // groups) * k * k
        op = "dwconv" if groups > 1 and groups == x.c else "conv"
        return self._add(name, op, [x], oh, ow, out_c, k, k, stride, groups,
                         macs=oh * ow * out_c * per_out,
                         weights=out_c * per_out + (out_c if bias else 0))

    def conv_transpose2x2(self, x: Tensor, out_c: int, name: str | None = None) -> Tensor:
        """2x2 stride-2 transposed convolution (2x upsampling with learned weights).

        Every output pixel takes exactly one kernel tap, so the layer is recorded as what it
        costs: a 1x1 convolution from ``x.c`` to ``out_c`` channels at each of the 4x output
        pixels (MACs = out_h x out_w x out_c x in_c; weights = 4 x in_c x out_c + out_c).
        """
        oh, ow = 2 * x.h, 2 * x.w
        return self._add(name, "conv", [x], oh, ow, out_c, 1, 1, 1, 1,
                         macs=oh * ow * out_c * x.c, weights=4 * x.c * out_c + out_c)

    def fc(self, x: Tensor, out_features: int, bias: bool = True, name: str | None = None) -> Tensor:
        """Fully connected layer over the flattened input."""
        n_in = x.elems
        return self._add(name, "fc", [x], 1, 1, out_features, macs=n_in * out_features,
                         weights=n_in * out_features + (out_features if bias else 0))

    def pool(self, x: Tensor, k: int, stride: int, pad: int = 0, name: str | None = None) -> Tensor:
        """Max or average pooling window (no MACs, no weights)."""
        oh, ow = conv_out(x.h, k, stride, pad), conv_out(x.w, k, stride, pad)
        return self._add(name, "pool", [x], oh, ow, x.c, k, k, stride)

    def global_pool(self, x: Tensor, name: str | None = None) -> Tensor:
        return self._add(name, "pool", [x], 1, 1, x.c, x.h, x.w, 1)

    def upsample(self, x: Tensor, factor: int = 2, name: str | None = None) -> Tensor:
        """Nearest-neighbour (or transposed-free) upsampling by an integer factor."""
        return self._add(name, "upsample", [x], x.h * factor, x.w * factor, x.c)

    def add(self, a: Tensor, b: Tensor, name: str | None = None) -> Tensor:
        if (a.h, a.w, a.c) != (b.h, b.w, b.c):
            raise ValueError(f"{self.network}: add of {a} and {b}")
        return self._add(name, "add", [a, b], a.h, a.w, a.c)

    def concat(self, parts: list[Tensor], name: str | None = None) -> Tensor:
        h, w = parts[0].h, parts[0].w
        if any((t.h, t.w) != (h, w) for t in parts):
            raise ValueError(f"{self.network}: concat of mismatched tensors {parts}")
        return self._add(name, "concat", list(parts), h, w, sum(t.c for t in parts))

    def build(self) -> LayerTable:
        """Freeze the layers into a :class:`LayerTable`, computing liveness and residency needs.

        Residency policy (per image, in elements; the evaluator scales by batch x bytes/element and
        compares with the SRAM left for activations). A tensor stays on chip only if, at every
        layer of its life, it fits together with everything of higher priority: the operands of
        the running layer (its inputs and output) come first, then bystander tensors (alive but
        not touched by the running layer) with shorter remaining lives. Long-lived skip tensors
        are thus the first to spill to DRAM, which is what a compiler minimizing traffic does.
        A spilled tensor is written once by its producer and read once by each reader. The
        operand of a residual add produced by the layer just before it is fused (need 0).
        """
        n = len(self._rows)
        readers: dict[int, list[int]] = {}
        for layer, tids in enumerate(self._inputs):
            for tid in dict.fromkeys(tids):
                readers.setdefault(tid, []).append(layer)
        last_use = {tid: rs[-1] for tid, rs in readers.items()}
        active = np.array([r["in_elems"] + r["out_elems"] for r in self._rows], dtype=np.int64)
        live = np.zeros(n, dtype=np.int64)
        bystanders: list[list[int]] = [[] for _ in range(n)]
        for tid, last in last_use.items():
            reading = set(readers[tid])
            for layer in range(self._producer[tid] + 1, last):
                if layer not in reading:
                    live[layer] += self._elems[tid]
                    bystanders[layer].append(tid)
        # need[t]: SRAM elements required to keep t on chip for its whole life.
        need = {}
        for tid, rs in readers.items():
            touching = rs + ([self._producer[tid]] if self._producer[tid] >= 0 else [])
            need[tid] = float(active[touching].max())
        for layer, tids in enumerate(bystanders):
            ranked = sorted(tids, key=lambda t: (last_use[t] - self._producer[t], t))
            total = int(active[layer])
            for tid in ranked:
                total += self._elems[tid]
                need[tid] = max(need[tid], float(total))
        fused = np.zeros(n, dtype=bool)
        for tid, producer in self._producer.items():
            if producer < 0 or tid not in readers:  # network input from DRAM, outputs to DRAM
                need[tid] = np.inf
            elif readers[tid] == [producer + 1] and self._rows[producer + 1]["op"] == OP_CODE["add"]:
                # A residual add fuses into the epilogue of the layer just before it (as every
                # inference compiler does): that operand is never materialized, so never spills.
                need[tid] = 0.0
                fused[producer + 1] = True
        k = max(len(t) for t in self._inputs)
        out_tid = {p: tid for tid, p in self._producer.items() if p >= 0}
        n_t = self._next_tid
        in_tensor = np.full((n, k), -1, dtype=np.int64)
        for layer, tids in enumerate(self._inputs):
            in_tensor[layer, :len(tids)] = tids
        first = np.array([max(self._producer[t], 0) for t in range(n_t)], dtype=np.int64)
        cols = {c: np.array([r[c] for r in self._rows], dtype=np.int64) for c in INT_COLUMNS
                if c != "live_elems"}
        return LayerTable(
            out_tensor=np.array([out_tid[layer] for layer in range(n)], dtype=np.int64),
            in_slot_tensor=in_tensor,
            tensor_elems=np.array([self._elems[t] for t in range(n_t)], dtype=np.int64),
            tensor_need_elems=np.array([need.get(t, np.inf) for t in range(n_t)], dtype=np.float64),
            tensor_readers=np.array([len(readers.get(t, ())) for t in range(n_t)], dtype=np.int64),
            tensor_first=first,
            tensor_last=np.array([last_use.get(t, first[t]) for t in range(n_t)], dtype=np.int64),
            network=self.network, width=self.width, height=self.height,
            name=np.array([r["name"] for r in self._rows], dtype=object),
            op=np.array([r["op"] for r in self._rows], dtype=np.int8),
            live_elems=live, winograd_ok=np.array([r["winograd_ok"] for r in self._rows], dtype=bool),
            fused_into_prev=fused,
            **cols,
        )
