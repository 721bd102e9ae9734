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
class Tilings:
    """Candidate tilings of every stack of a partition, for one halo mode (O tilings in all).

    ``buffer_elems`` (O,): on-chip elements per image a tiling needs, ascending within each stack;
    ``tiles`` (O,): tiles per image (N x M), descending within each stack; ``bands``/``cols``
    (O,): N and M; ``starts`` (S,): first tiling of each stack; ``key`` (O,): ``stack x KEY_SPAN +
    log2(buffer)``, ascending over all tilings (one ``searchsorted`` finds every stack's largest
    fitting tiling). ``compute_factor`` (O,): work of the stack over its work without halos (1
    when the halo is cached; MAC- and element-weighted over its layers when recomputed);
    ``input_factor`` (O,): reads of the stack's inputs over one read each (1 when cached).
    """

    buffer_elems: np.ndarray
    tiles: np.ndarray
    bands: np.ndarray
    cols: np.ndarray
    starts: np.ndarray
    key: np.ndarray
    compute_factor: np.ndarray
    input_factor: np.ndarray


@dataclass(frozen=True, eq=False)
class Partition:
    """One candidate partition of a workload into fused stacks (multi-layer stacks only; the
    layers outside them run layer by layer).

    Shapes: S stacks, I internal tensors over all stacks, L layers.
    ``stack_first``/``stack_last`` (S,): layer range. ``weight_elems`` (S,): weights of the stack;
    ``max_layer_weight_elems`` (S,). ``n_layers`` (S,). ``macs`` (S,): MACs per image. ``cached``/``recompute``: the candidate
    :class:`Tilings` with the halo kept in line caches or recomputed by every tile.
    ``internal_tensor`` (I,): tensors living only inside a stack (listed stack by stack);
    ``internal_starts`` (S,). ``exit_tensor`` (X,): tensors produced in a stack and read after it
    (or network outputs), listed stack by stack; ``exit_starts`` (S,). ``enter_tensor`` (E,):
    tensors read by a stack and produced before it; ``enter_starts`` (S,). ``layer_stack`` (L,):
    stack of each layer, -1 outside stacks.
    """

    weight_cap_elems: float
    stack_first: np.ndarray
    stack_last: np.ndarray
    n_layers: np.ndarray
    weight_elems: np.ndarray
    max_layer_weight_elems: np.ndarray
    macs: np.ndarray
    cached: Tilings
    recompute: Tilings
    internal_tensor: np.ndarray
    internal_starts: np.ndarray
    exit_tensor: np.ndarray
    exit_starts: np.ndarray
    enter_tensor: np.ndarray
    enter_starts: np.ndarray
    layer_stack: np.ndarray

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


def _tilings(table: LayerTable, shp: _Shapes, first: int, last: int, internal: list[int],
             recompute: bool) -> tuple[np.ndarray, ...]:
    """Candidate tilings of one stack: (buffer elements per image, tiles, bands N, columns M,
    compute factor, input factor), Pareto-pruned (smaller buffer or fewer tiles) and sorted by
    buffer, ascending. ``recompute``: every tile recomputes its halo (no line caches; the rows and
    columns a tile needs grow through the stack's windows, DeFiNES's fully recomputed mode)."""
    layers = np.arange(first, last + 1)
    produced = {int(table.out_tensor[x]) for x in layers}
    tensors = sorted(produced | {int(t) for x in layers for t in table.in_slot_tensor[x] if t >= 0})
    tensors_a = np.asarray(tensors)
    h_min, w_min = int(shp.h[tensors_a].min()), int(shp.w[tensors_a].min())
    bands = np.unique(np.concatenate([2 ** np.arange(int(np.log2(h_min)) + 1), [h_min]]))
    cols = np.unique(np.concatenate([2 ** np.arange(int(np.log2(w_min)) + 1), [w_min]]))
    n, m = (a.ravel().astype(np.float64) for a in np.meshgrid(bands, cols, indexing="ij"))
    n, m = n[m <= n], m[m <= n]  # a band is cut into at most as many column tiles as there are bands
    # new rows / columns of a tensor per tile (every tensor advances by its share of the image)
    rows = {t: np.ceil(shp.h[t] / n) for t in tensors}
    colw = {t: np.ceil(shp.w[t] / m) for t in tensors}
    ones = np.ones_like(n)
    compute_factor, input_factor = ones, ones
    if recompute:
        rows, colw = _recomputed_extent(table, shp, layers, produced - set(internal), rows, colw)
        weight = (table.macs + table.in_elems + table.out_elems)[layers].astype(np.float64)
        per_layer = [np.maximum(1.0, n * rows[int(table.out_tensor[x])] / shp.h[int(table.out_tensor[x])])
                     * np.maximum(1.0, m * colw[int(table.out_tensor[x])] / shp.w[int(table.out_tensor[x])])
                     for x in layers]
        compute_factor = sum(wt * f for wt, f in zip(weight, per_layer)) / max(weight.sum(), 1.0)
        entering = [t for t in tensors if t not in produced]
        input_factor = np.max([np.maximum(1.0, n * rows[t] / shp.h[t]) * np.maximum(1.0, m * colw[t] / shp.w[t])
                               for t in entering], axis=0) if entering else ones
    tile = {t: rows[t] * colw[t] * shp.c[t] for t in tensors}
    working = np.zeros_like(n)
    caches = np.zeros_like(n)
    for x in layers:
        ins = [int(t) for t in dict.fromkeys(table.in_slot_tensor[x]) if t >= 0]
        out = int(table.out_tensor[x])
        working = np.maximum(working, sum(tile[t] for t in ins) + tile[out])
        if recompute:
            continue
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
            skips += tile[t]
            if not recompute:  # ... plus the rows by which its reader lags behind (cached halos)
                between = np.arange(shp.producer[t] + 1, last_reader)
                lag_rows = float(_halo(table.kernel_h[between], table.stride[between]).sum())
                skips += np.where(n > 1, lag_rows * shp.w[t] * shp.c[t], 0.0)
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
    return (buffer[idx], tiles[idx], n[idx], m[idx], np.broadcast_to(compute_factor, n.shape)[idx],
            np.broadcast_to(input_factor, n.shape)[idx])


