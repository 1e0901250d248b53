"""scenarios/clinic.toml's levers (issue 14): every segment's satisfaction after a visit, the cjm plan's
interventions (an online booking redesign, front-desk and hygienist training) and their cost, and the
satisfied share of a small run against the rates the scenario gives (docs/scenario.md, The clinic's levers).

Expected values come from the scenario's own keys (rates, costs, schedules) and the formulas of
docs/model.md (Satisfaction, Interventions), never from a run's output; statistical tolerances are 3
binomial standard errors with a fixed seed.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from cjmsim import Result, Scenario, load_scenario, simulate

ROOT = Path(__file__).resolve().parents[1]
CLINIC = ROOT / "scenarios" / "clinic.toml"
AGENTS = 20_000


@pytest.fixture(scope="module")
def clinic() -> Scenario:
    """The clinic scenario, validated."""
    return load_scenario(CLINIC)


@pytest.fixture(scope="module")
def run(clinic: Scenario) -> Result:
    """The current and cjm plans at 20,000 agents, one replication, the scenario's seed (42), no baseline."""
    return simulate(clinic, ["current", "cjm"], agents=AGENTS, baseline=False)


def test_every_segment_has_a_satisfaction_table(clinic: Scenario) -> None:
    """Each segment says what share of visits satisfy (a plausible 0.8-0.92) and what an unsatisfying visit
    changes: churn odds up, the next visit's (repeat), coming back's (return) and loyalty's odds down."""
    for sid, seg in clinic.segments.items():
        sat = seg.satisfaction
        assert sat is not None, sid
        assert 0.8 <= sat.rate <= 0.92, (sid, sat.rate)
        k = sat.unsatisfied
        assert k["churn"] > 1 and k["repeat"] < 1 and k["return"] < 1 and k["loyal"] < 1, (sid, k)


def test_satisfaction_lines_say_where_their_numbers_come_from() -> None:
    """Every satisfaction key of the file carries a source comment (the clinic's convention)."""
    lines = [ln for ln in CLINIC.read_text(encoding="utf-8").splitlines() if ln.startswith("satisfaction")]
    assert len(lines) >= 2 * 5 + 1  # rate and unsatisfied per segment, and the training's odds
    for ln in lines:
        assert "# assumption" in ln, ln


def test_the_cjm_plan_has_interventions_and_the_current_none(clinic: Scenario) -> None:
    """The CJM plan buys the booking redesign (fewer drops at desire where patients book online) and the
    training (more satisfying visits, a one-off and a weekly cost); today's practice buys neither."""
    assert clinic.plans["current"].interventions == []
    ivs = {iv.name: iv for iv in clinic.plans["cjm"].interventions}
    booking, training = ivs["Online booking redesign"], ivs["Front-desk and hygienist training"]
    assert booking.cost > 0 and booking.drop["desire"] < 1
    assert set(booking.segments or []) == {"checkup", "specialist"}
    assert training.cost > 0 and training.weekly_cost > 0 and training.satisfaction > 1
    assert training.segments is None  # every segment: each has a satisfaction table


def test_intervention_cost_is_booked_as_the_scenario_says(clinic: Scenario, run: Result) -> None:
    """summary.csv's intervention_spend of the cjm plan is each one-off cost plus its weekly cost in every
    week from its start to the horizon's end (docs/model.md, Interventions), whatever the agents."""
    weeks = clinic.scenario.weeks
    expected = sum(
        iv.cost + iv.weekly_cost * ((iv.end or weeks) - iv.start) for iv in clinic.plans["cjm"].interventions
    )
    s = run.summary
    row = s[(s.plan == "cjm") & (s.segment == "all")].iloc[0]
    assert row.intervention_spend == pytest.approx(expected)
    assert row.spend == pytest.approx(row.media_spend + expected)
    assert s[(s.plan == "current") & (s.segment == "all")].intervention_spend.iloc[0] == 0


def _share_and_se(weekly: pd.DataFrame, plan: str, seg: str, weeks: range, weight: float) -> tuple[float, float]:
    """Satisfied share of ``plan``'s orders of ``seg`` in ``weeks``, and the agent orders it rests on."""
    w = weekly[(weekly.plan == plan) & (weekly.segment == seg) & weekly.week.isin(list(weeks))]
    sat, unsat = w.satisfied_orders.sum() / weight, w.unsatisfied_orders.sum() / weight
    n = sat + unsat
    return float(sat / n), float(n)


def test_satisfied_share_is_the_rate_and_training_raises_it(clinic: Scenario, run: Result) -> None:
    """Seed 42, 20,000 agents: each segment's satisfied share of orders is its rate under the current plan and,
    under the cjm plan from the training's start week, sigmoid(logit(rate) + ln 1.5), within 3 binomial SE
    (each order draws independently, docs/model.md, Satisfaction)."""
    weight = clinic.scenario.population / AGENTS
    weeks = clinic.scenario.weeks
    odds = next(iv for iv in clinic.plans["cjm"].interventions if iv.satisfaction != 1)
    for sid, seg in clinic.segments.items():
        assert seg.satisfaction is not None
        r = seg.satisfaction.rate
        trained = r * odds.satisfaction / (1 - r + r * odds.satisfaction)
        for plan, span, p in (("current", range(weeks), r), ("cjm", range(odds.start, weeks), trained)):
            share, n = _share_and_se(run.weekly, plan, sid, span, weight)
            assert n > 100, (sid, plan, n)
            assert abs(share - p) < 3 * math.sqrt(p * (1 - p) / n), (sid, plan, share, p, n)
