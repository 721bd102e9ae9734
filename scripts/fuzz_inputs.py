#!/usr/bin/env python
"""Fuzz the files users give dse with hypothesis: every failure must be a UserError.

Five kinds of input (``--kinds=a,b``; each gets an equal share of the examples):

* ``study`` and ``design``: study files and design files. Valid documents (the shipped study,
  variants using every optional table, the chip presets) are mutated structurally (values
  replaced by wrong types, huge, negative, NaN and infinite numbers, unicode; keys and tables
  deleted or added; tables turned into arrays or scalars) and textually (duplicated or deleted
  lines -> duplicate keys and missing tables, truncation, inserted characters, empty files,
  random bytes, invalid UTF-8), and get tables and arrays nested 1 to 5,000 levels deep. Each
  case is parsed only (no evaluation) with :func:`dse.search.spec.load_study` or
  :func:`dse.hardware.designs.load_design_file`.
* ``special``: a FIFO, ``/dev/zero``, ``/dev/null``, ``/dev/urandom``, a socket, a folder, a
  symlink to one of those or a symlink loop, a missing or empty file, a sparse file just at or
  just over the size limit, given as a study file, a design file, an ONNX file or the Ray token
  file (``RAY_AUTH_TOKEN_PATH``).
* ``onnx``: small ONNX graphs with hostile static dims (0, 8193, 2^31 - 1, 2^31, 2^40, 2^62,
  2^63 - 1...), cycles, self-loops and nodes out of order, loaded with
  :func:`dse.workloads.onnx_import.load_onnx` or as the workload of a study file.
* ``technology``: design files whose ``[technology]`` table overrides catalog entries with 0,
  negative, tiny, huge (1e308), nan, inf, non-numbers or unknown keys. A file that loads is then
  evaluated (:func:`dse.model.api.evaluate_columns`, one design per DRAM type) and every metric
  must be finite, with positive throughput and latency.

The oracle:

* success, or a :class:`dse.errors.UserError` whose message starts with the file path (unreadable
  or unparsable files; ``onnx: PATH``, ``RAY_AUTH_TOKEN_PATH=PATH``) or with a TOML path of the
  document (``space.cores: ...``) is fine;
* any other exception, a message that names no path or spans lines, a load still blocked after
  :data:`HANG_S` seconds, or a non-finite metric is a *non-user error*.

Usage: ``python scripts/fuzz_inputs.py [N] [--kinds=study,design,...]`` (default 100,000
examples in all). The last lines printed are ``seconds: S`` and ``non_user_errors: K``; the
first few offending inputs are printed above them. ``tests/test_fuzz_inputs.py`` runs the same
strategies with fewer examples in CI.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import re
import signal
import socket
import sys
import tempfile
import time
import tomllib
import traceback
from pathlib import Path

import numpy as np

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from dse.errors import UserError  # noqa: E402
from dse.hardware import space as hwspace  # noqa: E402
from dse.hardware.designs import load_design_file  # noqa: E402
from dse.hardware.technology import catalog_rows  # noqa: E402
from dse.model.api import evaluate_columns  # noqa: E402
from dse.search.spec import TOP_LEVEL_KEYS, key_path, load_study  # noqa: E402
from dse.user_files import MAX_ONNX_BYTES, MAX_TOKEN_BYTES, MAX_TOML_BYTES  # noqa: E402

KINDS = ("study", "design", "special", "onnx", "technology")
#: A load still running after this many seconds (wall clock) is a hang: they answer in
#: milliseconds, but the machine may be shared and loaded.
HANG_S = 60.0

STUDY_TEXT = (REPO / "studies" / "yolov3-2mp-edge.toml").read_text()
#: Extra tables that exercise every optional part of a study file.
STUDY_EXTRAS = '''
[[workloads]]
name = "resnet50"
batch = [1, 32]
'''
STUDY_VARIANT = STUDY_TEXT.replace('[budgets]\n', '[budgets]\nlatency_ms = {"yolov3@1920x1088" = 250}\n'
                                   'min_throughput_ips = {"yolov3@1920x1088" = 2}\n').replace(
    '[execution]\nexecutor = "auto"', '[execution]\nexecutor = "local"\nworkers = 2\nray_address = ""\n\n'
    '[storage]\nurl = ""\n\n[technology]\nlayer_overhead_s = 5e-6') + STUDY_EXTRAS
STUDY_EXHAUSTIVE = STUDY_TEXT.replace('sampler = "nsga2"', 'sampler = "exhaustive"').replace(
    "clock_ghz = [0.4, 1.5]", "clock_ghz = {low = 0.4, high = 1.5, step = 0.1}").replace(
    "sram_mb = [1, 64]", "sram_mb = {values = [1, 2, 4, 8, 16, 32, 64]}")
STUDY_BASES = [STUDY_TEXT, STUDY_VARIANT, STUDY_EXHAUSTIVE]
DESIGN_BASES = [p.read_text() for p in sorted((REPO / "dse" / "hardware" / "presets").glob("*.toml"))]
DESIGN_TOP_KEYS = {"design", "technology"}

# --- values -----------------------------------------------------------------------------------

SPECIAL_NUMBERS = [0, -1, 1, 2, 3, 7, 16, 64, 2**31, 2**63 - 1, -(2**63), 2**63, 10**30, 10**400, 0.0, -0.0, 0.5, 1e-300,
                   5e-324, 1e308, -1e308, math.nan, math.inf, -math.inf]
SPECIAL_STRINGS = ["", " ", "yolov3", "yolov3@416x416", "yolov3@1920x1088", "resnet50@0x0", "resnet50@-1x9",
                   "yolov3@99999999999x1", "LPDDR5", "hbm3", "nsga2", "exhaustive", "tpe", "gp", "ray",
                   "local", "auto", "vectorized", "throughput", "area", "power", "int8", "mesh", "sqlite:///x.db",
                   "journal:/nonexistent/x.journal", "x.journal", "postgresql://u:p@127.0.0.1:1/db",
                   "☃", "名前", "\u202e", "a\nb", "\x00", "𝔘𝔫𝔦", "../../etc", "nan", "inf"]
KNOWN_KEYS = sorted(TOP_LEVEL_KEYS | DESIGN_TOP_KEYS | {
    "cores", "rows", "cols", "clock_ghz", "precision", "sram_mb", "dram_type", "dram_channels", "noc",
    "noc_width_bits", "batch", "winograd", "lowering", "low", "high", "step", "log", "values", "metric",
    "workload", "sampler", "trials", "designs", "population", "seed", "executor", "workers", "ray_address", "url",
    "area_mm2", "power_w", "latency_ms", "min_throughput_ips", "node_nm", "layer_overhead_s"})

scalars = st.one_of(
    st.sampled_from(SPECIAL_NUMBERS),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(SPECIAL_STRINGS),
    st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=8))
values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=3)), max_leaves=8)

# --- TOML writer (inline tables: any nested document in one line per top-level key) ---------


def toml_str(s: str) -> str:
    out = []
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return toml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_str(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def dumps(doc: dict) -> str:
    return "".join(f"{toml_str(str(k))} = {toml_value(v)}\n" for k, v in doc.items())


# --- mutations ----------------------------------------------------------------------------------


def paths(node, prefix=()):
    """Every (container path, key) in a document, depth first."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append(prefix + (k,))
            out += paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append(prefix + (i,))
            out += paths(v, prefix + (i,))
    return out


