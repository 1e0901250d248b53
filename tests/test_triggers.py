"""Lifecycle triggers and audience-threshold campaigns (issue 13 item 3; docs/model.md, Lifecycle triggers).

Expected recipients are rebuilt from the per-agent event log (orders and stage changes), never from
the trigger code's own arrays, so a wrong rule makes the sets differ.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cjmsim import ScenarioError, parse_scenario
from cjmsim.engine.calendar import run_plan, run_plans, run_weeks
from cjmsim.engine.population import CONTACT
from cjmsim.engine.records import EVENTS
from cjmsim.engine.step import World
from cjmsim.engine.streams import make_streams
from cjmsim.scenario.files import read_toml

BASE = read_toml("scenarios/minimal.toml")
SMS = {"name": "SMS", "cost": {"per_message": 2.0}, "stages": ["unaware", "aware", "interest", "desire", "customer",
       "loyal", "lost"], "requires": "none", "frequency_cap": 1}  # fmt: skip
AGENTS = 20_000


def scenario(camps: list[dict[str, Any]], **settings: Any) -> Any:
    """minimal.toml with an SMS channel (reaches anyone) and a plan ``t`` of ``camps``."""
    d = copy.deepcopy(BASE)
    d["channels"]["sms"] = dict(SMS)
    d["plans"]["t"] = {"campaigns": camps}
    d["scenario"].update(settings)
    return parse_scenario(d)


def events(sc: Any, weeks: int = 26, seed: int = 3) -> tuple[pd.DataFrame, Any]:
    rec = run_plan(sc, "t", make_streams(seed, 0, len(sc.segments)), AGENTS, weeks, threads=1, events=True)
    assert rec.event_log is not None
    return rec.event_log, rec


def sent(log: pd.DataFrame, channel: int, week: int) -> set[int]:
    ex = log[(log.event == EVENTS.index("exposure")) & (log.channel == channel) & (log.week == week)]
    return set(ex.agent.tolist())


def test_reminder_26_weeks_after_the_last_order_reaches_exactly_those_agents() -> None:
    sc = scenario([{"name": "reminder", "channel": "sms", "trigger": {"event": "order", "after": 26}}], weeks=52)
    log, _ = events(sc, weeks=52)
    sms = list(sc.channels).index("sms")
    orders = log[log.event.isin([EVENTS.index("customer"), EVENTS.index("repeat")])]
    checked = 0
    for t in range(26, 52):
        w = t - 26
        at_w = set(orders[orders.week == w].agent.tolist())
        later = set(orders[(orders.week > w) & (orders.week < t)].agent.tolist())
        expected = at_w - later  # their last order before week t was at week t - 26
        assert sent(log, sms, t) == expected, t
        checked += len(expected)
    assert checked > 50  # the test has agents to check
    assert not sent(log, sms, 25)  # no order is 26 weeks before week 25 in a run without a warm-up


def _stage_events(log: pd.DataFrame) -> pd.DataFrame:
    stages = [EVENTS.index(s) for s in ("aware", "interest", "desire", "customer", "loyal", "lost")]
    return log[log.event.isin(stages)]


@pytest.mark.parametrize("after", [1, 3])
def test_abandoned_desire_reaches_agents_still_in_desire(after: int) -> None:
    sc = scenario([{"channel": "sms", "trigger": {"event": "desire", "after": after}}])
    log, _ = events(sc)
    sms = list(sc.channels).index("sms")
    moves = _stage_events(log)
    n = 0
    for t in range(after, 26):
        w = t - after
        entered = set(moves[(moves.week == w) & (moves.event == EVENTS.index("desire"))].agent.tolist())
        moved = set(moves[(moves.week > w) & (moves.week < t)].agent.tolist())
        assert sent(log, sms, t) == entered - moved, t
        n += len(entered - moved)
    assert n > 50


def test_win_back_and_interest_follow_their_stage() -> None:
    sc = scenario([{"channel": "sms", "trigger": {"event": "lost", "after": 2}}])
    log, _ = events(sc)
    sms = list(sc.channels).index("sms")
    moves = _stage_events(log)
    for t in range(2, 26):
        lost = set(moves[(moves.week == t - 2) & (moves.event == EVENTS.index("lost"))].agent.tolist())
        moved = set(moves[(moves.week > t - 2) & (moves.week < t)].agent.tolist())
        assert sent(log, sms, t) == lost - moved


def test_contact_requirement_is_honoured() -> None:
    # e-mail requires the contact flag; agents entering interest have it only if they once reached desire
    sc = scenario([{"channel": "email", "trigger": {"event": "interest", "after": 1}}])
    world = World(sc, make_streams(5, 0, 2), "t", AGENTS, 26, [])
    from cjmsim.engine.records import EventLog

    log_rec = EventLog()
    world.recorders = (log_rec,)
    from cjmsim.engine.records import Layout

    log_rec.start(Layout(AGENTS, world.G, world.C, world.block_seg.copy()))
    run_weeks(world, 26)
    log = world.finish().event_log
    assert log is not None
    email = list(sc.channels).index("email")
    moves = _stage_events(log)
    got = set(log[(log.event == 0) & (log.channel == email)].agent.tolist())
    assert got, "no e-mail was sent"
    flags = world.pop.flags
    assert all(flags[a] & CONTACT for a in got)  # flags never clear: a recipient had the contact then
    # agents whose interest week qualifies but who never had a contact get nothing
    entered = set(moves[(moves.event == EVENTS.index("interest")) & (moves.week < 25)].agent.tolist())
    never = {a for a in entered if not flags[a] & CONTACT}
    assert len(never) > 50 and not never & got


def _eligible_desire(log: pd.DataFrame, t: int, after: int) -> set[int]:
    moves = _stage_events(log)
    w = t - after
    entered = set(moves[(moves.week == w) & (moves.event == EVENTS.index("desire"))].agent.tolist())
    return entered - set(moves[(moves.week > w) & (moves.week < t)].agent.tolist())


@pytest.mark.parametrize(
    "cap", [{"max_messages": 150.0}, {"max_weekly": 250.0}, {"max_messages": 400, "max_weekly": 250.0}]
)
def test_caps_bound_messages_and_money_and_sample_at_random(cap: dict[str, float]) -> None:
    sc = scenario([{"channel": "sms", "trigger": {"event": "desire", "after": 1}, **cap}], population=200_000)
    weight = sc.scenario.population / AGENTS
    price = 2.0
    limit = min(cap.get("max_messages", math.inf), cap.get("max_weekly", math.inf) / price)  # real messages
    log, rec = events(sc)
    sms = list(sc.channels).index("sms")
    capped = 0
    chosen_a = eligible_a = chosen_n = eligible_n = 0
    seg = log.drop_duplicates("agent").set_index("agent").segment
    for t in range(1, 26):
        got, elig = sent(log, sms, t), _eligible_desire(log, t, 1)
        assert got <= elig
        messages = len(got) * weight
        assert messages <= limit + 1e-9  # never above the cap
        assert rec.spend[t, :, sms].sum() <= cap.get("max_weekly", math.inf) + 1e-9
        assert rec.campaign_planned[t, 0] == pytest.approx(len(elig) * weight * price)
        if len(elig) * weight > limit:
            capped += 1
            assert messages > limit - weight  # at the cap: floor(cap / weight) agents
            assert rec.campaign_unbought[t, 0, 3] == pytest.approx((len(elig) - len(got)) * weight * price)
            chosen_a += sum(seg[a] == 0 for a in got)
            eligible_a += sum(seg[a] == 0 for a in elig)
            chosen_n, eligible_n = chosen_n + len(got), eligible_n + len(elig)
        else:
            assert got == elig
    assert capped >= 10
    # a random sample: segment 0's share of the messages is its share of the eligible, within 3 SE
    # (binomial SE of a share p of the chosen; the sample is without replacement, so this is generous)
    p = chosen_n / eligible_n
    se = math.sqrt(p * (1 - p) / eligible_a)
    assert abs(chosen_a / eligible_a - p) < 3 * se


def test_results_are_the_same_on_one_and_two_threads() -> None:
    sc = scenario(
        [
            {"channel": "sms", "trigger": {"event": "desire", "after": 1}, "max_messages": 2000},
            {"channel": "search", "weekly": 150_000, "stages": ["interest", "desire"]},
        ],
        agents=60_000,
        population=300_000,
    )
    runs = [run_plan(sc, "t", make_streams(9, 0, 2), 60_000, 26, threads=n) for n in (1, 2)]
    for name in ("stage", "units", "spend", "orders", "campaign_bought", "campaign_unbought"):
        np.testing.assert_array_equal(getattr(runs[0], name), getattr(runs[1], name))
    assert runs[0].campaign_bought[:, 0].sum() > 0


def _audience(rec: Any, weight: float, stage: int) -> np.ndarray:
    return np.asarray(rec.stage[:, :, stage].sum(axis=1) * weight)


@pytest.mark.parametrize("run_for", [None, 4])
def test_threshold_campaign_opens_the_week_after_its_audience_passes(run_for: int | None) -> None:
    always = {"channel": "search", "weekly": 200_000, "stages": ["aware", "interest"]}
    probe = scenario([always])
    weight = probe.scenario.population / AGENTS
    rec0 = run_plan(probe, "t", make_streams(4, 0, 2), AGENTS, 26, threads=1)
    desire = _audience(rec0, weight, 3)  # the gated campaign's audience: everyone in desire (search: no flag)
    size = float(desire[0] + 0.6 * (desire.max() - desire[0]))
    first = int(np.flatnonzero(desire >= size)[0])
    assert 0 < first < 20
    gated: dict[str, Any] = {
        "channel": "search",
        "weekly": 50_000,
        "stages": ["desire"],
        "start_when": {"audience": size},
    }
    if run_for is not None:
        gated["run_for"] = run_for
    sc = scenario([always, gated])
    rec = run_plan(sc, "t", make_streams(4, 0, 2), AGENTS, 26, threads=1)
    on = np.flatnonzero(rec.campaign_planned[:, 1] > 0)
    # until it opens the plan is the plan without it (same random numbers): the same audience
    np.testing.assert_array_equal(_audience(rec, weight, 3)[: first + 1], desire[: first + 1])
    end = 26 if run_for is None else first + 1 + run_for
    assert on.tolist() == list(range(first + 1, end))


def test_threshold_and_triggers_fork_like_a_plain_run() -> None:
    camps = [
        {"channel": "sms", "trigger": {"event": "order", "after": 2}, "max_weekly": 300},
        {"channel": "search", "weekly": 50_000, "stages": ["desire"], "start_when": {"audience": 1.0}},
    ]
    sc = scenario(camps, warmup_weeks=6)
    streams = make_streams(8, 0, 2)
    alone = run_plan(sc, "t", streams, AGENTS, 26, threads=1)
    forked = run_plans(sc, [None, "t"], streams, AGENTS, 26, threads=1)[1]
    for name in ("stage", "spend", "campaign_planned", "campaign_bought", "campaign_unbought"):
        np.testing.assert_array_equal(getattr(alone, name), getattr(forked, name))
    assert alone.campaign_planned[0, 1] > 0  # the audience at the end of the warm-up opens it at week 0
    assert alone.campaign_bought[:, 0].sum() > 0


@pytest.mark.parametrize(
    ("camp", "message"),
    [
        (
            {"trigger": {"event": "visit", "after": 1}},
            r"trigger\.event = 'visit': .*'interest', 'desire', 'order' or 'lost'",
        ),
        ({"trigger": {"event": "desire", "after": -1}}, r"trigger\.after = -1: give the weeks .* 1\.\.32000"),
        ({"trigger": {"event": "desire", "after": 0}}, r"trigger\.after = 0: .*0 would reach no one"),
        ({"weekly": 5, "trigger": {"event": "desire", "after": 1}}, r"trigger with a budget \(weekly\)"),
        ({"total": 5, "trigger": {"event": "lost", "after": 1}}, r"trigger with a budget \(total\)"),
        ({}, r": give exactly one of weekly or total, or a trigger"),
        ({"weekly": 5, "max_messages": 3}, r"max_messages caps a trigger campaign's weekly messages"),
        ({"total": 5, "max_weekly": 3}, r"max_weekly caps a trigger campaign's weekly spend; .*remove max_weekly"),
        ({"stages": ["desire"], "trigger": {"event": "desire", "after": 1}}, r"trigger with stages"),
        ({"total": 5, "start_when": {"audience": 3}}, r"start_when with a total budget"),
        ({"weekly": 5, "run_for": 3}, r"run_for counts the weeks .* give start_when"),
    ],
)
def test_bad_trigger_keys_are_named(camp: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=r"plans\.t\.campaigns\[0\]" + ".*" + message):
        scenario([{"channel": "email", **camp}])


def test_docs_fragments_validate_in_hifi() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "scenario.md").read_text(encoding="utf-8")
    start = text.index("## Lifecycle triggers")
    section = text[start : text.index("\n## ", start + 1)]
    blocks = section.split("```")[1::2]
    assert len(blocks) == 2
    data = read_toml(root / "scenarios" / "hifi.toml")
    import tomllib

    data["plans"]["cjm"]["campaigns"] += tomllib.loads("\n".join(blocks))["plans"]["cjm"]["campaigns"]
    sc = parse_scenario(data)
    camps = sc.plans["cjm"].campaigns
    assert [c.trigger.event for c in camps if c.trigger is not None][-3:] == ["desire", "order", "lost"]
    assert camps[-1].start_when is not None and camps[-1].run_for == 8


def _reporting_scenario() -> Any:
    return scenario(
        [
            {"channel": "search", "weekly": 100_000, "stages": ["interest", "desire"]},
            {
                "name": "abandoned desire",
                "channel": "sms",
                "trigger": {"event": "desire", "after": 1},
                "max_messages": 50,
            },
        ]
    )


def test_a_capped_trigger_reads_as_its_rule_and_is_not_an_underspend() -> None:
    from cjmsim import simulate
    from cjmsim.presentation import spend

    res = simulate(_reporting_scenario(), reps=1)
    row = res.campaigns[(res.campaigns.plan == "t") & (res.campaigns.campaign == 2)].iloc[0]
    assert row.stages == "trigger: 1 week after desire, no order, at most 50 messages a week"
    assert row.unbought_trigger_cap > 0.5 * row.planned  # the cap binds hard
    assert row.unbought == pytest.approx(row.unbought_trigger_cap)
    total = res.summary[(res.summary.plan == "t") & (res.summary.segment == "all")].spend.iloc[0]
    search = res.campaigns[(res.campaigns.plan == "t") & (res.campaigns.campaign == 1)].bought.iloc[0]
    assert row.bought == pytest.approx(total - search)  # the triggered spend is in the plan's spend
    assert not [w for w in spend.warnings(res) if w.plan == "t"]  # the cap is meant: no underspend warning
    table = spend.spend_table(res)
    t_rows = [g for g in table["groups"] if g["plan"] == "t"][0]["rows"]
    assert not t_rows[1]["short"] and "trigger cap" in table["reasons"]
    from cjmsim.presentation.reports.run import render_report

    html = render_report(res, [])
    assert "triggered: 1 week after desire, no order, at most 50 messages a week" in html
    assert "plus 1 lifecycle-trigger campaign, priced per message sent" in html


def test_the_optimizer_keeps_trigger_campaigns_fixed() -> None:
    import tomllib

    from cjmsim.analyses.optimize import optimize
    from cjmsim.scenario import ArgumentError

    sc = _reporting_scenario()
    opt = optimize(sc, "t", "min-cpo", split="none", evaluations=6, workers=1, final_reps=2, curve_reps=2)
    block = tomllib.loads(opt.toml())
    camps = block["plans"]["t_optimized"]["campaigns"]
    triggered = [c for c in camps if "trigger" in c]
    assert triggered == [
        {"name": "abandoned desire", "channel": "sms", "trigger": {"event": "desire", "after": 1}, "max_messages": 50.0}
    ]
    assert len(opt.variables) == 1  # the search campaign only
    only = scenario([{"channel": "sms", "trigger": {"event": "order", "after": 2}}])
    with pytest.raises(ArgumentError, match="only trigger campaigns"):
        optimize(only, "t", "min-cpo", evaluations=6, workers=1)


def test_sweep_budget_scaling_and_moves_leave_triggers_alone() -> None:
    from cjmsim.analyses.sweep import apply_point
    from cjmsim.scenario.experiment import Move, Parameter

    d = copy.deepcopy(BASE)
    d["channels"]["sms"] = dict(SMS)
    trig = {"channel": "sms", "trigger": {"event": "lost", "after": 4}, "max_weekly": 100.0}
    d["plans"]["t"] = {"campaigns": [{"channel": "search", "weekly": 1000.0}, dict(trig)]}
    params = [
        Parameter(name="b", budget=["t"], values=[2.0]),
        Parameter(name="m", move=Move(plan="t", source="search", target="sms"), values=[0.5]),
    ]
    out = apply_point(d, params, {"b": 2.0, "m": 0.5}, "test")
    camps = out["plans"]["t"]["campaigns"]
    assert camps[1] == trig  # neither scaled nor given a budget
    assert camps[0]["weekly"] == 1000.0  # 2 x 1000, half of it moved to a new sms budget campaign
    assert camps[2] == {"channel": "sms", "weekly": 1000.0}
    parse_scenario(out)
