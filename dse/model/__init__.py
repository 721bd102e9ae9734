"""dse.model: the vectorized evaluator: designs x layer tables -> throughput, energy, power; the metric registry.

Layers, data flow and where each concept lives: docs/architecture.md.
"""
