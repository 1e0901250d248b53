"""The live what-if: one scenario's customers kept warm, so a budget edit simulates only the edited plan.

A strategist edits the weekly budgets of one plan's campaigns (:class:`Edit`); the edited plan is that
plan with those budgets (:func:`edited_campaigns`), added to the scenario under :data:`EDITED`
(:func:`edited_scenario`) exactly as the optimizer adds a candidate. :class:`WhatIf` keeps, for each
size it runs at (a small preview and the full size), every replication's world at the end of its
warm-up (:func:`cjmsim.engine.warm_up`), the no-marketing records and the records of the scenario's own
plans, so an edit simulates only the edited plan's horizon, forked from the warm worlds
(:func:`cjmsim.engine.run_forked`): bit for bit what ``cjmsim run`` gives for the same plan at the same
agents, seed and replications (tests/test_whatif.py). :func:`plan_text` writes the edited plan as a
``[plans.NAME]`` block to append to the scenario file.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from cjmsim.analyses import metrics
from cjmsim.analyses.simulate import NO_MARKETING, Result, assemble, check_memory
from cjmsim.engine import make_streams, run_forked, warm_up
from cjmsim.scenario import ArgumentError, Scenario, did_you_mean, parse_scenario
from cjmsim.scenario.files import plan_block
from cjmsim.scenario.models import check_id, normal_id

if TYPE_CHECKING:
    from cjmsim.engine import Records
    from cjmsim.engine.step import World
    from cjmsim.scenario import Campaign, Plan

__all__ = [
    "BUDGET_HEADROOM",
    "EDITED",
    "LIVE_METRICS",
    "MIN_LIMIT",
    "Edit",
    "Size",
    "Superseded",
    "WhatIf",
    "budget_limit",
    "check_edit",
    "check_plan",
    "check_plan_id",
    "edited_campaigns",
    "edited_name",
    "edited_scenario",
    "plan_text",
    "plan_weekly",
    "weekly_budget",
]

#: The edited plan's id in the scenario the what-if simulates (internal: no scenario file may use it).
EDITED = "__whatif__"
#: A campaign's weekly budget may be at most this multiple of the largest weekly budget of a plan of the scenario.
BUDGET_HEADROOM = 10.0
#: The least upper bound of a weekly budget, currency (for a scenario whose plans spend little or nothing).
MIN_LIMIT = 1_000_000.0
#: The metrics whose paired differences the live page shows (each plan's summary has every metric).
LIVE_METRICS = (
    "inc_orders", "inc_customers", "icpo", "inc_revenue", "inc_margin", "iroas", "iromi",
    "orders", "customers", "cpo", "revenue", "margin", "romi", "spend", "planned_spend",
)  # fmt: skip


class Superseded(Exception):
    """A newer edit made this simulation obsolete: it stopped between two replications."""


# --------------------------------------------------------------------------------------------
# budgets and edits


def weekly_budget(campaign: Campaign, horizon: int) -> float | None:
    """A campaign's budget per active week: its ``weekly``, or its ``total`` spread over its active weeks;
    None for a lifecycle trigger (priced per message: no budget)."""
    if campaign.trigger is not None:
        return None
    if campaign.weekly is not None:
        return float(campaign.weekly)
    windows = campaign.windows_or_empty or [(0, horizon)]
    return float(campaign.total or 0.0) / max(sum(e - s for s, e in windows), 1)


def plan_weekly(plan: Plan, horizon: int) -> float:
    """The sum of a plan's campaigns' weekly budgets (triggers have none)."""
    return sum(w for c in plan.campaigns if (w := weekly_budget(c, horizon)) is not None)


def budget_limit(scenario: Scenario) -> float:
    """The largest weekly budget a campaign may be given: :data:`BUDGET_HEADROOM` times the largest weekly
    budget of a plan of the scenario, at least :data:`MIN_LIMIT`."""
    weeks = scenario.scenario.weeks
    most = max((plan_weekly(p, weeks) for p in scenario.plans.values()), default=0.0)
    return max(BUDGET_HEADROOM * most, MIN_LIMIT)


@dataclass(frozen=True)
class Edit:
    """A plan with some of its campaigns' weekly budgets changed.

    Attributes:
        plan: the plan edited (a plan id of the scenario).
        budgets: (campaign number, counted from 1 as in campaigns.csv; new weekly budget), by number, only the
            campaigns whose budget differs from the plan's own (so two edits with the same budgets are equal).
    """

    plan: str
    budgets: tuple[tuple[int, float], ...] = ()

    @property
    def changed(self) -> bool:
        """Whether any budget differs from the plan's own."""
        return bool(self.budgets)


