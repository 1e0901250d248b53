"""Exports for analytics tools agree with the run they come from (exact identities, fixed seed)."""

from __future__ import annotations

import json

import helpers
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import cjmsim
from cjmsim import cli
from cjmsim.attribution import attribute
from cjmsim.exports import journeys_table, mmm_table, transactions_table


@pytest.fixture(scope="module")
def result(scenario):
    return cjmsim.simulate(scenario, ["base"], export=True)


def test_export_logging_changes_no_result(scenario, result):
    plain = cjmsim.simulate(scenario, ["base"])
    pd.testing.assert_frame_equal(plain.summary, result.summary)


def test_journeys_conserve_conversions(scenario, result):
    rec = result.records["base"][0]
    j = journeys_table(rec, list(scenario.channels))
    assert list(j.columns) == ["path", "total_conversions", "total_null", "total_conversion_value"]
    # whole people per path: the rounding moves the total by at most half a person per path
    assert abs(j.total_conversions.sum() - rec.customers.sum() * rec.weight) <= 0.5 * len(j)
    assert j.path.is_unique
    assert all(p == "direct" or all(part in scenario.channels for part in p.split(" > ")) for p in j.path)
    # no path repeats a channel twice in a row (consecutive touches are collapsed)
    assert not any(a == b for p in j.path for a, b in zip(p.split(" > "), p.split(" > ")[1:], strict=False))


def test_transactions_are_the_orders(scenario, result):
    rec = result.records["base"][0]
    t = transactions_table(rec, scenario.scenario.start_date)
    assert list(t.columns) == ["customer_id", "date", "value"]
    assert len(t) == rec.orders.sum()
    assert t.value.sum() == pytest.approx(rec.revenue.sum(), rel=1e-6)
    assert t.date.min() >= str(scenario.scenario.start_date)


def test_mmm_is_the_observed_weekly_series(scenario, result):
    rec = result.records["base"][0]
    m = mmm_table(rec, scenario)
    assert len(m) == scenario.scenario.weeks
    assert m.orders.sum() == pytest.approx(result.totals().loc["base", "orders"])
    spend = m.filter(like="spend_").to_numpy().sum()
    assert spend == pytest.approx(result.totals().loc["base", "spend"], rel=1e-9)


def test_ground_truth_matches_the_attribution(tmp_path, scenario):
    path = tmp_path / "s.toml"
    path.write_text(helpers.to_toml(scenario.model_dump(mode="json", exclude_none=True)) + "\n")
    res = CliRunner().invoke(
        cli.main,
        [
            "run",
            str(path),
            "--plan",
            "base",
            "--export",
            "journeys,transactions,mmm",
            "--out",
            str(tmp_path / "o"),
            "--no-report",
        ],
    )
    assert res.exit_code == 0, res.output
    truth = json.loads((tmp_path / "o" / "exports" / "base" / "ground_truth.json").read_text())
    attr = attribute(scenario, "base", reps=1, shapley="none")
    for ch, series in truth["channels"].items():
        inc = attr.table[(attr.table.channel == ch) & (attr.table.segment == "all")].incremental_orders.iloc[0]
        assert np.sum(series["incremental_orders"]) == pytest.approx(inc, abs=1e-6)


def test_unknown_export_exits_2(tmp_path, scenario):
    path = tmp_path / "s.toml"
    path.write_text(helpers.to_toml(scenario.model_dump(mode="json", exclude_none=True)) + "\n")
    res = CliRunner().invoke(cli.main, ["run", str(path), "--export", "journeys,nope"])
    assert res.exit_code == 2 and "nope" in res.output and "Traceback" not in res.output
