"""Messages (creatives): a campaign's exposures weighted by its message's fit per segment and stage.

Statistical checks: fixed seeds, tolerance 3 standard errors computed in each test from the closed
form (binomial SE for counts of independent agents; for the paired difference of two plans on the
same random numbers, the SE of a sum of independent 0/1 differences).
"""

from __future__ import annotations

import copy
import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import helpers
import numpy as np
import pytest
from scipy import optimize, special, stats

from cjmsim import ScenarioError, parse_scenario, simulate
from cjmsim.engine.calendar import run_plan
from cjmsim.engine.records import Records
from cjmsim.engine.streams import make_streams
from cjmsim.scenario.files import read_toml
from cjmsim.scenario.models import ID_GRAMMAR

MINIMAL = read_toml(Path(__file__).parents[1] / "scenarios" / "minimal.toml")
ARRAYS = [f.name for f in fields(Records) if f.name not in ("weight", "extra", "order_log", "journey_log", "event_log")]


def same_records(a: Records, b: Records) -> None:
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            assert np.array_equal(x, y), name


def capped_pmf(lam: float, cap: int) -> np.ndarray:
    """P(min(X, cap) = k), k = 0..cap, for X ~ Poisson(lam)."""
    k = np.arange(cap)
    return np.append(stats.poisson.pmf(k, lam), stats.poisson.sf(cap - 1, lam))


def absorbed(lam: float, cap: int) -> float:
    """E[min(X, cap)], X ~ Poisson(lam): units an agent takes."""
    return float((np.arange(cap + 1) * capped_pmf(lam, cap)).sum())


# ---- message absent or fit 1: today's results, bit for bit


def test_fit_one_and_no_message_are_bit_identical() -> None:
    """fit 1 at every stage the channels reach: the weighting runs (fit 0.3 after purchase) and changes nothing."""
    data = helpers.funnel_scenario()
    reached = {st: 1.0 for st in ("unaware", "aware", "interest", "desire", "lost")}
    data["messages"] = {"same": {"fit": {"a": reached, "b": reached}}}
    plain = copy.deepcopy(data["plans"]["base"])
    for camp in data["plans"]["base"]["campaigns"]:
        camp["message"] = "same"
    data["plans"]["plain"] = plain
    res = simulate(parse_scenario(data), reps=2)
    for r in range(2):
        same_records(res.records["base"][r], res.records["plain"][r])


def test_a_message_on_another_plan_changes_nothing_here() -> None:
    """A plan's results do not depend on messages other plans carry (or on [messages] existing)."""
    data = helpers.funnel_scenario()
    before = simulate(parse_scenario(data)).records["base"][0]
    data["messages"] = {"weak": {"fit": {"a": 0.2}}}
    data["plans"]["weak"] = copy.deepcopy(data["plans"]["base"])
    data["plans"]["weak"]["campaigns"][0]["message"] = "weak"
    res = simulate(parse_scenario(data))
    same_records(before, res.records["base"][0])
    # and the message does something: fewer people become aware with the weak ads
    assert res.records["weak"][0].aware.sum() < res.records["base"][0].aware.sum()


# ---- a generic vs a fitted message: the closed form of one stage


N, CAP, HALF, MULT, B, LAM = 200_000, 3, 1.0, 6.0, 0.03, 1.2


def desire_world(plans: dict[str, Any], messages: dict[str, Any]) -> dict[str, Any]:
    """Everyone at desire; only the channel's purchase odds move anyone; week 0's orders are first orders."""
    seg = helpers.segment(
        "A",
        1.0,
        initial={"unaware": 0.0, "desire": 1.0},
        base={"aware": 0.0, "interest": 0.0, "desire": 0.0, "purchase": B},
        drop={},
        repeat={"customer": 0.0, "loyal": 0.0},
        loyal=0.0,
        churn={},
        odds={"ads": {"purchase": MULT}},
    )
    return {
        "scenario": {"weeks": 1, "population": N, "agents": N, "seed": 5},
        "segments": {"a": seg},
        "channels": {
            "ads": {
                "cost": {"cpm": 1000.0},  # one currency unit per impression
                "stages": ["desire"],
                "saturation": {"half": HALF, "slope": 1.0},
                "frequency_cap": CAP,
            }
        },
        "messages": messages,
        "plans": plans,
    }


