"""Per-network summary figures (MACs, parameters, activation sizes) for listings and checks."""

from __future__ import annotations

from dse.workloads.layers import LayerTable

#: Bytes per activation/weight element at INT8, the precision `dse workloads` reports at.
INT8_BYTES = 1


def summarize(table: LayerTable, bytes_per_elem: int = INT8_BYTES) -> dict:
    """Summary of one network in base units (``macs``, ``params``, ``*_bytes``)."""
    return {
        "workload": table.label,
        "network": table.network,
        "width": table.width,
        "height": table.height,
        "layers": len(table),
        "macs": table.total_macs,
        "params": table.total_weight_elems,
        "largest_activation_bytes": table.largest_activation_elems * bytes_per_elem,
        "peak_live_activation_bytes": table.peak_live_elems * bytes_per_elem,
        "weight_bytes": table.total_weight_elems * bytes_per_elem,
    }
