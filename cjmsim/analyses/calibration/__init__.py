"""Calibration: fit a scenario's free parameters to a company's observed weekly data, with a posterior.

- :mod:`~cjmsim.analyses.calibration.observed`: the company's weekly data (observed.csv, the data
  contract of docs/calibration.md), read and checked against the scenario.
- :mod:`~cjmsim.analyses.calibration.draws`: the posterior draws file (Parquet) every command reads.
- :mod:`~cjmsim.analyses.calibration.fit`: the likelihood, the point estimate (CMA-ES) and the posterior (emcee).
- :mod:`~cjmsim.analyses.calibration.calibrated`: the calibrated scenario, written with its comments kept.
- :mod:`~cjmsim.analyses.calibration.posterior`: plans under uncertainty: every plan run over the
  posterior draws (``cjmsim run --posterior``), paired within a draw, with 90% posterior intervals,
  verdicts and the share of draws each plan wins.
- :mod:`~cjmsim.analyses.calibration.posterior_sweep`: an experiment's points and plans over the
  posterior draws (``cjmsim sweep --posterior``): the draw first, then the point's changes.
"""

from __future__ import annotations

from .calibrated import calibrated_toml
from .draws import Draws, FreeParameter, apply_draw, read_draws, write_draws
from .fit import Calibrated, LoadedCalibration, PriorMap, calibrate, load_calibration, simulate_candidates
from .observed import OBSERVED_COUNTS, Observed, read_observed
from .posterior import PosteriorResult, posterior_verdict, run_posterior, write_posterior
from .posterior_sweep import draws_table, load_posterior_experiment

__all__ = [
    "OBSERVED_COUNTS",
    "Calibrated",
    "Draws",
    "FreeParameter",
    "LoadedCalibration",
    "Observed",
    "PosteriorResult",
    "PriorMap",
    "apply_draw",
    "calibrate",
    "calibrated_toml",
    "draws_table",
    "load_calibration",
    "load_posterior_experiment",
    "posterior_verdict",
    "read_draws",
    "read_observed",
    "run_posterior",
    "simulate_candidates",
    "write_draws",
    "write_posterior",
]
