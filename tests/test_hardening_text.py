"""Issue 11, hardening: text that leaves cjmsim is neutralised for where it goes.

CSV cells a spreadsheet would run get a leading quote; names printed on the terminal lose their
control characters and their rich markup stays literal; chart text is mathtext-safe and long
names are shortened; the optimizer's TOML block parses back whatever the plan's id and name.
"""

from __future__ import annotations

import copy
import csv
import re
from pathlib import Path
from typing import Any

import helpers
import pandas as pd
import pytest
from click.testing import CliRunner

from cjmsim.cli import main
from cjmsim.output import write_csv
from cjmsim.output.files import csv_text

#: Ids cannot start like a formula (the id grammar: a letter or digit first), so the hostile text that
#: reaches a CSV is free text: campaign names (the optimizer's variables.csv), sweep parameter names
#: (column headers) and level names (cells).
PLAN = "base"
NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def hostile_funnel() -> dict[str, Any]:
    """The funnel scenario (small) with every name, and every campaign's name, starting like a formula."""
    d = helpers.funnel_scenario()
    d["scenario"].update(agents=600, weeks=4, name="-scenario")
    for seg in d["segments"].values():
        seg["name"] = "=HYPERLINK(1)"
    d["channels"] = {k: dict(v, name="@SUM(1)") for k, v in d["channels"].items()}
    camps = copy.deepcopy(d["plans"]["base"]["campaigns"])
    for i, c in enumerate(camps):
        c["name"] = ("=HYPERLINK(2)", "-cmd", "+1+1", "@x")[i % 4]
    d["plans"] = {PLAN: {"name": "+plan", "campaigns": camps}}
    return d


def formula_cells(folder: Path) -> list[str]:
    """Every cell of every CSV under folder that a spreadsheet would run as a formula."""
    bad = []
    for f in sorted(folder.rglob("*.csv")):
        with f.open(encoding="utf-8", newline="") as fh:
            for row in csv.reader(fh):
                bad += [
                    f"{f.name}: {c}"
                    for c in row
                    if c[:1] in ("=", "+", "-", "@", "\t", "\r") and not NUMBER.fullmatch(c)
                ]
    return bad


def invoke(*args: object) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args])


# --------------------------------------------------------------------------------------------
# CSV formulas


def test_write_csv_quotes_formula_text_and_leaves_numbers(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "id": ["=1+1", "+x", "-y", "@z", "\tq", "ok", "-0.5", "3", None],
            "cat": pd.Categorical(["=c"] * 9),
            "text": pd.array(["-s"] * 9, dtype="string"),
            "n": [-1.0, 2, 3, 4, 5, 6, 7, 8, 9],
            "=col": range(9),
        }
    )
    write_csv(tmp_path / "t.csv", frame)
    back = pd.read_csv(tmp_path / "t.csv", keep_default_na=False)
    assert list(back["id"].astype(str)) == ["'=1+1", "'+x", "'-y", "'@z", "'\tq", "ok", "-0.5", "3", ""]
    assert set(back["cat"]) == {"'=c"} and set(back["text"]) == {"'-s"}
    assert list(back["n"]) == [-1.0, 2, 3, 4, 5, 6, 7, 8, 9]
    assert list(back.columns)[-1] == "'=col"
    assert list(frame["id"])[0] == "=1+1"  # the caller's frame is not changed
    assert csv_text("\rr") == "'\rr" and csv_text(-1.5) == -1.5 and csv_text("+1e5") == "+1e5"


