"""The engine against the closed form of the absorbing Markov chain it reduces to.

With no channel effects, no heterogeneity and no return from ``lost``, the pre-purchase funnel of
an agent that became aware is an absorbing chain on the transient states aware, interest, desire:
each week it advances with p_adv, else drops to ``lost`` with p_drop, else stays. With the
fundamental matrix N = (I - Q)^-1 and B = N R, the chance to buy is B[aware, customer] and the
mean number of weeks from awareness to the first order, given a purchase, is
(N B[:, customer])[aware] / B[aware, customer].

Statistical checks: fixed seeds, tolerance 3 standard errors computed here from the closed form
(binomial SE for probabilities, sd of the closed-form time distribution / sqrt(customers) for the
mean time).
"""

from __future__ import annotations

import math

import helpers
import numpy as np
import pytest

from cjmsim import parse_scenario, simulate

WEEKS = 150


class Chain:
    """The closed form for one segment's rates (advance a[i], drop d[i] for aware, interest, desire)."""

    def __init__(self, adv: list[float], drop: list[float]):
        a, d = np.asarray(adv, float), np.asarray(drop, float)
        self.Q = np.zeros((3, 3))
        self.R = np.zeros((3, 2))  # absorbing: customer, lost
        for i in range(3):
            self.Q[i, i] = (1 - a[i]) * (1 - d[i])
            if i < 2:
                self.Q[i, i + 1] = a[i]
            self.R[i, 1] = (1 - a[i]) * d[i]
        self.R[2, 0] = a[2]
        assert np.allclose(self.Q.sum(axis=1) + self.R.sum(axis=1), 1.0)
        self.N = np.linalg.inv(np.eye(3) - self.Q)
        self.B = self.N @ self.R
        self.p_buy = float(self.B[0, 0])
        self.mean_t = float((self.N @ self.B[:, 0])[0] / self.p_buy)
        self.p_lead = a[0] / (a[0] + (1 - a[0]) * d[0])  # ever reaches interest from aware
        # exact distribution of T (weeks from aware to the first order): P(T = t, buy) = (Q^(t-1) R)[aware, customer]
        f = []
        row = np.array([1.0, 0.0, 0.0])
        for _ in range(3000):
            f.append(row @ self.R[:, 0])
            row = row @ self.Q
        self.f = np.array([0.0, *f])  # index t
        self.t = np.arange(self.f.size)
        cond = self.f / self.f.sum()
        self.sd_t = math.sqrt(float((cond * self.t**2).sum()) - float((cond * self.t).sum()) ** 2)
        self.median_t = int(np.searchsorted(np.cumsum(cond), 0.5, side="left"))
        self.cond = cond

    def mass_after(self, weeks: int) -> float:
        """P(still transient after ``weeks`` steps): what a horizon censors."""
        return float(np.linalg.matrix_power(self.Q, weeks)[0].sum())


def chain_segment(name: str, share: float, base: dict, drop: dict) -> dict:
    return helpers.segment(
        name,
        share,
        base={"aware": 1.0, **base},
        drop=drop,
        repeat={"customer": 0.0, "loyal": 0.0},
        loyal=0.0,
        churn={"customer": 0.0, "loyal": 0.0},
        return_rate=0.0,
        heterogeneity=0.0,
        initial={"unaware": 1.0},
    )


def chain_for(seg: dict) -> Chain:
    b, d = seg["base"], seg["drop"]
    return Chain([b["interest"], b["desire"], b["purchase"]], [d["aware"], d["interest"], d["desire"]])


def markov_scenario(segments: dict, agents: int, seed: int) -> dict:
    return {
        "scenario": {"name": "Markov", "weeks": WEEKS, "population": agents, "agents": agents, "seed": seed},
        "segments": segments,
        "plans": {"none": {"campaigns": []}},
    }


