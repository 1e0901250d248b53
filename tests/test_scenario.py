"""Scenario validation: good input parses, every class of bad input is one ScenarioError naming the key path."""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path

import helpers
import pytest

from cjmsim import Scenario, ScenarioError, load_scenario, parse_scenario
from cjmsim.scenario import ArgumentError

#: A lift test any scenario can run (its channel filled in by the test).
LIFT = {"name": "holdout", "weeks": [2, 6], "metric": "orders", "holdout": 0.1}


def test_minimal_dict_parses(minimal):
    sc = parse_scenario(minimal, source="test")
    assert isinstance(sc, Scenario)
    assert list(sc.segments) == ["a"]
    assert list(sc.plans) == ["none"]
    assert sc.plans["none"].campaigns == []
    assert sc.scenario.weeks == minimal["scenario"]["weeks"]
    # defaults filled in: everyone starts unaware, no channels
    assert sc.segments["a"].initial.unaware == 1.0
    assert sc.channels == {}
    assert sc.weight == pytest.approx(minimal["scenario"]["population"] / minimal["scenario"]["agents"])


def test_funnel_dict_parses(funnel):
    sc = parse_scenario(funnel)
    assert list(sc.channels) == ["ads", "search", "retarget"]
    assert [c.channel for c in sc.plans["base"].campaigns] == ["ads", "search", "retarget"]
    assert sc.channels["ads"].cost.unit_price == pytest.approx(200.0 / 1000)


def test_toml_writer_round_trips(funnel):
    """The helper that writes test scenarios as TOML must give back the same dict."""
    assert tomllib.loads(helpers.to_toml(funnel)) == funnel


@pytest.mark.parametrize("case", helpers.BAD_IDS)
def test_bad_input_names_key_path(case):
    data, expected = helpers.bad_scenario(case)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, source="my-scenario.toml")
    msg = str(info.value)
    assert msg.startswith("my-scenario.toml: ")
    for part in expected:
        assert part in msg, f"{part!r} not in {msg!r}"
    assert "Traceback" not in msg


def test_unknown_key_lists_allowed_keys(funnel):
    funnel["segments"]["a"]["bse"] = {"aware": 0.1}
    with pytest.raises(ScenarioError, match=r"segments\.a\.bse: unknown key 'bse' \(did you mean 'base'\?\)") as info:
        parse_scenario(funnel)
    assert "allowed here:" in str(info.value)
    assert "order_value" in str(info.value)


def test_several_errors_reported_together(funnel):
    funnel["scenario"]["agents"] = 0
    funnel["segments"]["a"]["base"]["purchase"] = 1.5
    with pytest.raises(ScenarioError) as info:
        parse_scenario(funnel)
    msg = str(info.value)
    assert "scenario.agents" in msg and "segments.a.base.purchase" in msg


def test_missing_required_key(funnel):
    del funnel["segments"]["b"]["order_value"]
    with pytest.raises(ScenarioError, match=r"segments\.b\.order_value: required key is missing"):
        parse_scenario(funnel)


@pytest.mark.parametrize("value", [-0.1, 1.0001])
def test_rate_bounds_are_inclusive_0_1(funnel, value):
    funnel["segments"]["b"]["drop"]["desire"] = value
    with pytest.raises(ScenarioError, match=r"segments\.b\.drop\.desire"):
        parse_scenario(funnel)
    for ok in (0.0, 1.0):
        funnel["segments"]["b"]["drop"]["desire"] = ok
        assert parse_scenario(funnel).segments["b"].drop.desire == ok


def test_unknown_stage_in_campaign(funnel):
    funnel["plans"]["base"]["campaigns"][1]["stages"] = ["unaware"]  # search cannot reach unaware
    with pytest.raises(ScenarioError, match=r"plans\.base\.campaigns\[1\]\.stages: channel 'search' cannot reach"):
        parse_scenario(funnel)


def test_window_inside_horizon_is_fine(funnel):
    weeks = funnel["scenario"]["weeks"]
    funnel["plans"]["base"]["campaigns"][0]["weeks"] = [2, weeks]
    assert parse_scenario(funnel).plans["base"].campaigns[0].weeks == (2, weeks)


def test_empty_window(funnel):
    funnel["plans"]["base"]["campaigns"][0]["weeks"] = [5, 5]
    with pytest.raises(ScenarioError, match=r"plans\.base\.campaigns\[0\].*empty"):
        parse_scenario(funnel)


def test_unknown_warmup_plan(funnel):
    funnel["scenario"]["warmup_weeks"] = 4
    funnel["scenario"]["warmup_plan"] = "bse"
    with pytest.raises(ScenarioError, match=r"scenario\.warmup_plan: unknown plan 'bse' \(did you mean 'base'\?\)"):
        parse_scenario(funnel)


