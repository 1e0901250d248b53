"""Incremental metrics and paired differences (issue 12, items 1 and 2).

Every run also simulates no marketing on the same customers and random numbers; the incremental
metrics subtract it replication by replication, and differences.csv pairs every plan with the
reference plan. The expected values here are computed from the per-replication tables by an
independent path (numpy on summary_by_rep), never copied from the output they check.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import helpers
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

import cjmsim
from cjmsim.analyses.metrics import DIFFERENCE_COLUMNS, paired_ratio
from cjmsim.analyses.simulate import NO_MARKETING
from cjmsim.cli import main
from cjmsim.scenario import INCREMENTAL_METRICS, TOTAL_METRICS, ArgumentError


def _three_plans() -> dict[str, Any]:
    """The funnel scenario with a half-budget copy and an empty plan added by hand."""
    d = helpers.funnel_scenario()
    helpers.scaled_plan(d, "base", 0.5, "half")
    d["plans"]["empty"] = {"campaigns": []}
    d["scenario"].update(agents=3_000, weeks=10)
    return d


@pytest.fixture(scope="module")
def result() -> cjmsim.Result:
    return cjmsim.simulate(cjmsim.parse_scenario(_three_plans()), reps=3)


def test_incremental_equals_an_empty_plan_added_by_hand(result: cjmsim.Result) -> None:
    rep = result.per_rep.set_index(["plan", "segment", "rep"])
    for plan in ("base", "half"):
        for seg in ("a", "b", "all"):
            for r in range(3):
                got, empty = rep.loc[(plan, seg, r)], rep.loc[("empty", seg, r)]
                for inc, total in (("inc_orders", "orders"), ("inc_customers", "customers"),
                                   ("inc_revenue", "revenue"), ("inc_margin", "margin")):  # fmt: skip
                    assert got[inc] == got[total] - empty[total]  # the same customers: exact
    # the empty plan against no marketing: nothing at all, and its costs n/a
    empty = result.per_rep[result.per_rep.plan == "empty"]
    assert (empty[["inc_orders", "inc_revenue", "inc_margin"]] == 0).all().all()
    assert empty[["icpo", "iroas", "iromi"]].isna().all().all()
    # the counterfactual's own table is the empty plan's totals
    none = result.no_marketing.set_index("segment")
    summ = result.summary[result.summary.plan == "empty"].set_index("segment")
    assert set(result.no_marketing.plan) == {NO_MARKETING}
    assert np.array_equal(none.loc[summ.index, "orders"].to_numpy(), summ["orders"].to_numpy())


def test_incremental_costs_and_returns_per_replication(result: cjmsim.Result) -> None:
    r = result.per_rep[(result.per_rep.plan == "base") & (result.per_rep.segment == "all")]
    assert (r.inc_orders > 0).all(), "the funnel's channels all raise the odds"
    assert np.allclose(r.icpo, r.spend / r.inc_orders, rtol=1e-12)
    assert np.allclose(r.iroas, r.inc_revenue / r.spend, rtol=1e-12)
    assert np.allclose(r.iromi, (r.inc_margin - r.spend) / r.spend, rtol=1e-12)
    # totals count orders that come anyway, so the incremental cost per order is higher
    assert (r.icpo > r.cpo).all() and (r.iromi < r.romi).all()


def test_summary_has_the_incremental_columns_with_cis(result: cjmsim.Result) -> None:
    s = result.summary
    for m in INCREMENTAL_METRICS:
        assert {m, f"{m}_ci_low", f"{m}_ci_high"} <= set(s.columns)
    row = s[(s.plan == "base") & (s.segment == "all")].iloc[0]
    v = result.per_rep[(result.per_rep.plan == "base") & (result.per_rep.segment == "all")].inc_orders.to_numpy()
    half = stats.t.ppf(0.975, 2) * v.std(ddof=1) / math.sqrt(3)
    assert row.inc_orders == pytest.approx(v.mean(), rel=1e-12)
    assert row.inc_orders_ci_high - row.inc_orders == pytest.approx(half, rel=1e-9)


def test_differences_are_paired_against_the_reference(result: cjmsim.Result) -> None:
    d = result.differences
    assert list(d.columns) == list(DIFFERENCE_COLUMNS)
    assert result.reference == "base" and set(d.plan) == {"half", "empty"} and set(d.reference) == {"base"}
    rep = result.per_rep
    for metric in ("orders", "spend", "inc_margin", "cpo"):
        row = d[(d.plan == "half") & (d.segment == "all") & (d.metric == metric)].iloc[0]
        a = rep[(rep.plan == "half") & (rep.segment == "all")].sort_values("rep")[metric].to_numpy()
        b = rep[(rep.plan == "base") & (rep.segment == "all")].sort_values("rep")[metric].to_numpy()
        diffs = a - b
        half = stats.t.ppf(0.975, 2) * diffs.std(ddof=1) / math.sqrt(3)
        assert row["diff"] == pytest.approx(diffs.mean(), rel=1e-12, abs=1e-9)
        assert row.diff_ci_high - row.diff_ci_low == pytest.approx(2 * half, rel=1e-9, abs=1e-9)
        assert row.ratio == pytest.approx(a.mean() / b.mean(), rel=1e-12)
        assert row.ratio_ci_low <= row.ratio <= row.ratio_ci_high
    # the paired CI is far narrower than the unpaired one: the plans share their noise
    orders = d[(d.plan == "half") & (d.segment == "all") & (d.metric == "orders")].iloc[0]
    tot = result.summary[result.summary.segment == "all"].set_index("plan")
    unpaired = (tot.loc["half", "orders_ci_high"] - tot.loc["half", "orders_ci_low"]) / 2
    assert (orders.diff_ci_high - orders.diff_ci_low) / 2 < unpaired


def test_a_plan_identical_to_the_reference_differs_by_exactly_nothing() -> None:
    d = _three_plans()
    d["plans"]["copy"] = {"campaigns": d["plans"]["base"]["campaigns"]}
    res = cjmsim.simulate(cjmsim.parse_scenario(d), ["base", "copy"], reps=2)
    rows = res.differences[res.differences.metric.isin(["orders", "revenue", "inc_margin"])]
    assert len(rows) == 3 * 3  # segments a, b, all
    assert (rows["diff"] == 0).all() and (rows.diff_ci_low == 0).all() and (rows.diff_ci_high == 0).all()
    assert (rows.ratio == 1).all()


def test_reference_and_no_baseline() -> None:
    sc = cjmsim.parse_scenario(_three_plans())
    res = cjmsim.simulate(sc, reps=1, reference="empty", baseline=False)
    assert not res.incremental and res.no_marketing is None and res.without is None
    assert not set(INCREMENTAL_METRICS) & set(res.summary.columns)
    assert set(TOTAL_METRICS) <= set(res.summary.columns)
    assert set(res.differences.reference) == {"empty"} and set(res.differences.plan) == {"base", "half"}
    assert res.differences.diff_ci_low.isna().all()  # one replication: no CI
    with pytest.raises(ArgumentError, match="did you mean 'half'"):
        cjmsim.simulate(sc, reps=1, reference="hlaf")


def test_no_marketing_run_changes_no_plan_result() -> None:
    sc = cjmsim.parse_scenario(_three_plans())
    with_base = cjmsim.simulate(sc, reps=2)
    without = cjmsim.simulate(sc, reps=2, baseline=False)
    cols = list(without.summary.columns)
    pd.testing.assert_frame_equal(with_base.summary[cols], without.summary)


def test_paired_ratio_delta_method() -> None:
    b = np.array([10.0, 12.0, 9.0, 11.0])
    assert paired_ratio(2 * b, b) == (2.0, 2.0, 2.0)  # an exact multiple: no spread
    a = np.array([21.0, 23.0, 19.5, 22.5])
    r, lo, hi = paired_ratio(a, b)
    R = a.mean() / b.mean()
    half = stats.t.ppf(0.975, 3) * np.std(a - R * b, ddof=1) / 2 / b.mean()
    assert (r, lo, hi) == pytest.approx((R, R - half, R + half), rel=1e-12)
    assert math.isnan(paired_ratio(a, -b)[0])  # no ratio to a non-positive mean
    assert math.isnan(paired_ratio(a[:1], b[:1])[1])  # one pair: no interval


def test_cli_writes_differences_and_no_marketing(tmp_path: Path, write_toml: Any) -> None:
    path = write_toml(_three_plans())
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", str(path), "--reps", "2", "--no-report", "--quiet", "--out", str(out)])
    assert res.exit_code == 0, res.output
    d = pd.read_csv(out / "differences.csv")
    assert list(d.columns) == list(DIFFERENCE_COLUMNS) and set(d.reference) == {"base"}
    assert set(pd.read_csv(out / "no_marketing.csv").plan) == {NO_MARKETING}
    s = pd.read_csv(out / "summary.csv")
    assert {"icpo_ci_low", "iromi_ci_high"} <= set(s.columns)

    bad = CliRunner().invoke(main, ["run", str(path), "--reference", "nope", "--quiet", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--reference" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "x").exists()

    out2 = tmp_path / "plain"
    res = CliRunner().invoke(main, ["run", str(path), "--no-baseline", "--no-report", "--quiet", "--out", str(out2)])
    assert res.exit_code == 0, res.output
    assert "inc_orders" not in pd.read_csv(out2 / "summary.csv").columns
    assert not (out2 / "no_marketing.csv").exists()
