"""Cost of depth-first stacks for D designs, vectorized: which candidate partition, which stacks
run fused and with which tiling (docs/model.md, "Depth-first fusion").

Per stack s of a partition (a (D, S) array each; bytes and seconds per batch):
- layer by layer: the sum of its layers' times (each the max of its bounds) plus their overheads;
- fused: its internal tensors never reach DRAM (their layer-by-layer spill traffic is saved); the
  weights are either kept on chip for the whole stack (read once; the band buffers get the SRAM
  left beside them) or streamed again for every tile (the band buffers get the SRAM beside the
  largest layer's weight buffer); the tiling is the fewest tiles whose buffers fit; every extra
  tile restarts each layer's vector stream (``restart_cycles``) and pays the per-layer overhead; DRAM
  transfers overlap the stack's compute: time = max(on-chip time + restarts, DRAM bytes / DRAM
  bandwidth) + overheads.
Under ``auto`` a stack runs fused when that is faster and each design takes the partition with the
lowest total time; under ``fused`` every stack whose buffers fit and whose DRAM traffic does not
grow runs fused, and each design takes the partition that moves the fewest DRAM bytes (the aim of
fused-layer accelerators). Nothing loops over designs: the loops
run over the (few) candidate partitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.hardware.space import SCHEDULES
from dse.model.fusion import KEY_SPAN, Partition

AUTO, LAYER, FUSED = (SCHEDULES.index(name) for name in ("auto", "layer", "fused"))
#: Relative gain below which auto keeps layer by layer: stack sums come from differences of
#: cumulative sums, whose rounding (~1e-16 relative per term) must not pass for a real gain.
_NOISE_RTOL = 1e-9


@dataclass(frozen=True)
class StackInputs:
    """Per-design and per-layer terms the stack costs start from.

    (D, L): ``bound_s`` (each layer's time: the max of its bounds, without overhead),
    ``onchip_s`` (max of compute, SRAM and interconnect times), ``act_bytes``/``weight_bytes``
    (layer-by-layer DRAM traffic of activations and weights), ``restart_cycles`` (array cycles one
    more tile costs the layer; times ``s_per_restart_cycle``, a (D, 1) column, in seconds).
    (D, T+1): ``spill_share`` (share of each tensor spilled layer by layer); (1, T+1)
    ``spill_elems`` (elements per image moved when it spills whole); bytes = share x elements x
    ``batch_bytes_per_elem`` (D, 1). (D, 1) columns: ``bytes_per_elem``, ``sram_bytes``,
    ``weight_buffer_fraction``, ``dram_bw_bytes_per_s``, ``overhead_s`` (per layer launch and
    tile), ``images_per_pass`` (the batch when bands hold the whole batch in lockstep, else 1),
    ``passes_per_batch`` (1 in lockstep, else the batch), ``resident`` (bool: all weights stay on
    chip), ``schedule`` (int codes). (1, L): ``launches`` (1 for a layer with its own kernel, 0 for
    one fused into the layer before).
    """

    bound_s: np.ndarray
    onchip_s: np.ndarray
    act_bytes: np.ndarray
    weight_bytes: np.ndarray
    restart_cycles: np.ndarray
    s_per_restart_cycle: np.ndarray
    spill_share: np.ndarray
    spill_elems: np.ndarray
    batch_bytes_per_elem: np.ndarray
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
    per_stack: dict | None  # (D, S) arrays for per-layer output: use, tiles, bands, time/dram scale


#: Order of the per-layer terms stacked for one cumulative sum (see :func:`choose_stacks`).
_TERMS = ("bound", "onchip", "act", "weight", "restart", "produced")


def _partition_cost(p: Partition, cs: np.ndarray, launches_cs: np.ndarray, x: StackInputs,
                    want_layers: bool) -> _PartitionCost:
    """Cost of one partition for D designs; ``cs`` (len(_TERMS), D, L+1): cumulative sums over
    layers of the terms in :data:`_TERMS`; ``launches_cs`` (L+1,)."""
    bound, onchip, act, w_layer, restart, produced = cs[:, :, p.stack_last + 1] - cs[:, :, p.stack_first]
    launches = launches_cs[p.stack_last + 1] - launches_cs[p.stack_first]
    layer_s = bound + x.overhead_s * launches
    restart = restart * x.s_per_restart_cycle
    if len(p.exit_tensor):  # internal tensors = produced in the stack minus those leaving it
        ends = np.append(p.exit_starts[1:], len(p.exit_tensor))
        produced = produced - _seg_sum(x.spill_share[:, p.exit_tensor] * x.spill_elems[:, p.exit_tensor],
                                       p.exit_starts, ends)
    saved = produced * x.batch_bytes_per_elem
    bpe = x.bytes_per_elem
    w_stack = p.weight_elems * bpe  # (D, S)
    scale = bpe * x.images_per_pass  # bytes per buffer element
    stack_key = np.arange(p.n_stacks) * KEY_SPAN
    fused_mode = x.schedule == FUSED
    best = None
    for keep in (True, False):
        if keep:
            avail = x.sram_bytes - w_stack
        else:
            avail = x.sram_bytes - np.minimum(p.max_layer_weight_elems * bpe, x.sram_bytes * x.weight_buffer_fraction)
        # buffers ascend within a stack: the tilings that fit are a prefix; count them all at once
        key = stack_key + np.log2(np.clip(avail / scale, 0.5, 2.0 ** (KEY_SPAN - 2)))
        count = np.searchsorted(p.opt_key, key, side="right") - p.opt_starts
        ok = count > 0
        pick = p.opt_starts + np.maximum(count - 1, 0)
        tiles = np.where(ok, p.opt_tiles[pick], 1.0)
        passes = tiles * x.passes_per_batch
        w_fused = np.where(x.resident, 0.0, w_stack if keep else w_stack * passes)
        dram = act - saved + w_fused
        t = (np.maximum(onchip + (passes - 1.0) * restart, dram / x.dram_bw_bytes_per_s)
             + x.overhead_s * launches * passes)
        # auto compares times; fused takes the least DRAM traffic (weights kept when they fit)
        crit = np.where(ok, np.where(fused_mode, dram, t), np.inf)
        cand = (crit, t, ok, w_fused, dram, pick)
        if best is None:
            best = cand
        else:
            better = crit < best[0]
            best = tuple(np.where(better, c, b) for c, b in zip(cand, best))
    assert best is not None
    _, t_fused, ok, w_fused, dram_fused, pick = best
    # auto: where fused is faster. fused: where it fits and moves no more DRAM bytes than layer by
    # layer (weights streamed again per tile can cost more than the activations saved).
    use = ok & np.where(x.schedule == AUTO, t_fused < layer_s * (1.0 - _NOISE_RTOL),
                        fused_mode & (dram_fused <= act + w_layer))
    per_stack = None
    if want_layers:
        per_stack = dict(use=use, tiles=np.where(use, p.opt_tiles[pick], 1.0),
                         bands=np.where(use, p.opt_bands[pick], 1.0),
                         time_scale=np.where(use, _ratio(t_fused, layer_s), 1.0),
                         dram_scale=np.where(use, _ratio(dram_fused, act + w_layer), 1.0))
    return _PartitionCost(
        delta_s=np.where(use, t_fused - layer_s, 0.0).sum(axis=1),
        act_delta=np.where(use, -saved, 0.0).sum(axis=1),
        weight_delta=np.where(use, w_fused - w_layer, 0.0).sum(axis=1),
        fused_layers=(use * p.n_layers).sum(axis=1), per_stack=per_stack)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b, 1 where b is 0."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return np.divide(a, b, out=np.ones(a.shape), where=b > 0)


def choose_stacks(plan: tuple[Partition, ...], x: StackInputs, produced_tensor: np.ndarray,
                  want_layers: bool = False) -> StackChoice:
    """The chosen candidate partition of every design, with its fused stacks (see module doc).
    ``produced_tensor`` (L,): the tensor each layer writes."""
    d = x.bound_s.shape[0]
    zero = np.zeros(d)
    if not plan or d == 0 or not (x.schedule != LAYER).any():
        return StackChoice(zero, zero, zero, zero, np.full(d, -1), _alone_layers(x) if want_layers else None)
    terms = (x.bound_s, x.onchip_s, x.act_bytes, x.weight_bytes, x.restart_cycles,
             x.spill_share[:, produced_tensor] * x.spill_elems[:, produced_tensor])
    cs = np.empty((len(terms), d, x.bound_s.shape[1] + 1))
    cs[:, :, 0] = 0.0
    for i, term in enumerate(terms):  # one cumulative sum each, written in place
        np.cumsum(term, axis=1, out=cs[i, :, 1:])
    launches_cs = np.concatenate([[0.0], np.cumsum(x.launches[0])])
    costs = [_partition_cost(p, cs, launches_cs, x, want_layers) for p in plan]
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
            if not mine.any() or not p.n_stacks or c.per_stack is None:
                continue
            stack_of = np.broadcast_to(np.where(p.layer_stack >= 0, p.layer_stack, 0)[None, :],
                                       (d, len(p.layer_stack)))
            take = lambda a: np.take_along_axis(a, stack_of, axis=1)  # noqa: E731
            sel = mine & (p.layer_stack >= 0)[None, :] & take(c.per_stack["use"])
            layers["layer_stack"] = np.where(sel, p.layer_stack[None, :], layers["layer_stack"])
            for name, key_ in (("layer_tiles", "tiles"), ("layer_bands", "bands"),
                               ("time_scale", "time_scale"), ("dram_scale", "dram_scale")):
                layers[name] = np.where(sel, take(c.per_stack[key_]), layers[name])
    return StackChoice(delta_s=pick("delta_s"), act_delta_bytes=pick("act_delta"),
                       weight_delta_bytes=pick("weight_delta"), fused_layers=fused_layers,
                       partition=partition, layers=layers)


def _alone_layers(x: StackInputs) -> dict:
    shape = x.bound_s.shape
    return dict(layer_stack=np.full(shape, -1, dtype=np.int64), layer_tiles=np.ones(shape),
                layer_bands=np.ones(shape), time_scale=np.ones(shape), dram_scale=np.ones(shape))