def test_run_sweep_attribute_optimize_csvs_have_no_formulas(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(helpers.to_toml(hostile_funnel()) + "\n", encoding="utf-8")
    res = invoke(
        "run", path, "--quiet", "--no-report", "--export", "journeys,transactions,mmm", "--out", tmp_path / "r"
    )
    assert res.exit_code == 0, res.output
    exp = tmp_path / "e.toml"
    exp.write_text(
        f'[experiment]\nscenario = "{path.as_posix()}"\nreps = 1\nagents = 600\nweeks = 4\nseed = 3\n'
        '[[parameters]]\nname = "-cpc"\n'
        '[parameters.levels]\n"=cheap" = {"channels.search.cost.cpc" = 0.5}\n"@dear" = {}\n',
        encoding="utf-8",
    )
    res = invoke("sweep", exp, "--quiet", "--no-report", "--out", tmp_path / "w")
    assert res.exit_code == 0, res.output
    res = invoke(
        "attribute",
        path,
        f"--plan={PLAN}",
        "--reps",
        "1",
        "--shapley",
        "none",
        "--quiet",
        "--no-report",
        "--out",
        tmp_path / "a",
    )
    assert res.exit_code == 0, res.output
    opt = ["--split", "none", "--evaluations", "6", "--final-reps", "2", "--workers", "1", "--no-curves", "--quiet"]
    opt.append("--no-report")  # --split none: 6 evaluations are more than one search step (issue 12)
    res = invoke("optimize", path, f"--plan={PLAN}", *opt, "--out", tmp_path / "o")
    assert res.exit_code == 0, res.output
    for folder in "rwao":
        assert list((tmp_path / folder).rglob("*.csv")), folder
    assert formula_cells(tmp_path) == []
    # the hostile text is there, neutralised: a leading quote, as OWASP recommends
    campaigns = set(pd.read_csv(tmp_path / "o" / "variables.csv").campaign.str.split(":").str[0])
    assert "'=HYPERLINK(2)" in campaigns and "'-cmd" in campaigns
    sweep = pd.read_csv(tmp_path / "w" / "summary.csv")
    assert "'-cpc" in sweep.columns and set(sweep["'-cpc"]) == {"'=cheap", "'@dear"}


# --------------------------------------------------------------------------------------------
# the terminal: no control characters, rich markup shown as written

CLEAR, LINK = "\x1b[2J\x1b[31mRED\x1b]0;title\x07", "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\"


def test_run_prints_names_without_escapes_and_with_literal_markup(tmp_path: Path) -> None:
    d = helpers.funnel_scenario()
    d["scenario"].update(agents=500, weeks=3, name=f"{LINK} [bold]S[/bold]", currency="[/red]EUR")
    d["segments"]["a"]["name"] = "[link=https://evil.example]seg[/link]"
    d["plans"]["base"]["name"] = f"{CLEAR}[/red]P"
    path = tmp_path / "s.toml"
    text = helpers.to_toml(d).replace("\x1b", "\\u001b").replace("\x07", "\\u0007")
    path.write_text(text + "\n", encoding="utf-8")
    res = CliRunner().invoke(
        main, ["run", str(path), "--no-report", "--segments", "--out", str(tmp_path / "o")], env={"COLUMNS": "250"}
    )
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.output and "\x07" not in res.output
    for shown in (r"\x1b[2J\x1b[31mRED\x1b]0;title\x07[/red]P", "[bold]S[/bold]", "[/red]EUR",
                  "[link=https://evil.example]seg[/link]", r"\x1b]8;;https://evil.example\x1b\click"):  # fmt: skip
        assert shown in res.output, shown
    res = CliRunner().invoke(main, ["run", str(path), "--plan", CLEAR, "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "no such plan" in res.output
    assert "\x1b" not in res.output
    res = CliRunner().invoke(main, ["validate", str(path)])
    assert res.exit_code == 0 and "\x1b" not in res.output


# --------------------------------------------------------------------------------------------
# charts: '$' is a dollar, a long name is shortened

ROOT = Path(__file__).resolve().parent.parent
LONG = "Long plan " + "x" * 1990  # 2,000 characters


def charted_scenario(tmp_path: Path) -> Path:
    """The minimal scenario with a mathtext-breaking and a 2,000-character plan name, '$' elsewhere."""
    text = (ROOT / "scenarios" / "minimal.toml").read_text(encoding="utf-8")
    for old, new in (('"No marketing"', '"Save $x^$ now"'), ('"Search + e-mail"', f'"{LONG}"'),
                     ('"Paid search"', '"$paid^ search"'), ('"Casual listener"', '"$a_b$ casual"')):  # fmt: skip
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "charted.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_run_and_sweep_charts_draw_dollars_and_long_names(tmp_path: Path) -> None:
    import cjmsim
    from cjmsim.analyses.sweep import run_sweep
    from cjmsim.presentation.charts import all_charts, png_bytes
    from cjmsim.presentation.charts import sweep as sweep_charts

    path = charted_scenario(tmp_path)
    result = cjmsim.simulate(cjmsim.load_scenario(path), agents=500, weeks=4)
    exp = tmp_path / "exp.toml"
    exp.write_text(
        f'[experiment]\nscenario = "{path.as_posix()}"\nreps = 1\nagents = 500\nweeks = 4\nseed = 3\n'
        '[[parameters]]\nname = "$cpc^"\npath = "channels.search.cost.cpc"\nvalues = [20, 40]\n',
        encoding="utf-8",
    )
    charts = [*all_charts(result), *sweep_charts.all_charts(run_sweep(exp))]
    assert len(charts) >= 9
    for chart in charts:
        assert png_bytes(chart.figure)[:4] == b"\x89PNG", chart.slug  # drawn: layout and mathtext ran
        texts = [t.get_text() for t in chart.figure.findobj(lambda a: hasattr(a, "get_text"))]
        assert max(map(len, texts)) < 500, chart.slug
    assert any("Save \\$x^\\$ now" in t for c in charts for t in [c.title, *map(str, c.figure.texts)])


# --------------------------------------------------------------------------------------------
# TOML written back: the optimizer's plan block parses whatever the id and names


@pytest.mark.parametrize(
    ("plan_id", "name"),
    [
        ("base_optimized", "Base, optimized"),
        ("my plan", 'Quote " back\\slash'),
        ('x]\n[scenario]\nname = "pwned', "line\nbreak\x1b[2J\x07\ttab\x7f\x85 \u00e9 $x$"),
        ("план.цены", "[plans.other]"),
    ],
)
def test_plan_toml_round_trips(plan_id: str, name: str) -> None:
    import tomllib
    from types import SimpleNamespace

    from cjmsim.analyses.optimize.result import plan_toml

    campaigns = [
        {"name": f"{name} #1", "channel": "search", "weekly": 1200.0, "segments": ["a", name]},
        {"name": "E-mail", "channel": "email", "weekly": 0.0, "flights": [[0, 2], [4, 6]]},
    ]
    comparison = pd.DataFrame(
        {"versus": ["b\na"] * 3, "metric": ["orders", "cpo", "spend"], "relative": [0.1, -0.05, 0.0]}
    )
    plans = {plan_id: SimpleNamespace(name=name)}
    opt = SimpleNamespace(
        settings={"variables": 2, "split": "none", "periods": 1, "evaluations_used": 9, "final_reps": 2,
                  "final_agents": 1000},
        comparison=comparison, base_plan="b\na", plan_name=plan_id, objective="min-cpo", campaigns=campaigns,
        final=SimpleNamespace(scenario=SimpleNamespace(plans=plans)),
    )  # fmt: skip
    block = plan_toml(opt)  # type: ignore[arg-type]
    data = tomllib.loads(block)
    assert list(data) == ["plans"] and list(data["plans"]) == [plan_id]
    plan = data["plans"][plan_id]
    assert plan["name"] == name and plan["campaigns"] == campaigns
    assert "\x1b" not in block and "\x07" not in block