def get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


@st.composite
def structural(draw, bases):
    """A base document parsed, then 1-4 edits: replace, delete, add a key, change a container."""
    doc = tomllib.loads(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 4))):
        all_paths = paths(doc)
        op = draw(st.sampled_from(["replace", "replace", "delete", "add", "container"]))
        if op == "add" or not all_paths:
            containers = [()] + [p for p in all_paths if isinstance(get(doc, p), dict)]
            where = get(doc, draw(st.sampled_from(containers)))
            where[draw(keys)] = draw(values)
            continue
        path = draw(st.sampled_from(all_paths))
        parent, key = get(doc, path[:-1]), path[-1]
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(values)
        else:  # a table where an array is expected, an array where a table is, or a scalar
            old = parent[key]
            parent[key] = draw(st.sampled_from([[old], {"x": old}, [], {}, "", 0, math.nan]))
    return dumps(doc).encode("utf-8")


@st.composite
def textual(draw, bases):
    """Line- and byte-level edits of the real file text (tables, comments, arrays of tables)."""
    text = draw(st.sampled_from(bases))
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["dup", "delete", "truncate", "insert", "number"]))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if op == "dup":  # a duplicate key or a duplicate table header
            lines.insert(i, lines[i])
        elif op == "delete":
            del lines[i]
        elif op == "truncate":
            lines = lines[:i] + [lines[i][: draw(st.integers(0, len(lines[i])))]]
        elif op == "insert":
            j = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:j] + draw(st.text(min_size=1, max_size=3)) + lines[i][j:]
        else:  # replace the first number on the line
            num = draw(st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e308", "99999999999999999999",
                                         "-0.0", "1.5", "true", '"x"', "[]", "{}"]))
            lines[i] = re.sub(r"(?<![\w.])-?\d+(\.\d+)?(e[+-]?\d+)?", num, lines[i], count=1)
    return "".join(lines).encode("utf-8")


