"""The `dse` command as a newcomer meets it: fast help, honest exit codes, names in any case,
workloads named the same way everywhere, nothing left behind by a rejected run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dse.cli.validate_cmd import passed

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("optuna", "ray", "pandas", "matplotlib")
SUBCOMMANDS = ("workloads", "evaluate", "validate", "run", "report")


def imported_modules(*args: str) -> set[str]:
    """Top-level packages imported by `python -X importtime -m dse.cli.main ARGS`."""
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "dse.cli.main", *args],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    names = set()
    for line in res.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "argparse" in names  # the probe sees imports at all
    return names


@pytest.mark.parametrize("sub", ("", *SUBCOMMANDS))
def test_help_imports_no_heavy_package(sub):
    names = imported_modules(*([sub] if sub else []), "--help")
    assert not names & set(HEAVY), sorted(names & set(HEAVY))


def test_names_are_case_insensitive(cli):
    out = cli("evaluate", "--preset", "T4", "--workload", "ResNet50@224X224", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["workloads"][0]["summary"]["workload"] == "resnet50@224x224"
    out = cli("workloads", "yolov3@1920X1088", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["workload"] == "yolov3@1920x1088"


def test_evaluate_takes_an_onnx_workload_as_study_files_do(cli, tmp_path):
    pytest.importorskip("onnx")
    rel = Path("examples") / "mobilenet_v2.onnx"
    res = subprocess.run([sys.executable, "-m", "dse.cli.main", "evaluate", "--design", "examples/my_chip.toml",
                          "--workload", f"{rel}@320x320", "--json"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)["workloads"][0]["summary"]
    assert summary["workload"].endswith("@320x320") and summary["throughput_ips"] > 0
    bad = cli("evaluate", "--preset", "t4", "--workload", str(tmp_path / "missing.onnx@64x64"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


@pytest.mark.parametrize("flags", [("--storage", "bogus://x"), ("--storage", "sqlite:////nonexistent/dir/s.db")])
def test_a_rejected_run_leaves_no_results_folder(cli, small_study, tmp_path, flags):
    results = tmp_path / "results"
    res = cli("run", str(small_study(trials=8, population=8)), "--results", str(results), "--no-progress", *flags)
    assert res.returncode == 2 and res.stderr.startswith("dse: error: --storage")
    assert not results.exists()


def test_no_design_met_the_budgets_is_one_line_and_exit_0(cli, small_study, tmp_path):
    study = small_study(trials=16, population=8, workload="resnet50")
    study.write_text(study.read_text().replace("area_mm2 = 100", "area_mm2 = 1"))
    res = cli("run", str(study), "--results", str(tmp_path / "r"), "--no-progress", "--no-report",
              "--executor", "local")
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stdout.splitlines() if "no design met the budgets" in ln]
    assert len(lines) == 1
    assert "smallest area" in lines[0] and "mm^2 (budget 1)" in lines[0] and "lowest power" in lines[0]


def test_validate_exit_code_follows_the_checks(cli):
    res = cli("validate", "--json")
    result = json.loads(res.stdout)
    assert res.returncode == (0 if passed(result) else 1)
    failing = json.loads(res.stdout)
    failing["summary"]["checks_passed"] = failing["summary"]["checks"] - 1
    assert not passed(failing)
    assert "preset" in cli("validate").stdout.splitlines()[1]


def test_readme_tour_files_exist():
    readme = (ROOT / "README.md").read_text()
    for path in ("examples/my_chip.toml", "examples/mobilenet_v2.onnx"):
        assert path in readme and (ROOT / path).is_file()


def test_study_names_are_case_insensitive(tmp_path):
    from dse.search.spec import parse_study

    spec = parse_study({"node_nm": 16, "workloads": [{"name": "YOLOv3@416X416"}], "space": {"cores": [1, 8]},
                        "objectives": [{"metric": "Throughput"}, {"metric": "AREA"}],
                        "search": {"sampler": "NSGA2"}, "execution": {"executor": "Local"}}, "s")
    assert (spec.sampler, spec.executor) == ("nsga2", "local")
    assert [o.column for o in spec.objectives] == ["yolov3@416x416:throughput_ips", "area_mm2"]


def _json_keys(node) -> list[str]:
    if isinstance(node, dict):
        return [k for k, v in node.items() for k in (k, *_json_keys(v))]
    if isinstance(node, list):
        return [k for v in node for k in _json_keys(v)]
    return []


def _stack_runs(lay) -> list[tuple[str, str, int, int]]:
    """(first name, last name, bands, tiles) of each run of equal non-negative ``stack`` values."""
    runs: list[list] = []
    prev = -1
    for name, sid, bands, tiles in zip(lay["name"], lay["stack"], lay["bands"], lay["tiles"]):
        if sid >= 0 and sid == prev:
            runs[-1][1] = name
        elif sid >= 0:
            runs.append([name, name, int(bands), int(tiles)])
        prev = sid
    return [tuple(r) for r in runs]


@pytest.mark.parametrize("preset, workload, schedule, fuses", [
    ("inferx_x1", "yolov3@1440x1440", None, True),  # megapixel activations on 13 MiB: fused stacks
    ("t4", "resnet50", "layer", False),  # layer by layer forced
    ("t4", "resnet50", None, None),  # whatever auto picks, the output agrees with the model
])
def test_evaluate_shows_the_schedule_stacks_and_the_dram_split(cli, preset, workload, schedule, fuses):
    from dse.hardware.presets import load_preset
    from dse.model.api import evaluate

    flags = ["--schedule", schedule.upper()] if schedule else []
    out = cli("evaluate", "--preset", preset, "--workload", workload, "--json", *flags)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert not [k for k in _json_keys(doc) if k.endswith(("_ms", "_mj", "_mb", "_us", "_ghz"))]
    rep = doc["workloads"][0]
    s, stacks = rep["summary"], rep["stacks"]

    designs, tech = load_preset(preset)
    if schedule:
        designs = designs.with_values(schedule=schedule)
    frame, layers = evaluate(designs, workload, technology=tech, per_layer=True)
    row, lay = frame.iloc[0], next(iter(layers.values()))
    for key in ("dram_bytes", "dram_activation_bytes", "dram_weight_bytes", "fused_layers", "throughput_ips"):
        assert s[key] == pytest.approx(float(row[key]), rel=1e-9), key
    assert s["dram_activation_bytes"] + s["dram_weight_bytes"] == pytest.approx(s["dram_bytes"], rel=1e-9)
    assert s["layers"] == len(lay)
    runs = _stack_runs(lay)
    assert [(st["first_layer"], st["last_layer"], st["bands"], st["tiles"]) for st in stacks] == runs
    assert sum(st["layers"] for st in stacks) == s["fused_layers"] == int((lay["stack"] >= 0).sum())
    if fuses is not None:
        assert (s["fused_layers"] > 0) == fuses
    if fuses:
        assert any(st["tiles"] > 1 for st in stacks)  # bands of rows, not whole images

    text = cli("evaluate", "--preset", preset, "--workload", workload, *flags).stdout
    mb = 1e-6
    assert (f"DRAM {s['dram_bytes'] * mb:.4g} MB/inference: activations {s['dram_activation_bytes'] * mb:.4g}, "
            f"weights {s['dram_weight_bytes'] * mb:.4g}") in text
    lines = text.splitlines()
    if s["fused_layers"] == 0:
        assert "  schedule: layer by layer" in lines and not stacks
    else:
        n = len(stacks)
        assert (f"  schedule: depth-first: {int(s['fused_layers'])} of {len(lay)} layers in {n} "
                f"stack{'s' if n != 1 else ''}") in lines
        for k, (first, last, bands, tiles) in enumerate(runs, start=1):
            line = next(ln for ln in lines if ln.startswith(f"    stack {k}: "))
            assert f"{first} .. {last}" in line and f"{bands} band" in line and f"{tiles} tile" in line
    assert f"schedule {schedule or 'auto'}, batch schedule auto" in lines[0]


def test_evaluate_schedule_flag_names_its_choices(cli):
    out = cli("evaluate", "--preset", "t4", "--workload", "resnet50", "--schedule", "depth")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "--schedule" in out.stderr and "auto, layer, fused" in out.stderr
