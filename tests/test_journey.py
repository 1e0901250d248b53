"""The journey map (issue 12): spend by segment x stage, entries, conversion and cost per entry,
the per-segment tables of the run report, and the small multiples with each persona's stated time
before purchase.

Every expected value here comes from another table or record (the summary, the engine's spend,
the scenario), never from the output under test; equalities are exact where both sides are the
same sums, and within 1e-9 relative where the spend is split and summed back.
"""

from __future__ import annotations

import math
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle

import cjmsim
from cjmsim import charts
from cjmsim.analyses.metrics import ENTRIES, JOURNEY_COLUMNS, journey_rows, ttp_against_stated
from cjmsim.analyses.simulate import Result, write_run
from cjmsim.presentation import format as fmt
from cjmsim.presentation.reports.run import JOURNEY_CHARTS, ROWS, ReportImage, render_report
from cjmsim.scenario import STAGES

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "scenarios" / "minimal.toml"


@pytest.fixture(scope="module")
def hifi() -> Result:
    """Three plans, two replications: SEO with carryover, many campaigns per channel."""
    return cjmsim.simulate(cjmsim.load_scenario(ROOT / "scenarios" / "hifi.toml"), agents=6000, weeks=26, reps=2)


def _minimal(**edit: Any) -> dict[str, Any]:
    data = tomllib.loads(MINIMAL.read_text(encoding="utf-8"))
    for k, v in edit.items():
        data[k] = v
    return data


# ---- spend by segment x stage


def test_spend_by_stage_sums_to_each_plans_spend(hifi: Result) -> None:
    for reps in hifi.records.values():
        for rec in reps:  # the record: every campaign's money split over stages, summed back
            np.testing.assert_allclose(rec.spend_stage.sum(axis=3), rec.spend, rtol=1e-9, atol=1e-6)
    j = hifi.journey
    for (plan, seg), grp in j.groupby(["plan", "segment"]):
        want = hifi.summary[(hifi.summary.plan == plan) & (hifi.summary.segment == seg)].spend.iloc[0]
        assert grp.spend.sum() == pytest.approx(want, rel=1e-9), (plan, seg)
        assert len(grp) == len(STAGES)
    assert j.spend.sum() > 0
    per_segment = j[j.segment != "all"].groupby("plan").spend.sum()
    assert per_segment.to_dict() == pytest.approx(hifi.totals().spend.to_dict(), rel=1e-9)


def test_spend_lands_only_on_stages_a_channel_reaches(hifi: Result) -> None:
    chans = list(hifi.scenario.channels)
    for reps in hifi.records.values():
        for c, ch in enumerate(hifi.scenario.channels.values()):
            off = [s for s, st in enumerate(STAGES) if st not in ch.stages]
            assert (reps[0].spend_stage[:, :, c, off] == 0).all(), chans[c]


def test_free_carryover_units_carry_no_spend() -> None:
    """Two campaigns on one channel that keeps delivering (carryover): one for aware people for
    four weeks, one for people at desire all along. After week 4 the units reaching aware people are
    the first campaign's free carryover, so no money lands there, although units do: spend is split
    by each campaign's own units, not by the channel's mix."""
    data = _minimal()
    data["channels"]["search"]["carryover"] = {"rate": 0.8}
    data["plans"]["search_and_email"]["campaigns"] = [
        {"channel": "search", "weekly": 100_000, "weeks": [0, 4], "stages": ["aware"]},
        {"channel": "search", "weekly": 50_000, "stages": ["desire"]},
    ]
    r = cjmsim.simulate(cjmsim.parse_scenario(data), plans=["search_and_email"], agents=4000, weeks=12)
    rec = r.records["search_and_email"][0]
    c, aware, desire = list(r.scenario.channels).index("search"), STAGES.index("aware"), STAGES.index("desire")
    assert rec.units_stage[4:, :, c, aware].sum() > 0  # carried units still reach aware people
    assert rec.spend_stage[4:, :, c, aware].sum() == 0
    assert rec.spend_stage[:4, :, c, aware].sum() > 0 and rec.spend_stage[4:, :, c, desire].sum() > 0


# ---- entries, conversion, cost per entry


def test_entries_equal_the_summary(hifi: Result) -> None:
    j = hifi.journey.set_index(["plan", "segment", "stage"])
    s = hifi.summary.set_index(["plan", "segment"])
    for (plan, seg), row in s.iterrows():
        for stage, col in ENTRIES.items():
            assert j.loc[(plan, seg, stage), "entries"] == row[col], (plan, seg, stage)
        assert math.isnan(j.loc[(plan, seg, "unaware"), "entries"]) and math.isnan(
            j.loc[(plan, seg, "lost"), "entries"]
        )
    assert [c for c in hifi.journey.columns if "_ci_" not in c] == list(JOURNEY_COLUMNS)
    assert {"entries_ci_low", "cost_per_entry_ci_high"} <= set(hifi.journey.columns)  # two replications


