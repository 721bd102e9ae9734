"""dse.model layer (see DESIGN.md)."""
