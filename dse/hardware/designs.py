"""DesignBatch: a batch of D designs as a struct of numpy arrays (SI units inside).

Design file format (TOML)::

    [design]
    node_nm = 16            # required: one of 5, 7, 12, 16, 28
    cores = 4               # parameters of dse.hardware.space, friendly units (clock_ghz, sram_mb)
    rows = 32
    ...                     # a missing parameter takes its default value (space.PARAMETERS)

    [technology]            # optional: catalog overrides, catalog units (see `dse evaluate --catalog`)
    pe_area_overhead_factor = 6.0

Unknown tables or keys are errors; every error names its TOML path (``design.sram_mb: ...``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from dse.errors import UserError, key_path
from dse.hardware import space
from dse.hardware.grid_order import axis_positions
from dse.hardware.space import DRAM_TYPES
from dse.hardware.technology import SUPPORTED_NODES_NM, Technology, _check_node, load_technology
from dse.user_files import load_user_toml

#: field name -> (parameter name, numpy dtype, factor SI/friendly or None, code table or None),
#: derived from the parameter declarations (space.PARAMETERS), in their order.
_FIELDS: dict[str, tuple[str, type, float | None, tuple | None]] = {
    p.si_name: (p.name, p.dtype, p.factor, p.codes) for p in space.PARAMETERS}
_PARAM_TO_FIELD = {v[0]: k for k, v in _FIELDS.items()}


@dataclass(frozen=True, eq=False)
class DesignBatch:
    """D designs; every array has shape (D,).

    ``cores``, ``rows``, ``cols`` (MAC array per core), ``dram_channels``, ``noc_width_bits`` (bits),
    ``batch`` (images): int64. ``clock_hz`` (Hz), ``sram_bytes`` (bytes): float64. ``precision``,
    ``dram_type``, ``noc``, ``lowering``, ``dataflow``, ``schedule``, ``batch_schedule``: int8 codes into the parameters' choices
    (:data:`space.PRECISIONS`, ...). ``winograd``: bool. ``local_bytes`` (bytes of local buffer
    per core): float64; ``sram_bw_bytes_per_cycle`` (global SRAM bytes per clock): int64.
    The fields are those of :data:`space.PARAMETERS` (checked at import). ``node_nm``: process node (nm), one per
    batch. Build with the ``from_*`` constructors, which validate; the arrays are read-only.
    """

    cores: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    clock_hz: np.ndarray
    precision: np.ndarray
    sram_bytes: np.ndarray
    dram_type: np.ndarray
    dram_channels: np.ndarray
    noc: np.ndarray
    noc_width_bits: np.ndarray
    batch: np.ndarray
    winograd: np.ndarray
    lowering: np.ndarray
    dataflow: np.ndarray
    local_bytes: np.ndarray
    sram_bw_bytes_per_cycle: np.ndarray
    schedule: np.ndarray
    batch_schedule: np.ndarray
    node_nm: int

    # --- constructors ---------------------------------------------------------------------

    @classmethod
    def from_columns(cls, columns: Mapping[str, Any], node_nm: int, *, prefix: str = "design.",
                     repair_channels: bool = False) -> "DesignBatch":
        """Build from columns (vectorized). Keys: parameter names in friendly units (``clock_ghz``,
        ``sram_mb``, ...) or field names in SI (``clock_hz``, ``sram_bytes``); values: arrays of
        shape (D,) or scalars (broadcast). Categorical columns may hold strings (any case) or int
        codes. Missing parameters take their default. ``repair_channels`` snaps DRAM channel counts
        to the nearest allowed count for the type instead of failing.
        """
        node = _check_node(node_nm, prefix + "node_nm")
        si: dict[str, Any] = {}
        for key, col in columns.items():
            if key in _FIELDS:
                si[key] = ("si", col)
            elif key in _PARAM_TO_FIELD:
                si[_PARAM_TO_FIELD[key]] = ("friendly", col)
            else:
                raise UserError(f"{key_path(prefix[:-1], key)}: unknown parameter (allowed: {', '.join(space.PARAMETER_NAMES)})")
        lengths = {np.size(c) for _, c in si.values() if np.ndim(c) > 0}
        if len(lengths) > 1:
            raise UserError(f"{prefix[:-1] or 'design'}: columns have different lengths {sorted(lengths)}")
        n = lengths.pop() if lengths else 1
        arrays = {}
        for fname, (param, dtype, factor, table) in _FIELDS.items():
            p = space.get_parameter(param)
            form, col = si.get(fname, ("friendly", p.default))
            arrays[fname] = _convert(col, n, fname, form, p, dtype, factor, table, prefix)
        if repair_channels:
            arrays["dram_channels"] = space.repair_channels(arrays["dram_type"], arrays["dram_channels"])
        _check_channels(arrays["dram_type"], arrays["dram_channels"], prefix)
        for a in arrays.values():
            a.setflags(write=False)
        return cls(node_nm=node, **arrays)

    @classmethod
    def from_params(cls, params: Sequence[Mapping[str, Any]], node_nm: int, *,
                    fixed: Mapping[str, Any] | None = None, repair_channels: bool = False,
                    prefix: str = "design.") -> "DesignBatch":
        """Build from a list of parameter dicts (e.g. Optuna ``trial.params``), column-wise.

        A parameter missing from a dict is taken from ``fixed`` (e.g. ``space.fixed_values``), else
        its default.
        """
        fixed = dict(fixed or {})
        names = set(fixed)
        for d in params:
            names.update(d)
        cols = {}
        for name in names:
            p = space.get_parameter(name) if name in _PARAM_TO_FIELD else None
            if p is None:
                raise UserError(f"{key_path(prefix[:-1], name)}: unknown parameter (allowed: {', '.join(space.PARAMETER_NAMES)})")
            fill = fixed.get(name, p.default)
            cols[name] = np.array([d.get(name, fill) for d in params],
                                  dtype=object if p.kind == "categorical" else None)
        if not params:
            cols = {k: np.array([], dtype=object if space.get_parameter(k).kind == "categorical" else float)
                    for k in space.PARAMETER_NAMES}
        return cls.from_columns(cols, node_nm, prefix=prefix, repair_channels=repair_channels)

    @classmethod
    def from_toml(cls, path: str | Path) -> "DesignBatch":
        """The design of a TOML design file (a batch of 1); see :func:`load_design_file`."""
        return load_design_file(path)[0]

    # --- access ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.cores.shape[0])

    def columns(self) -> dict[str, np.ndarray]:
        """Field name -> array (SI units, codes for categoricals)."""
        return {f: getattr(self, f) for f in _FIELDS}

    def take(self, indices) -> "DesignBatch":
        """The designs at ``indices`` (int array or bool mask), as a new batch."""
        cols = {f: a[indices] for f, a in self.columns().items()}
        for a in cols.values():
            a.setflags(write=False)
        return replace(self, **cols)

    def with_values(self, **columns) -> "DesignBatch":
        """A validated copy with some columns replaced (field or parameter names, arrays or scalars),
        e.g. ``designs.with_values(batch=8)``."""
        cols: dict[str, Any] = {f: a for f, a in self.columns().items()}
        for key, col in columns.items():
            target = _PARAM_TO_FIELD.get(key, key)
            if target not in cols:
                raise UserError(f"{key_path('design', key)}: unknown parameter (allowed: {', '.join(space.PARAMETER_NAMES)})")
            if target != key:  # friendly parameter name: keep the friendly form for conversion
                del cols[target]
            cols[key] = col
        return DesignBatch.from_columns(cols, self.node_nm)

    def to_frame(self) -> pd.DataFrame:
        """One row per design, parameter names and friendly units (clock_ghz, sram_mb, strings for
        categoricals), plus node_nm."""
        data = {}
        for fname, (param, _, factor, table) in _FIELDS.items():
            a = getattr(self, fname)
            if table is not None:
                data[param] = np.asarray(table, dtype=object)[a.astype(np.int64)]
            elif factor is not None:
                data[param] = a // int(factor) if a.dtype.kind == "i" else a / factor
            else:
                data[param] = a
        data["node_nm"] = np.full(len(self), self.node_nm, dtype=np.int64)
        return pd.DataFrame(data)

    def to_params(self) -> list[dict[str, Any]]:
        """One dict per design, parameter names, friendly units, Python scalars (round-trips through
        :meth:`from_params`)."""
        frame = self.to_frame().drop(columns="node_nm")
        return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                for row in frame.to_dict(orient="records")]


if tuple(f.name for f in fields(DesignBatch))[:-1] != tuple(_FIELDS):  # node_nm comes last
    raise RuntimeError("DesignBatch fields differ from the parameter declarations (space.PARAMETERS)")


def _convert(col, n, fname, form, p, dtype, factor, table, prefix) -> np.ndarray:
    """One column to its field dtype, broadcast to (n,), validated against the parameter domain."""
    field = prefix + p.name
    arr = np.asarray(col)
    if arr.ndim == 0:
        arr = np.broadcast_to(arr, (n,))
    if table is not None:
        if arr.dtype.kind in "OUS":
            lookup = {c.lower(): i for i, c in enumerate(table)}
            uniq, inv = np.unique(arr.astype(str), return_inverse=True)
            codes = np.array([lookup.get(u.lower(), -1) for u in uniq], dtype=np.int64)
            bad = np.flatnonzero(codes < 0)
            if bad.size:
                raise UserError(f"{field}: {uniq[bad[0]]!r} is not allowed (allowed: {', '.join(table)})")
            return codes[inv].astype(dtype).reshape(n)
        if arr.dtype.kind not in "iu":
            raise UserError(f"{field}: expected names or integer codes (allowed: {', '.join(table)})")
        bad = np.flatnonzero((arr < 0) | (arr >= len(table)))
        if bad.size:
            raise UserError(f"{field}: code {arr[bad[0]]} is not allowed (allowed: 0..{len(table) - 1} for "
                            f"{', '.join(table)}){_which(bad[0], n)}")
        return arr.astype(dtype)
    if p.kind == "bool":
        if arr.dtype.kind != "b":
            if arr.dtype.kind in "iu" and np.isin(arr, (0, 1)).all():
                return arr.astype(bool)
            raise UserError(f"{field}: {arr.flat[0]!r} is not allowed (allowed: true, false)")
        return arr.astype(bool)
    if arr.dtype.kind not in "iuf":
        not_number = next((x for x in arr.flat if isinstance(x, (bool, np.bool_))
                           or not isinstance(x, (int, float, np.integer, np.floating))), None)
        if not_number is None:  # numbers held as objects (e.g. a categorical sampler's choices)
            arr = arr.astype(np.float64)
        else:
            raise UserError(f"{field}: {not_number!r} is not a number (allowed: {p.describe_domain()})")
    vals = arr.astype(np.float64)
    friendly = vals / factor if (factor is not None and form == "si") else vals
    bad = np.flatnonzero(~np.isfinite(friendly))
    if bad.size:
        raise UserError(f"{field}: {friendly[bad[0]]} is not a finite number (allowed: {p.describe_domain()})"
                        f"{_which(bad[0], n)}")
    if p.kind in ("int", "log_int"):
        bad = np.flatnonzero(friendly != np.round(friendly))
        if bad.size:
            raise UserError(f"{field}: {space._fmt(float(friendly[bad[0]]))} is not an integer (allowed: {p.describe_domain()})"
                            f"{_which(bad[0], n)}")
    low, high = p.bounds
    bad = np.flatnonzero(friendly < low)
    if bad.size:
        raise UserError(f"{field}: {space._fmt(float(friendly[bad[0]]))} is below the minimum {space._fmt(low)} "
                        f"(allowed: {p.describe_domain()}){_which(bad[0], n)}")
    bad = np.flatnonzero(friendly > high)
    if bad.size:
        raise UserError(f"{field}: {space._fmt(float(friendly[bad[0]]))} is above the maximum {space._fmt(high)} "
                        f"(allowed: {p.describe_domain()}){_which(bad[0], n)}")
    out = friendly * factor if factor is not None else friendly
    return (np.round(out) if np.dtype(dtype).kind == "i" else out).astype(dtype)


def _which(i: int, n: int) -> str:
    return f" (design {i})" if n > 1 else ""


def _check_channels(types: np.ndarray, channels: np.ndarray, prefix: str) -> None:
    ok = space.channels_allowed(types.astype(np.int64), channels)
    bad = np.flatnonzero(~ok)
    if bad.size:
        i = bad[0]
        name = DRAM_TYPES[int(types[i])]
        raise UserError(f"{prefix}dram_channels: {int(channels[i])} not allowed for {name} "
                        f"(allowed: {', '.join(map(str, space.allowed_channels(name)))}){_which(i, len(types))}")


def parse_design_mapping(doc: Mapping[str, Any], *, where: str = "") -> tuple[DesignBatch, Technology]:
    """Build (DesignBatch of 1, Technology) from a parsed design document (``{"design": {...},
    "technology": {...}}``). ``where`` prefixes error messages (e.g. the file name)."""
    unknown = set(doc) - {"design", "technology"}
    if unknown:
        raise UserError(f"{where}{key_path('', sorted(unknown)[0])}: unknown table (allowed: design, technology)")
    design = doc.get("design")
    if not isinstance(design, Mapping):
        raise UserError(f"{where}design: missing [design] table (needs node_nm, e.g. node_nm = 16)")
    design = dict(design)
    if "node_nm" not in design:
        raise UserError(f"{where}design.node_nm: missing (allowed: {', '.join(map(str, SUPPORTED_NODES_NM))})")
    node = _check_node(design.pop("node_nm"), f"{where}design.node_nm")
    params = space.validate_params(design, prefix=f"{where}design.")
    tech_over = doc.get("technology", {})
    if not isinstance(tech_over, Mapping):
        raise UserError(f"{where}technology: must be a table of catalog key = value")
    tech = load_technology(node, tech_over, field_prefix=f"{where}technology.")
    return DesignBatch.from_params([params], node, prefix=f"{where}design."), tech


def load_design_file(path: str | Path) -> tuple[DesignBatch, Technology]:
    """Read a TOML design file (format in the module docstring) -> (DesignBatch of 1, Technology)."""
    doc, _ = load_user_toml(Path(path), what="design file")
    return parse_design_mapping(doc)


def grid(domains: Mapping[str, Any] | None, node_nm: int, *,
         max_designs: int = space.MAX_GRID_DESIGNS) -> DesignBatch:
    """The cartesian product of the domains (see :mod:`dse.hardware.space`) as a DesignBatch
    (vectorized, no loop per design).

    Order: row-major over :data:`space.PARAMETERS` (the last parameter varies fastest). Designs
    whose ``dram_channels`` is not allowed for their ``dram_type`` are dropped. More than
    ``max_designs`` designs raise UserError (restrict the domains or sample).
    """
    size = space.grid_size(domains)
    if size > max_designs:
        raise UserError(f"space: the grid has {size} designs, more than {max_designs}; restrict the domains")
    doms = space.resolve_domains(domains)
    axes = {name: space.grid_codes(name, space.domain_values(d)) for name, d in doms.items()}
    sizes = [len(v) for v in axes.values()]
    positions = axis_positions(np.arange(int(np.prod(sizes)), dtype=np.int64), sizes)
    cols = {name: vals[pos] for (name, vals), pos in zip(axes.items(), positions)}
    keep = space.channels_allowed(cols["dram_type"].astype(np.int64), cols["dram_channels"])
    cols = {k: v[keep] for k, v in cols.items()}
    return DesignBatch.from_columns(cols, node_nm)
