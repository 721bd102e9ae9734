"""Load a results folder (``results/NAME/``) into one :class:`Results` object for the report.

Sources, in order of trust: the Optuna storage (``study.journal``, or the study's storage URL),
else ``trials.parquet`` (written by ``dse run``) with ``summary.json`` for the objectives. The
study file copy ``study.toml`` gives the budgets, workloads, fixed parameters and technology.
Everything that can go wrong with the folder is one :class:`dse.errors.UserError` line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dse.errors import UserError
from dse.search.results_files import DESIGNS_PARQUET as DESIGNS
from dse.search.results_files import EXHAUSTIVE_PARQUET as EXHAUSTIVE
from dse.search.results_files import JOURNAL_NAME as JOURNAL
from dse.search.results_files import STUDY_COPY as STUDY_FILE
from dse.search.results_files import SUMMARY_JSON as SUMMARY
from dse.search.results_files import TRIALS_PARQUET as PARQUET
from dse.user_files import MAX_SUMMARY_BYTES, check_regular_file, load_user_toml, read_user_text

if TYPE_CHECKING:
    from dse.search.spec import StudySpec

#: Exhaustive sweeps can hold 10^6 designs: the report draws the exact front plus a seeded sample
#: of the other designs (enough to show the cloud, small enough to plot and to compute hypervolumes).
EXHAUSTIVE_SAMPLE = 20_000
#: A vectorized study records only front designs as trials; every evaluated design (65,536 by
#: default, up to 10^8) is in designs.parquet/. The scatter figures draw a seeded sample of that
#: table for the dominated and infeasible designs, as many as for an exhaustive sweep; only the
#: columns the scatter figures use are read, part by part, so the cost stays bounded.
DESIGNS_SAMPLE = EXHAUSTIVE_SAMPLE
DESIGNS_SAMPLE_SEED = 0


@dataclass
class Results:
    """Everything the report needs, in SI units as stored.

    ``trials``: one row per complete trial (columns of :func:`dse.search.tables.trials_frame`).
    ``objectives``: stored metric columns; ``directions``: "maximize"/"minimize" per objective.
    ``params``: searched parameter columns (including ``batch.LABEL``); ``workloads``: labels.
    ``spec``: the :class:`~dse.search.spec.StudySpec` from ``study.toml`` or None.
    ``notes``: problems the report should state (missing study file, fallback source, ...).
    ``cloud``: vectorized studies only: a seeded sample of at most :data:`DESIGNS_SAMPLE` rows of
    designs.parquet/ that are not trials (columns ``design``, ``feasible``, the objectives,
    ``area_mm2`` and each workload's throughput and power; ``trial`` NaN), None otherwise;
    ``designs_evaluated``: rows of that table.
    """

    out_dir: Path
    name: str
    trials: pd.DataFrame
    objectives: list[str]
    directions: list[str]
    params: list[str]
    workloads: list[str]
    spec: StudySpec | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)
    cloud: pd.DataFrame | None = None
    designs_evaluated: int = 0

    @property
    def points(self) -> pd.DataFrame:
        """Rows for the scatter figures: every trial, then the designs-table sample (if any)."""
        if self.cloud is None or self.cloud.empty:
            return self.trials
        if "_points" not in self.__dict__:
            self.__dict__["_points"] = pd.concat([self.trials, self.cloud], ignore_index=True)
        return self.__dict__["_points"]

    @property
    def feasible(self) -> pd.DataFrame:
        if self.trials.empty:
            return self.trials
        return self.trials[self.trials["feasible"].astype(bool)]

    @property
    def budgets(self) -> dict[str, float]:
        """``area_mm2``, ``die_cost_usd`` and ``power_w`` budgets that the study sets (absent keys: no budget)."""
        out = {}
        if self.spec is not None:
            if self.spec.area_mm2 is not None:
                out["area_mm2"] = float(self.spec.area_mm2)
            if self.spec.die_cost_usd is not None:
                out["die_cost_usd"] = float(self.spec.die_cost_usd)
            if self.spec.power_w is not None:
                out["power_w"] = float(self.spec.power_w)
        return out

    @property
    def node_nm(self) -> int | None:
        return None if self.spec is None else int(self.spec.node_nm)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(read_user_text(path, what="summary file", max_bytes=MAX_SUMMARY_BYTES))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise UserError(f"{path}: corrupt summary file ({type(err).__name__}); rerun `dse run` on the study") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: corrupt summary file (not a JSON object)")
    return data


def _load_spec(out_dir: Path):
    """The study file copy as a StudySpec, or (None, note) if absent."""
    from dse.search.spec import load_study

    path = out_dir / STUDY_FILE
    if not path.exists():
        return None, f"{STUDY_FILE} is missing: budgets and fixed parameters are unknown, no design re-evaluation"
    try:
        return load_study(path), None
    except UserError as err:
        # ONNX workloads with paths relative to the original study folder can fail here; the
        # stored metrics still make the tables and fronts.
        return None, f"{STUDY_FILE} could not be used ({err}); budgets unknown, no design re-evaluation"


def _study_name(out_dir: Path, summary: dict | None, spec) -> str | None:
    if summary and isinstance(summary.get("study"), str):
        return summary["study"]
    if spec is not None:
        return spec.name
    path = out_dir / STUDY_FILE
    if path.exists():
        try:
            name = load_user_toml(path, what="study file")[0].get("name")
            if isinstance(name, str):
                return name
        except UserError:
            pass
    return None


def _from_storage(storage, name: str | None, where: str):
    import optuna

    try:
        names = optuna.get_all_study_names(storage)
    except Exception as err:  # journal parsing raises JSONDecodeError, KeyError, ...
        raise UserError(f"{where}: corrupt Optuna storage ({type(err).__name__}: "
                        f"{str(err).splitlines()[0] if str(err) else 'unreadable'})") from None
    if not names:
        if where.endswith(JOURNAL):
            raise UserError(f"{where}: corrupt Optuna journal (no study record in it); rerun `dse run` on the study")
        raise UserError(f"{where}: the storage holds no study; run `dse run STUDY.toml` first")
    if name is None:
        if len(names) > 1:
            raise UserError(f"{where}: several studies ({', '.join(names)}) and no summary.json to choose one")
        name = names[0]
    if name not in names:
        raise UserError(f"{where}: no study named {name!r} in the storage (found: {', '.join(names)})")
    try:
        study = optuna.load_study(study_name=name, storage=storage)
        from dse.search.tables import objective_columns, trials_frame

        trials = trials_frame(study)
        objectives = objective_columns(study)
        directions = [d.name.lower() for d in study.directions]
    except UserError:
        raise
    except Exception as err:
        raise UserError(f"{where}: corrupt Optuna storage ({type(err).__name__})") from None
    return name, trials, objectives, directions


def _table_with_summary(path: Path, what: str, summary: dict | None, summary_path: Path):
    """A trials table written beside summary.json (which names the objectives and directions)."""
    check_regular_file(path, what=what)
    try:
        table = pd.read_parquet(path)
    except Exception as err:
        raise UserError(f"{path}: corrupt {what} ({type(err).__name__})") from None
    if summary is None or not isinstance(summary.get("objectives"), list):
        raise UserError(f"{path.parent}: {path.name} without summary.json: the objectives are unknown")
    try:
        objectives = [str(o["column"]) for o in summary["objectives"]]
        directions = [str(o["direction"]) for o in summary["objectives"]]
    except (KeyError, TypeError):
        raise UserError(f"{summary_path}: corrupt summary file (objectives need column and direction)") from None
    for d in directions:
        if d not in ("maximize", "minimize"):
            raise UserError(f"{summary_path}: objectives: direction {d!r} is not maximize or minimize")
    return table, objectives, directions


def _from_exhaustive(path: Path, summary: dict | None, summary_path: Path):
    """Rows of an exhaustive sweep (``design`` becomes ``trial``): the front plus a sample."""
    table, objectives, directions = _table_with_summary(path, "exhaustive table", summary, summary_path)
    table = table.rename(columns={"design": "trial"})
    if "pareto" in table and len(table) > EXHAUSTIVE_SAMPLE:
        front = table[table["pareto"].astype(bool)]
        rest = table[~table["pareto"].astype(bool)]
        table = pd.concat([front, rest.sample(min(len(rest), EXHAUSTIVE_SAMPLE), random_state=0)])
    return table, objectives, directions


def _designs_sample(folder: Path, trials: pd.DataFrame, objectives: list[str],
                    workloads: list[str]) -> tuple[pd.DataFrame, int]:
    """(sample, rows in the table): a seeded sample of at most :data:`DESIGNS_SAMPLE` rows of the
    designs table ``folder`` (Parquet parts ``part-*.parquet``), the rows equal in every objective
    to a trial left out (the recorded trials are drawn as they are)."""
    files = _table_parts(folder)
    counts = np.array([f.metadata.num_rows for f in files], dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return pd.DataFrame(), 0
    rng = np.random.default_rng(DESIGNS_SAMPLE_SEED)
    pick = np.sort(rng.choice(total, size=min(DESIGNS_SAMPLE, total), replace=False))
    wanted = ["design", "feasible", "area_mm2", *objectives]
    wanted += [f"{wl}:{m}" for wl in workloads for m in ("throughput_ips", "power_w")]
    starts = np.concatenate([[0], np.cumsum(counts)])
    frames = []
    for k, f in enumerate(files):
        local = pick[(pick >= starts[k]) & (pick < starts[k + 1])] - starts[k]
        if not len(local):
            continue
        names = set(f.schema_arrow.names)
        cols = list(dict.fromkeys(c for c in wanted if c in names))
        frames.append(f.read(columns=cols).take(local).to_pandas())
    sample = pd.concat(frames, ignore_index=True)
    if objectives and not trials.empty and all(c in sample and c in trials for c in objectives):
        seen = trials[objectives].drop_duplicates().assign(_trial=True)
        sample = sample.merge(seen, on=objectives, how="left")
        sample = sample[sample["_trial"].isna()].drop(columns="_trial")
    sample["trial"] = np.nan
    return sample.reset_index(drop=True), total


#: Rows read at a time when the whole designs table is streamed (convergence of a vectorized study).
DESIGNS_STREAM_ROWS = 1 << 20


def _table_parts(folder: Path) -> list:
    """The Parquet parts of the designs table ``folder`` in order (``part-*.parquet``; a torn
    ``.part-*.tmp`` is no part), as ``pyarrow.parquet.ParquetFile``."""
    import pyarrow.parquet as pq

    return [pq.ParquetFile(p) for p in sorted(folder.glob("part-*.parquet"))]


def designs_table_stream(folder: Path, columns: list[str]):
    """The designs table ``folder`` in evaluation order (parts in order, rows as written), as
    DataFrames of at most :data:`DESIGNS_STREAM_ROWS` rows with ``columns`` (those it has), so
    that a table of 10^8 designs is read in bounded memory."""
    for f in _table_parts(folder):
        names = set(f.schema_arrow.names)
        cols = [c for c in columns if c in names]
        for batch in f.iter_batches(batch_size=DESIGNS_STREAM_ROWS, columns=cols):
            yield batch.to_pandas()


def _storage_url(summary: dict | None, storage_url: str | None, out_dir: Path) -> tuple[str | None, bool]:
    """(storage URL to read, whether it was given or recorded) for a results folder.

    ``--storage`` wins and must be the storage the folder's tables came from; else the storage that
    summary.json records when it can be opened from its record (files), else the folder's journal.
    """
    from dse.search import results_state as rs

    recorded = summary.get("storage") if summary else None
    if storage_url:
        if recorded and recorded != rs.storage_key(storage_url, out_dir):
            raise UserError(f"--storage: {out_dir} holds the tables of the study in {recorded}, not "
                            f"{rs.storage_key(storage_url, out_dir)}")
        return storage_url, True
    if not recorded or recorded == rs.FOLDER_JOURNAL:
        return None, False
    if recorded.startswith("sqlite:///") or recorded.endswith(".journal"):
        return recorded, True
    return None, True  # a database server: its URL with the password is not recorded


def _open_url(spec, out_dir: Path, url: str):
    """An Optuna storage from a URL (with the study's storage handling when the spec is known)."""
    from dse.search.storage import storage_for

    if spec is not None:
        return storage_for(spec, out_dir, url, create=False)  # a report never creates a storage
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    local = url.removeprefix("journal:") if url.endswith(".journal") or url.startswith("journal:") else (
        url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else None)
    if local and local != ":memory:" and not Path(local).is_file():
        raise UserError(f"--storage: {local} does not exist (run the study first: `dse run STUDY.toml`)")
    try:
        if url.endswith(".journal") or url.startswith("journal:"):
            return JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
        return optuna.storages.RDBStorage(url)
    except Exception as err:
        raise UserError(f"--storage: cannot open {url} ({type(err).__name__})") from None


def load_results(results_dir: str | Path, storage_url: str | None = None) -> Results:
    """Read ``results/NAME/``; raises UserError for a missing, empty or corrupt folder.

    ``storage_url``: read the study from this storage (the one ``dse run --storage`` used). When
    summary.json shows that the tables in the folder were written from the storage as it is now,
    ``trials.parquet`` is read instead of replaying the storage (same rows, much faster).
    """
    from dse.search import results_state as rs

    out_dir = Path(results_dir)
    if not out_dir.exists():
        raise UserError(f"{out_dir}: no such results folder")
    if not out_dir.is_dir():
        raise UserError(f"{out_dir}: not a folder (expected results/NAME/ written by `dse run`)")
    journal, parquet, summary_path = out_dir / JOURNAL, out_dir / PARQUET, out_dir / SUMMARY
    summary = _read_json(summary_path) if summary_path.exists() else None
    spec, note = _load_spec(out_dir)
    notes = [note] if note else []
    name = _study_name(out_dir, summary, spec)
    url, named = _storage_url(summary, storage_url, out_dir)

    storage, where = None, str(journal)
    if rs.tables_current(summary, url, out_dir):
        pass  # trials.parquet was written from this storage as it is now
    elif url:
        storage, where = _open_url(spec, out_dir, url), rs.storage_key(url, out_dir)
    elif named and parquet.exists():
        notes.append(f"read from trials.parquet: pass --storage to read the study from {(summary or {}).get('storage')}")
    elif journal.exists():
        if journal.stat().st_size == 0:
            raise UserError(f"{journal}: empty Optuna journal; run `dse run STUDY.toml` first")
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        try:
            storage = JournalStorage(JournalFileBackend(str(journal)))
        except Exception as err:
            raise UserError(f"{journal}: cannot open the Optuna journal ({type(err).__name__})") from None
    elif spec is not None and spec.storage_url and not parquet.exists():
        from dse.search.storage import storage_for

        storage, where = storage_for(spec, out_dir, create=False), spec.storage_url  # never creates one

    if storage is not None:
        name, trials, objectives, directions = _from_storage(storage, name, where)
        source = where
    elif parquet.exists():
        trials, objectives, directions = _table_with_summary(parquet, "trials table", summary, summary_path)
        name = name or out_dir.name
        if rs.tables_current(summary, url, out_dir):
            source = f"{(summary or {}).get('storage')} (its trials.parquet, written from it as it is now)"
        else:
            source = str(parquet)
            if not named:
                notes.append("read from trials.parquet (no Optuna storage in the folder)")
    elif (out_dir / EXHAUSTIVE).exists():
        trials, objectives, directions = _from_exhaustive(out_dir / EXHAUSTIVE, summary, summary_path)
        name = name or out_dir.name
        source = str(out_dir / EXHAUSTIVE)
        notes.append(f"exhaustive sweep: the exact Pareto front and a sample of at most {EXHAUSTIVE_SAMPLE} "
                     "other designs are drawn (every design is in exhaustive.parquet)")
    else:
        raise UserError(f"{out_dir}: no study results here (expected {JOURNAL}, {PARQUET} or {EXHAUSTIVE}; "
                        "run `dse run STUDY.toml` first)")

    if not trials.empty:
        for col in ("trial", "feasible"):
            if col not in trials:
                raise UserError(f"{source}: corrupt trials (no {col!r} column)")
        missing = [c for c in objectives if c not in trials]
        if missing:
            raise UserError(f"{source}: objective column {missing[0]!r} is not among the stored metrics")
        trials = trials.sort_values("trial").reset_index(drop=True)
        values = trials[objectives].apply(pd.to_numeric, errors="coerce")
        broken = ~np.isfinite(values.to_numpy(dtype=float)).all(axis=1)
        if broken.any():  # an edited or damaged table: such a design can be no answer
            trials[objectives] = values
            trials.loc[broken, "feasible"] = False
            notes.append(f"{int(broken.sum())} trials have a missing or non-finite objective value; "
                         "they are counted as infeasible")
    if not objectives:
        raise UserError(f"{source}: the study records no objectives (user attribute dse_objectives)")

    workloads = _workload_labels(trials, spec)
    params = _param_columns(trials, spec, workloads)
    cloud, evaluated = None, 0
    if (out_dir / DESIGNS).is_dir() and (spec is None or spec.sampler == "vectorized"):
        try:
            cloud, evaluated = _designs_sample(out_dir / DESIGNS, trials, objectives, workloads)
        except Exception as err:  # a damaged table: the report still has every trial
            notes.append(f"{DESIGNS}/ could not be read ({type(err).__name__}): the figures show the trials only")
            cloud = None
        if cloud is not None and "feasible" not in cloud:
            cloud = None
    return Results(out_dir=out_dir, name=name, trials=trials, objectives=objectives,
                   directions=directions, params=params, workloads=workloads, spec=spec,
                   source=source, notes=notes, cloud=cloud, designs_evaluated=evaluated)


def _workload_labels(trials: pd.DataFrame, spec) -> list[str]:
    if spec is not None:
        return [w.label for w in spec.workloads]
    seen = []
    for col in trials.columns:
        if col.endswith(":throughput_ips") and not col.startswith("constraint:"):
            seen.append(col.split(":")[0])
    return seen


def _param_columns(trials: pd.DataFrame, spec, workloads: list[str]) -> list[str]:
    from dse.hardware import space

    if spec is not None:
        names = list(spec.searched) + [w.batch_param for w in spec.workloads if w.batch_domain is not None]
        return [n for n in names if n in trials]
    names = [p for p in space.PARAMETER_NAMES if p in trials]
    names += [f"batch.{w}" for w in workloads if f"batch.{w}" in trials]
    return names

