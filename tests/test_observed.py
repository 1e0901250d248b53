"""observed.csv, the calibration's data contract: the export agrees with the run it comes from, and the
reader takes back exactly what it writes and refuses anything else with one message naming the file,
the line and the column."""

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
from cjmsim.analyses.calibration import Observed, read_observed
from cjmsim.analyses.choices import OBSERVED_COUNTS
from cjmsim.analyses.exports import observed_table
from cjmsim.engine import Records
from cjmsim.output import write_csv
from cjmsim.scenario import ScenarioError

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


# ---- read_observed: what the export writes comes back


def test_read_observed_takes_back_what_the_export_writes(tmp_path, run):
    sc, rec, t = run
    path = write_csv(tmp_path / "observed.csv", t)
    obs = read_observed(path, sc)
    assert isinstance(obs, Observed) and obs.path == path
    assert obs.columns == list(t.columns)
    np.testing.assert_array_equal(obs.weeks, np.arange(sc.scenario.weeks))
    assert list(obs.spend) == list(sc.channels) == list(obs.units)
    for c in sc.channels:
        np.testing.assert_array_equal(obs.spend[c], t[f"spend_{c}"].to_numpy(np.float64))
        np.testing.assert_array_equal(obs.units[c], t[f"units_{c}"].to_numpy(np.float64))
    counts = [c for c in t.columns if c.split(":")[0] in OBSERVED_COUNTS]
    assert list(obs.series) == counts and "orders" in counts and "orders:a" in counts
    for name in counts:
        assert obs.series[name].dtype == np.float64
        np.testing.assert_array_equal(obs.series[name], t[name].to_numpy(np.float64))


@pytest.fixture(scope="module")
def minimal_sc():
    """scenarios/minimal.toml: channels search and email, segments casual and enthusiast, 26 weeks from 2026-01-05."""
    return cjmsim.load_scenario(MINIMAL)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "company.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_observed_by_date_in_any_row_order_with_some_series(tmp_path, minimal_sc):
    # a company's own file: no week column, rows out of order, a BOM, a few series only
    text = "\ufeffdate,spend_search,orders,revenue:enthusiast\n2026-01-19,100,7,900.5\n\n2026-01-05,50,3,0\n"
    obs = read_observed(write(tmp_path, text), minimal_sc)
    np.testing.assert_array_equal(obs.weeks, [0, 2])
    np.testing.assert_array_equal(obs.spend["search"], [50.0, 100.0])
    assert obs.spend["email"] is None and obs.units["search"] is None
    assert list(obs.series) == ["orders", "revenue:enthusiast"]
    np.testing.assert_array_equal(obs.series["orders"], [3.0, 7.0])
    np.testing.assert_array_equal(obs.series["revenue:enthusiast"], [0.0, 900.5])
    assert obs.columns == ["date", "spend_search", "orders", "revenue:enthusiast"]


# ---- read_observed: each wrong file is one message naming the file, the line and the column

