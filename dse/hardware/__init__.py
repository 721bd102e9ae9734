"""dse.hardware layer (see DESIGN.md)."""
