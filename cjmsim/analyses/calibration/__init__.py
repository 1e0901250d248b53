"""Calibration: fit a scenario's free parameters to a company's observed weekly data, with a posterior.

- :mod:`~cjmsim.analyses.calibration.observed`: the company's weekly data (observed.csv, the data
  contract of docs/calibration.md), read and checked against the scenario.
- :mod:`~cjmsim.analyses.calibration.draws`: the posterior draws file (Parquet) every command reads.
"""

from __future__ import annotations

from .draws import Draws, FreeParameter, apply_draw, read_draws, write_draws
from .observed import OBSERVED_COUNTS, Observed, read_observed

__all__ = [
    "Draws",
    "FreeParameter",
    "OBSERVED_COUNTS",
    "Observed",
    "apply_draw",
    "read_draws",
    "read_observed",
    "write_draws",
]
