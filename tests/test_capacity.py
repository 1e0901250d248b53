"""Capacity (issue 14 item 5; docs/model.md, Capacity): a weekly limit on orders, for the business
(``[capacity]``) or a segment (``[segments.ID.capacity]``). Each limit serves exactly min(limit, requests)
of a week's order requests, a uniform random sample; refused first orders wait in desire or go to lost.

Expected counts come from the records of the same run (stages at the end of each week, orders) and from
runs without a limit, never from the capacity's own bookkeeping alone: the served orders are the
``orders`` the step counts, the lost are the ``lost`` stage.
"""

from __future__ import annotations

import copy
import math
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import helpers
import numpy as np
import pytest

import cjmsim.engine.step
from cjmsim import ScenarioError, parse_scenario, simulate
from cjmsim.engine import make_streams, run_plan
from cjmsim.engine.population import CUSTOMER, DESIRE, LOST
from cjmsim.engine.records import Records

ARRAYS = [f.name for f in fields(Records) if f.name not in ("weight", "order_log", "journey_log", "event_log")]


def funnel(business: dict[str, Any] | None = None, own: dict[str, Any] | None = None, steps: int = 1) -> Any:
    """The funnel scenario (two segments, three channels) with a business limit and segment b's own."""
    d = helpers.funnel_scenario()
    d["scenario"].update(population=600_000, weeks=8)
    for seg in d["segments"].values():
        seg["initial"] = {"unaware": 0.3, "aware": 0.1, "interest": 0.1, "desire": 0.3, "customer": 0.1, "loyal": 0.1}
        seg["repeat"] = {"customer": 0.1, "loyal": 0.2}
    d["segments"]["b"]["steps_per_week"] = steps
    if business is not None:
        d["capacity"] = business
    if own is not None:
        d["segments"]["b"]["capacity"] = own
    return parse_scenario(d)


def run(sc: Any, agents: int = 60_000, threads: int = 1, weeks: int = 8) -> Records:
    """Plan ``base`` of ``sc`` for ``weeks`` weeks, replication 0 of seed 5."""
    return run_plan(sc, "base", make_streams(5, 0, len(sc.segments)), agents, weeks, threads=threads)


