"""dse.search layer (see DESIGN.md)."""
