"""Golden digests: `cjmsim run scenarios/hifi.toml` writes byte-identical tables across refactors.

The digests were recorded on main before the layering refactor (issue 10) started, from
`cjmsim run scenarios/hifi.toml` with its defaults (200,000 agents, seed 2026, every plan). A change
that moves code must not move a single byte of these files; a change that means to alter results
must re-record them and say why in its commit.

Since issue 12 every run adds the incremental columns (``inc_orders`` ... ``iromi`` and their CIs)
after the old ones; the digest of summary.csv is taken over the old columns, re-written by the same
CSV writer, so it still pins every number the 0.1 tables had.

Since issue 13 the scenario run is a frozen copy of hifi.toml as it was then (tests/data/golden_hifi.toml),
so scenarios/hifi.toml can gain the calendar (seasonality, triggered e-mail) while these digests keep
pinning the engine. weekly.csv's calendar columns (``season``, ``trend``, all 1 without seasonality) are
dropped before its digest, read as text and re-written by the same CSV writer, so every other byte is pinned.

Since issue 14 summary.csv has a ``satisfaction`` column (the share of orders that satisfied; empty
without a ``satisfaction`` table, as in this scenario): it is dropped before the digest too.
Since issue 14 (interventions) summary.csv has ``media_spend`` and ``intervention_spend`` (and their CIs) after
``spend``, and weekly.csv has ``intervention_spend``: without interventions they are ``spend`` and 0, and they
are dropped before hashing.

Recorded again when the engine took its transcendental functions from cjmsim.engine.libm (the same bits on
every CPU, where numpy's float64 exp and log depend on it): the digests before were those of a CPU with
AVX-512 and did not hold on one without. These were recorded with numpy's CPU-specific loops on and off
(``NPY_DISABLE_CPU_FEATURES``), which gave the same two digests.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from cjmsim.cli import main
from cjmsim.output import write_csv
from cjmsim.scenario import INCREMENTAL_METRICS

HIFI = Path(__file__).resolve().parent / "data" / "golden_hifi.toml"
#: weekly.csv's columns of the calendar (issue 13), dropped before hashing: the need multiplier in force
CALENDAR_COLUMNS = ("season", "trend")
#: the columns of the interventions (issue 14), dropped before hashing: media spend, interventions' cost
SPEND_COLUMNS = ("media_spend", "intervention_spend")

GOLDEN = {
    "summary.csv": "0d32906f94311d0c33ecb0310452d186dee7625f1bcfb63cd75ba71f632c9c85",
    "weekly.csv": "28f17c33cc7576bd0008e7615f98912ce880c3510a7b67851dd91e748d33a5eb",
}


@pytest.mark.slow
def test_hifi_run_tables_are_byte_identical(tmp_path: Path) -> None:
    out = tmp_path / "hifi"
    res = CliRunner().invoke(main, ["run", str(HIFI), "--out", str(out), "--no-report", "--quiet"])
    assert res.exit_code == 0, res.output
    summary = pd.read_csv(out / "summary.csv")
    new = [c for c in summary.columns if c.split("_ci_")[0] in INCREMENTAL_METRICS]
    assert new, "the run has no incremental columns"
    assert summary.satisfaction.isna().all()  # issue 14: no segment has a satisfaction table
    new.append("satisfaction")
    assert (summary.media_spend == summary.spend).all() and (summary.intervention_spend == 0).all()
    new += [c for c in summary.columns if c.split("_ci_")[0] in SPEND_COLUMNS]
    write_csv(tmp_path / "summary.csv", summary.drop(columns=new))
    weekly = pd.read_csv(out / "weekly.csv", keep_default_na=False, dtype=str)
    assert list(weekly.columns[-2:]) == list(CALENDAR_COLUMNS)
    assert (weekly.season == "1.0").all() and (weekly.trend == "1.0").all()  # the frozen copy has no seasonality
    assert (weekly.intervention_spend == "0.0").all()
    write_csv(tmp_path / "weekly.csv", weekly.drop(columns=[*CALENDAR_COLUMNS, "intervention_spend"]))
    digests = {
        "summary.csv": hashlib.sha256((tmp_path / "summary.csv").read_bytes()).hexdigest(),
        "weekly.csv": hashlib.sha256((tmp_path / "weekly.csv").read_bytes()).hexdigest(),
    }
    assert digests == GOLDEN
