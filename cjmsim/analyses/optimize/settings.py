"""Every setting of a search in one value, checked against the scenario before anything runs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cjmsim.analyses.choices import OBJECTIVES, SPLITS
from cjmsim.scenario import ArgumentError, Scenario, did_you_mean

__all__ = ["MAX_VARIABLES", "SearchSettings", "search_step", "variable_count"]

#: Most decision variables (campaigns x cells x periods) of a search: SLSQP keeps matrices of
#: about 36 n^2 bytes and every gradient simulates n + 1 candidates.
MAX_VARIABLES = 5_000


def variable_count(scenario: Scenario, plan: str, split: str, periods: int, weeks: int | None = None) -> int:
    """The decision variables a search has (a period without any of a campaign's flights has none
    of its cells, as in :func:`cjmsim.analyses.optimize.variables.decision_variables`), counted
    without simulating anything."""
    W = weeks or scenario.scenario.weeks
    cuts = [round(W * k / periods) for k in range(periods + 1)]
    n = 0
    for camp in scenario.plans[plan].campaigns:
        if camp.trigger is not None:  # a fixed part of the plan
            continue
        segs = len(camp.segments or scenario.segments)
        stages = len(camp.stages or scenario.channels[camp.channel].stages)
        cells = {"none": 1, "segment": segs, "stage": stages}.get(split, segs * stages)
        windows = camp.windows_or_empty or [(0, W)]
        live = sum(any(min(e, cuts[p + 1]) > max(s, cuts[p]) for s, e in windows) for p in range(periods))
        n += cells * live
    return n


def search_step(n: int) -> int:
    """Evaluations of the first search step over n variables: the start (the base plan), the n
    points of its forward-difference gradient, and one step along it."""
    return n + 2


@dataclass(frozen=True)
class SearchSettings:
    """The settings of :func:`cjmsim.analyses.optimize.optimize`, one field per keyword argument
    (see its docstring for what each means)."""

    objective: str = "min-cpo"
    budget: float | None = None
    keep_orders: bool = False
    min_orders: float | None = None
    keep_revenue: bool = False
    min_revenue: float | None = None
    bounds: tuple[float, float] = (0.0, 3.0)
    split: str = "segment,stage"
    periods: int = 1
    reps: int = 1
    evaluations: int = 1000
    step: float = 0.25
    agents: int | None = None
    weeks: int | None = None
    seed: int | None = None
    final_reps: int = 8
    final_agents: int | None = None
    compare: tuple[str, ...] = ()
    curves: bool = True
    curve_reps: int | None = None
    workers: int | None = None
    scheduler: Any = None
    name: str | None = None
    posterior: Any = None  # posterior draws (a Draws) or a draws file: evaluate every candidate over them
    max_draws: int | None = None  # use only the first draws (default: all of them)
    robust: bool = False  # over the draws: the smallest worst-case regret instead of the best expected objective

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
        if self.keep_revenue and self.min_revenue is not None:
            raise ArgumentError(
                "keep_revenue", lambda name: f" and {name('min_revenue')}: give one revenue floor, not both"
            )
        if self.min_revenue is not None and not (math.isfinite(self.min_revenue) and self.min_revenue >= 0):
            raise ArgumentError(
                "min_revenue", f" {self.min_revenue:g}: must be a finite amount, at least 0 (revenue over the horizon)"
            )
        if self.budget is not None and not (math.isfinite(self.budget) and self.budget > 0):
            raise ArgumentError(
                "budget", f" {self.budget:g}: must be a finite amount above 0 (planned spend over the horizon)"
            )
        if self.min_orders is not None and not (math.isfinite(self.min_orders) and self.min_orders >= 0):
            raise ArgumentError("min_orders", f" {self.min_orders:g}: must be a finite number of orders, at least 0")
        if not (math.isfinite(self.step) and self.step > 0):
            raise ArgumentError("step", f" {self.step:g}: must be a finite step above 0")
        low, high = self.bounds
        if not (math.isfinite(low) and math.isfinite(high)) or not (0 <= low <= 1 <= high) or high <= 0:
            raise ArgumentError(
                "bounds",
                f" ({low:g}, {high:g}): need 0 <= low <= 1 <= high, both finite "
                "(multiples of each campaign's base budget)",
            )
        for p in self.compare:
            if p not in scenario.plans:
                raise ArgumentError("compare", f" {p!r}: no such plan{did_you_mean(p, plans)}")
        if not scenario.plans[plan].campaigns:
            raise ArgumentError("plan", f" {plan!r} has no campaigns: nothing to allocate")
        if all(c.trigger is not None for c in scenario.plans[plan].campaigns):
            raise ArgumentError(
                "plan",
                f" {plan!r} has only trigger campaigns, priced per message by their rules: no budget to allocate "
                "(trigger campaigns are a fixed part of a plan)",
            )
        for argument, value, least in (
            ("periods", self.periods, 1),
            ("reps", self.reps, 1),
            ("evaluations", self.evaluations, 2),
            ("final_reps", self.final_reps, 2),
            ("curve_reps", 2 if self.curve_reps is None else self.curve_reps, 2),
        ):
            if value < least:
                raise ArgumentError(argument, f" {value}: must be at least {least}")
        # memory: an upper bound (every period of every campaign); the evaluation budget: the exact count
        upper = variable_count(scenario, plan, self.split, 1) * self.periods
        n = variable_count(scenario, plan, self.split, self.periods, self.weeks)
        if upper > MAX_VARIABLES:
            gb = 36 * upper * upper / 1e9
            raise ArgumentError(
                "split",
                lambda name: (
                    f" {self.split!r} with {name('periods')} {self.periods}: {upper:,} decision variables "
                    f"(campaigns x cells x periods) needs about {gb:.1f} GB of memory and {upper + 1:,} simulations "
                    f"per gradient; at most {MAX_VARIABLES:,}: use {name('split')} none or fewer {name('periods')}"
                ),
            )
        if self.evaluations < search_step(n):
            none = variable_count(scenario, plan, "none", self.periods, self.weeks)
            raise ArgumentError(
                "evaluations",
                lambda name: (
                    f" {self.evaluations}: too few for one search step over {n} variables: the start (the base "
                    f"plan) and a forward-difference gradient need {n + 1}, the step one more; use "
                    f"{name('evaluations')} {search_step(n)} or more"
                    + (
                        f", or {name('split')} none ({none} variables, {search_step(none)} evaluations)"
                        if self.split != "none"
                        else ""
                    )
                ),
            )
        self._check_posterior()
        name = self.plan_name(plan)
        if name in scenario.plans:
            raise ArgumentError("name", f" {name!r}: the scenario already has a plan of that name")

    def _check_posterior(self) -> None:
        """The settings of a search over posterior draws: ``robust`` and ``max_draws`` need them, and each
        draw is one replication (so ``reps`` stays 1)."""
        if self.posterior is None:
            for argument, given in (("robust", self.robust), ("max_draws", self.max_draws is not None)):
                if given:
                    raise ArgumentError(
                        argument, lambda name: f" needs {name('posterior')}: it is about the posterior draws"
                    )
            return
        if self.max_draws is not None and self.max_draws < 1:
            raise ArgumentError("max_draws", f" {self.max_draws}: use at least one draw")
        if self.reps > 1:
            raise ArgumentError(
                "reps",
                lambda name: (
                    f" {self.reps}: not with {name('posterior')}: each posterior draw is one replication (its own "
                    f"customers and random numbers); use {name('max_draws')} to choose how many"
                ),
            )
