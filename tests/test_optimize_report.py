"""The optimizer report: a self-contained page with every chart, the result on fresh replications, where
the money moved and the optimized plan's TOML block, its numbers those of the optimization, user text escaped."""

from __future__ import annotations

import base64
import html as htmllib
import math
import re
import tomllib
from pathlib import Path
from typing import Any

import helpers
import matplotlib.colors
import matplotlib.image
import numpy as np
import pytest
from browser import CHROMIUM, assert_report_painted  # one browser check for every report
from cjmsim.charts import PLAN_COLOURS, plan_colours
from test_attribution_report import HOSTILE, NETWORK, PNG_IMG, _close, _esc, _number, _section
from test_report import MINIMAL

from cjmsim import parse_scenario
from cjmsim.analyses.optimize import Optimization, optimize
from cjmsim.presentation.charts.optimize import all_charts
from cjmsim.presentation.reports.optimize import render, write

PLAN = "search_and_email"
CAMPAIGN = 'E-mail to <i>"enthusiasts"</i>'  # markup and quotes, in the page and in the TOML block


def _hostile() -> dict[str, Any]:
    """The tutorial scenario with markup in its name, the base plan's and a campaign's; a half-budget plan."""
    d = tomllib.loads(MINIMAL.read_text(encoding="utf-8"))
    d["scenario"]["name"] = f"Hi-fi {HOSTILE} & co"
    d["plans"][PLAN]["name"] = f"Search {HOSTILE}"
    d["plans"][PLAN]["campaigns"][1]["name"] = CAMPAIGN
    helpers.scaled_plan(d, PLAN, 0.5, "half")
    d["plans"]["half"]["name"] = "Half the budget"
    return d


@pytest.fixture(scope="module")
def opt() -> Optimization:
    sc = parse_scenario(_hostile())
    return optimize(
        sc,
        PLAN,
        "min-cpo",
        agents=3000,
        evaluations=15,
        workers=1,
        final_reps=2,
        final_agents=3000,
        split="none",
        keep_orders=True,  # min-cpo without a floor may cut spend to nothing: nothing to report but that
        compare=["half", "none"],
    )