BAD = {
    # name: (file text, fragments of the message)
    "empty": ("", ["empty"]),
    "header only": ("week,orders\n", ["no rows"]),
    "short row": ("week,orders\n0,1\n1\n", ["line 3 has 1 field,", "header (line 1) 2 fields"]),
    "long row": ("week,orders\n0,1,234.5\n", ["line 2 has 3 fields", "write 1234.5, not 1,234.5"]),
    "no week or date": ("orders,leads\n1,2\n", ["no 'week' and no 'date' column"]),
    "week not a number": ("week,orders\n0,1\nx,2\n", ["line 3, column 'week'", "'x' is not a week"]),
    "week 1.5": ("week,orders\n1.5,1\n", ["line 2, column 'week'", "'1.5' is not a week"]),
    "week outside": ("week,orders\n0,1\n26,1\n", ["line 3, column 'week'", "week 26", "weeks 0 .. 25"]),
    "week negative": ("week,orders\n-1,1\n", ["line 2, column 'week'", "week -1", "weeks 0 .. 25"]),
    "week twice": ("week,orders\n3,1\n4,1\n3,1\n", ["line 4, column 'week'", "week 3 again (line 2"]),
    "date not a date": ("date,orders\n05.01.2026,1\n", ["line 2, column 'date'", "'05.01.2026'", "YYYY-MM-DD"]),
    "date mid-week": (
        "date,orders\n2026-01-05,1\n2026-01-14,1\n",
        ["line 3, column 'date'", "2026-01-14 is not the first day", "2026-01-12, 2026-01-19"],
    ),
    "date before": ("date,orders\n2025-12-29,1\n", ["line 2, column 'date'", "week -1", "2026-01-05 .. 2026-06-29"]),
    "date after": ("date,orders\n2026-07-06,1\n", ["line 2, column 'date'", "week 26", "weeks 0 .. 25"]),
    "date twice": ("date,orders\n2026-01-05,1\n2026-01-05,1\n", ["line 3, column 'date'", "week 0 again"]),
    "date not its week's": (
        "week,date,orders\n0,2026-01-05,1\n1,2026-01-19,1\n",
        ["line 3, column 'date'", "not week 1's first day, 2026-01-12"],
    ),
    "spend channel": (
        "week,spend_serch\n0,1\n",
        ["line 1, column 'spend_serch'", "did you mean 'search'", "search, email"],
    ),
    "units channel": (
        "week,units_mail\n0,1\n",
        ["line 1, column 'units_mail'", "did you mean 'email'", "search, email"],
    ),
    "count": (
        "week,order:casual\n0,1\n",
        ["line 1, column 'order:casual'", "did you mean 'orders'", "leads, new_customers"],
    ),
    "segment": (
        "week,leads:casul\n0,1\n",
        ["line 1, column 'leads:casul'", "did you mean 'casual'", "casual, enthusiast"],
    ),
    "unknown": (
        "week,margin\n0,1\n",
        ["line 1, column 'margin'", "unknown column", "allowed: week, date, spend_<channel>"],
    ),
    "case": ("week,Orders\n0,1\n", ["line 1, column 'Orders'", "did you mean 'orders'", "<count>:<segment>"]),
    "mmm units": ("week,clicks_search\n0,1\n", ["line 1, column 'clicks_search'", "did you mean 'units_search'"]),
    "twice": ("week,orders,orders\n0,1,1\n", ["line 1, column 'orders'", "given twice (columns 2 and 3)"]),
    "no name": ("week,,orders\n0,1,1\n", ["line 1", "column 2 has no name"]),
    "empty cell": ("week,orders\n0,1\n1,\n", ["line 3, column 'orders'", "an empty cell", "finite number >= 0"]),
    "text": ("week,leads\n0,many\n", ["line 2, column 'leads'", "'many' is not a finite number"]),
    "negative": ("week,spend_search\n0,-5\n", ["line 2, column 'spend_search'", "'-5' is negative"]),
    "infinite": ("week,revenue\n0,inf\n", ["line 2, column 'revenue'", "'inf' is not a finite number"]),
    "nan": ("week,orders:casual\n0,NaN\n", ["line 2, column 'orders:casual'", "'NaN' is not a finite number"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_read_observed_refuses_with_one_clear_message(tmp_path, minimal_sc, case):
    text, fragments = BAD[case]
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as e:
        read_observed(path, minimal_sc)
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg
    for fragment in fragments:
        assert fragment in msg, msg


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"PAR1\x00\xff\xfe\x15\x04", "not a CSV file"), (None, "no such file"), ("folder", "a folder")],
)
def test_read_observed_refuses_what_is_not_a_csv_file(tmp_path, minimal_sc, content, fragment):
    path = tmp_path / "observed.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "folder":
        path.mkdir()
    with pytest.raises(ScenarioError, match=fragment) as e:
        read_observed(path, minimal_sc)
    assert str(e.value).startswith(f"{path}: ")


# ---- docs/calibration.md shows the real header and messages

DOC = ROOT / "docs" / "calibration.md"


def _doc_blocks() -> list[list[str]]:
    """The ```text blocks of docs/calibration.md's data-contract section, as lists of lines."""
    text = DOC.read_text(encoding="utf-8").split("<!-- calibration file and tutorial follow -->")[0]
    return [block.split("```")[0].strip().splitlines() for block in text.split("```text\n")[1:]]


def test_calibration_doc_examples_are_the_real_messages(minimal_sc):
    # conftest runs each test in its tmp folder: the messages name company.csv as the doc does
    weeks = "".join(f"{datetime.date(2026, 1, 5) + datetime.timedelta(weeks=k)},1\n" for k in range(4))
    files = {  # each message's column, and a file that gets it
        "'spend_serch'": "week,spend_serch\n0,1\n",
        "'date'": f"date,orders\n{weeks}\n2026-02-18,1\n",  # line 7: the blank line 6 counts
        "'orders'": "week,orders\n0,1\n1,2\n2,\n",
    }
    messages = _doc_blocks()[0]
    assert len(messages) == len(files)
    for message, (column, text) in zip(messages, files.items(), strict=True):
        assert column in message
        Path("company.csv").write_text(text, encoding="utf-8")
        with pytest.raises(ScenarioError) as e:
            read_observed("company.csv", minimal_sc)
        assert str(e.value) == message


def test_calibration_doc_header_is_the_minimal_export(minimal_sc):
    rec = Records.zeros(5.0, 1, len(minimal_sc.segments), len(minimal_sc.channels), 0)
    assert _doc_blocks()[1] == [",".join(observed_table(rec, minimal_sc).columns)]