@st.composite
def raw_bytes(draw):
    return draw(st.one_of(
        st.just(b""), st.binary(max_size=64),
        st.sampled_from([b"\xff\xfe", b"\xef\xbb\xbfnode_nm = 16\n", b"node_nm = 16\n\x80\n", b"[[[", b"= 1",
                         b"node_nm = 16", b"name = \"\"\nnode_nm = 16\n", b"\n\n", b"# only a comment\n"]),
    ))


DEPTHS = st.one_of(st.integers(1, 40), st.sampled_from([31, 32, 33, 34, 100, 250, 500, 1000, 5000]))


@st.composite
def nested(draw, bases):
    """Tables and arrays nested ``depth`` levels, as a value of an existing or a new key, or as
    a dotted table header or key (each dotted part is a level)."""
    lines = draw(st.sampled_from(bases)).splitlines(keepends=True)
    depth = draw(DEPTHS)
    style = draw(st.sampled_from(["array", "inline", "mixed", "header", "dotted"]))
    if style == "header":
        return ("".join(lines) + "\n[" + ".".join(["t"] * depth) + "]\nx = 1\n").encode("utf-8")
    if style == "dotted":
        return ("k" + ".k" * (depth - 1) + " = 1\n" + "".join(lines)).encode("utf-8")
    opening = {"array": "[", "inline": "{a = ", "mixed": "[{a = "}[style]
    closing = {"array": "]", "inline": "}", "mixed": "}]"}[style]
    value = opening * depth + "1" + closing * depth
    assignments = [i for i, line in enumerate(lines) if re.match(r"^[A-Za-z_]+ = ", line)]
    if assignments and draw(st.booleans()):
        i = draw(st.sampled_from(assignments))
        lines[i] = lines[i].split("=", 1)[0] + "= " + value + "\n"
    else:
        lines.insert(0, f"deep = {value}\n")
    return "".join(lines).encode("utf-8")


def inputs(kind: str):
    bases = STUDY_BASES if kind == "study" else DESIGN_BASES
    return st.one_of(structural(bases), structural(bases), textual(bases), raw_bytes(), nested(bases))


# --- special files ---------------------------------------------------------------------------------

FILE_KINDS = ["fifo", "dev_zero", "dev_null", "dev_urandom", "socket", "folder", "link_to_fifo",
              "link_to_dev_zero", "link_loop", "dangling_link", "missing", "empty", "at_limit",
              "over_limit"]
TARGETS = ["study", "design", "onnx", "token"]
LIMITS = {"study": MAX_TOML_BYTES, "design": MAX_TOML_BYTES, "onnx": MAX_ONNX_BYTES, "token": MAX_TOKEN_BYTES}


#: File names: printable, any script, no "/" (a name is one path component).
NAMES = st.text(st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"], blacklist_characters="/"),
                min_size=1, max_size=24).filter(lambda n: n not in (".", ".."))


def special_inputs():
    return st.tuples(st.sampled_from(TARGETS), st.sampled_from(FILE_KINDS), NAMES, st.integers(0, 4096))


def make_special(folder: Path, target: str, file_kind: str, name: str, offset: int) -> Path:
    """Create a file of ``file_kind`` called ``name`` for ``target`` in ``folder``; returns the
    path to give. Sparse files are ``offset`` bytes under (at_limit) or over the limit."""
    path = folder / name
    if file_kind.startswith("dev_"):
        return Path("/dev/" + file_kind[4:])
    if file_kind in ("fifo", "link_to_fifo"):
        fifo = folder / f"fifo-{name}"
        os.mkfifo(fifo)
        if file_kind == "fifo":
            return fifo
        path.symlink_to(fifo)
    elif file_kind == "link_to_dev_zero":
        path.symlink_to("/dev/zero")
    elif file_kind == "socket":
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(path))  # the socket file stays after the socket closes
    elif file_kind == "folder":
        path.mkdir()
    elif file_kind == "link_loop":
        path.symlink_to(path)
    elif file_kind == "dangling_link":
        path.symlink_to(folder / "nowhere")
    elif file_kind == "empty":
        path.write_bytes(b"")
    elif file_kind in ("at_limit", "over_limit"):
        # sparse (no disk used); an ONNX file near its 2 GiB limit would really be read: over it
        over = file_kind == "over_limit" or target == "onnx"
        size = LIMITS[target] + (1 + offset if over else -offset)
        with open(path, "wb") as fh:
            fh.truncate(size)
    return path


