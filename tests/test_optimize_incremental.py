"""The optimizer says what it did (issue 12): it starts at the base plan exactly, refuses an evaluation
budget too small for one search step, searches incremental objectives under a revenue floor, and
claims a gain only where the paired CI on fresh replications excludes zero.

Closed forms: on the two-channel scenario of tests/test_optimize.py (everyone in desire, channel b
with no effect when ``useful_b`` is false), every unit of money on b buys nothing, so an objective
that counts money (max-inc-margin, min-icpo) takes b's budget to 0; and the incremental margin less
spend is, by definition, (margin - margin with no marketing) - spend, recomputed here from the
records of the fresh replications.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import helpers
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_optimize import two_channels

from cjmsim import parse_scenario
from cjmsim.analyses import metrics
from cjmsim.analyses.choices import SPLITS
from cjmsim.analyses.optimize import Optimization, optimize
from cjmsim.analyses.optimize.evaluation import Candidate, evaluate
from cjmsim.analyses.optimize.settings import variable_count
from cjmsim.analyses.simulate import simulate
from cjmsim.cli import main
from cjmsim.engine import make_streams, run_plan
from cjmsim.presentation.optimize_text import headline
from cjmsim.scenario import ArgumentError

COLUMNS = ("orders", "customers", "spend", "planned_spend", "revenue", "margin", "inc_orders", "inc_margin")


def _funnel() -> dict[str, Any]:
    data = helpers.funnel_scenario()
    data["scenario"]["agents"] = 2_000
    return data


@pytest.mark.parametrize(("split", "periods"), [(s, 1) for s in SPLITS] + [("segment,stage", 2)])
def test_the_first_evaluation_is_the_base_plan_to_the_last_digit(split: str, periods: int) -> None:
    sc = parse_scenario(_funnel())
    n = variable_count(sc, "base", split, periods)
    opt = optimize(
        sc, "base", "max-inc-margin", split=split, periods=periods, reps=2, evaluations=n + 2, workers=1,
        final_reps=2, curves=False,
    )  # fmt: skip
    seed = opt.settings["seed"]
    # the base plan as `cjmsim run` computes it, on the search's agents, weeks, seed and replications
    ref = simulate(opt.scenario, ["base"], seed=seed, reps=2)
    pr = ref.per_rep[ref.per_rep.segment == "all"].set_index("rep")
    for col in COLUMNS:
        assert opt.start[col].tolist() == pr[col].tolist(), col  # exactly, replication by replication
    # evaluation 1 of the trace is their mean, summed in replication order
    first = opt.trace.iloc[0]
    assert first.kind == "start"
    for col in ("orders", "spend", "revenue", "margin", "inc_margin"):
        assert first[col] == pr[col].iloc[0] / 2 + pr[col].iloc[1] / 2, col
    # and run_plan itself on the same streams gives the same records
    rec = run_plan(opt.scenario, "base", make_streams(seed, 1, 2), 2_000, opt.scenario.scenario.weeks)
    assert metrics.summary_row(rec, slice(None), opt.scenario.scenario.ltv_weeks)["orders"] == pr.orders.iloc[1]


def test_fixed_budgets_per_cell_would_not_be_the_base_plan() -> None:
    """Why the start keeps the base campaigns as they are: the same money as fixed cell budgets
    (the share each cell got from the base plan) spends and sells differently, so a test of the
    exact start on this scenario can fail."""
    sc = parse_scenario(_funnel())
    kw: dict[str, Any] = {"split": "segment,stage", "evaluations": 30, "workers": 1, "final_reps": 2, "curves": False}
    opt = optimize(sc, "base", "max-orders", **kw)
    cells = [
        {
            "channel": r.channel,
            "weekly": r.base_weekly,
            "segments": r.segments.split(", "),
            "stages": r.stages.split(", "),
        }
        for r in opt.variables.itertuples()
    ]
    data = opt.scenario.model_dump(mode="json", exclude_none=True)
    fixed = evaluate(Candidate(data, opt.settings["seed"], 0, cells, "fixed"))
    assert fixed["spend"] != pytest.approx(opt.start.spend.iloc[0], rel=1e-6)


def test_a_budget_too_small_for_one_search_step_is_refused_with_the_number(write_toml: Any) -> None:
    sc = parse_scenario(_funnel())
    n = variable_count(sc, "base", "segment,stage", 1)
    assert n > 10
    with pytest.raises(ArgumentError) as err:
        optimize(sc, "base", "max-inc-margin", evaluations=n + 1)
    assert err.value.argument == "evaluations"
    res = CliRunner().invoke(
        main, ["optimize", str(write_toml(_funnel())), "--plan", "base", "--evaluations", "10", "--out", "o", "--quiet"]
    )
    assert res.exit_code == 2, res.output
    assert f"--evaluations 10: too few for one search step over {n} variables" in res.output
    assert f"use --evaluations {n + 2} or more, or --split none (3 variables, 5 evaluations)" in res.output
    assert "Traceback" not in res.output and not Path("o").exists()


def test_metadata_says_how_many_evaluations_the_search_used(write_toml: Any) -> None:
    path = write_toml(two_channels())
    args = ["optimize", str(path), "--plan", "base", "--objective", "max-inc-margin", "--split", "none"]
    res = CliRunner().invoke(
        main, [*args, "--evaluations", "12", "--final-reps", "2", "--workers", "1", "--no-report", "--out", "o"]
    )
    assert res.exit_code == 0, res.output
    meta = json.loads(Path("o/metadata.json").read_text())
    assert meta["evaluations_allowed"] == 12 and 1 < meta["evaluations_used"] <= 12
    assert meta["evaluations_used"] == len(pd.read_csv("o/trace.csv"))


def _useless_b(objective: str, **kw: Any) -> Optimization:
    sc = parse_scenario(two_channels(useful_b=False, split=(0.5, 0.5)))
    return optimize(sc, "base", objective, split="none", evaluations=60, workers=1, final_reps=4, curves=False, **kw)


@pytest.mark.parametrize("objective", ["max-inc-margin", "min-icpo"])
def test_a_useless_channel_loses_its_money_under_incremental_objectives(objective: str) -> None:
    opt = _useless_b(objective)
    w = opt.variables.groupby("campaign").weekly.sum()
    assert w["B"] <= 0.05 * 10_000.0  # closed form: money on b buys nothing
    assert opt.found
    start, best = opt.trace.iloc[0], opt.trace[opt.trace.feasible].objective.min()
    assert best < start.objective  # better than the base plan on the search replications


def test_the_incremental_value_reported_is_margin_less_the_counterfactual_less_spend() -> None:
    opt = _useless_b("max-inc-margin")
    final = opt.final
    assert final.without is not None
    ltv = final.scenario.scenario.ltv_weeks
    for plan in (opt.base_plan, opt.plan_name):
        mine = []
        for rec, none in zip(final.records[plan], final.without, strict=True):
            row, without = metrics.summary_row(rec, slice(None), ltv), metrics.summary_row(none, slice(None), ltv)
            mine.append(row["margin"] - without["margin"] - row["spend"])  # recomputed from the records
        got = opt.comparison[(opt.comparison.metric == "inc_net_margin") & (opt.comparison.versus == opt.base_plan)]
        value = got.optimized.iloc[0] if plan == opt.plan_name else got.other.iloc[0]
        assert value == pytest.approx(float(np.mean(mine)), rel=1e-12)
    # on the search replications too: the trace's value against the no-marketing run of replication 0
    sc = opt.scenario
    none = run_plan(sc, None, make_streams(opt.settings["seed"], 0, 1), sc.scenario.agents, sc.scenario.weeks)
    start = opt.trace.iloc[0]
    counterfactual = metrics.summary_row(none, slice(None), sc.scenario.ltv_weeks)["margin"]
    assert start.inc_net_margin == pytest.approx(start.margin - counterfactual - start.spend, rel=1e-12)


def test_the_revenue_floor_holds_for_the_winner_on_the_search_replications() -> None:
    # min-cpo would cut spend and sell less; the base plan's revenue as a floor stops it
    sc = parse_scenario(two_channels(useful_b=False, split=(0.5, 0.5)))
    free = optimize(sc, "base", "min-cpo", split="none", evaluations=40, workers=1, final_reps=2, curves=False)
    kept = optimize(
        sc, "base", "min-cpo", keep_revenue=True, split="none", evaluations=40, workers=1, final_reps=2, curves=False
    )
    floor = kept.settings["revenue_floor"]
    assert floor == kept.trace.revenue.iloc[0] > 0
    feasible = kept.trace[kept.trace.feasible]
    assert (feasible.revenue >= floor - 1e-9).all()
    winner = feasible.loc[feasible.objective.idxmin()]
    assert winner.revenue >= floor
    # without the floor the winner sells less than the base plan: the floor binds
    free_feasible = free.trace[free.trace.feasible]
    assert free_feasible.loc[free_feasible.objective.idxmin()].revenue < floor
    with pytest.raises(ArgumentError, match="give one revenue floor, not both"):
        optimize(sc, "base", keep_revenue=True, min_revenue=1.0)


def _with(opt: Optimization, **rows: tuple[float, float, float]) -> Optimization:
    """The optimization with the inc_net_margin difference against every plan set to (mean, low, high)."""
    c = opt.comparison.copy()
    for other, (mean, low, high) in rows.items():
        at = (c.versus == other) & (c.metric == "inc_net_margin")
        c.loc[at, ["difference", "ci_low", "ci_high"]] = [mean, low, high]
    return dataclasses.replace(opt, comparison=c, found=True)


def test_the_verdict_claims_a_gain_only_where_the_paired_ci_excludes_zero() -> None:
    opt = _useless_b("max-inc-margin")
    base = opt.base_plan
    spans = headline(_with(opt, **{base: (5_000.0, -1_000.0, 11_000.0)}))
    assert "not distinguishable" in spans and "at 4 replications" in spans
    assert " adds " not in spans and " loses " not in spans
    clear = headline(_with(opt, **{base: (5_000.0, 1_000.0, 9_000.0)}))
    assert "adds +5,000 RUB of incremental margin less spend [+1,000, +9,000]" in clear, clear
    worse = headline(_with(opt, **{base: (-5_000.0, -9_000.0, -1_000.0)}))
    assert "loses" in worse and "not distinguishable" not in worse
    none = headline(dataclasses.replace(opt, found=False))
    assert none.startswith("No better allocation found")
    assert "adds" not in none and "cuts" not in none


def _reps(orders: list[float], spend: list[float]) -> list[dict[str, float]]:
    """Replications' totals with the given orders and spend (incremental margin 3 x spend)."""
    pairs = zip(orders, spend, strict=True)
    return [{"orders": o, "spend": s, "inc_margin": 3 * s, "inc_net_margin": 2 * s} for o, s in pairs]


