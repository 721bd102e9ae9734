"""dse report: figures, self-contained HTML, tables with units, graceful edge cases, CLI errors."""

from __future__ import annotations

import itertools
import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dse.report import analysis as an
from dse.report.html import build_report
from dse.search import pareto as search_pareto
from dse.search.spec import load_study
from dse.search.study import run_study
from dse.search.tables import write_tables

ROOT = Path(__file__).resolve().parents[1]

STUDY = """
name = "{name}"
node_nm = 16
{workloads}
[space]
cores = [1, 64]
rows = [8, 128]
cols = [8, 128]
clock_ghz = [0.4, 1.5]
precision = "int8"
sram_mb = [1, 64]
dram_type = ["LPDDR4", "LPDDR4X", "LPDDR5", "LPDDR5X"]
dram_channels = [1, 8]
noc = ["bus", "ring", "mesh", "crossbar"]
noc_width_bits = [64, 1024]
winograd = [false, true]
lowering = "im2col"

[budgets]
area_mm2 = {area}
power_w = 10

[[objectives]]
metric = "throughput"
workload = "yolov3@416x416"

[[objectives]]
metric = "area"

[[objectives]]
metric = "power"
workload = "yolov3@416x416"

[search]
sampler = "nsga2"
trials = {trials}
population = 32
seed = 1

[execution]
executor = "local"
"""
YOLO = '[[workloads]]\nname = "yolov3@416x416"\nbatch = 1\n'
RESNET = '[[workloads]]\nname = "resnet50"\nbatch = 1\n'


def make_results(tmp: Path, name: str, workloads: str, area: float = 100, trials: int = 96) -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(STUDY.format(name=name, workloads=workloads, area=area, trials=trials))
    result = run_study(load_study(path), results_root=tmp / "results", executor="local", progress=False)
    write_tables(result.study, result.out_dir)
    return result.out_dir


@pytest.fixture(scope="module")
def two(tmp_path_factory) -> Path:
    """A real two-workload study (YOLOv3 at 416x416 + ResNet-50) and its report."""
    out = make_results(tmp_path_factory.mktemp("report"), "two", YOLO + RESNET)
    build_report(out)
    return out


def _valid_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_figure_is_png_and_svg(two):
    figs = two / "figures"
    stems = {p.stem for p in figs.glob("*.png")}
    for wl in ("yolov3_416x416", "resnet50_224x224"):
        assert {f"front_{wl}", f"layers_{wl}", f"roofline_{wl}"} <= stems
    assert {"pareto_parallel", "batch_sweep", "hypervolume", "proxy_yolov3_416x416_vs_resnet50_224x224"} <= stems
    assert stems == {p.stem for p in figs.glob("*.svg")}
    for stem in stems:
        assert _valid_png(figs / f"{stem}.png"), stem
        root = ET.parse(figs / f"{stem}.svg").getroot()
        assert root.tag.endswith("svg"), stem


def test_html_is_self_contained(two):
    """One file that opens offline: Plotly.js inline once, figures as data URIs, no external loads."""
    text = (two / "report.html").read_text()
    scripts = re.findall(r"<script([^>]*)>", text, flags=re.I)
    assert scripts and not any("src" in attrs.lower() for attrs in scripts)
    assert text.count("Plotly.newPlot=") + text.count("plotly.js v") >= 1
    bare = re.sub(r"<script[^>]*>.*?</script>", "", text, flags=re.S | re.I)
    srcs = re.findall(r"""src\s*=\s*["']?([^"' >]+)""", bare, flags=re.I)
    n_png = len(list((two / "figures").glob("*.png")))
    assert len(srcs) == n_png
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    bare = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", bare)
    assert not re.search(r"(https?:)?//[a-z0-9]", bare, flags=re.I)
    assert "<link" not in bare.lower()
    hrefs = re.findall(r"""href\s*=\s*["']([^"']+)""", bare)
    assert all(h.startswith("#") for h in hrefs)


