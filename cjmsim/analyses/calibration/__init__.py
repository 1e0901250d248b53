"""Calibration: fit a scenario's free parameters to a company's observed weekly data, with a posterior.

- :mod:`~cjmsim.analyses.calibration.draws`: the posterior draws file (Parquet) every command reads.
"""

from __future__ import annotations

from .draws import Draws, FreeParameter, apply_draw, read_draws, write_draws

__all__ = ["Draws", "FreeParameter", "apply_draw", "read_draws", "write_draws"]
