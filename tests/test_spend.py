"""Spend honesty: planned vs bought per campaign, why money was not bought, and the underspend warning.

The scenario is the funnel scenario (5,000 agents, each standing for 20 people) with a tiny third
segment of 20 agents. Bounds come from the frequency cap, a hard limit (an agent never takes more
than ``frequency_cap`` exposures a week), not from a simulated value.
"""

from __future__ import annotations

import math
import re

import helpers
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cjmsim import parse_scenario, simulate
from cjmsim.analyses.metrics import UNBOUGHT_REASONS, UNDERSPEND_SHARE, underspend
from cjmsim.analyses.simulate import Result
from cjmsim.cli import main
from cjmsim.presentation import spend
from cjmsim.presentation.reports.run import render_report

AGENTS, POPULATION, WEEKS = 5_000, 100_000, 8
WEIGHT = POPULATION / AGENTS
TINY_AGENTS = 20  # 0.004 of 5,000 agents (segment sizes are exact: largest remainder)
ADS_CPM, ADS_CAP = 200.0, 3


def spend_scenario() -> dict:
    data = helpers.funnel_scenario()
    data["scenario"].update(agents=AGENTS, population=POPULATION, weeks=WEEKS)
    data["segments"]["a"]["share"] = 0.596
    tiny = helpers.segment("Tiny", 0.004, initial={"unaware": 1.0})
    tiny["base"] = {"aware": 0.05, "interest": 0.0, "desire": 0.0, "purchase": 0.0}  # never visits
    data["segments"]["tiny"] = tiny
    data["plans"] = {
        # 5,000 RUB a week at CPM 200 is 25,000 impressions, 1,250 agent-units among ~4,000 agents:
        # far below what the audience takes at the cap, so only chance leaves money unbought
        "full": {"name": "Buys it all", "campaigns": [{"name": "Ads for all", "channel": "ads", "weekly": 5_000.0}]},
        "tiny": {
            "name": "Tiny audience",
            "campaigns": [
                {"name": "Ads for all", "channel": "ads", "weekly": 5_000.0},
                {"name": "Ads for the tiny segment", "channel": "ads", "weekly": 100_000.0, "segments": ["tiny"]},
            ],
        },
        # each campaign alone fits segment a's audience under the cap, the two together do not
        "shared": {
            "name": "Shared cap",
            "campaigns": [
                {"name": "Ads to A, one", "channel": "ads", "weekly": 20_000.0, "segments": ["a"]},
                {"name": "Ads to A, two", "channel": "ads", "weekly": 20_000.0, "segments": ["a"]},
            ],
        },
        # retargeting needs visitors, and the tiny segment never visits: no one in the target cells
        "empty": {
            "name": "Nobody there",
            "campaigns": [
                {"name": "Retarget the tiny", "channel": "retarget", "weekly": 3_000.0, "segments": ["tiny"]}
            ],
        },
    }
    return data


@pytest.fixture(scope="module")
def result() -> Result:
    return simulate(parse_scenario(spend_scenario()), reps=2)


def rows(result: Result, plan: str) -> pd.DataFrame:
    return result.campaigns[result.campaigns.plan == plan].set_index("campaign")


def test_campaign_table_has_one_row_per_plan_and_campaign(result: Result) -> None:
    c = result.campaigns
    assert list(c.plan) == ["full", "tiny", "tiny", "shared", "shared", "empty"]
    assert list(c.campaign) == [1, 1, 2, 1, 2, 1]
    assert list(c.name[:3]) == ["Ads for all", "Ads for all", "Ads for the tiny segment"]
    assert list(c.segments[:3]) == ["all", "all", "tiny"] and c.stages.iloc[0] == "unaware; aware; interest; desire"
    for col in ("planned", "bought", "share_bought", "unbought", "bought_ci_low", "share_bought_ci_high"):
        assert col in c.columns
    assert [f"unbought_{r}" for r in UNBOUGHT_REASONS] == [
        "unbought_audience",
        "unbought_cap",
        "unbought_chance",
        "unbought_trigger_cap",
        "unbought_per_action",
    ]
    np.testing.assert_allclose(
        c.planned, [5_000.0 * WEEKS, 5_000.0 * WEEKS, 100_000.0 * WEEKS, *[20_000.0 * WEEKS] * 2, 3_000.0 * WEEKS]
    )
    # bought + every reason's unbought = planned (float sums of the same weekly numbers)
    np.testing.assert_allclose(c.bought + c.unbought, c.planned, rtol=1e-12)
    reasons = c[[f"unbought_{r}" for r in UNBOUGHT_REASONS]].sum(axis=1)
    np.testing.assert_allclose(reasons, c.unbought, rtol=1e-9, atol=1e-6)
    assert (c[[f"unbought_{r}" for r in UNBOUGHT_REASONS]] >= 0).all().all()


