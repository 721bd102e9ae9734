"""dse.report: figures, tables and the HTML/Markdown report of a results folder.

Layers, data flow and where each concept lives: docs/architecture.md.
"""
