"""Reading a file the user named (study, design, ONNX, Ray token...): one line, never a hang.

A path on the command line or in a study file may name a FIFO (reading blocks until a writer
comes), a device such as ``/dev/zero`` (reading never ends), a folder, or a file of many
gigabytes (``MemoryError``, or the kernel's OOM killer). :func:`read_user_bytes` therefore

* stats the path before opening it: only regular files are opened (no device is ever opened,
  so none of their open side effects happen);
* opens it with ``O_NONBLOCK`` and checks the open descriptor again (the path may have been
  replaced by a FIFO in between: a non-blocking open of a FIFO returns at once);
* refuses a file larger than the limit of its kind before reading, and reads at most limit + 1
  bytes (a file growing while read is refused too).

Every problem is one :class:`~dse.errors.UserError` line that starts with ``where`` (the path, or
``FIELD: PATH``) and states the limit exactly. :func:`load_user_toml` adds TOML parsing with a
nesting limit (Python's TOML parser recurses once per level and would raise ``RecursionError``).

This module sits at the base of the package: it imports nothing from the dse layers.
"""

from __future__ import annotations

import errno
import os
import stat
import tomllib
from pathlib import Path

from dse.errors import UserError, key_path

MIB = 2**20
#: Study and design files are a few kB; 1 MiB leaves room for comments and long lists.
MAX_TOML_BYTES = 1 * MIB
#: Deepest nesting of tables and arrays in a study or design file (they need 4 levels).
MAX_TOML_DEPTH = 32
#: Protocol Buffers cannot encode a message of 2 GiB or more, so no valid ONNX file is larger.
MAX_ONNX_BYTES = 2**31 - 1
#: A Ray auth token is a short line of text (Ray writes 64 hex characters).
MAX_TOKEN_BYTES = 64 * 1024
#: summary.json of a results folder (a few kB; larger ones are not ours).
MAX_SUMMARY_BYTES = 16 * MIB
#: TOML integers are 64-bit signed (TOML 1.0, "Integer").
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _size_text(n: int) -> str:
    """``1,048,576 bytes (1 MiB)``: exact, plus a friendly unit for large limits."""
    return f"{n:,} bytes ({n // MIB} MiB)" if n >= MIB and n % MIB == 0 else f"{n:,} bytes"


def _a(what: str) -> str:
    """``what`` with its article: "a study file", "an ONNX file"."""
    return f"{'an' if what[:1].lower() in 'aeiou' else 'a'} {what}"


def _not_regular(mode: int) -> str | None:
    """What a non-regular file is ("a FIFO (named pipe)", ...), or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_regular_file(path: str | Path, *, what: str, where: str | None = None) -> os.stat_result:
    """``os.stat(path)`` if it names a regular file, else one UserError line (no such file, a
    folder, a FIFO, a device...). ``what`` names the expected file ("study file")."""
    where = str(path) if where is None else where
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UserError(f"{where}: no such {what}") from None
    except OSError as err:
        raise UserError(f"{where}: cannot read ({err.strerror or err})") from None
    kind = _not_regular(st.st_mode)
    if kind is not None:
        raise UserError(f"{where}: is {kind}, expected {_a(what)} (a regular file)")
    return st


def read_user_bytes(path: str | Path, *, what: str, max_bytes: int, where: str | None = None) -> bytes:
    """The content of the regular file ``path``, at most ``max_bytes`` long (see the module doc)."""
    where = str(path) if where is None else where
    too_big = f"{where}: larger than {_size_text(max_bytes)}, the limit for {_a(what)}"
    if check_regular_file(path, what=what, where=where).st_size > max_bytes:
        raise UserError(too_big)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UserError(f"{where}: no such {what}") from None
    except OSError as err:
        if err.errno == errno.ENXIO:  # a FIFO or socket swapped in after the stat
            raise UserError(f"{where}: is not a regular file, expected {_a(what)}") from None
        raise UserError(f"{where}: cannot read ({err.strerror or err})") from None
    try:
        st = os.fstat(fd)
        kind = _not_regular(st.st_mode)
        if kind is not None:  # the path changed between stat and open
            raise UserError(f"{where}: is {kind}, expected {_a(what)} (a regular file)")
        chunks, total = [], 0
        while total <= max_bytes:
            chunk = os.read(fd, min(max_bytes + 1 - total, MIB))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as err:
        raise UserError(f"{where}: cannot read ({err.strerror or err})") from None
    finally:
        os.close(fd)
    if total > max_bytes:
        raise UserError(too_big)
    return b"".join(chunks)


def read_user_text(path: str | Path, *, what: str, max_bytes: int, where: str | None = None) -> str:
    """:func:`read_user_bytes` decoded as UTF-8 (one UserError line if it is not)."""
    where = str(path) if where is None else where
    raw = read_user_bytes(path, what=what, max_bytes=max_bytes, where=where)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{where}: not UTF-8 text") from None


def parse_toml(text: str, *, where: str) -> dict:
    """``tomllib.loads(text)`` with every failure as one line ``WHERE: invalid TOML (...)``,
    including nesting deeper than :data:`MAX_TOML_DEPTH` and integers outside the 64-bit range
    that TOML allows (``tomllib`` accepts any size; ``float()`` of one overflows)."""
    too_deep = (f"{where}: invalid TOML (tables or arrays nested more than {MAX_TOML_DEPTH} "
                "levels deep)")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{where}: invalid TOML ({err})") from None
    except RecursionError:  # the parser recurses once per level: hundreds of levels
        raise UserError(too_deep) from None
    # Walked without recursion: the limits hold whatever the interpreter's stack allows.
    stack = [(value, 1, key_path("", key)) for key, value in data.items()]
    while stack:
        item, level, path = stack.pop()
        if isinstance(item, (dict, list)) and level > MAX_TOML_DEPTH:
            raise UserError(too_deep)
        if isinstance(item, dict):
            stack.extend((v, level + 1, key_path(path, k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, level + 1, f"{path}[{i}]") for i, v in enumerate(item))
        elif isinstance(item, int) and not isinstance(item, bool) and not INT64_MIN <= item <= INT64_MAX:
            raise UserError(f"{where}: invalid TOML ({path}: an integer of {len(str(abs(item)))} digits "
                            f"is outside the range TOML allows, {INT64_MIN}..{INT64_MAX})")
    return data


def load_user_toml(path: str | Path, *, what: str, where: str | None = None,
                   max_bytes: int = MAX_TOML_BYTES) -> tuple[dict, str]:
    """(document, text) of the TOML file ``path``: :func:`read_user_text` + :func:`parse_toml`."""
    where = str(path) if where is None else where
    text = read_user_text(path, what=what, max_bytes=max_bytes, where=where)
    return parse_toml(text, where=where), text
