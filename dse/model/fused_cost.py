"""Cost of depth-first stacks for D designs, vectorized: which candidate partition, which stacks
run fused and with which tiling (docs/model.md, "Depth-first fusion").

Per stack s of a partition (a (D, S) array each; bytes and seconds per batch):
- layer by layer: the sum of its layers' times (each the max of its bounds) plus their overheads;
- fused: its internal tensors never reach DRAM (their layer-by-layer spill traffic is saved); the
  weights are either kept on chip for the whole stack (read once; the band buffers get the SRAM
  left beside them) or streamed again for every tile (the band buffers get the SRAM beside the
  largest layer's weight buffer); the tiling is the fewest tiles whose buffers fit; every extra
  tile restarts each layer's vector stream (``restart_s``) and pays the per-layer overhead; DRAM
  transfers overlap the stack's compute: time = max(on-chip time + restarts, DRAM bytes / DRAM
  bandwidth) + overheads.
Under ``auto`` a stack runs fused when that is faster and each design takes the partition with the
lowest total time; under ``fused`` every stack whose buffers fit runs fused and each design takes
the partition that moves the fewest DRAM bytes (the aim of fused-layer accelerators). Nothing loops over designs: the loops
run over the (few) candidate partitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.model.fusion import Partition

#: ``schedule`` codes (dse.hardware.space.SCHEDULES order).
AUTO, LAYER, FUSED = 0, 1, 2


@dataclass(frozen=True)
class StackInputs:
    """Per-design and per-layer terms the stack costs start from.

    (D, L): ``bound_s`` (each layer's time: the max of its bounds plus its overhead), ``onchip_s`` (max of compute, SRAM and
    interconnect times), ``act_bytes``/``weight_bytes`` (layer-by-layer DRAM traffic of
    activations and weights), ``restart_s`` (time one more tile costs the layer).
    (D, T+1): ``spill_bytes`` (each tensor's layer-by-layer DRAM traffic). (D, 1) columns:
    ``bytes_per_elem``, ``sram_bytes``, ``weight_buffer_fraction``, ``dram_bw_bytes_per_s``,
    ``overhead_s`` (per layer and tile), ``images_per_pass`` (the batch when bands hold the whole
    batch in lockstep, else 1), ``passes_per_batch`` (1 in lockstep, else the batch),
    ``resident`` (bool: all weights stay on chip), ``schedule`` (int codes). (1, L):
    ``launches`` (1 for a layer with its own kernel, 0 for one fused into the layer before).
    """

    bound_s: np.ndarray
    onchip_s: np.ndarray
    act_bytes: np.ndarray
    weight_bytes: np.ndarray
    restart_s: np.ndarray
    spill_bytes: np.ndarray
    bytes_per_elem: np.ndarray
    sram_bytes: np.ndarray
    weight_buffer_fraction: np.ndarray
    dram_bw_bytes_per_s: np.ndarray
    overhead_s: np.ndarray
    images_per_pass: np.ndarray
    passes_per_batch: np.ndarray
    resident: np.ndarray
    schedule: np.ndarray
    launches: np.ndarray


@dataclass(frozen=True)
class StackChoice:
    """The chosen fused schedule of D designs. (D,): ``delta_s`` (latency change against layer by
    layer, <= 0 under auto), ``act_delta_bytes``/``weight_delta_bytes`` (DRAM traffic change per
    batch), ``fused_layers`` (layers inside fused stacks), ``partition`` (index into the plan, -1
    when nothing is fused). (D, L) when asked for: ``layer_stack`` (the fused stack of each layer,
    -1 when it runs alone), ``layer_tiles`` (tiles per image of that stack, 1 when alone),
    ``layer_bands`` (bands of rows), ``time_scale``/``dram_scale`` (the fused stack's time and
    DRAM traffic over its layer-by-layer ones: per-layer figures of a fused stack are its totals
    shared in proportion to the layer-by-layer figures; 1 outside fused stacks).
    """

    delta_s: np.ndarray
    act_delta_bytes: np.ndarray
    weight_delta_bytes: np.ndarray
    fused_layers: np.ndarray
    partition: np.ndarray
    layers: dict | None = None


def _seg_sum(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Sums of ``values[:, starts[i]:ends[i]]`` (empty segments give 0), via one cumulative sum."""
    cs = np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(values, axis=1)], axis=1)
    return cs[:, ends] - cs[:, starts]


@dataclass(frozen=True)
class _PartitionCost:
    delta_s: np.ndarray  # (D,)
    act_delta: np.ndarray
    weight_delta: np.ndarray
    fused_layers: np.ndarray
    use: np.ndarray  # (D, S) bool
    tiles: np.ndarray  # (D, S)
    bands: np.ndarray  # (D, S)
    time_scale: np.ndarray  # (D, S)
    dram_scale: np.ndarray  # (D, S)