def test_bought_sums_to_the_summary_spend_per_plan_and_replication(result: Result) -> None:
    per_rep = result.per_rep[result.per_rep.segment == "all"].set_index(["plan", "rep"])
    for plan, reps in result.records.items():
        for r, rec in enumerate(reps):
            # the same weekly amounts summed in another order: equal to the last few ulps, not bit for bit
            assert rec.campaign_bought.sum() == pytest.approx(per_rep.loc[(plan, r), "spend"], rel=1e-12)
            assert rec.campaign_planned.sum() == pytest.approx(per_rep.loc[(plan, r), "planned_spend"], rel=1e-12)
            # the weekly planned spend by channel is the campaigns' planned spend, channel by channel
            chans = [list(result.scenario.channels).index(c.channel) for c in result.scenario.plans[plan].campaigns]
            by_channel = np.zeros_like(rec.planned)
            for k, c in enumerate(chans):
                by_channel[:, c] += rec.campaign_planned[:, k]
            np.testing.assert_allclose(by_channel, rec.planned, rtol=1e-12)
    totals = result.totals()
    sums = result.campaigns.groupby("plan", sort=False)[["planned", "bought"]].sum()
    np.testing.assert_allclose(sums.bought, totals.loc[sums.index, "spend"], rtol=1e-12)
    np.testing.assert_allclose(sums.planned, totals.loc[sums.index, "planned_spend"], rtol=1e-12)


def test_a_tiny_segment_with_a_huge_budget_is_audience_too_small(result: Result) -> None:
    tiny = rows(result, "tiny").loc[2]
    # hard bound: 20 agents x 3 exposures x 20 people each a week at CPM 200
    most = TINY_AGENTS * ADS_CAP * WEIGHT * ADS_CPM / 1000 * WEEKS
    assert tiny.bought <= most * (1 + 1e-9)
    assert tiny.share_bought < 0.01
    assert tiny.unbought_audience > 0.99 * tiny.unbought
    warning = next(w for w in spend.warnings(result) if w.plan == "tiny")
    # at most (40,000 + the bound above) of 840,000 RUB: a single-digit share
    assert re.match(r"plan \u201cTiny audience\u201d bought \d% of its planned budget \(", warning.headline)
    assert "below 95%" in warning.headline
    assert len(warning.campaigns) == 1 and warning.more == 0  # "Ads for all" buys its budget
    assert warning.campaigns[0].startswith("Ads for the tiny segment (ads): bought 0.")
    assert "audience too small: 99" in warning.campaigns[0]
    assert "frequency cap (3 a week)" in warning.campaigns[0]


def test_campaigns_sharing_the_frequency_cap_are_frequency_cap(result: Result) -> None:
    shared = rows(result, "shared")
    for _, row in shared.iterrows():
        assert row.unbought_cap > 0.8 * row.unbought  # the shared cap, not the audience nor chance
        assert row.unbought_audience < 1e-6 * row.planned
        assert row.share_bought < UNDERSPEND_SHARE
    # together they cannot beat the cap: segment a's agents x 3 exposures a week
    a_agents = 0.596 * AGENTS
    assert shared.bought.sum() <= a_agents * ADS_CAP * WEIGHT * ADS_CPM / 1000 * WEEKS
    warning = next(w for w in spend.warnings(result) if w.plan == "shared")
    assert len(warning.campaigns) == 2
    assert all("frequency cap: " in c and "shares with the channel's other campaigns" in c for c in warning.campaigns)


