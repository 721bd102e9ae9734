"""`dse report RESULTS_DIR`: rebuild report.html, report.md and figures/ from a results folder."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "report", help="rebuild the HTML/Markdown report and figures of a results folder",
        description="Rebuild results/NAME/report.html (self-contained), report.md and figures/*.png|svg "
                    "from the study storage in the folder. A report built from the same storage, study file "
                    "and code is kept as it is (--force rebuilds it).")
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="a results folder written by `dse run` (results/NAME)")
    p.add_argument("--storage", metavar="URL",
                   help="the Optuna storage the study ran on, if not the folder's journal (as given to `dse run --storage`)")
    p.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from pathlib import Path

    from dse.report.freshness import report_current

    if not args.force and report_current(args.results_dir, args.storage):
        print(f"report: {Path(args.results_dir) / 'report.html'} (unchanged: same storage, study file and code)")
        return 0
    from dse.report.html import build_report

    path = build_report(args.results_dir, args.storage)
    print(f"report: {path}")
    return 0
