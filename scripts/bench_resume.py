"""Open, resume and report times of vectorized studies with 2,000, 20,000 and 100,000 recorded trials.

Each study is built as a vectorized run leaves it: N designs of the default study's space
(studies/yolov3-2mp-edge.toml, YOLOv3 at 2 MP) drawn at random and evaluated, written to the
designs table, and all N recorded as Optuna trials in the journal file (parameters, objective
values, constraints, every metric), as if every design had been on the front when recorded.
Then, each in a fresh process state:

* open: ``optuna.load_study`` on the journal (the replay of every record);
* resume: ``run_vectorized`` continuing for one more step of 1,024 designs (opening the study,
  reading the table, rebuilding the front, checking which front designs have trials);
* tables: ``write_tables`` (trials.parquet, pareto.csv, summary.json: what ``dse run`` and
  ``dse report`` read); figures are not timed (matplotlib's cost does not depend on the storage).

Prints one line per size: ``N trials: open X s, resume Y s, tables Z s`` and the per-trial cost,
so that a growth faster than linear shows as a rising per-trial figure.

    nice .venv/bin/python scripts/bench_resume.py [--sizes 2000 20000 100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from dse.model.api import evaluate_columns
from dse.search.bulk_trials import memoized_distributions
from dse.search.genome import Genome
from dse.search.spec import load_study
from dse.search.storage import storage_for
from dse.search.scoring import constraint_values
from dse.search.study import distributions, open_study
from dse.search.tables import write_tables
from dse.search.vectorized import DESIGN_ATTR, DESIGNS_TABLE, DesignsTable, _eval_inputs, _Recorder, run_vectorized

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STUDY = ROOT / "studies" / "yolov3-2mp-edge.toml"


def build(spec, out_dir: Path, n: int) -> None:
    """A vectorized study's files with n designs in the table and n recorded trials."""
    rng = np.random.default_rng(n)
    genome = Genome(distributions(spec))
    genes = genome.canonical(rng.random((n, len(genome))))
    params = genome.decode(genes)
    columns, workloads = _eval_inputs(spec, params, n)
    metrics = evaluate_columns(columns, spec.node_nm, spec.technology, workloads)
    cons = constraint_values(spec, metrics)
    objs = np.column_stack([metrics[o.column] for o in spec.objectives])
    frame = pd.DataFrame({DESIGN_ATTR: np.arange(n), "step": np.zeros(n, dtype=np.int64),
                          **{k: params[k] for k in genome.names},
                          **{k: v for k, v in metrics.items() if k not in genome.names},
                          **{f"constraint:{k}": v for k, v in cons.items()},
                          "feasible": np.all(np.column_stack(list(cons.values())) <= 0, axis=1)
                          & np.all(np.isfinite(objs), axis=1)})
    DesignsTable(out_dir / DESIGNS_TABLE).write(0, frame)
    study = open_study(spec, out_dir)
    rec = _Recorder(spec, study, genome, [o.column for o in spec.objectives], str(out_dir))
    for start in range(0, n, 20_000):
        rec.record(frame.iloc[start:start + 20_000])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000, 100000])
    args = ap.parse_args(argv)
    base = load_study(DEFAULT_STUDY)
    with tempfile.TemporaryDirectory(prefix="dse-bench-resume-") as tmp:
        for n in args.sizes:
            spec = replace(base, name=f"resume-{n}", sampler="vectorized", executor="local")
            out_dir = spec.results_dir(tmp)
            t0 = time.perf_counter()
            build(spec, out_dir, n)
            t_build = time.perf_counter() - t0
            size_mb = (out_dir / "study.journal").stat().st_size / 2**20

            t0 = time.perf_counter()
            study = optuna.load_study(study_name=spec.name, storage=storage_for(spec, out_dir))
            assert len(study.get_trials(deepcopy=False)) == n
            t_open_plain = time.perf_counter() - t0
            t0 = time.perf_counter()
            with memoized_distributions():
                study = optuna.load_study(study_name=spec.name, storage=storage_for(spec, out_dir))
            t_open = time.perf_counter() - t0

            t0 = time.perf_counter()
            result = run_vectorized(replace(spec, trials=n + 1024), tmp, progress=False, step_size=1024)
            t_resume = time.perf_counter() - t0
            t0 = time.perf_counter()
            write_tables(result.study, out_dir)
            t_tables = time.perf_counter() - t0
            print(f"# {n:,} trials: journal {size_mb:.0f} MB, built in {t_build:.1f} s; resume: open "
                  f"{result.summary['timings']['open_s']:.1f} s of {t_resume:.1f} s", flush=True)
            print(f"{n:,} trials: open {t_open:.2f} s ({t_open_plain:.2f} s without memoized distributions), "
                  f"resume {t_resume:.2f} s, tables {t_tables:.2f} s; per 1,000 trials: open "
                  f"{1000 * t_open / n:.3f} s, resume {1000 * t_resume / n:.3f} s, tables {1000 * t_tables / n:.3f} s",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