def check_plan(scenario: Scenario, plan: str, argument: str = "plan") -> None:
    """Raise :class:`ArgumentError` on ``argument`` when ``plan`` is not a plan of the scenario (the nearest
    plan id suggested, every plan listed)."""
    if plan not in scenario.plans:
        names = list(scenario.plans)
        raise ArgumentError(argument, f" {plan!r}: no such plan{did_you_mean(plan, names)}; plans: {', '.join(names)}")


def check_edit(scenario: Scenario, plan: str, budgets: Mapping[int, float]) -> Edit:
    """Validate an edit of ``plan``'s weekly budgets (campaign number from 1 -> budget) and return it.

    Raises:
        ArgumentError: on ``plan`` when it is not a plan of the scenario; on ``budgets`` for a campaign number
            the plan does not have, a lifecycle trigger (it has no budget), or a budget that is not a finite
            number from 0 to :func:`budget_limit`.
    """
    check_plan(scenario, plan)
    camps = scenario.plans[plan].campaigns
    weeks, limit, cur = scenario.scenario.weeks, budget_limit(scenario), scenario.scenario.currency
    out = []
    for k, value in sorted(budgets.items()):
        if not 1 <= k <= len(camps):
            have = f"campaigns 1 to {len(camps)}" if camps else "no campaigns"
            raise ArgumentError("budgets", f": plan {plan!r} has no campaign {k}; it has {have}")
        own = weekly_budget(camps[k - 1], weeks)
        if own is None:
            raise ArgumentError(
                "budgets",
                f": campaign {k} of plan {plan!r} is a lifecycle trigger, priced per message sent: it has no budget",
            )
        v = float(value)
        if not (math.isfinite(v) and 0.0 <= v <= limit):
            raise ArgumentError(
                "budgets",
                f": campaign {k} of plan {plan!r}: {value!r} is out of range; a weekly budget is a number from 0 "
                f"to {limit:,.0f} {cur}",
            )
        if v != own:
            out.append((k, v))
    return Edit(plan, tuple(out))


def edited_campaigns(scenario: Scenario, edit: Edit) -> list[dict[str, Any]]:
    """The edited plan's campaigns as a scenario file writes them: the plan's own, the edited ones with their
    new ``weekly`` budget (a ``total`` budget becomes that weekly rate; the schedule stays)."""
    new = dict(edit.budgets)
    out = []
    for k, camp in enumerate(scenario.plans[edit.plan].campaigns, start=1):
        d = camp.model_dump(exclude_defaults=True)
        if k in new:
            d.pop("total", None)
            d["weekly"] = new[k]
        out.append(d)
    return out


def _plan_data(scenario: Scenario, edit: Edit, name: str, description: str) -> dict[str, Any]:
    plan = scenario.plans[edit.plan]
    return {
        "name": name,
        "description": description,
        "campaigns": edited_campaigns(scenario, edit),
        "interventions": [iv.model_dump(exclude_defaults=True) for iv in plan.interventions],
    }


def edited_name(scenario: Scenario, edit: Edit) -> str:
    """The edited plan's display name: the plan's, marked as edited when a budget changed."""
    base = scenario.plans[edit.plan].name or edit.plan
    return f"{base} (edited)" if edit.changed else base


def edited_scenario(scenario: Scenario, edit: Edit, plan_id: str = EDITED, name: str | None = None) -> Scenario:
    """``scenario`` with the edited plan added as ``plan_id`` (named ``name``, default :func:`edited_name`);
    it differs from ``scenario`` in its plans only, so the warm-up worlds of ``scenario`` serve it."""
    data = scenario.model_dump()
    description = f"The plan {edit.plan!r} with {len(edit.budgets)} weekly budget(s) changed in cjmsim serve."
    data["plans"][plan_id] = _plan_data(scenario, edit, name or edited_name(scenario, edit), description)
    return parse_scenario(data, source="the edited plan")


