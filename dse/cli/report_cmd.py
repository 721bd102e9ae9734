"""`dse report RESULTS_DIR`: rebuild report.html, report.md and figures/ from a results folder."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "report", help="rebuild the HTML/Markdown report and figures of a results folder",
        description="Rebuild results/NAME/report.html (self-contained), report.md and figures/*.png|svg "
                    "from the study storage in the folder.")
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="a results folder written by `dse run` (results/NAME)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from dse.report.html import build_report

    path = build_report(args.results_dir)
    print(f"report: {path}")
    return 0
