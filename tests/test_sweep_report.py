"""The sweep report: charts titled with their findings, heatmaps only for two-parameter grids, and a
self-contained page with every user text escaped."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
from pathlib import Path

import markupsafe
import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure

from cjmsim import cli
from cjmsim.analyses.sweep import Parameter, SweepResult, run_sweep
from cjmsim.presentation.charts import sweep as sweep_charts
from cjmsim.presentation.charts.sweep import all_charts, frontier, heatmaps, plan_ranking, response_curves
from cjmsim.presentation.reports import sweep as sweep_report
from cjmsim.presentation.reports.sweep import render, write

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "scenarios" / "minimal.toml"
HOSTILE = "<script>alert(1)</script>"
# anything that makes a browser fetch: a src/href/... pointing at a host, a CSS url() or @import
NETWORK = re.compile(
    r"""(?:src|href|srcset|data|action|poster|xlink:href)\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|url\(\s*["']?\s*(?:https?:)?//|@import""",
    re.IGNORECASE,
)


def _experiment(folder: Path, parameters: str, reps: int = 2) -> Path:
    """An experiment on the minimal scenario (plans none and search_and_email), small and fast."""
    path = folder / "experiment.toml"
    path.write_text(
        f"""
[experiment]
name = "Tiny {HOSTILE}"
description = "What the money buys {HOSTILE} & more"
scenario = {json.dumps(MINIMAL.as_posix())}
reps = {reps}
agents = 2000
weeks = 8
{parameters}
""",
        encoding="utf-8",
    )
    return path


BUDGET = """
[[parameters]]
name = "budget"
budget = ["*"]
values = [0.5, 1.0, 2.0]
"""
GRID = """
[[parameters]]
name = "cpc"
path = "channels.search.cost.cpc"
values = [20, 40]

[[parameters]]
name = "purchase <i>rate</i>"
path = "segments.*.base.purchase"
scale = [0.8, 1.2]
"""


@pytest.fixture(scope="module")
def budget(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    return run_sweep(_experiment(tmp_path_factory.mktemp("budget"), BUDGET))


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    return run_sweep(_experiment(tmp_path_factory.mktemp("grid"), GRID))


def _renamed(result: SweepResult, plan: str, name: str) -> SweepResult:
    """The same sweep with a plan's display name changed, as if the scenario had said so."""
    exp = result.experiment
    scenarios = [
        sc.model_copy(update={"plans": {**sc.plans, plan: sc.plans[plan].model_copy(update={"name": name})}})
        for sc in exp.scenarios
    ]
    return dataclasses.replace(result, experiment=dataclasses.replace(exp, scenarios=scenarios))


def _title(fig: Figure) -> str:
    return fig.get_suptitle().replace("\n", " ")


def _subtitle(fig: Figure) -> str:
    return next(t.get_text() for t in fig.texts if t.get_text() != fig.get_suptitle()).replace("\n", " ")


def test_response_curves(budget: SweepResult, grid: SweepResult) -> None:
    (fig,) = response_curves(budget)
    assert isinstance(fig, Figure)
    # a finding from the data: the budget range and what it does, for the plan that spends
    assert _title(fig).startswith("Budget \u00d70.5 \u2192 \u00d72: incremental orders ")
    assert "Search + e-mail" in _title(fig)
    panels = [ax for ax in fig.axes if ax.get_title(loc="left")]
    # what the plans add over no marketing, not totals that count the orders that would come anyway
    heads = [ax.get_title(loc="left").split("\n")[0] for ax in panels]
    assert heads == ["Incremental orders", "Cost per incremental order, RUB", "iROMI"]
    assert "over no marketing" in _subtitle(fig)
    # "No marketing" spends nothing, so spend cannot be the x axis: the budget factor is
    assert "budget factor" in panels[1].get_xlabel()
    figs = response_curves(grid)
    assert len(figs) == 2 and all(_title(f) for f in figs)
    assert "other parameters at purchase <i>rate</i> \u00d70.8" in _subtitle(figs[0])


def test_without_baseline_the_charts_show_the_totals_and_say_so(tmp_path: Path) -> None:
    result = run_sweep(_experiment(tmp_path, BUDGET + "", reps=2).parent / "experiment.toml")
    off = tmp_path / "off.toml"
    off.write_text(
        (tmp_path / "experiment.toml").read_text(encoding="utf-8").replace("reps = 2", "reps = 2\nbaseline = false"),
        encoding="utf-8",
    )
    totals = run_sweep(off)
    assert not totals.incremental and result.incremental
    (fig,) = response_curves(totals)
    heads = [ax.get_title(loc="left").split("\n")[0] for ax in fig.axes if ax.get_title(loc="left")]
    assert heads == ["Orders", "Cost per order, RUB", "ROMI"]
    assert "including those that would come anyway" in _subtitle(fig)
    assert _title(fig).startswith("Budget \u00d70.5 \u2192 \u00d72: orders ")
    # the plans' totals are the same runs with or without the baseline
    a = result.summary.drop(columns=[c for c in result.summary.columns if c not in totals.summary.columns])
    assert a.equals(totals.summary)
    assert "including orders that would come anyway" in render(totals, [])


def test_response_curves_against_spend(budget: SweepResult) -> None:
    only = dataclasses.replace(
        budget,
        experiment=dataclasses.replace(budget.experiment, plans=["search_and_email"]),
        summary=budget.summary[budget.summary.plan == "search_and_email"],
    )
    (fig,) = response_curves(only)
    assert "money actually spent" in _subtitle(fig)
    assert fig.axes[1].get_xlabel() == "Actual spend, RUB"


def test_other_parameters_are_held_at_the_scenario_as_written() -> None:
    def first(**kw: object) -> object:
        return sweep_charts._first(Parameter.model_validate({"name": "p", **kw}))

    assert first(levels={"low": {"segments.*.margin": 0.9}, "central": {}, "high": {}}) == "central"
    assert first(budget=["*"], values=[0.5, 1.0, 2.0]) == 1.0
    assert first(move={"plan": "a", "source": "b", "target": "c"}, values=[0.2, 0.0]) == 0.0
    assert first(path="channels.search.cost.cpc", scale=[0.9, 1.0]) == 1.0
    assert first(path="channels.search.cost.cpc", values=[20, 1.0]) == 20  # absolute values: the first


def test_frontier(budget: SweepResult) -> None:
    fig = frontier(budget)
    assert isinstance(fig, Figure) and _title(fig)
    # the no-marketing plan has no CPO: it is named in the subtitle, not drawn
    assert "No marketing: no spend" in _subtitle(fig)
    efficient = sweep_charts._efficient(np.array([1.0, 2, 3, 2, 3]), np.array([1.0, 2, 3, 3, 3]))
    assert efficient.tolist() == [True, True, True, False, True]


def test_heatmaps_only_for_two_parameter_grids(budget: SweepResult, grid: SweepResult) -> None:
    assert heatmaps(budget) == []
    figs = heatmaps(grid)
    assert len(figs) >= 1 and all(isinstance(f, Figure) and _title(f) for f in figs)
    assert any("purchase <i>rate</i>" in _title(f) for f in figs)


def test_plan_ranking(budget: SweepResult) -> None:
    fig = plan_ranking(budget)
    title = _title(fig)
    # the default metrics[0] is inc_orders; a plan is named first only at points where its paired 95%
    # CI against the other plan excludes zero (the differences table says where), else no winner at all
    d = budget.differences[budget.differences.segment == "all"]
    clear = int(((d.inc_orders_diff_ci_low > 0) | (d.inc_orders_diff_ci_high < 0)).sum())
    if clear:
        assert title.startswith("Search + e-mail has the most incremental orders beyond noise")
    else:
        assert title == "No plan has the most incremental orders beyond noise at any point (2 replications)"
    left, right = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert right.get_title(loc="left").startswith("Difference from No marketing")
    assert len(left.get_yticklabels()) == 3  # one group per point


def test_all_charts(grid: SweepResult) -> None:
    charts = all_charts(grid)
    slugs = [c.slug for c in charts]
    heat = ["heatmap_inc_orders", "heatmap_icpo"]
    assert slugs == ["response_cpc", "response_purchase_i_rate_i", "frontier", *heat][: len(slugs) - 1] + [
        "plan_ranking"
    ]
    for c in charts:
        assert c.title == _title(c.figure)
        assert c.caption.endswith(".") and c.caption.count(". ") == 0  # one sentence


def test_single_replication_without_parameters(tmp_path: Path) -> None:
    result = run_sweep(_experiment(tmp_path, "", reps=1))
    assert response_curves(result) == [] and heatmaps(result) == []
    assert [c.slug for c in all_charts(result)] == ["frontier", "plan_ranking"]
    html = render(result, [])
    assert "\u00b1" not in html.split('id="summary"')[1].split("</table>")[0]
    assert "single replication" in html and 'class="better"' not in html


def test_write_a_safe_self_contained_report(grid: SweepResult, tmp_path: Path) -> None:
    hostile = _renamed(grid, "search_and_email", f"Search {HOSTILE}")
    path = write(hostile, tmp_path)
    assert path == tmp_path / "report.html"
    html = path.read_text(encoding="utf-8")
    charts = all_charts(hostile)
    assert html.count('src="data:image/png;base64,') == len(charts) >= 4
    assert "<script" not in html.lower()
    assert "http://" not in html and "https://" not in html and not NETWORK.search(html)
    escaped = str(markupsafe.escape(HOSTILE))
    assert f"Tiny {escaped}" in html and f"What the money buys {escaped} &amp; more" in html
    assert f"Search {escaped}" in html  # the plan name, in the tables
    assert "purchase &lt;i&gt;rate&lt;/i&gt;" in html and "<i>rate</i>" not in html
    assert "--accent" in html and ".masthead" in html  # the run report's stylesheet
    pngs = sorted(p.stem for p in (tmp_path / "charts").glob("*.png"))
    assert pngs == sorted(c.slug for c in charts)
    assert sorted(p.stem for p in (tmp_path / "charts").glob("*.svg")) == pngs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["charts", "report.html"]  # no temporary file left


def test_highlights_match_the_differences(grid: SweepResult) -> None:
    html = render(grid, [])
    table = html.split('id="differences"')[1].split("</table>")[0]
    d = grid.differences[grid.differences.segment == "all"]
    clear = 0
    for m in grid.experiment.spec.experiment.metrics:
        lo, hi = d[f"{m}_diff_ci_low"], d[f"{m}_diff_ci_high"]
        clear += int(((lo > 0) | (hi < 0)).sum())
    marked = sum(table.count(f'class="{k}"') for k in ("better", "worse", "clear"))
    assert marked == clear
    # the summary lists every point and plan with the experiment's metrics
    summary = html.split('id="summary"')[1].split("</table>")[0]
    # and, in italics, what no marketing brings at each point: the orders that come anyway
    points = grid.summary.point.nunique()
    assert summary.count('<td class="plan">') == len(grid.summary[grid.summary.segment == "all"]) + points
    assert summary.count('<tr class="counterfactual">') == points
    assert summary.count("including orders that would come anyway") == 2  # the default metrics' orders, cpo


def test_charts_never_use_pyplot() -> None:
    assert "pyplot" not in inspect.getsource(sweep_report) + inspect.getsource(sweep_charts)


def test_cli_sweep_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(cli.main, ["sweep", str(_experiment(tmp_path, BUDGET)), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert (out / "report.html").is_file() and (out / "charts" / "frontier.png").is_file()


def test_a_ci_half_width_wider_than_its_value_is_written_in_its_own_unit() -> None:
    from cjmsim.presentation.format import half_width

    assert half_width(61.5e6, 61.5e6 - 0.687e6, 61.5e6 + 0.687e6, "m") == "\u00b1 0.687M"  # the value's unit
    wide = half_width(743e6, 743e6 - 1.57e9, 743e6 + 1.57e9, "m")
    assert wide == "\u00b1 1.57B" and "e+" not in wide


def test_budget_steps_show_the_return_of_the_extra_money(budget: SweepResult, grid: SweepResult) -> None:
    """Marginal iROMI of a step = extra incremental margin / extra spend - 1, from the summary's means
    (the mean of paired differences is the difference of the means); plans that never spend are left out."""
    from cjmsim.presentation.charts.sweep import sweep_view
    from cjmsim.presentation.format import table_value

    steps = sweep_report._steps(sweep_view(budget))
    assert steps["steps"] == ["\u00d70.5 \u2192 \u00d71", "\u00d71 \u2192 \u00d72"]
    assert [r["name"] for r in steps["rows"]] == ["Search + e-mail"]  # No marketing spends nothing
    t = budget.summary[(budget.summary.segment == "all") & (budget.summary.plan == "search_and_email")]
    t = t.set_index("budget")
    for cell, (a, b) in zip(steps["rows"][0]["cells"], [(0.5, 1.0), (1.0, 2.0)], strict=True):
        extra = t.loc[b, "spend"] - t.loc[a, "spend"]
        want = (t.loc[b, "inc_margin"] - t.loc[a, "inc_margin"]) / extra - 1
        assert cell["iromi"]["value"] == table_value(want, "p")
        icpo = extra / (t.loc[b, "inc_orders"] - t.loc[a, "inc_orders"])
        assert cell["icpo"]["value"] == table_value(icpo, "m")
    assert 'id="steps"' in render(budget, [])
    assert sweep_report._steps(sweep_view(grid)) == {} and 'id="steps"' not in render(grid, [])


def test_differences_show_the_paired_ratios(grid: SweepResult) -> None:
    html = render(grid, [])
    table = html.split('id="differences"')[1].split("</table>")[0]
    d = grid.differences[grid.differences.segment == "all"]
    m = "orders"  # shown by default; the reference (no campaigns) has no incremental orders: no ratio there
    assert m in grid.experiment.spec.experiment.metrics and d.inc_orders_ratio.isna().all()
    for _, row in d.iterrows():
        ci = f" [{row[f'{m}_ratio_ci_low']:.3f}, {row[f'{m}_ratio_ci_high']:.3f}]"
        assert f'<span class="ci ratio">\u00d7{row[f"{m}_ratio"]:.3f}{ci}</span>' in table
