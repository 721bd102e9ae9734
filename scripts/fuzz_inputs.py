#!/usr/bin/env python
"""Fuzz study files and design files with hypothesis: every failure must be a UserError.

Valid documents (the shipped study, variants using every optional table, the chip presets) are
mutated structurally (values replaced by wrong types, huge, negative, NaN and infinite numbers,
unicode; keys and tables deleted or added; tables turned into arrays or scalars) and textually
(duplicated or deleted lines -> duplicate keys and missing tables, truncation, inserted
characters, empty files, random bytes, invalid UTF-8). Each case is parsed only (no evaluation)
with :func:`dse.search.spec.load_study` or :func:`dse.hardware.designs.load_design_file`:

* success, or a :class:`dse.errors.UserError` whose message starts with the file path (unreadable
  or unparsable files) or with a TOML path of the document (``space.cores: ...``) is fine;
* any other exception, or a message that names no path, is a *non-user error*.

Usage: ``python scripts/fuzz_inputs.py [N]`` (default 100,000 examples, a few minutes). The last
line printed is ``non_user_errors: K``; the first few offending inputs are printed above it.
``tests/test_fuzz_inputs.py`` runs the same strategies with fewer examples in CI.
"""

from __future__ import annotations

import math
import re
import sys
import tempfile
import tomllib
import traceback
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from dse.errors import UserError  # noqa: E402
from dse.hardware.designs import load_design_file  # noqa: E402
from dse.search.spec import TOP_LEVEL_KEYS, key_path, load_study  # noqa: E402

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

SPECIAL_NUMBERS = [0, -1, 1, 2, 3, 7, 16, 64, 2**31, 2**63 - 1, -(2**63), 10**30, 0.0, -0.0, 0.5, 1e-300,
                   5e-324, 1e308, -1e308, math.nan, math.inf, -math.inf]
SPECIAL_STRINGS = ["", " ", "yolov3", "yolov3@416x416", "yolov3@1920x1088", "resnet50@0x0", "resnet50@-1x9",
                   "yolov3@99999999999x1", "LPDDR5", "hbm3", "nsga2", "exhaustive", "tpe", "gp", "ray",
                   "local", "auto", "throughput", "area", "power", "int8", "mesh", "sqlite:///x.db",
                   "journal:/nonexistent/x.journal", "x.journal", "postgresql://u:p@127.0.0.1:1/db",
                   "☃", "名前", "\u202e", "a\nb", "\x00", "𝔘𝔫𝔦", "../../etc", "nan", "inf"]
KNOWN_KEYS = sorted(TOP_LEVEL_KEYS | DESIGN_TOP_KEYS | {
    "cores", "rows", "cols", "clock_ghz", "precision", "sram_mb", "dram_type", "dram_channels", "noc",
    "noc_width_bits", "batch", "winograd", "lowering", "low", "high", "step", "log", "values", "metric",
    "workload", "sampler", "trials", "population", "seed", "executor", "workers", "ray_address", "url",
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


def inputs(kind: str):
    bases = STUDY_BASES if kind == "study" else DESIGN_BASES
    return st.one_of(structural(bases), structural(bases), textual(bases), raw_bytes())


# --- the check ------------------------------------------------------------------------------------


def top_keys(data: bytes, kind: str) -> set[str]:
    keys = set(TOP_LEVEL_KEYS if kind == "study" else DESIGN_TOP_KEYS)
    try:
        keys |= set(tomllib.loads(data.decode("utf-8")))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
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
        msg = str(err)
        if "\n" in msg or "\r" in msg:
            return f"UserError message spans lines: {msg!r}"
        if msg.startswith(f"{path}: "):
            return None
        for key in top_keys(data, kind):
            for form in (key, key_path("", key)):  # as written, or quoted as TOML would
                if msg.startswith(form) and msg[len(form):len(form) + 1] in (".", "[", ":"):
                    return None
        return f"UserError without a TOML path: {msg!r}"
    except RecursionError:
        return "RecursionError"
    except Exception as err:  # noqa: BLE001 - exactly what the fuzzer looks for
        tb = traceback.extract_tb(err.__traceback__)[-1]
        return f"{type(err).__name__}: {err} (at {Path(tb.filename).name}:{tb.lineno})"
    return None


def run(n: int, *, kinds=("study", "design"), report=print, max_reported: int = 10) -> dict:
    """Run ``n`` examples per kind; returns {"examples", "non_user_errors", "failures"}."""
    stats = {"examples": 0, "non_user_errors": 0, "failures": [], "by_kind": {k: 0 for k in kinds}}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            path = Path(tmp) / f"fuzzed-{kind}.toml"

            @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(data=inputs(kind))
            def one(data):
                stats["examples"] += 1
                problem = check(data, kind, path)
                if problem:
                    stats["non_user_errors"] += 1
                    stats["by_kind"][kind] += 1
                    if len(stats["failures"]) < max_reported:
                        stats["failures"].append((kind, problem, data[:400]))
                        report(f"{kind}: {problem}\n    input: {data[:400]!r}")

            one()
    return stats


def main(argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 else 100_000
    per_kind = max(1, n // 2)
    stats = run(per_kind)
    print(f"examples: {stats['examples']}")
    for kind, count in stats["by_kind"].items():
        print(f"non_user_errors in {kind} files: {count}")
    print(f"non_user_errors: {stats['non_user_errors']}")
    return 1 if stats["non_user_errors"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
