"""Exhaustive search: evaluate every design of a discrete space and keep the exact Pareto front.

The ground truth for search quality (``scripts/bench_search.py``) and a feature in its own right:
for a space of up to ~10^7 designs (``dse.hardware.space.MAX_GRID_DESIGNS``) the sweep evaluates
every design, in chunks, and keeps only what it must:

* The grid is never built whole: each chunk of designs is decoded from its flat indices
  (row-major over ``dse.hardware.space.PARAMETERS``, then the searched workload batches, the last
  varying fastest; the same order as :func:`dse.hardware.designs.grid`), and combinations whose DRAM
  channel count is not allowed for their DRAM type are dropped, as ``grid`` does. Design ``i`` in
  the outputs is the i-th kept design of that order.
* Chunks run on the executors of the study loop, with the same rule (:mod:`dse.search.executors`:
  ``auto`` times the first chunk in-process and moves to Ray only when a chunk is worth it and the
  rest of the sweep is long enough to repay Ray's start) and the same chunking (chunk sizes from
  :func:`dse.search.executors.batch_designs`). The driver evaluates the next chunk while a helper
  thread scores and writes the previous one.
* Constraints are those of the search loop (:func:`dse.search.scoring.constraint_values`): a design
  is feasible when every relative budget violation is <= 0 and every objective is finite. The
  running front is merged chunk by chunk with :func:`dse.search.pareto.pareto_mask` (exact).

Outputs in ``results/NAME/`` (the study's Optuna storage is not used: nothing to resume):

* ``exhaustive.parquet``: one row per design with columns ``design``, the searched parameters
  (friendly units, names as in ``trials.parquet``; ``batch.LABEL`` for searched batches), every
  metric (SI, ``LABEL:metric``), ``constraint:NAME``, ``feasible`` and ``pareto``. Rule: every
  design when the space has at most :data:`FULL_TABLE_MAX_DESIGNS` designs, otherwise only the
  feasible designs (the front is a subset of them). Written chunk by chunk (constant memory).
* ``pareto.csv``: the feasible Pareto front, same columns, sorted by the first objective.
* ``summary.json``: the keys of ``dse.search.tables.write_tables`` (``trials_complete`` = designs
  evaluated, ``trials_feasible``, ``pareto_size``, ``objectives``, ``best``) plus
  ``designs_total``, ``designs_evaluated``, ``designs_feasible``, ``designs_non_finite``,
  ``front_size``, ``seconds``, ``designs_per_s``, ``executor``, ``table_rows`` and ``table_rule``.
* ``study.toml``: a copy of the study file.

:func:`run_exhaustive` returns a :class:`dse.search.scoring.RunResult` whose ``study`` is None (there
is no Optuna study); it carries ``summary`` (the dict written to summary.json) and ``front`` (the
Pareto front as a DataFrame) as extra attributes.
"""

from __future__ import annotations

import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dse import jsonsafe
from dse.atomic_write import atomic_path, write_text_atomic
from dse.errors import UserError
from dse.hardware import space as hwspace
from dse.hardware.grid_order import axis_positions
from dse.search.executors import Executor, batch_designs, make_executor
from dse.search.pareto import pareto_mask
from dse.search.results_files import CONSTRAINT_PREFIX, EXHAUSTIVE_PARQUET, PARETO_CSV, SUMMARY_JSON
from dse.search.scoring import (RunResult, best_per_objective, better, budget_columns, constraint_values,
                                feasible_mask, smallest_seen, write_study_copy)
from dse.search.spec import StudySpec

#: Spaces up to this size get every design in exhaustive.parquet; larger ones only feasible ones.
FULL_TABLE_MAX_DESIGNS = 1_000_000


@dataclass(frozen=True)
class Axis:
    """One enumerated axis: a searched hardware parameter or a searched workload batch."""

    name: str  # column name in the outputs (parameter name or batch.LABEL)
    values: np.ndarray  # grid values: codes for categoricals, friendly units otherwise
    choices: tuple | None = None  # categorical names (values are codes into it)


