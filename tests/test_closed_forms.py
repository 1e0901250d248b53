"""One-step and post-purchase closed forms: exposures -> odds, heterogeneity, word of mouth, loyalty and churn.

Statistical checks: fixed seeds, tolerance 3 standard errors computed in each test from the
closed form (binomial SE for counts of independent agents).
"""

from __future__ import annotations

import math

import helpers
import numpy as np
import pytest
from scipy import special, stats

from cjmsim import parse_scenario, simulate


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def capped_pmf(lam: float, cap: int) -> np.ndarray:
    """P(min(X, cap) = k), k = 0..cap, for X ~ Poisson(lam)."""
    k = np.arange(cap)
    return np.append(stats.poisson.pmf(k, lam), stats.poisson.sf(cap - 1, lam))


def within_3se(observed: float, n: float, p: float) -> bool:
    return abs(observed / n - p) < 3 * math.sqrt(p * (1 - p) / n)


def only_awareness(name: str, share: float, aware: float, **over) -> dict:
    """A segment whose agents only ever move unaware -> aware (everything after is rate 0)."""
    return helpers.segment(
        name,
        share,
        base={"aware": aware, "interest": 0.0, "desire": 0.0, "purchase": 0.0},
        drop={},
        repeat={"customer": 0.0, "loyal": 0.0},
        loyal=0.0,
        churn={},
        **over,
    )


@pytest.mark.slow
def test_exposures_shape_the_odds_as_stated():
    """Week 0: x ~ capped Poisson(lam); p = sigmoid(logit(b) + ln(M) * x / (x + half))."""
    n, cap, half, mult, b, lam = 200_000, 3, 1.0, 5.0, 0.02, 1.2
    absorbed = float((np.arange(cap + 1) * capped_pmf(lam, cap)).sum())  # E[min(X, cap)]
    seg = only_awareness("A", 1.0, b, odds={"ads": {"aware": mult}})
    data = {
        "scenario": {"weeks": 1, "population": n, "agents": n, "seed": 31},
        "segments": {"a": seg},
        "channels": {
            "ads": {
                "cost": {"cpm": 1000.0},  # one currency unit per impression
                "stages": ["unaware"],
                "saturation": {"half": half, "slope": 1.0},
                "frequency_cap": cap,
            }
        },
        "plans": {"p": {"campaigns": [{"channel": "ads", "weekly": n * absorbed}]}},
    }
    rec = simulate(parse_scenario(data)).records["p"][0]
    pmf = capped_pmf(lam, cap)
    k = np.arange(cap + 1)
    p_aware = float((pmf * special.expit(logit(b) + math.log(mult) * k / (k + half))).sum())
    assert within_3se(rec.aware[0, 0], n, p_aware), (rec.aware[0, 0] / n, p_aware)
    assert within_3se(rec.reached[0, 0], n, 1 - pmf[0])
    sd_x = math.sqrt(float((pmf * k**2).sum()) - absorbed**2)
    assert abs(rec.units[0, 0, 0] - n * absorbed) < 3 * sd_x * math.sqrt(n)
    assert rec.spend[0, 0, 0] <= n * absorbed + 1e-6
    # the channel matters: without it, far fewer would have become aware
    assert p_aware - b > 10 * math.sqrt(b * (1 - b) / n)


def test_heterogeneity_mean_rate():
    """u_i ~ N(0, sigma): week-0 awareness is Binomial(n, E[sigmoid(logit(b) + u)])."""
    n, b, sigma = 100_000, 0.1, 1.5
    seg = only_awareness("A", 1.0, b, heterogeneity=sigma)
    data = {
        "scenario": {"weeks": 1, "population": n, "agents": n, "seed": 5},
        "segments": {"a": seg},
        "plans": {"none": {"campaigns": []}},
    }
    rec = simulate(parse_scenario(data)).records["none"][0]
    z, w = np.polynomial.hermite_e.hermegauss(80)
    p_mean = float((w * special.expit(logit(b) + sigma * z)).sum() / w.sum())
    assert abs(p_mean - b) > 0.01  # heterogeneity moves the mean rate, so the check can tell
    assert within_3se(rec.aware[0, 0], n, p_mean), (rec.aware[0, 0] / n, p_mean)


def test_word_of_mouth():
    """Odds of unaware -> aware times wom ** (loyal share): half the segment loyal, wom = 4 doubles the odds."""
    n, b, wom = 100_000, 0.05, 4.0
    seg = only_awareness("A", 1.0, b, word_of_mouth=wom, initial={"unaware": 0.5, "loyal": 0.5})
    data = {
        "scenario": {"weeks": 1, "population": n, "agents": n, "seed": 8},
        "segments": {"a": seg},
        "plans": {"none": {"campaigns": []}},
    }
    rec = simulate(parse_scenario(data)).records["none"][0]
    p = float(special.expit(logit(b) + math.log(wom) * 0.5))
    assert within_3se(rec.aware[0, 0], n / 2, p), (rec.aware[0, 0] / (n / 2), p)
    assert not within_3se(rec.aware[0, 0], n / 2, b)


@pytest.mark.slow
def test_post_purchase_chain():
    """customer -> lost w.p. c, -> loyal w.p. l; loyal -> lost w.p. cl; repeats do not change it."""
    n, c, loy, cl, weeks = 100_000, 0.05, 0.1, 0.02, 12
    seg = helpers.segment(
        "A",
        base={"aware": 0.0, "interest": 0.0, "desire": 0.0, "purchase": 0.0},
        repeat={"customer": 0.3, "loyal": 0.6},
        loyal=loy,
        churn={"customer": c, "loyal": cl},
        initial={"unaware": 0.0, "customer": 1.0},
    )
    data = {
        "scenario": {"weeks": weeks, "population": n, "agents": n, "seed": 12},
        "segments": {"a": seg},
        "plans": {"none": {"campaigns": []}},
    }
    rec = simulate(parse_scenario(data)).records["none"][0]
    P = np.array([[1 - c - loy, loy, c], [0.0, 1 - cl, cl], [0.0, 0.0, 1.0]])  # customer, loyal, lost
    dist = np.array([1.0, 0.0, 0.0])
    for t in range(weeks):
        dist = dist @ P
        got = rec.stage[t, 0, [4, 5, 6]]
        for j in range(3):
            assert within_3se(got[j], n, dist[j]), (t, j, got[j] / n, dist[j])
    # orders: each week, customers repeat w.p. 0.3 and loyal agents w.p. 0.6, from the start-of-week mix
    start = np.vstack(
        [[1.0, 0.0, 0.0], [np.array([1.0, 0, 0]) @ np.linalg.matrix_power(P, t) for t in range(1, weeks)]]
    )
    # week by week, orders are n independent Bernoullis (each agent orders at most once a week)
    p_order = 0.3 * start[:, 0] + 0.6 * start[:, 1]
    expected = n * p_order
    sd = np.sqrt(n * p_order * (1 - p_order))
    assert (np.abs(rec.orders[:, 0] - expected) < 3 * sd).all()
    assert rec.customers.sum() == 0  # nobody new
