"""Plans under uncertainty (``run --posterior``): every plan over posterior draws, paired within a draw.

Each draw is checked against a direct run of its own scenario on its own replication, built here
by hand; differences are paired draw by draw; intervals widen when the draws spread a parameter
more; the shares of draws won sum to one; the worker count changes nothing.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cjmsim.analyses import metrics
from cjmsim.analyses.calibration import (
    Draws,
    FreeParameter,
    PosteriorResult,
    posterior_verdict,
    run_posterior,
    write_draws,
)
from cjmsim.analyses.calibration.posterior import (
    DIFFERENCE_COLUMNS,
    NO_CLEAR_DIFFERENCE,
    WIN_COLUMNS,
)
from cjmsim.analyses.simulate import NO_MARKETING
from cjmsim.engine import make_streams, run_plan
from cjmsim.presentation import format as fmt
from cjmsim.scenario import INCREMENTAL_METRICS, TOTAL_METRICS, ScenarioError, parse_scenario, read_toml

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "scenarios" / "minimal.toml"
AGENTS, WEEKS, SEED = 2000, 6, 7
PLANS = ["none", "search_and_email", "search_only"]
#: Each draw's purchase multiplier (relative, on every segment) before scaling by the spread, and its
#: search saturation half (absolute).
SHAPE = [-1.0, -0.3, 0.4, 0.9]
HALVES = [0.2, 0.3, 0.45, 0.6]
PARAMETERS = (
    FreeParameter("purchase", "segments.*.base.purchase", relative=True),
    FreeParameter("search_half", "channels.search.saturation.half"),
)


def scenario_data() -> dict[str, Any]:
    """The minimal scenario with a third plan: its search campaign alone."""
    data = read_toml(MINIMAL)
    plan = copy.deepcopy(data["plans"]["search_and_email"])
    plan["name"] = "Search only"
    plan["campaigns"] = plan["campaigns"][:1]
    data["plans"]["search_only"] = plan
    return data


def draws_file(folder: Path, spread: float = 0.3, name: str = "posterior.parquet", **over: Any) -> Path:
    """Four draws: the purchase multiplier 1 + spread x SHAPE, the search half HALVES."""
    table = pd.DataFrame(
        {"draw": range(len(SHAPE)), "purchase": [1 + spread * s for s in SHAPE], "search_half": HALVES}
    )
    params = over.get("parameters", PARAMETERS)
    return write_draws(folder / name, Draws(params, table, {"calibration": "test"}))


def posterior(path: Path, **kw: Any) -> PosteriorResult:
    args: dict[str, Any] = {"agents": AGENTS, "weeks": WEEKS, "seed": SEED, "reference": "none", "workers": 1}
    args.update(kw)
    return run_posterior(scenario_data(), path, source=str(MINIMAL), **args)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> PosteriorResult:
    return posterior(draws_file(tmp_path_factory.mktemp("posterior")))


def by_hand(i: int, spread: float = 0.3) -> list[dict[str, float]]:
    """Draw i run directly: its parameters set in the TOML, every plan and no marketing on replication i."""
    data = scenario_data()
    for seg in data["segments"].values():
        seg["base"]["purchase"] *= 1 + spread * SHAPE[i]
    data["channels"]["search"]["saturation"]["half"] = HALVES[i]
    sc = parse_scenario(data).with_settings(agents=AGENTS, weeks=WEEKS, seed=SEED)
    out = []
    for plan in [*PLANS, None]:
        rec = run_plan(sc, plan, make_streams(SEED, i, len(sc.segments)), AGENTS, WEEKS)
        out.append(metrics.summary_row(rec, slice(None), sc.scenario.ltv_weeks))
    return out


def test_each_draw_is_a_direct_run_of_its_scenario_on_its_replication(result: PosteriorResult) -> None:
    d = result.per_draw
    assert list(d.columns) == ["draw", "plan", "purchase", "search_half", *TOTAL_METRICS, *INCREMENTAL_METRICS]
    assert d.plan.tolist() == [*PLANS, NO_MARKETING] * len(SHAPE)
    for i in range(len(SHAPE)):
        rows = by_hand(i)
        mine = d[d.draw == i].set_index("plan")
        assert mine.purchase.tolist() == [1 + 0.3 * SHAPE[i]] * 4 and mine.search_half.tolist() == [HALVES[i]] * 4
        for plan, expected in zip([*PLANS, NO_MARKETING], rows, strict=True):
            got = mine.loc[plan, list(TOTAL_METRICS)].to_numpy(float)
            np.testing.assert_array_equal(got, np.array([expected[m] for m in TOTAL_METRICS], dtype=float))
        inc = mine.loc["search_and_email", "inc_orders"]
        assert inc == rows[1]["orders"] - rows[-1]["orders"]
        assert mine.loc[NO_MARKETING, list(INCREMENTAL_METRICS)].isna().all()
    # within a draw the plans share their customers: the agents, and the organic orders of "none"
    for _, g in d.groupby("draw"):
        assert g.agents.nunique() == 1
        assert g[g.plan == "none"].orders.iloc[0] == g[g.plan == NO_MARKETING].orders.iloc[0]
    # across draws the random numbers (and parameters) differ
    assert d[d.plan == "none"].orders.nunique() > 1


def test_the_summary_is_each_metrics_spread_over_draws(result: PosteriorResult) -> None:
    s = result.summary.set_index("plan")
    assert list(s.index) == [*PLANS, NO_MARKETING]
    assert (s.draws == len(SHAPE)).all()
    for plan in PLANS:
        v = result.per_draw[result.per_draw.plan == plan].orders.to_numpy(float)
        row = s.loc[plan]
        assert row.orders == pytest.approx(v.mean())
        assert row.orders_median == pytest.approx(np.median(v))
        assert (row.orders_p05, row.orders_p95) == pytest.approx(tuple(np.quantile(v, [0.05, 0.95])))
        assert row.orders_p05 <= row.orders_median <= row.orders_p95


def test_differences_are_paired_within_each_draw(result: PosteriorResult) -> None:
    diff = result.differences
    assert list(diff.columns) == list(DIFFERENCE_COLUMNS)
    assert set(diff.plan) == {"search_and_email", "search_only"} and set(diff.reference) == {"none"}
    d = result.per_draw.set_index(["plan", "draw"])
    for plan in ("search_and_email", "search_only"):
        for m in ("orders", "revenue", "inc_orders", "margin"):
            a, b = d.loc[plan, m].to_numpy(float), d.loc["none", m].to_numpy(float)
            row = diff[(diff.plan == plan) & (diff.metric == m)].iloc[0]
            assert row["diff"] == pytest.approx(a.mean() - b.mean())  # difference of the means ...
            assert row["diff"] == pytest.approx((a - b).mean())  # ... is the mean of the paired differences
            assert (row.diff_p05, row.diff_p95) == pytest.approx(tuple(np.quantile(a - b, [0.05, 0.95])))
            assert row.share_higher == pytest.approx(((a - b) > 0).mean())
            assert row.draws == len(SHAPE)
            if b.mean() > 0:
                assert row.ratio == pytest.approx(a.mean() / b.mean())
                assert (row.ratio_p05, row.ratio_p95) == pytest.approx(tuple(np.quantile(a / b, [0.05, 0.95])))
    # the interval is of paired differences: far narrower than the unpaired spread of either plan
    s = result.summary.set_index("plan")
    row = diff[(diff.plan == "search_and_email") & (diff.metric == "orders")].iloc[0]
    assert row.diff_p95 - row.diff_p05 < s.loc["none", "orders_p95"] - s.loc["none", "orders_p05"]


def test_verdicts_are_read_off_the_90_percent_interval(result: PosteriorResult) -> None:
    assert posterior_verdict(0.1, 2.0, 4) == "higher"
    assert posterior_verdict(-2.0, -0.1, 4) == "lower"
    assert posterior_verdict(-0.1, 2.0, 4) == NO_CLEAR_DIFFERENCE
    assert posterior_verdict(0.1, 2.0, 1) == NO_CLEAR_DIFFERENCE  # no interval from one draw
    assert posterior_verdict(math.nan, math.nan, 4) == NO_CLEAR_DIFFERENCE
    for _, r in result.differences.iterrows():
        expected = "higher" if r.diff_p05 > 0 else "lower" if r.diff_p95 < 0 else NO_CLEAR_DIFFERENCE
        assert r.verdict == expected, (r.plan, r.metric)
    # paid search adds orders in every draw, far beyond the spread
    inc = result.differences.set_index(["plan", "metric"])
    assert inc.loc[("search_and_email", "inc_orders"), "verdict"] == "higher"
    assert inc.loc[("search_and_email", "inc_orders"), "better"] == "higher"


def test_wins_are_shares_of_draws_that_sum_to_one(result: PosteriorResult) -> None:
    w = result.wins
    assert list(w.columns) == list(WIN_COLUMNS)
    assert {"inc_orders", "icpo", "inc_margin", "iromi", "orders", "cpo"} <= set(w.metric)
    assert NO_MARKETING not in set(w.plan)
    for m, g in w.groupby("metric"):
        assert g.share.sum() == pytest.approx(1.0), m
        assert list(g.plan) == PLANS
    d = result.per_draw[result.per_draw.plan.isin(PLANS)]
    # inc_orders: the most wins; icpo: the fewest spend per incremental order, a plan without spend never wins
    table = d.pivot(index="draw", columns="plan", values="inc_orders")[PLANS].to_numpy(float)
    expected = np.zeros(len(PLANS))
    for values in table:
        best = values == values.max()
        expected[best] += 1 / best.sum()
    got = w[w.metric == "inc_orders"].set_index("plan").wins
    np.testing.assert_allclose(got[PLANS].to_numpy(), expected)
    icpo = w[w.metric == "icpo"].set_index("plan")
    assert icpo.loc["none", "wins"] == 0 and icpo.loc["none", "draws"] == len(SHAPE)


def test_ties_split_a_draw_evenly() -> None:
    from cjmsim.analyses.calibration.posterior import win_shares

    per = pd.DataFrame({"draw": [0, 0, 0, 1, 1, 1], "plan": ["a", "b", "c"] * 2, "orders": [5, 5, 1, 1, 2, 3]})
    w = win_shares(per, ["a", "b", "c"], ["orders"]).set_index("plan")
    assert w.wins.tolist() == [0.5, 0.5, 1.0]
    assert w.share.sum() == pytest.approx(1.0)


def test_intervals_widen_when_the_draws_spread_the_parameter_more(tmp_path: Path) -> None:
    # 10,000 agents: at 2,000 the few hundred customers of six weeks are mostly noise
    narrow = posterior(draws_file(tmp_path, spread=0.05, name="narrow.parquet"), agents=10_000)
    wide = posterior(draws_file(tmp_path, spread=0.5, name="wide.parquet"), agents=10_000)

    def width(r: PosteriorResult, plan: str, m: str) -> float:
        row = r.summary.set_index("plan").loc[plan]
        return float(row[f"{m}_p95"] - row[f"{m}_p05"])

    for plan in PLANS:  # measured: x2.3 for customers, x1.6-1.8 for orders
        assert width(wide, plan, "customers") > 1.5 * width(narrow, plan, "customers"), plan
        assert width(wide, plan, "orders") > 1.2 * width(narrow, plan, "orders"), plan
    # the same random numbers in both: only the parameter's spread differs
    assert narrow.per_draw.agents.tolist() == wide.per_draw.agents.tolist()


def test_the_worker_count_changes_nothing(tmp_path: Path, result: PosteriorResult) -> None:
    other = posterior(draws_file(tmp_path), workers=2)
    for name in ("summary", "differences", "wins", "per_draw"):
        pd.testing.assert_frame_equal(getattr(other, name), getattr(result, name))
    assert other.settings["workers"] == 2 and result.settings["workers"] == 1


def test_max_draws_uses_the_first_draws_and_says_so(tmp_path: Path, result: PosteriorResult) -> None:
    two = posterior(draws_file(tmp_path), max_draws=2)
    assert two.per_draw.draw.unique().tolist() == [0, 1]
    assert two.settings["draws_used"] == 2 and two.settings["draws_available"] == 4
    assert not two.settings["all_draws"] and result.settings["all_draws"]
    pd.testing.assert_frame_equal(
        two.per_draw, result.per_draw[result.per_draw.draw < 2].reset_index(drop=True)
    )  # draw i is replication i, however many draws run
    assert result.settings["draws_file"].endswith("posterior.parquet")
    assert result.settings["draws_source"] == {"calibration": "test"}


def test_a_path_the_scenario_lacks_names_the_file_the_parameter_and_the_path(tmp_path: Path) -> None:
    bad = (PARAMETERS[0], FreeParameter("tv_half", "channels.tv.saturation.half"))
    path = draws_file(tmp_path, parameters=bad)
    table = pd.read_parquet(path).rename(columns={"search_half": "tv_half"})
    write_draws(path, Draws(bad, table, {}))
    with pytest.raises(ScenarioError) as e:
        posterior(path)
    text = str(e.value)
    assert str(path) in text and "'tv_half'" in text and "channels.tv.saturation.half" in text


def test_a_draw_that_makes_the_scenario_invalid_is_refused(tmp_path: Path) -> None:
    table = pd.DataFrame({"draw": [0, 1], "purchase": [1.0, 30.0], "search_half": [0.3, 0.3]})
    path = write_draws(tmp_path / "big.parquet", Draws(PARAMETERS, table, {}))
    with pytest.raises(ScenarioError, match=r"(?s)draw 1 of .*big\.parquet.*base\.purchase = 1\.5"):
        posterior(path)


def test_a_parameter_named_like_a_column_is_refused(tmp_path: Path) -> None:
    clash = (FreeParameter("orders", "segments.*.base.purchase", relative=True),)
    table = pd.DataFrame({"draw": [0], "orders": [1.0]})
    path = write_draws(tmp_path / "clash.parquet", Draws(clash, table, {}))
    with pytest.raises(ScenarioError, match="'orders'"):
        posterior(path)


def test_without_the_baseline_there_are_no_incremental_metrics(tmp_path: Path) -> None:
    r = posterior(draws_file(tmp_path), baseline=False, max_draws=2)
    assert NO_MARKETING not in set(r.per_draw.plan)
    assert "inc_orders" not in r.per_draw.columns and "inc_orders" not in set(r.differences.metric)
    assert set(r.wins.metric) == {"orders", "cpo", "margin", "romi"}


# --------------------------------------------------------------------------------------------
# the command line


def invoke(*args: object):  # noqa: ANN201
    from cjmsim.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_writes_the_four_tables_and_the_metadata(tmp_path: Path) -> None:
    path = draws_file(tmp_path)
    out = tmp_path / "out"
    res = invoke("run", MINIMAL, "--posterior", path, "--agents", AGENTS, "--weeks", WEEKS, "--out", out)
    assert res.exit_code == 0, res.output
    names = {"posterior_summary.csv", "posterior_differences.csv", "posterior_wins.csv", "posterior_draws.csv"}
    assert names | {"metadata.json", "scenario.toml"} == {p.name for p in out.iterdir()}
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["analysis"] == "run"
    assert meta["settings"]["draws_used"] == 4 and meta["settings"]["reference"] == "none"
    assert meta["settings"]["agents"] == AGENTS and meta["settings"]["weeks"] == WEEKS
    draws = pd.read_csv(out / "posterior_draws.csv")
    assert len(draws) == 4 * 3  # two plans and no marketing per draw
    assert list(pd.read_csv(out / "posterior_differences.csv").columns) == list(DIFFERENCE_COLUMNS)
    assert "Plans under uncertainty" in res.output and "90% interval" in res.output
    assert "higher: better" in res.output  # the paid plan's incremental orders
    assert "4 draws" in res.output


def test_cli_draws_option_takes_the_first_draws(tmp_path: Path) -> None:
    from cjmsim.analyses.calibration.posterior import MAX_DRAWS
    from cjmsim.cli import main

    option = next(p for p in main.commands["run"].params if p.name == "draws")
    assert option.type.max == MAX_DRAWS  # type: ignore[attr-defined]
    out = tmp_path / "out"
    res = invoke("run", MINIMAL, "--posterior", draws_file(tmp_path), "--draws", 2, "--agents", 500,
                 "--weeks", 4, "--out", out, "--quiet")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert res.output == ""
    assert pd.read_csv(out / "posterior_draws.csv").draw.unique().tolist() == [0, 1]


def test_cli_a_path_the_scenario_lacks_exits_2_with_one_message(tmp_path: Path) -> None:
    bad = (FreeParameter("tv_half", "channels.tv.saturation.half"),)
    path = write_draws(tmp_path / "bad.parquet", Draws(bad, pd.DataFrame({"draw": [0], "tv_half": [1.0]}), {}))
    out = tmp_path / "out"
    res = invoke("run", MINIMAL, "--posterior", path, "--agents", 500, "--out", out)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert res.output.startswith("error: ") and res.output.count("error:") == 1
    assert "'tv_half'" in res.output and "channels.tv.saturation.half" in res.output
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cli_a_file_that_is_not_parquet_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "posterior.parquet"
    path.write_text("draw,purchase\n0,1.0\n", encoding="utf-8")
    res = invoke("run", MINIMAL, "--posterior", path, "--out", tmp_path / "out")
    assert res.exit_code == 2, res.output
    assert "not a Parquet file" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--reps", "3"], "--reps 3: not with --posterior"),
        (["--export", "mmm"], "--export not with --posterior"),
        (["--segments"], "--segments not with --posterior"),
    ],
)
def test_cli_options_that_do_not_go_with_posterior_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    res = invoke("run", MINIMAL, "--posterior", draws_file(tmp_path), *args, "--out", tmp_path / "out")
    assert res.exit_code == 2, res.output
    assert words in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [["--draws", "3"], ["--workers", "2"], ["--scheduler", "tcp://localhost:8786"]])
def test_cli_posterior_options_need_posterior(tmp_path: Path, args: list[str]) -> None:
    res = invoke("run", MINIMAL, *args, "--out", tmp_path / "out")
    assert res.exit_code == 2, res.output
    assert f"{args[0]} is an option of --posterior" in res.output
    assert not (tmp_path / "out").exists()


def test_the_terminal_writes_an_interval_by_its_ends_in_one_unit() -> None:
    assert fmt.terminal_interval(1575, 1507, 1643, "n") == ("1,575", "[1,507, 1,643]")
    assert fmt.terminal_interval(500_000, 210_000, 2_100_000, "m") == ("0.50 M", "[0.21 M, 2.10 M]")
    assert fmt.terminal_interval(262, -20, 335, "n", sign=True) == ("+262", "[-20, +335]")
    assert fmt.terminal_interval(0.125, 0.1, 0.15, "p") == ("12.5%", "[10.0%, 15.0%]")
    assert fmt.terminal_interval(math.nan, 1, 2, "n") == (fmt.DASH, "")
    assert fmt.terminal_interval(3, math.nan, 2, "n") == ("3", "")


def test_cli_tables_fit_a_narrow_terminal_and_claim_nothing_without_a_difference(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from cjmsim.cli.tables import posterior_tables

    r = posterior(draws_file(tmp_path), max_draws=2)
    console = Console(width=60, record=True, file=io.StringIO())
    console.print(posterior_tables(r, 60))
    text = console.export_text()
    assert all(len(line) <= 60 for line in text.splitlines())
    assert "Search only" in text and "2 draws" in text
    # iCPO against no marketing has no value in any draw: a dash on the terminal, and no side claimed
    icpo = r.differences.set_index(["plan", "metric"]).loc[("search_only", "icpo")]
    assert icpo.draws == 0 and icpo.verdict == NO_CLEAR_DIFFERENCE
    line = next(x for x in text.split("Paired differences")[1].splitlines() if x.startswith("iCPO"))
    assert line.split()[2:] == [fmt.DASH, fmt.DASH], line
