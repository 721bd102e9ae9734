"""The one exception type for user errors.

Anything the user can get wrong (a workload name, a study file, a CLI flag, an ONNX file, a design
outside the domain) raises :class:`UserError` with one line that names the field and what is
allowed. The CLI prints it as a single line on stderr and exits with code 2.
"""


import re

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class UserError(ValueError):
    """A user-facing input error; ``str(err)`` is the single line shown to the user."""


class ClusterLost(UserError):
    """The Ray cluster's head stopped answering mid-run. Finished work is in the storage; the
    process must not wait for the head on its way out (Ray's exit handlers would, for a minute)."""


def key_path(path: str, key) -> str:
    """``path.key`` with the key written as TOML would: bare, or quoted with every non-printable
    character escaped (a key holding a newline must not break the one-line message)."""
    key = str(key)
    if not _BARE_KEY.fullmatch(key):
        esc = "".join(ch if ch.isprintable() and ch not in '"\\' else
                      (f"\\{ch}" if ch in '"\\' else f"\\u{ord(ch):04x}" if ord(ch) < 0x10000
                       else f"\\U{ord(ch):08x}") for ch in key)
        key = f'"{esc}"'
    return f"{path}.{key}" if path else key
