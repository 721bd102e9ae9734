"""Workloads: networks as layer tables, parametric in input resolution (first layer of dse).

Layers, data flow and where each concept lives: docs/architecture.md.
"""

from dse.workloads.layers import OPS, LayerTable, NetBuilder
from dse.workloads.registry import NETWORKS, available_networks, load_workload, parse_workload

__all__ = ["OPS", "LayerTable", "NetBuilder", "NETWORKS", "available_networks", "load_workload", "parse_workload"]