def test_a_marginal_cost_is_quoted_only_where_its_ci_supports_it() -> None:
    from cjmsim.analyses.optimize.result import marginal_row

    here = _reps([1_000.0, 1_010.0, 990.0], [100.0, 100.0, 100.0])
    # clear: about 100 extra orders for 1,000 more spend, a spread over replications -> 10 a order
    clear = marginal_row(here, _reps([1_100.0, 1_115.0, 1_085.0], [1_100.0, 1_102.0, 1_098.0]))
    assert clear["cost_supported"] and clear["cost_per_extra_order"] == pytest.approx(1_000.0 / 100.0, rel=0.01)
    assert clear["cost_ci_low"] < clear["cost_per_extra_order"] < clear["cost_ci_high"]
    # the extra orders' CI spans zero: no cost per extra order can be quoted
    noisy = marginal_row(here, _reps([1_200.0, 900.0, 1_010.0], [1_100.0, 1_100.0, 1_100.0]))
    assert noisy["extra_orders_ci_low"] < 0 < noisy["extra_orders_ci_high"] and not noisy["cost_supported"]
    # two replications that agree exactly (whole agents): a zero-width CI is no evidence
    same = marginal_row(here[:2], _reps([1_150.0, 1_160.0], [1_100.0, 1_100.0]))
    assert same["extra_orders_ci_low"] == same["extra_orders_ci_high"] and not same["cost_supported"]


def test_the_agents_of_the_search_and_of_the_fresh_check_are_stated_against_the_run() -> None:
    from cjmsim.presentation.optimize_text import agents_note

    sc = parse_scenario(two_channels())  # the scenario's run: 5,000 agents
    kw: dict[str, Any] = {"split": "none", "evaluations": 8, "workers": 1, "final_reps": 2, "curves": False}
    opt = optimize(sc, "base", "max-orders", agents=2_000, final_agents=3_000, **kw)
    note = agents_note(opt)
    said = "Searched at 2,000 agents (the scenario's run uses 5,000); the fresh re-evaluation is at 3,000 agents"
    assert note.startswith(said)
    assert "differ from cjmsim run's by sampling noise" in note
    full = agents_note(optimize(sc, "base", "max-orders", agents=2_000, **kw))
    assert "at 5,000 agents, as in cjmsim run" in full and "sampling noise" not in full