def check_plan_id(scenario: Scenario, plan_id: str) -> None:
    """Raise :class:`ArgumentError` on ``name`` unless ``plan_id`` may name a new plan of the scenario file:
    a valid id (the scenario's grammar) and not one of its plans (as ids are compared)."""
    why = check_id(plan_id)  # which refuses the analyses' own ids too: none starts with '_'
    if why is not None:
        raise ArgumentError("name", f" {plan_id!r} cannot be a plan id: {why}")
    same = [p for p in scenario.plans if normal_id(p) == normal_id(plan_id)]
    if same:
        raise ArgumentError("name", f" {plan_id!r}: the scenario already has a plan {same[0]!r}; choose another id")


def plan_text(scenario: Scenario, edit: Edit, plan_id: str, name: str = "", reproduce: str = "") -> str:
    """The edited plan as a ``[plans.PLAN_ID]`` block to append to the scenario file (it parses and validates
    there, and ``cjmsim run`` of it gives the numbers the what-if showed); ``reproduce``: a comment line.

    Raises:
        ArgumentError: on ``name`` when ``plan_id`` cannot be a new plan's id (:func:`check_plan_id`).
    """
    check_plan_id(scenario, plan_id)
    changed = ", ".join(f"campaign {k}: {v:,.2f}".rstrip("0").rstrip(".") for k, v in edit.budgets) or "none"
    description = f"The plan {edit.plan!r} with weekly budgets changed in cjmsim serve ({changed})."
    data = _plan_data(scenario, edit, name or edited_name(scenario, edit), description)
    return plan_block(plan_id, data["name"], description, data["campaigns"], data["interventions"], reproduce)


# --------------------------------------------------------------------------------------------
# the session


@dataclass(frozen=True)
class Size:
    """One size the what-if runs at: agents and replications (the preview's, or the full size's)."""

    name: str
    agents: int
    reps: int


@dataclass
class _World:
    """What one size keeps: its scenario, the warm worlds (one per replication) and the records made."""

    scenario: Scenario
    warm: list[World] = field(default_factory=list)
    without: list[Records] = field(default_factory=list)
    plans: dict[str, list[Records]] = field(default_factory=dict)
    edits: OrderedDict[Edit, list[Records]] = field(default_factory=OrderedDict)
    no_marketing: pd.DataFrame | None = None


