"""Area/energy model against published chips, and its vectorized behaviour."""


import numpy as np
import pytest

from dse.errors import UserError
from dse.hardware import space
from dse.hardware.designs import DesignBatch, grid
from dse.hardware.physical import area_breakdown_frame, derive
from dse.hardware.presets import PRESETS, load_preset
from dse.hardware.technology import load_technology

PUBLISHED_DIE_MM2 = {"tpu_v1": 331.0, "inferx_x1": 54.0}  # chips.csv (TPU v1: < 331 mm^2)


@pytest.mark.parametrize("name", sorted(PUBLISHED_DIE_MM2))
def test_preset_die_area_within_25_percent_of_published(name):
    designs, tech = load_preset(name)
    area = derive(designs, tech).area_mm2[0]
    assert area == pytest.approx(PUBLISHED_DIE_MM2[name], rel=0.25)


def test_presets_load_and_match_their_chip_specs():
    assert set(PRESETS) == {"t4", "inferx_x1", "tpu_v1", "tesla_fsd", "jetson_agx_xavier"}
    peak_tops = {"t4": 130, "inferx_x1": 8.74, "tpu_v1": 92, "tesla_fsd": 73.7 / 2, "jetson_agx_xavier": 22.6}
    dram_gb_s = {"t4": 320, "inferx_x1": 17.06, "tpu_v1": 34.1, "tesla_fsd": 68.3, "jetson_agx_xavier": 136.5}
    for name in PRESETS:
        designs, tech = load_preset(name)
        hw = derive(designs, tech)
        assert len(designs) == 1
        assert 2 * hw.peak_macs_per_s[0] / 1e12 == pytest.approx(peak_tops[name], rel=0.03), name
        peak_dram = hw.dram_peak_bw_bytes_per_s[0] / 1e9
        assert peak_dram == pytest.approx(dram_gb_s[name], rel=0.02), name
    designs, tech = load_preset("t4")
    assert derive(designs, tech).layer_overhead_s[0] > 0
    designs, tech = load_preset("inferx_x1")
    # 8 MB L2/L3 for activations + 5 MB L1 weight buffers (vendor brochure: 13 MB in total)
    assert designs.winograd[0] and designs.to_params()[0]["sram_mb"] == 13.0
    assert tech.value("weight_buffer_fraction") == pytest.approx(5 / 13, rel=0.01)
    with pytest.raises(UserError, match=r"not a preset \(allowed: inferx_x1, jetson_agx_xavier, t4"):
        load_preset("h100")


def test_derive_is_vectorized_and_consistent():
    g = grid({"cores": [1, 8], "rows": [4, 256], "precision": list(space.PRECISIONS),
                    "dram_type": list(space.DRAM_TYPES), "dram_channels": [1, 2], "noc": list(space.NOCS),
                    "sram_mb": [0.25, 256]}, 7)
    hw = derive(g, load_technology(7))
    assert len(hw) == len(g) > 10_000
    parts = hw.area_mac_mm2 + hw.area_sram_mm2 + hw.area_local_mm2 + hw.area_dram_phy_mm2 + hw.area_noc_mm2 + hw.area_overhead_mm2
    np.testing.assert_allclose(parts, hw.area_mm2)
    for name in ("area_mm2", "static_power_w", "e_mac_j", "e_sram_read_j_per_byte", "e_dram_j_per_byte",
                 "e_noc_j_per_byte", "sram_bw_bytes_per_s", "dram_bw_bytes_per_s", "noc_bw_bytes_per_s"):
        arr = getattr(hw, name)
        assert arr.dtype == np.float64 and arr.shape == (len(g),) and np.isfinite(arr).all() and (arr > 0).all(), name
    np.testing.assert_allclose(hw.peak_macs_per_s, hw.macs_per_cycle * hw.clock_hz)
    assert set(np.unique(hw.bytes_per_element)) == {1.0, 2.0, 4.0}
    np.testing.assert_allclose(hw.e_sram_write_j_per_byte / hw.e_sram_read_j_per_byte, 1.5)
    # the same design evaluated alone gives the same numbers (no cross-design coupling)
    one = derive(g.take([123]), load_technology(7))
    assert one.area_mm2[0] == hw.area_mm2[123] and one.e_noc_j_per_byte[0] == hw.e_noc_j_per_byte[123]


