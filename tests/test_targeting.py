"""Imperfect targeting (issue 14 item 6): a channel's ``targeting = { precision, premium }``.

precision = the share of a budget campaign's units that land on its audience, the rest spread by
affinity over the channel's other eligible agents; premium = unit price x (1 + premium x (1 -
audience share)). The scenario is the funnel scenario (tests/helpers.py) with one ads campaign on
segment a. Statistical bounds are 3 standard errors at fixed seeds: the units an agent takes in a
week are min(Poisson(lam), cap), whose variance is at most lam (min with a constant is 1-Lipschitz),
so the variance of a sum of units is at most its expected value (in agent units).
"""

from __future__ import annotations

import math
from pathlib import Path

import helpers
import numpy as np
import pytest

import cjmsim.engine.step
from cjmsim import parse_scenario, simulate
from cjmsim.analyses.metrics import campaign_table
from cjmsim.engine import Recorder, make_streams, run_plan
from cjmsim.engine.compiled import _cells, compile_campaigns
from cjmsim.scenario import ScenarioError, load_scenario

AGENTS, POPULATION, WEEKS = 20_000, 400_000, 8
WEIGHT = POPULATION / AGENTS
CPM = 200.0  # the funnel scenario's ads channel
HIFI = Path(__file__).resolve().parent / "data" / "golden_hifi.toml"


def scenario(targeting: dict | None = None, campaign: dict | None = None, weekly: float = 20_000.0) -> dict:
    """The funnel scenario with one plan: ads to segment a (all pre-purchase stages) at ``weekly``."""
    data = helpers.funnel_scenario()
    data["scenario"].update(agents=AGENTS, population=POPULATION, weeks=WEEKS)
    if targeting is not None:
        data["channels"]["ads"]["targeting"] = targeting
    camp = {"name": "Ads to A", "channel": "ads", "weekly": weekly, "segments": ["a"], **(campaign or {})}
    data["plans"] = {"base": {"campaigns": [camp]}}
    return data


def run(data: dict, seed: int = 3):
    sc = parse_scenario(data)
    return sc, run_plan(sc, "base", make_streams(seed, 0, len(sc.segments)), AGENTS, WEEKS, threads=1)


def test_defaults_spelled_out_change_nothing():
    _, plain = run(scenario())
    _, spelled = run(scenario({"precision": 1.0, "premium": 0.0}))
    for name in ("stage", "units", "spend", "orders", "campaign_bought", "campaign_unbought", "campaign_leaked"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(spelled, name), err_msg=name)
    assert plain.campaign_leaked.sum() == 0


def test_leaky_path_at_precision_1_is_bit_identical_on_hifi(monkeypatch):
    """The imperfect-targeting code path itself, at precision 1 and premium 0, gives hifi's records bit for bit."""
    sc = load_scenario(HIFI)
    agents, weeks = 20_000, 6
    plans = list(sc.plans)[:2]
    plain = {p: run_plan(sc, p, make_streams(2026, 0, len(sc.segments)), agents, weeks, threads=1) for p in plans}
    channels = list(sc.channels)

    def forced(sc_, plan, chans, warmup):
        camps = compile_campaigns(sc_, plan, chans, warmup)
        for camp in camps:
            if not camp.triggered:
                ch = sc_.channels[chans[camp.channel]]
                camp.eligible = _cells(ch.stages, ch.requires)  # precision 1, premium 0: the leaky path
        return camps

    monkeypatch.setattr(cjmsim.engine.step, "compile_campaigns", forced)
    for p in plans:
        leaky = run_plan(sc, p, make_streams(2026, 0, len(sc.segments)), agents, weeks, threads=1)
        assert leaky.spend.sum() > 0 and channels
        for name in ("stage", "units", "units_stage", "spend", "spend_stage", "orders", "revenue"):
            np.testing.assert_array_equal(getattr(plain[p], name), getattr(leaky, name), err_msg=f"{p}: {name}")
        for name in ("campaign_planned", "campaign_bought", "campaign_unbought"):
            np.testing.assert_array_equal(getattr(plain[p], name), getattr(leaky, name), err_msg=f"{p}: {name}")
        assert leaky.campaign_leaked.sum() == 0


