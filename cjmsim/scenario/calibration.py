"""Calibration files: the TOML that asks ``cjmsim calibrate`` to fit a scenario to observed data.

A calibration names a scenario, the company's weekly data (observed.csv, docs/calibration.md), the
plan that was in force over the observed weeks, the free parameters (dotted paths into the scenario,
the sweep's syntax) with their priors, the series to fit and the observation model. Fitting it is
:mod:`cjmsim.analyses.calibration`'s job; this module only says what a valid calibration file is.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .metrics import SUMMARY_METRICS

__all__ = [
    "CALIBRATION_COUNTS",
    "Calibration",
    "CalibrationSettings",
    "Observation",
    "Prior",
    "SeriesWeight",
]

#: The count columns of observed.csv a calibration can fit (each also per segment, ``orders:home``).
CALIBRATION_COUNTS: tuple[str, ...] = ("leads", "new_customers", "orders", "revenue")


class _CalibrationModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class CalibrationSettings(_CalibrationModel):
    """The ``[calibration]`` table: what to fit, to which data, and how hard to search."""

    name: str = Field("Calibration", description="Title of the report.")
    scenario: str = Field(description="The scenario file to calibrate, relative to the calibration file.")
    observed: str = Field(description="The weekly data (observed.csv, docs/calibration.md), relative to this file.")
    plan: str = Field(description="The scenario's plan that was in force over the observed weeks.")
    lift: str | None = Field(
        None,
        description="Lift tests the company ran while the plan was in force (lift.csv, docs/calibration.md), "
        "relative to this file: each is replayed for every candidate and its result is fitted too.",
    )
    agents: int | None = Field(
        None,
        ge=100,
        le=5_000_000,
        description="Agents simulated per candidate. Default: the scenario's, at most 20,000. More agents: "
        "less simulation noise, slower candidates.",
    )
    reps: int = Field(1, ge=1, le=20, description="Replications per candidate, averaged (common to every candidate).")
    seed: int = Field(
        7,
        ge=0,
        description="Seed of the simulated customers and random numbers, the same for every candidate (common "
        "random numbers: candidates differ by their parameters, not by noise). Use another seed than the one "
        "that made synthetic data, or the fit sees the data's own noise.",
    )
    evaluations: int = Field(
        300, ge=4, le=100_000, description="Candidates the point estimate (CMA-ES) may simulate at most."
    )
    walkers: int | None = Field(
        None,
        ge=4,
        le=1000,
        description="Walkers of the posterior sampler (emcee's ensemble). Default: 2 x parameters + 2, at least 8.",
    )
    steps: int = Field(
        100, ge=2, le=100_000, description="Steps of every walker of every chain (the first half is burn-in)."
    )
    chains: int = Field(
        4,
        ge=1,
        le=64,
        description="Independent samplers, chain c on seed + c (chain 0 on the search's seed), their draws pooled: "
        "each chain's customers and random numbers differ, so the posterior carries the simulation's own noise, "
        "which one seed would freeze into the fit.",
    )
    draws: int = Field(200, ge=2, le=100_000, description="Posterior draws kept (posterior.parquet), thinned evenly.")


class Prior(_CalibrationModel):
    """One free parameter: the path it sets and its prior distribution."""

    name: str = Field(description="Column name of the parameter in the draws and the report.")
    path: str = Field(
        description="Dotted path into the scenario, e.g. segments.home.base.purchase or "
        "channels.tv.saturation.half; '*' matches every key at one level (segments.*.drop.desire), "
        "'{a,b}' the listed keys; every value the path selects is set."
    )
    relative: bool = Field(
        False,
        description="The value multiplies the scenario's own value(s) at the path instead of replacing them "
        "(segments keep their differences); the prior is then on the multiplier.",
    )
    prior: Literal["uniform", "loguniform", "normal", "lognormal"] = Field(
        "uniform",
        description="uniform or loguniform between low and high; normal (mean, sd) or lognormal (median, sd of "
        "the log), cut to low..high when given.",
    )
    low: float | None = Field(None, description="Lower bound (required for uniform and loguniform).")
    high: float | None = Field(None, description="Upper bound (required for uniform and loguniform).")
    mean: float | None = Field(None, description="Mean of a normal prior.")
    median: float | None = Field(None, gt=0, description="Median of a lognormal prior.")
    sd: float | None = Field(None, gt=0, description="Standard deviation (normal), or of the log (lognormal).")

    @model_validator(mode="after")
    def _shape(self) -> Prior:
        if (self.low is None) != (self.high is None) and self.prior in ("uniform", "loguniform"):
            raise ValueError(f"prior {self.prior!r} needs both low and high")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.prior in ("uniform", "loguniform") and self.low is None:
            raise ValueError(f"prior {self.prior!r} needs low and high")
        if self.prior == "loguniform" and self.low is not None and self.low <= 0:
            raise ValueError(f"a loguniform prior needs low > 0 (got {self.low})")
        if self.prior == "normal" and (self.mean is None or self.sd is None):
            raise ValueError("a normal prior needs mean and sd")
        if self.prior == "lognormal" and (self.median is None or self.sd is None):
            raise ValueError("a lognormal prior needs median and sd")
        if self.prior in ("uniform", "loguniform") and (self.mean, self.median, self.sd) != (None, None, None):
            raise ValueError(f"a {self.prior} prior takes low and high only, not mean, median or sd")
        if self.prior == "normal" and self.median is not None:
            raise ValueError("a normal prior takes mean and sd, not median")
        if self.prior == "lognormal" and self.mean is not None:
            raise ValueError("a lognormal prior takes median and sd, not mean")
        return self


class SeriesWeight(_CalibrationModel):
    """One ``[[series]]`` entry: a column of observed.csv to fit, and its weight."""

    name: str = Field(
        description="A count column of observed.csv: leads, new_customers, orders or revenue, or one of them per "
        "segment (orders:home); or repeat_orders (orders - new_customers, in total or per segment)."
    )
    weight: float = Field(1.0, gt=0, description="Weight of the series' log-likelihood (1: as the noise says).")


class Observation(_CalibrationModel):
    """The ``[observation]`` table: how the company's analytics sees the real events."""

    seen: dict[str, float] = Field(
        default_factory=dict,
        description="Share of the real events the analytics records, per count (e.g. leads = 0.8: one lead in "
        "five is not tracked); default 1 for every count.",
    )
    noise: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Relative noise of the weekly counts beyond the counting (Poisson) noise: a coefficient of "
        "variation, e.g. 0.05 for tracking that is off by about 5% from week to week.",
    )

    @model_validator(mode="after")
    def _shares(self) -> Observation:
        for k, v in self.seen.items():
            if k not in CALIBRATION_COUNTS:
                from .errors import did_you_mean

                raise ValueError(
                    f"seen: unknown count {k!r}{did_you_mean(k, list(CALIBRATION_COUNTS))}; "
                    f"counts: {', '.join(CALIBRATION_COUNTS)}"
                )
            if not (math.isfinite(v) and 0 < v <= 1):
                raise ValueError(f"seen.{k} = {v}: a share in (0, 1]")
        return self


class Calibration(_CalibrationModel):
    """A whole calibration file."""

    calibration: CalibrationSettings = Field(description="Scenario, data, plan and the search's settings.")
    parameters: list[Prior] = Field(min_length=1, description="The free parameters and their priors.")
    series: list[SeriesWeight] = Field(
        default_factory=list,
        description="Series to fit. Default: leads, new_customers and repeat_orders (events that do not overlap), "
        "per segment where the file has them per segment, else in total.",
    )
    observation: Observation = Field(default_factory=Observation, description="The observation model.")

    @model_validator(mode="after")
    def _unique(self) -> Calibration:
        names = [p.name for p in self.parameters]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"parameters: duplicate names {dup}")
        # the draws' columns, and the results' (run --posterior writes each draw's parameters beside them)
        reserved = {"draw", "plan", "log_likelihood", *SUMMARY_METRICS}
        bad = [n for n in names if n in reserved]
        if bad:
            raise ValueError(
                f"parameters: names {bad} clash with columns of the draws or the results; choose others "
                "(e.g. aware_rate for a rate of aware)"
            )
        series = [s.name for s in self.series]
        dup = sorted({n for n in series if series.count(n) > 1})
        if dup:
            raise ValueError(f"series: duplicate names {dup}")
        return self
