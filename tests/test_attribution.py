"""Ground-truth attribution: counterfactual runs on the same customers and random numbers.

Exact identities, not statistics: with common random numbers a counterfactual differs from the
plan only by what it changes, so these equalities hold run by run.
"""

from __future__ import annotations

import copy

import helpers
import numpy as np
import pytest
from click.testing import CliRunner

import cjmsim
from cjmsim import cli, parse_scenario
from cjmsim.analyses.attribution import attribute, shapley_weights
from cjmsim.scenario import ArgumentError


@pytest.fixture(scope="module")
def attr(scenario):
    return attribute(scenario, "base", reps=2)


def test_all_channels_off_equals_the_no_marketing_run(scenario, attr):
    data = scenario.model_dump(mode="json", exclude_none=True)
    data["plans"]["none"] = {"campaigns": []}
    res = cjmsim.simulate(parse_scenario(data), ["none"], reps=2)
    off = attr.runs[(attr.runs.variant == "only_0")].set_index(["segment", "rep"])
    mine = res.per_rep.set_index(["segment", "rep"])
    for col in ("orders", "customers", "revenue", "margin", "spend"):
        np.testing.assert_array_equal(
            off[col].sort_index().to_numpy(), mine.loc[off.index, col].sort_index().to_numpy()
        )
    assert (off["spend"] == 0).all()


def test_full_variant_equals_the_plan_itself(scenario, attr):
    full = (1 << len(attr.channels)) - 1
    res = cjmsim.simulate(scenario, ["base"], reps=2)
    runs = attr.runs[attr.runs.variant == f"only_{full}"].set_index(["segment", "rep"])
    mine = res.per_rep.set_index(["segment", "rep"])
    np.testing.assert_array_equal(
        runs["orders"].sort_index().to_numpy(), mine.loc[runs.index, "orders"].sort_index().to_numpy()
    )


def test_shapley_values_share_out_the_plans_total_effect(attr):
    for seg, t in attr.table.groupby("segment"):
        total = t[t.channel == "total"].incremental_orders.iloc[0]
        assert t[t.channel != "total"].shapley_orders.sum() == pytest.approx(total, abs=1e-6), seg
        assert t[t.channel != "total"].shapley_revenue.sum() == pytest.approx(
            t[t.channel == "total"].incremental_revenue.iloc[0], rel=1e-9, abs=1e-6
        )


def test_segments_add_up_to_all(attr):
    t = attr.table
    for ch in attr.channels:
        rows = t[t.channel == ch]
        assert rows[rows.segment != "all"].incremental_orders.sum() == pytest.approx(
            rows[rows.segment == "all"].incremental_orders.iloc[0]
        )


def test_a_channel_without_effect_adds_exactly_nothing():
    d = helpers.funnel_scenario()
    d["scenario"].update(agents=3000, weeks=10)
    for seg in d["segments"].values():
        seg.get("odds", {}).pop("ads", None)  # the ads channel moves nobody
    sc = parse_scenario(d)
    if "ads" not in [c.channel for c in sc.plans["base"].campaigns]:
        pytest.skip("the fixture plan has no ads campaign")
    a = attribute(sc, "base", reps=2)
    row = a.table[(a.table.channel == "ads") & (a.table.segment == "all")].iloc[0]
    assert row.incremental_orders == 0
    assert row.shapley_orders == 0
    assert row.spend > 0
    assert row.incremental_cpo != row.incremental_cpo  # NaN: no order is bought by it


def test_shapley_weights_sum_to_one_over_coalitions():
    for n in range(1, 8):
        w = shapley_weights(n)
        # each channel: sum over coalitions without it of the weight = 1
        from math import comb

        assert sum(comb(n - 1, s) * w[s] for s in range(n)) == pytest.approx(1.0)


def test_sampled_shapley_is_close_to_exact(scenario):
    exact = attribute(scenario, "base", reps=1, shapley="exact")
    sampled = attribute(scenario, "base", reps=1, shapley="sampled", samples=200)
    e = exact.table[exact.table.segment == "all"].set_index("channel")
    s = sampled.table[sampled.table.segment == "all"].set_index("channel")
    assert sampled.shapley.startswith("sampled")
    for ch in exact.channels:
        se = s.loc[ch, "shapley_orders_sampling_se"]
        # 3 standard errors of the permutation sample (plus one order for integer noise)
        assert abs(s.loc[ch, "shapley_orders"] - e.loc[ch, "shapley_orders"]) <= 3 * se + 1


def test_cli_attribute_writes_the_table(tmp_path, scenario):
    path = tmp_path / "s.toml"
    d = copy.deepcopy(scenario.model_dump(mode="json", exclude_none=True))
    path.write_text(helpers.to_toml(d) + "\n")
    res = CliRunner().invoke(
        cli.main, ["attribute", str(path), "--plan", "base", "--reps", "2", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.output
    import pandas as pd

    t = pd.read_csv(tmp_path / "o" / "attribution.csv")
    for col in ("channel", "segment", "spend", "incremental_orders", "incremental_orders_ci_low", "shapley_orders",
                "marginal_roas", "incremental_cpo"):  # fmt: skip
        assert col in t.columns
    assert "total" in set(t.channel)
    bad = CliRunner().invoke(cli.main, ["attribute", str(path), "--plan", "nosuch"])
    assert bad.exit_code == 2 and "--plan 'nosuch': no such plan" in bad.output and "Traceback" not in bad.output


@pytest.mark.parametrize(
    ("kwargs", "argument", "message"),
    [
        ({"plan": "nosuch"}, "plan", "plan 'nosuch': no such plan"),
        ({"plan": "empty"}, "plan", "plan 'empty' has no campaigns: there is nothing to attribute"),
        ({"shapley": "approximate"}, "shapley", "shapley 'approximate': choose from auto, exact, sampled, none"),
        ({"reps": 0}, "reps", "reps 0: need at least 1 replication"),
        ({"shapley": "sampled", "samples": 1}, "samples", "samples 1: sampled Shapley values need at least 2"),
    ],
)
def test_bad_arguments_raise_argument_errors_in_library_terms(scenario, kwargs, argument, message):
    data = scenario.model_dump(mode="json", exclude_none=True)
    data["plans"]["empty"] = {"campaigns": []}
    kw = {"plan": "base", **kwargs}
    with pytest.raises(ArgumentError) as err:
        attribute(parse_scenario(data), kw.pop("plan"), **kw)
    assert err.value.argument == argument
    assert str(err.value).startswith(message)
    assert "--" not in str(err.value)
