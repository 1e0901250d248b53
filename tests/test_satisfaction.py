"""Satisfaction (issue 14, item 3): each order leaves the customer satisfied or not, and an unsatisfied
customer's churn, loyalty, repeat and return odds and word of mouth change (docs/model.md, Satisfaction).

Statistical checks: fixed seeds, tolerance 3 standard errors computed in each test (binomial SE of a
share of independent draws: orders for the satisfied share, customer-weeks at risk for a weekly rate).
"""

from __future__ import annotations

import math
from typing import Any

import helpers
import numpy as np
import pandas as pd
import pytest
from test_engine import assert_records_equal

import cjmsim.engine.calendar
from cjmsim import parse_scenario, simulate
from cjmsim.engine import make_streams, run_plan
from cjmsim.scenario import ScenarioError

ODDS = {"churn": 3.0, "loyal": 0.2, "repeat": 0.6, "return": 0.5}


def _odds(p: float, odds: float) -> float:
    """The probability whose odds are ``odds`` times those of ``p``."""
    return odds * p / (1.0 - p + odds * p)


def _with_satisfaction(data: dict[str, Any], **sat: Any) -> dict[str, Any]:
    for seg in data["segments"].values():
        seg["satisfaction"] = dict(sat)
    return data


def _funnel(weeks: int = 20, agents: int = 20_000) -> dict[str, Any]:
    """The funnel scenario with heterogeneity, word of mouth, return and a churn-shaping channel."""
    data = helpers.funnel_scenario()
    data["scenario"].update(weeks=weeks, agents=agents, warmup_weeks=3)
    for seg in data["segments"].values():
        seg.update(heterogeneity=0.5, word_of_mouth=3.0, return_rate=0.05)
        seg["initial"] = {
            "unaware": 0.5,
            "aware": 0.1,
            "interest": 0.1,
            "desire": 0.1,
            "customer": 0.1,
            "loyal": 0.05,
            "lost": 0.05,
        }
        seg["odds"]["ads"]["churn"] = 0.7
    return data


def _sat_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith(("satisf", "unsatisf"))]


def test_satisfied_share_of_orders_is_the_rate() -> None:
    """Seed 3: the share of satisfied orders per segment within 3 binomial SE of its rate."""
    data = _funnel(weeks=26)
    data["segments"]["a"]["satisfaction"] = {"rate": 0.8, "unsatisfied": ODDS}
    data["segments"]["b"]["satisfaction"] = {"rate": 0.45}
    data["scenario"]["seed"] = 3
    res = simulate(parse_scenario(data), baseline=False)
    rec = res.records["base"][0]
    for g, rate in enumerate((0.8, 0.45)):
        sat, unsat = rec.satisfied[:, g].sum(), rec.unsatisfied[:, g].sum()
        assert sat + unsat == rec.orders[:, g].sum()  # every order of a segment with satisfaction draws
        n = sat + unsat
        assert n > 2_000
        assert abs(sat / n - rate) < 3 * math.sqrt(rate * (1 - rate) / n), (g, sat / n)
    row = res.summary.set_index("segment").loc["a"]
    assert row.satisfaction == pytest.approx(rec.satisfied[:, 0].sum() / rec.orders[:, 0].sum())
    weekly = res.weekly[res.weekly.segment == "all"]
    assert weekly.satisfied_orders.sum() == pytest.approx(rec.satisfied.sum() * rec.weight)
    assert (weekly.unsatisfied_customers > 0).all()