@contextlib.contextmanager
def hang_alarm(seconds: float = HANG_S):
    """Raise TimeoutError in the main thread if the body is still running after ``seconds``, and
    again every second (an exception raised inside a garbage-collector callback is swallowed);
    raised at the end too if any was swallowed."""
    expired = []

    def expire(*_):
        expired.append(True)
        raise TimeoutError(f"no answer within {seconds:g} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    if expired:
        raise TimeoutError(f"no answer within {seconds:g} s")


def check_special(target: str, file_kind: str, name: str, offset: int, folder: Path) -> str | None:
    path = make_special(folder, target, file_kind, name, offset)
    prefix = {"onnx": f"onnx: {path}: ", "token": f"RAY_AUTH_TOKEN_PATH={path}: "}.get(target, f"{path}: ")
    keys = set(TOP_LEVEL_KEYS if target == "study" else DESIGN_TOP_KEYS)
    old_env = {k: os.environ.get(k) for k in ("RAY_AUTH_TOKEN_PATH", "RAY_AUTH_TOKEN")}
    try:
        with hang_alarm():
            if target == "study":
                load_study(path)
            elif target == "design":
                load_design_file(path)
            elif target == "onnx":
                from dse.workloads.onnx_import import load_onnx

                load_onnx(path, field="onnx")
            else:
                from dse.search.executors import token_source

                os.environ["RAY_AUTH_TOKEN_PATH"] = str(path)
                os.environ.pop("RAY_AUTH_TOKEN", None)
                token_source()
    except UserError as err:
        return user_error_problem(str(err), [prefix], keys)
    except Exception as err:  # noqa: BLE001 - exactly what the fuzzer looks for
        return problem_of(err)
    finally:
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return None


# --- ONNX graphs ---------------------------------------------------------------------------------

ONNX_DIMS = [0, -1, 1, 2, 3, 8, 64, 8192, 8193, 2**31 - 1, 2**31, 2**40, 2**62, 2**63 - 1]
ONNX_OPS = ["Conv", "MatMul", "Gemm", "Relu", "Add", "MaxPool", "GlobalAveragePool", "Flatten", "Concat"]


@st.composite
def onnx_inputs(draw):
    """(graph spec, resolution or None, "api" or "study") for :func:`write_onnx`."""
    dim = st.one_of(st.sampled_from(ONNX_DIMS), st.integers(1, 100))
    x_shape = [1] + draw(st.lists(dim, min_size=0, max_size=4))
    w_shape = draw(st.lists(dim, min_size=1, max_size=4))
    ops = draw(st.lists(st.sampled_from(ONNX_OPS), min_size=1, max_size=4))
    topology = draw(st.sampled_from(["chain", "chain", "cycle", "self_loop", "reversed"]))
    resolution = draw(st.one_of(st.none(), st.tuples(dim, dim)))
    via = draw(st.sampled_from(["api", "api", "study"]))
    return {"x": x_shape, "w": w_shape, "ops": ops, "topology": topology}, resolution, via


def write_onnx(spec: dict, path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    nodes, prev = [], "x"
    for i, op in enumerate(spec["ops"]):
        out = f"t{i}"
        if op in ("Conv", "MatMul", "Gemm"):
            attrs = {"kernel_shape": spec["w"][2:] or [1, 1]} if op == "Conv" else {}
            nodes.append(helper.make_node(op, [prev, "w"], [out], name=f"n{i}", **attrs))
        elif op in ("Add", "Concat"):
            attrs = {"axis": 1} if op == "Concat" else {}
            nodes.append(helper.make_node(op, [prev, "x"], [out], name=f"n{i}", **attrs))
        elif op == "MaxPool":
            nodes.append(helper.make_node(op, [prev], [out], name=f"n{i}", kernel_shape=[2, 2], strides=[2, 2]))
        else:
            nodes.append(helper.make_node(op, [prev], [out], name=f"n{i}"))
        prev = out
    if spec["topology"] == "cycle" and len(nodes) > 1:
        nodes[0].input[0] = prev  # the first node reads the last one's output
    elif spec["topology"] == "self_loop":
        nodes[-1].input.append(nodes[-1].output[0])
    elif spec["topology"] == "reversed":
        nodes.reverse()
    value = helper.make_tensor_value_info
    graph = helper.make_graph(nodes, "fuzz", [value("x", TensorProto.FLOAT, spec["x"]),
                                              value("w", TensorProto.FLOAT, spec["w"])],
                              [value(prev, TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def check_onnx(example, folder: Path, number: int) -> str | None:
    spec, resolution, via = example
    path = folder / f"fuzz-{number}.onnx"  # a new name each time: the loader caches per file
    try:
        write_onnx(spec, path)
    except Exception:  # noqa: BLE001 - a graph the onnx package itself cannot write: not ours
        return None
    try:
        with hang_alarm():
            if via == "api":
                from dse.workloads.onnx_import import load_onnx

                load_onnx(path, *(resolution or (None, None)), field="onnx")
            else:
                study = folder / f"fuzz-{number}.toml"
                res = f'resolution = "{resolution[0]}x{resolution[1]}"\n' if resolution else ""
                study.write_text(f'node_nm = 16\n[[workloads]]\nonnx = "{path.name}"\n{res}'
                                 "[space]\ncores = [1, 8]\n")
                load_study(study)
    except UserError as err:
        return user_error_problem(str(err), [f"onnx: {path}: ", f"{path}: "], set(TOP_LEVEL_KEYS))
    except Exception as err:  # noqa: BLE001 - exactly what the fuzzer looks for
        return problem_of(err)
    return None


# --- technology overrides ---------------------------------------------------------------------------

CATALOG_KEYS = sorted(catalog_rows()["key"])
TECH_VALUES = [0, -0.0, -1, -1e-9, 1e-300, 5e-324, 1e-9, 0.5, 1, 2, 1e6, 1e30, 1e308, -1e308, 2**63,
               10**400, math.nan, math.inf, -math.inf, "1", "", True, [], {}]


@st.composite
def technology_inputs(draw):
    """A preset design file with 1-3 catalog overrides (sometimes an unknown key)."""
    doc = tomllib.loads(draw(st.sampled_from(DESIGN_BASES)))
    tech = doc.setdefault("technology", {})
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.one_of(st.sampled_from(CATALOG_KEYS), st.sampled_from(CATALOG_KEYS), keys))
        tech[key] = draw(st.one_of(st.sampled_from(TECH_VALUES), st.floats(), st.integers()))
    return dumps(doc).encode("utf-8")


def _probe_columns(params: dict) -> dict:
    """The design once per DRAM type (precision, interconnect and Winograd varied too), so that an
    override of any DRAM or precision row is exercised: friendly columns, each (13,)."""
    rows = []
    for i, dram in enumerate(hwspace.DRAM_TYPES):
        rows.append({**params, "dram_type": dram, "dram_channels": hwspace.allowed_channels(dram)[0],
                     "precision": hwspace.PRECISIONS[i % len(hwspace.PRECISIONS)],
                     "noc": hwspace.NOCS[i % len(hwspace.NOCS)], "winograd": bool(i % 2)})
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


PROBE_WORKLOAD = "resnet50@64x64"


def check_technology(data: bytes, path: Path) -> str | None:
    problem = check(data, "design", path)
    if problem is not None:
        return problem
    try:
        designs, tech = load_design_file(path)
    except UserError:
        return None  # rejected with a good message (check() saw it)
    params = designs.to_params()[0]
    try:
        out = evaluate_columns(_probe_columns(params), designs.node_nm, dict(tech.overrides),
                               [(PROBE_WORKLOAD, None)])
    except UserError as err:
        return f"UserError only at evaluation (the file loaded): {err}"
    except Exception as err:  # noqa: BLE001
        return describe(err)
    for name, values in out.items():
        if not np.all(np.isfinite(values)):
            return f"non-finite {name} with technology {dict(tech.overrides)}"
    for name in (f"{PROBE_WORKLOAD}:throughput_ips", f"{PROBE_WORKLOAD}:latency_s"):
        if not np.all(out[name] > 0):
            return f"{name} not positive ({out[name].min()}) with technology {dict(tech.overrides)}"
    return None


# --- the check ------------------------------------------------------------------------------------


def top_keys(data: bytes, kind: str) -> set[str]:
    keys = set(TOP_LEVEL_KEYS if kind == "study" else DESIGN_TOP_KEYS)
    try:
        keys |= set(tomllib.loads(data.decode("utf-8")))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        pass
    return keys


def check(data: bytes, kind: str, path: Path) -> str | None:
    """Parse ``data`` as a ``kind`` ("study" or "design") file at ``path``; return None when the
    outcome is acceptable, else a description of the non-user error."""
    path.write_bytes(data)
    loader = load_study if kind == "study" else load_design_file
    try:
        loader(path)
    except UserError as err:
        return user_error_problem(str(err), [f"{path}: "], top_keys(data, kind))
    except RecursionError:
        return "RecursionError"
    except Exception as err:  # noqa: BLE001 - exactly what the fuzzer looks for
        return describe(err)
    return None


def user_error_problem(msg: str, prefixes, keys) -> str | None:
    """None when ``msg`` is one line starting with one of ``prefixes`` or with a TOML path that
    begins with one of ``keys``; else what is wrong with it."""
    if "\n" in msg or "\r" in msg:
        return f"UserError message spans lines: {msg!r}"
    if any(msg.startswith(p) for p in prefixes):
        return None
    for key in keys:
        for form in (key, key_path("", key)):  # as written, or quoted as TOML would
            if msg.startswith(form) and msg[len(form):len(form) + 1] in (".", "[", ":"):
                return None
    return f"UserError without a path: {msg!r}"


def problem_of(err: Exception) -> str:
    """The non-user error an exception other than UserError is: a hang (the load timer fired), a
    RecursionError, or the exception and where it was raised."""
    if isinstance(err, TimeoutError):
        return f"hang: {err}"
    if isinstance(err, RecursionError):
        return "RecursionError"
    return describe(err)


def describe(err: BaseException) -> str:
    tb = traceback.extract_tb(err.__traceback__)[-1]
    return f"{type(err).__name__}: {str(err)[:300]} (at {Path(tb.filename).name}:{tb.lineno})"


def strategy(kind: str):
    return {"special": special_inputs, "onnx": onnx_inputs,
            "technology": technology_inputs}.get(kind, lambda: inputs(kind))()


def check_example(kind: str, example, folder: Path, number: int) -> str | None:
    """Run one example of ``kind`` in the scratch ``folder`` (emptied afterwards)."""
    try:
        if kind in ("study", "design"):
            return check(example, kind, folder / f"fuzzed-{kind}.toml")
        if kind == "technology":
            return check_technology(example, folder / "fuzzed-technology.toml")
        if kind == "onnx":
            return check_onnx(example, folder, number)
        return check_special(*example, folder)
    finally:
        for leftover in folder.iterdir():
            if leftover.is_dir() and not leftover.is_symlink():
                leftover.rmdir()
            else:
                leftover.unlink()


def run(n: int, *, kinds=("study", "design"), report=print, max_reported: int = 10) -> dict:
    """Run ``n`` examples per kind; returns {"examples", "non_user_errors", "failures", "by_kind"}."""
    stats = {"examples": 0, "non_user_errors": 0, "failures": [], "by_kind": {k: 0 for k in kinds}}
    counter = itertools.count()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            folder = Path(tmp) / kind
            folder.mkdir()

            @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(example=strategy(kind))
            def one(example):
                stats["examples"] += 1
                problem = check_example(kind, example, folder, next(counter))
                if problem:
                    stats["non_user_errors"] += 1
                    stats["by_kind"][kind] += 1
                    shown = example[:400] if isinstance(example, bytes) else example
                    if len(stats["failures"]) < max_reported:
                        stats["failures"].append((kind, problem, shown))
                        report(f"{kind}: {problem}\n    input: {shown!r}")

            one()
    return stats


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if not a.startswith("--kinds=")]
    kinds = next((a.split("=", 1)[1].split(",") for a in argv[1:] if a.startswith("--kinds=")), KINDS)
    n = int(args[0]) if args else 100_000
    per_kind = max(1, n // len(kinds))
    start = time.perf_counter()
    stats = run(per_kind, kinds=kinds)
    print(f"examples: {stats['examples']}")
    for kind, count in stats["by_kind"].items():
        print(f"non_user_errors in {kind} inputs: {count}")
    print(f"seconds: {time.perf_counter() - start:.0f}")
    print(f"non_user_errors: {stats['non_user_errors']}")
    return 1 if stats["non_user_errors"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
