"""Persona check: ``run`` and ``validate`` warn when a segment's simulated median time to purchase
falls outside its ``time_before_purchase_weeks``, naming the segment and the plan."""

from __future__ import annotations

import math
import re
from typing import Any

import helpers
import numpy as np
import pytest
from click.testing import CliRunner

import cjmsim.analyses.simulate
from cjmsim import parse_scenario, simulate
from cjmsim.analyses.metrics import ttp_against_stated
from cjmsim.cli import main
from cjmsim.presentation import persona
from cjmsim.presentation.reports.run import render_report

WEEKS = 52


def scenario(slow_name: str = "Slow buyer") -> dict[str, Any]:
    """Two segments starting unaware, one plan: ``slow`` states 1-2 weeks but needs three moves at a
    weekly 0.05 each after awareness (so a median of at least 3 weeks, one move a week: never inside),
    ``fast`` states 0-52 weeks (every median in the horizon is inside)."""
    start = {"unaware": 1.0}
    slow = helpers.segment(
        slow_name,
        0.5,
        initial=start,
        base={"aware": 0.2, "interest": 0.05, "desire": 0.05, "purchase": 0.05},
        drop={"aware": 0.0, "interest": 0.0, "desire": 0.0},
        time_before_purchase_weeks=[1, 2],
    )
    fast = helpers.segment(
        "Fast buyer",
        0.5,
        initial=start,
        base={"aware": 0.2, "interest": 0.9, "desire": 0.9, "purchase": 0.9},
        time_before_purchase_weeks=[0, WEEKS],
    )
    return {
        "scenario": {"name": "Personas", "weeks": WEEKS, "population": 10_000, "agents": 4_000, "seed": 3},
        "segments": {"slow": slow, "fast": fast},
        "plans": {"none": {"name": "No marketing", "campaigns": []}},
    }


def test_the_warning_names_the_segment_outside_its_range_and_the_plan() -> None:
    r = simulate(parse_scenario(scenario()), baseline=False)
    facts = ttp_against_stated(r.ttp, r.scenario.segments, r.plans).set_index("segment")
    assert facts.loc["slow", "median_weeks"] >= 3 and facts.loc["fast", "median_weeks"] <= WEEKS
    found = persona.warnings(r)
    assert [w.segment for w in found] == ["slow"] and found[0].plans == ["none"]
    text = found[0].text()
    assert "\u201cSlow buyer\u201d" in text and "\u201cNo marketing\u201d" in text and "Fast buyer" not in text
    assert f"{facts.loc['slow', 'median_weeks']:.0f} weeks in plan" in text and "stated 1\u20132 weeks" in text
    assert f"{WEEKS}-week horizon" in text and "one run at 4,000 agents" in text
    # the report says the same words
    html = render_report(r, [])
    assert "takes a simulated median of" in html and "Slow buyer" in html


def test_no_warning_when_every_segment_is_inside_its_range() -> None:
    data = scenario()
    data["segments"]["slow"]["time_before_purchase_weeks"] = [0, WEEKS]
    assert persona.warnings(simulate(parse_scenario(data), baseline=False)) == []


def test_run_warns_on_stderr_with_the_segment_escaped(write_toml, tmp_path) -> None:
    path = write_toml(scenario("[red]Slow[/red] <b>"))
    res = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "o"), "--no-report", "--quiet"])
    assert res.exit_code == 0, res.output
    err = res.stderr
    assert err.count("warning: ") == 1 and "warning: segment \u201c[red]Slow[/red] <b>\u201d" in err
    assert "Fast buyer" not in err and "No marketing" in " ".join(err.split())
    assert max(len(line) for line in err.splitlines()) <= 80  # wrapped to the (test) terminal's width


def test_validate_warns_after_ok_and_exits_0(write_toml) -> None:
    path = write_toml(scenario("[bold]Slow[/bold]"))
    res = CliRunner().invoke(main, ["validate", str(path)])
    assert res.exit_code == 0, res.output
    assert ": ok: " in res.stdout and "warning" not in res.stdout
    assert re.search(r"warning: segment \u201c\[bold\]Slow\[/bold\]\u201d", res.stderr)
    assert "one run at 4,000 agents" in " ".join(
        res.stderr.split()
    )  # the scenario's agents, fewer than the check's cap


def test_validate_caps_the_check_at_its_agents(write_toml, monkeypatch: pytest.MonkeyPatch) -> None:
    data = scenario()
    data["scenario"]["agents"] = 1_000_000
    seen: dict[str, Any] = {}
    real = cjmsim.analyses.simulate.simulate

    def spy(sc: Any, *args: Any, **kw: Any) -> Any:
        seen.update(kw)
        return real(sc, *args, **kw)

    monkeypatch.setattr(cjmsim.analyses.simulate, "simulate", spy)
    res = CliRunner().invoke(main, ["validate", str(write_toml(data))])
    assert res.exit_code == 0, res.output
    assert seen == {"agents": 20_000, "reps": 1, "baseline": False}
    assert "one run at 20,000 agents" in " ".join(res.stderr.split())


def _refuse(*args: Any, **kw: Any) -> Any:
    raise AssertionError("validate simulated")


def test_validate_no_check_simulates_nothing(write_toml, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cjmsim.analyses.simulate, "simulate", _refuse)
    res = CliRunner().invoke(main, ["validate", str(write_toml(scenario())), "--no-check"])
    assert res.exit_code == 0, res.output
    assert ": ok: " in res.stdout and res.stderr == ""


def test_validate_simulates_nothing_when_no_segment_states_a_time(write_toml, monkeypatch) -> None:
    data = scenario()
    for seg in data["segments"].values():
        del seg["time_before_purchase_weeks"]
    monkeypatch.setattr(cjmsim.analyses.simulate, "simulate", _refuse)
    res = CliRunner().invoke(main, ["validate", str(write_toml(data))])
    assert res.exit_code == 0, res.output
    assert res.stderr == ""


def test_the_median_interval_is_the_textbook_order_statistics() -> None:
    # n = 100: the distribution-free 95% interval of the median is x_(40)..x_(61) (Conover,
    # Practical Nonparametric Statistics, table A3); one agent a week puts x_(k) at week k - 1
    assert persona.median_interval(np.ones(100)) == (39.0, 60.0)
    hist = np.zeros(10)
    hist[5] = 100
    assert persona.median_interval(hist) == (5.0, 5.0)
    assert persona.median_interval(np.ones(5)) == (-math.inf, math.inf)  # 5 orders bound nothing at 95%
    assert persona.median_interval(np.zeros(3)) == (-math.inf, math.inf)


def test_a_median_of_a_few_first_orders_is_no_alarm_but_the_report_lists_it() -> None:
    data = scenario()
    data["scenario"]["agents"] = 10  # 5 slow agents: at most 5 first orders, an unbounded interval
    data["segments"]["slow"]["base"].update(interest=0.3, desire=0.3, purchase=0.3)
    r = simulate(parse_scenario(data), baseline=False)
    assert r.ttp[(r.ttp.segment == "slow")].customers.sum() > 0  # it has a median (seeded)
    assert persona.warnings(r) == []
    listed = persona.warnings(r, clear=False)
    assert [w.segment for w in listed] == ["slow"] and "95% interval unbounded" in listed[0].finding
