"""The one exception type for user errors.

Anything the user can get wrong (a workload name, a study file, a CLI flag, an ONNX file, a design
outside the domain) raises :class:`UserError` with one line that names the field and what is
allowed. The CLI prints it as a single line on stderr and exits with code 2.
"""


class UserError(ValueError):
    """A user-facing input error; ``str(err)`` is the single line shown to the user."""
