"""`dse evaluate` through a subprocess, as a user runs it."""

import json
import sys
import subprocess


def dse(*args):
    return subprocess.run([sys.executable, "-m", "dse.cli.main", *args], capture_output=True, text=True, timeout=60)


def test_evaluate_preset_area_only_text_and_json():
    out = dse("evaluate", "--preset", "tpu_v1", "--area-only")
    assert out.returncode == 0, out.stderr
    for word in ("mac", "sram", "dram_phy", "noc", "overhead", "total", "mm^2", "static power", " W"):
        assert word in out.stdout
    out = dse("evaluate", "--preset", "tpu_v1", "--area-only", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert 248 < doc["area_mm2"]["total"] < 414
    assert doc["static_power_w"]["total"] > 0 and doc["design"]["node_nm"] == 28


def test_evaluate_design_file_and_catalog(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text('[design]\nnode_nm = 7\ncores = 8\ndram_type = "HBM3"\ndram_channels = 2\n')
    out = dse("evaluate", "--design", str(path), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["design"]["dram_type"] == "HBM3"
    out = dse("evaluate", "--design", str(path), "--catalog")
    assert out.returncode == 0 and "sram_area_per_mib" in out.stdout and "mm2/MiB" in out.stdout


def test_out_of_domain_designs_exit_2_with_one_line(tmp_path):
    cases = {
        'rows = 0': "design.rows: 0 is below the minimum 4",
        'sram_mb = -1': "design.sram_mb: -1 is below the minimum 0.25",
        'dram_type = "DDR9"': "design.dram_type: 'DDR9' is not allowed (allowed: LPDDR4",
        'dram_type = "HBM3"\ndram_channels = 3': "design.dram_channels: 3 not allowed for HBM3 (allowed: 1, 2, 4",
    }
    for i, (body, message) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.toml"
        path.write_text(f"[design]\nnode_nm = 16\n{body}\n")
        out = dse("evaluate", "--design", str(path), "--area-only")
        assert out.returncode == 2
        assert out.stderr.count("\n") == 1 and message in out.stderr and "Traceback" not in out.stderr
    out = dse("evaluate", "--preset", "h100")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "allowed: inferx_x1" in out.stderr
    out = dse("evaluate", "--design", str(tmp_path / "missing.toml"))
    assert out.returncode == 2 and "no such design file" in out.stderr


def test_evaluate_json_is_si_with_units_in_keys():
    out = dse("evaluate", "--preset", "t4", "--workload", "resnet50", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    keys = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                keys.append(k)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    assert not [k for k in keys if k.endswith(("_ms", "_mj", "_mb", "_us", "_ghz"))]
    summary = doc["workloads"][0]["summary"]
    assert 0 < summary["latency_s"] < 0.1 and summary["dram_bytes"] > 1e6
    layer = doc["workloads"][0]["layers"][0]
    assert "time_s" in layer and "dram_bytes" in layer
    assert doc["design"]["clock_hz"] == 1.59e9


def test_sram_capacity_and_bandwidth_are_independent(tmp_path):
    """Two designs that differ only in sram_mb report the same SRAM bandwidth; the bandwidth
    parameter sets it (bytes per cycle x clock); per-layer rows carry the array's compute cycles."""
    docs = {}
    for name, body in {"small": "sram_mb = 2", "large": "sram_mb = 64",
                       "wide": "sram_mb = 2\nsram_bw_bytes_per_cycle = 2048"}.items():
        path = tmp_path / f"{name}.toml"
        path.write_text(f"[design]\nnode_nm = 16\nclock_ghz = 1.5\n{body}\n")
        out = dse("evaluate", "--design", str(path), "--area-only", "--json")
        assert out.returncode == 0, out.stderr
        docs[name] = json.loads(out.stdout)
    assert docs["small"]["sram_bw_bytes_per_s"] == docs["large"]["sram_bw_bytes_per_s"] == 512 * 1.5e9
    assert docs["wide"]["sram_bw_bytes_per_s"] == 2048 * 1.5e9
    assert docs["wide"]["area_mm2"]["sram"] > docs["small"]["area_mm2"]["sram"]
    out = dse("evaluate", "--design", str(tmp_path / "small.toml"), "--workload", "resnet50", "--json")
    assert out.returncode == 0, out.stderr
    layers = json.loads(out.stdout)["workloads"][0]["layers"]
    assert all(row["compute_cycles"] > 0 for row in layers)
    assert all(row["cycles"] >= row["compute_cycles"] for row in layers)
