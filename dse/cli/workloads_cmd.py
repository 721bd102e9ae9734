"""`dse workloads`: the built-in networks with their MACs, weights and activation sizes."""

from __future__ import annotations

import json

from dse.workloads.registry import NETWORKS, available_networks, load_workload
from dse.workloads.summary import summarize

MEGA = 1e6
GIGA = 1e9


def add_parser(sub):
    p = sub.add_parser("workloads", help="list built-in networks: GMACs, params, activation sizes (INT8)",
                       description="List networks as layer tables. Names are NAME or NAME@WIDTHxHEIGHT.")
    p.add_argument("names", nargs="*", metavar="WORKLOAD",
                   help="networks to list (default: every built-in), e.g. yolov3@1920x1088")
    p.add_argument("--resolution", metavar="WxH", help="input resolution for names given without one")
    p.add_argument("--json", action="store_true", help="print a JSON array in base units")
    p.set_defaults(func=run)
    return p


def _workload_names(args) -> list[str]:
    names = args.names or available_networks()
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


def run(args) -> int:
    rows = [summarize(load_workload(name, field="workload")) for name in _workload_names(args)]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows))
    return 0