def p_order(lam: float, fit: float) -> float:
    """Week-0 order probability: E over x ~ capped Poisson(lam) of sigmoid(logit b + ln M * hill(fit * x))."""
    k = np.arange(CAP + 1)
    sat = fit * k / (fit * k + HALF)
    return float((capped_pmf(lam, CAP) * special.expit(math.log(B / (1 - B)) + math.log(MULT) * sat)).sum())


@pytest.mark.slow
def test_generic_vs_fitted_message_differ_by_what_the_fit_implies() -> None:
    budget = N * absorbed(LAM, CAP)
    messages = {
        "segment": {"text": "for you", "fit": {"a": {"desire": 1.0}}, "fit_other": 0.5},  # 1 where it is shown
        "generic": {"text": "for all", "fit_other": 0.5},
    }
    plans = {m: {"campaigns": [{"channel": "ads", "weekly": budget, "message": m}]} for m in messages}
    res = simulate(parse_scenario(desire_world(plans, messages))).records
    fitted, generic = res["segment"][0], res["generic"][0]
    # the same money buys the same exposures: reach, units and spend do not depend on the message
    assert np.array_equal(fitted.reached, generic.reached)
    assert np.array_equal(fitted.units, generic.units)
    assert np.array_equal(fitted.spend, generic.spend)
    p1, ph = p_order(LAM, 1.0), p_order(LAM, 0.5)
    for rec, p in ((fitted, p1), (generic, ph)):
        assert abs(rec.orders[0, 0] / N - p) < 3 * math.sqrt(p * (1 - p) / N), (rec.orders[0, 0] / N, p)
    # paired: same exposures and uniforms, so each agent's difference is 1 with probability p1 - ph
    d = p1 - ph
    diff = fitted.orders[0, 0] - generic.orders[0, 0]
    assert abs(diff - N * d) < 3 * math.sqrt(N * d * (1 - d)), (diff, N * d)
    assert diff > 10 * math.sqrt(N * d * (1 - d))  # the fit matters, far beyond noise
    # through Hill saturation half the fit is not half the lift (here 0.63 of it, docs/model.md)
    lift = (ph - B) / (p1 - B)
    assert 0.55 < lift < 0.8, lift


@pytest.mark.slow
def test_two_messages_on_a_channel_mix_by_their_means() -> None:
    """Two campaigns of equal budget, fits 1 and 0: x ~ capped Poisson(l1 + l2), weighted by fit l1/(l1 + l2)."""
    half_budget = N * absorbed(LAM, CAP) / 2
    lam_half = optimize.brentq(lambda lam: absorbed(lam, CAP) - half_budget / N, 1e-6, 50.0)
    messages = {"good": {"fit": {"a": 1.0}}, "none": {"fit": {"a": 0.0}}}
    camps = [{"channel": "ads", "weekly": half_budget, "message": m} for m in messages]
    rec = simulate(parse_scenario(desire_world({"mix": {"campaigns": camps}}, messages))).records["mix"][0]
    p = p_order(2 * lam_half, 0.5)
    assert abs(rec.orders[0, 0] / N - p) < 3 * math.sqrt(p * (1 - p) / N), (rec.orders[0, 0] / N, p)


def test_fit_zero_at_the_stage_shown_is_no_marketing() -> None:
    """A message that fits desire 0 moves no one at desire: orders are those of no plan, bit for bit."""
    n = 20_000
    messages = {"wrong": {"fit": {"a": {"desire": 0.0, "interest": 1.0}}}}
    plans = {
        "wrong": {"campaigns": [{"channel": "ads", "weekly": float(n), "message": "wrong"}]},
        "none": {"campaigns": []},
    }
    data = desire_world(plans, messages)
    data["scenario"].update(population=n, agents=n, weeks=3)
    res = simulate(parse_scenario(data)).records
    assert res["wrong"][0].reached.sum() > 0.5 * n  # exposed, bought and paid for
    assert res["wrong"][0].spend.sum() > 0
    assert np.array_equal(res["wrong"][0].orders, res["none"][0].orders)
    assert np.array_equal(res["wrong"][0].stage, res["none"][0].stage)


