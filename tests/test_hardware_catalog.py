"""Technology catalog: every row has a unit and a source; node scaling; overrides."""

import math

import pytest

from dse.errors import UserError
from dse.hardware.physical import derive
from dse.hardware.designs import DesignBatch
from dse.hardware.technology import (
    SUPPORTED_NODES_NM, UNIT_TO_SI, VALID_TAGS, catalog_rows, dram_channel_table, load_technology,
    scale_to_node, sources,
)
from dse.hardware.space import DRAM_TYPES, PRECISIONS


def test_every_catalog_row_has_unit_source_tag_and_known_source_keys():
    rows = catalog_rows()
    known = set(sources())
    for _, row in rows.iterrows():
        assert row["unit"].strip(), f"{row['key']}: no unit"
        assert row["unit"] in UNIT_TO_SI, f"{row['key']}: unit {row['unit']!r} has no SI conversion"
        assert row["source"].strip(), f"{row['key']}: no source"
        assert row["tag"] in VALID_TAGS, f"{row['key']}: tag {row['tag']!r}"
        for key in row["source"].split(";"):
            assert key in known, f"{row['key']}: source key {key!r} not in catalog/sources.csv"
        assert math.isfinite(row["value_7nm"]) and row["value_7nm"] >= 0
        assert math.isfinite(row["value_16nm"]) and row["value_16nm"] >= 0
    for _, row in dram_channel_table().iterrows():
        assert row["unit"] and row["source"] and row["allowed_channels"]
        assert all(k in known for k in row["source"].split(";"))


def test_catalog_covers_every_precision_and_dram_type():
    tech = load_technology(7)
    for p in PRECISIONS:
        for field in ("mac_energy", "mac_area", "mac_rate"):
            assert tech.value(f"{field}_{p}") > 0
    assert len(DRAM_TYPES) == 13
    for t in DRAM_TYPES:
        for field in ("bw_per_channel", "bus_width", "energy_per_bit", "phy_energy_included", "phy_area",
                      "controller_area", "capacity_per_channel", "cost_per_gb", "efficiency"):
            tech.value(f"dram_{t.lower()}_{field}")
        assert 0.7 <= tech.value(f"dram_{t.lower()}_efficiency") <= 0.85
    for key in ("area_overhead_fraction", "logic_leakage_fraction", "power_density_limit", "layer_overhead_s",
                "mac_energy_calibration", "pe_area_overhead_factor", "sram_size_exponent"):
        tech.value(key)
    assert tech.value("layer_overhead_s") == 0  # accelerators: statically scheduled
    # global calibration factors (scripts/calibrate.py), the same at every node
    assert tech.value("mac_energy_calibration") == load_technology(16).value("mac_energy_calibration") > 1
    assert 0 < tech.value("mac_array_efficiency") <= 1


def test_sram_area_at_16nm_matches_flex_logix_within_15_percent():
    tech = load_technology(16)
    # 1 MB as Flex Logix quotes it, in full-size macros (4 banks of 256 KiB: 4 x 16 B per cycle)
    one_mb = DesignBatch.from_columns({"sram_mb": 1e6 / 2**20, "sram_bw_bytes_per_cycle": 64}, 16)
    area = derive(one_mb, tech).area_sram_mm2[0]
    assert area == pytest.approx(1.1, rel=0.15)


def test_node_scaling_hits_anchors_and_is_monotonic_for_logic():
    assert scale_to_node(30.0, 95.0, 7) == pytest.approx(30.0)
    assert scale_to_node(30.0, 95.0, 16) == pytest.approx(95.0)
    assert scale_to_node(8.0, 8.0, 28) == pytest.approx(8.0)  # node-independent row
    areas = [load_technology(n).value("mac_area_int8") for n in SUPPORTED_NODES_NM]
    assert areas == sorted(areas)  # 5 < 7 < 12 < 16 < 28 nm


def test_si_conversion():
    tech = load_technology(16)
    assert tech.value("mac_energy_int8") == pytest.approx(0.10e-12)          # pJ -> J
    assert tech.value("mac_area_int8") == pytest.approx(95e-6)               # um2 -> mm2
    assert tech.value("dram_gddr6_bw_per_channel") == pytest.approx(64e9)    # GB/s -> bytes/s
    assert tech.value("sram_max_bank_size") == 256 * 1024                    # KiB -> bytes
    table = tech.table()
    assert {"key", "value", "unit", "si_value", "si_unit", "tag", "source"} <= set(table.columns)


def test_overrides_apply_in_catalog_units_and_are_checked():
    tech = load_technology(16, {"mac_energy_int8": 0.2})
    assert tech.value("mac_energy_int8") == pytest.approx(0.2e-12)
    assert bool(tech.table().set_index("key").at["mac_energy_int8", "overridden"])
    with pytest.raises(UserError, match=r"^technology\.nope: unknown technology key"):
        load_technology(16, {"nope": 1.0})
    for bad in (-1.0, float("nan"), float("inf"), "x"):
        with pytest.raises(UserError, match=r"^technology\.sram_area_per_mib: "):
            load_technology(16, {"sram_area_per_mib": bad})
    with pytest.raises(UserError, match="technology.area_overhead_fraction"):
        load_technology(16, {"area_overhead_fraction": 1.0})


def test_unsupported_node_lists_allowed_nodes():
    with pytest.raises(UserError, match=r"node_nm: 10 nm is not supported \(allowed: 5, 7, 12, 16, 28\)"):
        load_technology(10)


def test_technology_pickles_small():
    import pickle

    tech = load_technology(12, {"layer_overhead_s": 5e-6})
    back = pickle.loads(pickle.dumps(tech))
    assert back.value("layer_overhead_s") == 5e-6 and back.node_nm == 12
    assert len(pickle.dumps(tech)) < 500