@pytest.fixture(scope="module")
def written(opt: Optimization, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(opt, tmp_path_factory.mktemp("optimize"))


@pytest.fixture(scope="module")
def page(written: Path) -> str:
    return written.read_text(encoding="utf-8")


def _table(html: str, sid: str, nth: int = 0) -> tuple[list[str], dict[str, list[str]]]:
    """A table of a section as (column labels, row label -> cell texts), the cells' first text as printed."""
    table = _section(html, sid).split("<table")[nth + 1].split("</table>")[0]
    heads = [
        re.sub(r"<span[^>]*>.*?</span>|<[^>]+>", "", h)
        for h in re.findall(r"<th[^>]*>(.*?)</th>", table.split("</thead>")[0])
    ]
    rows = {}
    for name, cells in re.findall(r'<th scope="row"[^>]*>(.*?)</th>(.*?)</tr>', table, re.DOTALL):
        rows[re.sub(r"<[^>]+>.*", "", name)] = re.findall(r"<td[^>]*>([^<]*)", cells)
    return heads, rows


def _percent(text: str) -> float:
    """A printed percentage back as a fraction: '\u221298.2%' -> -0.982."""
    return float(text.strip().replace("\u2212", "-").replace(",", "").removesuffix("%")) / 100


def _paired_relative(opt: Optimization, metric: str, other: str) -> float:
    """The optimized plan's mean relative difference from another plan, from the fresh per-replication rows."""
    pr = opt.final.per_rep
    pr = pr[pr.segment == "all"]
    a = pr[pr.plan == opt.plan_name].sort_values("rep")[metric].to_numpy(float)
    b = pr[pr.plan == other].sort_values("rep")[metric].to_numpy(float)
    return float(np.mean(a / b - 1))


def _name(opt: Optimization, plan: str) -> str:
    return opt.final.scenario.plans[plan].name or plan


def test_every_chart_is_embedded_with_its_title_and_caption(opt: Optimization, written: Path, page: str) -> None:
    charts = all_charts(opt)
    assert [c.slug for c in charts] == [
        "optimize_comparison",
        "optimize_allocation",
        "optimize_response_curves",
        "optimize_convergence",
    ]
    assert page.count("<img") == page.count(PNG_IMG) == len(charts)
    for chart in charts:
        png = written.parent / "charts" / f"{chart.slug}.png"
        assert (written.parent / "charts" / f"{chart.slug}.svg").is_file()
        assert f'{PNG_IMG}{base64.b64encode(png.read_bytes()).decode("ascii")}"' in page
        figure = page.split(f'<figure id="fig-{chart.slug}">')[1].split("</figure>")[0]
        assert _esc(chart.title) in figure and _esc(chart.caption) in figure
    assert sorted(p.name for p in written.parent.iterdir()) == ["charts", "report.html"]  # no temporary file
    assert 'id="charts"' not in render(opt, [])  # no images, no empty section


def test_report_names_the_plan_the_objective_the_settings_and_every_campaign(opt: Optimization, page: str) -> None:
    sc = opt.final.scenario
    head = page.split("</header>")[0]
    assert _esc(sc.scenario.name) in head and _esc(_name(opt, PLAN)) in head
    assert f"<dt>Base plan</dt><dd>{_esc(_name(opt, PLAN))}</dd>" in head
    assert "<dt>Objective</dt><dd>min-cpo</dd>" in head
    assert f"<dt>Evaluations</dt><dd>{len(opt.trace)} of 15</dd>" in head  # every evaluation is a trace row
    assert "<dt>Orders floor</dt><dd>the base plan&#39;s orders (" in head and "<dt>Periods</dt><dd>1</dd>" in head
    assert "<dt>Fresh check</dt><dd>2 \u00d7 3,000 agents</dd>" in head
    # the budget defaults to the base plan's planned spend: weekly x active weeks of each campaign
    planned = sum(c.weekly * sum(e - s for s, e in (c.windows_or_empty or [(0, 26)])) for c in sc.plans[PLAN].campaigns)
    budget = re.search(r"<dt>Budget</dt><dd>([^<]*) RUB</dd>", head)
    assert budget is not None and _close(_number(budget.group(1)), planned)
    assert _esc(opt.message) in _section(page, "result")
    _, campaigns = _table(page, "allocation")
    assert list(campaigns)[:-1] == [_esc(c.name or "") for c in sc.plans[PLAN].campaigns]
    reading = _section(page, "reading")
    for term in ("What was searched", "Common random numbers", "The search", "Fresh replications", "Response curves"):
        assert f"<dt>{term}</dt>" in reading
    assert "SLSQP" in reading and "forward differences" in reading and "winner&#39;s curse" in reading


def test_the_toml_block_is_the_optimized_plan(opt: Optimization, page: str) -> None:
    block = _section(page, "toml").split('<pre class="toml"><code>')[1].split("</code></pre>")[0]
    assert "<" not in block and '"' not in block  # markup and quotes arrive escaped
    assert htmllib.unescape(block) == opt.toml()
    data = tomllib.loads(htmllib.unescape(block))  # and it is TOML a scenario can take
    plan = data["plans"][opt.plan_name]
    assert plan["campaigns"] == opt.campaigns


def test_user_text_is_escaped_and_nothing_is_fetched(page: str) -> None:
    assert "Hi-fi &lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page  # the scenario
    assert "Search &lt;script&gt;alert(1)&lt;/script&gt;" in page  # the base plan
    assert "E-mail to &lt;i&gt;&#34;enthusiasts&#34;&lt;/i&gt;" in page  # a campaign
    assert HOSTILE not in page and "<script" not in page.lower() and "<i>" not in page
    assert "Content-Security-Policy" in page and "<link" not in page.lower()
    assert "http://" not in page and "https://" not in page
    assert not NETWORK.search(page), NETWORK.search(page)


def test_the_result_shows_the_paired_differences_of_the_comparison(opt: Optimization, page: str) -> None:
    heads, rows = _table(page, "result")
    others = [PLAN, "half", "none"]
    assert heads == ["Metric"] + [_esc(f"vs {_name(opt, p)}") for p in others]
    c = opt.comparison.set_index(["versus", "metric"])
    checked = 0
    for label, metric in (("Orders", "orders"), ("Spend", "spend"), ("CPO (cost per order)", "cpo")):
        for j, other in enumerate(others):
            rel = float(c.loc[(other, metric), "relative"])
            if not math.isfinite(rel):
                continue
            printed = _percent(rows[label][j])
            assert abs(printed - rel) <= (0.0005 if abs(rel) < 1 else 0.005) + 1e-12, (label, other, printed, rel)
            checked += 1
    assert checked >= 6
    # recomputed from the fresh replications, not from the comparison table
    cpo = _paired_relative(opt, "cpo", PLAN)
    assert abs(_percent(rows["CPO (cost per order)"][0]) - cpo) <= 0.0005 + 1e-12
    # no spend without marketing: no ratio, the difference itself in the currency
    pr = opt.final.per_rep[opt.final.per_rep.segment == "all"]
    spend = pr[pr.plan == opt.plan_name].spend.mean() - pr[pr.plan == "none"].spend.mean()
    cell = rows["Spend"][2]
    assert cell.endswith(" RUB") and _close(_number(cell.removesuffix(" RUB").lstrip("+")), spend)
    assert rows["CPO (cost per order)"][2] == "\u2013"  # nothing to divide by, nothing to subtract from


def test_the_plans_table_holds_the_fresh_summary(opt: Optimization, page: str) -> None:
    heads, rows = _table(page, "plans")
    plans = [PLAN, opt.plan_name, "half", "none"]
    assert heads == ["Metric"] + [_esc(_name(opt, p)) for p in plans]
    s = opt.final.summary
    tot = s[s.segment == "all"].set_index("plan")
    for label, metric in (("Orders", "orders"), ("Spend", "spend"), ("Revenue", "revenue")):
        for j, p in enumerate(plans):
            assert _close(_number(rows[label][j]), float(tot.loc[p, metric])), (label, p)
    ci = re.findall(r'<span class="ci">\u00b1 ([^<]*)</span>', _section(page, "plans"))
    assert len(ci) >= 3 * len(plans)  # two replications: every value has its interval


def test_the_allocation_adds_up_to_the_optimized_plan(opt: Optimization, page: str) -> None:
    heads, rows = _table(page, "allocation")
    col = heads.index("Optimized, per week")
    camps = opt.final.scenario.plans[PLAN].campaigns
    for camp in camps:
        # the base campaign kept at its level (its own name) and its cells' top-ups (issue 12)
        mine = [c["weekly"] for c in opt.campaigns if c["name"] == camp.name or c["name"].startswith(f"{camp.name}:")]
        printed = _number(rows[_esc(camp.name or "")][col - 1])  # the first column is the row's header
        assert _close(printed, float(sum(mine))), (camp.name, printed, mine)
    funded = _section(page, "allocation").split("<table")[2].split("</table>")[0]
    assert funded.count('<th scope="row">') == int((opt.variables.weekly > 0).sum())  # one row per funded cell


def test_chart_titles_state_the_findings(opt: Optimization) -> None:
    titles = {c.slug: c.title for c in all_charts(opt)}
    cpo = _paired_relative(opt, "cpo", PLAN)
    found = re.search(r"(cuts|raises) CPO by ([\d.]+)%", titles["optimize_comparison"])
    assert found is not None and found.group(1) == ("cuts" if cpo < 0 else "raises")
    assert abs(float(found.group(2)) / 100 - abs(cpo)) <= 0.005 + 1e-12
    t = opt.trace
    best = float(t[t.feasible].cpo.min())
    found = re.search(r"to ([\d,.]+) RUB", titles["optimize_convergence"])
    assert found is not None and _close(_number(found.group(1)), best)
    # the campaign that lost the most money, from the scenario and the optimized plan's campaigns
    sc = opt.final.scenario
    loss = {}
    for camp in sc.plans[PLAN].campaigns:
        weeks = sum(e - s for s, e in (camp.windows_or_empty or [(0, sc.scenario.weeks)]))
        new = sum(c["weekly"] * weeks for c in opt.campaigns if c["name"].startswith(f"{camp.name}:"))
        loss[camp.name] = (camp.weekly or 0.0) * weeks - new
    worst = max(loss, key=lambda k: loss[k])
    assert loss[worst] > 0 and f"{worst} (" in titles["optimize_allocation"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs Debian's chromium)")
def test_chromium_renders_the_optimizer_report(opt: Optimization, written: Path, tmp_path: Path) -> None:
    # the optimized plan's colour (the next after the scenario's plans) is in no CSS of the page: on
    # screen, a chart was decoded and painted
    colour = plan_colours(opt.scenario.plans, extra=[opt.plan_name])[opt.plan_name]
    assert colour == PLAN_COLOURS[len(opt.scenario.plans)]
    assert_report_painted(written, tmp_path, 9000, matplotlib.colors.to_rgb(colour), images=4)


def test_budget_changes_read_as_words_and_multiples_never_in_scientific_notation() -> None:
    from cjmsim.presentation.charts.optimize import change

    assert change(100.0, 0.0) == "cut to 0" and change(0.0, 5.0) == "new"
    assert change(100.0, 260.0) == "\u00d72.6"
    assert change(100.0, 24_000.0) == "\u00d7240"  # 2.4e+02 in the first hifi report
    assert change(100.0, 120.0) == "+20%"