class WhatIf:
    """A scenario's customers kept warm at two sizes, for budget edits simulated as they are made.

    ``sizes``: the full size (``agents``, ``reps``) and, when ``preview_agents`` is below ``agents``, a
    preview (``preview_agents``, ``preview_reps``). Every replication r of a size runs on the streams of
    ``seed`` and r, as :func:`cjmsim.simulate` does, so a size's numbers are those of
    ``cjmsim run --agents A --reps R --seed S``. At most ``keep`` edits' records are kept per size (the
    latest used). Not thread-safe: one thread calls it (the server's simulation worker)."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        agents: int,
        reps: int,
        preview_agents: int | None = None,
        preview_reps: int = 1,
        seed: int | None = None,
        keep: int = 32,
    ):
        if reps < 1 or preview_reps < 1 or agents < 1:
            raise ArgumentError("reps" if reps < 1 else "agents", ": must be at least 1")
        check_memory(agents, processes=reps, fork=True)  # a warm world per replication stays in memory
        self.scenario = scenario
        self.keep = keep
        self.full = Size("full", agents, reps)
        self.preview = (
            Size("preview", preview_agents, preview_reps)
            if preview_agents is not None and preview_agents < agents
            else None
        )
        self._sizes: dict[str, _World] = {
            size.name: _World(scenario.with_settings(agents=size.agents, seed=seed)) for size in self.sizes
        }

    @property
    def sizes(self) -> list[Size]:
        """The sizes run for an edit, in order: the preview (if any), then the full size."""
        return [s for s in (self.preview, self.full) if s is not None]

    @property
    def seed(self) -> int:
        """The seed every size runs on."""
        return self._sizes["full"].scenario.scenario.seed

    def scenario_at(self, size: Size) -> Scenario:
        """The scenario as simulated at ``size`` (its agents and seed)."""
        return self._sizes[size.name].scenario

    def _check(self, cancelled: Callable[[], bool] | None) -> None:
        if cancelled is not None and cancelled():
            raise Superseded

    def _world(self, size: Size, cancelled: Callable[[], bool] | None = None) -> _World:
        """``size``'s warm worlds and no-marketing records, made on first use."""
        w = self._sizes[size.name]
        s = w.scenario.scenario
        while len(w.warm) < size.reps:
            self._check(cancelled)
            r = len(w.warm)
            warm = warm_up(w.scenario, make_streams(s.seed, r, len(w.scenario.segments)), s.agents, s.weeks)
            w.without.append(run_forked(warm, None, s.weeks))
            w.warm.append(warm)
        if w.no_marketing is None:
            w.no_marketing = metrics.summarise({NO_MARKETING: w.without}, list(w.scenario.segments), s.ltv_weeks)[0]
        return w

    def plan_records(self, size: Size, plan: str, cancelled: Callable[[], bool] | None = None) -> list[Records]:
        """The records of one of the scenario's plans at ``size``, one per replication (simulated once)."""
        w = self._world(size, cancelled)
        got = w.plans.get(plan)
        if got is None:
            weeks = w.scenario.scenario.weeks
            got = []
            for warm in w.warm:
                self._check(cancelled)
                got.append(run_forked(warm, plan, weeks))
            w.plans[plan] = got
        return got

    def cached(self, size: Size, edit: Edit) -> bool:
        """Whether ``edit``'s records at ``size`` are at hand (no simulation needed)."""
        w = self._sizes[size.name]
        return edit in w.edits if edit.changed else edit.plan in w.plans

    def records(self, size: Size, edit: Edit, cancelled: Callable[[], bool] | None = None) -> list[Records]:
        """The edited plan's records at ``size``, one per replication: forked from the warm worlds, the edited
        plan's horizon only. ``cancelled`` is asked between replications; when it says so, :class:`Superseded`
        is raised and nothing is kept. An edit that changes no budget is the plan itself."""
        if not edit.changed:
            return self.plan_records(size, edit.plan, cancelled)
        w = self._world(size, cancelled)
        got = w.edits.get(edit)
        if got is not None:
            w.edits.move_to_end(edit)
            return got
        sc = edited_scenario(w.scenario, edit)
        got = []
        for warm in w.warm:
            self._check(cancelled)
            got.append(run_forked(warm, EDITED, sc.scenario.weeks, scenario=sc))
        w.edits[edit] = got
        while len(w.edits) > self.keep:
            w.edits.popitem(last=False)
        return got

    def prepare(self, plans: list[str], cancelled: Callable[[], bool] | None = None) -> None:
        """Simulate, at every size, the warm-up worlds, no marketing and ``plans`` (the reference, the plan
        shown first), so the first edits simulate only the edited plan."""
        for size in self.sizes:
            for plan in plans:
                self.plan_records(size, plan, cancelled)

    def outcome(self, size: Size, edit: Edit, reference: str, cancelled: Callable[[], bool] | None = None) -> Result:
        """The edited plan (as :data:`EDITED`) against ``reference`` at ``size``: a :class:`Result` with the
        live page's differences only (of :data:`LIVE_METRICS`), the summary and per_rep; the weekly and journey
        tables (and the others) are made from the records on first use, as :func:`cjmsim.simulate`'s are."""
        check_plan(self.scenario, reference, "reference")
        w = self._world(size, cancelled)
        records = {
            reference: self.plan_records(size, reference, cancelled),
            EDITED: self.records(size, edit, cancelled),
        }
        sc = w.scenario
        s = sc.scenario
        segs = list(sc.segments)
        summary, per_rep = metrics.summarise(records, segs, s.ltv_weeks, w.without)
        return Result(
            sc, s.seed, size.reps, s.agents, s.weeks, summary, per_rep, records, [*sc.plans, EDITED],
            reference=reference,
            differences=metrics.differences(per_rep, reference, LIVE_METRICS),
            without=w.without,
            no_marketing=w.no_marketing,
        )  # fmt: skip

    def result(self, edit: Edit, reference: str, plan_id: str = EDITED, name: str | None = None) -> Result:
        """The full-size comparison of the edited plan (as ``plan_id``, named ``name``) with ``reference``,
        every table of :func:`cjmsim.simulate` (for the run report), from the records at hand."""
        if reference == plan_id:
            raise ArgumentError("name", f" {plan_id!r} is the reference plan's id; choose another")
        size = self.full
        w = self._world(size)
        sc = edited_scenario(w.scenario, edit, plan_id, name)
        records = {reference: self.plan_records(size, reference), plan_id: self.records(size, edit)}
        narrowed = sc.only_plans([reference, plan_id])
        return assemble(narrowed, records, w.without, reference, [*self.scenario.plans, plan_id], size.reps)