class ExhaustiveSpace:
    """The discrete space of a spec, decoded chunk by chunk from flat indices.

    ``axes``: enumerated axes (more than one value), in row-major order. ``fixed``: columns with
    one value. ``total``: designs after dropping disallowed DRAM channel counts.
    """

    def __init__(self, spec, max_designs: int = hwspace.MAX_GRID_DESIGNS):
        self.spec = spec
        self.axes: list[Axis] = []
        self.fixed: dict[str, object] = {}
        for p in hwspace.PARAMETERS:
            if p.name == "batch":
                continue
            if p.name in spec.searched:
                vals = hwspace.domain_values(spec.searched[p.name])
            else:
                vals = np.array([spec.fixed.get(p.name, p.default)],
                                dtype=object if p.kind == "categorical" else None)
            choices = p.choices if p.kind == "categorical" else None
            if choices is not None:
                vals = np.array([choices.index(v) for v in vals], dtype=np.int8)
            if len(vals) > 1:
                self.axes.append(Axis(p.name, vals, choices))
            else:
                self.fixed[p.name] = vals[0]
        self.batch_axes: dict[str, str] = {}  # workload label -> axis name
        for w in spec.workloads:
            if w.batch_domain is not None:
                vals = hwspace.domain_values(w.batch_domain).astype(np.int64)
                if len(vals) > 1:
                    self.axes.append(Axis(w.batch_param, vals))
                    self.batch_axes[w.label] = w.batch_param
        self.raw_total = math.prod(len(a.values) for a in self.axes)
        by_name = {a.name: a.values for a in self.axes}
        types = by_name.get("dram_type", np.array([self.fixed.get("dram_type", 0)]))
        chans = by_name.get("dram_channels", np.array([self.fixed.get("dram_channels", 1)]))
        pairs = int(hwspace.channels_allowed(np.repeat(types.astype(np.int64), len(chans)),
                                             np.tile(chans, len(types))).sum())
        self.total = self.raw_total // (len(types) * len(chans)) * pairs
        if self.total > max_designs:
            raise UserError(f"space: the exhaustive grid has {self.total:,} designs, more than "
                            f"{max_designs:,}; restrict the domains (coarser steps, value lists) or "
                            "use a sampler (search.sampler = \"nsga2\")")
        if self.total == 0:
            raise UserError("space: no design is valid (no allowed dram_channels for the dram_type values)")

    def decode(self, start: int, stop: int) -> tuple[dict, list, dict]:
        """Designs with raw flat indices in [start, stop), invalid DRAM combinations dropped.

        Returns (columns, workloads, axis_columns): ``columns`` and ``workloads`` as
        :func:`dse.search.study.decode` gives them (every column (D,), codes for categoricals;
        (label, batch (D,)) pairs), and the enumerated axes' columns for the output tables.
        """
        flat = np.arange(start, stop, dtype=np.int64)
        positions = axis_positions(flat, [len(a.values) for a in self.axes])
        cols: dict[str, np.ndarray] = {a.name: a.values[pos] for a, pos in zip(self.axes, positions)}
        n = flat.size
        types = cols["dram_type"] if "dram_type" in cols else np.full(n, self.fixed["dram_type"])
        chans = cols["dram_channels"] if "dram_channels" in cols else np.full(n, self.fixed["dram_channels"])
        keep = hwspace.channels_allowed(np.asarray(types, dtype=np.int64), chans)
        if not keep.all():
            cols = {k: v[keep] for k, v in cols.items()}
            n = int(keep.sum())
        columns = {k: v for k, v in cols.items() if not k.startswith("batch.")}
        for name, value in self.fixed.items():
            columns[name] = np.full(n, value)
        workloads = []
        for w in self.spec.workloads:
            if w.label in self.batch_axes:
                batch = cols[self.batch_axes[w.label]].astype(np.int64)
            else:
                b = w.batch if w.batch is not None else int(hwspace.domain_values(w.batch_domain)[0])
                batch = np.full(n, b, dtype=np.int64)
            workloads.append((w.label, batch))
        columns["batch"] = workloads[0][1]
        return columns, workloads, cols

    def param_frame(self, cols: dict[str, np.ndarray]) -> dict[str, object]:
        """Searched-parameter output columns (names for categoricals, friendly units)."""
        out = {}
        for axis in self.axes:
            v = cols[axis.name]
            if axis.choices is not None:
                out[axis.name] = pd.Categorical.from_codes(v.astype(np.int64), categories=list(axis.choices))
            else:
                out[axis.name] = v
        return out


