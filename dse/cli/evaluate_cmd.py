"""`dse evaluate`: score one design (a preset or a design file) on workloads.

Shows the design's area breakdown (mm^2), static power (W) and peak rates, then for every
``--workload`` a summary (throughput, latency, energy, power, utilization, DRAM traffic split into
activations and weights), the schedule the model chose (layer by layer, or depth-first with its
stacks: first..last layer, bands of rows, tiles per image) and a per-layer table (cycles, time,
bound, DRAM MB, utilization, stack). Organisation: :func:`load_design`
(flags -> design + technology), :func:`area_summary` (-> plain dict in SI and mm^2),
:func:`format_area_summary` (-> text), :func:`workload_reports` (-> plain dicts in SI),
:func:`run`. ``--json`` prints the plain dicts: SI units, named in every key (``latency_s``,
``energy_j``, ``dram_bytes``, ``time_s``; areas in ``_mm2``); the text converts at the edge.
"""

from __future__ import annotations

import argparse
import sys

from dse import jsonsafe
from dse.errors import UserError

MICRO, MEGA, GIGA, TERA = 1e-6, 1e6, 1e9, 1e12
MIB = 2**20  # bytes per MiB (the unit of sram_mb)


def preset_names() -> list[str]:
    """The presets (``dse/hardware/presets/*.toml``) without importing the hardware layer, so that
    ``dse --help`` stays fast."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("dse.hardware.presets")
    folders = spec.submodule_search_locations if spec else None
    return sorted(p.stem for folder in folders or () for p in Path(folder).glob("*.toml"))


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate", help="score one design: area, power, throughput and a per-layer breakdown",
        description="Score one design given as a preset or a TOML design file.")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", metavar="NAME", help=f"a built-in chip: {', '.join(preset_names())} (any case)")
    src.add_argument("--design", metavar="FILE.toml", help="a design file ([design] and optional [technology])")
    parser.add_argument("--workload", action="append", metavar="NAME[@WxH]",
                        help="workload to evaluate (repeatable), e.g. yolov3@1440x1440 or "
                             "path/to/net.onnx@1920x1080")
    parser.add_argument("--batch", type=int, metavar="N", help="batch size (default: the design's)")
    parser.add_argument("--winograd", choices=("on", "off"), help="override the design's Winograd setting")
    parser.add_argument("--schedule", metavar="NAME",
                        help="override the design's schedule: auto (the cheaper per design and workload), "
                             "layer (layer by layer) or fused (depth-first stacks)")
    parser.add_argument("--batch-schedule", metavar="NAME",
                        help="override the design's batch schedule: auto, lockstep or per_image")
    parser.add_argument("--layers", type=int, default=None, metavar="N",
                        help="show only the N slowest layers (default: all)")
    parser.add_argument("--area-only", action="store_true", help="only the area breakdown and static power")
    parser.add_argument("--catalog", action="store_true",
                        help="print the technology catalog at the design's node (overrides applied)")
    parser.add_argument("--json", action="store_true",
                        help="machine-readable output in SI units, named in every key (latency_s, energy_j, "
                             "dram_bytes, time_s; areas in mm^2)")
    parser.set_defaults(func=run)
    return parser


def load_design(args):
    """(DesignBatch of 1, Technology) from ``--preset`` or ``--design``."""
    from dse.hardware.designs import load_design_file
    from dse.hardware.presets import load_preset

    if args.preset is not None:
        return load_preset(args.preset)
    return load_design_file(args.design)


def area_summary(designs, tech) -> dict:
    """Design parameters, area breakdown (mm^2), die cost (USD), static power (W) and peak rates of
    design 0."""
    from dse.hardware.cost import cost_dict, die_cost
    from dse.hardware.physical import AREA_COMPONENTS, derive

    hw = derive(designs, tech)
    cost = {k: float(v[0]) for k, v in cost_dict(die_cost(hw.area_mm2, tech)).items()}
    return {
        "design": {"node_nm": designs.node_nm, **design_si(designs)},
        "area_mm2": {name: float(getattr(hw, attr)[0]) for name, attr in AREA_COMPONENTS}
        | {"total": float(hw.area_mm2[0])},
        "die_cost": cost,
        "static_power_w": {"sram_leakage": float(hw.static_power_w[0]), "total": float(hw.static_power_w[0])},
        "logic_leakage_fraction_of_dynamic": float(hw.logic_leakage_fraction[0]),
        "peak_macs_per_s": float(hw.peak_macs_per_s[0]),
        "sram_bw_bytes_per_s": float(hw.sram_bw_bytes_per_s[0]),
        "dram_bw_bytes_per_s": float(hw.dram_bw_bytes_per_s[0]),
        "noc_bw_bytes_per_s": float(hw.noc_bw_bytes_per_s[0]),
        "technology_overrides": dict(tech.overrides),
    }


def design_si(designs) -> dict:
    """Design 0's fields in SI (``clock_hz``, ``sram_bytes``; categorical fields by name)."""
    from dataclasses import fields

    named = designs.to_params()[0]
    out = {}
    for f in fields(designs):
        if f.name == "node_nm":
            continue
        value = named.get(f.name, getattr(designs, f.name)[0])
        out[f.name] = value.item() if hasattr(value, "item") else value
    return out