@pytest.mark.parametrize("precision", [0.8, 0.5])
def test_share_of_units_inside_the_audience_is_precision(precision):
    weekly = 20_000.0  # 100,000 impressions a week = 5,000 agent units over ~16,000 agents: far under the cap
    sc, rec = run(scenario({"precision": precision}, weekly=weekly))
    a, b, ads = 0, 1, 0
    asked = weekly / (CPM / 1000.0) * WEEKS  # real units asked for; all absorbable, so all expected delivered
    inside, outside = rec.units[:, a, ads].sum(), rec.units[:, b, ads].sum()
    for got, want in ((inside, precision * asked), (outside, (1 - precision) * asked)):
        se = math.sqrt(want / WEIGHT) * WEIGHT  # variance <= mean, in agent units (module docstring)
        assert abs(got - want) < 3 * se, (got, want, se)
    # every unit delivered is paid (never above the budget), the leaked ones too, pro rata
    delivered = rec.units[:, :, ads].sum(axis=1)
    bought = np.minimum(delivered, weekly / (CPM / 1000.0)) * CPM / 1000.0
    np.testing.assert_allclose(rec.campaign_bought[:, 0], bought, rtol=1e-9)
    np.testing.assert_allclose(rec.campaign_leaked[:, 0], bought * rec.units[:, b, ads] / delivered, rtol=1e-9)
    table = campaign_table({"base": [rec]}, sc)
    assert table.leaked_share.iloc[0] == pytest.approx(rec.campaign_leaked.sum() / bought.sum(), rel=1e-9)
    assert abs(table.leaked_share.iloc[0] - (1 - precision)) < 0.02  # 3 SE of the outside units are ~1.4% of all


class _Where(Recorder):
    """Records the (segment, stage, flags) of every agent a channel exposed."""

    def __init__(self, world_pop: list) -> None:
        self.pop = world_pop
        self.seen: set[tuple[int, int, int]] = set()

    def on_exposures(self, block, week, channel, agents, counts):
        pop = self.pop[0]
        seg = np.searchsorted(pop.bounds, agents, side="right") - 1
        for key in set(zip(seg.tolist(), pop.stage[agents].tolist(), (pop.flags[agents] & 3).tolist(), strict=True)):
            self.seen.add(key)


def test_leaked_units_reach_only_eligible_agents_outside_the_audience(monkeypatch):
    """Retargeting (visited agents in interest, desire, lost) aimed at segment a's desire: leaks land on
    visited agents of those stages only, outside a's desire, in both segments."""
    data = scenario(campaign={"channel": "retarget", "stages": ["desire"], "weekly": 5_000.0})
    data["channels"]["retarget"]["targeting"] = {"precision": 0.5}
    sc = parse_scenario(data)
    holder: list = []
    orig = cjmsim.engine.step.build_population

    def capture(*args, **kw):
        pop = orig(*args, **kw)
        holder.append(pop)
        return pop

    monkeypatch.setattr(cjmsim.engine.step, "build_population", capture)
    where = _Where(holder)
    rec = run_plan(sc, "base", make_streams(4, 0, 2), AGENTS, WEEKS, threads=1, recorders=[where])
    stages = {1: "aware", 2: "interest", 3: "desire", 6: "lost"}
    eligible = {2, 3, 6}  # interest, desire, lost
    assert where.seen, "nothing exposed"
    for seg, stage, flags in where.seen:
        assert stage in eligible, (seg, stages.get(stage, stage))
        assert flags & 1, "an agent who never visited got a remarketing impression"  # VISITED = 1
    assert {(s, st) for s, st, _ in where.seen} >= {(0, 3), (0, 2), (1, 3)}  # inside, leaks in a and in b
    assert rec.campaign_leaked.sum() > 0


