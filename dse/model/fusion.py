"""Depth-first (layer-fused) schedules: the stacks a workload can run band by band and what each
band needs on chip. Design-independent: computed once per workload (cached), then broadcast
against designs by :mod:`dse.model.fused_cost`. Equations in ``docs/model.md``, "Depth-first
fusion".

A *stack* is a run of consecutive layers that runs depth-first: the image is cut into N bands of
rows (and, optionally, M column tiles per band), and each tile is pulled through every layer of the
stack before the next one starts, so the stack's internal tensors never exist whole: only a tile of
each, plus the rows and columns that the next tile's kernels overlap (the *halo*, kept in line
caches: DeFiNES's fully cached mode) and, for skip tensors read further down the stack, the tile
until its reader has run. Tensors that enter or leave a stack keep their layer-by-layer residency
(kept on chip or spilled to DRAM).

Candidate partitions (an enumerated set, chosen per design by the cost model): greedy runs of
fusable layers whose weights stay under a cap, one partition per cap (``fusion_weight_cap_*``
in ``constants.csv``). Candidate tilings per stack: N and M powers of two (and the smallest
tensor's height or width), M <= N, pruned to those no other tiling beats on both buffer size and tile
count, at most ``fusion_max_tilings_per_stack`` of them spread over the buffer range.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dse.model.constants import model_constants
from dse.workloads.layers import OP_CODE, LayerTable

#: Operators a band can flow through (spatially local: a band of output rows needs a band of
#: input rows). Fully connected layers and global pooling need the whole input.
_FUSABLE = tuple(OP_CODE[name] for name in ("conv", "dwconv", "pool", "upsample", "add", "concat"))

#: Span of log2(buffer elements) per stack in ``Partition.opt_key``: buffers and available SRAM
#: are clipped to [2^-1, 2^(KEY_SPAN - 2)] elements, far beyond any SRAM.
KEY_SPAN = 64.0


@dataclass(frozen=True, eq=False)
class Partition:
    """One candidate partition of a workload into fused stacks (multi-layer stacks only; the
    layers outside them run layer by layer).

    Shapes: S stacks, O tilings over all stacks, I internal tensors over all stacks, L layers.
    ``seg_starts`` (G,): starts of consecutive layer segments covering 0..L-1 (for
    ``np.add.reduceat`` over layers); ``stack_seg`` (S,): which segment is each stack.
    ``stack_first``/``stack_last`` (S,): layer range. ``weight_elems`` (S,): weights of the stack;
    ``max_layer_weight_elems`` (S,). ``n_layers`` (S,).
    ``opt_buffer_elems`` (O,): on-chip elements per image a tiling needs (tile working set, line
    caches, skip tiles), ascending within each stack; ``opt_tiles`` (O,): tiles per image
    (N x M), descending within each stack; ``opt_bands``/``opt_cols`` (O,): N and M;
    ``opt_stack`` (O,); ``opt_starts`` (S,): first tiling of each stack.
    ``internal_tensor`` (I,): tensors living only inside a stack (listed stack by stack);
    ``internal_starts`` (S,). ``exit_tensor`` (X,): tensors produced in a stack and read after it
    (or network outputs), listed stack by stack; ``exit_starts`` (S,). ``layer_stack`` (L,): stack
    of each layer, -1 outside stacks. ``opt_key`` (O,): ``stack x KEY_SPAN + log2(buffer)``,
    ascending over all tilings (one ``searchsorted`` finds every stack's largest fitting tiling).
    """

    weight_cap_elems: float
    seg_starts: np.ndarray
    stack_seg: np.ndarray
    stack_first: np.ndarray
    stack_last: np.ndarray
    n_layers: np.ndarray
    weight_elems: np.ndarray
    max_layer_weight_elems: np.ndarray
    opt_buffer_elems: np.ndarray
    opt_tiles: np.ndarray
    opt_bands: np.ndarray
    opt_cols: np.ndarray
    opt_stack: np.ndarray
    opt_starts: np.ndarray
    internal_tensor: np.ndarray
    internal_starts: np.ndarray
    exit_tensor: np.ndarray
    exit_starts: np.ndarray
    layer_stack: np.ndarray
    opt_key: np.ndarray

    @property
    def n_stacks(self) -> int:
        return int(self.stack_first.shape[0])


@dataclass(frozen=True)
class _Shapes:
    """Per-tensor geometry of a layer table (T tensors): height, width, channels, producer layer
    (-1 for the network input) and readers."""

    h: np.ndarray
    w: np.ndarray
    c: np.ndarray
    producer: np.ndarray
    readers: list


def _tensor_shapes(table: LayerTable) -> _Shapes:
    n_t = len(table.tensor_elems)
    h = np.zeros(n_t, dtype=np.int64)
    w = np.zeros(n_t, dtype=np.int64)
    c = np.zeros(n_t, dtype=np.int64)
    producer = np.full(n_t, -1, dtype=np.int64)
    producer[table.out_tensor] = np.arange(len(table))
    h[table.out_tensor], w[table.out_tensor], c[table.out_tensor] = table.out_h, table.out_w, table.out_c
    readers: list[list[int]] = [[] for _ in range(n_t)]
    for layer, slots in enumerate(table.in_slot_tensor):
        for t in dict.fromkeys(int(s) for s in slots if s >= 0):
            readers[t].append(layer)
    for t in (int(i) for i in np.flatnonzero(producer < 0)):  # network input: its first reader's input shape
        first = readers[t][0] if readers[t] else 0
        h[t], w[t] = table.in_h[first], table.in_w[first]
        c[t] = max(table.tensor_elems[t] // max(h[t] * w[t], 1), 1)
    return _Shapes(h, w, c, producer, readers)


def _fusable(table: LayerTable) -> np.ndarray:
    """(L,) bool: the layer can be part of a multi-layer stack."""
    spatial = np.isin(table.op, _FUSABLE)
    global_pool = (table.op == OP_CODE["pool"]) & (table.kernel_h >= table.in_h) & (table.kernel_w >= table.in_w)
    return spatial & ~global_pool & (table.out_h > 1) & (table.in_h > 1)


def _greedy_stacks(table: LayerTable, fusable: np.ndarray, cap: float) -> list[tuple[int, int]]:
    """Runs of consecutive fusable layers (two or more with their own kernels), each with at most
    ``cap`` weight elements."""
    stacks, start, weights = [], -1, 0.0
    for layer in range(len(table) + 1):
        w = float(table.weight_elems[layer]) if layer < len(table) else 0.0
        joins = layer < len(table) and fusable[layer] and start >= 0 and weights + w <= cap
        if joins:
            weights += w
            continue
        # a stack needs two layers with kernels of their own (a residual add fused into the
        # layer before it is already free of DRAM traffic)
        if start >= 0 and np.count_nonzero(~table.fused_into_prev[start:layer]) >= 2:
            stacks.append((start, layer - 1))
        if layer < len(table) and fusable[layer] and w <= cap:
            start, weights = layer, w
        else:
            start, weights = -1, 0.0
    return stacks


def _halo(k: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Rows (or columns) of a layer's input that consecutive tiles share: kernel minus stride."""
    return np.maximum(k - s, 0)


def _tilings(table: LayerTable, shp: _Shapes, first: int, last: int, internal: list[int]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidate tilings of one stack: (buffer elements per image, tiles, bands N, columns M),
    Pareto-pruned (smaller buffer or fewer tiles) and sorted by buffer, ascending."""
    layers = np.arange(first, last + 1)
    tensors = sorted({int(table.out_tensor[x]) for x in layers}
                     | {int(t) for x in layers for t in table.in_slot_tensor[x] if t >= 0})
    tensors_a = np.asarray(tensors)
    h_min, w_min = int(shp.h[tensors_a].min()), int(shp.w[tensors_a].min())
    bands = np.unique(np.concatenate([2 ** np.arange(int(np.log2(h_min)) + 1), [h_min]]))
    cols = np.unique(np.concatenate([2 ** np.arange(int(np.log2(w_min)) + 1), [w_min]]))
    n, m = (a.ravel().astype(np.float64) for a in np.meshgrid(bands, cols, indexing="ij"))
    n, m = n[m <= n], m[m <= n]  # a band is cut into at most as many column tiles as there are bands
    # rows / columns of a tensor in one tile: (options, tensors)
    rows = {t: np.ceil(shp.h[t] / n) for t in tensors}
    colw = {t: np.ceil(shp.w[t] / m) for t in tensors}
    tile = {t: rows[t] * colw[t] * shp.c[t] for t in tensors}
    working = np.zeros_like(n)
    caches = np.zeros_like(n)
    for x in layers:
        ins = [int(t) for t in dict.fromkeys(table.in_slot_tensor[x]) if t >= 0]
        out = int(table.out_tensor[x])
        working = np.maximum(working, sum(tile[t] for t in ins) + tile[out])
        src = ins[0]  # the windowed input (add/concat have 1x1 windows: no halo)
        hk = float(_halo(table.kernel_h[x], table.stride[x]))
        wk = float(_halo(table.kernel_w[x], table.stride[x]))
        # a line cache of the halo rows over the full width, kept between bands; a column cache
        # of the halo columns over the tile's rows, kept between tiles of a band
        caches += np.where(n > 1, hk * shp.w[src] * shp.c[src], 0.0)
        caches += np.where(m > 1, wk * rows[src] * shp.c[src], 0.0)
    skips = np.zeros_like(n)
    for t in internal:
        last_reader = max(shp.readers[t])
        if last_reader > shp.producer[t] + 1:  # read further down: held until its last reader ran
            between = np.arange(shp.producer[t] + 1, last_reader)
            lag_rows = float(_halo(table.kernel_h[between], table.stride[between]).sum())
            skips += tile[t] + np.where(n > 1, lag_rows * shp.w[t] * shp.c[t], 0.0)
    buffer = working + caches + skips
    tiles = n * m
    order = np.lexsort((-n, tiles, buffer))  # equal buffers and tiles: prefer bands of rows
    keep, best = [], np.inf
    for i in order:  # Pareto: each kept tiling needs fewer tiles than every smaller-buffer one
        if tiles[i] < best:
            keep.append(i)
            best = tiles[i]
    idx = np.asarray(keep)
    limit = int(model_constants()["fusion_max_tilings_per_stack"])
    if len(idx) > limit:  # spread over the buffer range, keeping both ends
        idx = idx[np.unique(np.round(np.linspace(0, len(idx) - 1, limit)).astype(np.int64))]
    return buffer[idx], tiles[idx], n[idx], m[idx]


def _partition(table: LayerTable, shp: _Shapes, stacks: list[tuple[int, int]], cap: float) -> Partition:
    n_layers = len(table)
    seg, stack_seg = [], []
    pos = 0
    for a, b in stacks:
        if a > pos:
            seg.append(pos)
        stack_seg.append(len(seg))
        seg.append(a)
        pos = b + 1
    if pos < n_layers:
        seg.append(pos)
    layer_stack = np.full(n_layers, -1, dtype=np.int64)
    bufs: list[np.ndarray] = []
    tiles: list[np.ndarray] = []
    bands: list[np.ndarray] = []
    colt: list[np.ndarray] = []
    opt_stack: list[np.ndarray] = []
    internal: list[int] = []
    exits: list[int] = []
    int_starts: list[int] = []
    exit_starts: list[int] = []
    starts: list[int] = []
    for s, (a, b) in enumerate(stacks):
        layer_stack[a:b + 1] = s
        produced = [int(table.out_tensor[x]) for x in range(a, b + 1)]
        inside = [t for t in produced if shp.readers[t] and max(shp.readers[t]) <= b]
        exit_starts.append(len(exits))
        exits.extend(t for t in produced if t not in inside)
        buf, til, nb, mc = _tilings(table, shp, a, b, inside)
        starts.append(int(sum(len(x) for x in bufs)))
        bufs.append(buf)
        tiles.append(til)
        bands.append(nb)
        colt.append(mc)
        opt_stack.append(np.full(len(buf), s, dtype=np.int64))
        int_starts.append(len(internal))
        internal.extend(inside)
    cat = lambda parts, dt=np.float64: (np.concatenate(parts).astype(dt) if parts  # noqa: E731
                                        else np.zeros(0, dtype=dt))
    first = np.asarray([a for a, _ in stacks], dtype=np.int64)
    last = np.asarray([b for _, b in stacks], dtype=np.int64)
    w = table.weight_elems.astype(np.float64)
    return Partition(
        weight_cap_elems=cap,
        seg_starts=np.asarray(seg, dtype=np.int64), stack_seg=np.asarray(stack_seg, dtype=np.int64),
        stack_first=first, stack_last=last, n_layers=(last - first + 1).astype(np.float64),
        weight_elems=np.asarray([w[a:b + 1].sum() for a, b in stacks], dtype=np.float64),
        max_layer_weight_elems=np.asarray([w[a:b + 1].max() for a, b in stacks], dtype=np.float64),
        opt_buffer_elems=cat(bufs), opt_tiles=cat(tiles), opt_bands=cat(bands), opt_cols=cat(colt),
        opt_stack=cat(opt_stack, np.int64), opt_starts=np.asarray(starts, dtype=np.int64),
        internal_tensor=np.asarray(internal, dtype=np.int64),
        internal_starts=np.asarray(int_starts, dtype=np.int64),
        exit_tensor=np.asarray(exits, dtype=np.int64), exit_starts=np.asarray(exit_starts, dtype=np.int64),
        layer_stack=layer_stack,
        opt_key=cat(opt_stack) * KEY_SPAN + np.log2(np.clip(cat(bufs), 0.5, 2.0 ** (KEY_SPAN - 2))),
    )


@lru_cache(maxsize=32)
def fusion_plan(table: LayerTable) -> tuple[Partition, ...]:
    """The candidate partitions of a workload (distinct, non-empty; may be empty for networks with
    nothing to fuse)."""
    consts = model_constants()
    shp = _tensor_shapes(table)
    fusable = _fusable(table)
    caps = consts["fusion_weight_cap_min_elems"] * consts["fusion_weight_cap_ratio"] ** np.arange(
        int(consts["fusion_weight_cap_count"]))
    seen, plan = set(), []
    for cap in caps:
        stacks = _greedy_stacks(table, fusable, float(cap))
        key = tuple(stacks)
        if stacks and key not in seen:
            seen.add(key)
            plan.append(_partition(table, shp, stacks, float(cap)))
    return tuple(plan)