# ---- triggered messages


def trigger_scenario(message: str | None, fit: float) -> Any:
    d = copy.deepcopy(MINIMAL)
    d["channels"]["sms"] = {"cost": {"per_message": 2.0}, "stages": ["desire"], "frequency_cap": 1}
    for seg in d["segments"].values():
        seg.setdefault("odds", {})["sms"] = {"purchase": 4.0}
    d["messages"] = {"nudge": {"fit_other": fit}}
    camp: dict[str, Any] = {"channel": "sms", "trigger": {"event": "desire", "after": 1}}
    if message is not None:
        camp["message"] = message
    d["plans"]["t"] = {"campaigns": [camp]}
    d["plans"]["off"] = {"campaigns": []}
    return parse_scenario(d)


def test_a_triggered_message_is_weighted_by_its_fit() -> None:
    def run(sc: Any, plan: str) -> Records:
        return run_plan(sc, plan, make_streams(3, 0, len(sc.segments)), 20_000, 20, threads=1)

    plain = run(trigger_scenario(None, 1.0), "t")
    same_records(plain, run(trigger_scenario("nudge", 1.0), "t"))  # fit 1: bit-identical
    zero = run(trigger_scenario("nudge", 0.0), "t")
    off = run(trigger_scenario(None, 1.0), "off")
    assert zero.spend.sum() == plain.spend.sum() > 0  # the messages are sent and paid for
    assert np.array_equal(zero.orders, off.orders)  # but with fit 0 they move no one
    assert plain.orders.sum() > off.orders.sum()
    half = run(trigger_scenario("nudge", 0.5), "t")
    assert off.orders.sum() < half.orders.sum() < plain.orders.sum()


def test_triggered_messages_to_a_segment_the_bought_campaign_does_not_reach() -> None:
    """A channel's bought campaign (with a message) targets casual only; its trigger campaign messages
    everyone with a message of fit 0 for enthusiasts: the enthusiasts' journeys are those without the trigger."""
    d = copy.deepcopy(MINIMAL)
    d["channels"]["sms"] = {"cost": {"per_message": 2.0}, "stages": ["desire"], "frequency_cap": 1}
    for seg in d["segments"].values():
        seg.setdefault("odds", {})["sms"] = {"purchase": 4.0}
    d["messages"] = {"bought": {"fit_other": 0.7}, "nudge": {"fit": {"casual": 1.0}, "fit_other": 0.0}}
    bought = {"channel": "sms", "weekly": 2_000.0, "segments": ["casual"], "message": "bought"}
    nudge = {"channel": "sms", "trigger": {"event": "desire", "after": 1}, "message": "nudge"}
    d["plans"]["both"] = {"campaigns": [bought, nudge]}
    d["plans"]["bought"] = {"campaigns": [bought]}
    sc = parse_scenario(d)
    both, alone = (
        run_plan(sc, p, make_streams(3, 0, len(sc.segments)), 20_000, 20, threads=1) for p in ("both", "bought")
    )
    e = list(sc.segments).index("enthusiast")
    assert both.spend[:, e].sum() > 0  # enthusiasts got (and cost) triggered messages
    assert np.array_equal(both.orders[:, e], alone.orders[:, e])
    assert np.array_equal(both.stage[:, e], alone.stage[:, e])
    assert both.orders.sum() > alone.orders.sum()  # casual's nudges (fit 1) do move people


# ---- validation


def bad(change: Any) -> str:
    data = helpers.funnel_scenario()
    data["messages"] = {"segment_a": {"fit": {"a": 1.0}}}
    change(data)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data)
    return str(info.value)


def test_unknown_message_id_says_did_you_mean() -> None:
    def change(d: dict[str, Any]) -> None:
        d["plans"]["base"]["campaigns"][1]["message"] = "segment_b"

    msg = bad(change)
    assert "plans.base.campaigns[1].message: unknown message 'segment_b'" in msg
    assert "did you mean 'segment_a'" in msg


