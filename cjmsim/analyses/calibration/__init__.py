"""Calibration: fit a scenario's free parameters to a company's observed weekly data, with a posterior.

- :mod:`~cjmsim.analyses.calibration.draws`: the posterior draws file (Parquet) every command reads.
- :mod:`~cjmsim.analyses.calibration.posterior`: plans under uncertainty: every plan run over the
  posterior draws (``cjmsim run --posterior``), paired within a draw, with 90% posterior intervals,
  verdicts and the share of draws each plan wins.
"""

from __future__ import annotations

from .draws import Draws, FreeParameter, apply_draw, read_draws, write_draws
from .posterior import PosteriorResult, posterior_verdict, run_posterior, write_posterior

__all__ = [
    "Draws",
    "FreeParameter",
    "PosteriorResult",
    "apply_draw",
    "posterior_verdict",
    "read_draws",
    "run_posterior",
    "write_draws",
    "write_posterior",
]
