"""Area, bandwidth, static power and per-event energies of a DesignBatch (vectorized).

Every output is a (D,) float64 array in SI units (areas in mm^2). Categorical parameters are
resolved by indexing small numpy tables (one entry per precision / DRAM type / topology) with the
design's code arrays; there is no Python loop over designs.

Area model (mm^2)
    area_mac      = cores * rows * cols * mac_area[precision] * pe_area_overhead_factor
    area_sram     = sram_MiB * sram_area_per_mib * macro_factor(bank size)
    area_local    = cores * local_MiB * sram_area_per_mib * macro_factor(local macro size)
    area_dram_phy = dram_channels * (phy_area[type] + controller_area[type])
    area_noc      = links + routers (see below)
    area_overhead = (sum of the above) * f / (1 - f),   f = area_overhead_fraction (of the die)
    area          = sum of all six

Global SRAM: capacity (``sram_mb``) and bandwidth (``sram_bw_bytes_per_cycle``) are chosen
independently. ports = ceil(bandwidth / sram_bank_port_width); banks = max(ports,
ceil(sram / sram_max_bank_size)); bank size = sram / banks; bandwidth = bytes per cycle * clock.
Read energy per byte = E_ref * (bank size / ref bank size) ^ sram_size_exponent (CACTI: larger
banks cost more per access); write = read * ratio. Many small banks cost area: a macro's periphery
(decoders, sense amplifiers, I/O) is a share ``p = sram_periphery_fraction`` of a
``sram_max_bank_size`` macro and grows as the square root of the macro's capacity, so

    macro_factor(C) = (1 - p) + p * sqrt(sram_max_bank_size / C)     (1 for full-size macros)

Local buffers: ``local_kib`` per core, macros of at most ``sram_max_bank_size``, the same density,
energy trend and leakage; their bandwidth is sized to feed the array (no time term).

DRAM: sustained bandwidth = channels * peak per channel * efficiency; energy per byte = 8 * energy
per bit (device + I/O, see the ``dram_*_phy_energy_included`` rows).

Interconnect with P = cores + dram_channels endpoints, link width W bits, clock f, placed on a
k x k grid (k = ceil(sqrt(P))) over a square of side s = sqrt(area_mac + area_sram) mm, tile pitch
s / k:

    topology  parallel links L     avg hops h (routers)    wire per byte      routers
    bus       1                    0                       s                  none
    ring      2P (P>2) / 2         P^2 / (4 (P-1))         h * s/k            P (3-port)
    mesh      4k(k-1)              2(k^2-1)/(3k)           h * s/k            k^2 (5-port)
    crossbar  P                    1                       s                  one P x P switch

    bandwidth = W/8 * f * L / max(h, 1) bytes/s (aggregate, uniform traffic)
    energy per byte = 8 * (wire_energy * wire length + router_energy * h)
    link area = links * W * wire_pitch * link length; router area = ref area * (ports*W)/(ref ports*ref W);
    crossbar area = (P * W * wire_pitch)^2.

Not modelled: Winograd transform hardware, DRAM PHY static power (no source), the area of caches'
tags (a GPU preset overrides the SRAM density instead).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from dse.hardware.designs import DesignBatch
from dse.hardware.space import BYTES_PER_MIB
from dse.hardware.space import DRAM_TYPES, NOCS, PRECISIONS
from dse.hardware.technology import BITS_PER_BYTE, Technology

#: Bytes per element of each precision (same order as PRECISIONS). A definition, not a constant.
BYTES_PER_ELEMENT = {"int8": 1, "int16": 2, "fp16": 2, "bf16": 2, "fp32": 4}
#: Ports of ring and mesh routers (local + neighbours).
RING_ROUTER_PORTS = 3
MESH_ROUTER_PORTS = 5
UM2_PER_MM2 = 1e6


@dataclass(frozen=True, eq=False)
class HardwareArrays:
    """Physical quantities of D designs; every field is a (D,) float64 array in SI units
    (areas in mm^2, powers in W, energies in J, bandwidths in bytes/s, times in s)."""

    macs_per_cycle: np.ndarray          # MACs per cycle: cores * rows * cols * precision rate
    clock_hz: np.ndarray
    peak_macs_per_s: np.ndarray
    bytes_per_element: np.ndarray       # 1 (int8), 2 (int16, fp16, bf16), 4 (fp32)
    sram_bytes: np.ndarray
    sram_banks: np.ndarray              # number of SRAM banks (macros)
    sram_bw_bytes_per_s: np.ndarray     # the design's bytes per cycle x clock
    local_bytes: np.ndarray             # local buffer per core
    e_local_read_j_per_byte: np.ndarray
    e_local_write_j_per_byte: np.ndarray
    dram_bw_bytes_per_s: np.ndarray     # sustained
    dram_peak_bw_bytes_per_s: np.ndarray
    noc_bw_bytes_per_s: np.ndarray
    e_mac_j: np.ndarray                 # per MAC, calibration factor applied
    e_sram_read_j_per_byte: np.ndarray
    e_sram_write_j_per_byte: np.ndarray
    e_dram_j_per_byte: np.ndarray
    e_noc_j_per_byte: np.ndarray
    static_power_w: np.ndarray          # SRAM leakage (logic leakage: logic_leakage_fraction x dynamic)
    logic_leakage_fraction: np.ndarray
    layer_overhead_s: np.ndarray
    weight_buffer_fraction: np.ndarray  # SRAM share for streamed weights when not resident
    array_efficiency: np.ndarray        # global calibration: sustained / ideal mapped MAC cycles
    area_mac_mm2: np.ndarray
    area_sram_mm2: np.ndarray
    area_local_mm2: np.ndarray
    area_dram_phy_mm2: np.ndarray
    area_noc_mm2: np.ndarray
    area_overhead_mm2: np.ndarray
    area_mm2: np.ndarray
    power_density_limit_w_per_mm2: np.ndarray

    def __len__(self) -> int:
        return int(self.area_mm2.shape[0])


def _table(tech: Technology, pattern: str, names) -> np.ndarray:
    """Small lookup table: tech.value(pattern.format(name)) for each name, shape (len(names),)."""
    return tech.values([pattern.format(n.lower()) for n in names])


def _lookup(tech: Technology, pattern: str, names, codes: np.ndarray) -> np.ndarray:
    """Per-design value of the catalog row named by each design's code, (D,). The technology's
    values may be scalars or (D,) arrays (Monte Carlo samples, :mod:`dse.hardware.ranges`), so the
    table is (len(names),) or (len(names), D)."""
    table = _table(tech, pattern, names)
    return table[codes] if table.ndim == 1 else table[codes, np.arange(codes.shape[0])]


def derive(designs: DesignBatch, tech: Technology) -> HardwareArrays:
    """Area, bandwidths, energies per event and static power of ``designs`` (D,) under ``tech``.

    ``tech`` should be at ``designs.node_nm`` (load_technology(designs.node_nm, overrides)).
    Returns a :class:`HardwareArrays` of (D,) float64 arrays.
    """
    d = designs
    n = len(d)
    prec = d.precision.astype(np.intp)
    dram = d.dram_type.astype(np.intp)
    full = lambda key: np.full(n, tech.value(key))  # noqa: E731

    # compute
    pes = (d.cores * d.rows * d.cols).astype(np.float64)
    rate = _lookup(tech, "mac_rate_{}", PRECISIONS, prec)
    macs_per_cycle = pes * rate
    clock = d.clock_hz.astype(np.float64)
    bpe = np.array([BYTES_PER_ELEMENT[p] for p in PRECISIONS], dtype=np.float64)[prec]
    e_mac = _lookup(tech, "mac_energy_{}", PRECISIONS, prec) * tech.value("mac_energy_calibration")
    area_mac = pes * _lookup(tech, "mac_area_{}", PRECISIONS, prec) * tech.value("pe_area_overhead_factor")

    # global SRAM: capacity and bandwidth independent
    sram = d.sram_bytes.astype(np.float64)
    max_bank = tech.value("sram_max_bank_size")
    bw_per_cycle = d.sram_bw_bytes_per_cycle.astype(np.float64)
    ports = np.ceil(bw_per_cycle / tech.value("sram_bank_port_width"))
    banks = np.maximum(ports, np.ceil(sram / max_bank))
    bank_bytes = sram / banks
    sram_bw = bw_per_cycle * clock
    e_sram_read = _read_energy_per_byte(tech, bank_bytes)
    e_sram_write = e_sram_read * tech.value("sram_write_to_read_ratio")
    sram_mib = sram / BYTES_PER_MIB
    area_sram = sram_mib * tech.value("sram_area_per_mib") * _macro_factor(tech, bank_bytes)
    # local buffers: one per core, in macros of at most max_bank
    local = d.local_bytes.astype(np.float64)
    local_macro = np.minimum(local, max_bank)
    e_local_read = np.where(local > 0, _read_energy_per_byte(tech, np.maximum(local_macro, 1.0)), 0.0)
    e_local_write = e_local_read * tech.value("sram_write_to_read_ratio")
    local_mib = d.cores * local / BYTES_PER_MIB
    area_local = local_mib * tech.value("sram_area_per_mib") * _macro_factor(tech, np.maximum(local_macro, 1.0))
    static_w = (sram_mib + local_mib) * tech.value("sram_leakage_per_mib")

    # DRAM
    ch = d.dram_channels.astype(np.float64)
    dram_peak = ch * _lookup(tech, "dram_{}_bw_per_channel", DRAM_TYPES, dram)
    dram_bw = dram_peak * _lookup(tech, "dram_{}_efficiency", DRAM_TYPES, dram)
    e_dram = BITS_PER_BYTE * _lookup(tech, "dram_{}_energy_per_bit", DRAM_TYPES, dram)
    area_phy = ch * (_lookup(tech, "dram_{}_phy_area", DRAM_TYPES, dram)
                     + _lookup(tech, "dram_{}_controller_area", DRAM_TYPES, dram))

    # interconnect
    noc_bw, e_noc, area_noc = _interconnect(d, tech, area_mac + area_sram + area_local, ch)

    f = tech.value("area_overhead_fraction")
    core_area = area_mac + area_sram + area_local + area_phy + area_noc
    area_over = core_area * f / (1.0 - f)
    return HardwareArrays(
        macs_per_cycle=macs_per_cycle, clock_hz=clock, peak_macs_per_s=macs_per_cycle * clock,
        bytes_per_element=bpe, sram_bytes=sram, sram_banks=banks, sram_bw_bytes_per_s=sram_bw,
        local_bytes=local, e_local_read_j_per_byte=e_local_read, e_local_write_j_per_byte=e_local_write,
        dram_bw_bytes_per_s=dram_bw, dram_peak_bw_bytes_per_s=dram_peak, noc_bw_bytes_per_s=noc_bw,
        e_mac_j=e_mac, e_sram_read_j_per_byte=e_sram_read, e_sram_write_j_per_byte=e_sram_write,
        e_dram_j_per_byte=e_dram, e_noc_j_per_byte=e_noc, static_power_w=static_w,
        logic_leakage_fraction=full("logic_leakage_fraction"), layer_overhead_s=full("layer_overhead_s"),
        weight_buffer_fraction=full("weight_buffer_fraction"),
        array_efficiency=full("mac_array_efficiency"),
        area_mac_mm2=area_mac, area_sram_mm2=area_sram, area_local_mm2=area_local, area_dram_phy_mm2=area_phy,
        area_noc_mm2=area_noc, area_overhead_mm2=area_over, area_mm2=core_area + area_over,
        power_density_limit_w_per_mm2=full("power_density_limit"),
    )


def _read_energy_per_byte(tech: Technology, bank_bytes: np.ndarray) -> np.ndarray:
    """SRAM read energy (J/byte) of banks of ``bank_bytes``, the CACTI capacity trend."""
    return tech.value("sram_read_energy_ref_bank") * (
        bank_bytes / tech.value("sram_ref_bank_size")) ** tech.value("sram_size_exponent")


def _macro_factor(tech: Technology, macro_bytes: np.ndarray) -> np.ndarray:
    """Area per byte of macros of ``macro_bytes`` relative to full-size macros (>= 1)."""
    p = tech.value("sram_periphery_fraction")
    return (1.0 - p) + p * np.sqrt(tech.value("sram_max_bank_size") / macro_bytes)


def _interconnect(d: DesignBatch, tech: Technology, area_tiles_mm2: np.ndarray, channels: np.ndarray):
    """(bandwidth bytes/s, energy J/byte, area mm^2) of the on-chip interconnect, each (D,)."""
    p = d.cores.astype(np.float64) + channels                   # endpoints (>= 2)
    w = d.noc_width_bits.astype(np.float64)
    k = np.ceil(np.sqrt(p))
    side_mm = np.sqrt(area_tiles_mm2)
    tile_mm = side_mm / k
    pitch_mm = tech.value("noc_wire_pitch")
    bus, ring, mesh, xbar = (d.noc == NOCS.index(t) for t in ("bus", "ring", "mesh", "crossbar"))

    links = np.select([bus, ring, mesh, xbar], [np.ones_like(p), np.where(p > 2, 2 * p, 2.0),
                                               4 * k * (k - 1), p])
    hops = np.select([bus, ring, mesh, xbar], [np.zeros_like(p), p * p / (4 * (p - 1)),
                                              2 * (k * k - 1) / (3 * k), np.ones_like(p)])
    wire_mm = np.select([bus, ring, mesh, xbar], [side_mm, hops * tile_mm, hops * tile_mm, side_mm])
    bw = w / BITS_PER_BYTE * d.clock_hz * links / np.maximum(hops, 1.0)
    e_byte = BITS_PER_BYTE * (tech.value("wire_energy") * wire_mm + tech.value("noc_router_energy") * hops)

    router_ref = tech.value("noc_router_area_ref") / (
        tech.value("noc_router_ref_ports") * tech.value("noc_router_ref_width"))   # mm^2 per port-bit
    link_area = np.select([bus, ring, mesh, xbar], [w * pitch_mm * side_mm, links * w * pitch_mm * tile_mm,
                                                   links * w * pitch_mm * tile_mm, np.zeros_like(p)])
    router_area = np.select([bus, ring, mesh, xbar], [np.zeros_like(p), p * RING_ROUTER_PORTS * w * router_ref,
                                                     k * k * MESH_ROUTER_PORTS * w * router_ref,
                                                     (p * w * pitch_mm) ** 2])
    return bw, e_byte, link_area + router_area


AREA_COMPONENTS = (("mac", "area_mac_mm2"), ("sram", "area_sram_mm2"), ("local", "area_local_mm2"), ("dram_phy", "area_dram_phy_mm2"),
                   ("noc", "area_noc_mm2"), ("overhead", "area_overhead_mm2"))


def area_breakdown_frame(hw: HardwareArrays) -> pd.DataFrame:
    """One row per design: area of each component and the total (mm^2), static power (W)."""
    data = {f"{name}_mm2": getattr(hw, attr) for name, attr in AREA_COMPONENTS}
    data["total_mm2"] = hw.area_mm2
    data["static_power_w"] = hw.static_power_w
    return pd.DataFrame(data)


def hardware_frame(hw: HardwareArrays) -> pd.DataFrame:
    """Every field of ``hw`` as a column (SI units as named), one row per design."""
    return pd.DataFrame({f.name: getattr(hw, f.name) for f in fields(hw)})
