"""dse: design-space exploration for AI inference accelerators."""

from dse.errors import UserError

__all__ = ["UserError"]
__version__ = "0.1.0"
