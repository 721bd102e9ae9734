"""What every report section shares: the results, the front, the chosen designs, the per-layer
re-evaluations (computed once, used by the recommendation and the figures) and the notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dse.errors import UserError
from dse.report import analysis as an
from dse.report.load import Results
from dse.report.recommend import Recommendation


@dataclass
class ReportData:
    results: Results
    fig_dir: Path
    front: pd.DataFrame  # feasible Pareto designs (all objectives), trials-table rows
    chosen: list[an.Chosen]  # the recommendation first, then the front's best per objective
    notes: list[str] = field(default_factory=list)
    recommendation: Recommendation | None = None
    _layers: dict = field(default_factory=dict)

    @property
    def r(self) -> Results:
        return self.results

    def layers(self, workload: str):
        """(per-layer frame, HardwareArrays) of the chosen designs on ``workload``, or None when the
        designs cannot be re-evaluated (the reason goes to the notes once)."""
        if workload not in self._layers:
            try:
                self._layers[workload] = an.per_layer(self.r.spec, self.chosen, workload)
            except UserError as err:
                self.notes.append(f"per-layer figures for {workload} skipped: {err}")
                self._layers[workload] = None
        return self._layers[workload]
