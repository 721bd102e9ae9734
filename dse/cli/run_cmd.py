"""`dse run STUDY.toml [STUDY.toml | FOLDER ...]`: run (or resume) studies, write results/NAME/."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dse.errors import UserError

EXECUTORS = ("auto", "local", "ray")


def add_parser(sub):
    p = sub.add_parser("run", help="run or resume studies (Optuna search over the design space)",
                       description="Run studies one after another; rerunning resumes from the storage.")
    p.add_argument("studies", nargs="+", metavar="STUDY", help="study files (.toml) or folders of them")
    p.add_argument("--trials", type=int, metavar="N",
                   help="override search.trials (Optuna samplers): the study's total, counting other drivers' trials")
    p.add_argument("--add-trials", type=int, metavar="N", help="run N trials more than the study has (Optuna samplers)")
    p.add_argument("--designs", type=int, metavar="N",
                   help="override search.designs (sampler vectorized): designs evaluated in all")
    p.add_argument("--storage", metavar="URL", help="Optuna storage URL (default: results/NAME/study.journal)")
    p.add_argument("--executor", choices=EXECUTORS, type=str.lower, help="where to evaluate (default: the study's, auto)")
    p.add_argument("--ray-address", metavar="ADDR", help="join a Ray cluster (auto or HOST:PORT)")
    p.add_argument("--workers", type=int, metavar="N", help="Ray workers (default: all CPUs)")
    p.add_argument("--results", default="results", metavar="DIR", help="results root (default: results)")
    p.add_argument("--fresh", action="store_true", help="delete the stored study and start over")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-report", action="store_true", help="skip the plots and HTML report")
    p.set_defaults(func=run)
    return p


def expand_study_paths(items: list[str]) -> list[Path]:
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                raise UserError(f"{item}: folder has no study files (*.toml)")
            paths.extend(found)
        elif not path.exists():
            raise UserError(f"{item}: no such study file or folder")
        else:
            paths.append(path)
    return paths


def _overrides(spec, args):
    from dataclasses import replace

    from dse.search.spec import MAX_DESIGNS, MAX_TRIALS

    changes = {}
    if args.trials is not None and args.add_trials is not None:
        raise UserError("--add-trials: not allowed with --trials (one sets the total, the other adds to it)")
    for flag, value, most in (("--trials", args.trials, MAX_TRIALS), ("--add-trials", args.add_trials, MAX_TRIALS),
                              ("--designs", args.designs, MAX_DESIGNS)):
        if value is not None and not 1 <= value <= most:
            raise UserError(f"{flag}: {value} is outside 1..{most}")
    by_designs = spec.budget_key == "designs"
    if by_designs and args.trials is not None:
        raise UserError(f"--trials: {spec.source_path or spec.name} uses sampler = {spec.sampler!r}, which counts "
                        "designs evaluated, not Optuna trials: use --designs N")
    if not by_designs and args.designs is not None:
        raise UserError(f"--designs: applies to sampler = \"vectorized\"; {spec.source_path or spec.name} uses "
                        f"sampler = {spec.sampler!r}, which counts Optuna trials: use --trials N")
    if args.trials is not None:
        changes["trials"] = args.trials
    if args.designs is not None:
        changes["trials"] = args.designs  # StudySpec.trials is the budget in the sampler's unit
    if args.workers is not None:
        if args.workers < 0:
            raise UserError(f"--workers: {args.workers} must be >= 0")
        changes["workers"] = args.workers
    return replace(spec, **changes) if changes else spec


def _missing_folders(path: Path) -> list[Path]:
    """``path`` and its ancestors that do not exist yet, deepest first."""
    out = []
    for p in (path, *path.parents):
        if p.exists():
            break
        out.append(p)
    return out


def _remove_empty(folders: list[Path]) -> None:
    for p in folders:  # deepest first; a folder with anything in it stays
        try:
            p.rmdir()
        except OSError:
            return


def _unchanged(spec, args) -> dict | None:
    """The recorded summary when this study already finished in its folder and nothing changed
    since (storage, study file, report): no replay, no redraw. Refuses a run on another storage
    than the one whose tables the folder holds."""
    from dse.search import results_state as rs

    out_dir = spec.results_dir(args.results)
    url = args.storage or spec.storage_url
    rs.check_folder_storage(out_dir, url)
    if args.fresh or args.add_trials is not None or spec.sampler == "exhaustive":
        return None  # --add-trials always has work to do
    summary = rs.finished_unchanged(out_dir, url, spec.trials, spec.source_text,
                                    count_key="designs_evaluated" if spec.budget_key == "designs" else "trials_complete")
    if summary is None:
        return None
    if not args.no_report:
        from dse.report.freshness import report_current

        if not report_current(out_dir, args.storage):
            return None
    return {**summary, "evaluated_this_run": 0, "results_dir": str(out_dir),
            "budgets": {"area_mm2": spec.area_mm2, "power_w": spec.power_w}}


def run_one(path: Path, args) -> dict:
    from dse.search.run import run_search
    from dse.search.scoring import budget_columns
    from dse.search.spec import load_study
    from dse.search.tables import write_tables

    spec = _overrides(load_study(path), args)
    done = _unchanged(spec, args)
    if done is not None:
        return done
    created = _missing_folders(spec.results_dir(args.results).absolute())
    try:
        result = run_search(spec, results_root=args.results, storage_url=args.storage, executor=args.executor,
                            ray_address=args.ray_address, fresh=args.fresh, progress=not args.no_progress,
                            add_trials=args.add_trials)
    except UserError:
        _remove_empty(created)  # a run rejected before it started leaves no results folder
        raise
    extra = {"seconds_this_run": round(result.seconds, 3), "evaluated_this_run": result.evaluated,
             "executor": result.executor, "ray_nodes_used": result.nodes_used, "study_file": str(path),
             "results_dir": str(result.out_dir)}
    if result.study is not None:
        from dse.search.results_state import recorded_state

        extra.update(recorded_state(args.storage or spec.storage_url, result.out_dir))
    if result.study is None:  # exhaustive sweep: its tables and summary are already written
        summary = {**(result.summary or {}), **extra}
    else:
        try:
            # The vectorized search adds its counters (designs evaluated, seconds per stage).
            summary = write_tables(result.study, result.out_dir, {**(result.summary or {}), **extra},
                                   budget_columns(spec))
        except OSError as err:  # full disk, read-only folder: the trials are safe in the storage
            raise UserError(f"results: cannot write the tables in {result.out_dir} ({err.strerror or err}); "
                            "the trials are kept in the storage: rerun to write them") from None
    if not args.no_report:
        from dse.report.html import build_report

        try:
            build_report(result.out_dir, args.storage)
        except OSError as err:
            raise UserError(f"results: cannot write the report in {result.out_dir} "
                            f"({err.strerror or err}); rerun `dse report {result.out_dir}`") from None
    summary["budgets"] = {"area_mm2": spec.area_mm2, "power_w": spec.power_w}
    return summary


def no_feasible_line(summary: dict) -> str:
    """One line for a study whose budgets no design met: the smallest area and power it saw."""
    seen = summary.get("smallest_seen", {})
    budgets = summary.get("budgets", {})
    parts = []
    if "area_mm2" in seen:
        budget = f" (budget {budgets['area_mm2']:g})" if budgets.get("area_mm2") else ""
        parts.append(f"smallest area {seen['area_mm2']:.4g} mm^2{budget}")
    for col, value in seen.items():
        if col.endswith(":power_w"):
            budget = f" (budget {budgets['power_w']:g})" if budgets.get("power_w") else ""
            parts.append(f"lowest power {value:.4g} W on {col.rsplit(':', 1)[0]}{budget}")
    seen_text = "; ".join(parts) or "no finite area or power"
    return (f"{summary.get('study', '')}: no design met the budgets in {summary['trials_complete']} evaluated: "
            f"{seen_text}")


def run(args) -> int:
    paths = expand_study_paths(args.studies)
    rows, failed = [], 0
    for path in paths:
        start = time.perf_counter()
        try:
            summary = run_one(path, args)
            if summary["trials_complete"] and not summary["trials_feasible"]:
                print(f"dse: {no_feasible_line(summary)}")
            rows.append((path.name, "ok", summary["trials_complete"], summary["trials_feasible"],
                         summary["pareto_size"], time.perf_counter() - start, summary["results_dir"]))
        except UserError as err:
            if len(paths) == 1:
                raise
            failed += 1
            print(f"dse: error: {path}: {err}", file=sys.stderr)
            rows.append((path.name, "FAILED", 0, 0, 0, time.perf_counter() - start, str(err)))
    for name, status, n, feas, pareto, secs, where in rows:
        tail = f" -> {where}/" if status == "ok" else f": {where}"
        print(f"{name}: {status}: {n} trials, {feas} feasible, {pareto} on the Pareto front, {secs:.1f} s{tail}")
    if len(rows) > 1:
        print(f"{len(rows) - failed} of {len(rows)} studies finished")
    return 1 if failed else 0