def test_only_plans_unknown_plan(funnel):
    sc = parse_scenario(funnel)
    # the library names its own argument; the command line names its flag (test_cli)
    with pytest.raises(ScenarioError, match=r"^plans 'bsae': no such plan \(did you mean 'base'\?\)") as err:
        sc.only_plans(["bsae"])
    assert isinstance(err.value, ArgumentError) and err.value.argument == "plans"


def test_with_settings_revalidates(funnel):
    sc = parse_scenario(funnel)
    assert sc.with_settings(agents=123).scenario.agents == 123
    with pytest.raises(ScenarioError, match=r"scenario\.agents"):
        sc.with_settings(agents=0)


@pytest.mark.parametrize("name", ["hifi", "clinic", "mmm"])
def test_with_settings_of_agents_and_seed_equals_a_full_validation(name):
    """Changing only agents and seed validates [scenario] alone (no other validator reads them): the copy
    must equal the scenario validated whole with the same change."""
    sc = load_scenario(Path(__file__).parents[1] / "scenarios" / f"{name}.toml")
    fast = sc.with_settings(agents=sc.scenario.agents + 7, seed=sc.scenario.seed + 1)
    data = sc.model_dump()
    data["scenario"].update(agents=sc.scenario.agents + 7, seed=sc.scenario.seed + 1)
    whole = parse_scenario(data)
    assert fast == whole and fast.model_dump() == whole.model_dump()
    assert fast.scenario.agents == sc.scenario.agents + 7 and sc.scenario.agents != fast.scenario.agents
    # nothing changed (or only to the same values): the scenario itself, which is frozen
    assert sc.with_settings(agents=sc.scenario.agents, weeks=None) is sc
    assert sc.only_plans(list(sc.plans)) is sc
    assert list(sc.only_plans(list(sc.plans)[::-1]).plans) == list(sc.plans)[::-1]


@pytest.mark.parametrize("name", ["hifi", "clinic", "mmm"])
def test_only_plans_equals_a_full_validation(name):
    """only_plans copies without validating again: each subset must equal the same subset validated whole,
    with targets on plans left out dropped and a lift test's plans cut to those kept."""
    sc = load_scenario(Path(__file__).parents[1] / "scenarios" / f"{name}.toml")
    data = sc.model_dump()
    first = list(sc.plans)[0]
    data["lift_tests"] = [*data["lift_tests"], {**LIFT, "channel": next(iter(sc.channels)), "plans": list(sc.plans)}]
    sc = parse_scenario(data)
    for keep in ([first], list(sc.plans)[:0:-1]):
        fast = sc.only_plans(keep)
        whole = sc.model_dump()
        wp = sc.scenario.warmup_plan
        whole["plans"] = {n: whole["plans"][n] for n in [*keep, *([wp] if wp and wp not in keep else [])]}
        whole["targets"] = [
            t for t in whole["targets"] if t["plan"] in whole["plans"] and t["versus"] in whole["plans"]
        ]
        for t in whole["lift_tests"]:
            if t["plans"] is not None:
                t["plans"] = [p for p in t["plans"] if p in whole["plans"]]
        assert fast.model_dump() == parse_scenario(whole).model_dump()
        assert list(fast.plans)[: len(keep)] == keep
        assert fast.lift_tests[-1].plans == [p for p in sc.plans if p in fast.plans]


def test_shorter_horizon_cuts_windows_at_the_same_weekly_rate(funnel):
    camps = funnel["plans"]["base"]["campaigns"]
    base = dict(camps[0])
    camps[:] = [
        {**base, "weeks": [2, 8]},
        {**base, "weeks": [5, 8]},  # starts after the new horizon: dropped
        {**{k: v for k, v in base.items() if k != "weekly"}, "total": 600.0, "flights": [[0, 2], [3, 7]]},
    ]
    funnel["scenario"]["weeks"] = 8
    cut = parse_scenario(funnel).with_settings(weeks=4).plans["base"].campaigns
    assert len(cut) == 2
    assert cut[0].weeks == (2, 4)
    assert cut[1].flights == [(0, 2), (3, 4)]
    assert cut[1].total is None and cut[1].weekly == pytest.approx(600.0 / 6)  # 6 active weeks in the file


# ---- files


def test_load_scenario_reads_file(funnel, write_toml):
    path = write_toml(funnel)
    sc = load_scenario(path)
    assert sc == parse_scenario(funnel)


def test_load_scenario_schema_error_names_file(write_toml):
    data, expected = helpers.bad_scenario("rate-above-1")
    path = write_toml(data, "broken.toml")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(path) in str(info.value)
    assert expected[0] in str(info.value)