def test_premium_on_a_narrow_audience():
    """One small segment pays unit price x (1 + premium x (1 - share)); bought units = budget / that price."""
    premium, weekly = 0.3, 20_000.0
    data = scenario({"premium": premium}, weekly=weekly)
    data["segments"]["a"]["share"], data["segments"]["b"]["share"] = 0.1, 0.9  # a is the narrow audience
    sc = parse_scenario(data)
    # the audience share changes week by week as agents move: recompute it from the world's cells
    world = cjmsim.engine.step.World(sc, make_streams(5, 0, 2), "base", AGENTS, WEEKS)
    rec, camp = world.rec, world.plan_campaigns[0]
    for t in range(WEEKS):
        cells = world.seg_cells()
        elig = _cells(sc.channels["ads"].stages, "none")
        share = cells[0, elig].sum() / cells[:, elig].sum()
        price = CPM / 1000.0 * (1 + premium * (1 - share))
        world.week(t, world.plan_campaigns, {0})
        assert camp.price == pytest.approx(price, rel=1e-12)
        assert 0.05 < share < 0.2  # narrow: the stated premium applies almost in full
        units = rec.units[t, 0, 0]  # all absorbable: the units delivered are weekly / price, in expectation
        se = math.sqrt(weekly / price / WEIGHT) * WEIGHT
        assert abs(units - weekly / price) < 3 * se, (t, units, weekly / price)
        # every unit at that price, never above the budget
        assert rec.campaign_bought[t, 0] == pytest.approx(min(units, weekly / price) * price, rel=1e-9)
    assert rec.campaign_leaked.sum() == 0  # precision 1: nothing leaks
    assert "leaked" not in campaign_table({"base": [rec]}, sc).columns  # no column without a leak


def test_campaign_for_everyone_pays_the_list_price():
    data = scenario({"premium": 0.5, "precision": 0.7}, weekly=10_000.0)
    del data["plans"]["base"]["campaigns"][0]["segments"]
    res = simulate(parse_scenario(data), ["base"], baseline=False)
    rec = res.records["base"][0]
    price = CPM / 1000.0  # no premium
    bought = np.minimum(rec.units[:, :, 0].sum(axis=1), 10_000.0 / price) * price
    np.testing.assert_allclose(rec.campaign_bought[:, 0], bought, rtol=1e-9)
    assert rec.campaign_leaked.sum() == 0  # nowhere to leak to


@pytest.mark.parametrize(
    ("value", "expect"),
    [
        ({"precision": 0.0}, ("channels.ads.targeting.precision", "in (0, 1]")),
        ({"precision": 1.2}, ("channels.ads.targeting.precision", "in (0, 1]")),
        ({"premium": -0.1}, ("channels.ads.targeting.premium", ">= 0")),
        ({"precison": 0.5}, ("channels.ads.targeting.precison", "precision")),
    ],
)
def test_bad_targeting_is_one_clear_message(value, expect):
    data = scenario(value)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, source="s.toml")
    msg = str(info.value)
    for part in expect:
        assert part in msg, (part, msg)
    assert "Traceback" not in msg


def test_targeting_does_not_touch_trigger_campaigns():
    """A triggered message goes to a known contact: the channel's precision and premium leave it alone."""

    def data(targeting):
        d = scenario()
        d["channels"]["retarget"]["targeting"] = targeting
        d["plans"]["base"]["campaigns"] = [{"channel": "retarget", "trigger": {"event": "desire", "after": 1}}]
        return d

    _, plain = run(data({}))
    _, leaky = run(data({"precision": 0.5, "premium": 1.0}))
    assert plain.campaign_bought.sum() > 0
    for name in ("stage", "units", "units_stage", "spend", "campaign_bought", "campaign_unbought", "campaign_leaked"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(leaky, name), err_msg=name)