def format_area_summary(summary: dict, *, area_only: bool = False) -> str:
    """Human-readable text of :func:`area_summary` (units in every line)."""
    d = summary["design"]
    lines = [f"design: {d['cores']} cores x {d['rows']}x{d['cols']} {d['precision']} MACs at "
             f"{d['clock_hz'] / GIGA:g} GHz, {d['sram_bytes'] / MIB:g} MiB SRAM, {d['dram_channels']} x "
             f"{d['dram_type']}, {d['noc']} {d['noc_width_bits']} bit, {d['node_nm']} nm, "
             f"schedule {d['schedule']}, batch schedule {d['batch_schedule']}"]
    if summary["technology_overrides"]:
        lines.append("technology overrides: " + ", ".join(f"{k} = {v:g}" for k, v in
                                                           summary["technology_overrides"].items()))
    lines.append("area:")
    total = summary["area_mm2"]["total"]
    for name, val in summary["area_mm2"].items():
        share = f"  ({val / total:5.1%})" if name != "total" else ""
        lines.append(f"  {name:<10} {val:10.2f} mm^2{share}")
    c = summary["die_cost"]
    lines.append(f"die cost: {c['die_cost_usd']:.2f} USD per good die = wafer {c['wafer_cost_usd']:.0f} USD / "
                 f"({c['dies_per_wafer']:.0f} dies x {c['die_yield']:.1%} yield) = {c['silicon_cost_usd']:.2f} USD"
                 f" + test {c['test_cost_usd']:.2f} + package {c['package_cost_usd']:.2f} USD")
    lines.append("static power:")
    lines.append(f"  {'sram':<10} {summary['static_power_w']['sram_leakage']:10.3f} W")
    lines.append(f"  {'logic':<10} {summary['logic_leakage_fraction_of_dynamic']:10.0%} of dynamic logic power")
    if not area_only:
        lines.append("peak rates:")
        lines.append(f"  {'MACs':<10} {summary['peak_macs_per_s'] / TERA:10.2f} TMAC/s")
        lines.append(f"  {'SRAM':<10} {summary['sram_bw_bytes_per_s'] / GIGA:10.1f} GB/s")
        lines.append(f"  {'DRAM':<10} {summary['dram_bw_bytes_per_s'] / GIGA:10.1f} GB/s (sustained)")
        lines.append(f"  {'NoC':<10} {summary['noc_bw_bytes_per_s'] / GIGA:10.1f} GB/s")
    return "\n".join(lines)


def format_catalog(tech) -> str:
    """The technology table at the design's node (catalog units)."""
    table = tech.table()[["key", "value", "unit", "tag", "source", "overridden"]]
    return table.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def workload_reports(designs, tech, workloads: list[str], batch: int | None) -> list[dict]:
    """Per workload: a summary dict, the depth-first stacks and the per-layer rows, SI units named
    in the keys. ``summary`` has every workload metric (``dram_activation_bytes``,
    ``dram_weight_bytes``, ``fused_layers``, ...), ``layers`` (count) and ``time_share_by_bound``;
    ``stacks`` lists the fused stacks in network order (``stack``: the model's index, as in the
    layer rows; ``first_layer``, ``last_layer``: names; ``layers``, ``bands``, ``tiles``)."""
    from dse.model.api import evaluate
    from dse.model.metrics import WORKLOAD_METRICS
    from dse.report.analysis import fused_stacks

    frame, layers = evaluate(designs, [_workload_arg(w) for w in workloads], batch=batch, technology=tech,
                             per_layer=True)
    out = []
    for _, row in frame.iterrows():
        lay = layers[row["workload"]]
        lay = lay[lay["design"] == 0].drop(columns=["design"])
        bound_share = (lay.groupby("bound")["time_s"].sum() / lay["time_s"].sum()).round(4).to_dict()
        summary = {k: (row[k].item() if hasattr(row[k], "item") else row[k])
                   for k in ("workload", *WORKLOAD_METRICS)}
        summary["layers"] = len(lay)
        summary["time_share_by_bound"] = bound_share
        out.append({"summary": summary, "stacks": fused_stacks(lay), "layers": lay.to_dict(orient="records")})
    return out


def _workload_arg(text: str) -> str:
    """A ``--workload`` as the loader takes it: ONNX files by absolute path (as in study files)."""
    from pathlib import Path

    from dse.workloads.registry import is_onnx_workload

    if not is_onnx_workload(text):
        return text
    path, sep, res = text.strip().rpartition("@")
    if not sep or not path.lower().endswith(".onnx"):
        path, res = text.strip(), ""
    return str(Path(path).resolve()) + (f"@{res}" if res else "")


def schedule_text(summary: dict, stacks: list[dict]) -> str:
    """``layer by layer`` or ``depth-first: 50 of 102 layers in 13 stacks``."""
    fused = int(summary["fused_layers"])
    if fused == 0:
        return "layer by layer"
    return (f"depth-first: {fused} of {summary['layers']} layers in {len(stacks)} "
            f"stack{'s' if len(stacks) != 1 else ''}")


