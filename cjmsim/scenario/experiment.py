"""Experiment files: the TOML that asks for a sweep, validated once into pydantic models.

An experiment names a base scenario, the parameters to vary (a dotted path into the scenario,
whole-plan budget factors, budget moved between two channels, or named sets of assumptions), a
design (grid, random or Latin hypercube), the plans, replications and seed. Running it is
:mod:`cjmsim.analyses.sweep`'s job; this module only says what a valid experiment is.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import did_you_mean
from .metrics import HEADLINE_METRICS, INCREMENTAL_METRICS, SUMMARY_METRICS

__all__ = ["SWEEP_METRICS", "Experiment", "ExperimentSettings", "Move", "Parameter", "Range"]

#: The metrics a sweep prints and charts by default: the incremental ones first (what the plans add
#: over no marketing, and what that costs and returns), then the totals, which count the orders
#: that would come anyway.
SWEEP_METRICS: tuple[str, ...] = ("inc_orders", "icpo", "iromi", "inc_margin", "spend", "orders", "cpo")


def _linspace(start: float, stop: float, num: int) -> list[float]:
    import numpy as np  # only a grid over a range needs it; validating a scenario does not

    return [float(x) for x in np.linspace(start, stop, num)]


class _ExperimentModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Range(_ExperimentModel):
    """Evenly spaced values from start to stop inclusive."""

    start: float = Field(description="First value.")
    stop: float = Field(description="Last value.")
    num: int = Field(ge=2, le=1000, description="Number of values.")


class Move(_ExperimentModel):
    """Budget moved between two channels inside one plan."""

    plan: str = Field(description="Plan whose campaigns change.")
    source: str = Field(description="Channel the money is taken from (its campaigns shrink by the share).")
    target: str = Field(description="Channel the money goes to (its campaigns grow; one is added if it has none).")


class Parameter(_ExperimentModel):
    """One ``[[parameters]]`` entry: what varies, and over which levels."""

    name: str = Field(description="Column name of the parameter in the results.")
    path: str | None = Field(
        None,
        description="Dotted path into the scenario, e.g. channels.context.cost.cpc or "
        "plans.cjm.campaigns[2].weekly; '*' matches every key at one level (segments.*.base.purchase), "
        "'{a,b}' the listed keys (channels.{context,smm}.targeting.premium); the last key may be one the "
        "scenario leaves at its default.",
    )
    budget: list[str] | None = Field(None, description="Plans whose campaign budgets are multiplied; ['*'] = all.")
    move: Move | None = Field(None, description="Move a share of one channel's budget to another in a plan.")
    levels: dict[str, dict[str, float]] | None = Field(
        None,
        description="Named levels, each a set of `path = multiplier` changes (e.g. pessimistic, central, "
        "optimistic assumptions); an empty set keeps the base scenario.",
    )
    values: list[float] | None = Field(
        None,
        min_length=1,
        description="Levels: absolute values (path), budget factors (budget) or shares moved (move).",
    )
    scale: list[float] | None = Field(
        None, min_length=1, description="Levels as multipliers of the base value (path only)."
    )
    range: Range | None = Field(None, description="Levels evenly spaced from start to stop (like values).")
    low: float | None = Field(None, description="Lower bound for random and Latin-hypercube designs.")
    high: float | None = Field(None, description="Upper bound for random and Latin-hypercube designs.")
    relative: bool = Field(False, description="low/high are multipliers of the base value (path only).")

    @model_validator(mode="after")
    def _one_kind(self) -> Parameter:
        kinds = [k for k in ("path", "budget", "move", "levels") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of path, budget, move, levels (got {', '.join(kinds) or 'none'})")
        given = [k for k in ("values", "scale", "range") if getattr(self, k) is not None]
        if self.levels is not None and given:
            raise ValueError("levels already are the levels: no values, scale or range with them")
        if len(given) > 1:
            raise ValueError(f"give one of values, scale, range (got {', '.join(given)})")
        if self.scale is not None and self.path is None:
            raise ValueError("scale (multipliers of the base value) needs a path; for budgets give values")
        if (self.low is None) != (self.high is None):
            raise ValueError("give both low and high, or neither")
        if self.low is not None and self.high is not None and self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        if self.relative and self.path is None:
            raise ValueError("relative bounds need a path")
        if self.move is not None:
            bounds = [b for b in (self.low, self.high) if b is not None]
            ends = [self.range.start, self.range.stop] if self.range is not None else []
            for v in [*(self.values or []), *bounds, *ends]:
                if not 0 <= v <= 1:
                    raise ValueError(f"a share moved must be in [0, 1], got {v}")
        return self

    def grid(self) -> list[float | str]:
        """The levels a grid design takes."""
        if self.levels is not None:
            return list(self.levels)
        if self.values is not None:
            return list(self.values)
        if self.scale is not None:
            return list(self.scale)
        if self.range is not None:
            return [float(x) for x in _linspace(self.range.start, self.range.stop, self.range.num)]
        raise ValueError(f"parameter {self.name!r}: a grid needs values, scale, range or levels")

    def draw(self, u: float) -> float | str:
        """The level at u in [0, 1) for random and Latin-hypercube designs."""
        if self.low is not None and self.high is not None:
            return self.low + u * (self.high - self.low)
        levels = self.grid()  # discrete levels: pick one
        return levels[min(int(u * len(levels)), len(levels) - 1)]

    def level_count(self) -> int:
        """How many levels a grid design takes, counted without building them."""
        if self.range is not None and self.levels is None and self.values is None and self.scale is None:
            return self.range.num
        return len(self.grid())

    @property
    def multiplies(self) -> bool:
        """Whether a path level multiplies the base value instead of replacing it."""
        return self.scale is not None or self.relative


class ExperimentSettings(_ExperimentModel):
    """The ``[experiment]`` table."""

    name: str = Field("Untitled experiment", description="Title of the sweep's tables, charts and report.")
    description: str = Field("", description="What the experiment asks.")
    scenario: str = Field(description="The base scenario file, relative to the experiment file.")
    plans: list[str] | None = Field(None, description="Plans to run at every point. Default: every plan.")
    reference: str | None = Field(None, description="Plan the others are compared with (paired). Default: the first.")
    reps: int = Field(3, ge=1, le=1000, description="Replications per point and plan.")
    seed: int = Field(2026, ge=0, description="Experiment seed; task seeds derive from it.")
    agents: int | None = Field(None, ge=1, le=50_000_000, description="Agents per run (overrides the scenario).")
    weeks: int | None = Field(None, ge=1, le=1040, description="Horizon (overrides the scenario).")
    design: Literal["grid", "random", "lhs"] = Field("grid", description="grid, random or lhs (Latin hypercube).")
    samples: int = Field(10, ge=1, le=100_000, description="Points drawn by the random and lhs designs.")
    common_random_numbers: bool = Field(
        True, description="Every point and plan shares the replication's random numbers (paired differences)."
    )
    baseline: bool = Field(
        True,
        description="Also run no marketing at every point and replication, on the same customers and random "
        "numbers, for the incremental metrics (inc_orders, icpo, iromi, ...): one more task per point and "
        "replication. false skips it; the tables then have no incremental metrics.",
    )
    metrics: list[str] = Field(
        default_factory=lambda: list(SWEEP_METRICS),
        description="Metrics printed and charted (every metric is saved). Default: the incremental headline "
        f"({', '.join(SWEEP_METRICS)}); with baseline = false, {', '.join(HEADLINE_METRICS)}.",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_metrics(cls, data: Any) -> Any:
        """Without the baseline the default metrics are the totals: there are no incremental ones."""
        if isinstance(data, dict) and "metrics" not in data and data.get("baseline") is False:
            return {**data, "metrics": list(HEADLINE_METRICS)}
        return data

    @model_validator(mode="after")
    def _known_metrics(self) -> ExperimentSettings:
        for m in self.metrics:
            if m not in SUMMARY_METRICS:
                raise ValueError(
                    f"unknown metric {m!r}{did_you_mean(m, list(SUMMARY_METRICS))}; "
                    f"metrics: {', '.join(SUMMARY_METRICS)}"
                )
            if m in INCREMENTAL_METRICS and not self.baseline:
                raise ValueError(
                    f"metric {m!r} is incremental (against no marketing), but baseline = false runs no "
                    "marketing: set baseline = true or name total metrics only"
                )
        return self


class Experiment(_ExperimentModel):
    """A whole experiment file."""

    experiment: ExperimentSettings = Field(description="Base scenario, plans, design, replications, seed.")
    parameters: list[Parameter] = Field(default_factory=list, description="What varies.")

    def point_count(self) -> int:
        """How many points the design has, counted before any is built (a grid: the product of
        its parameters' level counts; random and lhs: ``samples``)."""
        if not self.parameters:
            return 1
        if self.experiment.design != "grid":
            return self.experiment.samples
        return math.prod(p.level_count() for p in self.parameters)

    @model_validator(mode="after")
    def _checks(self) -> Experiment:
        names = [p.name for p in self.parameters]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"parameters: duplicate names {sorted(dup)}")
        reserved = {"point", "plan", "rep", "reps", "reference", "segment", *SUMMARY_METRICS}
        suffixes = (
            "ci_low",
            "ci_high",
            "diff",
            "diff_ci_low",
            "diff_ci_high",
            "ratio",
            "ratio_ci_low",
            "ratio_ci_high",
        )
        reserved |= {f"{m}_{suffix}" for m in SUMMARY_METRICS for suffix in suffixes}
        bad = [n for n in names if n in reserved]
        if bad:
            raise ValueError(f"parameters: names {bad} clash with result columns; choose others")
        discrete = {p.name: bool(p.values or p.scale or p.range or p.levels) for p in self.parameters}
        for p in self.parameters:
            if self.experiment.design == "grid" and not discrete[p.name]:
                raise ValueError(f"parameters: {p.name!r}: a grid needs values, scale, range or levels")
            if self.experiment.design != "grid" and p.low is None and not discrete[p.name]:
                raise ValueError(
                    f"parameters: {p.name!r}: random and lhs designs need low and high, or levels to pick from"
                )
        return self
