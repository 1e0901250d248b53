"""The budget optimizer on small scenarios whose optimum is known in closed form.

Two channels that act only on the purchase of agents who all start in desire (no drop, no repeat),
over 4 weeks: orders rise with each channel's exposures through a concave Hill curve (checked: at
the same budget, splits 50/65/80/95% give 5,114 / 4,974 / 4,642 / 4,061 orders, 4 replications).

- Two identical channels (same price, response, reach) with the base plan's money split 80/20:
  by symmetry and strict concavity, the most orders for the same budget come from a 50/50 split.
- A channel with no effect (odds 1) beside a useful one, at min-cpo with the base plan's orders
  kept: the useless channel's money goes to 0, the useful one stays near its base budget (the
  orders floor binds), and the CPO halves.

Tolerances: the search runs on one replication of a few thousand agents (common random numbers),
so it lands near, not on, the optimum; the tolerances below are a share of the budget (10 points
of the 50/50 split) and are checked against the fresh re-evaluation where a CI exists.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import helpers
import numpy as np
import pytest
from click.testing import CliRunner

from cjmsim import parse_scenario
from cjmsim.analyses.optimize import optimize
from cjmsim.cli import main
from cjmsim.scenario import ArgumentError


def two_channels(useful_b: bool = True, split: tuple[float, float] = (0.8, 0.2)) -> dict[str, Any]:
    """Everyone in desire; channels a and b raise the purchase odds (b not at all unless useful_b)."""
    seg = helpers.segment(
        "Buyers",
        initial={"unaware": 0.0, "desire": 1.0},
        base={"aware": 0.0, "interest": 0.0, "desire": 0.0, "purchase": 0.05},
        drop={"aware": 0.0, "interest": 0.0, "desire": 0.0},
        repeat={"customer": 0.0, "loyal": 0.0},
        loyal=0.0,
        churn={"customer": 0.0, "loyal": 0.0},
        odds={"a": {"purchase": 4.0}, "b": {"purchase": 4.0 if useful_b else 1.0}},
    )
    chan = {
        "cost": {"cpm": 1000.0},  # 1 a contact
        "stages": ["desire"],
        "adstock": {"decay": 0.0},
        "saturation": {"half": 1.0, "slope": 1.0},
        "frequency_cap": 10,
    }
    budget = 20_000.0  # a week: 2 contacts a person (10,000 people, 5,000 agents)
    return {
        "scenario": {"name": "Two channels", "weeks": 4, "population": 10_000, "agents": 5_000, "seed": 3},
        "segments": {"s": seg},
        "channels": {"a": dict(chan), "b": dict(chan)},
        "plans": {
            "base": {
                "campaigns": [
                    {"name": "A", "channel": "a", "weekly": budget * split[0]},
                    {"name": "B", "channel": "b", "weekly": budget * split[1]},
                ]
            }
        },
    }


def _weekly(opt: Any) -> dict[str, float]:
    v = opt.variables
    return v.groupby("campaign").weekly.sum().to_dict()


def test_identical_channels_get_an_even_split_for_the_most_orders() -> None:
    sc = parse_scenario(two_channels())
    opt = optimize(sc, "base", "max-orders", split="none", evaluations=60, workers=1, final_reps=4, curves=False)
    w = _weekly(opt)
    total = w["A"] + w["B"]
    assert total == pytest.approx(20_000.0, rel=0.02)  # the budget binds: every unit adds orders
    assert abs(w["A"] / total - 0.5) <= 0.10  # closed form: 50/50 (tolerance in the docstring)
    # the fresh replications agree: the even split sells more than 80/20, paired CI above 0
    cmp = opt.comparison.set_index("metric")
    assert cmp.loc["orders", "ci_low"] > 0


def test_a_useless_channel_loses_its_money_and_cpo_halves_at_the_same_orders() -> None:
    sc = parse_scenario(two_channels(useful_b=False, split=(0.5, 0.5)))
    opt = optimize(
        sc, "base", "min-cpo", keep_orders=True, split="none", evaluations=60, workers=1, final_reps=4, curves=False
    )
    w = _weekly(opt)
    assert w["B"] <= 0.05 * 10_000.0  # closed form: nothing on the channel without effect
    assert w["A"] == pytest.approx(10_000.0, rel=0.15)  # the orders floor binds at A's base budget
    cmp = opt.comparison.set_index("metric")
    # spend per order halves: paired CI of the CPO ratio around 0.5 (closed form), orders kept
    assert cmp.loc["cpo", "relative_ci_low"] <= -0.5 + 0.1 and cmp.loc["cpo", "relative_ci_high"] >= -0.5 - 0.1
    assert cmp.loc["orders", "relative_ci_high"] >= 0.0 >= cmp.loc["orders", "relative_ci_low"] - 0.05


@pytest.mark.parametrize("objective", ["min-cpo", "max-orders"])
def test_constraints_hold_for_every_feasible_candidate_and_the_winner(objective: str) -> None:
    # max-orders pushes every campaign to its upper bound, where gradient points step past it
    sc = parse_scenario(two_channels())
    opt = optimize(
        sc, "base", objective, min_orders=0.0, budget=4 * 15_000.0, bounds=(0.5, 1.5), split="none",
        evaluations=30, workers=1, final_reps=2, curves=False,
    )  # fmt: skip
    v = opt.variables
    total = float(v.total.sum())
    assert total <= 60_000.0 * 1.001 + 2 * 4  # weekly budgets round to whole units
    base = v.groupby("campaign").base_total.sum()
    got = v.groupby("campaign").total.sum()
    assert ((got >= 0.5 * base - 4) & (got <= 1.5 * base + 4)).all()
    assert opt.trace.feasible.any()
    best = opt.trace[opt.trace.feasible].objective.min()
    if opt.trace.feasible.iloc[0]:  # never worse than a feasible start (here the budget is below the base's)
        assert best <= opt.trace.objective.iloc[0] + 1e-12
    assert (opt.trace[opt.trace.feasible].planned_spend <= 60_000.0 * 1.001 + 8).all()


def test_the_toml_block_is_a_valid_plan_of_the_scenario() -> None:
    data = two_channels()
    sc = parse_scenario(data)
    opt = optimize(sc, "base", "max-orders", split="none", periods=2, evaluations=20, workers=1, final_reps=2)
    block = tomllib.loads(opt.toml())
    assert list(block["plans"]) == ["base_optimized"]
    data["plans"].update(block["plans"])
    again = parse_scenario(data)
    camps = again.plans["base_optimized"].campaigns
    # a candidate keeps each base campaign at a level (whole horizon, as in the base plan) and adds
    # one top-up per cell and period (issue 12: so that the search starts at the base plan exactly)
    topups = [c for c in camps if c.flights]
    kept = [c for c in camps if not c.flights]
    assert topups and {tuple(c.flights[0]) for c in topups} <= {(0, 2), (2, 4)}
    assert {c.name for c in kept} <= {"A", "B"}
    # the block holds exactly the allocation reported
    weeks = [sum(e - s for s, e in c.flights) if c.flights else 4 for c in camps]
    assert sum(c.weekly * w for c, w in zip(camps, weeks, strict=True)) == pytest.approx(opt.variables.total.sum())
    assert not opt.curves.empty and set(opt.curves.campaign) == {"A", "B"}


def test_same_result_with_one_or_two_workers() -> None:
    sc = parse_scenario(two_channels())
    kw: dict[str, Any] = {"split": "none", "evaluations": 12, "final_reps": 2, "curves": False}
    one = optimize(sc, "base", "max-orders", workers=1, **kw)
    two = optimize(sc, "base", "max-orders", workers=2, **kw)
    np.testing.assert_array_equal(one.variables.weekly.to_numpy(), two.variables.weekly.to_numpy())
    np.testing.assert_array_equal(one.trace.objective.to_numpy(), two.trace.objective.to_numpy())


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--plan", "nope"], "--plan 'nope': no such plan"),
        (["--plan", "base", "--objective", "min-roas"], "min-roas"),
        (
            ["--plan", "base", "--keep-orders", "--min-orders", "5"],
            "--keep-orders and --min-orders: give one orders floor, not both",
        ),
        (["--plan", "base", "--bounds", "2,3"], "--bounds (2, 3): need 0 <= low <= 1 <= high"),
        (["--plan", "base", "--bounds", "x"], "LOW,HIGH"),
        (["--plan", "base", "--compare", "nope"], "--compare 'nope': no such plan"),
        (["--plan", "base", "--name", "base"], "--name 'base': the scenario already has a plan of that name"),
    ],
)
def test_bad_options_exit_2_with_one_message(write_toml: Any, args: list[str], needle: str) -> None:
    path = write_toml(two_channels())
    res = CliRunner().invoke(main, ["optimize", str(path), *args, "--out", "o", "--quiet"])
    assert res.exit_code == 2, res.output
    assert needle in res.output
    assert "Traceback" not in res.output
    assert not Path("o").exists()


@pytest.mark.parametrize(
    ("kwargs", "argument", "message"),
    [
        ({"objective": "min-roas"}, "objective", "objective 'min-roas': choose from min-cpo, max-orders, max-margin"),
        ({"plan": "nope"}, "plan", "plan 'nope': no such plan"),
        ({"plan": "empty"}, "plan", "plan 'empty' has no campaigns: nothing to allocate"),
        ({"split": "channel"}, "split", "split 'channel': choose from none, segment, stage, segment,stage"),
        (
            {"keep_orders": True, "min_orders": 5.0},
            "keep_orders",
            "keep_orders and min_orders: give one orders floor, not both",
        ),
        ({"bounds": (2.0, 3.0)}, "bounds", "bounds (2, 3): need 0 <= low <= 1 <= high"),
        ({"compare": ["nope"]}, "compare", "compare 'nope': no such plan"),
        ({"periods": 0}, "periods", "periods 0: must be at least 1"),
        ({"reps": 0}, "reps", "reps 0: must be at least 1"),
        ({"evaluations": 1}, "evaluations", "evaluations 1: must be at least 2"),
        ({"final_reps": 1}, "final_reps", "final_reps 1: must be at least 2"),
        ({"name": "empty"}, "name", "name 'empty': the scenario already has a plan of that name"),
    ],
)
def test_bad_arguments_raise_argument_errors_in_library_terms(
    kwargs: dict[str, Any], argument: str, message: str
) -> None:
    data = two_channels()
    data["plans"]["empty"] = {"campaigns": []}
    sc = parse_scenario(data)
    kw = {"plan": "base", **kwargs}
    with pytest.raises(ArgumentError) as err:
        optimize(sc, kw.pop("plan"), **kw)
    assert err.value.argument == argument
    assert str(err.value).startswith(message)
    assert "--" not in str(err.value)  # no command-line flag in the library's words


def test_cli_writes_the_plan_block_tables_and_report(write_toml: Any) -> None:
    path = write_toml(two_channels())
    res = CliRunner().invoke(
        main,
        ["optimize", str(path), "--plan", "base", "--objective", "max-orders", "--split", "none",
         "--evaluations", "12", "--final-reps", "2", "--workers", "1", "--out", "o"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = Path("o")
    for name in ("plan.toml", "comparison.csv", "summary.csv", "variables.csv", "trace.csv", "curves.csv",
                 "metadata.json", "report.html"):  # fmt: skip
        assert (out / name).is_file(), name
    assert "[plans.base_optimized]" in res.output
    assert tomllib.loads((out / "plan.toml").read_text())["plans"]["base_optimized"]["campaigns"]
