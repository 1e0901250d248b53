"""Barriers: channels' drop and loyal odds against the absorbing chain they reduce to, and their keys.

A call centre that reaches everyone in desire every week at (near) full saturation turns the desire
stage into a two-exit absorbing chain: each week an agent buys with p (``base.purchase``), else drops
with d' (``drop.desire`` with its odds times the channel's multiplier), else stays. So the share who
buy is p / (p + (1 - p) d') and the rest are lost. The same for customer -> loyal against churn.

Statistical checks: fixed seeds, tolerance 3 binomial standard errors of the closed-form share over
the agents (SE = sqrt(q (1 - q) / n)); the chain without the barrier is asserted to be more than
6 SE away, so each check can fail.
"""

from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path

import helpers
import numpy as np
import pytest

from cjmsim import parse_scenario, simulate
from cjmsim.analyses.attribution import attribute
from cjmsim.engine.compiled import segment_models
from cjmsim.scenario import BARRIERS, ODDS_KEYS, TRANSITIONS, ScenarioError
from cjmsim.scenario.files import read_toml
from cjmsim.scenario.models import OddsKey

N = 20_000
WEEKS = 60  # the desire chain keeps < 1e-9 of the agents after 60 weeks (0.8 x 0.7 a week at most)


def _odds(p: float, mult: float) -> float:
    """The probability whose odds are ``mult`` times the odds of ``p``."""
    o = mult * p / (1 - p)
    return o / (1 + o)


def _call_centre(stages: list[str]) -> dict:
    """A channel whose one campaign gives ~20 exposures a week to each agent in ``stages`` (P(none) = e^-20),
    saturating at a tiny half: sat >= 0.999 from the first week on."""
    return {
        "cost": {"cpm": 1.0},
        "stages": stages,
        "adstock": {"decay": 0.5},
        "saturation": {"half": 1e-3, "slope": 1.0},
        "frequency_cap": 20,
    }


def desire_scenario(odds: dict[str, float] | None, seed: int = 31, buy: float = 0.2, drop: float = 0.3) -> dict:
    """Everyone starts in desire; nothing comes in or returns; the call centre reaches desire."""
    seg = helpers.segment(
        "A",
        base={"aware": 0.0, "interest": 0.0, "desire": 0.0, "purchase": buy},
        drop={"aware": 0.05, "interest": 0.05, "desire": drop},
        repeat={"customer": 0.0, "loyal": 0.0},
        loyal=0.0,
        churn={"customer": 0.0, "loyal": 0.0},
        return_rate=0.0,
        initial={"unaware": 0.0, "desire": 1.0},
        odds={} if odds is None else {"callcentre": odds},
    )
    return {
        "scenario": {"name": "Barrier", "weeks": WEEKS, "population": N, "agents": N, "seed": seed},
        "segments": {"a": seg},
        "channels": {"callcentre": _call_centre(["desire"])},
        "plans": {"calls": {"campaigns": [{"channel": "callcentre", "weekly": 1_000.0}]}},
    }


def _bought(data: dict) -> tuple[float, float]:
    rec = simulate(parse_scenario(data)).records["calls"][0]
    customers = float(rec.customers[:, 0].sum())
    lost = float(rec.stage[-1, 0, 6])
    assert customers + lost == N  # everyone left desire, to one exit or the other
    return customers, lost


@pytest.mark.parametrize(("key", "mult"), [("drop", 0.5), ("drop_desire", 0.5), ("drop", 2.0)])
def test_barrier_matches_absorbing_chain(key: str, mult: float):
    """The share who buy from desire is p / (p + (1 - p) d') with d' the odds-shaped drop (3 SE, seed 31)."""
    p, d = 0.2, 0.3
    customers, _ = _bought(desire_scenario({key: mult}))
    want = p / (p + (1 - p) * _odds(d, mult))
    plain = p / (p + (1 - p) * d)  # the chain without the barrier
    se = math.sqrt(want * (1 - want) / N)
    assert abs(customers / N - want) < 3 * se, (customers / N, want, se)
    assert abs(plain - want) > 6 * se  # the check can tell the barrier from none


def test_drop_odds_one_is_no_odds():
    """Drop odds of 1 (and loyal odds of 1) change nothing: bit-identical results."""
    a = simulate(parse_scenario(desire_scenario(None)))
    b = simulate(parse_scenario(desire_scenario({"drop": 1.0, "loyal": 1.0})))
    ra, rb = a.records["calls"][0], b.records["calls"][0]
    assert np.array_equal(ra.stage, rb.stage) and np.array_equal(ra.revenue, rb.revenue)


