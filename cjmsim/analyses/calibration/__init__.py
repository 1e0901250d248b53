"""Calibration: fit a scenario's free parameters to a company's observed weekly data, with a posterior.

- :mod:`~cjmsim.analyses.calibration.observed`: the company's weekly data (observed.csv, the data
  contract of docs/calibration.md), read and checked against the scenario.
- :mod:`~cjmsim.analyses.calibration.draws`: the posterior draws file (Parquet) every command reads.
- :mod:`~cjmsim.analyses.calibration.fit`: the likelihood, the point estimate (CMA-ES) and the posterior (emcee).
- :mod:`~cjmsim.analyses.calibration.calibrated`: the calibrated scenario, written with its comments kept.
"""

from __future__ import annotations

from .calibrated import calibrated_toml
from .draws import Draws, FreeParameter, apply_draw, read_draws, write_draws
from .fit import Calibrated, LoadedCalibration, PriorMap, calibrate, load_calibration, simulate_candidates
from .observed import OBSERVED_COUNTS, Observed, read_observed

__all__ = [
    "OBSERVED_COUNTS",
    "Calibrated",
    "Draws",
    "FreeParameter",
    "LoadedCalibration",
    "Observed",
    "PriorMap",
    "apply_draw",
    "calibrate",
    "calibrated_toml",
    "load_calibration",
    "read_draws",
    "read_observed",
    "simulate_candidates",
    "write_draws",
]
