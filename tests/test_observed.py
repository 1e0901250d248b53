"""observed.csv, the calibration's data contract: the export agrees with the run it comes from."""

from __future__ import annotations

import datetime
from pathlib import Path

import helpers
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import cjmsim
from cjmsim import cli
from cjmsim.analyses.choices import OBSERVED_COUNTS
from cjmsim.analyses.exports import observed_table

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "scenarios" / "minimal.toml"
#: observed.csv's count columns and the Records field each comes from (written out here, not imported)
FIELDS = {"leads": "leads", "new_customers": "customers", "orders": "orders", "revenue": "revenue"}


@pytest.fixture(scope="module")
def run():
    """The funnel with a warm-up and a fractional agent weight (100,000 people / 3,000 agents), so counts round."""
    d = helpers.funnel_scenario()
    d["scenario"].update(agents=3000, weeks=10, warmup_weeks=3, warmup_plan="base", start_date="2026-03-02")
    sc = cjmsim.parse_scenario(d)
    rec = cjmsim.simulate(sc, ["base"], baseline=False).records["base"][0]
    return sc, rec, observed_table(rec, sc)


def test_observed_columns_are_the_contract_in_order(run):
    sc, rec, t = run
    assert OBSERVED_COUNTS == tuple(FIELDS)
    expected = ["week", "date"]
    for c in sc.channels:
        expected += [f"spend_{c}", f"units_{c}"]
    expected += list(FIELDS)
    for g in sc.segments:
        expected += [f"{n}:{g}" for n in FIELDS]
    assert list(t.columns) == expected
    ints = ["week"] + [c for c in t.columns if c.split(":")[0] in ("leads", "new_customers", "orders")]
    assert all(t[c].dtype == np.int64 for c in ints)


def test_observed_values_are_the_records(run):
    sc, rec, t = run
    W, G = rec.orders.shape
    w = rec.weight
    assert w != round(w)  # the fixture's point: people counts are not whole before rounding
    assert len(t) == sc.scenario.weeks == W  # the horizon, no warm-up week
    np.testing.assert_array_equal(t.week.to_numpy(), np.arange(W))
    start = datetime.date(2026, 3, 2)
    assert list(t.date) == [(start + datetime.timedelta(days=7 * k)).isoformat() for k in range(W)]
    for c, cid in enumerate(sc.channels):
        np.testing.assert_array_equal(t[f"spend_{cid}"].to_numpy(), np.round(rec.spend[:, :, c].sum(axis=1), 2))
        np.testing.assert_array_equal(t[f"units_{cid}"].to_numpy(), np.round(rec.units[:, :, c].sum(axis=1), 1))
    assert t.filter(like="spend_").to_numpy().sum() > 0
    for name, field in FIELDS.items():
        per = getattr(rec, field) * w  # (W, G) people (revenue: currency)
        digits = 2 if name == "revenue" else 0
        np.testing.assert_array_equal(t[name].to_numpy(), np.round(per.sum(axis=1), digits))
        for g, seg in enumerate(sc.segments):
            np.testing.assert_array_equal(t[f"{name}:{seg}"].to_numpy(), np.round(per[:, g], digits))
        assert t[name].sum() > 0


def test_observed_segments_add_up_to_the_totals_within_rounding(run):
    sc, rec, t = run
    G = len(sc.segments)
    for name in FIELDS:
        parts = sum(t[f"{name}:{g}"] for g in sc.segments)
        step = 0.01 if name == "revenue" else 1
        assert (parts - t[name]).abs().max() <= G / 2 * step + 1e-6


def test_cli_writes_observed_csv_per_plan(tmp_path):
    out = tmp_path / "o"
    args = ["run", str(MINIMAL), "--agents", "2000", "--weeks", "8", "--export", "observed"]
    res = CliRunner().invoke(cli.main, [*args, "--no-report", "--quiet", "--out", str(out)])
    assert res.exit_code == 0, res.output
    sc = cjmsim.load_scenario(MINIMAL).with_settings(agents=2000, weeks=8)
    again = cjmsim.simulate(sc, baseline=False)
    for plan in sc.plans:
        d = out / "exports" / plan
        assert sorted(p.name for p in d.iterdir()) == ["observed.csv"]
        got = pd.read_csv(d / "observed.csv")
        assert len(got) == 8
        # the first replication's records, through the file: the same numbers as the table
        pd.testing.assert_frame_equal(got, observed_table(again.records[plan][0], sc), check_dtype=False)
