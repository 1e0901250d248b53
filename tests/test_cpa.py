"""Pay per action (issue 14 item 4; docs/model.md, Pay per action): channels priced per order (cpa) or per
lead (cpl) bill price x the actions of agents they exposed within the attribution window, at most the
week's budget.

The expected bills are counted from the per-agent event log (exposures, orders, stage changes), never
from the step's own counters, so a wrong attribution rule makes them differ.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cjmsim import ScenarioError, parse_scenario
from cjmsim.analyses.metrics import campaign_table, underspend
from cjmsim.engine.calendar import run_plan
from cjmsim.engine.records import EVENTS, Records
from cjmsim.engine.step import World
from cjmsim.engine.streams import make_streams
from cjmsim.scenario.files import read_toml

BASE = read_toml("scenarios/minimal.toml")
AGENTS = 20_000
WEEKS = 26
PRICE = 700.0


def scenario(cost: dict[str, Any], camps: list[dict[str, Any]], stages: list[str] | None = None) -> Any:
    """minimal.toml with an aggregator channel ``agg`` priced by ``cost`` and a plan ``t`` of ``camps``."""
    d = copy.deepcopy(BASE)
    d["channels"]["agg"] = {"name": "Aggregator", "cost": cost, "stages": stages or ["interest", "desire"]}
    for seg in d["segments"].values():
        seg["odds"]["agg"] = {"desire": 1.5, "purchase": 2.0}
    d["plans"]["t"] = {"campaigns": camps}
    return parse_scenario(d)


def run(sc: Any, seed: int = 5, threads: int = 1) -> tuple[pd.DataFrame, Records]:
    rec = run_plan(sc, "t", make_streams(seed, 0, len(sc.segments)), AGENTS, WEEKS, threads=threads, events=True)
    assert rec.event_log is not None
    return rec.event_log, rec


def attributed(log: pd.DataFrame, channel: int, actions: list[str], window: int) -> np.ndarray:
    """Actions (event rows) per week whose agent the channel exposed in the same week or window - 1 before."""
    exp = log[(log.event == EVENTS.index("exposure")) & (log.channel == channel)]
    acts = log[log.event.isin([EVENTS.index(a) for a in actions])]
    out = np.zeros(WEEKS)
    for t in range(WEEKS):
        seen = set(exp[(exp.week <= t) & (exp.week > t - window)].agent.tolist())
        out[t] = sum(a in seen for a in acts[acts.week == t].agent.tolist())
    return out


def test_cpa_bills_price_x_attributed_orders_only_in_weeks_with_them() -> None:
    camps = [{"channel": "agg", "weekly": 10_000_000, "flights": [[0, 10], [14, 26]]}]
    sc = scenario({"cpa": PRICE, "impressions": 2_000}, camps)
    log, rec = run(sc)
    c = list(sc.channels).index("agg")
    n = attributed(log, c, ["customer", "repeat"], 1)
    bill = rec.spend[:, :, c].sum(axis=1)
    assert n.sum() > 20, n.sum()  # the test has orders to bill
    np.testing.assert_allclose(bill, PRICE * n * sc.weight, rtol=1e-12)
    assert (bill[n == 0] == 0).all() and (n == 0).any()  # a week with no attributed order bills nothing
    assert (bill[10:14] == 0).all()  # off the flight: no exposures, no bill
    # the channel delivered its volume while on: impressions, not budget / price
    units = rec.units[:, :, c].sum(axis=1)
    assert (units[10:14] == 0).all()
    # 400 agent-exposures a week at a mean of about 0.5 each (well under the cap of 3): the 10-week mean's
    # SE is about 2,000 / sqrt(4,000) = 32 impressions; 3 SE = 5%
    assert units[:10].mean() == pytest.approx(2_000, rel=0.05)
    # records: the campaign's planned is its budget, bought is the bill, the rest is per_action
    table = campaign_table({"t": [rec]}, sc)
    row = table.iloc[0]
    assert row.planned == pytest.approx(10_000_000 * 22)
    assert row.bought == pytest.approx(bill.sum())
    assert row.unbought_per_action == pytest.approx(row.planned - row.bought)
    assert not underspend(table)  # a ceiling on a bill per action is not an underspend


def test_the_bill_never_exceeds_the_budget() -> None:
    budget = 105_000.0  # about the median week's attributed orders (~30 agents x 5 people x 700)
    sc = scenario({"cpa": PRICE, "impressions": 20_000}, [{"channel": "agg", "weekly": budget}])
    log, rec = run(sc)
    c = list(sc.channels).index("agg")
    n = attributed(log, c, ["customer", "repeat"], 1)
    bill = rec.spend[:, :, c].sum(axis=1)
    np.testing.assert_allclose(bill, np.minimum(PRICE * n * sc.weight, budget), rtol=1e-12)
    assert (bill <= budget * (1 + 1e-12)).all()
    assert (bill == budget).sum() >= 3 and (bill < budget).sum() >= 3  # the cap binds in some weeks only
    assert rec.campaign_bought[:, 0] == pytest.approx(bill)


def test_the_window_counts_orders_of_agents_exposed_in_earlier_weeks() -> None:
    sc = scenario({"cpa": PRICE, "impressions": 5_000, "window": 3}, [{"channel": "agg", "weekly": 1e9}])
    log, rec = run(sc)
    c = list(sc.channels).index("agg")
    n3 = attributed(log, c, ["customer", "repeat"], 3)
    n1 = attributed(log, c, ["customer", "repeat"], 1)
    assert n3.sum() > n1.sum() + 10  # the window matters in this test
    np.testing.assert_allclose(rec.spend[:, :, c].sum(axis=1), PRICE * n3 * sc.weight, rtol=1e-12)


def test_cpl_bills_leads_of_exposed_agents_and_threads_do_not_change_it() -> None:
    sc = scenario({"cpl": 50.0, "impressions": 30_000}, [{"channel": "agg", "weekly": 1e9}], stages=["aware"])
    log, rec = run(sc)
    c = list(sc.channels).index("agg")
    n = attributed(log, c, ["interest"], 1)
    assert n.sum() > 20
    np.testing.assert_allclose(rec.spend[:, :, c].sum(axis=1), 50.0 * n * sc.weight, rtol=1e-12)
    _, rec2 = run(sc, threads=2)
    assert np.array_equal(rec.spend, rec2.spend) and np.array_equal(rec.orders, rec2.orders)


def test_no_per_action_channel_allocates_nothing() -> None:
    sc = parse_scenario(copy.deepcopy(BASE))
    w = World(sc, make_streams(1, 0, len(sc.segments)), None, 1000, 4)
    assert w.last_exp is None and not w.pa


@pytest.mark.parametrize(
    ("cost", "says"),
    [
        ({"cpa": 700, "cpm": 100}, "give exactly one of cpm, cpc, per_message, cpa, cpl (got cpm, cpa)"),
        ({"cpa": -5, "impressions": 100}, "channels.agg.cost.cpa"),
        ({"cpa": 700, "impressions": 100, "window": 0}, "attribution window in whole weeks, 1..52"),
        ({"cpa": 700}, "give `impressions`"),
        ({"cpm": 100, "window": 2}, "window: only for a channel priced per action"),
    ],
)
def test_validation_messages(cost: dict[str, Any], says: str) -> None:
    with pytest.raises(ScenarioError) as err:
        scenario(cost, [{"channel": "agg", "weekly": 1000}])
    text = str(err.value)
    assert says in text and "channels.agg.cost" in text
    assert "did you mean" not in text


def test_a_per_action_channel_takes_no_carryover_or_premium() -> None:
    d = copy.deepcopy(BASE)
    d["channels"]["agg"] = {"cost": {"cpa": 700, "impressions": 100}, "carryover": {"rate": 0.5}}
    with pytest.raises(ScenarioError, match=r"channels\.agg.*carryover: a channel priced per action"):
        parse_scenario(d)
    d["channels"]["agg"] = {"cost": {"cpa": 700, "impressions": 100}, "targeting": {"premium": 0.3}}
    with pytest.raises(ScenarioError, match=r"channels\.agg.*targeting\.premium: a channel priced per action"):
        parse_scenario(d)


def test_a_trigger_cannot_use_a_per_action_channel() -> None:
    with pytest.raises(ScenarioError, match="priced per action"):
        scenario({"cpa": 700, "impressions": 100}, [{"channel": "agg", "trigger": {"event": "desire", "after": 1}}])


def _deep_merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _deep_merge(into[k], v)
        else:
            into[k] = v


def test_the_docs_fragment_validates_in_minimal_and_bills_per_order() -> None:
    """docs/scenario.md, Pay per action: its example is valid in scenarios/minimal.toml, as it says."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "scenario.md").read_text(encoding="utf-8")
    section = text.split("\n## Pay per action\n", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```")[1::2]
    assert len(blocks) == 1
    d = copy.deepcopy(BASE)
    _deep_merge(d, tomllib.loads(blocks[0]))
    sc = parse_scenario(d)
    cost = sc.channels["marketplace"].cost
    assert (cost.model_kind, cost.cpa, cost.attribution_window, cost.unit) == ("cpa", 1500, 2, "impressions")
    rec = run_plan(sc, "marketplace", make_streams(2, 0, len(sc.segments)), 5_000, 8, threads=1)
    c = list(sc.channels).index("marketplace")
    bill = rec.spend[:, :, c].sum(axis=1)
    assert (bill > 0).any() and (bill <= 100_000 * (1 + 1e-12)).all()
    # the bill is a whole number of orders at 1,500 RUB (each agent stands for population / agents people)
    orders = bill / (1_500 * sc.scenario.population / 5_000)
    np.testing.assert_allclose(orders[bill < 100_000], np.round(orders[bill < 100_000]), atol=1e-9)


def test_two_campaigns_share_the_volume_and_the_bill_by_budget() -> None:
    camps = [{"channel": "agg", "weekly": 1e8}, {"channel": "agg", "weekly": 3e8}]
    sc = scenario({"cpa": PRICE, "impressions": 2_000}, camps)
    log, rec = run(sc)
    c = list(sc.channels).index("agg")
    n = attributed(log, c, ["customer", "repeat"], 1)
    np.testing.assert_allclose(rec.campaign_bought.sum(axis=1), PRICE * n * sc.weight, rtol=1e-12)
    np.testing.assert_allclose(rec.campaign_bought[:, 1], 3 * rec.campaign_bought[:, 0], rtol=1e-12)
    # the channel's volume is the same 2,000 a week whatever the campaigns' budgets (3 SE as above: 5%)
    assert rec.units[:, :, c].sum(axis=1).mean() == pytest.approx(2_000, rel=0.05)
