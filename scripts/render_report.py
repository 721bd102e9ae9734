#!/usr/bin/env python3
"""Render results/NAME/report.html to a PNG screenshot with headless Chromium.

Usage: scripts/render_report.py results/NAME [--out shot.png] [--width 1400] [--height 4000]

Needs Chromium (Debian: `apt-get install chromium`); without it, prints one line and exits 2.
The report is rebuilt first if report.html is missing (--rebuild forces it).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def render(html: Path, out: Path, width: int = 1400, height: int = 4000, timeout: float = 120.0) -> Path:
    browser = find_browser()
    if browser is None:
        raise RuntimeError("no headless Chromium found (install the Debian package `chromium`)")
    with tempfile.TemporaryDirectory(prefix="dse-chromium-") as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={out.resolve()}",
               f"--window-size={width},{height}", html.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"chromium failed (exit {proc.returncode}): {tail[0]}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results_dir", type=Path)
    p.add_argument("--out", type=Path, help="PNG to write (default: RESULTS_DIR/report.png)")
    p.add_argument("--width", type=int, default=1400)
    p.add_argument("--height", type=int, default=4000)
    p.add_argument("--rebuild", action="store_true", help="rebuild the report first")
    args = p.parse_args(argv)
    html = args.results_dir / "report.html"
    try:
        if args.rebuild or not html.exists():
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from dse.errors import UserError
            from dse.report.html import build_report

            try:
                html = build_report(args.results_dir)
            except UserError as err:
                raise RuntimeError(str(err)) from None
        out = render(html, args.out or args.results_dir / "report.png", args.width, args.height)
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        print(f"render_report: error: {err}", file=sys.stderr)
        return 2
    print(f"screenshot: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
