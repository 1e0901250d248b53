"""Attribution charts: each is a Figure with a finding in its title; edge cases draw without error.

One attribution of the minimal tutorial (two channels, two replications) is built once per module;
the edge cases (a single replication, a channel that takes away, a single channel, no Shapley
values) are the same attribution with its table edited.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cjmsim.charts import save
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text

import cjmsim
from cjmsim.analyses.attribution import Attribution, attribute
from cjmsim.presentation.charts import attribution as ac
from cjmsim.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
SLUGS = ["attribution_waterfall", "attribution_spend_share", "attribution_marginal_roas"]
CHARTS = [ac.waterfall, ac.spend_vs_contribution, ac.marginal_roas]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return cjmsim.load_scenario(ROOT / "scenarios" / "minimal.toml")


@pytest.fixture(scope="module")
def attr(scenario: Scenario) -> Attribution:
    return attribute(scenario, "search_and_email", reps=2, agents=3000)


def _subtitle(fig: Figure) -> str:
    """The subtitle as one line (it is wrapped on the figure)."""
    return next(t.get_text() for t in fig.texts if t.get_text() != fig.get_suptitle()).replace("\n", " ")


def _edited(attr: Attribution, table: pd.DataFrame, channels: list[str] | None = None) -> Attribution:
    return dataclasses.replace(attr, table=table, channels=channels or list(attr.channels))


def _all(table: pd.DataFrame, channel: str) -> pd.Series:
    return (table.segment == "all") & (table.channel == channel)


@pytest.mark.parametrize("make", CHARTS, ids=lambda f: f.__name__)
def test_each_chart_is_a_figure_with_a_finding(attr: Attribution, make: object) -> None:
    fig = make(attr)  # type: ignore[operator]
    assert isinstance(fig, Figure)
    assert fig.get_size_inches().tolist() == [10.0, 5.5]
    title = fig.get_suptitle()
    assert re.search(r"\d", title) or any(c in title for c in attr.channels), title
    sub = _subtitle(fig)
    assert "2 replications" in sub and "95% CI" in sub and "all segments" in sub
    assert any(ax.patches for ax in fig.axes)


def test_display_names_from_the_scenario(attr: Attribution, scenario: Scenario) -> None:
    for make in CHARTS:
        fig = make(attr, scenario=scenario)
        # a title names a channel only where its CI supports the claim (verdict rule), so the display
        # names are looked for in the title and on the axes; the ids never show
        ticks = [t.get_text() for ax in fig.axes for t in (*ax.get_xticklabels(), *ax.get_yticklabels())]
        text = " ".join([fig.get_suptitle(), *ticks])
        assert "Paid search" in text or "E-mail" in text, text
        assert not any(t.split("\n")[0] in ("search", "email") for t in ticks), ticks
    assert "RUB" in ac.waterfall(attr, "revenue", scenario=scenario).get_suptitle()


def test_waterfall_stacks_shapley_values_up_to_the_total(attr: Attribution) -> None:
    fig = ac.waterfall(attr)
    ax = fig.axes[0]
    total = attr.table.loc[_all(attr.table, "total"), "incremental_orders"].item()
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == len(attr.channels) + 1  # exact Shapley values add up: no "not assigned" step
    top = bars[-2].get_y() + bars[-2].get_height()  # the last channel's step ends at the plan's total
    assert top == pytest.approx(total, rel=1e-9)
    assert bars[-1].get_height() == pytest.approx(total)
    assert ax.get_xticklabels()[-1].get_text().startswith("Plan total")
    assert "Shapley" in _subtitle(fig)
    with pytest.raises(ValueError, match="metric"):
        ac.waterfall(attr, "customers")


def test_all_charts_slugs_captions_and_save(attr: Attribution, tmp_path: Path) -> None:
    out = ac.all_charts(attr)
    assert [c.slug for c in out] == SLUGS
    for c in out:
        assert c.title == c.figure.get_suptitle().replace("\n", " ")
        assert len(c.caption) > 40 and c.caption.endswith(".") and c.caption.count(". ") == 0
        png, svg = save(c, tmp_path)
        assert png.read_bytes().startswith(PNG_SIGNATURE) and svg.exists()


def test_every_text_is_at_least_10_points(attr: Attribution) -> None:
    for chart in ac.all_charts(attr):
        chart.figure.draw_without_rendering()
        sizes = [float(t.get_fontsize()) for t in chart.figure.findobj(Text) if t.get_text().strip()]
        assert min(sizes) >= 10, chart.slug


def test_single_replication_has_no_intervals(attr: Attribution) -> None:
    table = attr.table.copy()
    table.loc[:, [c for c in table.columns if "_ci_" in c]] = np.nan
    one = dataclasses.replace(_edited(attr, table), runs=attr.runs[attr.runs.rep == 0])
    for make in CHARTS:
        fig = make(one)
        sub = _subtitle(fig)
        assert "single replication, no confidence intervals" in sub and "95% CI" not in sub
        assert not any(str(line.get_marker()) in "^v<>" for ax in fig.axes for line in ax.lines)


def test_a_channel_that_takes_away(attr: Attribution) -> None:
    table = attr.table.copy()
    cols = ["shapley_orders", "shapley_orders_ci_low", "shapley_orders_ci_high"]
    table.loc[_all(table, "email"), cols] = [-200.0, -300.0, -100.0]
    fig = ac.waterfall(_edited(attr, table))
    assert "lost through email" in fig.get_suptitle()
    assert any(p.get_hatch() for p in fig.axes[0].patches)  # the step down is hatched
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert any("\u2212200" in label for label in labels)
    assert "Not assigned" in labels[-2]  # the edited values no longer add up to the total
    ac.spend_vs_contribution(_edited(attr, table))


def test_a_single_channel(attr: Attribution) -> None:
    table = attr.table[attr.table.channel.isin(["search", "total"])].copy()
    single = _edited(attr, table, ["search"])
    for chart in ac.all_charts(single):
        assert "search" in chart.title
    assert "its only channel" in ac.waterfall(single).get_suptitle()


def test_without_shapley_values_incremental_effects(attr: Attribution) -> None:
    table = attr.table.drop(columns=[c for c in attr.table.columns if c.startswith("shapley")])
    plain = dataclasses.replace(_edited(attr, table), shapley="none")
    fig = ac.waterfall(plain)
    assert "incremental effects" in _subtitle(fig)
    inc = table.loc[(table.segment == "all") & (table.channel != "total"), "incremental_orders"].sum()
    total = table.loc[_all(table, "total"), "incremental_orders"].item()
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ("Interactions" in labels[-2]) == (abs(total - inc) > 0.005 * abs(total))
    assert "incremental effects" in _subtitle(ac.spend_vs_contribution(plain))


def test_no_spare_budget_and_no_effect(attr: Attribution) -> None:
    """A channel that cannot spend more has no marginal ROAS; a plan that adds nothing shares nothing out."""
    table = attr.table.copy()
    table.loc[table.segment == "all", [c for c in table.columns if c.startswith("marginal_roas")]] = np.nan
    fig = ac.marginal_roas(_edited(attr, table))
    assert "n/a" in fig.get_suptitle()
    table = attr.table.copy()
    table.loc[_all(table, "total"), "incremental_orders"] = 0.0
    assert "nothing to share out" in ac.spend_vs_contribution(_edited(attr, table)).get_suptitle()
    ac.waterfall(_edited(attr, table))
