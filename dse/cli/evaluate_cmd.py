"""`dse evaluate`: score one design (a preset or a design file) on workloads.

Shows the design's area breakdown (mm^2), static power (W) and peak rates, then for every
``--workload`` a summary (throughput, latency, energy, power, utilization, DRAM traffic) and a
per-layer table (cycles, time, bound, DRAM MB, utilization). Organisation: :func:`load_design`
(flags -> design + technology), :func:`area_summary` (-> plain dict in SI and mm^2),
:func:`format_area_summary` (-> text), :func:`workload_reports` (-> plain dicts), :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import sys

from dse.errors import UserError


def add_parser(subparsers) -> argparse.ArgumentParser:
    from dse.hardware.presets import PRESETS

    parser = subparsers.add_parser(
        "evaluate", help="score one design: area, power, throughput and a per-layer breakdown",
        description="Score one design given as a preset or a TOML design file.")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", metavar="NAME", help=f"a built-in chip: {', '.join(PRESETS)}")
    src.add_argument("--design", metavar="FILE.toml", help="a design file ([design] and optional [technology])")
    parser.add_argument("--workload", action="append", metavar="NAME[@WxH]",
                        help="workload to evaluate (repeatable), e.g. yolov3@1440x1440")
    parser.add_argument("--batch", type=int, metavar="N", help="batch size (default: the design's)")
    parser.add_argument("--winograd", choices=("on", "off"), help="override the design's Winograd setting")
    parser.add_argument("--layers", type=int, default=None, metavar="N",
                        help="show only the N slowest layers (default: all)")
    parser.add_argument("--area-only", action="store_true", help="only the area breakdown and static power")
    parser.add_argument("--catalog", action="store_true",
                        help="print the technology catalog at the design's node (overrides applied)")
    parser.add_argument("--json", action="store_true", help="machine-readable output (base units)")
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
    params = designs.to_params()[0]
    return {
        "design": {"node_nm": designs.node_nm, **params},
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


def format_area_summary(summary: dict, *, area_only: bool = False) -> str:
    """Human-readable text of :func:`area_summary` (units in every line)."""
    d = summary["design"]
    lines = [f"design: {d['cores']} cores x {d['rows']}x{d['cols']} {d['precision']} MACs at "
             f"{d['clock_ghz']:g} GHz, {d['sram_mb']:g} MiB SRAM, {d['dram_channels']} x {d['dram_type']}, "
             f"{d['noc']} {d['noc_width_bits']} bit, {d['node_nm']} nm"]
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
        lines.append(f"  {'MACs':<10} {summary['peak_macs_per_s'] / 1e12:10.2f} TMAC/s")
        lines.append(f"  {'SRAM':<10} {summary['sram_bw_bytes_per_s'] / 1e9:10.1f} GB/s")
        lines.append(f"  {'DRAM':<10} {summary['dram_bw_bytes_per_s'] / 1e9:10.1f} GB/s (sustained)")
        lines.append(f"  {'NoC':<10} {summary['noc_bw_bytes_per_s'] / 1e9:10.1f} GB/s")
    return "\n".join(lines)


def format_catalog(tech) -> str:
    """The technology table at the design's node (catalog units)."""
    table = tech.table()[["key", "value", "unit", "tag", "source", "overridden"]]
    return table.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def workload_reports(designs, tech, workloads: list[str], batch: int | None) -> list[dict]:
    """Per workload: a summary dict (friendly units in the names) and the per-layer rows."""
    from dse.model.api import evaluate

    frame, layers = evaluate(designs, workloads, batch=batch, technology=tech, per_layer=True)
    out = []
    for _, row in frame.iterrows():
        lay = layers[row["workload"]]
        lay = lay[lay["design"] == 0].drop(columns=["design"])
        bound_share = (lay.groupby("bound")["time_us"].sum() / lay["time_us"].sum()).round(4).to_dict()
        summary = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()
                   if k not in ("design",) and not k.startswith("area_") and k not in (
                       "static_power_w", "peak_tops", "power_density_limit_w_per_mm2")}
        summary["time_share_by_bound"] = bound_share
        out.append({"summary": summary, "layers": lay.to_dict(orient="records")})
    return out


def format_workload_report(rep: dict, top: int | None) -> str:
    s = rep["summary"]
    lines = [
        f"\n{s['workload']} at batch {s['batch']}:",
        f"  throughput {s['throughput_ips']:.4g} inferences/s, latency {s['latency_ms']:.4g} ms per batch",
        f"  energy {s['energy_mj']:.4g} mJ/inference (MAC {s['energy_mac_mj']:.3g}, SRAM {s['energy_sram_mj']:.3g}, "
        f"interconnect {s['energy_noc_mj']:.3g}, DRAM {s['energy_dram_mj']:.3g}, static {s['energy_static_mj']:.3g}), "
        f"average power {s['power_w']:.3g} W",
        f"  MAC utilization {s['utilization']:.1%} of peak, effective {s['effective_tops']:.3g} TOPS, "
        f"DRAM {s['dram_mb']:.4g} MB/inference, weights {'resident' if s['weights_resident'] else 'streamed'}",
        "  time by bound: " + ", ".join(f"{k} {v:.0%}" for k, v in sorted(
            s["time_share_by_bound"].items(), key=lambda kv: -kv[1])),
    ]
    import pandas as pd

    lay = pd.DataFrame(rep["layers"])
    if top:
        lay = lay.nlargest(top, "time_us").sort_values("layer")
    cols = ["layer", "name", "op", "cycles", "time_us", "bound", "dram_mb", "utilization"]
    table = lay[cols].rename(columns={"time_us": "time us", "dram_mb": "DRAM MB", "utilization": "util"})
    lines.append(table.to_string(index=False, formatters={
        "cycles": "{:.4g}".format, "time us": "{:.4g}".format, "DRAM MB": "{:.3g}".format,
        "util": "{:.0%}".format}))
    return "\n".join(lines)


def run(args) -> int:
    designs, tech = load_design(args)
    if args.batch is not None and args.batch < 1:
        raise UserError(f"--batch: {args.batch} must be >= 1")
    if args.layers is not None and args.layers < 1:
        raise UserError(f"--layers: {args.layers} must be >= 1")
    if args.winograd:
        designs = designs.with_values(winograd=args.winograd == "on")
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
        json.dump(summary, sys.stdout, indent=2)
        print()
    else:
        print(format_area_summary(summary, area_only=args.area_only))
        for rep in reports:
            print(format_workload_report(rep, args.layers))
    return 0