def test_conversion_and_cost_per_entry_definitions(hifi: Result) -> None:
    """One replication at a time: conversion = next stage's entries / this stage's; cost per entry =
    spend on people in the stage before / entries, from the records themselves."""
    rec = hifi.records["cjm"][0]
    w = rec.weight
    g = list(hifi.scenario.segments).index("beginner")
    rows = {r["stage"]: r for r in journey_rows(rec, g)}

    def spend(stage: str) -> float:
        return float(rec.spend_stage[:, g, :, STAGES.index(stage)].sum())

    n = {st: float(getattr(rec, col)[:, g].sum()) * w for st, col in ENTRIES.items()}
    assert rows["interest"]["conversion"] == pytest.approx(n["desire"] / n["interest"])
    assert rows["customer"]["conversion"] == pytest.approx(n["loyal"] / n["customer"])
    assert rows["aware"]["cost_per_entry"] == pytest.approx((spend("unaware") + spend("lost")) / n["aware"])
    assert rows["customer"]["cost_per_entry"] == pytest.approx(spend("desire") / n["customer"])
    assert rows["loyal"]["cost_per_entry"] == pytest.approx(spend("customer") / n["loyal"])
    assert math.isnan(float(rows["loyal"]["conversion"]))  # type: ignore[arg-type]
    people = rec.stage[:, g, STAGES.index("desire")].mean() * w
    assert rows["desire"]["people"] == pytest.approx(people)


def test_no_spend_means_no_cost_per_entry() -> None:
    r = cjmsim.simulate(cjmsim.load_scenario(MINIMAL), agents=2000, weeks=8)
    none = r.journey[r.journey.plan == "none"]
    assert (none.spend == 0).all() and none.cost_per_entry.isna().all()
    assert none.entries.notna().sum() == 5 * (len(r.scenario.segments) + 1)


def test_journey_csv_is_written(hifi: Result, tmp_path: Path) -> None:
    out = write_run(hifi, tmp_path / "run")
    back = pd.read_csv(out / "journey.csv")
    assert back.shape == hifi.journey.shape
    np.testing.assert_allclose(back.spend.to_numpy(), hifi.journey.spend.to_numpy(), rtol=1e-12)


# ---- the report: a journey section per plan, per-segment tables equal to summary.csv


