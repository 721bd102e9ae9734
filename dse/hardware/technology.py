"""Technology catalog: per-node constants with a unit and a source for every number.

Data lives in CSV files under ``dse/hardware/catalog/`` (``mac.csv``, ``sram.csv``, ``dram.csv``,
``noc.csv``, ``chip.csv``, ``cost.csv``), one row per constant with the columns

    key, unit, value_7nm, value_16nm, tag, source, note

``tag`` is the provenance (Q quoted, D derived, E estimate, T tool output; see
``docs/references.md``) and ``source`` a ``;``-separated list of keys of
``catalog/sources.csv``. ``dram_channels.csv`` lists the channel/stack counts allowed per DRAM type.

Node scaling (the ONE rule): every row has anchors at 7 nm and 16 nm; the value at node ``n`` is
the power law through the two anchors,

    v(n) = v16 * (n / 16) ** k,   k = ln(v16 / v7) / ln(16 / 7),

i.e. log-log interpolation between 7 and 16 nm and extrapolation to 5, 12 and 28 nm. A row with
equal anchors is node-independent (k = 0). For logic area it agrees with Stillmaker-Baas (ST)
within ~10% (16->28 nm: x2.18 vs ST x1.97; 16->5 nm: x0.20 vs ST x0.22) and keeps the weak scaling
of analog rows (DRAM PHYs) that a single logic factor would overstate.

Units: the catalog stores friendly units (pJ, um2, GB/s, ...); :meth:`Technology.value` returns
SI values (J, bytes/s, s, W) except areas, which are in mm^2 (``um2`` rows are converted to mm^2).
Overrides (a ``[technology]`` table) are given in the catalog unit of the row.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Mapping

import numpy as np
import pandas as pd

from dse.errors import UserError, key_path

#: Process nodes a study may use (nm). Values are derived from the 7/16 nm anchors by the rule above.
SUPPORTED_NODES_NM = (5, 7, 12, 16, 28)

#: Anchor nodes of the catalog (nm).
ANCHOR_LOW_NM = 7
ANCHOR_HIGH_NM = 16

#: Data files with the common row schema, in display order.
CATALOG_FILES = ("mac.csv", "sram.csv", "dram.csv", "noc.csv", "chip.csv", "cost.csv")
CATALOG_COLUMNS = ("key", "unit", "value_7nm", "value_16nm", "tag", "source", "note")
VALID_TAGS = ("Q", "D", "E", "T", "Q/E", "Q*/D")

#: Rows that divide something (a zero would give a NaN deep in the model): must be > 0.
POSITIVE_KEYS = frozenset({"yield_cluster_alpha", "wafer_diameter"})

KIB_BYTES = 2**10
MIB_BYTES = 2**20
BITS_PER_BYTE = 8

#: Catalog unit -> (factor to the SI/internal unit, SI/internal unit name). Unit conversions only.
UNIT_TO_SI: dict[str, tuple[float, str]] = {
    "pJ": (1e-12, "J"),
    "pJ/byte": (1e-12, "J/byte"),
    "pJ/bit": (1e-12, "J/bit"),
    "pJ/bit/mm": (1e-12, "J/bit/mm"),
    "pJ/bit/hop": (1e-12, "J/bit/hop"),
    "um2": (1e-6, "mm2"),
    "mm2": (1.0, "mm2"),
    "mm2/MiB": (1.0, "mm2/MiB"),
    "um": (1e-3, "mm"),
    "mm": (1.0, "mm"),
    "USD": (1.0, "USD"),
    "1/cm2": (1e-2, "1/mm2"),
    "GB/s": (1e9, "bytes/s"),
    "GB": (1e9, "bytes"),
    "KiB": (KIB_BYTES, "bytes"),
    "bytes": (1.0, "bytes"),
    "bits": (1.0, "bits"),
    "mW/MiB": (1e-3, "W/MiB"),
    "W/mm2": (1.0, "W/mm2"),
    "USD/GB": (1.0, "USD/GB"),
    "s": (1.0, "s"),
    "cycles": (1.0, "cycles"),
    "count": (1.0, "count"),
    "flag": (1.0, "flag"),
    "fraction": (1.0, "fraction"),
    "x": (1.0, "x"),
    "-": (1.0, "-"),
}


def _catalog_dir():
    return resources.files("dse.hardware") / "catalog"


@lru_cache(maxsize=1)
def sources() -> dict[str, str]:
    """Source keys -> citation, from ``catalog/sources.csv``."""
    with (_catalog_dir() / "sources.csv").open(encoding="utf-8") as fh:
        return {row["key"]: row["citation"] for row in csv.DictReader(fh)}


@lru_cache(maxsize=1)
def catalog_rows() -> pd.DataFrame:
    """All catalog rows as loaded from the CSV files (anchors, not node values); cached.

    Columns: key, unit, value_7nm, value_16nm (float, catalog unit), tag, source, note, file.
    """
    frames = []
    for name in CATALOG_FILES:
        with (_catalog_dir() / name).open(encoding="utf-8") as fh:
            frame = pd.read_csv(fh, dtype=str, keep_default_na=False)
        if tuple(frame.columns) != CATALOG_COLUMNS:
            raise RuntimeError(f"catalog/{name}: columns {tuple(frame.columns)} != {CATALOG_COLUMNS}")
        frame["file"] = name
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    rows["value_7nm"] = rows["value_7nm"].astype(float)
    rows["value_16nm"] = rows["value_16nm"].astype(float)
    if rows["key"].duplicated().any():
        raise RuntimeError(f"catalog: duplicate keys {sorted(rows.loc[rows['key'].duplicated(), 'key'])}")
    return rows


@lru_cache(maxsize=1)
def dram_channel_table() -> pd.DataFrame:
    """``catalog/dram_channels.csv``: dram_type, allowed_channels (tuple of int), unit, tag, source, note."""
    with (_catalog_dir() / "dram_channels.csv").open(encoding="utf-8") as fh:
        frame = pd.read_csv(fh, dtype=str, keep_default_na=False)
    frame["allowed_channels"] = [tuple(int(x) for x in s.split()) for s in frame["allowed_channels"]]
    return frame


def scale_to_node(value_7nm: np.ndarray | float, value_16nm: np.ndarray | float, node_nm: float):
    """The catalog's node-scaling rule (see module docstring), elementwise.

    v(n) = v16 * (n/16)^k with k = ln(v16/v7)/ln(16/7); rows with v7 == v16 (or a zero anchor)
    are node-independent and return v16. Same shape and unit as the anchors.
    """
    v7 = np.asarray(value_7nm, dtype=float)
    v16 = np.asarray(value_16nm, dtype=float)
    positive = (v7 > 0) & (v16 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(positive, np.log(np.where(positive, v16 / np.where(positive, v7, 1.0), 1.0))
                     / math.log(ANCHOR_HIGH_NM / ANCHOR_LOW_NM), 0.0)
    return np.where(positive, v16 * (node_nm / ANCHOR_HIGH_NM) ** k, v16)


def _check_node(node_nm, field_name: str = "node_nm") -> int:
    is_int = isinstance(node_nm, (int, np.integer)) and not isinstance(node_nm, bool)
    if not is_int:
        raise UserError(f"{field_name}: {node_nm!r} is not a process node "
                        f"(allowed: {', '.join(map(str, SUPPORTED_NODES_NM))})")
    if int(node_nm) not in SUPPORTED_NODES_NM:
        raise UserError(f"{field_name}: {node_nm} nm is not supported "
                        f"(allowed: {', '.join(map(str, SUPPORTED_NODES_NM))})")
    return int(node_nm)


@dataclass(frozen=True, eq=False)
class Technology:
    """The catalog resolved at one process node, with overrides applied.

    ``node_nm``: process node (nm). ``overrides``: key -> value in the catalog unit of the row.
    Use :meth:`value` for SI values (areas in mm^2) and :meth:`table` to show every row.
    """

    node_nm: int
    overrides: Mapping[str, float]
    _si: dict = field(repr=False)
    _table: pd.DataFrame = field(repr=False)

    def value(self, key: str) -> float:
        """Value of catalog row ``key`` in SI units (J, bytes, bytes/s, s, W), areas in mm^2."""
        try:
            return self._si[key]
        except KeyError:
            raise KeyError(f"technology catalog has no key {key!r}") from None

    def values(self, keys) -> np.ndarray:
        """Vector of :meth:`value` for ``keys`` (shape (len(keys),), float64)."""
        return np.array([self.value(k) for k in keys], dtype=np.float64)

    def keys(self) -> tuple[str, ...]:
        return tuple(self._si)

    def table(self) -> pd.DataFrame:
        """Every row at this node: key, value (catalog unit), unit, si_value, si_unit, tag, source,
        overridden (bool), note."""
        return self._table.copy()

    def __reduce__(self):  # pickles small (Ray tasks): rebuilt from the cached catalog
        return (load_technology, (self.node_nm, dict(self.overrides)))


def _check_override(key: str, raw, unit: str, field_prefix: str) -> float:
    name = f"{field_prefix}{key}"
    if isinstance(raw, bool) or not isinstance(raw, (int, float, np.integer, np.floating)):
        raise UserError(f"{name}: {raw!r} is not a number (unit {unit})")
    val = float(raw)
    if not math.isfinite(val) or val < 0:
        raise UserError(f"{name}: {raw!r} must be a finite number >= 0 (unit {unit})")
    if unit == "fraction" and val > 1:
        raise UserError(f"{name}: {raw!r} must be between 0 and 1 (a fraction)")
    if key == "area_overhead_fraction" and val >= 1:
        raise UserError(f"{name}: {raw!r} must be below 1 (fraction of the die)")
    if key in POSITIVE_KEYS and val == 0:
        raise UserError(f"{name}: {raw!r} must be > 0")
    if unit == "flag" and val not in (0.0, 1.0):
        raise UserError(f"{name}: {raw!r} must be 0 or 1")
    return val


@lru_cache(maxsize=64)
def _load_cached(node_nm: int, overrides_items: tuple) -> Technology:
    rows = catalog_rows()
    values = scale_to_node(rows["value_7nm"].to_numpy(), rows["value_16nm"].to_numpy(), node_nm)
    over = dict(overrides_items)
    overridden = rows["key"].isin(list(over)).to_numpy()
    for i in np.flatnonzero(overridden):
        values[i] = over[rows.at[i, "key"]]
    factors = np.array([UNIT_TO_SI[u][0] for u in rows["unit"]])
    with np.errstate(over="ignore"):  # an overflowing override is reported by load_technology
        si = values * factors
    table = pd.DataFrame({
        "key": rows["key"], "value": values, "unit": rows["unit"], "si_value": si,
        "si_unit": [UNIT_TO_SI[u][1] for u in rows["unit"]], "tag": rows["tag"],
        "source": rows["source"], "overridden": overridden, "note": rows["note"],
    })
    return Technology(node_nm=node_nm, overrides=over, _si=dict(zip(rows["key"], si.tolist())), _table=table)


def load_technology(node_nm: int, overrides: Mapping[str, float] | None = None, *,
                    field_prefix: str = "technology.") -> Technology:
    """The catalog at ``node_nm`` (one of :data:`SUPPORTED_NODES_NM`) with ``overrides`` applied.

    ``overrides`` maps catalog keys to values in the row's catalog unit (e.g. ``mac_energy_int8``
    in pJ). Unknown keys, non-numbers, negative or non-finite values raise :class:`UserError`
    naming ``technology.KEY``. Results are cached per (node, overrides).
    """
    node = _check_node(node_nm)
    rows = catalog_rows()
    units = dict(zip(rows["key"], rows["unit"]))
    clean = {}
    for key, raw in (overrides or {}).items():
        if key not in units:
            raise UserError(f"{key_path(field_prefix[:-1], key)}: unknown technology key (the keys are listed by "
                            f"`dse evaluate --catalog` and in dse/hardware/catalog/*.csv)")
        clean[key] = _check_override(key, raw, units[key], field_prefix)
    tech = _load_cached(node, tuple(sorted(clean.items())))
    for key in clean:  # a huge value in catalog units can overflow in SI units
        if not math.isfinite(tech.value(key)):
            raise UserError(f"{key_path(field_prefix[:-1], key)}: {clean[key]!r} is too large "
                            f"(not finite in SI units)")
    return tech