def test_rate_one_is_no_satisfaction_bit_for_bit() -> None:
    """Every order satisfies: the records are those of no satisfaction table, bit for bit, whatever the odds
    (only the satisfaction counts and summary.csv's ``satisfaction``, 1 instead of empty, differ)."""
    plain = simulate(parse_scenario(_funnel()), baseline=False)
    one = simulate(parse_scenario(_with_satisfaction(_funnel(), rate=1.0, unsatisfied=ODDS, word_of_mouth=-2.0)))
    assert one.summary.loc[one.summary.plan == "base", "satisfaction"].eq(1.0).all()
    assert plain.summary.satisfaction.isna().all()
    mine = one.summary[one.summary.plan == "base"].reset_index(drop=True)
    cols = [c for c in plain.summary.columns if c != "satisfaction"]
    pd.testing.assert_frame_equal(mine[cols], plain.summary[cols])
    assert _sat_columns(one.weekly) == ["satisfied_orders", "unsatisfied_orders", "unsatisfied_customers"]
    assert not _sat_columns(plain.weekly)
    pd.testing.assert_frame_equal(one.weekly.drop(columns=_sat_columns(one.weekly)), plain.weekly)
    a, b = plain.records["base"][0], one.records["base"][0]
    assert b.unsatisfied.sum() == 0 and b.unsatisfied_customers.sum() == 0
    for name in ("stage", "orders", "revenue", "customers", "loyal", "aware", "units", "spend"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def _customers(n: int, rate: float, weeks: int, **over: Any) -> dict[str, Any]:
    """n agents at desire who all buy in week 0 (purchase = 1), then stay customers until they churn:
    no loyalty, no return, no new customers; ``over`` sets segment keys."""
    seg = helpers.segment(
        "A",
        initial={"desire": 1.0},
        base={"aware": 0.0, "interest": 0.0, "desire": 0.0, "purchase": 1.0},
        repeat={"customer": 0.0, "loyal": 0.0},
        loyal=0.0,
        churn={"customer": 0.03, "loyal": 0.0},
        satisfaction={"rate": rate, "unsatisfied": {"churn": 3.0, "repeat": 0.6}},
    )
    seg.update(over)
    return {
        "scenario": {"weeks": weeks, "population": n, "agents": n, "seed": 11},
        "segments": {"a": seg},
        "plans": {"none": {"campaigns": []}},
    }


def test_unsatisfied_customers_churn_at_the_odds() -> None:
    """Seed 11, no repeat orders: every customer keeps the state of its first order (week 0). The weekly churn
    of unsatisfied customers (from ``unsatisfied_customers``) and of satisfied ones (the other customers)
    are 3 x the odds of churn.customer and churn.customer, each within 3 binomial SE over customer-weeks."""
    res = simulate(parse_scenario(_customers(40_000, 0.5, 12)), baseline=False)
    rec = res.records["none"][0]
    assert rec.orders[0, 0] == 40_000 and rec.orders[1:].sum() == 0
    unsat = rec.unsatisfied_customers[:, 0]
    sat = rec.stage[:, 0, 4] - unsat  # customers (stage 4) whose order satisfied
    assert unsat[0] == rec.unsatisfied[0, 0]
    for n, p in ((unsat, _odds(0.03, 3.0)), (sat, 0.03)):
        at_risk = n[:-1].sum()
        rate = (n[:-1] - n[1:]).sum() / at_risk
        assert abs(rate - p) < 3 * math.sqrt(p * (1 - p) / at_risk), (rate, p)


def test_unsatisfied_customers_repeat_at_the_odds() -> None:
    """Seed 11, rate 0: every order leaves the customer unsatisfied; no churn. Repeat orders per customer-week
    are the repeat rate with 0.6 x its odds, within 3 binomial SE."""
    data = _customers(20_000, 0.0, 10, churn={"customer": 0.0, "loyal": 0.0}, repeat={"customer": 0.2, "loyal": 0.0})
    rec = simulate(parse_scenario(data), baseline=False).records["none"][0]
    at_risk = rec.stage[:-1, 0, 4].sum()  # customers at the start of weeks 1..
    repeats = rec.orders[1:, 0].sum()
    p = _odds(0.2, 0.6)
    assert rec.satisfied.sum() == 0
    assert abs(repeats / at_risk - p) < 3 * math.sqrt(p * (1 - p) / at_risk), (repeats / at_risk, p)


def test_negative_word_of_mouth_lowers_new_aware() -> None:
    """Same seed and agents (common random numbers): unsatisfied customers with a negative weight in word of
    mouth make fewer agents aware than the same satisfaction with weight 0, by more than 3 Poisson SE."""
    base = _funnel(weeks=26)
    for seg in base["segments"].values():
        seg["word_of_mouth"] = 5.0
        seg["initial"] = {"unaware": 0.5, "customer": 0.3, "loyal": 0.2}
    zero = simulate(parse_scenario(_with_satisfaction(base, rate=0.3)), baseline=False)
    neg = simulate(parse_scenario(_with_satisfaction(_funnel_copy(base), rate=0.3, word_of_mouth=-1.0)))
    a0 = zero.summary.set_index(["plan", "segment"]).loc[("base", "all"), "aware"]
    a1 = neg.summary.set_index(["plan", "segment"]).loc[("base", "all"), "aware"]
    assert a1 < a0 - 3 * math.sqrt(a0)


def _funnel_copy(data: dict[str, Any]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(data)


def test_results_independent_of_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """One thread and two give the same records (satisfaction draws are counter-based, per agent)."""
    pools: list[int] = []

    class SpyPool(cjmsim.engine.calendar.ThreadPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pools.append(kwargs.get("max_workers", args[0] if args else 0))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(cjmsim.engine.calendar, "ThreadPoolExecutor", SpyPool)
    data = _with_satisfaction(_funnel(weeks=8), rate=0.6, unsatisfied=ODDS, word_of_mouth=-0.5)
    data["segments"]["a"]["steps_per_week"] = 2
    data["scenario"]["population"] = 600_000
    sc = parse_scenario(data)
    recs = [run_plan(sc, "base", make_streams(5, 0, len(sc.segments)), 60_000, 8, threads=t) for t in (1, 2)]
    assert pools == [2]
    assert recs[0].unsatisfied.sum() > 0
    assert_records_equal(recs[0], recs[1])


@pytest.mark.parametrize(
    ("sat", "words"),
    [
        ({"rate": 1.5}, "satisfaction.rate"),
        ({"rate": -0.1}, "satisfaction.rate"),
        ({}, "satisfaction.rate"),
        ({"rate": 0.9, "unsatisfied": {"churn": 0.0}}, "unsatisfied.churn is 0"),
        ({"rate": 0.9, "unsatisfied": {"repeat": -2}}, "unsatisfied.repeat is -2"),
        ({"rate": 0.9, "unsatisfied": {"chrun": 2.0}}, "satisfaction.unsatisfied.chrun"),
        ({"rate": 0.9, "mood": 1}, "satisfaction.mood"),
        ({"rate": 0.9, "word_of_mouth": 11}, "satisfaction.word_of_mouth"),
    ],
)
def test_bad_satisfaction_is_refused(sat: dict[str, Any], words: str) -> None:
    """One clear message naming the key path."""
    data = helpers.minimal_scenario()
    data["segments"]["a"]["satisfaction"] = sat
    with pytest.raises(ScenarioError, match=words.replace(".", r"\.")) as err:
        parse_scenario(data)
    assert "segments.a" in str(err.value)


def test_docs_fragment_validates_in_hifi() -> None:
    """docs/scenario.md's satisfaction example is valid where it says it belongs (hifi's music lovers)."""
    from test_docs import _with_fragment

    sat = _with_fragment("Satisfaction", "hifi.toml").segments["music_lover"].satisfaction
    assert sat is not None and sat.rate == 0.85 and sat.unsatisfied["return"] == 0.5 and sat.word_of_mouth == -0.5


def test_report_shows_satisfaction_per_segment() -> None:
    """The run report's satisfaction table: one row per segment with the table, the satisfied share of
    summary.csv, and the effect in words; no table without satisfaction."""
    from cjmsim.presentation.reports.run import render_report

    data = _funnel(weeks=6, agents=4_000)
    data["segments"]["a"]["satisfaction"] = {"rate": 0.7, "unsatisfied": {"churn": 3.0}}
    res = simulate(parse_scenario(data), baseline=False)
    html = render_report(res, [])
    assert "Satisfaction: the share of orders" in html
    share = res.summary.set_index(["plan", "segment"]).loc[("base", "a"), "satisfaction"]
    assert f"{100 * share:.1f}%" in html and "odds of churn \u00d73" in html
    plain = render_report(simulate(parse_scenario(_funnel(weeks=6, agents=4_000)), baseline=False), [])
    assert "Satisfaction: the share of orders" not in plain


def test_plans_sharing_the_warm_up_keep_the_state() -> None:
    """run_plans forks the warm-up's world: each plan's records equal a whole run of it bit for bit, so
    the fork carries every agent's latest-order state."""
    from cjmsim.engine import run_plans

    data = _with_satisfaction(_funnel(weeks=6), rate=0.6, unsatisfied=ODDS, word_of_mouth=-0.5)
    data["scenario"].update(warmup_weeks=4, warmup_plan="base")
    sc = parse_scenario(data)
    plans = [*sc.plans, None]
    streams = make_streams(sc.scenario.seed, 1, len(sc.segments))
    shared = run_plans(sc, plans, streams, 20_000, 6, threads=1)
    for plan, rec in zip(plans, shared, strict=True):
        assert rec.unsatisfied.sum() > 0
        assert_records_equal(rec, run_plan(sc, plan, streams, 20_000, 6, threads=1))