class _Tables(HTMLParser):
    """The cells of the report's tables, by table kind (class) and data attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, Any]] = []
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(str(a["id"]))
        if tag == "table":
            self.tables.append({"class": a.get("class") or "", **a, "rows": []})
        elif tag == "tr" and self.tables:
            self.row = []
            self.tables[-1]["rows"].append((a.get("data-metric"), self.row))
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def _png() -> bytes:
    from io import BytesIO

    from matplotlib.figure import Figure

    buf = BytesIO()
    Figure(figsize=(1, 1), dpi=20).savefig(buf, format="png")
    return buf.getvalue()


def test_report_has_a_journey_per_plan_and_segment_tables_equal_to_summary_csv(hifi: Result, tmp_path: Path) -> None:
    out = write_run(hifi, tmp_path / "run")
    summary = pd.read_csv(out / "summary.csv")
    images = [ReportImage(slug, f"Chart {slug}", "What it shows.", _png()) for slug in ("funnel", *JOURNEY_CHARTS)]
    html = render_report(hifi, images)
    page = _Tables()
    page.feed(html)
    assert '<section id="journey">' in html and html.index('id="charts"') < html.index('id="journey"')
    for plan in hifi.plans:
        assert f"journey-{plan}" in page.ids
    journeys = [t for t in page.tables if "journey" in t["class"].split()]
    assert [t["data-plan"] for t in journeys] == hifi.plans
    for slug in JOURNEY_CHARTS:  # the journey's figures are in its section, after the charts
        assert html.index(f'id="fig-{slug}"') > html.index('<section id="journey">')
    kinds = {col: kind for _, rows in ROWS for col, _, kind in rows}
    by_segment = {t["data-segment"]: t for t in page.tables if "by-segment" in t["class"].split()}
    assert list(by_segment) == list(hifi.scenario.segments)
    checked = 0
    for seg, table in by_segment.items():
        for metric, cells in table["rows"]:
            if metric is None:
                continue
            values = cells[1::2]  # with replications: value, then its CI half-width
            for plan, shown in zip(hifi.plans, values, strict=True):
                want = summary[(summary.plan == plan) & (summary.segment == seg)][metric].iloc[0]
                assert shown == fmt.fixed(want, kinds[metric]), (seg, metric, plan)
                checked += 1
    assert checked == len(hifi.scenario.segments) * len(hifi.plans) * len(kinds)


def test_journey_table_in_the_report_adds_up(hifi: Result) -> None:
    """A segment's spend column in the report, read back, adds up to the summary's spend."""
    page = _Tables()
    page.feed(render_report(hifi, []))
    table = next(t for t in page.tables if t.get("data-plan") == "cjm")
    spend_rows = [cells for metric, cells in table["rows"] if len(cells) == 6 and cells[0] != "Stage"][: len(STAGES)]
    total = sum(float(c[4].replace(",", "")) for c in spend_rows)  # "All segments" comes first
    want = hifi.totals().spend["cjm"]
    assert abs(total - want) <= len(STAGES) * 0.5 + 1e-6  # each cell rounded to a whole RUB


# ---- small multiples and the personas' stated time before purchase


def test_small_multiples_have_one_panel_per_plan(hifi: Result) -> None:
    n = len(hifi.plans)
    budget = charts.budget_by_stage(hifi)
    panels = [ax for ax in budget.axes if ax.images and ax.get_label() != "<colorbar>"]
    assert len(panels) == n
    assert len({tuple(ax.images[0].get_clim()) for ax in panels}) == 1  # one colour scale
    heat = charts.exposure_heatmaps(hifi)
    assert len([ax for ax in heat.axes if ax.images]) == n
    assert [ax.get_title(loc="left") for ax in heat.axes if ax.images] == [
        hifi.scenario.plans[p].name for p in hifi.plans
    ]
    ttp = charts.time_to_purchase_by_plan(hifi)
    assert len(ttp.axes) == n * len(hifi.scenario.segments)
    names = [c.slug for c in charts.all_charts(hifi)]
    assert set(JOURNEY_CHARTS) <= set(names)


def _bands(ax: Any) -> list[tuple[float, float]]:
    """The x extent of each persona band (gid ``persona-band``) drawn on an axes."""
    out = []
    for art in [*ax.patches, *ax.collections]:
        if art.get_gid() != "persona-band":
            continue
        if isinstance(art, Rectangle):  # axvspan: x in data, y in axes coordinates
            out.append((float(art.get_x()), float(art.get_x() + art.get_width())))
        else:  # older matplotlib: a polygon
            x = art.get_xy()[:, 0]
            out.append((float(x.min()), float(x.max())))
    return out


def test_persona_band_for_every_segment_that_states_it() -> None:
    data = _minimal()
    del data["segments"]["enthusiast"]["time_before_purchase_weeks"]  # this one states none
    data["segments"]["casual"]["time_before_purchase_weeks"] = [0, 0.5]  # a median of 0 weeks is possible...
    r = cjmsim.simulate(cjmsim.parse_scenario(data), agents=3000, weeks=26)
    fig = charts.time_to_purchase_by_plan(r)
    segs, plans = list(r.scenario.segments), r.plans
    for i, seg in enumerate(segs):
        stated = r.scenario.segments[seg].time_before_purchase_weeks
        for j, _ in enumerate(plans):
            bands = _bands(fig.axes[i * len(plans) + j])
            if stated is None:
                assert bands == [], seg
            else:
                assert bands == [pytest.approx(tuple(stated))], seg
    facts = ttp_against_stated(r.ttp, r.scenario.segments)
    assert facts[facts.segment == "enthusiast"].outside.isna().all()
    # the median against the summary's (one replication: the same histogram)
    s = r.summary.set_index(["plan", "segment"])
    for f in facts.itertuples():
        assert f.median_weeks == s.loc[(f.plan, f.segment), "ttp_median_weeks"]
        if f.segment == "casual":
            assert bool(f.outside) == (not 0 <= f.median_weeks <= 0.5)


def test_the_caption_names_the_segments_outside_their_stated_range() -> None:
    data = _minimal()
    data["segments"]["casual"]["time_before_purchase_weeks"] = [500, 600]  # no median can be there
    data["segments"]["enthusiast"]["time_before_purchase_weeks"] = [0, 1000]  # every median is there
    r = cjmsim.simulate(cjmsim.parse_scenario(data), agents=3000, weeks=26)
    casual, enthusiast = (r.scenario.segments[s].name for s in ("casual", "enthusiast"))
    fig = charts.time_to_purchase_by_plan(r)
    sub = next(t.get_text() for t in fig.texts if t.get_text() != fig.get_suptitle())
    outside = sub.split("outside:", 1)[1]
    assert casual in outside and enthusiast not in outside
    html = render_report(r, [])
    note = re.search(r"fall inside the persona&#39;s stated time before purchase in (\d+) of (\d+)([^<]*)", html)
    assert note is not None
    stated = ttp_against_stated(r.ttp, r.scenario.segments)
    assert int(note.group(2)) == int(stated.outside.notna().sum())
    assert int(note.group(1)) == int((stated.outside == False).sum())  # noqa: E712 (nullable boolean)
    assert casual in note.group(3) and enthusiast not in note.group(3)
