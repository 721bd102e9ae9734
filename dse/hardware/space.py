"""The design space: ONE declaration of the searchable parameters.

:data:`PARAMETERS` drives validation of design and study files, Optuna distributions and grids.
Values here are in friendly units (GHz, MiB); :class:`dse.hardware.designs.DesignBatch` holds SI.
Each parameter also declares its SI field (name, numpy dtype, factor SI/friendly; categorical
codes index its ``choices``), from which ``DesignBatch`` derives its columns.

Domains. A *domain* restricts a parameter for a study; :func:`make_domain` accepts
- numeric parameters: ``[low, high]`` (a range), ``{low=, high=, step=}``, ``{values=[...]}``
  (an explicit list) or a scalar (fixed value);
- categorical and bool parameters: a list of choices or one value.
A domain must lie inside the parameter's default domain (which is also its validity range).
Parameters missing from a ``domains`` mapping are fixed at their default value.

Grids (:func:`grid`): ``int`` ranges step by ``step`` (default 1); ``log_int`` ranges take
``low * 2**i`` up to ``high`` (a range from 0, e.g. ``local_kib``, takes 0 and then 1, 2, 4, ...); linear ``float`` ranges step by ``step`` (clock: 0.1 GHz), log
``float`` ranges (sram_mb) take ``low * 2**i`` up to ``high``; explicit value lists are used as
given. Combinations whose ``dram_channels`` is not allowed for their ``dram_type`` are dropped.
The grid builder itself is :func:`dse.hardware.designs.grid` (it returns a ``DesignBatch``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import optuna.distributions as od

from dse.errors import UserError, key_path
from dse.hardware.technology import dram_channel_table

#: Categorical value sets, in code order (codes are indices into these tuples).
PRECISIONS = ("int8", "int16", "fp16", "bf16", "fp32")
DRAM_TYPES = tuple(dram_channel_table()["dram_type"])  # LPDDR4 ... HBM3E (catalog order)
NOCS = ("bus", "ring", "mesh", "crossbar")
LOWERINGS = ("im2col", "channel")
DATAFLOWS = ("ws", "os", "is")
SCHEDULES = ("auto", "layer", "fused")
BATCH_SCHEDULES = ("auto", "lockstep", "per_image")

KINDS = ("int", "log_int", "float", "categorical", "bool")

HZ_PER_GHZ = 1e9
BYTES_PER_MIB = 2**20
BYTES_PER_KIB = 2**10

#: Largest grid :func:`dse.hardware.designs.grid` builds (designs); beyond it, restrict the domains or sample.
MAX_GRID_DESIGNS = 10_000_000


@dataclass(frozen=True)
class Parameter:
    """One searchable parameter.

    ``kind``: int, log_int, float, categorical or bool. ``low``/``high``: default domain bounds
    (numeric kinds, in ``unit``), also the validity range. ``choices``: categorical values.
    ``step``: grid step (int/float); ``log``: sample and grid on a log scale.
    ``field``: name of the SI column in ``DesignBatch`` (default: ``name``); ``factor``: SI value
    per friendly unit (None: same unit); ``dtype``: numpy dtype of the column (categoricals hold
    int8 codes into ``choices``).
    """

    name: str
    unit: str
    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    step: float | None = None
    log: bool = False
    help: str = ""
    grid_only: bool = False  # samplers draw only grid points (noc_width_bits: powers of two)
    field: str = ""
    factor: float | None = None

    def __post_init__(self) -> None:
        # what the narrowing accessors below rely on
        if self.kind not in KINDS:
            raise ValueError(f"parameter {self.name}: kind {self.kind!r} is not one of {KINDS}")
        if self.numeric and (self.low is None or self.high is None):
            raise ValueError(f"parameter {self.name}: a numeric parameter needs low and high")
        if not self.numeric and self.choices is None:
            raise ValueError(f"parameter {self.name}: a {self.kind} parameter needs choices")

    @property
    def bounds(self) -> tuple[float, float]:
        """(low, high) of a numeric parameter (always set for one: see ``__post_init__``)."""
        assert self.low is not None and self.high is not None, f"{self.name} is not numeric"
        return self.low, self.high

    @property
    def choice_values(self) -> tuple:
        """``choices`` of a categorical or bool parameter (always set for one: see ``__post_init__``)."""
        assert self.choices is not None, f"{self.name} has no choices"
        return self.choices

    @property
    def si_name(self) -> str:
        """Name of the SI column in ``DesignBatch``."""
        return self.field or self.name

    @property
    def dtype(self) -> type:
        """numpy dtype of the SI column."""
        return {"int": np.int64, "log_int": np.int64, "float": np.float64,
                "categorical": np.int8, "bool": np.bool_}[self.kind]

    @property
    def codes(self) -> tuple | None:
        """Code table of a categorical parameter (codes are indices), else None."""
        return self.choices if self.kind == "categorical" else None

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "log_int", "float")

    def describe_domain(self) -> str:
        if self.numeric:
            return f"{_fmt(self.low)}..{_fmt(self.high)} {self.unit}".rstrip()
        return ", ".join(str(c) for c in self.choice_values)


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("cores", "tiles", "int", 16, 1, 256, step=1,
              help="compute cores (tiles), each with its own MAC array; SMs for a GPU"),
    Parameter("rows", "MACs", "log_int", 32, 4, 256, log=True, help="MAC array rows per core"),
    Parameter("cols", "MACs", "log_int", 32, 4, 256, log=True, help="MAC array columns per core"),
    Parameter("clock_ghz", "GHz", "float", 1.0, 0.2, 2.5, step=0.1, help="core clock",
              field="clock_hz", factor=HZ_PER_GHZ),
    Parameter("precision", "", "categorical", "int8", choices=PRECISIONS, help="MAC and data precision"),
    Parameter("sram_mb", "MiB", "float", 8.0, 0.25, 256.0, log=True,
              help="total on-chip SRAM (MiB = 2^20 bytes), unified for weights and activations",
              field="sram_bytes", factor=float(BYTES_PER_MIB)),
    Parameter("dram_type", "", "categorical", "LPDDR4X", choices=DRAM_TYPES, help="off-chip DRAM type"),
    Parameter("dram_channels", "channels", "int", 2, 1, 16, step=1,
              help="DRAM channels (x32 LPDDR/GDDR, 64-bit DDR) or HBM stacks; allowed counts depend on dram_type"),
    Parameter("noc", "", "categorical", "mesh", choices=NOCS, help="on-chip interconnect topology"),
    Parameter("noc_width_bits", "bits", "log_int", 256, 32, 4096, log=True, grid_only=True,
              help="interconnect link width (searched as low x 2^i: 32, 64, ... bits)"),
    Parameter("batch", "images", "log_int", 1, 1, 256, log=True, help="images per batch"),
    Parameter("winograd", "", "bool", False, choices=(False, True),
              help="Winograd F(2x2,3x3) for 3x3 stride-1 convolutions"),
    Parameter("lowering", "", "categorical", "im2col", choices=LOWERINGS,
              help="how convolutions map onto the array: im2col (K*K*C reduction) or channel (C reduction)"),
    Parameter("dataflow", "", "categorical", "ws", choices=DATAFLOWS,
              help="what stays in the array: ws weights (reduction x out channels), os outputs "
                   "(pixels x out channels), is inputs (reduction x pixels)"),
    Parameter("local_kib", "KiB", "log_int", 0, 0, 4096, log=True,
              help="local buffer per core (KiB = 2^10 bytes) holding the tiles the array reuses; 0: none",
              field="local_bytes", factor=float(BYTES_PER_KIB)),
    Parameter("sram_bw_bytes_per_cycle", "bytes/cycle", "log_int", 512, 16, 16384, log=True,
              help="global SRAM bandwidth (bytes per core clock cycle, all banks), independent of sram_mb"),
    Parameter("schedule", "", "categorical", "auto", choices=SCHEDULES,
              help="layer: layer by layer; fused: depth-first stacks of layers in bands of rows "
                   "(docs/model.md, 'Depth-first fusion'); auto: the faster per stack of layers"),
    Parameter("batch_schedule", "", "categorical", "auto", choices=BATCH_SCHEDULES,
              help="lockstep: the whole batch goes layer by layer together; per_image: sub-batches "
                   "sized to the SRAM (fused stacks: one image at a time); auto: the cheaper per tensor"),
)

_BY_NAME = {p.name: p for p in PARAMETERS}
PARAMETER_NAMES = tuple(_BY_NAME)


def _fmt(x) -> str:
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return repr(float(x)) if isinstance(x, float) else str(x)  # repr: shortest exact (0.19999 != 0.2)


def get_parameter(name: str) -> Parameter:
    """The :class:`Parameter` called ``name``; UserError listing the names otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UserError(f"{key_path('design', name)}: unknown parameter (allowed: {', '.join(PARAMETER_NAMES)})") from None