def test_toml_syntax_error_names_file_and_line(tmp_path: Path):
    path = tmp_path / "syntax.toml"
    path.write_text('[scenario]\nname = "x"\nweeks = = 3\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert "syntax.toml" in msg
    assert "line 3" in msg


def test_missing_file(tmp_path: Path):
    path = tmp_path / "nosuch.toml"
    with pytest.raises(ScenarioError, match="no such file") as info:
        load_scenario(path)
    assert "nosuch.toml" in str(info.value)


def test_folder_instead_of_file(tmp_path: Path):
    with pytest.raises(ScenarioError, match="folder"):
        load_scenario(tmp_path)


def test_not_utf8(tmp_path: Path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[scenario]\nname = "caf\xe9"\n')
    with pytest.raises(ScenarioError, match="UTF-8"):
        load_scenario(path)


INFINITE = [
    ("scenario.population", lambda d: d["scenario"].__setitem__("population", math.inf)),
    ("plans.base.campaigns[0].weekly", lambda d: d["plans"]["base"]["campaigns"][0].__setitem__("weekly", math.inf)),
    ("segments.a.order_value.mean", lambda d: d["segments"]["a"]["order_value"].__setitem__("mean", math.inf)),
    ("channels.ads.cost.cpm", lambda d: d["channels"]["ads"]["cost"].__setitem__("cpm", math.inf)),
]


@pytest.mark.parametrize("path, change", INFINITE, ids=[p for p, _ in INFINITE])
def test_infinite_numbers_rejected(funnel, path, change):
    change(funnel)
    with pytest.raises(ScenarioError, match=re.escape(path)):
        parse_scenario(funnel)


def test_argument_error_names_arguments_in_the_callers_words():
    import pickle

    e = ArgumentError("keep_orders", lambda name: f" and {name('min_orders')}: give one floor")
    assert str(e) == "keep_orders and min_orders: give one floor"  # the library's words
    assert e.said(lambda a: "--" + a.replace("_", "-")) == "--keep-orders and --min-orders: give one floor"
    back = pickle.loads(pickle.dumps(e))  # errors cross process boundaries with their words
    assert isinstance(back, ArgumentError) and str(back) == str(e) and back.argument == "keep_orders"


def test_an_omitted_unaware_share_is_the_rest(minimal) -> None:
    minimal["segments"]["a"]["initial"] = {"aware": 0.1, "customer": 0.25, "lost": 0.05}
    mix = parse_scenario(minimal).segments["a"].initial
    assert mix.unaware == pytest.approx(0.6) and (mix.aware, mix.customer, mix.lost) == (0.1, 0.25, 0.05)
    minimal["segments"]["a"]["initial"] = {"aware": 0.0}
    assert parse_scenario(minimal).segments["a"].initial.unaware == 1.0
    minimal["segments"]["a"]["initial"] = {"aware": 0.1, "unaware": 0.8}  # given: kept, so the sum rule names it
    with pytest.raises(ScenarioError, match="sum to 0.9"):
        parse_scenario(minimal)


def test_other_shares_over_1_are_named_by_their_sum(minimal) -> None:
    minimal["segments"]["a"]["initial"] = {"aware": 0.7, "lost": 0.5}
    with pytest.raises(ScenarioError, match="sum to 1.2"):
        parse_scenario(minimal)
    minimal["segments"]["a"]["initial"] = {"aware": "much"}
    with pytest.raises(ScenarioError, match="aware") as e:
        parse_scenario(minimal)
    assert "unaware" not in str(e.value)


def test_persona_weeks_out_of_order_names_the_value(funnel):
    """time_before_purchase_weeks = [high, low] says which key, the value given and what is allowed."""
    funnel["segments"]["a"]["time_before_purchase_weeks"] = [16, 8]
    with pytest.raises(ScenarioError) as info:
        parse_scenario(funnel, source="s.toml")
    msg = str(info.value)
    assert "segments.a: time_before_purchase_weeks = [16, 8]" in msg
    assert "0 <= low <= high" in msg and "Traceback" not in msg


def test_a_value_where_a_table_belongs_lists_its_keys(funnel):
    """`cost = 30` or `trigger = "order"`: the message says a table is needed and which keys it takes,
    not pydantic's "valid dictionary or instance of Cost"."""
    funnel["channels"]["ads"]["cost"] = 30
    funnel["plans"]["base"]["campaigns"].append("search")
    with pytest.raises(ScenarioError) as info:
        parse_scenario(funnel, source="s.toml")
    msg = str(info.value)
    assert "channels.ads.cost = 30: this is a table, cost = { ... }, with the keys cpm, cpc, per_message" in msg
    n = len(funnel["plans"]["base"]["campaigns"]) - 1
    assert f"plans.base.campaigns[{n}] = 'search': each entry is a table" in msg and "channel, weekly" in msg
    assert "instance of" not in msg
