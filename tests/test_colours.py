"""A plan keeps its colour everywhere: in the charts of a run, a sweep, an attribution and an optimization.

The colour follows the plan's position in the scenario's plan order, not its position in the list a
chart happens to draw: the sweep here runs a reordered subset of the plans, the attribution one
plan, the optimizer a base plan, its optimized plan and a compared one. Each check reads the
colour off the drawn artists, so a chart that went back to positional colours fails it.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import helpers
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from cjmsim import parse_scenario, simulate
from cjmsim.analyses.attribution import attribute
from cjmsim.analyses.optimize import Optimization, optimize
from cjmsim.analyses.sweep import SweepResult, run_sweep
from cjmsim.presentation import style
from cjmsim.presentation.charts import attribution as attribution_charts
from cjmsim.presentation.charts import optimize as optimize_charts
from cjmsim.presentation.charts import run as run_charts
from cjmsim.presentation.charts import sweep as sweep_charts
from cjmsim.scenario import Scenario

MINIMAL = Path(__file__).resolve().parents[1] / "scenarios" / "minimal.toml"
PLAN = "half"  # third in the scenario's order: drawn first by the sweep, alone by the attribution


def _data() -> dict[str, Any]:
    """The tutorial scenario with four plans: none, search_and_email, half and double (its budget x0.5, x2)."""
    d = tomllib.loads(MINIMAL.read_text(encoding="utf-8"))
    helpers.scaled_plan(d, "search_and_email", 0.5, "half")
    helpers.scaled_plan(d, "search_and_email", 2.0, "double")
    d["scenario"]["agents"] = 2000
    return d


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return parse_scenario(_data())


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    folder = tmp_path_factory.mktemp("colours")
    (folder / "scenario.toml").write_text(helpers.to_toml(_data()) + "\n", encoding="utf-8")
    path = folder / "experiment.toml"
    path.write_text(
        f"""
[experiment]
name = "Colours"
scenario = {json.dumps((folder / "scenario.toml").as_posix())}
plans = ["{PLAN}", "none", "double"]  # a subset, in another order than the scenario's
reps = 2
agents = 2000
weeks = 12

[[parameters]]
name = "budget"
budget = ["*"]
values = [0.5, 1.0]
""",
        encoding="utf-8",
    )
    return run_sweep(path)


@pytest.fixture(scope="module")
def optimization(scenario: Scenario) -> Optimization:
    return optimize(
        scenario,
        PLAN,
        "min-cpo",
        agents=2000,
        evaluations=6,
        workers=1,
        final_reps=2,
        final_agents=2000,
        split="none",
        curves=False,
        compare=["none"],
    )


def _legend(fig: Figure) -> dict[str, str]:
    """Each legend entry's label -> its colour, over the figure's legends and its axes'."""
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
    out = {}
    for leg in legends:
        for handle, text in zip(leg.legend_handles, leg.get_texts(), strict=True):
            colour = handle.get_facecolor() if isinstance(handle, Patch) else handle.get_color()  # type: ignore[union-attr]
            out[text.get_text()] = to_hex(colour)
    return out


def _bars(fig: Figure, panel: int) -> list[str]:
    """The colours of a panel's bars, in drawing order."""
    return [to_hex(p.get_facecolor()) for p in fig.axes[panel].patches if isinstance(p, Rectangle)]


def test_the_colour_is_the_scenario_position_whatever_a_chart_draws(scenario: Scenario) -> None:
    assert list(scenario.plans) == ["none", "search_and_email", PLAN, "double"]
    want = style.plan_colours(scenario.plans)
    assert want == dict(zip(scenario.plans, style.PLAN_COLOURS, strict=False))
    # drawn alone, first, or with plans from outside the scenario: the same colour
    assert style.plan_colours(scenario.plans, extra=[PLAN])[PLAN] == style.PLAN_COLOURS[2]
    extra = style.plan_colours(scenario.plans, extra=["new_optimized", PLAN])
    assert extra["new_optimized"] == style.PLAN_COLOURS[4] and extra[PLAN] == style.PLAN_COLOURS[2]
    # an internal plan of an analysis (the sweep's warm-up) takes no scenario plan's place
    assert style.plan_colours(["__warmup__", *scenario.plans])[PLAN] == style.PLAN_COLOURS[2]


def test_run_sweep_attribution_and_optimizer_charts_give_a_plan_one_colour(
    scenario: Scenario, sweep: SweepResult, optimization: Optimization
) -> None:
    colour = style.PLAN_COLOURS[2]  # the plan's place in the scenario: third
    # a run of a subset of the plans, in another order than the scenario's (`--plan half --plan none
    # --plan double`): the result keeps the scenario's plan order for the colours
    result = simulate(scenario, [PLAN, "none", "double"], reps=1)
    assert result.plans == [PLAN, "none", "double"] and list(result.scenario.plans) != list(scenario.plans)
    assert _legend(run_charts.funnel(result))[PLAN] == colour
    assert _legend(run_charts.funnel(result))["double"] == style.PLAN_COLOURS[3]
    assert _legend(run_charts.stage_occupancy(result))["No marketing"] == style.PLAN_COLOURS[0]

    # the sweep draws the plans as the experiment lists them: half first
    for fig in [*sweep_charts.response_curves(sweep), sweep_charts.plan_ranking(sweep)]:
        legend = _legend(fig)
        assert legend[PLAN] == colour and legend["No marketing"] == style.PLAN_COLOURS[0], fig.get_suptitle()
        assert legend[PLAN] == colour and legend["double"] == style.PLAN_COLOURS[3], fig.get_suptitle()

    # the attribution of one plan: the plan's total bar, last, in the plan's colour
    attr = attribute(scenario, PLAN, reps=2, agents=2000)
    assert _bars(attribution_charts.waterfall(attr, scenario=scenario), 0)[-1] == colour

    # the optimizer: base plan, optimized plan (the next colour after the scenario's four), compared plan
    opt = optimization
    optimized = style.PLAN_COLOURS[len(scenario.plans)]
    orders = _bars(optimize_charts.plan_comparison(opt), 1)  # every plan has orders: one bar each, in order
    assert list(opt.final.plans) == [PLAN, opt.plan_name, "none"]
    assert orders == [colour, optimized, style.PLAN_COLOURS[0]]
    allocation = _legend(optimize_charts.allocation(opt))
    assert allocation["base"] == colour and allocation["optimized"] == optimized
    convergence = _legend(optimize_charts.convergence(opt))
    assert convergence["feasible"] == optimized and convergence["start: the base allocation"] == colour