# --- DRAM channel rules ---------------------------------------------------------------------

def allowed_channels(dram_type: str) -> tuple[int, ...]:
    """Allowed channel (or stack) counts for ``dram_type`` (catalog/dram_channels.csv)."""
    table = dram_channel_table()
    return table.loc[table["dram_type"] == dram_type, "allowed_channels"].iloc[0]


def _channel_mask_table() -> np.ndarray:
    """bool (len(DRAM_TYPES), max_channels+1): [type_code, channels] allowed."""
    hi = int(_BY_NAME["dram_channels"].bounds[1])
    table = np.zeros((len(DRAM_TYPES), hi + 1), dtype=bool)
    for code, name in enumerate(DRAM_TYPES):
        table[code, [c for c in allowed_channels(name) if c <= hi]] = True
    return table


CHANNEL_ALLOWED = _channel_mask_table()


def channels_allowed(dram_type_codes: np.ndarray, channels: np.ndarray) -> np.ndarray:
    """Vectorized: bool (D,) whether ``channels[d]`` is allowed for ``DRAM_TYPES[dram_type_codes[d]]``."""
    ch = np.asarray(channels, dtype=np.int64)
    inside = (ch >= 0) & (ch < CHANNEL_ALLOWED.shape[1])
    ok = np.zeros(ch.shape, dtype=bool)
    ok[inside] = CHANNEL_ALLOWED[np.asarray(dram_type_codes)[inside], ch[inside]]
    return ok