def test_negative_fit_is_refused() -> None:
    msg = bad(lambda d: d["messages"]["segment_a"]["fit"].update(a={"desire": -0.5}))
    assert "messages.segment_a.fit" in msg and ">= 0" in msg
    msg = bad(lambda d: d["messages"]["segment_a"].update(fit_other=-1))
    assert "messages.segment_a.fit_other" in msg


def test_unknown_segment_and_stage_in_fit_are_refused() -> None:
    msg = bad(lambda d: d["messages"]["segment_a"]["fit"].update(bb=0.5))
    assert "messages.segment_a.fit.bb: unknown segment" in msg and "did you mean 'b'" in msg
    msg = bad(lambda d: d["messages"]["segment_a"]["fit"].update(a={"desir": 0.5}))
    assert "messages.segment_a.fit" in msg and "desir" in msg


# ---- the run report


def test_report_shows_messages_fits_and_what_to_say_escaped() -> None:
    from cjmsim.presentation.reports.run import render_report

    data = helpers.funnel_scenario()
    data["segments"]["a"]["persona"] = {"say": "<b>bundles</b> & clear prices"}
    data["messages"] = {
        "m_a": {"name": "Bundles for A", "text": "Sound <now>", "fit": {"a": {"aware": 1.0, "interest": 0.6}}},
    }
    data["plans"]["base"]["campaigns"][1]["message"] = "m_a"
    data["scenario"].update(weeks=2, agents=1_000)
    res = simulate(parse_scenario(data), baseline=False)
    html = render_report(res, [])
    assert "Messages of base" in html
    assert "Bundles for A" in html and "Sound &lt;now&gt;" in html
    assert "&lt;b&gt;bundles&lt;/b&gt; &amp; clear prices" in html and "<b>bundles</b>" not in html
    # search reaches aware, interest and desire: A's fit there 1, 0.6 and fit_other 0.3; B (not listed) 0.3
    assert "aware 1, interest 0.6, desire 0.3" in html
    assert "none (fit 1)" in html  # the campaigns of the plan without a message
    # a scenario without messages has no such table
    plain = helpers.funnel_scenario()
    plain["scenario"].update(weeks=2, agents=1_000)
    assert "Messages of" not in render_report(simulate(parse_scenario(plain), baseline=False), [])


def test_docs_fragment_validates_in_minimal() -> None:
    """docs/scenario.md's Messages example is valid in scenarios/minimal.toml, as it says, and means what it says."""
    import tomllib

    text = (Path(__file__).parents[1] / "docs" / "scenario.md").read_text(encoding="utf-8")
    start = text.index("\n## Messages\n")
    blocks = text[start : text.index("\n## ", start + 1)].split("```")[1::2]
    assert len(blocks) == 1
    data = copy.deepcopy(MINIMAL)
    part = tomllib.loads(blocks[0])
    data["messages"] = part["messages"]
    data["plans"]["by_segment"] = part["plans"]["by_segment"]
    sc = parse_scenario(data)
    specs = sc.messages["specs"]
    assert specs.fit_of("enthusiast", "interest") == 1.0 and specs.fit_of("enthusiast", "aware") == 0.3
    assert sc.messages["bundles"].fit_of("casual", "desire") == 1.0
    rec = simulate(sc, ["search_and_email", "by_segment"], agents=5_000, weeks=4, baseline=False)
    assert rec.records["by_segment"][0].orders.sum() > 0


@pytest.mark.parametrize("bad_id", ["../x", "a.b", "a b", "_x", "", "x" * 65, "evil\u202egnp"])
def test_message_ids_obey_the_id_grammar(bad_id: str) -> None:
    def change(d: dict[str, Any]) -> None:
        d["messages"] = {bad_id: {"fit": {"a": 1.0}}}

    msg = bad(change)
    assert f"message id {bad_id!r} is not allowed" in msg and ID_GRAMMAR in msg, msg
    assert msg.count("\n") == 0  # one line: the one bad id


def test_message_ids_that_differ_only_in_case_or_dash_are_refused() -> None:
    def change(d: dict[str, Any]) -> None:
        d["messages"] = {"Segment-A": {"fit": {"a": 1.0}}, "segment_a": {"fit": {"a": 0.5}}}

    msg = bad(change)
    assert "message ids 'Segment-A' and 'segment_a' are the same id" in msg, msg
