"""The live what-if's library (issue 17): edits validated, the edited plan as a scenario file writes it, and
every edit's numbers exactly those of ``cjmsim run`` / ``simulate`` of the saved plan at the same agents,
seed and replications (the warm worlds, no marketing and the reference are simulated once)."""

from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path
from typing import Any

import helpers
import pandas as pd
import pytest

from cjmsim import parse_scenario, simulate
from cjmsim.analyses.whatif import (
    EDITED,
    Edit,
    Superseded,
    WhatIf,
    budget_limit,
    check_edit,
    check_plan_id,
    edited_campaigns,
    edited_scenario,
    plan_text,
    weekly_budget,
)
from cjmsim.scenario import ArgumentError
from cjmsim.scenario.files import read_toml

HIFI = Path(__file__).resolve().parents[1] / "scenarios" / "hifi.toml"
HOSTILE = "<img src=x onerror=alert(1)>"


def _funnel() -> dict[str, Any]:
    """The funnel scenario with a second plan of three campaigns: weekly, total and a trigger."""
    d = helpers.funnel_scenario()
    d["scenario"].update(agents=2_000, weeks=10)
    d["plans"]["alt"] = {
        "name": "Alternative",
        "campaigns": [
            {"name": "Ads", "channel": "ads", "weekly": 20_000.0},
            {"name": "Search total", "channel": "search", "total": 50_000.0, "weeks": [0, 5]},
            {"name": "Trigger", "channel": "retarget", "trigger": {"event": "desire", "after": 1}},
        ],
    }
    return d


@pytest.fixture
def funnel_sc():
    return parse_scenario(_funnel())


def test_an_edit_is_validated_and_keeps_only_the_budgets_it_changes(funnel_sc) -> None:
    assert weekly_budget(funnel_sc.plans["alt"].campaigns[1], 10) == 10_000.0  # a total over 5 weeks
    edit = check_edit(funnel_sc, "alt", {1: 20_000, 2: 12_500.5})
    assert edit == Edit("alt", ((2, 12_500.5),)) and edit.changed
    assert not check_edit(funnel_sc, "alt", {1: 20_000.0, 2: 10_000.0}).changed
    limit = budget_limit(funnel_sc)
    assert check_edit(funnel_sc, "alt", {1: limit}).budgets == ((1, limit),)


@pytest.mark.parametrize(
    ("plan", "budgets", "said"),
    [
        ("nope", {}, "plan 'nope': no such plan"),
        ("alt", {0: 1.0}, "budgets: plan 'alt' has no campaign 0; it has campaigns 1 to 3"),
        ("alt", {4: 1.0}, "has no campaign 4"),
        ("alt", {3: 1.0}, "campaign 3 of plan 'alt' is a lifecycle trigger"),
        ("alt", {1: -1.0}, "campaign 1 of plan 'alt': -1.0 is out of range; a weekly budget is a number from 0 to"),
        ("alt", {1: math.inf}, "inf is out of range"),
        ("alt", {1: math.nan}, "nan is out of range"),
        ("alt", {1: 1e30}, "out of range"),
    ],
)
def test_a_bad_edit_is_one_message(funnel_sc, plan: str, budgets: dict[int, float], said: str) -> None:
    with pytest.raises(ArgumentError) as e:
        check_edit(funnel_sc, plan, budgets)
    assert said in str(e.value)


def test_the_edited_plan_is_the_plans_campaigns_with_the_new_weekly_budgets(funnel_sc) -> None:
    edit = check_edit(funnel_sc, "alt", {2: 7_000.0})
    camps = edited_campaigns(funnel_sc, edit)
    assert camps[0] == funnel_sc.plans["alt"].campaigns[0].model_dump(exclude_defaults=True)
    assert camps[1]["weekly"] == 7_000.0 and "total" not in camps[1] and camps[1]["weeks"] == (0, 5)
    assert camps[2]["trigger"] == {"event": "desire", "after": 1}
    sc = edited_scenario(funnel_sc, edit)
    assert [c.weekly for c in sc.plans[EDITED].campaigns] == [20_000.0, 7_000.0, None]
    assert sc.plans[EDITED].name == "Alternative (edited)"
    # the same customers: the scenario differs in its plans only
    assert sc.model_dump(exclude={"plans"}) == funnel_sc.model_dump(exclude={"plans"})


@pytest.mark.parametrize("title", ["My plan", HOSTILE, 'quote " and \\ backslash\nnew line', "ünï\u200bcode"])
def test_the_saved_block_parses_and_validates_appended_to_the_scenario(funnel_sc, title: str) -> None:
    edit = check_edit(funnel_sc, "alt", {1: 1_234.5, 2: 0.0})
    text = plan_text(funnel_sc, edit, "alt_edit", title, reproduce="cjmsim run x.toml\n--plan alt_edit")
    block = tomllib.loads(text)["plans"]["alt_edit"]
    assert block["name"] == title
    data = _funnel()
    data["plans"]["alt_edit"] = block
    sc = parse_scenario(data, internal_plans=False)
    assert [weekly_budget(c, 10) for c in sc.plans["alt_edit"].campaigns] == [1_234.5, 0.0, None]
    assert sc.plans["alt_edit"].campaigns[2].trigger == funnel_sc.plans["alt"].campaigns[2].trigger