def repair_channels(dram_type_codes: np.ndarray, channels: np.ndarray) -> np.ndarray:
    """Vectorized: the allowed channel count nearest to ``channels`` for each type (ties: lower).

    For samplers that draw ``dram_type`` and ``dram_channels`` independently. Shapes (D,) int64.
    """
    ch = np.asarray(channels, dtype=np.int64)
    counts = np.arange(CHANNEL_ALLOWED.shape[1])
    dist = np.abs(counts[None, :] - ch[:, None]).astype(float)
    dist[~CHANNEL_ALLOWED[np.asarray(dram_type_codes)]] = np.inf
    return counts[np.argmin(dist, axis=1)].astype(np.int64)


# --- validation of one design ---------------------------------------------------------------

def _coerce(p: Parameter, raw, field: str):
    """One value of parameter ``p`` checked and converted (friendly units). UserError otherwise."""
    if p.kind == "bool":
        if isinstance(raw, (bool, np.bool_)):
            return bool(raw)
        raise UserError(f"{field}: {raw!r} is not allowed (allowed: true, false)")
    if p.kind == "categorical":
        if isinstance(raw, str):
            for c in p.choice_values:
                if c.lower() == raw.lower():
                    return c
        raise UserError(f"{field}: {raw!r} is not allowed (allowed: {p.describe_domain()})")
    if isinstance(raw, (bool, np.bool_)) or not isinstance(raw, (int, float, np.integer, np.floating)):
        raise UserError(f"{field}: {raw!r} is not a number (allowed: {p.describe_domain()})")
    if not math.isfinite(float(raw)):
        raise UserError(f"{field}: {raw!r} is not a finite number (allowed: {p.describe_domain()})")
    if p.kind in ("int", "log_int"):
        if float(raw) != int(raw):
            raise UserError(f"{field}: {raw!r} is not an integer (allowed: {p.describe_domain()})")
        val: int | float = int(raw)
    else:
        val = float(raw)
    low, high = p.bounds
    if val < low:
        raise UserError(f"{field}: {_fmt(raw)} is below the minimum {_fmt(low)} (allowed: {p.describe_domain()})")
    if val > high:
        raise UserError(f"{field}: {_fmt(raw)} is above the maximum {_fmt(high)} (allowed: {p.describe_domain()})")
    return val