def run_exhaustive(spec: StudySpec, results_root: Path | str = "results", executor: str | None = None,
                   ray_address: str | None = None, progress: bool = True, *,
                   executor_obj: Executor | None = None, chunk_size: int | None = None,
                   full_table_max: int = FULL_TABLE_MAX_DESIGNS) -> RunResult:
    """Evaluate every design of ``spec``'s discrete space; write the tables; return a RunResult.

    Args:
        spec: a StudySpec (``search.sampler`` need not be ``exhaustive``; trials are ignored).
        results_root: outputs go to ``results_root/NAME/``.
        executor: ``auto`` (default: the spec's), ``local`` or ``ray``; ``executor_obj`` overrides.
        ray_address: join this Ray cluster (default: the spec's; "" = local Ray when needed).
        progress: show a tqdm bar (designs, feasible, front size).
        chunk_size: designs per chunk (default: sized by the executor).
        full_table_max: spaces up to this many designs get every design in the parquet table.
    Returns:
        RunResult with ``study=None``, ``evaluated`` = designs evaluated, plus the attributes
        ``summary`` (dict) and ``front`` (DataFrame of the feasible Pareto front).
    """
    start_time = time.perf_counter()
    space = ExhaustiveSpace(spec)
    out_dir = spec.results_dir(results_root)
    address = ray_address if ray_address is not None else spec.ray_address
    # The executor before the results folder: a bad --ray-address leaves nothing behind.
    ex = executor_obj or make_executor(executor or spec.executor, address, spec.workers,
                                       total_designs=space.total)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_study_copy(spec, out_dir)
    except BaseException:
        ex.close()
        raise
    objective_cols = [o.column for o in spec.objectives]
    directions = spec.directions
    write_all = space.total <= full_table_max
    parquet_path = out_dir / EXHAUSTIVE_PARQUET
    tmp_path = out_dir / (EXHAUSTIVE_PARQUET + ".partial")

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=space.total, unit="design", unit_scale=True, desc=f"{spec.name} (exhaustive)",
                   file=sys.stderr, dynamic_ncols=True)

    # Chunks are ranges of raw (unfiltered) flat indices; ~total/raw_total of them are kept.
    keep_ratio = space.total / space.raw_total
    cost_per_design: float | None = None
    raw_pos = 0
    evaluated = 0
    used = ex.name
    state = {"design_pos": 0, "feasible": 0, "non_finite": 0, "rows": 0, "chunks": 0}
    front: pd.DataFrame | None = None
    best: dict[str, dict] = {}
    seen: dict[str, float] = {}
    seen_cols = budget_columns(spec)
    writer = None

    def score(metrics: dict, cols: dict, n: int) -> None:
        """Constraints, best values, the running front and the table rows of one chunk (runs in
        the helper thread, one chunk at a time, in order)."""
        nonlocal front, writer, seen
        state["chunks"] += 1
        seen = smallest_seen(metrics, seen_cols, seen)
        cons = constraint_values(spec, metrics)
        values = np.column_stack([metrics[c] for c in objective_cols])
        finite = np.all(np.isfinite(values), axis=1)
        feasible = feasible_mask(cons, n) & finite
        state["non_finite"] += int((~finite).sum())
        ids = np.arange(state["design_pos"], state["design_pos"] + n, dtype=np.int64)
        state["design_pos"] += n
        state["feasible"] += int(feasible.sum())
        for col, d, found in zip(objective_cols, directions, best_per_objective(values, feasible, directions)):
            if found is not None and better(found[0], best.get(col, {}).get("value"), d):
                best[col] = {"value": found[0], "design": int(ids[found[1]])}

        params = space.param_frame(cols)
        frame = pd.DataFrame({"design": ids, **params, **{k: v for k, v in metrics.items() if k not in params},
                              **{f"{CONSTRAINT_PREFIX}{k}": v for k, v in cons.items()}, "feasible": feasible})
        if feasible.any():
            cand = frame[feasible]
            if front is not None:
                cand = pd.concat([front, cand], ignore_index=True)
            front = cand[pareto_mask(cand[objective_cols].to_numpy(), directions)].reset_index(drop=True)
        table = frame if write_all else frame[feasible]
        if len(table):
            import pyarrow as pa
            import pyarrow.parquet as pq

            tab = pa.Table.from_pandas(table, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(tmp_path, tab.schema)
            writer.write_table(tab)
            state["rows"] += len(table)
        if bar is not None:
            bar.set_postfix_str(f"feasible={state['feasible']} front={0 if front is None else len(front)}",
                                refresh=False)
            bar.update(n)

    pool = ThreadPoolExecutor(max_workers=1)
    scoring = None
    try:
        # Evaluation stays in this thread (Ray is started and driven from the main thread); the
        # helper thread scores and writes the previous chunk meanwhile.
        while raw_pos < space.raw_total:
            size = int(chunk_size) if chunk_size else batch_designs(ex, cost_per_design)
            stop = min(space.raw_total, raw_pos + max(1, int(math.ceil(size / keep_ratio))))
            columns, workloads, cols = space.decode(raw_pos, stop)
            raw_pos = stop
            n = len(columns["batch"])
            if n == 0:
                continue
            t0 = time.perf_counter()
            metrics = ex.evaluate(columns, spec.node_nm, spec.technology, workloads)
            if cost_per_design is None:  # per design and worker (a Ray chunk runs on all workers)
                cost_per_design = (time.perf_counter() - t0) * max(1, ex.workers) / n
            used = "ray" if ex.name == "ray" else used
            evaluated += n
            if scoring is not None:
                scoring.result()  # errors surface here; at most two chunks in memory
            scoring = pool.submit(score, metrics, cols, n)
        if scoring is not None:
            scoring.result()
    finally:
        pool.shutdown(wait=True)
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
        ex.close()

    eval_seconds = time.perf_counter() - start_time
    front = front if front is not None else pd.DataFrame(columns=["design", *objective_cols])
    front = front.sort_values(objective_cols[0], ascending=directions[0] == "minimize",
                              kind="stable").reset_index(drop=True)
    front["pareto"] = True
    _finish_parquet(tmp_path, parquet_path, set(front["design"].tolist()))
    with atomic_path(out_dir / PARETO_CSV) as tmp:
        front.to_csv(tmp, index=False)
    seconds = time.perf_counter() - start_time
    summary = {
        "study": spec.name,
        "sampler": "exhaustive",
        "trials_complete": evaluated,
        "trials_feasible": state["feasible"],
        "pareto_size": int(len(front)),
        "objectives": [{"column": c, "direction": d} for c, d in zip(objective_cols, directions)],
        "best": best,
        "smallest_seen": seen,
        "designs_total": int(space.total),
        "designs_evaluated": evaluated,
        "designs_feasible": state["feasible"],
        "designs_non_finite": state["non_finite"],
        "front_size": int(len(front)),
        "seconds": round(seconds, 3),
        "designs_per_s": round(evaluated / eval_seconds, 1) if eval_seconds > 0 else None,
        "executor": used,
        "chunks": state["chunks"],
        "table": EXHAUSTIVE_PARQUET,
        "table_rows": state["rows"],
        "table_rule": ("every design" if write_all else
                       f"feasible designs only (space above {full_table_max:,} designs)"),
        "results_dir": str(out_dir),
    }
    write_text_atomic(out_dir / SUMMARY_JSON, jsonsafe.dumps(summary, indent=2) + "\n")
    return RunResult(spec, out_dir, None, evaluated, seconds, used, summary=summary, front=front,
                     nodes_used=len(ex.nodes_used))


def _finish_parquet(tmp_path: Path, path: Path, front_ids: set[int]) -> None:
    """Add the ``pareto`` column to the streamed table (batch by batch) and move it in place."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not tmp_path.exists():
        if path.exists():
            path.unlink()
        return
    ids = np.fromiter(front_ids, dtype=np.int64, count=len(front_ids))
    src = pq.ParquetFile(tmp_path)
    schema = src.schema_arrow.append(pa.field("pareto", pa.bool_()))
    with atomic_path(path) as final_tmp, pq.ParquetWriter(final_tmp, schema) as writer:
        for i in range(src.num_row_groups):
            tab = src.read_row_group(i)
            mask = np.isin(tab.column("design").to_numpy(), ids)
            writer.write_table(tab.append_column("pareto", pa.array(mask)))
    tmp_path.unlink()


__all__ = ["run_exhaustive", "ExhaustiveSpace", "FULL_TABLE_MAX_DESIGNS"]