def check_segment(res, g: int, sid: str, seg: dict) -> None:
    ch = chain_for(seg)
    rec = res.records["none"][0]
    n = float(rec.stage[0, g].sum())
    # base.aware = 1: everyone became aware in week 0, once
    assert rec.aware[0, g] == n
    assert rec.aware.sum(axis=0)[g] == n  # and never again: return_rate = 0 never fires
    # P(purchase): binomial SE over the n agents that became aware
    se_p = math.sqrt(ch.p_buy * (1 - ch.p_buy) / n)
    # the horizon is long enough: the journeys it censors are negligible against that SE, in the
    # chain and in the engine's stage occupancy at the last week
    assert ch.mass_after(WEEKS) < 0.01 * se_p
    assert rec.stage[-1, g, 1:4].sum() < 1e-4 * n
    row = res.summary[(res.summary.plan == "none") & (res.summary.segment == sid)].iloc[0]
    assert abs(row.conversion - ch.p_buy) < 3 * se_p, (row.conversion, ch.p_buy, se_p)
    # P(ever a lead)
    leads = rec.leads.sum(axis=0)[g]
    se_l = math.sqrt(ch.p_lead * (1 - ch.p_lead) / n)
    assert abs(leads / n - ch.p_lead) < 3 * se_l + 5 / n
    # mean weeks to purchase: SE = closed-form sd / sqrt(customers)
    buyers = float(rec.cohort_customers.sum(axis=0)[g])
    se_t = ch.sd_t / math.sqrt(buyers)
    assert abs(row.ttp_mean_weeks - ch.mean_t) < 3 * se_t, (row.ttp_mean_weeks, ch.mean_t, se_t)
    # the same from the records' histogram, and its median
    hist = rec.ttp[g]
    assert hist.sum() == buyers
    assert hist[:3].sum() == 0  # three steps at least: aware -> interest -> desire -> customer
    assert float((hist * np.arange(hist.size)).sum() / hist.sum()) == pytest.approx(row.ttp_mean_weeks)
    assert abs(row.ttp_median_weeks - ch.median_t) <= 1
    # the whole distribution: each week's share within 3 binomial SEs (+ a small floor for rare weeks)
    sim = hist / hist.sum()
    exact = ch.cond[: hist.size]
    se_w = np.sqrt(exact * (1 - exact) / buyers)
    assert (np.abs(sim - exact) < 3 * se_w + 3 / buyers).mean() > 0.97


def test_closed_form_self_consistent():
    ch = Chain([0.3, 0.25, 0.2], [0.05, 0.08, 0.1])
    # the exact distribution and the fundamental matrix agree
    assert ch.f.sum() == pytest.approx(ch.p_buy, rel=1e-12)
    assert float((ch.cond * ch.t).sum()) == pytest.approx(ch.mean_t, rel=1e-9)
    # P(buy) is the product of the per-stage chances to advance rather than drop
    prod = np.prod([a / (a + (1 - a) * d) for a, d in [(0.3, 0.05), (0.25, 0.08), (0.2, 0.1)]])
    assert ch.p_buy == pytest.approx(prod, rel=1e-12)
    # no drop at all: everyone buys, after 1/a weeks per stage on average
    nodrop = Chain([0.3, 0.25, 0.2], [0.0, 0.0, 0.0])
    assert nodrop.p_buy == pytest.approx(1.0)
    assert nodrop.mean_t == pytest.approx(1 / 0.3 + 1 / 0.25 + 1 / 0.2)


@pytest.mark.slow
def test_one_segment_matches_closed_form():
    seg = chain_segment(
        "A", 1.0, {"interest": 0.3, "desire": 0.25, "purchase": 0.2}, {"aware": 0.05, "interest": 0.08, "desire": 0.1}
    )
    sc = parse_scenario(markov_scenario({"a": seg}, 200_000, seed=2024))
    res = simulate(sc)
    check_segment(res, 0, "a", seg)
    check_segment(res, 0, "all", seg)


@pytest.mark.slow
def test_two_segments_match_their_closed_forms():
    segs = {
        "fast": chain_segment(
            "Fast",
            0.4,
            {"interest": 0.5, "desire": 0.4, "purchase": 0.35},
            {"aware": 0.1, "interest": 0.1, "desire": 0.2},
        ),
        "slow": chain_segment(
            "Slow",
            0.6,
            {"interest": 0.1, "desire": 0.15, "purchase": 0.08},
            {"aware": 0.02, "interest": 0.03, "desire": 0.04},
        ),
    }
    sc = parse_scenario(markov_scenario(segs, 200_000, seed=77))
    res = simulate(sc)
    fast, slow = chain_for(segs["fast"]), chain_for(segs["slow"])
    assert abs(fast.mean_t - slow.mean_t) > 5  # the two segments really differ
    for g, (sid, seg) in enumerate(segs.items()):
        check_segment(res, g, sid, seg)