def assert_same(a: Records, b: Records, skip: tuple[str, ...] = ()) -> None:
    """Every weekly array equal (NaN equal to NaN)."""
    for name in ARRAYS:
        if name not in skip:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name, strict=True)


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of at most 7,000 agents: several blocks per segment, so the global pass crosses blocks."""
    monkeypatch.setattr(cjmsim.engine.step, "CHUNK", 7_000)


@pytest.mark.parametrize("steps", [1, 7])
def test_capacity_never_exceeded_and_the_same_on_two_threads(small_blocks: None, steps: int) -> None:
    free = run(funnel(steps=steps))
    w = free.weight
    demand = free.orders.sum(axis=1) * w  # orders a week with no limit, people
    for frac in (0.3, 0.7, 0.95):
        limit = float(np.quantile(demand, frac))  # binds in the busier weeks only
        own = float(np.quantile(free.orders[:, 1] * w, frac))
        sc = funnel({"weekly": limit}, {"weekly": own, "overflow": "lost"}, steps=steps)
        one, two = run(sc), run(sc, threads=2)
        assert_same(one, two)
        orders = one.orders * w
        assert (orders.sum(axis=1) <= limit).all()
        assert (orders[:, 1] <= own).all()
        # the limit binds in some weeks: it refused orders, and served floor(limit / w) agents there
        binding = one.refused[:, :, 1].sum(axis=1) > 0
        assert binding.any() and one.refused[:, 1, 0].sum() > 0
        if steps == 1:
            np.testing.assert_array_equal(one.orders.sum(axis=1)[binding], math.floor(limit / w + 1e-9))
        np.testing.assert_array_equal(one.capacity[:, 2], limit)
        np.testing.assert_array_equal(one.capacity[:, 1], own)
        assert np.isinf(one.capacity[:, 0]).all()


def test_served_is_exactly_min_of_limit_and_requests() -> None:
    """One move a week: requests = served + refused; served = min(floor(limit / w), requests) every week."""
    free = run(funnel())
    w = free.weight
    limit = float(np.quantile(free.orders.sum(axis=1) * w, 0.5))
    rec = run(funnel({"weekly": limit}))
    served = rec.orders.sum(axis=1)
    requests = served + rec.refused.sum(axis=(1, 2))
    np.testing.assert_array_equal(served, np.minimum(math.floor(limit / w + 1e-9), requests))
    assert (rec.refused[:, :, 0] == 0).all()  # no segment has its own limit


def test_a_limit_that_never_binds_changes_nothing() -> None:
    free = run(funnel())
    top = float((free.orders.sum(axis=1) * free.weight).max())
    rec = run(funnel({"weekly": top * 1.01}, {"weekly": 1e12, "overflow": "lost"}))
    assert rec.refused.sum() == 0
    assert_same(free, rec, skip=("capacity",))


def queue(overflow: Any, limit: float = 500.0, weeks: int = 10) -> Records:
    """One segment, half of it at desire, nothing else moves into or out of lost (no drops, churn, return,
    repeat orders): every entry into lost is a refused first order."""
    d = helpers.minimal_scenario()
    d["scenario"].update(population=100_000, weeks=weeks)
    d["segments"]["a"].update(
        initial={"desire": 0.5},
        base={"aware": 0.0, "interest": 0.0, "desire": 0.0, "purchase": 0.5},
        drop={"aware": 0.0, "interest": 0.0, "desire": 0.0},
        repeat={"customer": 0.0, "loyal": 0.0},
        churn={"customer": 0.0, "loyal": 0.0},
        loyal=0.0,
    )
    d["capacity"] = {"weekly": limit, "overflow": overflow}
    sc = parse_scenario(d)
    return run_plan(sc, "none", make_streams(3, 0, 1), 20_000, weeks, threads=1)


def test_refused_first_orders_wait_in_desire() -> None:
    rec = queue("wait")
    assert rec.refused.sum() > 0
    assert (rec.stage[:, 0, LOST] == 0).all()  # nobody left
    # served + waiting conserve the desire pool: customers now = first orders so far
    np.testing.assert_array_equal(rec.stage[:, 0, CUSTOMER], np.cumsum(rec.customers[:, 0]))
    assert (rec.orders[:, 0] * rec.weight <= 500.0).all()


def test_refused_first_orders_lost() -> None:
    rec = queue("lost")
    lost = rec.stage[:, 0, LOST]
    np.testing.assert_array_equal(np.diff(lost, prepend=0.0), rec.refused[:, 0, 1])  # lost increase = refused
    assert lost[-1] > 0
    assert rec.stage[-1, 0, DESIRE] + lost[-1] + rec.stage[-1, 0, CUSTOMER] == 20_000 * 0.5


def test_a_share_of_the_refused_is_lost() -> None:
    rec = queue(0.3, weeks=12)
    refused = rec.refused[:, 0, 1].sum()
    lost = rec.stage[-1, 0, LOST]
    # each refused first order is lost with probability 0.3 (a counter-based coin): 3 binomial SE
    assert abs(lost / refused - 0.3) < 3 * math.sqrt(0.3 * 0.7 / refused), (lost, refused)


def test_who_is_served_is_a_uniform_sample() -> None:
    """Two segments compete for one business limit: in each week t a segment's requests r_gt are served at the
    week's overall rate p_t, so its served orders over the weeks are sum_t r_gt p_t within 3 SE, the SE
    sqrt(sum_t r_gt p_t (1 - p_t)) of a binomial (the hypergeometric spread of a sample is smaller)."""
    d = copy.deepcopy(helpers.funnel_scenario())
    d["scenario"].update(population=600_000, weeks=12)
    for seg in d["segments"].values():
        seg["initial"] = {"desire": 0.6, "customer": 0.2, "loyal": 0.2}
    d["segments"]["b"]["base"]["purchase"] = 0.4  # b asks for more slots than a
    free = run(parse_scenario(d), weeks=12)
    d["capacity"] = {"weekly": float(np.quantile(free.orders.sum(axis=1) * free.weight, 0.2))}
    rec = run(parse_scenario(d), weeks=12)
    served = rec.orders  # (W, G)
    requests = served + rec.refused[:, :, 1]
    p = served.sum(axis=1) / requests.sum(axis=1)  # the week's served share
    assert (p < 0.95).sum() >= 6  # the limit binds in most weeks
    for g in range(2):
        expected = (requests[:, g] * p).sum()
        se = math.sqrt((requests[:, g] * p * (1 - p)).sum())
        assert abs(served[:, g].sum() - expected) < 3 * se, (g, served.sum(axis=0), expected, se)


def test_weekly_columns_only_with_a_limit() -> None:
    plain = simulate(funnel(), agents=6_000, baseline=False).weekly
    assert not {"capacity", "capacity_utilisation", "capacity_refused"} & set(plain.columns)
    res = simulate(funnel({"weekly": 30_000.0}, {"weekly": 9_000.0}), agents=6_000, baseline=False)
    w = res.weekly
    every = w[w.segment == "all"]
    np.testing.assert_allclose(every.capacity_utilisation, every.orders / 30_000.0)
    assert (every.capacity_utilisation <= 1).all() and every.capacity_refused.notna().all()
    b = w[w.segment == "b"]
    np.testing.assert_allclose(b.capacity_utilisation, b.orders / 9_000.0)
    a = w[w.segment == "a"]
    assert a.capacity.isna().all() and a.capacity_utilisation.isna().all() and a.capacity_refused.isna().all()
    rec = res.records["base"][0]
    np.testing.assert_allclose(every.capacity_refused, rec.refused[:, :, 1].sum(axis=1) * rec.weight)


@pytest.mark.parametrize(
    ("table", "expect"),
    [
        ({"weekly": 0}, ["capacity.weekly = 0", "> 0", "no limit"]),
        ({"weekly": -5}, ["capacity.weekly", "> 0"]),
        ({"weekly": 100, "overflow": "queue"}, ["capacity.overflow", "'queue'", '"wait"', '"lost"', "[0, 1]"]),
        ({"weekly": 100, "overflow": 1.5}, ["capacity.overflow", "[0, 1]"]),
        ({"weekly": 100, "overflw": "wait"}, ["capacity", "overflw"]),
    ],
)
def test_bad_capacity_is_one_clear_message(table: dict[str, Any], expect: list[str]) -> None:
    for where in ("business", "segment"):
        d = helpers.funnel_scenario()
        if where == "business":
            d["capacity"] = table
        else:
            d["segments"]["b"]["capacity"] = table
        with pytest.raises(ScenarioError) as info:
            parse_scenario(d, source="s.toml")
        msg = str(info.value)
        for part in expect:
            assert part in msg, (part, msg)
        if where == "segment":
            assert "segments.b.capacity" in msg
        assert "Traceback" not in msg


def test_docs_fragment_and_the_clinic() -> None:
    """docs/scenario.md's Capacity example is valid in scenarios/clinic.toml, and the clinic's limits are
    the example's: an appointment book for everyone and the urgent segment's own emergency slots."""
    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "scenario.md").read_text(encoding="utf-8")
    start = text.index("\n## Capacity\n")
    block = text[start : text.index("\n## ", start + 1)].split("```")[1]
    part = tomllib.loads(block)
    data = tomllib.loads((root / "scenarios" / "clinic.toml").read_text(encoding="utf-8"))
    assert data["capacity"] == part["capacity"]
    assert data["segments"]["urgent"]["capacity"] == part["segments"]["urgent"]["capacity"]
    sc = parse_scenario(data)
    assert sc.capacity is not None and sc.capacity.lost_share == 0.2
    urgent = sc.segments["urgent"].capacity
    assert urgent is not None and urgent.lost_share == 1.0 and urgent.weekly == 420


@pytest.mark.parametrize("steps", [1, 7])
def test_a_separate_book_neither_takes_nor_is_refused_business_slots(small_blocks: None, steps: int) -> None:
    """Segment b keeps its own book (``separate = true``, like a clinic's emergency slots): segment a alone
    fills the business limit (a's orders <= the limit every week, and the limit binds), b's orders never exceed
    its own limit, and the business limit refuses none of b's requests. With the same limits but a shared
    book, b's orders count against the business too (a's share of the business slots falls); weekly.csv's
    business utilisation counts a's orders only, so it stays <= 1 although a + b exceed the limit."""
    free = run(funnel(steps=steps))
    w = free.weight
    limit = float(np.quantile(free.orders[:, 0] * w, 0.5))  # binds on a alone in half the weeks
    own = float(np.quantile(free.orders[:, 1] * w, 0.5))
    apart = run(funnel({"weekly": limit}, {"weekly": own, "separate": True}, steps=steps))
    shared = run(funnel({"weekly": limit}, {"weekly": own}, steps=steps))
    orders = apart.orders * w
    assert (orders[:, 0] <= limit).all() and (orders[:, 1] <= own).all()
    assert apart.refused[:, 1, 1].sum() == 0  # b never refused by the business limit
    assert apart.refused[:, 0, 1].sum() > 0  # the business limit binds on a
    assert (orders.sum(axis=1) > limit).any()  # a + b above the business limit: b is outside it
    assert (shared.orders.sum(axis=1) * w <= limit).all()  # shared: everyone within the business limit
    assert shared.orders[:, 0].sum() < apart.orders[:, 0].sum()
    sc = funnel({"weekly": limit}, {"weekly": own, "separate": True}, steps=steps)
    weekly = simulate(sc, agents=60_000, baseline=False).weekly
    u = weekly[weekly.segment == "all"].capacity_utilisation
    assert (u <= 1 + 1e-9).all() and u.max() > 0.99


def test_separate_on_the_business_limit_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"capacity\.separate = true: only a segment's limit"):
        funnel({"weekly": 100.0, "separate": True})
