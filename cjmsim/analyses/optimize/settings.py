"""Every setting of a search in one value, checked against the scenario before anything runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cjmsim.analyses.choices import OBJECTIVES, SPLITS
from cjmsim.scenario import ArgumentError, Scenario, did_you_mean

__all__ = ["SearchSettings"]


@dataclass(frozen=True)
class SearchSettings:
    """The settings of :func:`cjmsim.analyses.optimize.optimize`, one field per keyword argument
    (see its docstring for what each means)."""

    objective: str = "min-cpo"
    budget: float | None = None
    keep_orders: bool = False
    min_orders: float | None = None
    bounds: tuple[float, float] = (0.0, 3.0)
    split: str = "segment,stage"
    periods: int = 1
    reps: int = 1
    evaluations: int = 600
    step: float = 0.25
    agents: int | None = None
    weeks: int | None = None
    seed: int | None = None
    final_reps: int = 5
    final_agents: int | None = None
    compare: tuple[str, ...] = ()
    curves: bool = True
    workers: int | None = None
    scheduler: Any = None
    name: str | None = None

    def plan_name(self, plan: str) -> str:
        """The optimized plan's id: ``name``, or ``<plan>_optimized``."""
        return self.name or f"{plan}_optimized"

    def check(self, scenario: Scenario, plan: str) -> None:
        """Raise :class:`ArgumentError` (naming the parameter) for the first setting that cannot run."""
        plans = list(scenario.plans)
        if self.objective not in OBJECTIVES:
            raise ArgumentError("objective", f" {self.objective!r}: choose from {', '.join(OBJECTIVES)}")
        if plan not in scenario.plans:
            raise ArgumentError("plan", f" {plan!r}: no such plan{did_you_mean(plan, plans)}")
        if self.split not in SPLITS:
            raise ArgumentError("split", f" {self.split!r}: choose from {', '.join(SPLITS)}")
        if self.keep_orders and self.min_orders is not None:
            raise ArgumentError(
                "keep_orders", lambda name: f" and {name('min_orders')}: give one orders floor, not both"
            )
        low, high = self.bounds
        if not (0 <= low <= 1 <= high) or high <= 0:
            raise ArgumentError(
                "bounds", f" ({low:g}, {high:g}): need 0 <= low <= 1 <= high (multiples of each campaign's base budget)"
            )
        for p in self.compare:
            if p not in scenario.plans:
                raise ArgumentError("compare", f" {p!r}: no such plan{did_you_mean(p, plans)}")
        if not scenario.plans[plan].campaigns:
            raise ArgumentError("plan", f" {plan!r} has no campaigns: nothing to allocate")
        for argument, value, least in (
            ("periods", self.periods, 1),
            ("reps", self.reps, 1),
            ("evaluations", self.evaluations, 2),
            ("final_reps", self.final_reps, 2),
        ):
            if value < least:
                raise ArgumentError(argument, f" {value}: must be at least {least}")
        name = self.plan_name(plan)
        if name in scenario.plans:
            raise ArgumentError("name", f" {name!r}: the scenario already has a plan of that name")