def validate_params(params: Mapping[str, Any], *, prefix: str = "design.") -> dict:
    """Check one design's parameters (friendly units) and return a complete, normalized dict.

    Unknown names, wrong types, values outside the parameter's domain, unknown categorical values
    and DRAM channel counts not allowed for the DRAM type raise :class:`UserError` naming
    ``{prefix}NAME`` and the allowed values. Missing parameters take their default value.
    """
    for name in params:
        if name not in _BY_NAME:
            raise UserError(f"{key_path(prefix[:-1], name)}: unknown parameter (allowed: {', '.join(PARAMETER_NAMES)})")
    out = {}
    for p in PARAMETERS:
        out[p.name] = _coerce(p, params[p.name], prefix + p.name) if p.name in params else p.default
    allowed = allowed_channels(out["dram_type"])
    if out["dram_channels"] not in allowed:
        raise UserError(f"{prefix}dram_channels: {out['dram_channels']} not allowed for {out['dram_type']} "
                        f"(allowed: {', '.join(map(str, allowed))})")
    return out


# --- domains --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Domain:
    """A (restricted) domain of one parameter.

    Either ``values`` (explicit tuple of allowed values, friendly units/strings) or a numeric range
    ``low..high`` with optional grid ``step`` and ``log`` scale.
    """

    name: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    values: tuple | None = None

    def __post_init__(self) -> None:
        # what :attr:`bounds` relies on
        if self.values is None and (self.low is None or self.high is None):
            raise ValueError(f"domain of {self.name}: give values or both low and high")

    @property
    def fixed(self) -> bool:
        return self.values is not None and len(self.values) == 1 or (
            self.values is None and self.low == self.high)

    @property
    def bounds(self) -> tuple[float, float]:
        """(low, high) of a range domain (one without ``values``: both are set, see ``__post_init__``)."""
        assert self.low is not None and self.high is not None, f"domain of {self.name} is a value list"
        return self.low, self.high


def default_domain(name: str) -> Domain:
    """The parameter's full default domain."""
    p = get_parameter(name)
    if p.numeric:
        return Domain(name, p.low, p.high, p.step, p.log)
    return Domain(name, values=tuple(p.choice_values))