def _partition_cost(p: Partition, x: StackInputs) -> _PartitionCost:
    seg = lambda a: np.add.reduceat(a, p.seg_starts, axis=1)[:, p.stack_seg]  # noqa: E731
    bpe = x.bytes_per_elem
    launches = seg(x.launches)
    layer_s = seg(x.bound_s)
    onchip = seg(x.onchip_s)
    act = seg(x.act_bytes)
    w_layer = seg(x.weight_bytes)
    restart = seg(x.restart_s)
    ends = np.append(p.internal_starts[1:], len(p.internal_tensor))
    saved = _seg_sum(x.spill_bytes[:, p.internal_tensor], p.internal_starts, ends)
    w_stack = p.weight_elems * bpe  # (D, S)
    buf = p.opt_buffer_elems * (bpe * x.images_per_pass)  # (D, O)
    opt_ends = np.append(p.opt_starts[1:], len(p.opt_tiles))
    best = None
    for keep in (True, False):
        if keep:
            avail = x.sram_bytes - w_stack
            w_fused = np.where(x.resident, 0.0, w_stack)
        else:
            avail = x.sram_bytes - np.minimum(p.max_layer_weight_elems * bpe, x.sram_bytes * x.weight_buffer_fraction)
        fits = (buf <= avail[:, p.opt_stack]).astype(np.float64)
        count = _seg_sum(fits, p.opt_starts, opt_ends).astype(np.int64)  # buffers ascend: a prefix fits
        pick = p.opt_starts + np.maximum(count - 1, 0)
        ok = count > 0
        tiles = np.where(ok, p.opt_tiles[pick], 1.0)
        passes = tiles * x.passes_per_batch
        if not keep:
            w_fused = np.where(x.resident, 0.0, w_stack * passes)
        dram = act - saved + w_fused
        t = (np.maximum(onchip + (passes - 1.0) * restart, dram / x.dram_bw_bytes_per_s)
             + x.overhead_s * launches * passes)
        t = np.where(ok, t, np.inf)
        # auto compares times; fused takes the least DRAM traffic (weights kept when they fit)
        crit = np.where(ok, np.where(x.schedule == FUSED, dram, t), np.inf)
        cand = (t, ok, tiles, p.opt_bands[pick], w_fused - w_layer, dram, crit)
        if best is None:
            best = cand
        else:
            better = cand[-1] < best[-1]
            best = tuple(np.where(better, c, b) for c, b in zip(cand, best))
    assert best is not None
    t_fused, ok, tiles, bands, w_delta, dram_fused, _ = best
    forced = (x.schedule == FUSED) & ok
    use = np.where(x.schedule == AUTO, t_fused < layer_s, forced)
    gain = np.where(use, t_fused - layer_s, 0.0)
    return _PartitionCost(
        delta_s=gain.sum(axis=1), act_delta=np.where(use, -saved, 0.0).sum(axis=1),
        weight_delta=np.where(use, w_delta, 0.0).sum(axis=1),
        fused_layers=(use * p.n_layers).sum(axis=1), use=use, tiles=np.where(use, tiles, 1.0),
        bands=np.where(use, bands, 1.0),
        time_scale=np.where(use, _ratio(t_fused, layer_s), 1.0),
        dram_scale=np.where(use, _ratio(dram_fused, act + w_layer), 1.0))


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b, 1 where b is 0."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return np.divide(a, b, out=np.ones(a.shape), where=b > 0)


def choose_stacks(plan: tuple[Partition, ...], x: StackInputs, want_layers: bool = False) -> StackChoice:
    """The fastest candidate partition of every design, with its fused stacks (see module doc)."""
    d = x.bound_s.shape[0]
    zero = np.zeros(d)
    if not plan or d == 0 or not (x.schedule != LAYER).any():
        return StackChoice(zero, zero, zero, zero, np.full(d, -1), _alone_layers(x) if want_layers else None)
    costs = [_partition_cost(p, x) for p in plan]
    # auto: the partition with the lowest latency; fused: the one moving the fewest DRAM bytes
    # (what fused-layer accelerators minimize: Alwani et al., MICRO 2016)
    key = np.stack([np.where(x.schedule[:, 0] == FUSED, c.act_delta + c.weight_delta, c.delta_s)
                    for c in costs])  # (P, D)
    best = np.argmin(key, axis=0)
    rows = np.arange(d)
    pick = lambda name: np.stack([getattr(c, name) for c in costs])[best, rows]  # noqa: E731
    fused_layers = pick("fused_layers")
    partition = np.where(fused_layers > 0, best, -1)
    layers = None
    if want_layers:
        layers = _alone_layers(x)
        for i, (p, c) in enumerate(zip(plan, costs)):
            mine = (partition == i)[:, None]
            if not mine.any() or not p.n_stacks:
                continue
            stack_of = np.where(p.layer_stack >= 0, p.layer_stack, 0)[None, :]
            inside = (p.layer_stack >= 0)[None, :] & np.take_along_axis(c.use, np.broadcast_to(stack_of, (d, len(p.layer_stack))), axis=1)
            take = lambda a: np.take_along_axis(a, np.broadcast_to(stack_of, inside.shape), axis=1)  # noqa: E731
            sel = mine & inside
            layers["layer_stack"] = np.where(sel, p.layer_stack[None, :], layers["layer_stack"])
            layers["layer_tiles"] = np.where(sel, take(c.tiles), layers["layer_tiles"])
            layers["layer_bands"] = np.where(sel, take(c.bands), layers["layer_bands"])
            layers["time_scale"] = np.where(sel, take(c.time_scale), layers["time_scale"])
            layers["dram_scale"] = np.where(sel, take(c.dram_scale), layers["dram_scale"])
    return StackChoice(delta_s=pick("delta_s"), act_delta_bytes=pick("act_delta"),
                       weight_delta_bytes=pick("weight_delta"), fused_layers=fused_layers,
                       partition=partition, layers=layers)


def _alone_layers(x: StackInputs) -> dict:
    shape = x.bound_s.shape
    return dict(layer_stack=np.full(shape, -1, dtype=np.int64), layer_tiles=np.ones(shape),
                layer_bands=np.ones(shape), time_scale=np.ones(shape), dram_scale=np.ones(shape))
