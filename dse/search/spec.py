"""Study files (``studies/*.toml``) parsed into a validated :class:`StudySpec`.

Every error is a :class:`dse.errors.UserError` whose message starts with the TOML path of the
offending field (``space.sram_mb: lower bound 64 > upper bound 8``).

File format (see ``studies/yolov3-2mp-edge.toml`` for a commented example)::

    name = "my-study"               # optional, default: the file name without .toml
    node_nm = 16                    # process node, fixed per study

    [[workloads]]
    name = "yolov3@1920x1088"       # NAME or NAME@WIDTHxHEIGHT; or onnx = "models/net.onnx"
                                    # with resolution = "1920x1080" (path relative to the study)
    batch = 1                       # a whole number, or [1, 64] to search it

    [space]                         # searched parameters (see `dse.hardware.space`)
    cores = [1, 64]                 # a numeric range [low, high] (or {low, high, step, log})
    sram_mb = {values = [2, 4, 8]}  # explicit values
    dram_type = ["LPDDR4X", "LPDDR5"]   # a list of choices (categorical parameters)
    winograd = true                 # a scalar: fixed

    [budgets]
    area_mm2 = 100
    die_cost_usd = 20               # cost of a good die (dse.hardware.cost)
    power_w = 10
    latency_ms = {"yolov3@1920x1088" = 250}        # optional, per workload
    min_throughput_ips = {"yolov3@1920x1088" = 2}  # optional, per workload

    [[objectives]]
    metric = "throughput"           # throughput, area, die_cost, power, energy, latency,
    workload = "yolov3@1920x1088"   # throughput_per_w, throughput_per_mm2

    [search]
    sampler = "vectorized"          # vectorized, nsga2, nsga3, tpe, random, gp, exhaustive
    designs = 65536                 # vectorized: designs evaluated (its front becomes the trials)
    # trials = 2000                 # the Optuna samplers: complete Optuna trials
    population = 64                 # NSGA-II/III
    seed = 1

    With no sampler named, a [search] that sets ``trials`` runs ``nsga2`` (what ``trials`` has
    always meant) and any other runs ``vectorized`` with ``designs`` (default
    :data:`DEFAULT_DESIGNS`). ``trials`` with ``vectorized``, or ``designs`` with an Optuna
    sampler, is an error naming the key to use: the two budgets count different things.

    [execution]
    executor = "auto"               # auto, local, ray
    workers = 2
    ray_address = ""                # "" starts a local Ray; "auto" or HOST:PORT joins a cluster

    [storage]
    url = ""                        # "" = journal file results/NAME/study.journal; any Optuna URL

    [technology]                    # catalog overrides, e.g. layer_overhead_s = 5e-6
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

from dse.errors import UserError, key_path
from dse.hardware import space as hwspace
from dse.hardware.technology import SUPPORTED_NODES_NM, catalog_rows, load_technology
from dse.model.metrics import OBJECTIVES, Direction, column_name
from dse.user_files import load_user_toml
from dse.workloads.registry import parse_workload

SAMPLERS = ("nsga2", "nsga3", "tpe", "random", "gp", "exhaustive", "vectorized")
EXECUTORS = ("auto", "local", "ray")
TOP_LEVEL_KEYS = {"name", "description", "node_nm", "workloads", "space", "budgets", "objectives",
                  "search", "execution", "storage", "technology"}
SEARCH_DEFAULTS = {"sampler": "vectorized", "trials": 1024, "designs": 65536, "population": 64, "seed": 0}
#: The sampler of a study that names none and sets no ``trials`` (scripts/bench_search.py and
#: scripts/bench_large_space.py measure why), and its budget in designs evaluated.
DEFAULT_SAMPLER = SEARCH_DEFAULTS["sampler"]
DEFAULT_DESIGNS = SEARCH_DEFAULTS["designs"]
#: The sampler of a study that names none but sets ``trials`` (Optuna trials, as always).
TRIALS_SAMPLER = "nsga2"
#: Samplers whose budget is ``search.designs`` (designs evaluated), not ``search.trials``.
DESIGN_BUDGET_SAMPLERS = ("vectorized",)
EXECUTION_DEFAULTS = {"executor": "auto", "workers": 0, "ray_address": ""}
#: Upper bound on trials per study: beyond this, exhaustive enumeration is the right tool.
MAX_TRIALS = 1_000_000
#: Upper bound on a vectorized search's designs: its designs table holds ~1 KB per design on disk
#: and a discrete space keeps 8 bytes per evaluated design in memory.
MAX_DESIGNS = 100_000_000
#: Largest seed numpy's generators (and so Optuna's samplers) accept: 2^32 - 1.
MAX_SEED = 2**32 - 1
MS = 1e-3
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class WorkloadSpec:
    """One workload of a study; ``batch`` is fixed (int) or searched (``batch_param`` names it)."""

    label: str  # canonical NAME@WxH
    batch: int | None
    batch_domain: hwspace.Domain | None = None

    @property
    def batch_param(self) -> str:
        return f"batch.{self.label}"


@dataclass(frozen=True)
class Objective:
    """One objective: a metric of :data:`dse.model.metrics.OBJECTIVES` (by its study-file name),
    on a workload label when the metric is per workload (None otherwise)."""

    metric: str
    workload: str | None

    @property
    def direction(self) -> Direction:
        direction = OBJECTIVES[self.metric].direction
        assert direction is not None  # every objective metric declares one
        return direction

    @property
    def column(self) -> str:
        """The stored column it reads: ``area_mm2`` or ``LABEL:throughput_ips`` (SI)."""
        return column_name(OBJECTIVES[self.metric], self.workload)

    @property
    def label(self) -> str:
        m = OBJECTIVES[self.metric]
        where = f" on {self.workload}" if self.workload else ""
        return f"{self.direction} {self.metric}{where} [{m.si_unit}]"


@dataclass(frozen=True)
class StudySpec:
    """A validated study. Domains use :mod:`dse.hardware.space` conventions."""

    name: str
    node_nm: int
    workloads: tuple[WorkloadSpec, ...]
    searched: dict[str, hwspace.Domain]  # parameter -> its searched domain
    fixed: dict[str, Any]  # parameter -> value (defaults filled in)
    area_mm2: float | None
    power_w: float | None
    latency_s: dict[str, float]
    min_throughput_ips: dict[str, float]
    objectives: tuple[Objective, ...]
    sampler: str
    #: The budget: complete Optuna trials, or designs evaluated for the samplers of
    #: :data:`DESIGN_BUDGET_SAMPLERS` (``search.designs``; see :meth:`budget_key`).
    trials: int
    population: int
    seed: int
    executor: str
    workers: int
    ray_address: str
    storage_url: str
    technology: dict[str, float]
    die_cost_usd: float | None = None
    source_path: Path | None = None
    source_text: str = ""
    description: str = ""

    @property
    def budget_key(self) -> str:
        """The study-file key of :attr:`trials`: ``designs`` for the vectorized search, else ``trials``."""
        return "designs" if self.sampler in DESIGN_BUDGET_SAMPLERS else "trials"

    @property
    def directions(self) -> list[Direction]:
        return [o.direction for o in self.objectives]

    def results_dir(self, root: Path | str = "results") -> Path:
        return Path(root) / self.name


def _fail(path: str, msg: str):
    raise UserError(f"{path}: {msg}")




def _check_keys(table: dict, allowed: set[str], path: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        _fail(key_path(path, unknown[0]), f"unknown key (allowed: {', '.join(sorted(allowed))})")


#: Keys of a numeric domain table (``cores = {low = 1, high = 64, step = 1}``).
DOMAIN_KEYS = {"low", "high", "step", "log", "values"}


def _domain(name: str, value, path: str) -> "hwspace.Domain":
    """:func:`hwspace.make_domain` with the table's keys checked here first (quoted in messages)."""
    if isinstance(value, dict):
        if not hwspace.get_parameter(name).numeric:
            _fail(path, f"expected a list of choices or one value, got a table "
                  f"(allowed: {hwspace.get_parameter(name).describe_domain()})")
        _check_keys(value, DOMAIN_KEYS, path)
    return hwspace.make_domain(name, value, prefix=path[: -len(name)] if path.endswith(name) else f"{path}.")