def test_unbought_barrier_channel_changes_almost_nothing():
    """A channel with drop odds but no exposures (what attribution's counterfactual does): sat = 0, so each
    agent's drop is the base drop; the paired run differs only by float32 rounding of a few agents."""
    base = desire_scenario(None)
    base["plans"]["calls"]["campaigns"] = []
    shaped = desire_scenario({"drop": 0.5})
    shaped["plans"]["calls"]["campaigns"] = []
    a = simulate(parse_scenario(base)).records["calls"][0]
    b = simulate(parse_scenario(shaped)).records["calls"][0]
    assert np.abs(a.stage - b.stage).max() <= 5
    assert abs(float(a.customers.sum()) - float(b.customers.sum())) <= 5


def _loyal_chain(c: float, loy: float, mult: float, satisfaction: dict | None = None) -> tuple[float, float]:
    """How many of N customers (churn c, loyalty loy, no repeat orders, no return) end loyal and lost when a
    call centre's loyal odds are ``mult`` (and the segment has ``satisfaction``)."""
    seg = helpers.segment(
        "A",
        base={"aware": 0.0, "interest": 0.0, "desire": 0.0, "purchase": 0.0},
        repeat={"customer": 0.0, "loyal": 0.0},
        loyal=loy,
        churn={"customer": c, "loyal": 0.0},
        return_rate=0.0,
        initial={"unaware": 0.0, "customer": 1.0},
        odds={"callcentre": {"loyal": mult}},
    )
    if satisfaction is not None:
        seg["satisfaction"] = satisfaction
    data = {
        "scenario": {"name": "Loyal", "weeks": WEEKS, "population": N, "agents": N, "seed": 17},
        "segments": {"a": seg},
        "channels": {"callcentre": _call_centre(["customer"])},
        "plans": {"calls": {"campaigns": [{"channel": "callcentre", "weekly": 1_000.0}]}},
    }
    rec = simulate(parse_scenario(data)).records["calls"][0]
    return float(rec.stage[-1, 0, 5]), float(rec.stage[-1, 0, 6])


def test_loyal_odds_match_chain():
    """Customers churn w.p. c or become loyal w.p. l' (loyal odds x3): P(ever loyal) = l' / (c + l') (3 SE)."""
    c, loy, mult = 0.05, 0.05, 3.0
    loyal, lost = _loyal_chain(c, loy, mult)
    assert loyal + lost == N
    share = loyal / N
    lp = _odds(loy, mult)
    want, plain = lp / (c + lp), loy / (c + loy)
    se = math.sqrt(want * (1 - want) / N)
    assert abs(share - want) < 3 * se, (share, want, se)
    assert abs(plain - want) > 6 * se


def test_drop_odds_compile_to_stages_and_bound():
    """drop shapes aware, interest and desire; drop_STAGE multiplies on top; odds > 1 raise the bound."""
    data = desire_scenario({"drop": 0.5, "drop_desire": 4.0})
    data["channels"]["callcentre"]["stages"] = ["interest", "desire"]
    sc = parse_scenario(data)
    m = segment_models(sc, list(sc.channels))[0]
    assert m.drop_coef is not None and m.drop_base is not None
    assert m.drop_coef[1:4, 0] == pytest.approx([math.log(0.5), math.log(0.5), math.log(2.0)])
    assert m.drop_coef[[0, 4, 5, 6], 0].tolist() == [0.0] * 4
    assert m.drop[3] >= _odds(0.3, 2.0) and m.drop[2] == np.float32(0.05)  # worst case; odds < 1: the base
    assert m.loyal_coef is None
    # no drop odds: nothing computed per agent
    plain = parse_scenario(desire_scenario(None))
    assert segment_models(plain, list(plain.channels))[0].drop_coef is None


def test_odds_keys_literal_matches_tuple():
    assert ODDS_KEYS == TRANSITIONS + BARRIERS
    assert tuple(OddsKey.__args__) == ODDS_KEYS  # type: ignore[attr-defined]


def _message(data: dict) -> str:
    with pytest.raises(ScenarioError) as e:
        parse_scenario(data)
    return str(e.value)


def test_validation_messages():
    msg = _message(desire_scenario({"drop": 0.0}))
    assert "segments.a.odds" in msg and "callcentre.drop is 0.0" in msg and "> 0" in msg
    msg = _message(desire_scenario({"dorp": 0.5}))
    assert "segments.a.odds.callcentre.dorp" in msg and "'drop'" in msg and "'loyal'" in msg
    # a channel that reaches only customers cannot shape a pre-purchase drop
    data = desire_scenario({"drop_interest": 0.5})
    data["channels"]["callcentre"]["stages"] = ["customer", "loyal"]
    msg = _message(data)
    assert "segments.a.odds.callcentre.drop_interest" in msg and "reaches only customer, loyal" in msg
    assert "too late" in msg
    # nor one that reaches only lost agents customer -> loyal
    data = desire_scenario({"loyal": 2.0})
    data["channels"]["callcentre"]["stages"] = ["loyal", "lost"]
    assert "segments.a.odds.callcentre.loyal" in _message(data)
    # a channel reaching interest can shape the drop at desire: its adstock carries over
    data = desire_scenario({"drop_desire": 0.5})
    data["channels"]["callcentre"]["stages"] = ["interest"]
    parse_scenario(data)