def test_interactive_specs_are_valid_plotly(two):
    """The embedded figure specs pass Plotly's own validation; click data covers the front."""
    import json

    import plotly.graph_objects as go

    text = (two / "report.html").read_text()
    blocks = dict(re.findall(r'<script type="application/json" id="([^"]+)-data">(.*?)</script>', text, flags=re.S))
    assert {"x0", "x1", "pc"} <= set(blocks)
    pareto = pd.read_csv(two / "pareto.csv")
    for key in ("x0", "x1"):
        payload = json.loads(blocks[key])
        for fig in payload["figs"]:
            go.Figure(fig)  # raises on an invalid trace or layout property
        assert {str(t) for t in pareto["trial"]} <= set(payload["layers"]["designs"])
        one = next(iter(payload["layers"]["designs"].values()))
        assert len(one["t"]) == len(payload["layers"]["names"]) == len(one["b"])
    go.Figure(json.loads(blocks["pc"]))


def test_recommendation_first_feasible_and_on_the_front(two):
    import json

    summary = json.loads((two / "summary.json").read_text())
    rec = summary["recommendation"]
    pareto = pd.read_csv(two / "pareto.csv")
    trials = pd.read_csv(two / "trials.csv")
    row = trials[trials["trial"] == rec["trial"]].iloc[0]
    assert bool(row["feasible"]) and rec["trial"] in set(pareto["trial"])
    assert set(rec["objectives"]) == {o["column"] for o in summary["objectives"]}
    assert rec["params"]["cores"] == row["cores"] and "knee" in rec["reason"]
    for alt in rec["alternatives"]:
        assert alt["trial"] in set(pareto["trial"]) and alt["trial"] != rec["trial"]
    assert set(rec["bound_shares"]) == {"yolov3@416x416", "resnet50@224x224"}
    for shares in rec["bound_shares"].values():
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-3)
    md = (two / "report.md").read_text()
    first = md.split("\n## ")[1]
    assert first.startswith("1. Recommendation") and f"Build trial {rec['trial']}:" in first
    html = (two / "report.html").read_text()
    h2 = re.findall(r"<h2 id=\"([^\"]+)\">", html)
    assert h2[0] == "recommendation"
    assert f"Build trial {rec['trial']}:" in html.split('<h2 id="recommendation">')[1].split("<h2")[0]


def test_no_best_statement_names_a_point_over_budget(two):
    """Batch advice and every "best" in summary.json and the report count only designs within budgets."""
    import json

    from dse.report.load import load_results

    r = load_results(two)
    front = an.pareto_front(r.trials, r.objectives, r.directions)
    chosen = an.choose_designs(front, r.objectives, r.directions, True)
    sweep = an.batch_sweep(r.spec, chosen, r.workloads, r.budgets)
    # a budget that the larger batches break: the unconstrained best batch is over it
    tight = {"power_w": float(np.median(sweep["power [W]"]))}
    swept = an.batch_sweep(r.spec, chosen, r.workloads, tight)
    assert not swept["within budgets"].all()
    best = an.best_batches(swept)
    unconstrained = swept.loc[swept.groupby(["workload", "design"])["throughput [inferences/s]"].idxmax()]
    assert (unconstrained["power [W]"] > tight["power_w"]).any()  # without budgets the advice would be wrong
    assert best["best batch"].notna().any()
    for _, b in best.iterrows():
        if pd.isna(b["best batch"]):
            continue
        at = swept[(swept["workload"] == b["workload"]) & (swept["design"] == b["design"])
                   & (swept["batch"] == b["best batch"])].iloc[0]
        assert at["power [W]"] <= tight["power_w"]
    # the report's own batch advice, against the study's budgets
    md = (two / "report.md").read_text()
    for wl, design, trial, batch in re.findall(r"- (\S+), (.+?) \(trial (\d+)\): best within the budgets at batch (\d+)", md):
        at = sweep[(sweep["workload"] == wl) & (sweep["trial"] == int(trial)) & (sweep["batch"] == int(batch))]
        assert len(at) == 1 and bool(at["within budgets"].iloc[0]), (wl, design, batch)
    feasible = set(r.feasible["trial"])
    summary = json.loads((two / "summary.json").read_text())
    assert all(b["trial"] in feasible for b in summary["best"].values())
    assert summary["recommendation"]["trial"] in feasible
    for t in re.findall(r"fastest design on \S+ \(trial (\d+)\)", md) + re.findall(r"\(trial (\d+)\)\.", md):
        assert int(t) in feasible


