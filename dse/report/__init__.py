"""dse.report layer (see DESIGN.md)."""