def test_an_empty_audience_buys_nothing_and_says_so(result: Result) -> None:
    empty = rows(result, "empty").loc[1]
    assert empty.bought == 0.0
    assert empty.unbought_audience == empty.planned == 3_000.0 * WEEKS
    assert empty.unbought_cap == empty.unbought_chance == 0.0
    (warning,) = (w for w in spend.warnings(result) if w.plan == "empty")
    assert warning.campaigns[0].endswith("audience too small: 100% of its budget found no one in its target cells")


def test_a_plan_that_buys_its_budget_gets_no_warning(result: Result) -> None:
    full = rows(result, "full").loc[1]
    assert full.share_bought > UNDERSPEND_SHARE
    assert full.unbought == pytest.approx(full.unbought_chance, rel=1e-9)  # neither the audience nor the cap
    assert [u.plan for u in underspend(result.campaigns)] == ["tiny", "shared", "empty"]
    assert "full" not in {w.plan for w in spend.warnings(result)}


def test_the_rule_is_strictly_below_the_share() -> None:
    table = pd.DataFrame(
        {"plan": ["p", "q"], "planned": [100.0, 100.0], "bought": [95.0, 94.99], "unbought": [5.0, 5.01]}
    )
    assert [u.plan for u in underspend(table)] == ["q"]
    assert underspend(table.iloc[:0]) == []
    assert underspend(pd.DataFrame({"plan": ["z"], "planned": [0.0], "bought": [0.0], "unbought": [0.0]})) == []


def test_at_most_five_campaigns_are_named_largest_shortfall_first() -> None:
    data = spend_scenario()
    camps = [
        {"name": f"Tiny {i}", "channel": "ads", "weekly": 1_000.0 * (i + 1), "segments": ["tiny"]} for i in range(7)
    ]
    data["plans"] = {"many": {"campaigns": camps}}
    res = simulate(parse_scenario(data), baseline=False)
    (warning,) = spend.warnings(res)
    assert [c.split(" (")[0] for c in warning.campaigns] == ["Tiny 6", "Tiny 5", "Tiny 4", "Tiny 3", "Tiny 2"]
    assert warning.more == 2
    assert warning.lines()[-1] == "  and 2 more campaigns below 95%"


def test_the_report_shows_the_warning_and_the_table(result: Result) -> None:
    html = render_report(result, [])
    assert 'id="spend"' in html and "Planned vs bought per campaign" in html
    assert html.count('class="warn"') == 3
    assert "Ads for the tiny segment (ads)" in html and "Retarget the tiny" in html
    assert html.index("How the plans compare") < html.index("Planned and bought spend")
    assert "<b>All campaigns of Buys it all</b>" in html


def test_the_report_says_when_every_plan_buys_its_budget() -> None:
    data = spend_scenario()
    data["plans"] = {"full": data["plans"]["full"]}
    data["plans"]["full"]["campaigns"][0]["name"] = "Ads <b>for all</b>"
    html = render_report(simulate(parse_scenario(data), baseline=False), [])
    assert "Every plan bought at least 95% of its planned budget." in html and 'class="warn"' not in html
    assert "Ads &lt;b&gt;for all&lt;/b&gt; (ads)" in html and "<b>for all</b>" not in html


def test_cli_writes_campaigns_csv_and_warns_on_stderr(write_toml, tmp_path) -> None:
    data = spend_scenario()
    data["plans"]["tiny"]["name"] = "[red]Tiny[/red] <b>"
    path = write_toml(data)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["run", str(path), "--out", str(out), "--no-report"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "campaigns.csv")
    assert len(table) == 6 and math.isclose(table.planned.sum(), (5 + 105 + 40 + 3) * 1_000 * WEEKS)
    err = res.stderr
    assert err.count("warning: ") == 3
    assert "warning: plan \u201c[red]Tiny[/red] <b>\u201d bought" in err  # markup shown as written, not rendered
    assert "Ads for the tiny segment (ads): bought" in err
    assert res.stdout.index("Spend") >= 0 and "warning" not in res.stdout
    assert max(len(line) for line in err.splitlines()) <= 80