def test_tables_carry_units(two):
    md = (two / "report.md").read_text()
    html = (two / "report.html").read_text()
    for header in ("area [mm^2]", "throughput on yolov3@416x416 [inferences/s]", "latency on yolov3@416x416 [ms]",
                   "energy on resnet50@224x224 [mJ/inference]", "power on yolov3@416x416 [W]",
                   "DRAM traffic on yolov3@416x416 [MB/inference]", "clock [GHz]", "SRAM [MiB]",
                   "regret [%]", "batch 64 [inferences/s]"):
        assert header in md, header
        assert header.replace("&", "&amp;") in html, header
    assert "Kendall tau" in md and "Spearman rho" in md


def test_infeasible_study_reports_instead_of_crashing(tmp_path):
    out = make_results(tmp_path, "tight", YOLO, area=0.01, trials=32)
    html = build_report(out).read_text()
    assert "no feasible design" in html
    assert {p.stem for p in (out / "figures").glob("*.png")} == {"front_yolov3_416x416"}
    assert (out / "report.md").exists()


@pytest.mark.parametrize("case", ["missing", "empty", "corrupt", "file"])
def test_cli_errors_are_one_line_exit_2(tmp_path, case):
    path = tmp_path / "results" / "x"
    if case != "missing":
        path.parent.mkdir(parents=True)
    if case == "empty":
        path.mkdir()
    elif case == "corrupt":
        path.mkdir()
        (path / "study.journal").write_text('{"op_code": 0, "study_name": "x"\nnot json at all\n')
    elif case == "file":
        path.write_text("hello")
    proc = subprocess.run([sys.executable, "-m", "dse.cli.main", "report", str(path)], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dse: error:") and str(path) in lines[0], proc.stderr
    assert not (path / "report.html").exists() if path.is_dir() else True


# --- analysis helpers ---------------------------------------------------------------------

def _kendall_brute(x, y):
    c = d = tx = ty = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
        if sx == 0 and sy == 0:
            continue
        if sx == 0:
            tx += 1
        elif sy == 0:
            ty += 1
        elif sx == sy:
            c += 1
        else:
            d += 1
    return (c - d) / math.sqrt((c + d + tx) * (c + d + ty))


def test_rank_correlations_match_definitions():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 8, 60).astype(float)
    y = x + rng.integers(-3, 4, 60)
    assert an.kendall_tau(x, y, block=7) == pytest.approx(_kendall_brute(x, y), abs=1e-12)
    assert an.kendall_tau(x, x) == pytest.approx(1.0)
    assert an.kendall_tau(x, -x) == pytest.approx(-1.0)
    assert an.spearman_rho(np.arange(10.0), np.exp(np.arange(10.0))) == pytest.approx(1.0)
    ranks = lambda v: np.argsort(np.argsort(v)).astype(float)  # noqa: E731 (no ties below)
    a, b = rng.normal(size=40), rng.normal(size=40)
    assert an.spearman_rho(a, b) == pytest.approx(np.corrcoef(ranks(a), ranks(b))[0, 1])


