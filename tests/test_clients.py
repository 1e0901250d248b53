"""The exports read by the real client libraries strategists use (installed by the test extra)."""

from __future__ import annotations

from pathlib import Path

import helpers
import pandas as pd
import pytest
from click.testing import CliRunner

import cjmsim
from cjmsim import parse_scenario
from cjmsim.analyses.exports import journeys_table, markov_paths
from cjmsim.cli import main

CLV_SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "clv.toml"


def test_channelattribution_markov_reads_journeys_and_conserves_conversions():
    ca = pytest.importorskip("ChannelAttribution")
    d = helpers.funnel_scenario()
    d["scenario"].update(agents=6000, weeks=20)
    sc = parse_scenario(d)
    rec = cjmsim.simulate(sc, ["base"], export=True).records["base"][0]
    table = journeys_table(rec, list(sc.channels))
    assert set(table.journey) == {"first", "repeat"}
    j = markov_paths(table)  # every journey, first and repeat, summed per path
    assert j.total_conversions.sum() > table[table.journey == "first"].total_conversions.sum() > 0
    res = ca.markov_model(
        j, "path", "total_conversions", var_value="total_conversion_value", var_null="total_null",
        order=1, sep=">", verbose=0, flg_pro=False,
    )  # fmt: skip
    assert res.total_conversions.sum() == pytest.approx(j.total_conversions.sum(), rel=1e-6)
    assert res.total_conversion_value.sum() == pytest.approx(j.total_conversion_value.sum(), rel=1e-6)
    assert set(res.channel_name) <= {*sc.channels, "direct"}


# --------------------------------------------------------------------------------------------
# CLV: lifetimes' Pareto/NBD fitted on transactions.csv predicts the holdout's repeat purchases

CALIBRATION_WEEKS, HOLDOUT_WEEKS = 52, 26  # the scenario's 78 weeks: fit on the first year, score the next half
CLV_TOLERANCE = 0.15  # the acceptance item: the 26-week holdout prediction within 15% of the simulation's
CLV_SEED = 2026  # any fixed seed; docs/ground-truth.md gives the ratio over several seeds


def _calibration_rfm(tx: pd.DataFrame, start: pd.Timestamp, cal: int) -> pd.DataFrame:
    """Per customer whose first order is in weeks 0..cal-1: frequency, recency and T in weeks.

    Built by hand, as docs/ground-truth.md shows (lifetimes.utils.calibration_and_holdout_data fails
    under pandas 3): a customer's repeat purchases are its distinct order weeks after the first, recency runs from the
    first order week to the last, T from the first order week to the end of the calibration.
    """
    week = (tx["date"] - start).dt.days // 7
    cal_weeks = week[week < cal].groupby(tx["customer_id"][week < cal])
    first, last = cal_weeks.min(), cal_weeks.max()
    return pd.DataFrame({"frequency": cal_weeks.nunique() - 1, "recency": last - first, "T": cal - first})


@pytest.mark.filterwarnings("ignore:The 'mode.chained_assignment' option is deprecated")  # lifetimes' import, pandas 3
def test_lifetimes_pareto_nbd_predicts_the_holdout_of_transactions_csv(tmp_path):
    import lifetimes  # the test extra installs it: a missing library fails here, it is not skipped

    out = tmp_path / "out"
    args = ["run", str(CLV_SCENARIO), "--plan", "newsletter", "--seed", str(CLV_SEED)]
    res = CliRunner().invoke(main, [*args, "--export", "transactions", "--out", str(out), "--no-report", "--quiet"])
    assert res.exit_code == 0, res.output
    tx = pd.read_csv(out / "exports" / "newsletter" / "transactions.csv", parse_dates=["date"])
    start = pd.Timestamp(cjmsim.load_scenario(CLV_SCENARIO).scenario.start_date)
    weeks = (tx["date"] - start).dt.days // 7
    assert weeks.min() >= 0 and weeks.max() < CALIBRATION_WEEKS + HOLDOUT_WEEKS

    rfm = _calibration_rfm(tx, start, CALIBRATION_WEEKS)
    in_holdout = (weeks >= CALIBRATION_WEEKS) & (weeks < CALIBRATION_WEEKS + HOLDOUT_WEEKS)
    actual = int((in_holdout & tx["customer_id"].isin(rfm.index)).sum())
    # enough holdout orders that their count's Poisson standard error is small: 5,000 -> 1.4%
    # (the scenario's 60,000 agents give about 20,000, 0.7%)
    assert actual >= 5_000, actual
    assert rfm["frequency"].sum() >= 5_000  # and enough repeat purchases to fit on

    # identical (frequency, recency, T) patterns condensed, with their counts as lifetimes' weights:
    # the same likelihood as one row per customer, and a fit in seconds instead of minutes
    patterns = rfm.groupby(["frequency", "recency", "T"]).size().rename("customers").reset_index()
    f, r, T = patterns["frequency"], patterns["recency"], patterns["T"]
    model = lifetimes.ParetoNBDFitter().fit(f, r, T, weights=patterns["customers"])
    per_pattern = model.conditional_expected_number_of_purchases_up_to_time(HOLDOUT_WEEKS, f, r, T)
    predicted = float((per_pattern * patterns["customers"]).sum())
    assert abs(predicted / actual - 1) <= CLV_TOLERANCE, (predicted, actual, dict(model.params_))
