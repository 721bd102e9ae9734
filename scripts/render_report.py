#!/usr/bin/env python3
"""Render results/NAME/report.html to a PNG of the whole page (or of one section) with headless Chromium.

Usage: scripts/render_report.py results/NAME [--out shot.png] [--width 1400] [--section KEY] [--rebuild]

The page is measured first (its full height and where each section starts), then captured in
tiles of at most TILE_PX pixels that are stitched together, so any page length works. ``--section
recommendation`` (any ``h2`` id: fronts, pareto, designs, batch, proxy, convergence, ...) crops the
picture to that section. Needs Chromium (Debian: `apt-get install chromium`); without it, prints one
line and exits 2. The report is rebuilt first if report.html is missing (--rebuild forces it).
"""

from __future__ import annotations

import argparse
import html as htmlmod
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: tallest single capture (Chromium's compositor limits tall windows)
TILE_PX = 4000
#: time the page gets to draw its interactive views before a capture (virtual ms)
SETTLE_MS = 8000

MEASURE_JS = """<script>window.addEventListener("load",function(){setTimeout(function(){
var o={height:document.documentElement.scrollHeight,sections:{}};
document.querySelectorAll("h2[id]").forEach(function(h){o.sections[h.id]=h.getBoundingClientRect().top+window.scrollY;});
var p=document.createElement("pre");p.id="dse-measure";p.textContent=JSON.stringify(o);document.body.appendChild(p);},500);});
</script>"""
#: a tile starting at y: the page shifted up by y (no scrolling, which headless screenshots ignore)
SHIFT_CSS = """<style>html{{overflow:hidden!important}}body{{margin-top:-{y}px!important}}</style>"""


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _chromium(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    browser = find_browser()
    if browser is None:
        raise RuntimeError("no headless Chromium found (install the Debian package `chromium`)")
    with tempfile.TemporaryDirectory(prefix="dse-chromium-") as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={profile}", f"--virtual-time-budget={SETTLE_MS}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _with_script(html: Path, script: str, tmp: Path, name: str) -> Path:
    text = html.read_text()
    out = tmp / name
    out.write_text(text.replace("</body>", script + "</body>", 1) if "</body>" in text else text + script)
    return out


def measure(html: Path, width: int, tmp: Path, timeout: float = 180.0) -> dict:
    """{"height": page px, "sections": {id: top px}} at ``width``."""
    page = _with_script(html, MEASURE_JS, tmp, "measure.html")
    proc = _chromium(["--dump-dom", f"--window-size={width},1000", page.as_uri()], timeout)
    m = re.search(r'<pre id="dse-measure">(.*?)</pre>', proc.stdout, re.S)
    if not m:
        tail = (proc.stderr or "no output").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"chromium could not measure the page: {tail[0]}")
    return json.loads(htmlmod.unescape(m.group(1)))


def capture(html: Path, out: Path, width: int = 1400, section: str | None = None, timeout: float = 180.0) -> Path:
    """Full-page PNG of ``html`` (or the part from section ``section`` to the next section)."""
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="dse-render-") as tmpdir:
        tmp = Path(tmpdir)
        info = measure(html, width, tmp, timeout)
        height = int(info["height"])
        top, bottom = 0, height
        if section:
            tops = sorted(info["sections"].items(), key=lambda kv: kv[1])
            if section not in info["sections"]:
                raise RuntimeError(f"--section: no section {section!r} (sections: {', '.join(k for k, _ in tops)})")
            top = int(info["sections"][section]) - 10
            later = [v for _, v in tops if v > info["sections"][section]]
            bottom = int(later[0]) - 10 if later else height
        sheet = Image.new("RGB", (width, bottom - top), "white")
        y = top
        while y < bottom:
            # the last tile of the page cannot scroll past the end: capture it as far down as it goes
            scroll = min(y, max(0, height - TILE_PX))
            tile_h = min(TILE_PX, height - scroll)
            page = _with_script(html, SHIFT_CSS.format(y=scroll), tmp, "tile.html")
            shot = tmp / "tile.png"
            proc = _chromium([f"--screenshot={shot}", f"--window-size={width},{tile_h}", page.as_uri()], timeout)
            if proc.returncode != 0 or not shot.exists():
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                raise RuntimeError(f"chromium failed (exit {proc.returncode}): {tail[0]}")
            with Image.open(shot) as img:
                part = img.crop((0, y - scroll, width, min(tile_h, bottom - scroll)))
                sheet.paste(part, (0, y - top))
                y += part.height
            shot.unlink()
        sheet.save(out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results_dir", type=Path)
    p.add_argument("--out", type=Path, help="PNG to write (default: RESULTS_DIR/report.png or report-SECTION.png)")
    p.add_argument("--width", type=int, default=1400, help="page width in px (default 1400)")
    p.add_argument("--section", metavar="KEY", help="crop to one section (its h2 id, e.g. recommendation)")
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
        default = args.results_dir / (f"report-{args.section}.png" if args.section else "report.png")
        out = capture(html.resolve(), (args.out or default).resolve(), args.width, args.section)
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        print(f"render_report: error: {err}", file=sys.stderr)
        return 2
    print(f"screenshot: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