def test_pareto_knee_hypervolume():
    losses = np.array([[0.0, 1.0], [0.4, 0.4], [1.0, 0.0], [0.6, 0.6], [0.4, 0.4]])
    assert an.pareto_mask(losses).tolist() == [True, True, True, False, True]
    assert an.knee_index(losses[:3]) == 1
    # union of boxes up to (1, 1): only the middle point adds area 0.6 * 0.6
    assert an.hypervolume(losses[:3], np.array([1.0, 1.0])) == pytest.approx(0.36)
    hist = an.hypervolume_history(np.arange(5), losses, np.array([True, True, True, True, False]))
    assert np.all(np.diff(hist["hypervolume"].to_numpy()) >= -1e-12)
    assert an.unit_of("yolov3@416x416:latency_s") == ("latency on yolov3@416x416", "ms", 1e3)
    assert an.header("resnet50@224x224:dram_bytes") == "DRAM traffic on resnet50@224x224 [MB/inference]"


def test_streamed_hypervolume_history_matches_the_in_memory_one():
    """A vectorized study's table is read in batches: the history is the same however the stream
    is cut (batches shorter and longer than the gap between checkpoints) as in one piece (the
    in-memory hypervolume_history), and infeasible rows never count."""
    rng = np.random.default_rng(3)
    losses = rng.random((997, 3))
    feasible = rng.random(997) < 0.8
    bounds = search_pareto.objective_bounds(losses[feasible])
    whole = an.hypervolume_history(np.arange(997), losses, feasible, points=40)
    for size in (1, 7, 50, 400, 997):
        batches = ((losses[i:i + size], feasible[i:i + size]) for i in range(0, 997, size))
        streamed = an.hypervolume_history_stream(batches, 997, bounds, points=40)
        assert streamed["trials"].tolist() == whole["trials"].tolist()
        np.testing.assert_allclose(streamed["hypervolume"], whole["hypervolume"], rtol=1e-12)
    none = an.hypervolume_history_stream(iter([(losses, np.zeros(997, bool))]), 997, bounds, points=5)
    assert (none["hypervolume"] == 0).all()


def test_spread_subset_keeps_the_chosen_designs_and_covers_the_front():
    rng = np.random.default_rng(5)
    pts = rng.dirichlet(np.ones(3), 600)  # every point on the (minimization) front
    front = pd.DataFrame(pts, columns=["a", "b", "c"], index=np.arange(600) + 1000)
    directions = ["minimize"] * 3
    assert an.spread_subset(front, ["a", "b", "c"], directions, 600) is front  # under the cap: all of it
    keep = [1000 + int(np.argmin(pts[:, j])) for j in range(3)] + [1007]
    sub = an.spread_subset(front, ["a", "b", "c"], directions, 50, keep=keep)
    assert len(sub) == 50 and sub.index.is_unique and set(keep) <= set(sub.index)
    assert list(sub.index) == sorted(sub.index)  # front order kept
    assert sub.equals(an.spread_subset(front, ["a", "b", "c"], directions, 50, keep=keep))  # deterministic
    # an even spread: every front point lies near a picked one (a random 50 leaves wider gaps)
    def gap(idx):
        d = ((pts[:, None, :] - front.loc[idx].to_numpy()[None]) ** 2).sum(axis=2)
        return float(np.sqrt(d.min(axis=1)).max())

    random_gaps = [gap(rng.choice(front.index, 50, replace=False)) for _ in range(20)]
    assert gap(sub.index) < min(random_gaps)
    # maximized objectives count as their negation; duplicates are picked last
    twice = pd.concat([front, front.set_axis(front.index + 1000)])
    sub2 = an.spread_subset(twice.assign(a=-twice["a"]), ["a", "b", "c"], ["maximize", "minimize", "minimize"],
                            600, keep=[1000])
    assert len(sub2) == 600 and set(sub2.index) == set(front.index)


