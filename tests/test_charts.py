"""Charts: each is a Figure with drawn artists and a finding in its title; all_charts and save work.

Two results are built once per module: hi-fi (three plans, two replications, short horizon) and the
minimal tutorial (a plan without campaigns, a single replication), plus a run of the no-marketing
plan alone. Figures are not closed explicitly: without pyplot nothing holds on to them.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.text import Text
from scipy import stats

import cjmsim
from cjmsim import charts
from cjmsim.analyses.simulate import Result
from cjmsim.scenario import STAGES

ROOT = Path(__file__).resolve().parents[1]
SLUGS = [
    "funnel",
    "stage_occupancy",
    "kpi_comparison",
    "spend_by_channel",
    "orders_vs_spend",
    "budget_by_stage",
    "exposure_heatmaps",
    "time_to_purchase_by_plan",
]
#: Charts of one plan, still public (``cjmsim.charts``); the report shows their small multiples.
ONE_PLAN = ["time_to_purchase", "exposure_heatmap"]
#: Small multiples: a panel per plan (or per segment x plan), 10 in wide and as tall as they need.
TALL = {"budget_by_stage", "exposure_heatmaps", "time_to_purchase_by_plan"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def hifi() -> Result:
    sc = cjmsim.load_scenario(ROOT / "scenarios" / "hifi.toml")
    return cjmsim.simulate(sc, agents=5000, weeks=20, reps=2)


@pytest.fixture(scope="module")
def minimal() -> Result:
    return cjmsim.simulate(cjmsim.load_scenario(ROOT / "scenarios" / "minimal.toml"), reps=1)


@pytest.fixture(scope="module")
def no_campaigns() -> Result:
    """The minimal tutorial's no-marketing plan alone: one plan, no spend, no exposures."""
    return cjmsim.simulate(cjmsim.load_scenario(ROOT / "scenarios" / "minimal.toml"), plans=["none"], agents=5000)


@pytest.fixture(params=["hifi", "minimal", "no_campaigns"])
def result(request: pytest.FixtureRequest) -> Result:
    return request.getfixturevalue(request.param)


def _vocabulary(r: Result) -> list[str]:
    """Names a title may cite: plans, segments and channels (display names and their short forms)."""
    sc = r.scenario
    names = [p.name or i for i, p in sc.plans.items()] + [s.name for s in sc.segments.values()]
    names += [c.name or i for i, c in sc.channels.items()]
    return names + [n.split(" (")[0] for n in names]


def _subtitle(fig: Figure) -> str:
    return next(t.get_text() for t in fig.texts if t.get_text() != fig.get_suptitle())


def _drawn(fig: Figure) -> bool:
    return any(ax.lines or ax.patches or ax.collections or ax.images for ax in fig.axes)


@pytest.mark.parametrize("slug", SLUGS + ONE_PLAN)
def test_each_chart_is_a_figure_with_a_finding(result: Result, slug: str) -> None:
    fig = getattr(charts, slug)(result)
    assert isinstance(fig, Figure)
    width, height = fig.get_size_inches().tolist()
    assert width == 10.0 and (height >= 5.5 if slug in TALL else height == 5.5) and fig.dpi == 120
    title = fig.get_suptitle()
    assert title.strip()
    assert re.search(r"\d", title) or any(name in title for name in _vocabulary(result)), title
    assert _subtitle(fig).strip(), "a subtitle says what is plotted"
    no_units = slug in ("exposure_heatmap", "exposure_heatmaps", "budget_by_stage")
    if result.plans != ["none"] or not no_units:  # a plan without campaigns delivers nothing
        assert _drawn(fig), slug


def test_all_charts_in_funnel_order_with_captions(hifi: Result) -> None:
    out = charts.all_charts(hifi)
    assert [c.slug for c in out] == SLUGS
    for c in out:
        assert c.title and c.title == c.figure.get_suptitle().replace("\n", " ")
        assert len(c.caption) > 40 and c.caption.endswith(".")
    with pytest.raises(AttributeError):
        out[0].slug = "other"  # type: ignore[misc]


