"""dse.search: study files, the Optuna loop, executors, exhaustive sweeps, result tables.

Layers, data flow and where each concept lives: docs/architecture.md.
"""
