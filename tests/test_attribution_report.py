"""The attribution report: a self-contained page with every channel, every chart and the numbers of
attribution.csv, user text escaped, written by ``cjmsim attribute`` unless --no-report."""

from __future__ import annotations

import base64
import math
import re
from pathlib import Path
from typing import Any

import helpers
import markupsafe
import matplotlib.colors
import matplotlib.image
import pandas as pd
import pytest
from browser import CHROMIUM, assert_report_painted  # one browser check for every report
from cjmsim.charts import CHANNEL_COLOURS
from click.testing import CliRunner

from cjmsim import Scenario, cli, parse_scenario
from cjmsim.analyses.attribution import Attribution, attribute
from cjmsim.presentation.charts.attribution import all_charts
from cjmsim.presentation.reports.attribution import render, write

HOSTILE = "<script>alert(1)</script>"
# anything that makes a browser fetch: a src/href/... pointing at a host, a CSS url() or @import
NETWORK = re.compile(
    r"""(?:src|href|srcset|data|action|poster|xlink:href)\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|url\(\s*["']?\s*(?:https?:)?//|@import""",
    re.IGNORECASE,
)
PNG_IMG = '<img src="data:image/png;base64,'


def _hostile() -> dict[str, Any]:
    """The funnel scenario, small, with markup in a segment's, a channel's and the plan's names."""
    d = helpers.funnel_scenario()
    d["scenario"].update(agents=1500, weeks=8, name="Funnel & friends")
    d["segments"]["a"]["name"] = f"{HOSTILE} Beginner"
    d["channels"]["search"]["name"] = f"Search {HOSTILE}"
    d["plans"]["base"].update(name="Base <b>plan</b>", description='Ads, search & "retarget"')
    return d


@pytest.fixture(scope="module")
def sc() -> Scenario:
    return parse_scenario(_hostile())


@pytest.fixture(scope="module")
def attr(sc: Scenario) -> Attribution:
    return attribute(sc, "base", reps=2)


@pytest.fixture(scope="module")
def written(attr: Attribution, sc: Scenario, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(attr, sc, tmp_path_factory.mktemp("attribution"))


def _esc(text: str) -> str:
    return str(markupsafe.escape(text))


def _section(html: str, sid: str) -> str:
    return html.split(f'<section id="{sid}">')[1].split("</section>")[0]


def _channel_table(html: str) -> tuple[list[str], dict[str, list[str]]]:
    """The channel table as (column labels, channel name -> cell values), the values as printed."""
    table = _section(html, "channels").split("</table>")[0]
    heads = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<th class=\"r\">(.*?)</th>", table)]
    rows = {}
    for name, cells in re.findall(r'<th scope="row">(.*?)</th>(.*?)</tr>', table, re.DOTALL):
        rows[re.sub(r"<[^>]+>.*", "", name)] = re.findall(r"<td>([^<]*)", cells)
    return heads, rows


def _number(text: str) -> float:
    """A printed number back as a float: '31,400', '1.53B', '8.86M', '-0.23'; a dash is NaN."""
    text = text.strip().replace(",", "").replace("\u2212", "-")
    if text in ("\u2013", "-", ""):
        return math.nan
    scale = {"M": 1e6, "B": 1e9}.get(text[-1], 1.0)
    return float(text.rstrip("MB")) * scale


def _close(printed: float, value: float) -> bool:
    """Printed with 3 significant digits (whole numbers from 100 up): within half the last digit."""
    return abs(printed - value) <= max(0.005 * abs(value), 0.5)


def test_report_names_the_plan_every_channel_and_the_settings(attr: Attribution, sc: Scenario) -> None:
    html = render(attr, sc, [])
    assert html.startswith("<!DOCTYPE html>")
    head = html.split("</header>")[0]
    assert _esc(sc.scenario.name) in head and _esc(sc.plans["base"].name) in head
    for label, value in [
        ("Replications", "2"),
        ("Agents per run", f"{sc.scenario.agents:,}"),
        ("Seed", str(sc.scenario.seed)),
        ("Shapley", attr.shapley),
        ("Horizon", f"{sc.scenario.weeks} weeks"),
    ]:
        assert f"<dt>{label}</dt><dd>{value}</dd>" in head, label
    assert _esc(sc.plans["base"].description) in html
    _, rows = _channel_table(html)
    names = [sc.channels[c].name or c for c in attr.channels]
    assert list(rows) == [_esc(n) for n in names] + ["Whole plan"]
    segments = _section(html, "segments")
    for seg in sc.segments.values():
        assert f'<th class="r">{_esc(seg.name)}</th>' in segments
    for name in names:
        assert f'<th scope="row">{_esc(name)}</th>' in segments
    for term in ("Incremental", "Shapley", "Marginal"):
        assert f"<dt>{term}</dt>" in _section(html, "reading")
    assumptions = _section(html, "assumptions")
    assert "same random numbers" in assumptions and "warm-up" in assumptions
    assert 'id="charts"' not in html  # no images, no empty section