def format_stacks(stacks: list[dict]) -> list[str]:
    """One line per depth-first stack: ``stack 1: conv0 .. stage2.res1.shortcut (12 layers), 8 bands
    of rows, 16 tiles per image`` (numbered 1.. in network order, as the per-layer table's column)."""
    return [f"    stack {k}: {st['first_layer']} .. {st['last_layer']} ({st['layers']} layer"
            f"{'s' if st['layers'] != 1 else ''}), {st['bands']} band{'s' if st['bands'] != 1 else ''} of rows, "
            f"{st['tiles']} tile{'s' if st['tiles'] != 1 else ''} per image"
            for k, st in enumerate(stacks, start=1)]


def format_workload_report(rep: dict, top: int | None) -> str:
    from dse.model.metrics import BY_COLUMN as M

    s = rep["summary"]
    stacks = rep["stacks"]
    mj = M["energy_j"].display_factor  # J -> mJ
    dram = M["dram_bytes"]
    lines = [
        f"\n{s['workload']} at batch {s['batch']:g}:",
        f"  throughput {s['throughput_ips']:.4g} inferences/s, latency {M['latency_s'].display(s['latency_s']):.4g} "
        f"{M['latency_s'].display_unit} per batch",
        f"  energy {s['energy_j'] * mj:.4g} {M['energy_j'].display_unit} (MAC {s['energy_mac_j'] * mj:.3g}, "
        f"SRAM {s['energy_sram_j'] * mj:.3g}, interconnect {s['energy_noc_j'] * mj:.3g}, "
        f"DRAM {s['energy_dram_j'] * mj:.3g}, static {s['energy_static_j'] * mj:.3g}), average power {s['power_w']:.3g} W",
        f"  MAC utilization {s['utilization']:.1%} of peak, effective {s['effective_tops']:.3g} TOPS, "
        f"weights {'resident' if s['weights_resident'] else 'streamed'}",
        f"  DRAM {dram.display(s['dram_bytes']):.4g} {dram.display_unit}: activations "
        f"{dram.display(s['dram_activation_bytes']):.4g}, weights {dram.display(s['dram_weight_bytes']):.4g}",
        "  time by bound: " + ", ".join(f"{k} {v:.0%}" for k, v in sorted(
            s["time_share_by_bound"].items(), key=lambda kv: -kv[1])),
        f"  schedule: {schedule_text(s, stacks)}",
        *format_stacks(stacks),
    ]
    import pandas as pd

    lay = pd.DataFrame(rep["layers"])
    number = {st["stack"]: k for k, st in enumerate(stacks, start=1)}
    lay["stack"] = [str(number[sid]) if sid in number else "-" for sid in lay["stack"]]
    if top:
        lay = lay.nlargest(top, "time_s").sort_values("layer")
    cols = ["layer", "name", "op", "cycles", "time_s", "bound", "dram_bytes", "utilization", "stack"]
    table = lay[cols].rename(columns={"time_s": "time us", "dram_bytes": "DRAM MB", "utilization": "util"})
    table["time us"] = table["time us"] / MICRO
    table["DRAM MB"] = table["DRAM MB"] / MEGA
    lines.append(table.to_string(index=False, formatters={
        "cycles": "{:.4g}".format, "time us": "{:.4g}".format, "DRAM MB": "{:.3g}".format,
        "util": "{:.0%}".format}))
    return "\n".join(lines)


def _override_choice(designs, name: str, value: str | None, flag: str):
    """The designs with a categorical parameter set from a flag (any case), or a one-line error."""
    if value is None:
        return designs
    from dse.hardware.space import get_parameter

    allowed = tuple(str(c) for c in get_parameter(name).choice_values)
    if value.lower() not in allowed:
        raise UserError(f"{flag}: {value!r} is not allowed (allowed: {', '.join(allowed)})")
    return designs.with_values(**{name: value.lower()})


def run(args) -> int:
    designs, tech = load_design(args)
    if args.batch is not None and args.batch < 1:
        raise UserError(f"--batch: {args.batch} must be >= 1")
    if args.layers is not None and args.layers < 1:
        raise UserError(f"--layers: {args.layers} must be >= 1")
    if args.winograd:
        designs = designs.with_values(winograd=args.winograd == "on")
    designs = _override_choice(designs, "schedule", args.schedule, "--schedule")
    designs = _override_choice(designs, "batch_schedule", args.batch_schedule, "--batch-schedule")
    if args.catalog:
        if args.json:
            print(tech.table().to_json(orient="records", indent=2))
        else:
            print(format_catalog(tech))
        return 0
    summary = area_summary(designs, tech)
    reports = [] if args.area_only or not args.workload else workload_reports(
        designs, tech, args.workload, args.batch)
    if args.json:
        if reports:
            summary["workloads"] = reports
        sys.stdout.write(jsonsafe.dumps(summary, indent=2))
        print()
    else:
        print(format_area_summary(summary, area_only=args.area_only))
        for rep in reports:
            print(format_workload_report(rep, args.layers))
    return 0