@pytest.mark.parametrize(
    ("name", "said"),
    [("alt", "already has a plan 'alt'"), ("ALT", "already has a plan 'alt'"), ("__x", "starts with '_'"),
     ("a b", "cannot be a plan id"), ("", "cannot be a plan id"), (HOSTILE, "cannot be a plan id")],
)  # fmt: skip
def test_a_saved_plan_needs_a_new_valid_id(funnel_sc, name: str, said: str) -> None:
    with pytest.raises(ArgumentError) as e:
        check_plan_id(funnel_sc, name)
    assert said in str(e.value) and str(e.value).startswith("name ")


def _saved(data: dict[str, Any], text: str) -> dict[str, Any]:
    d = copy.deepcopy(data)
    d["plans"].update(tomllib.loads(text)["plans"])
    return d


def test_every_edit_equals_a_run_of_the_saved_plan_exactly() -> None:
    """The acceptance rule: the numbers shown for an edit are those of ``cjmsim run`` of the saved plan at the
    same agents, seed and replications (hifi: warm-up, seasonality, messages, triggers). Exactly, at both sizes."""
    data = read_toml(HIFI)
    sc = parse_scenario(copy.deepcopy(data), internal_plans=False)
    w = WhatIf(sc, agents=3_000, reps=2, preview_agents=1_000, seed=11)
    w.prepare(["baseline", "cjm"])
    edit = check_edit(sc, "cjm", {6: 500_000.0, 26: 60_000.0, 1: 0.0})
    text = plan_text(sc, edit, "cjm_edit", "Edited")
    saved = parse_scenario(_saved(data, text), internal_plans=False)
    for size in w.sizes:
        got = w.outcome(size, edit, "baseline")
        run = simulate(
            saved, ["baseline", "cjm_edit"], agents=size.agents, reps=size.reps, seed=11, reference="baseline"
        )
        a = got.summary[got.summary.plan == EDITED].drop(columns="plan").reset_index(drop=True)
        b = run.summary[run.summary.plan == "cjm_edit"].drop(columns="plan").reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        ref = got.summary[got.summary.plan == "baseline"].reset_index(drop=True)
        pd.testing.assert_frame_equal(ref, run.summary[run.summary.plan == "baseline"].reset_index(drop=True))
        d = got.differences.set_index(["segment", "metric"])
        e = run.differences.set_index(["segment", "metric"]).loc[d.index]
        assert (d.plan == EDITED).all()
        pd.testing.assert_frame_equal(d.drop(columns="plan"), e.drop(columns="plan"), check_exact=True)
    # the report's Result: every table of simulate's, under the saved id
    full = w.result(edit, "baseline", "cjm_edit", "Edited")
    run = simulate(saved, ["baseline", "cjm_edit"], agents=3_000, reps=2, seed=11, reference="baseline")
    for table in ("summary", "per_rep", "differences", "weekly", "journey", "campaigns", "ttp"):
        pd.testing.assert_frame_equal(getattr(full, table), getattr(run, table), check_exact=True, obj=table)
    # an edit that changes nothing is the plan itself
    same = w.outcome(w.full, check_edit(sc, "cjm", {}), "baseline")
    plain = simulate(sc, ["baseline", "cjm"], agents=3_000, reps=2, seed=11, reference="baseline")
    assert float(same.totals().loc[EDITED, "orders"]) == float(plain.totals().loc["cjm", "orders"])


def test_an_obsolete_edit_stops_and_keeps_nothing(funnel_sc) -> None:
    w = WhatIf(funnel_sc, agents=1_000, reps=3, seed=1)
    w.prepare(["base"])
    edit = check_edit(funnel_sc, "alt", {1: 5_000.0})
    asked = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) > 1  # the second replication finds a newer edit

    with pytest.raises(Superseded):
        w.records(w.full, edit, cancelled)
    assert not w.cached(w.full, edit)
    assert len(w.records(w.full, edit)) == 3 and w.cached(w.full, edit)


def test_the_edits_kept_are_bounded(funnel_sc) -> None:
    w = WhatIf(funnel_sc, agents=500, reps=1, seed=1, keep=2)
    edits = [check_edit(funnel_sc, "alt", {1: float(v)}) for v in (1, 2, 3)]
    for e in edits:
        w.records(w.full, e)
    assert [w.cached(w.full, e) for e in edits] == [False, True, True]
    assert w.preview is None and [s.name for s in w.sizes] == ["full"]  # no preview without preview_agents
