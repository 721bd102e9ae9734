"""Constants of the performance model (not of the technology): ``constants.csv`` with sources."""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def model_constants() -> dict[str, float]:
    """Model constants by key (values in the unit of the CSV's ``unit`` column)."""
    with resources.files("dse.model").joinpath("constants.csv").open() as fh:
        return {row["key"]: float(row["value"]) for row in csv.DictReader(fh)}

