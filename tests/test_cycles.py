"""Purchase cycles (issue 13, item 2): a repeat order's chance as a hazard of the weeks since the last order.

Statistical checks: fixed seeds, tolerance 3 standard errors computed in each test (multinomial SE
per bin for the gaps between orders, the sample SE over independent agents for their order counts).
"""

from __future__ import annotations

import math
from typing import Any

import helpers
import numpy as np
import pytest

from cjmsim import parse_scenario, simulate
from cjmsim.engine.compiled import cycle_logits
from cjmsim.engine.population import cycle_survival
from cjmsim.scenario import ScenarioError

WEEKS, SHAPE = 6.0, 3.0  # a short regular cycle, so many orders fit in the horizon


def _cyclic(
    n: int, weeks: int, cycle: dict[str, float] | None, customer: float = 0.0, seed: int = 17
) -> dict[str, Any]:
    """One segment of n agents, every one a customer, churn 0, no loyalty, no marketing."""
    repeat: dict[str, Any] = {"customer": customer, "loyal": 0.0}
    if cycle is not None:
        repeat["cycle"] = cycle
    seg = helpers.segment("A", repeat=repeat, loyal=0.0, churn={}, initial={"customer": 1.0})
    return {
        "scenario": {"weeks": weeks, "population": n, "agents": n, "seed": seed},
        "segments": {"a": seg},
        "plans": {"none": {"campaigns": []}},
    }


def _pmf(d: np.ndarray) -> np.ndarray:
    """P(T = d) = S(d - 1) - S(d) of the discrete Weibull cycle."""
    return cycle_survival(WEEKS, SHAPE, d - 1.0) - cycle_survival(WEEKS, SHAPE, d)


def test_weeks_between_orders_follow_the_discrete_weibull() -> None:
    """Gaps from every order in weeks 0..W-31 to the agent's next order: pmf S(d-1) - S(d) per bin."""
    n, W, tail = 20_000, 70, 30  # P(T > 30) ~ 1e-40: gaps starting by week W - 31 are never cut off
    res = simulate(parse_scenario(_cyclic(n, W, {"weeks": WEEKS, "shape": SHAPE})), export=True)
    log = res.records["none"][0].order_log.sort_values(["agent", "week"], kind="stable")
    agent, week = log["agent"].to_numpy(), log["week"].to_numpy()
    same = agent[1:] == agent[:-1]
    start_ok = week[:-1] <= W - 1 - tail - 1
    # a gap starts at an order (a renewal); given it, the gap is T whatever came before
    gaps = (week[1:] - week[:-1])[same & start_ok]
    starts = int((week <= W - 1 - tail - 1).sum())
    assert gaps.size == starts  # every such order has a next one within the horizon
    N = gaps.size
    d = np.arange(1, 25)
    p = _pmf(d.astype(np.float64))
    counts = np.bincount(gaps, minlength=26)[1:25]
    assert (gaps >= 1).all()
    for k in range(d.size):
        se = math.sqrt(N * p[k] * (1 - p[k]))
        assert abs(counts[k] - N * p[k]) <= 3 * se + 1e-9, (d[k], counts[k], N * p[k], se)
    # the regular cycle is far from a constant rate with the same mean (geometric pmf)
    mean = float((d * p).sum())
    geo = (1 - 1 / mean) ** (d - 1) / mean
    assert abs(counts[0] - N * geo[0]) > 10 * math.sqrt(N * geo[0])


def test_orders_per_week_in_steady_state_are_one_over_the_mean_gap() -> None:
    """Agents start at the equilibrium age, so orders per agent-week are 1/E[T] from week 0 on."""
    n, W = 20_000, 30
    rec = simulate(parse_scenario(_cyclic(n, W, {"weeks": WEEKS, "shape": SHAPE})), export=True).records["none"][0]
    d = np.arange(0, 200, dtype=np.float64)
    ET = float(cycle_survival(WEEKS, SHAPE, d).sum())  # E[T] = sum over d >= 0 of S(d)
    assert WEEKS < ET < WEEKS + 1  # whole weeks: about `weeks` + 1/2
    per_agent = np.bincount(rec.order_log["agent"].to_numpy(), minlength=n)
    se = per_agent.std(ddof=1) / math.sqrt(n)  # agents are independent
    assert abs(per_agent.mean() - W / ET) <= 3 * se, (per_agent.mean(), W / ET, se)
    # week 0 alone: n independent agents, each ordering w.p. 1/E[T] (the equilibrium age draw)
    p0 = 1 / ET
    assert abs(rec.orders[0, 0] - n * p0) <= 3 * math.sqrt(n * p0 * (1 - p0)), (rec.orders[0, 0], n * p0)


