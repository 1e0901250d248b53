"""The public Python API, and a smoke test of every shipped scenario through the command line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import cjmsim
from cjmsim.cli import main

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SCENARIO_FILES = sorted(SCENARIOS.glob("*.toml"))


def test_public_names_pinned():
    assert cjmsim.__all__ == [
        "Result",
        "Scenario",
        "ScenarioError",
        "__version__",
        "load_scenario",
        "parse_scenario",
        "simulate",
        "sweep",
    ]
    assert cjmsim.__all__ == sorted(cjmsim.__all__)
    for name in cjmsim.__all__:
        assert hasattr(cjmsim, name), name
    assert isinstance(cjmsim.__version__, str) and cjmsim.__version__
    assert issubclass(cjmsim.ScenarioError, ValueError)


def test_api_on_a_dict(minimal):
    sc = cjmsim.parse_scenario(minimal)
    res = cjmsim.simulate(sc, agents=500, weeks=4, seed=3, reps=2)
    assert isinstance(res, cjmsim.Result)
    for table in (res.summary, res.weekly, res.per_rep, res.totals()):
        assert isinstance(table, pd.DataFrame) and not table.empty
    assert (res.agents, res.weeks, res.seed, res.reps) == (500, 4, 3, 2)
    assert res.plans == ["none"]
    assert list(res.totals().index) == ["none"]
    # overrides are applied to the scenario the result carries, not to the one passed in
    assert res.scenario.scenario.agents == 500
    assert sc.scenario.agents == minimal["scenario"]["agents"]


def test_progress_callback_counts_weeks(funnel):
    funnel["scenario"].update(warmup_weeks=3, warmup_plan="base")
    ticks: list[int] = []
    cjmsim.simulate(cjmsim.parse_scenario(funnel), agents=500, weeks=5, reps=2, progress=ticks.append)
    # reps x (the shared warm-up + (plans + no marketing) x weeks)
    assert sum(ticks) == 2 * (3 + 2 * 5)
    ticks.clear()
    cjmsim.simulate(cjmsim.parse_scenario(funnel), agents=500, weeks=5, reps=2, progress=ticks.append, baseline=False)
    assert sum(ticks) == 2 * (3 + 5)  # reps x (warm-up + plans x weeks)
    ticks.clear()
    cjmsim.simulate(cjmsim.parse_scenario(funnel), agents=500, weeks=5, reps=2, progress=ticks.append, export=True)
    assert sum(ticks) == 2 * 2 * (5 + 3)  # exports follow every agent from the warm-up: a whole run per plan


def test_minimal_scenario_file():
    path = SCENARIOS / "minimal.toml"
    if not path.exists():
        pytest.skip("scenarios/minimal.toml is not in the repository")
    sc = cjmsim.load_scenario(path)
    res = cjmsim.simulate(sc, agents=2_000, weeks=4)
    assert isinstance(res.summary, pd.DataFrame) and isinstance(res.weekly, pd.DataFrame)
    assert set(res.summary.plan) == set(sc.plans)
    assert (res.summary.segment == "all").sum() == len(sc.plans)
    assert len(res.weekly) == len(sc.plans) * 4 * (len(sc.segments) + 1)


def test_scenarios_folder_has_files():
    assert (SCENARIOS / "hifi.toml").is_file()
    assert SCENARIO_FILES


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_shipped_scenario_validates_and_runs(path, tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["validate", str(path)])
    assert res.exit_code == 0, res.output
    assert "ok" in res.output
    out = tmp_path / "out"
    res = runner.invoke(main, ["run", str(path), "--weeks", "3", "--agents", "2000", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    summary = pd.read_csv(out / "summary.csv")
    sc = cjmsim.load_scenario(path)
    assert set(summary.plan) == set(sc.plans)
    weekly = pd.read_csv(out / "weekly.csv")
    assert sorted(weekly.week.unique()) == [0, 1, 2]
    assert (out / "metadata.json").is_file() and (out / "scenario.toml").is_file()