def make_domain(name: str, spec: Any, *, prefix: str = "space.") -> Domain:
    """Parse a domain spec (see module docstring) for parameter ``name``; check it is inside the
    default domain. Errors name ``{prefix}NAME``."""
    if isinstance(spec, Domain):
        spec_name = spec.name
        if spec.values is not None:
            # numeric value lists must stay lists (a 2-element list would read as a range)
            numeric = _BY_NAME[spec_name].numeric if spec_name in _BY_NAME else False
            spec = {"values": list(spec.values)} if numeric else list(spec.values)
        else:
            spec = {"low": spec.low, "high": spec.high, "step": spec.step, "log": spec.log}
        name = spec_name
    p = _BY_NAME.get(name)
    if p is None:
        raise UserError(f"{key_path(prefix[:-1], name)}: unknown parameter (allowed: {', '.join(PARAMETER_NAMES)})")
    field = prefix + name
    if not p.numeric:
        vals = spec if isinstance(spec, (list, tuple)) else [spec]
        if not vals:
            raise UserError(f"{field}: empty list (allowed: {p.describe_domain()})")
        return Domain(name, values=tuple(dict.fromkeys(_coerce(p, v, field) for v in vals)))
    if isinstance(spec, Mapping):
        extra = set(spec) - {"low", "high", "step", "log", "values"}
        if extra:
            raise UserError(f"{field}.{sorted(extra)[0]}: unknown key (allowed: low, high, step, log, values)")
        if "values" in spec:
            return _values_domain(p, spec["values"], field)
        if "low" not in spec or "high" not in spec:
            raise UserError(f"{field}: a range needs low and high (allowed: {p.describe_domain()})")
        low, high = spec["low"], spec["high"]
        step, log = spec.get("step", p.step), bool(spec.get("log", p.log))
    elif isinstance(spec, (list, tuple)):
        if len(spec) != 2:
            raise UserError(f"{field}: a range is [low, high]; use {{values = [...]}} for a list "
                            f"(allowed: {p.describe_domain()})")
        low, high = spec
        step, log = p.step, p.log
    else:
        return _values_domain(p, [spec], field)
    low, high = _coerce(p, low, field + ".low"), _coerce(p, high, field + ".high")
    if low > high:
        raise UserError(f"{field}: low {_fmt(low)} is above high {_fmt(high)}")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 0:
            raise UserError(f"{field}.step: {step!r} must be a number > 0")
        if p.kind != "float" and float(step) != int(step):
            raise UserError(f"{field}.step: {step!r} must be an integer")
    if p.kind == "float" and not log:
        _linear_step(p, step, field)
    return Domain(name, low, high, step, log)


def _values_domain(p: Parameter, vals, field: str) -> Domain:
    if not isinstance(vals, (list, tuple)) or not vals:
        raise UserError(f"{field}: values must be a non-empty list (allowed: {p.describe_domain()})")
    return Domain(p.name, values=tuple(sorted(set(_coerce(p, v, field) for v in vals))))


def resolve_domains(domains: Mapping[str, Any] | None) -> dict[str, Domain]:
    """Every parameter's :class:`Domain`: parsed from ``domains`` where given, otherwise fixed at the
    parameter's default value."""
    domains = domains or {}
    for name in domains:
        if name not in _BY_NAME:
            raise UserError(f"space.{name}: unknown parameter (allowed: {', '.join(PARAMETER_NAMES)})")
    return {p.name: make_domain(p.name, domains[p.name]) if p.name in domains
            else Domain(p.name, values=(p.default,)) for p in PARAMETERS}


def fixed_values(domains: Mapping[str, Any] | None) -> dict[str, Any]:
    """Parameters with a single value (including those missing from ``domains``): name -> value."""
    out = {}
    for name, d in resolve_domains(domains).items():
        if d.fixed:
            out[name] = d.values[0] if d.values is not None else d.low
    return out


