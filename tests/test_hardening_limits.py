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
