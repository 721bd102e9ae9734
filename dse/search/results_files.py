"""Names of what a run writes: the files in ``results/NAME/`` and the Optuna attribute keys.

One place for them, shared by the search loop, the exhaustive sweep, the tables and the report.
"""

#: Optuna journal file (the default storage).
JOURNAL_NAME = "study.journal"
#: Copy of the study file that produced the results.
STUDY_COPY = "study.toml"
#: Every complete trial (Optuna studies), Parquet and CSV.
TRIALS_PARQUET = "trials.parquet"
TRIALS_CSV = "trials.csv"
#: Every design (or every feasible one) of an exhaustive sweep.
EXHAUSTIVE_PARQUET = "exhaustive.parquet"
#: Folder of Parquet parts holding every design a vectorized search evaluated (one table).
DESIGNS_PARQUET = "designs.parquet"
#: The feasible Pareto front.
PARETO_CSV = "pareto.csv"
#: Summary of the run (counts, best value per objective, timings).
SUMMARY_JSON = "summary.json"
#: Trial user attribute holding every metric of the trial (dict column -> SI value).
METRICS_ATTR = "metrics"
#: Study user attribute holding the stored objective columns, in objective order.
OBJECTIVES_ATTR = "dse_objectives"
#: Trial constraint columns in tables: ``constraint:NAME`` (relative budget violation, <= 0 is met).
CONSTRAINT_PREFIX = "constraint:"
