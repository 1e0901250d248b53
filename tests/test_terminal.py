"""The terminal's tables fit the width, never cut a number or a name, and show what summary.csv holds.

A five-plan run (one plan identical to the reference, so its paired differences are exactly zero)
is printed at 60, 80 and 200 columns through the CLI, and its tables are checked against
summary.csv and differences.csv by parsing the printed numbers back (not by formatting them again
with the code under test).
"""

from __future__ import annotations

import copy
import io
import math
import re
from pathlib import Path
from typing import Any

import helpers
import pandas as pd
import pytest
from click.testing import CliRunner
from rich.console import Console
from rich.text import Text

import cjmsim
from cjmsim.cli import main, tables
from cjmsim.presentation import format as fmt

#: plan id -> name; the ids are strings that appear nowhere else in the output.
PLANS = {
    "qzref": "Reference plan, the base budget",
    "qzsame": "Identical copy of the reference plan",
    "qztriple": "Three times the budget, every channel",
    "qzthird": "A third of the budget",
    "qznone": "Nothing at all, no marketing",
}
WIDTHS = (60, 80, 200)


def five_plans() -> dict[str, Any]:
    """The funnel scenario with five named plans: the base, an identical copy, x3, x0.3 and nothing."""
    d = helpers.funnel_scenario()
    base = d["plans"].pop("base")["campaigns"]

    def scaled(f: float) -> list[dict[str, Any]]:
        camps = copy.deepcopy(base)
        for c in camps:
            c["weekly"] *= f
        return camps

    campaigns = {"qzref": base, "qzsame": copy.deepcopy(base), "qztriple": scaled(3), "qzthird": scaled(0.3)}
    d["plans"] = {pid: {"name": PLANS[pid], "campaigns": campaigns.get(pid, [])} for pid in PLANS}
    return d


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario file of the five plans, in a module-wide folder."""
    folder = tmp_path_factory.mktemp("terminal")
    path = folder / "five.toml"
    path.write_text(helpers.to_toml(five_plans()) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def printed(run_folder: Path) -> dict[int, str]:
    """`cjmsim run` (2,000 agents, 2 reps, 6 weeks, --segments) printed at each width."""
    out = {}
    for width in WIDTHS:
        res = CliRunner().invoke(
            main,
            ["run", str(run_folder / "five.toml"), "--agents", "2000", "--reps", "2", "--weeks", "6", "--segments",
             "--no-report", "--out", str(run_folder / f"out{width}")],
            env={"COLUMNS": str(width)},
        )  # fmt: skip
        assert res.exit_code == 0, res.output
        out[width] = res.output
    return out


@pytest.fixture(scope="module")
def result(run_folder: Path) -> cjmsim.Result:
    """The same run through the library (the same seed: the same numbers as the CLI's)."""
    return cjmsim.simulate(cjmsim.load_scenario(run_folder / "five.toml"), agents=2000, weeks=6, reps=2)


@pytest.mark.parametrize("width", WIDTHS)
def test_run_output_fits_the_width_and_cuts_nothing(printed: dict[int, str], width: int) -> None:
    lines = printed[width].splitlines()
    too_long = [line for line in lines if len(line.rstrip()) > width]
    assert not too_long, too_long[:3]
    assert "\u2026" not in printed[width]
    assert "Paired differences from Reference plan, the base budget" in " ".join(printed[width].split())
    # the last line (agents x weeks x plans x reps; results in FOLDER/) wraps inside the width too
    assert "results in" in " ".join(printed[width].split())


@pytest.mark.parametrize("width", WIDTHS)
def test_every_number_and_name_is_printed_whole(result: cjmsim.Result, width: int) -> None:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(tables.run_tables(result, width, segments=True))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width
    grids = [tables.incremental_grid(result), tables.totals_grid(result), tables.differences_grid(result)]
    atoms = {Text.from_markup(a).plain for g in grids if g is not None for row in g.cells for c in row for grp in c
             for a in grp}  # fmt: skip
    lines = text.splitlines()
    for atom in atoms:  # each number (with its unit, sign and marker) on one line, uncut
        assert any(atom in line for line in lines), (width, atom)
    words = set(text.split())
    for pid, name in PLANS.items():
        assert set(name.split()) <= words, name  # wrapped at spaces, never cut
        assert pid not in text  # names, not ids


def test_incremental_table_first_then_totals_then_differences(printed: dict[int, str]) -> None:
    text = printed[200]
    inc = text.index("Incremental over no marketing")
    tot = text.index("Totals, including orders that would come anyway")
    diff = text.index("Paired differences from")
    assert inc < tot < diff
    # --segments: the same two tables for each segment, after the differences
    assert text.count("Incremental over no marketing") == 3 and text.count("Totals, including") == 3


def _cells(line: str) -> list[str]:
    """The cells of a printed row (after its label): columns are two or more spaces apart."""
    return re.split(r"\s{2,}", line.strip())[1:]


_NUMBER = re.compile(r"^([+-]?)([\d,]+(?:\.(\d+))?)( bn| M|%)?$")


def _parse(text: str) -> tuple[float, float]:
    """A printed number back to its value, and half a unit of its last digit (its rounding)."""
    m = _NUMBER.match(text.strip())
    assert m, text
    sign, digits, decimals, unit = m.groups()
    scale = {" bn": 1e9, " M": 1e6, "%": 0.01, None: 1.0}[unit]
    value = float(digits.replace(",", "")) * scale * (-1 if sign == "-" else 1)
    return value, 0.5 * 10 ** -len(decimals or "") * scale


def _row(text: str, label: str) -> list[str]:
    return _cells(next(line for line in text.splitlines() if line.startswith(label)))


@pytest.mark.parametrize(
    ("label", "column"),
    [("Orders  ", "orders"), ("Revenue, RUB", "revenue"), ("CPO, RUB", "cpo"), ("ROMI, %", "romi"),
     ("Spend, RUB", "spend"), ("Incremental orders", "inc_orders"), ("iROMI, %", "iromi")],
)  # fmt: skip
def test_cells_are_the_summary_values(printed: dict[int, str], run_folder: Path, label: str, column: str) -> None:
    summary = pd.read_csv(run_folder / "out200" / "summary.csv")
    totals = summary[summary.segment == "all"].set_index("plan")
    cells = _row(printed[200], label)  # at 200 columns: one table, one line a row, plans in file order
    assert len(cells) == len(PLANS)
    for pid, cell in zip(PLANS, cells, strict=True):
        want = totals.loc[pid, column]
        if not math.isfinite(want):
            assert cell == fmt.DASH, (pid, cell)
            continue
        value, *ci = cell.split(" \u00b1 ")
        got, rounding = _parse(value)
        assert abs(got - want) <= rounding * (1 + 1e-9), (pid, cell, want)
        lo, hi = totals.loc[pid, f"{column}_ci_low"], totals.loc[pid, f"{column}_ci_high"]
        if ci:
            half, rounding = _parse(ci[0])
            assert abs(half - (hi - lo) / 2) <= rounding * (1 + 1e-9), (pid, cell, lo, hi)
        else:
            assert not hi > lo, (pid, cell)  # no half-width printed only where the CI has no width


def test_romi_is_a_percentage_everywhere(printed: dict[int, str]) -> None:
    for width, text in printed.items():
        lines = [line for line in text.splitlines() if line.startswith(("ROMI", "iROMI"))]
        assert len(lines) >= 6, width  # all segments, a and b; incremental and totals
    for cell in _row(printed[200], "ROMI, %") + _row(printed[200], "iROMI, %"):
        assert cell == fmt.DASH or cell.split(" \u00b1 ")[0].endswith("%"), cell


def test_significance_marker_only_where_the_paired_ci_excludes_zero(result: cjmsim.Result) -> None:
    d = result.differences
    same = d[(d.plan == "qzsame") & (d.segment == "all") & d.metric.isin(tables.DIFFERENCE_METRICS[0])]
    assert len(same) == len(tables.DIFFERENCE_METRICS[0])
    assert (same["diff"] == 0).all() and (same.diff_ci_low == 0).all()  # identical plan: exactly no difference
    grid = tables.differences_grid(result)
    assert grid is not None
    others = [p for p in result.plans if p != result.reference]
    shown = tables.DIFFERENCE_METRICS[0]
    assert [Text.from_markup(r[0]).plain.split(",")[0] for r in grid.rows] == [
        cjmsim.scenario.metrics.metric(m).label for m in shown
    ]
    marked = 0
    rows = d[d.segment == "all"].set_index(["plan", "metric"])
    for i, m in enumerate(shown):
        for j, plan in enumerate(others):
            first = grid.cells[i][j][0][0]
            lo, hi = rows.loc[(plan, m), "diff_ci_low"], rows.loc[(plan, m), "diff_ci_high"]
            excludes = lo > 0 or hi < 0
            assert first.endswith("*") == excludes, (plan, m, first, lo, hi)
            marked += excludes
    assert marked > 0  # three times the budget, and nothing at all, differ from the base for sure
    assert all(not grid.cells[i][others.index("qzsame")][0][0].endswith("*") for i in range(len(shown)))
    assert any("excludes zero" in note for note in grid.notes)


def test_one_replication_says_there_are_no_cis(run_folder: Path) -> None:
    res = CliRunner().invoke(
        main,
        ["run", str(run_folder / "five.toml"), "--agents", "500", "--weeks", "3", "--no-report",
         "--out", str(run_folder / "one")],
        env={"COLUMNS": "80"},
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "one replication: no CIs; use --reps 3 or more to compare plans" in text
    assert "\u00b1" not in res.output and "*" not in res.output


def test_without_baseline_totals_are_plain_totals(run_folder: Path) -> None:
    res = CliRunner().invoke(
        main,
        ["run", str(run_folder / "five.toml"), "--agents", "500", "--weeks", "3", "--reps", "2", "--no-baseline",
         "--no-report", "--out", str(run_folder / "nobase")],
        env={"COLUMNS": "80"},
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Incremental over no marketing" not in res.output and "iCPO" not in res.output
    assert "Totals." in " ".join(res.output.split())
    assert _cells(next(line for line in res.output.splitlines() if line.startswith("CPO, RUB")))  # differences: CPO


# ---- the formatter and the fitter


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((4.79e9, 4.26e9, 5.32e9, "m"), ("4.79 bn", "\u00b1 0.53 bn")),  # the example
        ((58_200, 56_294, 60_106, "n"), ("58,200", "\u00b1 1,906")),
        ((2_260_125, 2_194_370, 2_325_880, "n"), ("2.26 M", "\u00b1 0.07 M")),
        ((5.25e9, 5.2484e9, 5.2516e9, "m"), ("5.25 bn", "\u00b1 0.002 bn")),  # a half-width never rounds to 0
        ((5e5, -1.6e6, 2.6e6, "m"), ("0.50 M", "\u00b1 2.10 M")),  # in the unit of the larger
        ((4.141, -0.476, 8.758, "p"), ("414%", "\u00b1 462%")),
        ((0.009, 0.008, 0.010, "p"), ("0.90%", "\u00b1 0.10%")),
        ((12.34, 12.0, 12.68, "m"), ("12.34", "\u00b1 0.34")),
        ((3e6, 3e6, 3e6, "n"), ("3.00 M", "")),  # no interval: no half-width
        ((math.nan, 1.0, 2.0, "n"), (fmt.DASH, "")),
    ],
)
def test_terminal_ci(args: tuple[Any, ...], expected: tuple[str, str]) -> None:
    assert fmt.terminal_ci(*args) == expected


def test_terminal_differences_and_ratios() -> None:
    assert fmt.terminal_diff(0.0, 0.0, 0.0, "n") == ("0", "\u00b1 0")  # no +0, and a zero-width CI shown
    assert fmt.terminal_diff(-1234.4, -2000.0, -500.0, "n") == ("-1,234", "\u00b1 750")
    assert fmt.terminal_diff(1.2e6, 1.1e6, 1.3e6, "m") == ("+1.20 M", "\u00b1 0.10 M")
    assert fmt.terminal_ratio(1.1312, 1.1241, 1.1370) == ("\u00d71.131", "[1.124, 1.137]")
    assert fmt.terminal_ratio(math.nan, 1.0, 2.0) == (fmt.DASH, "")


@pytest.mark.parametrize("width", [30, 40, 60, 80, 120])
def test_fit_splits_a_wide_grid_and_repeats_the_key_columns(width: int) -> None:
    cols = [f"Plan number {i} with a long name" for i in range(7)]
    cells = [[[[f"{1_174_638_123 + i:,}", f"[dim]\u00b1 {2_700_000 + i:,}[/]"]] for i in range(7)] for _ in range(3)]
    rows = [["Revenue, RUB"], ["Conversion (aware -> customer), %"], ["Time to purchase, median, weeks"]]
    grid = tables.Grid("[bold]A title[/] that is long enough to wrap on a narrow terminal", ["Metric"], rows, cols,
                       cells, ["a note"])  # fmt: skip
    console = Console(file=io.StringIO(), width=width, color_system=None)
    for part in tables.fit(grid, width):
        console.print(part)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    lines = text.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= width
    assert "\u2026" not in text
    for i in range(7):
        assert any(f"{1_174_638_123 + i:,}" in line for line in lines), i
        assert any(f"\u00b1 {2_700_000 + i:,}" in line for line in lines), i
    parts = text.count("A title")
    assert text.count("Metric") == parts  # the key column repeated in every table
    assert (parts > 1) == (width < 200)
    assert "a note" in text


def test_fit_without_a_width_is_one_table_with_one_line_rows() -> None:
    grid = tables.Grid("T", ["Metric"], [["Orders"]], ["a", "b"], [[[["1,000", "\u00b1 10"]], [["2,000"]]]])
    console = Console(file=io.StringIO(), width=1000, color_system=None)
    for part in tables.fit(grid):
        console.print(part)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "1,000 \u00b1 10" in text and text.count("T") == 1


def test_sweep_and_attribution_tables_fit(tmp_path: Path) -> None:
    from cjmsim.analyses.attribution import attribute

    sc = cjmsim.parse_scenario(five_plans(), source="five")
    attr = attribute(sc, "qztriple", reps=2, agents=500, weeks=3, shapley="none")
    for width in (60, 80):
        console = Console(file=io.StringIO(), width=width, color_system=None)
        console.print(tables.attribution_table(attr, sc, width))
        text = console.file.getvalue()  # type: ignore[attr-defined]
        assert max(len(line.rstrip()) for line in text.splitlines()) <= width and "\u2026" not in text
        assert "Three times the budget" in " ".join(text.split()) and "qztriple" not in text
    exp = tmp_path / "exp.toml"
    (tmp_path / "five.toml").write_text(helpers.to_toml(five_plans()) + "\n", encoding="utf-8")
    exp.write_text(
        '[experiment]\nname = "Budget"\nscenario = "five.toml"\nplans = ["qzref", "qztriple"]\nreps = 2\n'
        'agents = 500\nseed = 3\n\n[[parameters]]\nname = "budget"\nbudget = ["*"]\nvalues = [0.5, 1.0]\n',
        encoding="utf-8",
    )
    res = CliRunner().invoke(main, ["sweep", str(exp), "--no-report", "--out", str(tmp_path / "sw")],
                             env={"COLUMNS": "80"})  # fmt: skip
    assert res.exit_code == 0, res.output
    assert max(len(line.rstrip()) for line in res.output.splitlines()) <= 80 and "\u2026" not in res.output
    assert "ROMI, %" in res.output and "Reference plan" in res.output and "qzref" not in res.output
