"""`dse sensitivity results/NAME`: how sure is the study's answer (Monte Carlo over the technology).

Prints the recommended design's P10/P50/P90 bands, the Pareto probability of the front's designs,
how often the recommendation stays, a tornado of the constants that move each objective most and
the constants that reorder the front or flip the recommendation (``--json``: the same data).
"""

from __future__ import annotations

import json


def add_parser(sub):
    p = sub.add_parser("sensitivity", help="uncertainty of a study's front: bands, Pareto probabilities, tornado",
                       description="Evaluate a finished study's Pareto front under Monte Carlo samples of "
                                   "the technology constants (ranges in dse/hardware/catalog/ranges.csv) and "
                                   "under each constant at its low and high end.")
    p.add_argument("results", metavar="results/NAME", help="a results folder written by `dse run`")
    p.add_argument("--samples", type=int, default=256, metavar="S", help="technology samples (default 256)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--top", type=int, default=8, metavar="N", help="constants per tornado (default 8)")
    p.add_argument("--json", action="store_true", help="machine-readable output (SI units as stored)")
    p.set_defaults(func=run)
    return p


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def format_report(res: dict, units) -> str:
    rec = res["recommended"]
    lines = [(f"study {res['study']} ({res['node_nm']} nm): {res['front_designs']} front designs x "
              f"{res['samples']} technology samples ({res['constants_sampled']} constants with a range), "
              f"seed {res['seed']}"),
             f"recommended: trial {rec['trial']} ({rec['chosen_by']})",
             "  " + ", ".join(f"{k} = {v}" for k, v in rec["params"].items())]
    for col, b in rec["bands"].items():
        name, unit, f = units(col)
        lines.append(f"  {name}: {_fmt(rec['nominal'][col] * f)} {unit} (P10 {_fmt(b['p10'] * f)}, "
                     f"median {_fmt(b['p50'] * f)}, P90 {_fmt(b['p90'] * f)})")
    lines.append(f"  Pareto probability {rec['pareto_probability']:.0%}; stays recommended in "
                 f"{rec['stays_recommended']:.0%} of the samples")
    probs = [r["probability"] for r in res["pareto_probability"]]
    lines.append(f"Pareto probability of the front's designs: {sum(p >= 0.9 for p in probs)} of {len(probs)} "
                 f">= 90%, {sum(p < 0.5 for p in probs)} below 50%; most robust: "
                 + ", ".join(f"trial {r['trial']} {r['probability']:.0%}" for r in res["pareto_probability"][:5]))
    for col, rows in res["tornado"].items():
        name, unit, f = units(col)
        lines.append(f"tornado, {name} of the recommended design [{unit}]:")
        for r in rows:
            lines.append(f"  {r['constant']:<32} x{r['low_factor']:g}..x{r['high_factor']:g}: "
                         f"{_fmt(r['value_at_low'] * f)} .. {_fmt(r['value_at_high'] * f)} ({r['swing_pct']:.0f}% swing)")
    lines.append("constants that reorder the front (rank correlation at the point estimates vs at one end):")
    for r in res["front_ranking"]:
        flip = "  FLIPS the recommendation" if r["flips_recommendation"] else ""
        lines.append(f"  {r['constant']:<32} {r['end']:<4} x{r['factor']:g}: min rank correlation "
                     f"{r['min_rank_correlation']:.2f}, {r['front_retained']:.0%} of the front stays{flip}")
    flips = res["flips_recommendation"]
    lines.append("constants that flip the recommendation: " + (", ".join(flips) if flips else "none"))
    return "\n".join(lines)


def run(args) -> int:
    from dse.errors import UserError
    from dse.report.analysis import unit_of
    from dse.report.load import SUMMARY, load_results
    from dse.search.robustness import analyse, study_front

    if args.samples < 1:
        raise UserError(f"--samples: {args.samples} must be >= 1")
    if args.top < 1:
        raise UserError(f"--top: {args.top} must be >= 1")
    r = load_results(args.results)
    if r.spec is None:
        raise UserError(f"{args.results}: no study.toml in the folder (sensitivity re-evaluates the front "
                        "with the study's technology and budgets)")
    front = study_front(r.spec, r.trials)
    if front.empty:
        raise UserError(f"{args.results}: no feasible design on the front (nothing to analyse)")
    summary_path = r.out_dir / SUMMARY
    rec_trial = None
    if summary_path.exists():
        rec = json.loads(summary_path.read_text()).get("recommendation") or {}
        rec_trial = rec.get("trial") if isinstance(rec, dict) else None
    res = analyse(r.spec, front, args.samples, args.seed, rec_trial, top=args.top)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(format_report(res, unit_of))
    return 0