def test_physical_trends():
    tech = load_technology(16)
    base = DesignBatch.from_columns({"sram_mb": [1.0, 4.0, 16.0, 64.0]}, 16)
    hw = derive(base, tech)
    assert np.all(np.diff(hw.area_sram_mm2) > 0) and np.all(np.diff(hw.static_power_w) > 0)
    assert np.all(np.diff(hw.e_sram_read_j_per_byte) >= 0)  # bigger banks up to the max bank size
    assert np.all(np.diff(hw.sram_bw_bytes_per_s) == 0)     # capacity and bandwidth are independent
    # bandwidth is a choice with a price: more ports -> smaller banks -> more periphery area,
    # less energy per access; the bandwidth is exactly bytes per cycle x clock
    bw = DesignBatch.from_columns({"sram_mb": 2.0, "sram_bw_bytes_per_cycle": [64, 512, 4096]}, 16)
    hb = derive(bw, tech)
    np.testing.assert_allclose(hb.sram_bw_bytes_per_s, np.array([64, 512, 4096]) * 1e9)
    assert np.all(np.diff(hb.area_sram_mm2) > 0) and np.all(np.diff(hb.e_sram_read_j_per_byte) < 0)
    assert hb.sram_banks.tolist() == [8, 32, 256]
    # local buffers: area and leakage per core, none without them
    loc = derive(DesignBatch.from_columns({"local_kib": [0, 64, 256], "cores": 4}, 16), tech)
    assert loc.area_local_mm2[0] == 0 and loc.e_local_read_j_per_byte[0] == 0
    assert 0 < loc.area_local_mm2[1] < loc.area_local_mm2[2] and loc.static_power_w[2] > loc.static_power_w[0]
    # 4 x 256 KiB = 1 MiB in full-size macros costs exactly the catalog density
    assert loc.area_local_mm2[2] == pytest.approx(tech.value("sram_area_per_mib"))
    hbm = DesignBatch.from_columns({"dram_type": ["LPDDR4", "HBM3"], "dram_channels": [1, 1]}, 16)
    h = derive(hbm, tech)
    assert h.dram_bw_bytes_per_s[1] > 10 * h.dram_bw_bytes_per_s[0]
    assert h.area_dram_phy_mm2[1] > h.area_dram_phy_mm2[0]
    assert h.e_dram_j_per_byte[1] == pytest.approx(8 * 4.05e-12)
    nocs = DesignBatch.from_columns({"noc": list(space.NOCS), "cores": 64}, 16)
    n = derive(nocs, tech)
    bus, ring, mesh, xbar = n.noc_bw_bytes_per_s
    assert bus < ring < mesh < xbar      # parallel links grow from bus to crossbar
    wide = derive(nocs.with_values(noc_width_bits=1024), tech)
    assert np.all(wide.area_noc_mm2 > n.area_noc_mm2) and np.all(wide.noc_bw_bytes_per_s > n.noc_bw_bytes_per_s)
    few = derive(nocs.with_values(cores=4), tech)
    assert np.all(few.area_noc_mm2[1:] < n.area_noc_mm2[1:])  # fewer endpoints, smaller fabric
    # the precision rate factor of a preset-style override
    slow = derive(DesignBatch.from_columns({"precision": "bf16"}, 16), load_technology(16, {"mac_rate_bf16": 0.5}))
    fast = derive(DesignBatch.from_columns({"precision": "bf16"}, 16), tech)
    assert slow.macs_per_cycle[0] * 2 == fast.macs_per_cycle[0]
    assert slow.area_mac_mm2[0] == fast.area_mac_mm2[0]


def test_area_breakdown_frame():
    designs, tech = load_preset("tpu_v1")
    frame = area_breakdown_frame(derive(designs, tech))
    assert list(frame.columns) == ["mac_mm2", "sram_mm2", "local_mm2", "dram_phy_mm2", "noc_mm2", "overhead_mm2", "total_mm2",
                                   "static_power_w"]
    assert frame.loc[0, "total_mm2"] == pytest.approx(frame.iloc[0, :6].sum())