def test_attribution_removes_the_drop_effect():
    """Switching the call centre off (attribution's counterfactual) removes its barrier: its incremental
    orders are N (q_barrier - q_plain) of the two chains, within 3 SE of the difference (SE of two
    independent shares: conservative for the paired runs; seed 31)."""
    p, d = 0.2, 0.3
    sc = parse_scenario(desire_scenario({"drop": 0.5}))
    a = attribute(sc, "calls", reps=1, shapley="none")
    row = a.table[(a.table.channel == "callcentre") & (a.table.segment == "all")].iloc[0]
    want, plain = p / (p + (1 - p) * _odds(d, 0.5)), p / (p + (1 - p) * d)
    se = N * math.sqrt((want * (1 - want) + plain * (1 - plain)) / N)
    assert abs(row.incremental_orders - N * (want - plain)) < 3 * se, (row.incremental_orders, N * (want - plain))
    assert N * (want - plain) > 6 * se


def _merge(into: dict, extra: dict) -> None:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def test_the_docs_fragment_validates_in_minimal_and_keeps_people():
    """docs/scenario.md, Barriers: its example is valid in scenarios/minimal.toml, as it says, and the
    call-backs lose fewer people to lost than the same plan with the barrier odds left out (paired)."""
    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "scenario.md").read_text(encoding="utf-8")
    section = text.split("\n## Barriers: channels that lower drop-off or raise loyalty\n", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```")[1::2]
    assert len(blocks) == 1
    data = read_toml(root / "scenarios" / "minimal.toml")
    _merge(data, tomllib.loads(blocks[0]))
    sc = parse_scenario(data)
    models = segment_models(sc, list(sc.channels))
    assert models[0].drop_coef is not None and models[0].loyal_coef is None
    assert models[1].drop_coef is not None and models[1].loyal_coef is not None
    plain = copy.deepcopy(data)
    for seg in plain["segments"].values():
        seg["odds"].pop("callcentre")
    runs = [simulate(parse_scenario(d), ["callback"], agents=5_000, baseline=False) for d in (data, plain)]
    lost = [float(r.records["callback"][0].stage[-1, :, 6].sum()) for r in runs]
    assert lost[0] < lost[1]


def test_loyal_odds_compose_with_an_unsatisfied_customers_loyal_odds():
    """Channel loyal odds x3 and, with every customer unsatisfied (rate 0), unsatisfied loyal odds x2: the
    customer -> loyal odds multiply (x6), P(ever loyal) = l' / (c + l') within 3 SE (fixed seed); either
    factor alone (x3 or x2) sits more than 6 SE away, so the test fails if one of them is dropped."""
    c, loy = 0.05, 0.05
    share = _loyal_chain(c, loy, 3.0, {"rate": 0.0, "unsatisfied": {"loyal": 2.0}})[0] / N
    lp = _odds(loy, 6.0)
    want = lp / (c + lp)
    se = math.sqrt(want * (1 - want) / N)
    assert abs(share - want) < 3 * se, (share, want, se)
    for alone in (3.0, 2.0):
        la = _odds(loy, alone)
        assert abs(la / (c + la) - want) > 6 * se


@pytest.mark.parametrize("mult", [0.5, 2.0])
def test_barrier_acts_on_an_interventions_scaled_drop(mult: float):
    """An intervention halves the base drop at desire from week 0 (d = 0.3 -> 0.15) and the call centre's drop
    odds act on that: the share who buy is p / (p + (1 - p) d'') with d'' = odds(0.15, mult), within 3 SE (seed
    31). The barrier on the unscaled drop and the intervention alone are both more than 6 SE away, so the test
    fails if either effect is lost."""
    p, d = 0.2, 0.3
    data = desire_scenario({"drop": mult})
    data["plans"]["calls"]["interventions"] = [{"name": "Fewer steps", "drop": {"desire": 0.5}}]
    customers, _ = _bought(data)
    want = p / (p + (1 - p) * _odds(d * 0.5, mult))
    se = math.sqrt(want * (1 - want) / N)
    assert abs(customers / N - want) < 3 * se, (customers / N, want, se)
    for other in (_odds(d, mult), d * 0.5):
        assert abs(p / (p + (1 - p) * other) - want) > 6 * se