def test_every_chart_is_embedded_with_its_title_and_caption(attr: Attribution, sc: Scenario, written: Path) -> None:
    html = written.read_text(encoding="utf-8")
    charts = all_charts(attr, scenario=sc)
    assert html.count("<img") == html.count(PNG_IMG) == len(charts) > 0
    for chart in charts:
        png = written.parent / "charts" / f"{chart.slug}.png"
        assert (written.parent / "charts" / f"{chart.slug}.svg").is_file()
        assert f'{PNG_IMG}{base64.b64encode(png.read_bytes()).decode("ascii")}"' in html
        figure = html.split(f'<figure id="fig-{chart.slug}">')[1].split("</figure>")[0]
        assert _esc(chart.title) in figure and _esc(chart.caption) in figure
    assert sorted(p.name for p in written.parent.iterdir()) == ["charts", "report.html"]  # no temporary file


def test_user_text_is_escaped_and_nothing_is_fetched(written: Path) -> None:
    html = written.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Beginner" in html  # a segment
    assert "Search &lt;script&gt;alert(1)&lt;/script&gt;" in html  # a channel
    assert "Base &lt;b&gt;plan&lt;/b&gt;" in html and "Funnel &amp; friends" in html
    assert HOSTILE not in html and "<script" not in html.lower() and "<b>plan" not in html
    assert "Content-Security-Policy" in html and "<link" not in html.lower()
    assert "http://" not in html and "https://" not in html
    assert not NETWORK.search(html), NETWORK.search(html)


def test_one_replication_without_shapley_values(sc: Scenario) -> None:
    one = attribute(sc, "base", reps=1, shapley="none")
    html = render(one, sc, [])
    heads, rows = _channel_table(html)
    assert "Shapley orders" not in heads and "Orders the channel adds" in heads
    assert "\u00b1" not in _section(html, "channels") + _section(html, "segments")
    assert "Incremental orders by segment" in html and "One replication" in html
    assert "No Shapley values were computed" in html


def test_sampled_shapley_values_state_their_sampling_error(sc: Scenario) -> None:
    sampled = attribute(sc, "base", reps=2, shapley="sampled", samples=4)
    html = render(sampled, sc, [])
    assert sampled.shapley in html and "sampling standard error" in _section(html, "channels")


def test_cli_writes_the_report_with_the_numbers_of_attribution_csv(write_toml, tmp_path: Path) -> None:
    path = write_toml(_hostile())
    out = tmp_path / "out"
    args = ["attribute", str(path), "--plan", "base", "--reps", "2", "--agents", "1000", "--quiet"]
    res = CliRunner().invoke(cli.main, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count(PNG_IMG) == len(list((out / "charts").glob("*.png"))) == 3
    t = pd.read_csv(out / "attribution.csv")
    t = t[t.segment == "all"].set_index("channel")
    sc = parse_scenario(_hostile())
    heads, rows = _channel_table(html)
    checked = 0
    for label, col in (("Orders the channel adds", "incremental_orders"), ("Spend, RUB", "spend")):
        i = heads.index(label)
        for ch in t.index.drop("total"):
            printed = _number(rows[_esc(sc.channels[ch].name or ch)][i])
            assert _close(printed, float(t.loc[ch, col])), (ch, col, printed, t.loc[ch, col])
            checked += 1
    total = _number(rows["Whole plan"][heads.index("Orders the channel adds")])
    assert _close(total, float(t.loc["total", "incremental_orders"]))
    assert checked == 2 * len(sc.plans["base"].campaigns)

    bare = tmp_path / "bare"
    res = CliRunner().invoke(cli.main, [*args, "--out", str(bare), "--no-report"])
    assert res.exit_code == 0, res.output
    assert (bare / "attribution.csv").is_file() and (bare / "metadata.json").is_file()
    assert not (bare / "report.html").exists() and not (bare / "charts").exists()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs Debian's chromium)")
def test_chromium_renders_the_attribution_report(written: Path, attr: Attribution, tmp_path: Path) -> None:
    # the first channel's colour is in no CSS of the page: on screen, a chart was decoded and painted
    assert_report_painted(written, tmp_path, 6000, matplotlib.colors.to_rgb(CHANNEL_COLOURS[0]), images=3)