def test_every_text_is_at_least_10_points(minimal: Result) -> None:
    for chart in charts.all_charts(minimal):
        chart.figure.draw_without_rendering()  # tick labels exist once the figure is laid out
        sizes = {t.get_text(): t.get_fontsize() for t in chart.figure.findobj(Text) if t.get_text().strip()}
        assert min(sizes.values()) >= 10, (chart.slug, min(sizes.items(), key=lambda kv: kv[1]))


def test_hifi_titles_state_the_findings(hifi: Result) -> None:
    titles = {c.slug: c.title for c in charts.all_charts(hifi)}
    cjm, baseline = (re.escape(hifi.scenario.plans[p].name) for p in ("cjm", "baseline"))
    # the case's point, claimed only where the paired CI of the CPO difference (2 replications here,
    # computed independently with scipy) excludes zero; otherwise the title says it cannot tell
    # (the spend per incremental order: the run has its no-marketing baseline)
    r = hifi.per_rep[hifi.per_rep.segment == "all"].sort_values("rep")
    d = r[r.plan == "cjm"].icpo.to_numpy() - r[r.plan == "baseline"].icpo.to_numpy()
    half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    if d.mean() + half < 0:
        assert re.fullmatch(rf"{cjm} cuts iCPO by \d+% vs {baseline}", titles["kpi_comparison"])
    else:
        names = " and ".join(hifi.scenario.plans[p].name for p in ("cjm", "baseline"))
        assert f"{names} are not distinguishable on iCPO at 2 replications" in titles["kpi_comparison"]
        assert "cuts" not in titles["kpi_comparison"]
    half = charts.time_to_purchase(hifi).get_suptitle()
    assert re.match(r"Half of first orders come \d+-\d+ weeks after awareness", half)
    assert re.match(
        r"The simulated median time to first order is inside .* in \d+ of \d+ ", titles["time_to_purchase_by_plan"]
    )
    assert "of the money" in titles["orders_vs_spend"]


def test_kpi_error_bars_only_with_replications(hifi: Result, minimal: Result) -> None:
    def bars(fig: Figure) -> int:
        return sum(isinstance(c, ErrorbarContainer) for ax in fig.axes for c in ax.containers)

    many, one = charts.kpi_comparison(hifi), charts.kpi_comparison(minimal)
    assert bars(many) == 3 and "95% CI" in _subtitle(many)  # LTV is n/a: 20 weeks < ltv_weeks (52)
    assert bars(one) == 0 and "single replication" in _subtitle(one)


def test_zero_spend_plan_shows_na_not_zero(minimal: Result, no_campaigns: Result) -> None:
    fig = charts.kpi_comparison(minimal)
    cpo_panel = fig.axes[0]
    assert "n/a" in [t.get_text().strip() for t in cpo_panel.texts]  # CPO of "No marketing"
    assert "No marketing" not in fig.get_suptitle()  # a plan without spend never "wins" on cost
    assert charts.kpi_comparison(no_campaigns).get_suptitle().startswith("No marketing spends nothing: CPO and ROMI")
    assert "no units" in charts.exposure_heatmap(no_campaigns).get_suptitle()
    charts.all_charts(no_campaigns)


def test_one_plan_options(hifi: Result) -> None:
    occupancy = charts.stage_occupancy(hifi, plan="cjm")
    assert all(len(ax.lines) == 1 for ax in occupancy.axes)
    assert _subtitle(charts.time_to_purchase(hifi, plan="cjm")).startswith("CJM: half the budget")
    heat = charts.exposure_heatmap(hifi, plan="cjm_growth")
    assert _subtitle(heat).startswith("CJM: the full budget")
    assert [t.get_text() for t in heat.axes[0].get_xticklabels()] == [s.capitalize() for s in STAGES]


def test_plan_colours_are_the_same_in_every_chart(hifi: Result) -> None:
    want = [charts.plan_colours(hifi.scenario.plans)[p] for p in hifi.plans]  # by the scenario's plan order
    assert want == list(charts.PLAN_COLOURS[: len(hifi.plans)])
    lines = charts.orders_vs_spend(hifi).axes[0].lines[::2]  # each plan: its line, then its end marker
    assert [ln.get_color() for ln in lines] == want
    legend = charts.funnel(hifi).legends[0]
    assert [t.get_text() for t in legend.get_texts()] == [hifi.scenario.plans[p].name for p in hifi.plans]