def _recomputed_extent(table: LayerTable, shp: _Shapes, layers: np.ndarray, exits: set[int],
                       rows: dict, colw: dict) -> tuple[dict, dict]:
    """Rows and columns of every tensor one tile needs when halos are recomputed: from the
    stack's outputs (one tile's share) back through each layer's window
    (``(out - 1) x stride + kernel``; upsampling and transposed convolutions divide instead)."""
    need_r = {t: rows[t] for t in exits}  # the stack's outputs: one tile's share
    need_c = {t: colw[t] for t in exits}
    for x in layers[::-1]:
        out = int(table.out_tensor[x])
        r_out, c_out = need_r[out], need_c[out]
        if table.out_h[x] > table.in_h[x]:  # upsampling (nearest or transposed 2x2)
            r_in = np.ceil(r_out * table.in_h[x] / table.out_h[x])
            c_in = np.ceil(c_out * table.in_w[x] / table.out_w[x])
        elif table.op[x] in (OP_CODE["conv"], OP_CODE["dwconv"], OP_CODE["pool"]):
            r_in = (r_out - 1.0) * table.stride[x] + table.kernel_h[x]
            c_in = (c_out - 1.0) * table.stride[x] + table.kernel_w[x]
        else:
            r_in, c_in = r_out, c_out
        for t in dict.fromkeys(int(v) for v in table.in_slot_tensor[x] if v >= 0):
            need_r[t] = np.minimum(np.maximum(need_r.get(t, 0.0), r_in), shp.h[t])
            need_c[t] = np.minimum(np.maximum(need_c.get(t, 0.0), c_in), shp.w[t])
    return need_r, need_c


def _tiling_set(parts: list[tuple[np.ndarray, ...]]) -> Tilings:
    """Concatenate the per-stack tilings of one halo mode."""
    cat = lambda i: (np.concatenate([q[i] for q in parts]).astype(np.float64) if parts  # noqa: E731
                     else np.zeros(0))
    sizes = [len(q[0]) for q in parts]
    stack = np.repeat(np.arange(len(parts)), sizes).astype(np.float64)
    buffer = cat(0)
    return Tilings(buffer_elems=buffer, tiles=cat(1), bands=cat(2), cols=cat(3),
                   starts=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if parts
                   else np.zeros(0, dtype=np.int64),
                   key=stack * KEY_SPAN + np.log2(np.clip(buffer, 0.5, 2.0 ** (KEY_SPAN - 2))),
                   compute_factor=cat(4), input_factor=cat(5))


def _partition(table: LayerTable, shp: _Shapes, stacks: list[tuple[int, int]], cap: float) -> Partition:
    layer_stack = np.full(len(table), -1, dtype=np.int64)
    cached, recomputed = [], []
    internal: list[int] = []
    exits: list[int] = []
    enters: list[int] = []
    int_starts: list[int] = []
    exit_starts: list[int] = []
    enter_starts: list[int] = []
    for s, (a, b) in enumerate(stacks):
        layer_stack[a:b + 1] = s
        produced = [int(table.out_tensor[x]) for x in range(a, b + 1)]
        inside = [t for t in produced if shp.readers[t] and max(shp.readers[t]) <= b]
        int_starts.append(len(internal))
        internal.extend(inside)
        exit_starts.append(len(exits))
        exits.extend(t for t in produced if t not in inside)
        enter_starts.append(len(enters))
        enters.extend(sorted({int(t) for x in range(a, b + 1) for t in table.in_slot_tensor[x]
                              if t >= 0 and int(t) not in produced}))
        cached.append(_tilings(table, shp, a, b, inside, recompute=False))
        recomputed.append(_tilings(table, shp, a, b, inside, recompute=True))
    first = np.asarray([a for a, _ in stacks], dtype=np.int64)
    last = np.asarray([b for _, b in stacks], dtype=np.int64)
    w = table.weight_elems.astype(np.float64)
    as_int = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
    return Partition(
        weight_cap_elems=cap, stack_first=first, stack_last=last,
        n_layers=(last - first + 1).astype(np.float64),
        weight_elems=np.asarray([w[a:b + 1].sum() for a, b in stacks], dtype=np.float64),
        max_layer_weight_elems=np.asarray([w[a:b + 1].max() for a, b in stacks], dtype=np.float64),
        macs=np.asarray([table.macs[a:b + 1].sum() for a, b in stacks], dtype=np.float64),
        cached=_tiling_set(cached), recompute=_tiling_set(recomputed),
        internal_tensor=as_int(internal), internal_starts=as_int(int_starts),
        exit_tensor=as_int(exits), exit_starts=as_int(exit_starts),
        enter_tensor=as_int(enters), enter_starts=as_int(enter_starts), layer_stack=layer_stack,
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
