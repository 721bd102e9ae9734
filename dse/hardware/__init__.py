"""dse.hardware: the design space, the technology catalog with sources, area and power, presets.

Layers, data flow and where each concept lives: docs/architecture.md.
"""