def test_save_writes_png_and_svg(hifi: Result, tmp_path: Path) -> None:
    chart = charts.all_charts(hifi)[0]
    png, svg = charts.save(chart, tmp_path / "out", chart.slug)
    assert png.name == "funnel.png" and png.read_bytes().startswith(PNG_SIGNATURE)
    assert svg.name == "funnel.svg" and "<svg" in svg.read_text(encoding="utf-8")
    paths = charts.save(chart.figure, tmp_path, "bare")
    assert [p.name for p in paths] == ["bare.png", "bare.svg"] and all(p.stat().st_size > 1000 for p in paths)
    with pytest.raises(ValueError):
        charts.save(chart.figure, tmp_path)
    assert charts.png_bytes(chart.figure).startswith(PNG_SIGNATURE)


def test_no_pyplot_and_no_simulation() -> None:
    source = inspect.getsource(charts)
    assert not re.search(r"import matplotlib\.pyplot|from matplotlib import pyplot|\.show\(", source)
    assert "simulate(" not in source


def test_kpi_panels_are_incremental_with_the_baseline_and_totals_without(minimal: Result) -> None:
    def panels(result: Result) -> list[str]:
        # a panel's label, unwrapped, without its last line ("(lower is better)")
        return [
            ax.get_title(loc="left").rsplit("\n", 1)[0].replace("\n", " ") for ax in charts.kpi_comparison(result).axes
        ]

    assert panels(minimal)[0] == "Spend per incremental order (iCPO)" and panels(minimal)[-1].startswith("iROMI")
    plain = cjmsim.simulate(minimal.scenario, agents=minimal.agents, weeks=minimal.weeks, baseline=False)
    assert panels(plain)[0] == "Cost per order" and panels(plain)[-1] == "ROMI"


def test_legend_takes_fewer_columns_for_long_labels_so_a_row_fits() -> None:
    """Four columns of short labels; long channel names (the clinic's run to 52 characters) in two, so the
    legend's rows stay inside the figure's width (LEGEND_ROW characters)."""
    import matplotlib.pyplot as plt

    from cjmsim.presentation import style

    for label, want in (("SEO", 4), ("x" * 52, 2), ("y" * 200, 1)):
        fig = plt.figure()
        keys = [f"c{i}" for i in range(8)]
        style.legend(fig, {k: label for k in keys}, dict(zip(keys, style.CHANNEL_COLOURS, strict=True)))
        assert fig.legends[0]._ncols == want, label
        plt.close(fig)


def test_a_title_starting_with_an_incremental_metric_keeps_its_case() -> None:
    """One-replication titles begin with the metric: 'iCPO by plan', not 'ICPO by plan'; plain words
    are capitalised."""
    from cjmsim.presentation import format as fmt

    assert fmt.sentence("iCPO") == "iCPO" and fmt.sentence("iROMI over no marketing") == "iROMI over no marketing"
    assert fmt.sentence("cost per order") == "Cost per order" and fmt.sentence("CPO") == "CPO"
    assert fmt.sentence("") == "" and fmt.sentence("x") == "X"


def test_save_lays_a_chart_out_once_for_both_files(hifi: Result, tmp_path: Path) -> None:
    """save() draws the SVG with the figure's constrained layout, then the PNG in that same layout (the
    layout is a fifth of a chart's time): the PNG's axes sit where the SVG's do, the figure keeps its layout
    engine for a later draw, and the SVG is byte for byte the one a plain savefig writes."""
    import matplotlib

    chart = charts.funnel(hifi)
    engine = chart.figure.get_layout_engine()
    charts.save(chart, tmp_path, "once")
    assert chart.figure.get_layout_engine() is engine
    after = [ax.get_position().bounds for ax in chart.figure.axes]
    plain = charts.funnel(hifi)
    with matplotlib.rc_context({"svg.hashsalt": "cjmsim"}):
        plain.figure.savefig(tmp_path / "plain.svg", format="svg", metadata={"Date": None})
    assert [ax.get_position().bounds for ax in plain.figure.axes] == after  # the PNG kept the SVG's layout
    assert (tmp_path / "once.svg").read_bytes() == (tmp_path / "plain.svg").read_bytes()
