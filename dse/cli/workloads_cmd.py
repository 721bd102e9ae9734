"""`dse workloads`: the built-in networks with their MACs, weights and activation sizes.

``--onnx FILE[@WxH]`` adds your own ONNX models to the listing; ``--export-onnx DIR`` writes every
listed workload as a weight-free ONNX graph for other tools.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from dse.errors import UserError

if TYPE_CHECKING:
    from dse.workloads.layers import LayerTable

MEGA = 1e6
GIGA = 1e9


def add_parser(sub):
    p = sub.add_parser("workloads", help="list built-in networks: GMACs, params, activation sizes (INT8)",
                       description="List networks as layer tables. Names are NAME or NAME@WIDTHxHEIGHT.")
    p.add_argument("names", nargs="*", metavar="WORKLOAD",
                   help="networks to list (default: every built-in), e.g. yolov3@1920x1088")
    p.add_argument("--resolution", metavar="WxH", help="input resolution for names given without one")
    p.add_argument("--json", action="store_true", help="print a JSON array in base units")
    p.add_argument("--onnx", action="append", default=[], metavar="FILE[@WxH]",
                   help="also list an ONNX model (repeatable); @WxH sets its input resolution "
                        "(required when the model's height/width are dynamic)")
    p.add_argument("--allow-unsupported", action="store_true",
                   help="count unsupported ONNX operators as zero-MAC pass-through (with a warning)")
    p.add_argument("--export-onnx", metavar="DIR",
                   help="write each listed workload as a weight-free ONNX graph DIR/NAME_WxH.onnx "
                        "and print the paths")
    p.set_defaults(func=run)
    return p


def _workload_names(args) -> list[str]:
    from dse.workloads.registry import available_networks

    names = args.names or ([] if args.onnx else available_networks())
    if args.resolution:
        names = [n if "@" in n else f"{n}@{args.resolution}" for n in names]
    return names


def format_table(rows: list[dict]) -> str:
    header = ("workload", "layers", "GMACs", "params M", "largest act MB", "peak live act MB")
    lines = [
        (r["workload"], str(r["layers"]), f"{r['macs'] / GIGA:.2f}", f"{r['params'] / MEGA:.2f}",
         f"{r['largest_activation_bytes'] / MEGA:.2f}", f"{r['peak_live_activation_bytes'] / MEGA:.2f}")
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    out = [fmt(header), fmt(tuple("-" * w for w in widths))] + [fmt(line) for line in lines]
    out.append("activations and weights at INT8 (1 byte per element); MB = 10^6 bytes")
    return "\n".join(out)


def _tables(args) -> list[LayerTable]:
    from dse.workloads.onnx_import import load_onnx, parse_onnx_spec
    from dse.workloads.registry import load_workload, parse_resolution

    tables = [load_workload(name, field="workload") for name in _workload_names(args)]
    for spec in args.onnx:
        path, width, height = parse_onnx_spec(spec, field="--onnx")
        if width is None and args.resolution:
            width, height = parse_resolution(args.resolution, "--resolution")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tables.append(load_onnx(path, width, height, allow_unsupported=args.allow_unsupported,
                                    field="--onnx"))
        for w in caught:
            print(f"dse: warning: {w.message}", file=sys.stderr)
    return tables


def _export(tables: list[LayerTable], directory: str) -> None:
    from dse.workloads.onnx_export import export_onnx

    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"--export-onnx: cannot create directory {out}: {err.strerror or err}") from None
    for table in tables:
        print(export_onnx(table, out / f"{table.network}_{table.width}x{table.height}.onnx",
                          field="--export-onnx"))


def run(args) -> int:
    from dse.workloads.summary import summarize

    tables = _tables(args)
    if args.export_onnx:
        _export(tables, args.export_onnx)
        return 0
    rows = [summarize(table) for table in tables]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows))
    return 0