def test_besides_the_constant_rate() -> None:
    """p = 1 - (1 - c)(1 - h(D)) in the logit table, and h(0) = 0."""
    c = 0.1
    z = cycle_logits(WEEKS, SHAPE, c, size=40).astype(np.float64)
    d = np.arange(1, 40, dtype=np.float64)
    h = 1 - cycle_survival(WEEKS, SHAPE, d) / cycle_survival(WEEKS, SHAPE, d - 1)
    p = 1 - (1 - c) * (1 - h)
    np.testing.assert_allclose(1 / (1 + np.exp(-z[1:])), p, rtol=1e-5, atol=1e-6)
    assert 1 / (1 + math.exp(-z[0])) == pytest.approx(c, rel=1e-5)
    assert cycle_logits(WEEKS, SHAPE, 0.0, size=3)[0] == -100.0  # D = 0: no cycle order


def test_shape_one_is_the_constant_rate() -> None:
    """shape = 1: h(d) = 1 - exp(-1/weeks) for every d: the same orders as that constant rate."""
    n, W, w = 20_000, 20, 8.0
    cyc = simulate(parse_scenario(_cyclic(n, W, {"weeks": w, "shape": 1.0}))).records["none"][0]
    const = simulate(parse_scenario(_cyclic(n, W, None, customer=1 - math.exp(-1 / w)))).records["none"][0]
    # same transition uniforms and, here, the same float32 logit (in general equal up to its rounding)
    np.testing.assert_array_equal(cyc.orders, const.orders)
    np.testing.assert_array_equal(cyc.stage, const.stage)
    p = 1 - math.exp(-1 / w)
    total = n * W * p
    assert abs(cyc.orders.sum() - total) <= 3 * math.sqrt(n * W * p * (1 - p))


def test_segments_without_a_cycle_are_unchanged() -> None:
    """Adding a cycle to segment b leaves segment a's records bit for bit (its streams are its own)."""
    data = helpers.minimal_scenario()
    data["segments"] = {"a": helpers.segment("A", 0.5), "b": helpers.segment("B", 0.5, initial={"customer": 0.5})}
    plain = simulate(parse_scenario(data)).records["none"][0]
    data["segments"]["b"]["repeat"] = {"customer": 0.02, "loyal": 0.05, "cycle": {"weeks": 4, "shape": 2}}
    cyc = simulate(parse_scenario(data)).records["none"][0]
    np.testing.assert_array_equal(plain.stage[:, 0], cyc.stage[:, 0])
    np.testing.assert_array_equal(plain.orders[:, 0], cyc.orders[:, 0])
    assert (plain.orders[:, 1] != cyc.orders[:, 1]).any()


@pytest.mark.parametrize(
    ("cycle", "words"),
    [
        ({"weeks": 0.5, "shape": 2}, "repeat.cycle.weeks"),
        ({"weeks": 26, "shape": 0}, "repeat.cycle.shape"),
        ({"weeks": 26, "shape": 21}, "repeat.cycle.shape"),
        ({"weeks": 26}, "repeat.cycle.shape"),
        ({"weeks": 26, "shape": 2, "mean": 3}, "repeat.cycle.mean"),
    ],
)
def test_bad_cycles_are_refused(cycle: dict[str, float], words: str) -> None:
    """One clear message naming the key path."""
    with pytest.raises(ScenarioError, match=words.replace(".", r"\.")):
        parse_scenario(_cyclic(10, 2, cycle))


def test_a_cycle_needs_one_move_a_week() -> None:
    data = _cyclic(10, 2, {"weeks": 26, "shape": 4})
    data["segments"]["a"]["steps_per_week"] = 7
    with pytest.raises(ScenarioError, match="steps_per_week = 7 with repeat.cycle"):
        parse_scenario(data)
