"""Hardening (issue 11): limits checked before any work, and the optimizer's semantics.

- Optimizer settings a search cannot mean (a zero or infinite budget, a NaN or infinite orders
  floor, infinite or NaN bounds) are refused by the library (``ArgumentError``) and the CLI (exit 2).
- A search with no feasible candidate raises ``InfeasibleError``; the CLI exits 3 and writes no
  folder and no plan.toml.
- Work too large for the machine is refused before any simulation with "needs about N GB of
  memory; ...": exact Shapley values over too many channels, too many agents for the available
  memory (the reader is monkeypatched: nothing big is allocated), too many decision variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_optimize import two_channels

from cjmsim import parse_scenario
from cjmsim.analyses.optimize import InfeasibleError, optimize
from cjmsim.cli import main
from cjmsim.scenario import ArgumentError

FAST = [
    *("--agents", "500", "--evaluations", "6", "--final-reps", "2"),
    *("--split", "none", "--no-curves", "--workers", "1"),
]


def _cli(path: Path, *args: str) -> Any:
    return CliRunner().invoke(main, [*args[:1], str(path), *args[1:], "--out", "o", "--quiet"])


# --- optimizer semantics ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--budget", "0"], "--budget 0: must be a finite amount above 0"),
        (["--budget", "inf"], "--budget inf: must be a finite amount above 0"),
        (["--min-orders", "nan"], "--min-orders nan: must be a finite number of orders"),
        (["--min-orders", "inf"], "--min-orders inf: must be a finite number of orders"),
        (["--bounds", "0,inf"], "--bounds (0, inf): need 0 <= low <= 1 <= high, both finite"),
        (["--bounds", "nan,2"], "--bounds (nan, 2): need 0 <= low <= 1 <= high, both finite"),
    ],
)
def test_meaningless_optimizer_settings_exit_2(write_toml: Any, args: list[str], needle: str) -> None:
    res = _cli(write_toml(two_channels()), "optimize", "--plan", "base", *args)
    assert res.exit_code == 2, res.output
    assert needle in res.output
    assert not Path("o").exists()


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"budget": 0.0}, "budget"),
        ({"budget": float("inf")}, "budget"),
        ({"min_orders": float("nan")}, "min_orders"),
        ({"min_orders": float("inf")}, "min_orders"),
        ({"bounds": (0.0, float("inf"))}, "bounds"),
        ({"bounds": (float("nan"), 2.0)}, "bounds"),
    ],
)
def test_meaningless_optimizer_settings_raise_argument_errors(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(ArgumentError) as err:
        optimize(parse_scenario(two_channels()), "base", **kwargs)
    assert err.value.argument == argument


def test_an_impossible_orders_floor_raises_infeasible_error() -> None:
    with pytest.raises(InfeasibleError) as err:
        optimize(
            parse_scenario(two_channels()), "base", min_orders=1e9, agents=500, evaluations=6,
            final_reps=2, split="none", curves=False, workers=1,
        )  # fmt: skip
    assert "no feasible candidate" in str(err.value)
    assert "below the orders floor of 1,000,000,000" in str(err.value)
    assert err.value.floor == 1e9 and len(err.value.trace) >= 1 and not err.value.trace.feasible.any()


def test_an_infeasible_search_exits_3_and_writes_no_plan(write_toml: Any) -> None:
    res = _cli(write_toml(two_channels()), "optimize", "--plan", "base", "--min-orders", "1e9", *FAST)
    assert res.exit_code == 3, res.output
    assert res.output.startswith("infeasible: ") and "no optimized plan was made" in res.output
    assert "Traceback" not in res.output
    assert not Path("o").exists()  # no folder, no plan.toml, no plan named "optimized"


def test_optimize_help_documents_the_exit_status() -> None:
    res = CliRunner().invoke(main, ["optimize", "--help"])
    assert "3 no feasible allocation" in " ".join(res.output.split())


# --- limits before work -----------------------------------------------------------------------


def _many_channels(n: int) -> dict[str, Any]:
    data = two_channels()
    chan = data["channels"]["a"]
    data["channels"] = {f"c{i}": dict(chan) for i in range(n)}
    data["segments"]["s"]["odds"] = {}
    data["plans"] = {"p": {"campaigns": [{"channel": f"c{i}", "weekly": 100.0} for i in range(n)]}}
    return data


def test_exact_shapley_over_40_channels_is_refused_before_any_run(write_toml: Any) -> None:
    from cjmsim.analyses.attribution import attribute

    with pytest.raises(ArgumentError) as err:
        attribute(parse_scenario(_many_channels(40)), "p", shapley="exact")
    assert err.value.argument == "shapley" and "needs about" in str(err.value)
    res = _cli(write_toml(_many_channels(40)), "attribute", "--plan", "p", "--shapley", "exact")
    assert res.exit_code == 2, res.output
    assert "--shapley 'exact' over 40 channels (1,099,511,627,776 coalitions" in res.output
    assert "GB of memory;" in res.output and "use --shapley sampled" in res.output
    assert not Path("o").exists()


def test_more_agents_than_memory_is_refused_before_any_run(write_toml: Any, monkeypatch: Any) -> None:
    from cjmsim.analyses import simulate as simulate_module

    monkeypatch.setattr(simulate_module, "available_memory", lambda: 50_000_000)  # 50 MB
    path = write_toml(two_channels())
    with pytest.raises(ArgumentError) as err:
        simulate_module.simulate(parse_scenario(two_channels()), agents=1_000_000)
    assert err.value.argument == "agents"
    res = _cli(path, "run", "--agents", "1000000")
    assert res.exit_code == 2, res.output
    # 100 bytes an agent, and 80 more for the copy of the warm-up's world its plan and no marketing share
    assert "--agents 1,000,000: needs about 0.18 GB of memory" in res.output and "use fewer agents" in res.output
    res = _cli(path, "run", "--agents", "1000000", "--no-baseline")  # one run: no copy
    assert res.exit_code == 2 and "needs about 0.10 GB of memory" in res.output, res.output
    res = _cli(path, "attribute", "--agents", "300000", "--workers", "2")
    assert res.exit_code == 2 and "x 2 processes at once" in res.output, res.output
    res = _cli(write_toml(two_channels()), "optimize", "--plan", "base", "--final-agents", "1000000")
    assert res.exit_code == 2 and "--agents 1,000,000: needs about" in res.output, res.output
    assert not Path("o").exists()
    res = _cli(path, "run", "--agents", "1000")  # small runs are never refused
    assert res.exit_code == 0, res.output


def test_the_event_log_counts_in_the_estimate(monkeypatch: Any) -> None:
    from cjmsim.analyses import simulate as simulate_module

    monkeypatch.setattr(simulate_module, "available_memory", lambda: 150_000_000)
    simulate_module.check_memory(1_000_000)  # 0.1 GB: fits
    with pytest.raises(ArgumentError, match="and the event log"):
        simulate_module.check_memory(1_000_000, weeks=52, events=True)


def test_too_many_decision_variables_are_refused_before_any_run(write_toml: Any) -> None:
    data = _many_channels(2)
    data["plans"]["p"]["campaigns"] *= 50  # 100 campaigns x 1 segment x stages x 52 periods
    with pytest.raises(ArgumentError) as err:
        optimize(parse_scenario(data), "p", periods=52)
    assert err.value.argument == "split"
    res = _cli(write_toml(data), "optimize", "--plan", "p", "--periods", "52")
    assert res.exit_code == 2, res.output
    assert "decision variables (campaigns x cells x periods) needs about" in res.output
    assert "at most 5,000: use --split none or fewer --periods" in res.output
