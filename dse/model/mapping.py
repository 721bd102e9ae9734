"""Fold-exact cycles of a layer's GEMM on systolic arrays, for three dataflows (vectorized).

A MAC layer is a GEMM per group: ``out[N, K] = in[N, R] x w[R, K]`` with R the reduction (mapped
per kernel position ``k_t`` times with channel lowering), K output channels per group and
N = output pixels x batch output vectors. A ``rows x cols`` systolic array holds two of the three
dimensions in space and runs the third in time, one *fold* per tile of the spatial pair
(docs/model.md, "Compute"):

    dataflow  rows  cols  time (T)    fold cycles              folds
    ws        R     K     N           2 rows + cols + T - 2    G k_t ceil(R/rows) ceil(K/cols)
    os        N     K     R k_t       rows + cols + T - 2      G ceil(N/rows) ceil(K/cols)
    is        R     N     K           2 rows + cols + T - 2    G k_t ceil(R/rows) ceil(N/cols)

Weight- and input-stationary folds first load the stationary tile (``rows`` cycles), then stream
T vectors skewed over the array (``rows - 1``) and drain the last result (``cols - 1``);
output-stationary folds stream both operands (skew ``rows - 1`` and ``cols - 1``) and need no
preload. These are SCALE-Sim's per-fold demand-matrix lengths (its reported total is one less:
the index of the last cycle). Partly used folds cost a full fold, as on the real array.

Cores: a layer is split over cores either by output vectors (pixels and batch: each core runs
``ceil(N / cores)`` of them through every fold) or by output channels (each core runs a share of
the output-channel folds; with ``is`` a share of the K stream), whichever finishes first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.hardware.space import DATAFLOWS

WS, OS, IS = (DATAFLOWS.index(name) for name in ("ws", "os", "is"))


@dataclass(frozen=True)
class Mapping:
    """Cycles of D designs x L layers that share one dataflow, each a (D, L) float64 array.

    ``cycles``: the array's cycles for the layer on the slowest core (no efficiency factor, no
    memory stalls). ``split_pixels``: bool, the layer is split over cores by output vectors
    (every core then needs all weights) rather than by output channels. ``k_folds``: output-channel
    folds per group (``ceil(K / cols)``; 1 for ``is``, where K runs in time). ``n_folds_core``:
    output-vector folds of one core (``ceil(N_core / rows)`` for ``os``, ``ceil(N_core / cols)``
    for ``is``; 1 for ``ws``, where N runs in time). ``restart_cycles``: what the layer pays again
    each time its vector stream restarts (one more tile of a depth-first band, docs/model.md
    "Depth-first fusion"): the fill and drain of every stationary fold (ws, is) or one more partly
    used output fold per channel fold (os).
    """

    cycles: np.ndarray
    split_pixels: np.ndarray
    k_folds: np.ndarray | float
    n_folds_core: np.ndarray | float
    restart_cycles: np.ndarray | float = 0.0


def _ceil_div(a, b):
    return np.ceil(a / b)


def map_layers(dataflow: int, rows: np.ndarray, cols: np.ndarray, cores: np.ndarray,
               reduction: np.ndarray, kernel_loops: np.ndarray | float, out_channels: np.ndarray,
               groups: np.ndarray, vectors: np.ndarray) -> Mapping:
    """Fold-exact cycles for every design and layer, all designs with the same ``dataflow``.

    Args: ``dataflow``: a code into ``DATAFLOWS`` (one per call: the evaluator groups designs by
    dataflow, so that no array work is spent on the other two). Broadcastable to (D, L):
    ``rows``, ``cols``, ``cores`` as (D, 1) columns; ``reduction`` R (per kernel loop),
    ``kernel_loops`` k_t, ``out_channels`` K per group, ``groups`` G as (1, L) rows (or (D, L));
    ``vectors`` N = pixels x batch, (D, L). Counts are float64 (exact below 2**53).
    """
    n_core = _ceil_div(vectors, cores)
    if dataflow == OS:
        fill_time = (rows + cols - 2.0) + reduction * kernel_loops
        k_folds = _ceil_div(out_channels, cols)
        units = groups * k_folds
        # by output vectors: all channel folds on ceil(N / cores) vectors
        cyc_pixels = units * _ceil_div(n_core, rows) * fill_time
        # by output channels: a share of the channel folds on all vectors
        cyc_channels = _ceil_div(units, cores) * _ceil_div(vectors, rows) * fill_time
        split_pixels = cyc_pixels <= cyc_channels
        n_folds = _ceil_div(np.where(split_pixels, n_core, vectors), rows)
        restart = np.where(split_pixels, units, _ceil_div(units, cores)) * fill_time
        return Mapping(np.minimum(cyc_pixels, cyc_channels), split_pixels, k_folds, n_folds, restart)
    fill = 2.0 * rows + cols - 2.0  # preload + skew + drain
    base = kernel_loops * _ceil_div(reduction, rows)
    if dataflow == WS:
        units = groups * _ceil_div(out_channels, cols)
        cyc_pixels = base * units * (fill + n_core)
        cyc_channels = base * _ceil_div(units, cores) * (fill + vectors)
        split_pixels = cyc_pixels <= cyc_channels
        restart = base * np.where(split_pixels, units, _ceil_div(units, cores)) * fill
        return Mapping(np.minimum(cyc_pixels, cyc_channels), split_pixels,
                       _ceil_div(out_channels, cols), 1.0, restart)
    if dataflow != IS:
        raise ValueError(f"dataflow code {dataflow} is not one of {DATAFLOWS}")
    cyc_pixels = base * groups * _ceil_div(n_core, cols) * (fill + out_channels)
    # by output channels: groups shared out, and the K stream of each group when cores remain
    groups_core = _ceil_div(groups, cores)
    k_core = np.minimum(out_channels, _ceil_div(groups * out_channels, cores * groups_core))
    cyc_channels = base * groups_core * _ceil_div(vectors, cols) * (fill + k_core)
    split_pixels = cyc_pixels <= cyc_channels
    n_folds = _ceil_div(np.where(split_pixels, n_core, vectors), cols)
    restart = base * np.where(split_pixels, groups * (fill + out_channels), groups_core * (fill + k_core))
    return Mapping(np.minimum(cyc_pixels, cyc_channels), split_pixels, 1.0, n_folds, restart)
