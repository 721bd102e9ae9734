"""The vectorized evaluator: D designs x one workload of L layers -> time, traffic, energy.

Everything is broadcast over (D, L) arrays, processed in chunks of designs so that the
temporaries stay in cache; there is no Python loop over designs. Equations, units and limits are
documented in ``docs/model.md``; the symbols below follow it.

Shapes: per-design inputs are (D,) and become (D, 1) columns; per-layer inputs are (L,) and
become (1, L) rows. All quantities are SI: seconds, bytes, joules, watts.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import lru_cache

import numpy as np

from dse.hardware.designs import DesignBatch
from dse.hardware.physical import HardwareArrays
from dse.hardware.space import BATCH_SCHEDULES, FUSION_HALOS, LOWERINGS
from dse.model.constants import model_constants
from dse.model.fused_cost import StackInputs, choose_stacks
from dse.model.fusion import Partition, fusion_plan
from dse.model.mapping import OS, WS, map_layers
from dse.workloads.layers import OP_CODE, LayerTable

#: Names of the per-layer bounds, in the order of the codes stored in ``bound``.
BOUNDS = ("compute", "sram", "interconnect", "dram", "overhead")

#: Designs per chunk. Measured with scripts/bench_evaluator.py (default schedule auto, 2-core
#: machine, 3 interleaved runs each): 256 -> 3.5-3.8, 512 -> 4.0-4.3, 1024 -> 4.2-5.1, 2048 -> 4.0
#: M design-layers/s. The depth-first stack choice works on (CHUNK, stacks) arrays, small enough
#: that numpy's per-call cost dominated at 256; (1024, L) float64 temporaries (~0.8 MB) still fit
#: in cache (layer by layer alone: 7.6 M at 256, 7.2 M at 1024).
CHUNK_DESIGNS = 1024
OPS_PER_MAC = 2.0  # TOPS convention: a multiply-accumulate counts as two operations
TERA = 1e12

_MAC_OPS = (OP_CODE["conv"], OP_CODE["dwconv"], OP_CODE["fc"])
_IM2COL = LOWERINGS.index("im2col")
_LOCKSTEP = BATCH_SCHEDULES.index("lockstep")
_PER_IMAGE = BATCH_SCHEDULES.index("per_image")
_RECOMPUTE = FUSION_HALOS.index("recompute")


@dataclass(frozen=True, eq=False)
class LayerGeometry:
    """Design-independent per-layer quantities of a workload, each a (1, L) float64 row."""

    is_mac: np.ndarray  # bool
    groups: np.ndarray
    cout_g: np.ndarray  # output channels per group (fc: output features)
    red_im2col: np.ndarray  # reduction length mapped on array rows with im2col lowering
    red_channel: np.ndarray  # ... with channel unrolling (input channels per group)
    kernel_loops: np.ndarray  # kernel positions iterated in time with channel unrolling
    pixels: np.ndarray  # output pixels per image (fc: 1)
    macs: np.ndarray
    winograd_ok: np.ndarray  # bool
    weight_elems: np.ndarray
    in_elems: np.ndarray
    out_elems: np.ndarray
    io_elems: np.ndarray  # in + out (non-MAC layers' vector work)
    in_slot_elems: np.ndarray  # (K, L)
    spill_tensor: np.ndarray  # (E,) tensor of each (layer, tensor) DRAM term, sorted by layer
    spill_elems: np.ndarray  # (E,) elements per image of that term
    spill_starts: np.ndarray  # (L,) first term of each layer
    mac_weight: np.ndarray  # (L,) 1.0 for MAC layers, 0.0 otherwise (sums over MAC layers as a dot)
    wino_idx: np.ndarray  # (W,) layers Winograd can run
    vector_idx: np.ndarray  # (V,) non-MAC layers
    fused_idx: np.ndarray  # (F,) layers fused into the layer before them
    launches: np.ndarray  # (1, L) 1 for a layer with a kernel (and overhead) of its own, 0 if fused
    t_need: np.ndarray  # (1, T) per-image SRAM elements to keep each tensor on chip
    t_spill_factor: np.ndarray  # (1, T) elements moved per image if it spills: (1 + readers) x size
    t_size: np.ndarray  # (1, T) elements per image
    t_weight_life: np.ndarray  # (1, T) weight elements of the layers of its life
    alive_tensor: np.ndarray  # (A,) tensors alive at each layer, listed layer by layer
    alive_starts: np.ndarray  # (L,) first entry of each layer in alive_tensor
    t_first: np.ndarray  # (T,) first layer of each tensor's life
    t_last: np.ndarray  # (T,) last layer of each tensor's life
    out_tensor: np.ndarray  # (L,)
    in_slot_tensor: np.ndarray  # (K, L), unused slots point at a dummy never-spilling tensor
    max_layer_weight_elems: float
    total_weight_elems: float
    peak_live_elems: float
    total_macs: float
    winograd_macs: float


@lru_cache(maxsize=32)
def layer_geometry(table: LayerTable) -> LayerGeometry:
    """Precompute the (1, L) rows the evaluator broadcasts against (cached per table)."""
    f = lambda a: np.asarray(a, dtype=np.float64)[None, :]  # noqa: E731
    is_mac = np.isin(table.op, _MAC_OPS)
    is_fc = table.op == OP_CODE["fc"]
    groups = np.maximum(table.groups, 1)
    kernel = np.where(is_fc, 1, table.kernel_h * table.kernel_w)
    cin_g = np.where(is_fc, table.in_elems, table.in_c // groups)
    return LayerGeometry(
        is_mac=is_mac[None, :],
        groups=f(groups),
        cout_g=f(np.where(is_mac, table.out_c // groups, 1)),
        red_im2col=f(np.where(is_mac, cin_g * kernel, 1)),
        red_channel=f(np.where(is_mac, cin_g, 1)),
        kernel_loops=f(np.where(is_mac, kernel, 1)),
        pixels=f(np.where(is_fc, 1, table.out_h * table.out_w)),
        macs=f(table.macs),
        winograd_ok=table.winograd_ok[None, :],
        weight_elems=f(table.weight_elems),
        in_elems=f(table.in_elems),
        out_elems=f(table.out_elems),
        io_elems=f(table.in_elems + table.out_elems),
        in_slot_elems=np.asarray(table.in_slot_elems, dtype=np.float64).T.copy(),
        **_spill_terms(table),
        mac_weight=is_mac.astype(np.float64),
        wino_idx=np.flatnonzero(table.winograd_ok),
        vector_idx=np.flatnonzero(~is_mac),
        fused_idx=np.flatnonzero(table.fused_into_prev),
        launches=(~table.fused_into_prev).astype(np.float64)[None, :],
        **_tensor_geometry(table),
        max_layer_weight_elems=float(table.weight_elems.max()),
        total_weight_elems=float(table.weight_elems.sum()),
        peak_live_elems=float(table.peak_live_elems),
        total_macs=float(table.macs.sum()),
        winograd_macs=float(table.macs[table.winograd_ok].sum()),
    )


def _spill_terms(table: LayerTable) -> dict:
    """What layer l moves to or from DRAM per image when a tensor spills, as a flat list sorted by
    layer: ``spill_tensor`` (E,) tensors (its output and each input it reads), ``spill_elems`` (E,)
    elements, ``spill_starts`` (L,) first entry of each layer (every layer has its output).
    Spilled elements per layer = np.add.reduceat(spill[:, spill_tensor] * spill_elems,
    spill_starts, axis=1): a gather and a segmented sum, no matrix product (BLAS threads)."""
    n_layers = len(table.op)
    slots = np.asarray(table.in_slot_tensor)
    elems = np.asarray(table.in_slot_elems, dtype=np.float64)
    layer = [np.arange(n_layers)]
    tensor = [np.asarray(table.out_tensor)]
    size = [table.out_elems.astype(np.float64)]
    for k in range(slots.shape[1]):
        used = np.flatnonzero(slots[:, k] >= 0)
        layer.append(used)
        tensor.append(slots[used, k])
        size.append(elems[used, k])
    layer_all = np.concatenate(layer)
    order = np.argsort(layer_all, kind="stable")
    return dict(spill_tensor=np.concatenate(tensor)[order], spill_elems=np.concatenate(size)[order],
                spill_starts=np.searchsorted(layer_all[order], np.arange(n_layers)))


def _tensor_geometry(table: LayerTable) -> dict:
    """Per-tensor rows for the residency decision; a dummy last tensor (need 0, size 0) serves
    the unused input slots so that gathers need no masks."""
    t_first, t_last = table.tensor_first, table.tensor_last
    size = table.tensor_elems.astype(np.float64)
    readers = table.tensor_readers.astype(np.float64)
    is_input = np.zeros(size.shape, dtype=bool)
    is_input[table.in_slot_tensor[0, 0]] = True  # the network input: read from DRAM, never written
    factor = np.where(is_input, readers, np.where(readers == 0, 1.0, 1.0 + readers)) * size
    cum_w = np.concatenate([[0.0], np.cumsum(table.weight_elems.astype(np.float64))])
    life_w = cum_w[t_last + 1] - cum_w[t_first]
    pad = lambda a, v: np.concatenate([a, [v]])[None, :]  # noqa: E731
    dummy = len(size)
    # (tensor, layer) pairs of every tensor's life, by layer; each layer has its output alive
    life = (t_last - t_first + 1).astype(np.int64)
    alive_tensor = np.repeat(np.arange(len(size)), life)
    alive_layer = np.repeat(t_first.astype(np.int64), life) + (
        np.arange(life.sum()) - np.repeat(np.cumsum(life) - life, life))
    by_layer = np.argsort(alive_layer, kind="stable")
    return dict(
        alive_tensor=alive_tensor[by_layer],
        alive_starts=np.searchsorted(alive_layer[by_layer], np.arange(len(table.op))),
        t_need=pad(table.tensor_need_elems, 0.0),
        t_spill_factor=pad(factor, 0.0),
        t_size=pad(size, 1.0),
        t_weight_life=pad(life_w, 0.0),
        t_first=np.concatenate([t_first, [0]]),
        t_last=np.concatenate([t_last, [-1]]),
        out_tensor=table.out_tensor.copy(),
        in_slot_tensor=np.where(table.in_slot_tensor < 0, dummy, table.in_slot_tensor).T.copy(),
    )


@dataclass(frozen=True)
class NetworkMetrics:
    """Per-network results for D designs; every array has shape (D,).

    Per inference (one image) unless the name says batch: ``latency_s`` is the time of one batch.
    ``layers`` holds (D, L) arrays when requested (see :func:`evaluate_workload`).
    """

    latency_s: np.ndarray
    throughput_ips: np.ndarray
    energy_j: np.ndarray
    energy_mac_j: np.ndarray
    energy_sram_j: np.ndarray
    energy_noc_j: np.ndarray
    energy_dram_j: np.ndarray
    energy_static_j: np.ndarray
    power_w: np.ndarray
    utilization: np.ndarray  # hardware MACs performed / (peak MACs/s x latency), <= 1
    effective_tops: np.ndarray  # 2 x nominal (non-Winograd) MACs / s, in 10^12 ops/s
    dram_bytes: np.ndarray  # per inference
    dram_weight_bytes: np.ndarray  # per inference: the weights' share of dram_bytes
    dram_activation_bytes: np.ndarray  # per inference: the activations' share of dram_bytes
    sram_bytes: np.ndarray  # SRAM reads + writes per inference
    weights_resident: np.ndarray  # bool
    fused_layers: np.ndarray  # layers that run inside depth-first stacks (0: layer by layer)
    layers: dict | None = None


def _ceil_div(a, b):
    return np.ceil(a / b)


def _evaluate_chunk(g: LayerGeometry, plan: tuple[Partition, ...], hw: HardwareArrays, d: DesignBatch,
                    sl: slice, kind: tuple, consts: dict, want_layers: bool) -> dict:
    """Metrics of the designs ``sl`` of ``d``, which share ``kind`` = (dataflow code, im2col
    lowering, has a local buffer, recomputes fused halos): see :func:`_chunk_kind`."""
    dataflow, im2col, any_local, recompute = kind
    col = lambda a: np.asarray(a[sl], dtype=np.float64)[:, None]  # noqa: E731
    cores, rows, cols = col(d.cores), col(d.rows), col(d.cols)
    batch = col(d.batch)
    wino_on = d.winograd[sl][:, None]
    rate = col(hw.macs_per_cycle) / (cores * rows * cols)  # precision rate factor (1 = full rate)

    # --- compute: fold-exact systolic mapping (dse/model/mapping.py, docs/model.md "Compute") --
    red = g.red_im2col if im2col else g.red_channel
    kloops = 1.0 if im2col else g.kernel_loops
    vectors = g.pixels * batch
    m = map_layers(dataflow, rows, cols, cores, red, kloops, g.cout_g, g.groups, vectors)
    array_cycles = m.cycles / rate
    wino_div_on = np.where(wino_on, consts["winograd_f2x2_3x3_mac_reduction"], 1.0)  # (D, 1)
    if g.wino_idx.size and wino_on.any():
        array_cycles[:, g.wino_idx] /= wino_div_on
    cycles = array_cycles / col(hw.array_efficiency)
    if g.vector_idx.size:  # non-MAC layers run on the vector lanes, no calibration factor
        v = g.vector_idx
        vec_cycles = _ceil_div(g.io_elems[:, v] * batch,
                               cores * cols * consts["vector_lanes_per_array_column"])
        array_cycles[:, v] = vec_cycles
        cycles[:, v] = vec_cycles
    compute_s = cycles / col(hw.clock_hz)

    # --- memory: residency, spills, weight streaming (docs/model.md, "Memory") --------------
    bpe = col(hw.bytes_per_element)
    sram = col(hw.sram_bytes)
    batch_bytes = batch * bpe  # bytes per element summed over the batch
    w_total = g.total_weight_elems * bpe
    resident = (w_total + g.peak_live_elems * batch_bytes) <= sram
    # Streamed weights need a buffer for the largest layer's weights, at most a catalog share of
    # the SRAM; activations get the rest.
    w_buf = np.minimum(g.max_layer_weight_elems * bpe, sram * col(hw.weight_buffer_fraction))
    sram_act = np.where(resident, sram - w_total, sram - w_buf)
    # Per tensor (D, T): keep it on chip for the whole batch, run its life in sub-batches that
    # fit (re-reading the streamed weights of the layers of its life once per extra sub-batch),
    # or spill it (written once, read once per reader): the cheapest that is possible.
    with np.errstate(divide="ignore"):  # need 0 (fused operands): any batch fits
        b_fit = np.floor(sram_act / (g.t_need * bpe))  # images whose copies fit at once
    fits = b_fit >= batch
    n_sub = _ceil_div(batch, np.maximum(b_fit, 1.0))
    cost_sub = np.where(resident, 0.0, (n_sub - 1.0) * g.t_weight_life * bpe)
    # A tensor that does not fit spills only the part that overflows the activation SRAM (the
    # rest of its rows stay on chip), at most all of it.
    overflow = g.t_need * batch_bytes - sram_act
    spill_part = np.clip(overflow / (g.t_size * batch_bytes), 0.0, 1.0)
    cost_spill = spill_part * g.t_spill_factor * batch_bytes
    # Batch schedule: lockstep never splits the batch; per_image runs a tensor's life in
    # sub-batches whenever they fit; auto takes the cheaper per tensor.
    bsched = d.batch_schedule[sl][:, None]
    lockstep = bsched == _LOCKSTEP
    sub = ~fits & (b_fit >= 1.0) & ~lockstep & ((bsched == _PER_IMAGE) | (cost_sub < cost_spill))
    spill = np.where(fits | sub, 0.0, spill_part)
    spill_elems = np.add.reduceat(spill[:, g.spill_tensor] * g.spill_elems, g.spill_starts, axis=1)
    layer_passes: float | np.ndarray = 1.0
    if sub.any():  # each layer runs in as many sub-batches as the tensors alive across it need
        passes = np.where(sub, n_sub, 1.0)
        layer_passes = np.maximum.reduceat(passes[:, g.alive_tensor], g.alive_starts, axis=1)
    in_bytes = g.in_elems * batch_bytes
    w_bytes = g.weight_elems * bpe
    # A layer whose weights exceed the weight buffer is tiled: either weight chunks with the
    # input re-read per chunk, or input tiles with the weights re-read per tile; the cheaper wins.
    reread_input = (_ceil_div(w_bytes, w_buf) - 1.0) * in_bytes
    reread_weights = (np.maximum(_ceil_div(in_bytes, sram_act), 1.0) - 1.0) * w_bytes
    w_extra = np.where(w_bytes > w_buf, np.minimum(reread_input, reread_weights), 0.0)
    w_dram = np.where(resident, 0.0, w_bytes * layer_passes + w_extra)
    act_dram = spill_elems * batch_bytes
    dram = act_dram + w_dram

    # --- on-chip traffic: global SRAM -> local buffers / arrays (docs/model.md "On-chip") -----
    out_bytes = g.out_elems * batch_bytes
    split = m.split_pixels
    copies = np.where(split, cores, 1.0)  # cores that each need every weight
    # Without reuse beyond the array: the streamed input is fetched once per output-channel fold
    # (ws, os; ws also per kernel loop, is per kernel loop), the weights once per output-vector
    # fold of each core that holds them (once for ws, where they are stationary).
    if dataflow == WS:
        array_rd = in_bytes * (m.k_folds * kloops) + w_bytes * copies
    elif dataflow == OS:
        array_rd = in_bytes * m.k_folds + w_bytes * copies * m.n_folds_core
    else:
        array_rd = in_bytes * kloops + w_bytes * copies * m.n_folds_core
    local = col(hw.local_bytes)
    has_local = local[:, 0] > 0
    if any_local:
        # With a local buffer: the cheaper of that and keeping one operand's tile local, fetched
        # once, the other re-fetched per local-buffer-full of it (ws, is) or per fold unless its
        # fold tile fits (os).
        local_div = local
        if dataflow == WS:
            local_rd = (in_bytes * np.where(split, 1.0, cores)
                        + w_bytes * copies * _ceil_div(in_bytes / copies, local_div))
        elif dataflow == OS:
            tile_bytes = red * kloops * bpe  # a reduction column of one fold row / column
            in_kept = np.where(rows * tile_bytes <= local, 1.0, m.k_folds)
            w_kept = np.where(cols * tile_bytes <= local, 1.0, m.n_folds_core)
            local_rd = np.minimum(in_bytes * in_kept + w_bytes * copies * m.n_folds_core,
                                  in_bytes * m.k_folds + w_bytes * copies * w_kept)
        else:
            local_rd = (w_bytes * copies + in_bytes * kloops * np.where(split, 1.0, cores)
                        * _ceil_div(w_bytes / np.where(split, 1.0, cores), local_div))
        mac_rd = np.minimum(array_rd, local_rd)
    else:
        mac_rd = array_rd
    sram_rd = np.where(g.is_mac, mac_rd, in_bytes)
    sram_wr = out_bytes + dram
    noc = sram_rd + out_bytes
    sram_s = (sram_rd + sram_wr) / col(hw.sram_bw_bytes_per_s)
    noc_s = noc / col(hw.noc_bw_bytes_per_s)
    dram_s = dram / col(hw.dram_bw_bytes_per_s)

    overhead_col = col(hw.layer_overhead_s)
    if g.fused_idx.size:  # a fused layer runs inside its predecessor's kernel: one max, one overhead
        f, p = g.fused_idx, g.fused_idx - 1
        for terms in (compute_s, sram_s, noc_s, dram_s):
            terms[:, p] += terms[:, f]
            terms[:, f] = 0.0
    onchip_s = np.maximum(np.maximum(compute_s, sram_s), noc_s)
    bound_s = np.maximum(onchip_s, dram_s)
    latency = bound_s.sum(axis=1) + overhead_col[:, 0] * (bound_s.shape[1] - g.fused_idx.size)

    # --- depth-first stacks (dse/model/fused_cost.py, docs/model.md "Depth-first fusion") ------
    stacks = choose_stacks(plan, StackInputs(
        bound_s=bound_s, onchip_s=onchip_s, act_bytes=act_dram, weight_bytes=w_dram,
        restart_cycles=np.where(g.is_mac, m.restart_cycles, 0.0),
        s_per_restart_cycle=1.0 / (rate * col(hw.array_efficiency) * col(hw.clock_hz)),
        spill_share=spill, spill_elems=g.t_spill_factor, tensor_elems=g.t_size, batch_bytes_per_elem=batch_bytes,
        bytes_per_elem=bpe, sram_bytes=sram, weight_buffer_fraction=col(hw.weight_buffer_fraction),
        dram_bw_bytes_per_s=col(hw.dram_bw_bytes_per_s), overhead_s=overhead_col,
        images_per_pass=np.where(lockstep, batch, 1.0), passes_per_batch=np.where(lockstep, 1.0, batch),
        resident=resident, schedule=d.schedule[sl][:, None], launches=g.launches), g.out_tensor, want_layers,
        recompute)
    latency = latency + stacks.delta_s
    dram_delta = stacks.act_delta_bytes + stacks.weight_delta_bytes

    hw_macs = batch[:, 0] * (g.total_macs - (1.0 - 1.0 / consts["winograd_f2x2_3x3_mac_reduction"])
                             * g.winograd_macs * wino_on[:, 0]) + stacks.extra_macs
    out = dict(
        latency_s=latency, hw_macs=hw_macs, dram=dram.sum(axis=1) + dram_delta, sram_rd=sram_rd.sum(axis=1),
        dram_w=w_dram.sum(axis=1) + stacks.weight_delta_bytes, dram_act=act_dram.sum(axis=1) + stacks.act_delta_bytes,
        sram_wr=sram_wr.sum(axis=1) + dram_delta, noc=noc.sum(axis=1), resident=resident[:, 0],
        fused_layers=stacks.fused_layers,
        # local buffers: one read per byte the arrays take in, one write per byte fetched
        local_rd=np.where(has_local, np.einsum("dl,l->d", array_rd, g.mac_weight), 0.0),
        local_wr=np.where(has_local, np.einsum("dl,l->d", sram_rd, g.mac_weight), 0.0),
    )
    if want_layers:
        st = stacks.layers
        assert st is not None
        overhead = overhead_col * g.launches
        layer_s = (bound_s + overhead) * st["time_scale"]
        wino_div = np.ones_like(compute_s)
        wino_div[:, g.wino_idx] = wino_div_on
        stacked = np.stack([compute_s, sram_s, noc_s, dram_s], axis=0)
        bound = np.argmax(stacked, axis=0).astype(np.int8)
        bound[overhead > bound_s] = BOUNDS.index("overhead")
        out["layers"] = dict(
            time_s=layer_s, compute_s=compute_s, sram_s=sram_s, interconnect_s=noc_s,
            dram_s=dram_s, overhead_s=overhead, bound=bound,
            cycles=cycles, compute_cycles=array_cycles, dram_bytes=dram * st["dram_scale"],
            sram_bytes=sram_rd + sram_wr + dram * (st["dram_scale"] - 1.0),
            stack=st["layer_stack"], bands=st["layer_bands"], tiles=st["layer_tiles"],
            utilization=np.where(g.is_mac, g.macs * batch / wino_div / np.maximum(
                cycles * col(hw.macs_per_cycle), 1.0), 0.0),
        )
    return out


def _chunk_key(designs: DesignBatch) -> np.ndarray:
    """(D,) int: dataflow, lowering, local-buffer presence and fused-halo mode in one code (see
    _chunk_kind)."""
    return (designs.dataflow.astype(np.int64) * 8 + (designs.lowering == _IM2COL) * 4
            + (designs.local_bytes > 0) * 2 + (designs.fusion_halo == _RECOMPUTE))


def _chunk_kind(key: int) -> tuple[int, bool, bool, bool]:
    """(dataflow code, im2col lowering, has a local buffer, recomputes halos) of a
    :func:`_chunk_key` value."""
    k = int(key)
    return k // 8, bool(k // 4 % 2), bool(k // 2 % 2), bool(k % 2)


def evaluate_workload(table: LayerTable, designs: DesignBatch, hw: HardwareArrays,
                      per_layer: bool = False, chunk: int = CHUNK_DESIGNS) -> NetworkMetrics:
    """Evaluate D designs on one workload.

    Args:
        table: the workload's layer table (L layers, per image).
        designs: D designs (their ``batch`` column is the batch size).
        hw: ``dse.hardware.physical.derive(designs, tech)``, (D,) arrays in SI units.
        per_layer: also return (D, L) per-layer arrays in ``NetworkMetrics.layers``.
    Returns:
        :class:`NetworkMetrics` with (D,) arrays, per inference.
    """
    g = layer_geometry(table)
    plan = fusion_plan(table)
    consts = model_constants()
    n = len(designs)
    # Chunks never mix dataflows, lowerings or local-buffer presence, so each runs one mapping
    # with per-layer rows instead of (D, L) selections; designs are grouped by that kind (a
    # stable sort) and the results put back in the callers' order.
    key = _chunk_key(designs)
    order = np.argsort(key, kind="stable")
    grouped = bool(np.all(order[1:] > order[:-1]))
    d_sorted = designs if grouped else designs.take(order)
    hw_sorted = hw if grouped else replace(hw, **{f.name: getattr(hw, f.name)[order] for f in fields(hw)})
    key = key[order]
    edges = np.concatenate([[0], np.flatnonzero(key[1:] != key[:-1]) + 1, [n]])
    parts = [_evaluate_chunk(g, plan, hw_sorted, d_sorted, slice(i, min(i + chunk, hi)), _chunk_kind(key[lo]), consts,
                             per_layer)
             for lo, hi in zip(edges[:-1], edges[1:]) for i in range(lo, hi, chunk)]
    if not parts:
        parts = [_evaluate_chunk(g, plan, hw, designs, slice(0, 0), (WS, True, False, False), consts, per_layer)]
    inverse = None if grouped else np.argsort(order)
    unsort = (lambda a: a) if grouped else (lambda a: a[inverse])  # noqa: E731
    cat = {k: unsort(np.concatenate([p[k] for p in parts])) for k in parts[0] if k != "layers"}
    batch = designs.batch.astype(np.float64)
    latency = cat["latency_s"]
    e_mac = cat["hw_macs"] * hw.e_mac_j * (1.0 + hw.logic_leakage_fraction)
    e_sram = (cat["sram_rd"] * hw.e_sram_read_j_per_byte + cat["sram_wr"] * hw.e_sram_write_j_per_byte
              + cat["local_rd"] * hw.e_local_read_j_per_byte + cat["local_wr"] * hw.e_local_write_j_per_byte)
    e_noc = cat["noc"] * hw.e_noc_j_per_byte
    e_dram = cat["dram"] * hw.e_dram_j_per_byte
    e_static = hw.static_power_w * latency
    e_batch = e_mac + e_sram + e_noc + e_dram + e_static
    layers = None
    if per_layer:
        layers = {k: unsort(np.concatenate([p["layers"][k] for p in parts])) for k in parts[0]["layers"]}
    return NetworkMetrics(
        latency_s=latency,
        throughput_ips=batch / latency,
        energy_j=e_batch / batch,
        energy_mac_j=e_mac / batch,
        energy_sram_j=e_sram / batch,
        energy_noc_j=e_noc / batch,
        energy_dram_j=e_dram / batch,
        energy_static_j=e_static / batch,
        power_w=e_batch / latency,
        utilization=cat["hw_macs"] / (hw.peak_macs_per_s * latency),
        effective_tops=OPS_PER_MAC * g.total_macs * batch / latency / TERA,
        dram_bytes=cat["dram"] / batch,
        dram_weight_bytes=cat["dram_w"] / batch,
        dram_activation_bytes=cat["dram_act"] / batch,
        sram_bytes=(cat["sram_rd"] + cat["sram_wr"]) / batch,
        weights_resident=cat["resident"],
        fused_layers=cat["fused_layers"],
        layers=layers,
    )