def optuna_distributions(domains: Mapping[str, Any] | None) -> dict[str, od.BaseDistribution]:
    """Optuna distributions of the *searched* parameters (fixed ones are left out; see
    :func:`fixed_values`). int -> IntDistribution(step), log_int -> IntDistribution(log=True),
    float -> FloatDistribution(step) on the grid's points (continuous when log), categorical/bool
    and explicit value lists ->
    CategoricalDistribution. ``dram_channels`` may come out not allowed for the sampled
    ``dram_type``: decode with ``DesignBatch.from_params(..., repair_channels=True)`` or treat it
    as infeasible.
    """
    out: dict[str, od.BaseDistribution] = {}
    for name, d in resolve_domains(domains).items():
        if d.fixed:
            continue
        p = _BY_NAME[name]
        if d.values is not None:
            out[name] = od.CategoricalDistribution(list(d.values))
            continue
        if p.grid_only:  # the grid's points only, never e.g. 533 bits
            out[name] = od.CategoricalDistribution([v.item() for v in domain_values(d)])
            continue
        low, high = d.bounds  # a range from here on
        if p.kind == "int":
            int_step = int(d.step or 1)
            top = low + (high - low) // int_step * int_step
            out[name] = od.IntDistribution(int(low), int(top), step=int_step)
        elif p.kind == "log_int" and low == 0:  # a log scale cannot hold 0: the grid's points
            out[name] = od.CategoricalDistribution([int(v) for v in domain_values(d)])
        elif p.kind == "log_int":
            out[name] = od.IntDistribution(int(low), int(high), log=True)
        elif d.log:
            out[name] = od.FloatDistribution(float(low), float(high), log=True)
        else:  # the same points as the grid: low, low + step, ... (Optuna cannot step a log range)
            step = _linear_step(p, d.step, f"space.{name}")
            top = float(domain_values(d)[-1])
            out[name] = (od.FloatDistribution(float(low), top, step=step) if top > low
                         else od.FloatDistribution(float(low), float(high)))
    return out


# --- grids ----------------------------------------------------------------------------------

def domain_values(domain: Domain) -> np.ndarray:
    """The grid points of one domain (friendly units; strings for categoricals), shape (n,)."""
    p = _BY_NAME[domain.name]
    if domain.values is not None:
        return np.array(domain.values, dtype=object if p.kind == "categorical" else None)
    low, high = domain.bounds  # a range from here on
    if p.kind == "int":
        return np.arange(int(low), int(high) + 1, int(domain.step or 1), dtype=np.int64)
    if p.kind == "log_int" and low == 0:
        ones = domain_values(Domain(domain.name, 1, high)) if high >= 1 else np.zeros(0, np.int64)
        return np.concatenate([[0], ones]).astype(np.int64)
    if p.kind == "log_int" or domain.log:
        n = int(math.floor(math.log2(high / low) + 1e-9)) + 1
        vals = low * 2.0 ** np.arange(n)
        return vals.astype(np.int64) if p.kind == "log_int" else vals
    step = _linear_step(p, domain.step, f"space.{domain.name}")
    count = (high - low) / step + 1
    if not math.isfinite(count) or count > MAX_GRID_DESIGNS:
        raise UserError(f"space.{domain.name}.step: {step!r} gives more than {MAX_GRID_DESIGNS} grid points "
                        f"from {_fmt(low)} to {_fmt(high)}; use a larger step")
    n = int(math.floor((high - low) / step + 1e-9)) + 1
    return np.round(low + step * np.arange(n), 9)


def _linear_step(p: Parameter, step: float | None, field: str) -> float:
    """Grid step of a linear ``float`` range: its own, else the parameter's; UserError without one
    (``sram_mb`` declares none: it is searched on a log scale)."""
    step = step or p.step
    if step is None:
        raise UserError(f"{field}.step: a linear range of {p.name} needs a step (or log = true)")
    return float(step)


def grid_codes(name: str, values: np.ndarray) -> np.ndarray:
    """Grid values of parameter ``name`` as stored in a DesignBatch column (int8 codes for
    categoricals, the values otherwise)."""
    p = _BY_NAME[name]
    if p.kind == "categorical":
        return np.array([p.choice_values.index(v) for v in values], dtype=np.int8)
    return values


def grid_size(domains: Mapping[str, Any] | None) -> int:
    """Number of designs :func:`grid` returns (after dropping disallowed DRAM channel counts)."""
    doms = resolve_domains(domains)
    n = 1
    for name, d in doms.items():
        if name not in ("dram_type", "dram_channels"):
            n *= len(domain_values(d))
    types = grid_codes("dram_type", domain_values(doms["dram_type"])).astype(np.int64)
    chans = domain_values(doms["dram_channels"]).astype(np.int64)
    ok = channels_allowed(np.repeat(types, len(chans)), np.tile(chans, len(types)))
    return n * int(ok.sum())
