"""`dse validate`: the model against published chips (throughput table and qualitative checks)."""

from __future__ import annotations

import json

#: Exit code when the model misses a published figure or a check (2 stays "bad input").
EXIT_CHECK_FAILED = 1


def add_parser(sub):
    p = sub.add_parser("validate", help="compare the model with published chip figures",
                       description="Published vs predicted throughput for every reference row with a "
                                   "preset, with the P10-P90 band of the prediction under the technology's "
                                   "uncertainty (and whether the published figure lies inside), then the "
                                   "qualitative checks of the reference set. Exits 1 when a throughput row is "
                                   "outside its tolerance or a check fails, 0 when everything passes (a "
                                   "published figure outside its band is reported, not a failure).")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
    return p


def _band(row: dict, unit: str) -> str:
    lo, hi = row[f"p10_{unit}"], row[f"p90_{unit}"]
    text = f"{lo:.4g}..{hi:.4g}"
    return f"{text:>15} {'in ' if row['inside_band'] else 'OUT'}"


def format_report(result: dict) -> str:
    lines = ["throughput (inferences/s):",
             f"  {'preset':<20} {'workload':<24} {'batch':>5} {'published':>10} {'predicted':>10} {'error':>8} "
             f"{'P10..P90':>17}  kind"]
    for r in result["throughput"]:
        mark = "" if r["within_tolerance"] else "  <- outside tolerance"
        lines.append(f"  {r['preset']:<20} {r['workload']:<24} {r['batch']:>5} {r['published_ips']:>10.1f} "
                     f"{r['predicted_ips']:>10.1f} {r['error_pct']:>+7.1f}% {_band(r, 'ips')}  {r['kind']}{mark}")
    s = result["summary"]
    lines.append(f"  {s['rows_within_tolerance']} of {s['rows']} within +-{s['tolerance_pct']:.0f}%, "
                 f"largest error {s['max_abs_error_pct']:.1f}%")
    lines.append("energy efficiency (TOPS/W, 2 ops per MAC):")
    for r in result.get("efficiency", []):
        lines.append(f"  {r['preset']:<20} {r['workload']:<24} {r['batch']:>5} {r['published_tops_per_w']:>10.2f} "
                     f"{r['predicted_tops_per_w']:>10.2f} {r['error_pct']:>+7.1f}% {_band(r, 'tops_per_w')}")
    lines.append(f"uncertainty bands: {s['band_points_inside']} of {s['band_points']} published points inside the "
                 f"predicted P10-P90 band ({s['band_coverage']:.0%} coverage; calibrated bands cover about 80%), "
                 f"{s['band_samples']} technology samples, seed {s['band_seed']}")
    lines.append("checks:")
    for c in result["checks"]:
        lines.append(f"  [{'pass' if c['passed'] else 'FAIL'}] {c['check']}: {c['measured']} "
                     f"(expected {c['expectation']})")
    lines.append(f"  {s['checks_passed']} of {s['checks']} checks pass")
    return "\n".join(lines)


def run(args) -> int:
    from dse.model.validation import validate

    result = validate()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_report(result))
    return 0 if passed(result) else EXIT_CHECK_FAILED


def passed(result: dict) -> bool:
    """Every throughput row within tolerance and every check passed."""
    s = result["summary"]
    return s["rows_within_tolerance"] == s["rows"] and s["checks_passed"] == s["checks"]