def test_report_units_come_from_the_metric_registry_and_the_parameter_declaration():
    from dse.hardware.space import PARAMETERS
    from dse.model.metrics import METRICS, column_name

    for m in METRICS:
        col = column_name(m, "w@8x8" if m.per_workload else None)
        if m.column in {p.name for p in PARAMETERS}:
            continue  # batch and dram_channels are parameters first (same unit)
        label, unit, factor = an.unit_of(col)
        assert (unit, factor) == (m.display_unit, m.display_factor)
        assert an.header(col) == m.header("w@8x8" if m.per_workload else None)
        assert an.header(col, short=True) == m.header()
    for p in PARAMETERS:
        assert an.unit_of(p.name)[1] == p.unit
    assert an.header("cores") == "cores [tiles]"  # the report used to drop the declared unit
    assert an.with_unit("w:latency_s", 0.0125) == "12.5 ms"
    assert an.with_unit("precision", "int8") == "int8" and an.with_unit("winograd", True) == "yes"
    assert an.SWEEP_LATENCY == "latency [ms]" and an.SWEEP_THROUGHPUT == "throughput [inferences/s]"


# --- results folders: nothing redone when nothing changed; one storage per folder -------------

def _dse(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dse.cli.main", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """A finished one-workload study run through the CLI (tables, summary and report written)."""
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "s.toml").write_text(STUDY.format(name="s", workloads=YOLO, area=100, trials=32))
    proc = _dse("run", "s.toml", "--no-progress", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    return tmp


def test_rerun_of_a_finished_study_changes_nothing(small):
    import json

    out = small / "results" / "s"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["storage"] == "study.journal (in the results folder)" and summary["storage_state"]
    before = {f: (out / f).stat().st_mtime_ns for f in ("study.journal", "report.html", "trials.parquet")}
    proc = _dse("run", "s.toml", "--no-progress", cwd=small)
    assert proc.returncode == 0 and "32 trials" in proc.stdout, proc.stderr
    assert {f: (out / f).stat().st_mtime_ns for f in before} == before  # no replay, no redraw, no rewrite
    proc = _dse("report", str(out), cwd=small)
    assert proc.returncode == 0 and "unchanged" in proc.stdout
    assert (out / "report.html").stat().st_mtime_ns == before["report.html"]
    # a changed study file (more trials) is not "unchanged": the run resumes
    proc = _dse("run", "s.toml", "--no-progress", "--trials", "40", cwd=small)
    assert proc.returncode == 0 and "40 trials" in proc.stdout, proc.stderr
    assert (out / "report.html").stat().st_mtime_ns != before["report.html"]
    proc = _dse("report", str(out), "--force", cwd=small)
    assert proc.returncode == 0 and "unchanged" not in proc.stdout


def test_another_storage_does_not_overwrite_the_folder(small):
    import json

    import optuna

    out = small / "results" / "s"
    before = (out / "pareto.csv").read_bytes()
    proc = _dse("run", "s.toml", "--no-progress", "--storage", f"sqlite:///{small / 'other.db'}", cwd=small)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "holds the tables of the study in study.journal" in proc.stderr
    assert (out / "pareto.csv").read_bytes() == before and not (small / "other.db").exists()
    # a separate folder for the other storage; its report reads that storage and agrees with its tables
    db = small / "other.db"
    proc = _dse("run", "s.toml", "--no-progress", "--storage", f"sqlite:///{db}", "--results", "res2", "--no-report",
                cwd=small)
    assert proc.returncode == 0, proc.stderr
    out2 = small / "res2" / "s"
    proc = _dse("report", str(out2), "--storage", f"sqlite:///{db}", cwd=small)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out2 / "summary.json").read_text())
    assert summary["storage"] == f"sqlite:///{db.resolve()}"
    assert summary["recommendation"]["trial"] in set(pd.read_csv(out2 / "pareto.csv")["trial"])
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{db}")
    assert study.metric_names == [o["column"] for o in summary["objectives"]]  # optuna-dashboard labels
    proc = _dse("report", str(out2), "--storage", f"sqlite:///{small / 'third.db'}", cwd=small)
    assert proc.returncode == 2 and "--storage" in proc.stderr


# --- depth-first fusion: does the front rely on it? ---------------------------------------------

OBJ_WL = "yolov3@416x416"


def _stacks_of(lay: pd.DataFrame) -> list[tuple[int, int, int]]:
    """(first layer, last layer, bands) of each run of equal non-negative ``stack`` values."""
    runs: list[list[int]] = []
    prev = -1
    for layer, sid, bands in zip(lay["layer"], lay["stack"], lay["bands"]):
        if sid >= 0 and sid == prev:
            runs[-1][1] = int(layer)
        elif sid >= 0:
            runs.append([int(layer), int(layer), int(bands)])
        prev = sid
    return [tuple(r) for r in runs]


def _md_table(md: str, title: str) -> pd.DataFrame:
    """A table of report.md (after its ``### title``) as strings."""
    block = md.split(f"### {title}\n", 1)[1]
    lines = [ln for ln in block.split("\n## ")[0].split("\n### ")[0].splitlines() if ln.startswith("|")]
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    return pd.DataFrame(cells[2:], columns=cells[0])


def _rerun_stacks(r, trials: list[int], workload: str) -> dict[int, list[tuple[int, int, int]]]:
    """Stacks of trials re-evaluated with the model directly (not through the report)."""
    from dse.model.api import evaluate

    rows = [r.trials[r.trials["trial"] == t].iloc[0] for t in trials]
    designs, tech = an.design_batch(r.spec, rows)
    _, layers = evaluate(designs, workload, batch=1, technology=tech, per_layer=True)
    lay = next(iter(layers.values()))
    return {t: _stacks_of(lay[lay["design"] == i]) for i, t in enumerate(trials)}


def test_front_table_and_recommendation_say_whether_designs_rely_on_fusion(two):
    import json
    from html import escape

    from dse.report.load import load_results

    from dse.workloads.registry import load_workload

    n_layers = len(load_workload(OBJ_WL))
    col = f"{OBJ_WL}:fused_layers"
    pareto = pd.read_csv(two / "pareto.csv")
    trials = pd.read_csv(two / "trials.csv")
    stored = dict(zip(trials["trial"], trials[col]))
    # the Pareto table: one fusion cell per design, as stored
    md = (two / "report.md").read_text()
    table = _md_table(md, "Pareto designs")
    head = f"fused layers on {OBJ_WL}"
    assert head in table.columns and len(table) == len(pareto)
    for trial, cell in zip(table["trial"].astype(int), table[head]):
        n = int(stored[trial])
        assert cell == ("layer by layer" if n == 0 else f"fused: {n} of {n_layers}"), (trial, cell)
    # the sentence, in report.md, report.html and summary.json
    rec = json.loads((two / "summary.json").read_text())["recommendation"]
    fusion = rec["fusion"][OBJ_WL]
    n_rec = int(stored[rec["trial"]])
    front_fused = int((pareto[col] > 0).sum())
    assert fusion["recorded"] and fusion["fused_layers"] == n_rec and fusion["layers"] == n_layers
    assert (fusion["front_designs"], fusion["front_recorded"], fusion["front_fused"]) == (
        len(pareto), len(pareto), front_fused)
    share = f"{100 * front_fused / len(pareto):.0f}% of the front's designs ({front_fused} of {len(pareto)}) rely on fusion"
    assert share in fusion["text"]
    if n_rec:
        stacks = _rerun_stacks(load_results(two), [rec["trial"]], OBJ_WL)[rec["trial"]]
        assert sum(b - a + 1 for a, b, _ in stacks) == n_rec  # the model today agrees with the stored trial
        k = len(stacks)
        assert fusion["text"].startswith(f"The recommended design runs {n_rec} of {n_layers} {OBJ_WL} layers "
                                         f"depth-first in {k} stack{'s' if k != 1 else ''}; ")
        assert [(s["layers"], s["bands"]) for s in fusion["stacks"]] == [(b - a + 1, bands) for a, b, bands in stacks]
        assert f"It relies on depth-first fusion on {OBJ_WL} ({n_rec} of {n_layers} layers" in md
    else:
        assert fusion["text"].startswith(f"The recommended design runs {OBJ_WL} layer by layer")
    answer = md.split("## 1. Recommendation", 1)[1].split("\n## ")[0]
    assert fusion["text"] in answer
    html = (two / "report.html").read_text()
    assert escape(fusion["text"]) in html.split('<h2 id="recommendation">')[1].split("<h2")[0]
    # the other workload is recorded too (no sentence: it is no objective)
    assert "text" not in rec["fusion"]["resnet50@224x224"]


def test_per_layer_figures_mark_the_fused_stacks(two):
    """Static figure: one shaded span per stack of each analysed design (SVG ids carry the bands);
    interactive view: every front design's stacks. Both as the model gives them today."""
    import json

    from dse.report.load import load_results

    r = load_results(two)
    front = an.pareto_front(r.trials, r.objectives, r.directions)
    chosen = an.choose_designs(front, r.objectives, r.directions, True)
    expected = _rerun_stacks(r, [c.trial for c in chosen], OBJ_WL)
    assert any(expected.values()), "the analysed designs should include one that fuses"
    svg = (two / "figures" / "layers_yolov3_416x416.svg").read_text()
    spans = re.findall(r'id="fused_stack_t(\d+)_(\d+)_bands(\d+)"', svg)
    for trial, stacks in expected.items():
        mine = sorted((int(k), int(b)) for t, k, b in spans if int(t) == trial)
        assert mine == [(k, bands) for k, (_, _, bands) in enumerate(stacks, start=1)], trial
    text = (two / "report.html").read_text()
    payload = json.loads(re.search(r'<script type="application/json" id="x0-data">(.*?)</script>', text,
                                   flags=re.S).group(1))
    assert payload["workload"] == OBJ_WL
    designs = payload["layers"]["designs"]
    pareto = pd.read_csv(two / "pareto.csv")
    again = _rerun_stacks(r, [int(t) for t in pareto["trial"]], OBJ_WL)
    for trial, stacks in again.items():
        got = designs[str(trial)]["s"]
        assert [(a, b, bands) for a, b, bands, _ in got] == stacks, trial
        n_fused = sum(b - a + 1 for a, b, _ in stacks)
        assert n_fused == int(pareto.loc[pareto["trial"] == trial, f"{OBJ_WL}:fused_layers"].iloc[0])
    assert "depth-first stack" in text and "fusedShades" in text


def test_a_study_stored_before_fusion_still_reports(two, tmp_path):
    """Old trials tables have no LABEL:fused_layers column: the report builds and says "not recorded"."""
    import json
    import shutil

    old = tmp_path / "old"
    shutil.copytree(two, old)
    (old / "study.journal").unlink()  # the trials table is the only source, as for an old study
    table = pd.read_parquet(old / "trials.parquet")
    dropped = [c for c in table.columns if c.endswith((":fused_layers", ":dram_weight_bytes",
                                                         ":dram_activation_bytes"))]
    assert dropped
    table.drop(columns=dropped).to_parquet(old / "trials.parquet")
    build_report(old)
    md = (old / "report.md").read_text()
    table = _md_table(md, "Pareto designs")
    assert set(table[f"fused layers on {OBJ_WL}"]) == {"not recorded"}
    rec = json.loads((old / "summary.json").read_text())["recommendation"]
    assert rec["fusion"][OBJ_WL]["recorded"] is False and rec["fusion"][OBJ_WL]["front_recorded"] == 0
    assert f"Whether the designs run {OBJ_WL} depth-first (layer fusion) is not recorded" in md
    assert "relies on depth-first fusion" not in md