@overload
def _number(value, path: str, *, integer: Literal[True], positive: bool = ..., allow_zero: bool = ...) -> int: ...
@overload
def _number(value, path: str, *, integer: Literal[False] = ..., positive: bool = ...,
            allow_zero: bool = ...) -> float: ...
def _number(value, path: str, *, integer: bool = False, positive: bool = True, allow_zero: bool = False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(path, f"expected a {'whole ' if integer else ''}number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        _fail(path, f"{value!r} is not a finite number")
    if integer and float(value) != int(value):
        _fail(path, f"expected a whole number, got {value!r}")
    if positive and (value < 0 or (value == 0 and not allow_zero)):
        _fail(path, f"{value!r} must be {'>= 0' if allow_zero else '> 0'}")
    return int(value) if integer else float(value)


def _table(value, path: str) -> dict:
    if not isinstance(value, dict):
        _fail(path, f"expected a table, got {type(value).__name__}")
    return value


def _string(value, path: str) -> str:
    if not isinstance(value, str):
        _fail(path, f"expected a string, got {type(value).__name__} {value!r}")
    return value


def _relative_storage(url: str, base_dir: Path | None) -> str:
    """A journal or SQLite file named in a study file is relative to the study file (as ONNX paths
    are), not to the shell's folder; database URLs and absolute paths are kept."""
    if base_dir is None or not url:
        return url
    if url.startswith("sqlite:///"):
        db = url.removeprefix("sqlite:///")
        if db and db != ":memory:" and not Path(db).is_absolute():
            return f"sqlite:///{(base_dir / db).resolve()}"
        return url
    if url.startswith("journal:") or url.endswith(".journal"):
        prefix = "journal:" if url.startswith("journal:") else ""
        path = Path(url.removeprefix("journal:"))
        return url if path.is_absolute() else f"{prefix}{(base_dir / path).resolve()}"
    return url


def _onnx_workload(item: dict, p: str, base_dir: Path | None) -> tuple[str, list[str]]:
    """An ONNX workload ``{onnx = "models/net.onnx", resolution = "1920x1080"}``: its label
    (``/abs/path/net.onnx@WxH``, which every process can load) and the names it may be called by."""
    from dse.workloads.onnx_import import load_onnx_workload

    given = _string(item["onnx"], f"{p}.onnx")
    res = _string(item["resolution"], f"{p}.resolution") if "resolution" in item else None
    path = Path(given)
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    table = load_onnx_workload(str(path.resolve()), res, field=f"{p}.onnx")
    label = f"{path.resolve()}@{table.width}x{table.height}"
    if res is None:
        try:  # the label must load again in every process: with a resolution for image models...
            load_onnx_workload(label.rsplit("@", 1)[0], f"{table.width}x{table.height}", field=f"{p}.onnx")
        except UserError:  # ...and without one for non-image inputs (rank 2, e.g. an MLP)
            label = str(path.resolve())
    return label, [given, f"{given}@{table.width}x{table.height}", table.label, Path(given).stem]


def _workloads(raw, path="workloads", base_dir: Path | None = None) -> tuple[tuple[WorkloadSpec, ...], dict]:
    """The workloads and an alias map (names as written -> label) for objectives and budgets."""
    if not isinstance(raw, list) or not raw:
        _fail(path, "expected a non-empty array of tables like {name = \"yolov3@1920x1088\", batch = 1}")
    out: list[WorkloadSpec] = []
    seen: set[str] = set()
    aliases: dict[str, str] = {}
    for i, item in enumerate(raw):
        p = f"{path}[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        item = _table(item, p)
        if "onnx" in item:
            _check_keys(item, {"onnx", "resolution", "batch"}, p)
            label, names = _onnx_workload(item, p, base_dir)
        else:
            _check_keys(item, {"name", "batch"}, p)
            if "name" not in item:
                _fail(f"{p}.name", "missing (NAME or NAME@WIDTHxHEIGHT, or onnx = \"FILE.onnx\")")
            written = _string(item["name"], f"{p}.name")
            name, w, h = parse_workload(written, f"{p}.name")
            label, names = f"{name}@{w}x{h}", [written]
        if label in seen:
            _fail(f"{p}", f"{label} is listed twice")
        seen.add(label)
        for alias in [label, *names]:
            aliases.setdefault(alias, label)
        batch = item.get("batch", 1)
        if isinstance(batch, (dict, list)):
            dom = _domain("batch", batch, f"{p}.batch")
            if dom.fixed:
                out.append(WorkloadSpec(label, int(hwspace.domain_values(dom)[0])))
            else:
                out.append(WorkloadSpec(label, None, dom))
        else:
            b = _number(batch, f"{p}.batch", integer=True)
            hwspace.validate_params({"batch": b}, prefix=f"{p}.")
            out.append(WorkloadSpec(label, b))
    return tuple(out), aliases


def _resolve_workload(text, field: str, aliases: dict, labels) -> str:
    """A workload named in an objective or a budget -> its label (names as written work too)."""
    text = _string(text, field)
    if text in aliases:
        return aliases[text]
    allowed = ", ".join(sorted(labels))
    try:
        name, w, h = parse_workload(text, field)
    except UserError:
        _fail(field, f"not a workload of this study (workloads: {allowed})")
    label = f"{name}@{w}x{h}"
    if label not in labels:
        _fail(field, f"{label} is not a workload of this study (workloads: {allowed})")
    return label


def _space(raw, path="space") -> tuple[dict[str, hwspace.Domain], dict[str, Any]]:
    """Split ``[space]`` into searched domains and fixed values (defaults fill the rest)."""
    raw = _table(raw, path)
    names = [p.name for p in hwspace.PARAMETERS if p.name != "batch"]
    _check_keys(raw, set(names), path)
    searched, fixed = {}, {}
    for key, value in raw.items():
        dom = _domain(key, value, f"{path}.{key}")
        if dom.fixed:
            fixed[key] = dom.values[0] if dom.values is not None else dom.low
        else:
            searched[key] = dom
    dram = {k: fixed.pop(k) for k in ("dram_type", "dram_channels") if k in fixed}
    checked = hwspace.validate_params(fixed, prefix=f"{path}.")
    if len(dram) == 2 or not ({"dram_type", "dram_channels"} & set(searched)):
        checked.update(hwspace.validate_params({**fixed, **dram}, prefix=f"{path}."))
    else:  # one of the pair is searched: decoded designs snap channels to the type's allowed counts
        checked.update(dram)
    checked.pop("batch", None)
    fixed = {k: v for k, v in checked.items() if k not in searched}
    return searched, fixed


def _per_workload(raw, path: str, aliases: dict, labels: set[str], scale: float) -> dict[str, float]:
    raw = _table(raw, path)
    out = {}
    for key, value in raw.items():
        field_ = key_path(path, key)
        out[_resolve_workload(key, field_, aliases, labels)] = _number(value, field_) * scale
    return out


def _objectives(raw, labels: list[str], aliases: dict, path="objectives") -> tuple[Objective, ...]:
    if raw is None:
        raw = [{"metric": "throughput", "workload": labels[0]}, {"metric": "area"}, {"metric": "power"}]
    if not isinstance(raw, list) or not raw:
        _fail(path, "expected a non-empty array of tables like {metric = \"throughput\", workload = \"...\"}")
    out: list[Objective] = []
    for i, item in enumerate(raw):
        p = f"{path}[{i}]"
        item = _table(item, p)
        _check_keys(item, {"metric", "workload"}, p)
        metric = _string(item.get("metric"), f"{p}.metric").lower() if "metric" in item else _fail(f"{p}.metric",
                                                                                                  "missing")
        if metric not in OBJECTIVES:
            _fail(f"{p}.metric", f"unknown metric {metric!r} (allowed: {', '.join(OBJECTIVES)})")
        wl = item.get("workload")
        if OBJECTIVES[metric].per_workload:
            if wl is None:
                if len(labels) > 1:
                    _fail(f"{p}.workload", f"required for {metric} when the study has several workloads")
                wl = labels[0]
            wl = _resolve_workload(wl, f"{p}.workload", aliases, labels)
        elif wl is not None:
            _fail(f"{p}.workload", f"{metric} does not take a workload")
        obj = Objective(metric, wl)
        if obj.column in {o.column for o in out}:
            _fail(p, f"objective {obj.column} is listed twice")
        out.append(obj)
    return tuple(out)


def parse_study(data: dict, name: str, source_path: Path | None = None, source_text: str = "") -> StudySpec:
    """Validate a parsed TOML document into a :class:`StudySpec`."""
    _check_keys(data, TOP_LEVEL_KEYS, "")
    name = data.get("name", name)
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        _fail("name", f"{name!r} must be letters, digits, '.', '_' or '-' (it names results/NAME/)")
    if "node_nm" not in data:
        _fail("node_nm", f"missing (allowed: {', '.join(map(str, SUPPORTED_NODES_NM))})")
    node = _number(data["node_nm"], "node_nm", integer=True)
    if node not in SUPPORTED_NODES_NM:
        _fail("node_nm", f"{node} not supported (allowed: {', '.join(map(str, SUPPORTED_NODES_NM))})")
    if "workloads" not in data:
        _fail("workloads", "missing: at least one workload, e.g. [[workloads]] name = \"resnet50\"")
    workloads, aliases = _workloads(data["workloads"], base_dir=source_path.parent if source_path else None)
    labels = [w.label for w in workloads]
    searched, fixed = _space(data.get("space", {}))

    budgets = _table(data.get("budgets", {}), "budgets")
    _check_keys(budgets, {"area_mm2", "die_cost_usd", "power_w", "latency_ms", "min_throughput_ips"}, "budgets")
    area = _number(budgets["area_mm2"], "budgets.area_mm2") if "area_mm2" in budgets else None
    cost = _number(budgets["die_cost_usd"], "budgets.die_cost_usd") if "die_cost_usd" in budgets else None
    power = _number(budgets["power_w"], "budgets.power_w") if "power_w" in budgets else None
    latency = _per_workload(budgets.get("latency_ms", {}), "budgets.latency_ms", aliases, set(labels), MS)
    min_tput = _per_workload(budgets.get("min_throughput_ips", {}), "budgets.min_throughput_ips", aliases,
                             set(labels), 1.0)

    objectives = _objectives(data.get("objectives"), labels, aliases)

    given = _table(data.get("search", {}), "search")
    _check_keys(given, set(SEARCH_DEFAULTS), "search")
    if "sampler" not in given:  # trials keeps its meaning: Optuna trials of nsga2
        given = {**given, "sampler": TRIALS_SAMPLER if "trials" in given else DEFAULT_SAMPLER}
    search = {**SEARCH_DEFAULTS, **given}
    sampler = _string(search["sampler"], "search.sampler").lower()
    if sampler not in SAMPLERS:
        _fail("search.sampler", f"unknown sampler {sampler!r} (allowed: {', '.join(SAMPLERS)})")
    if sampler in DESIGN_BUDGET_SAMPLERS and "trials" in given:
        _fail("search.trials", f"sampler = {sampler!r} counts designs evaluated, not Optuna trials: "
              "set search.designs (e.g. designs = 65536; its front becomes the study's trials)")
    if sampler not in DESIGN_BUDGET_SAMPLERS and "designs" in given:
        _fail("search.designs", f"applies to sampler = \"vectorized\" (designs evaluated); "
              f"sampler = {sampler!r} counts Optuna trials: set search.trials")
    if sampler == "gp":
        import importlib.util
        if not (importlib.util.find_spec("torch") and importlib.util.find_spec("scipy")):
            _fail("search.sampler", "gp needs torch and scipy installed (pip install torch scipy); "
                  "allowed without them: vectorized, nsga2, nsga3, tpe, random, exhaustive")
    if sampler in DESIGN_BUDGET_SAMPLERS:
        trials = _number(search["designs"], "search.designs", integer=True)
        if trials > MAX_DESIGNS:
            _fail("search.designs", f"{trials} is above {MAX_DESIGNS}")
    else:
        trials = _number(search["trials"], "search.trials", integer=True)
        if trials > MAX_TRIALS:
            _fail("search.trials", f"{trials} is above {MAX_TRIALS} (use sampler = \"exhaustive\" for full sweeps)")
    population = _number(search["population"], "search.population", integer=True)
    if population < 2:
        _fail("search.population", f"{population} is below 2")
    seed = _number(search["seed"], "search.seed", integer=True, allow_zero=True)
    if seed > MAX_SEED:
        _fail("search.seed", f"{seed} is outside 0..{MAX_SEED} (the samplers' seed range)")
    if not searched and not any(w.batch_domain for w in workloads):
        _fail("space", "nothing to search: give at least one parameter a range or a list of values "
              "(e.g. cores = [1, 64]); to score one design use `dse evaluate --design FILE.toml`")
    if sampler == "exhaustive":
        hwspace.grid_size(searched)  # raises if a float range has no step

    execution = {**EXECUTION_DEFAULTS, **_table(data.get("execution", {}), "execution")}
    _check_keys(execution, set(EXECUTION_DEFAULTS), "execution")
    executor = _string(execution["executor"], "execution.executor").lower()
    if executor not in EXECUTORS:
        _fail("execution.executor", f"unknown executor {executor!r} (allowed: {', '.join(EXECUTORS)})")
    workers = _number(execution["workers"], "execution.workers", integer=True, allow_zero=True)
    ray_address = _string(execution["ray_address"], "execution.ray_address")

    storage = _table(data.get("storage", {}), "storage")
    _check_keys(storage, {"url"}, "storage")
    storage_url = _relative_storage(_string(storage.get("url", ""), "storage.url"),
                                    source_path.parent if source_path else None)

    technology = _table(data.get("technology", {}), "technology")
    tech_over = {}
    known = set(catalog_rows()["key"])
    for key, value in technology.items():
        if key not in known:
            _fail(key_path("technology", key), "unknown technology key (the keys are listed by "
                  "`dse evaluate --catalog` and in dse/hardware/catalog/*.csv)")
        tech_over[key] = _number(value, f"technology.{key}", allow_zero=True)
    tech = load_technology(node, tech_over)  # validates keys and values (names technology.KEY)
    for key in tech_over:  # a huge value in catalog units can overflow in SI units
        if not math.isfinite(tech.value(key)):
            _fail(f"technology.{key}", f"{tech_over[key]!r} is too large (not finite in SI units)")

    return StudySpec(
        name=name, node_nm=node, workloads=workloads, searched=searched, fixed=fixed, area_mm2=area,
        power_w=power, latency_s=latency, min_throughput_ips=min_tput, objectives=objectives,
        sampler=sampler, trials=trials, population=population, seed=seed, executor=executor,
        workers=workers, ray_address=ray_address, storage_url=storage_url, technology=tech_over,
        die_cost_usd=cost, source_path=source_path, source_text=source_text,
        description=str(data.get("description", "")),
    )


def load_study(path: str | Path) -> StudySpec:
    """Read and validate a study file; every problem is one :class:`UserError` line."""
    path = Path(path)
    data, text = load_user_toml(path, what="study file")
    if not data:
        raise UserError(f"{path}: empty study file (needs node_nm and [[workloads]] at least)")
    return parse_study(data, path.stem, path, text)
