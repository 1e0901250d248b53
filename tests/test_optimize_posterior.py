"""Optimizing under uncertainty (``optimize --posterior [--robust]``): candidates evaluated over posterior draws.

The base plan's evaluation is checked against direct runs of each draw's scenario on its own
replication, built here by hand; the expected objective is the mean over draws; the worst-case
regret of the robust search is checked against its own per-draw table; the fresh re-evaluation
runs the same draws on fresh random numbers with 90% posterior intervals; the worker count
changes nothing; bad input is one message and exit status 2.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cjmsim.analyses import metrics
from cjmsim.analyses.calibration import Draws, FreeParameter, run_posterior, write_draws
from cjmsim.analyses.optimize import Optimization, optimize
from cjmsim.analyses.optimize.posterior import POSTERIOR_COMPARISON_COLUMNS
from cjmsim.engine import make_streams, run_plan
from cjmsim.scenario import ArgumentError, ScenarioError, load_scenario, parse_scenario, read_toml

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "scenarios" / "minimal.toml"
AGENTS, WEEKS, SEED = 2000, 6, 11
PLAN = "search_and_email"
PURCHASE = [0.8, 1.0, 1.25, 0.9]
HALVES = [0.2, 0.3, 0.45, 0.35]
PARAMETERS = (
    FreeParameter("purchase", "segments.*.base.purchase", relative=True),
    FreeParameter("search_half", "channels.search.saturation.half"),
)


def draws_file(folder: Path, name: str = "posterior.parquet", parameters: Any = PARAMETERS, **columns: Any) -> Path:
    table = pd.DataFrame({"draw": [7, 8, 9, 10], "purchase": PURCHASE, "search_half": HALVES, **columns})
    return write_draws(folder / name, Draws(parameters, table, {"calibration": "test"}))


def search(path: Path, **kw: Any) -> Optimization:
    objective = kw.pop("objective", "max-inc-margin")
    args: dict[str, Any] = {
        "split": "none", "evaluations": 16, "agents": AGENTS, "weeks": WEEKS, "seed": SEED, "final_agents": AGENTS,
        "workers": 1, "posterior": path,
    }  # fmt: skip
    args.update(kw)
    return optimize(load_scenario(MINIMAL), PLAN, objective, **args)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("optimize-posterior")


@pytest.fixture(scope="module")
def expected(folder: Path) -> Optimization:
    return search(draws_file(folder))


@pytest.fixture(scope="module")
def robust(folder: Path) -> Optimization:
    return search(draws_file(folder), robust=True, evaluations=24)


def by_hand(i: int, plan: str | None) -> dict[str, float]:
    """Draw i run directly at the search's size: its parameters set in the TOML, on replication i."""
    data = read_toml(MINIMAL)
    for seg in data["segments"].values():
        seg["base"]["purchase"] *= PURCHASE[i]
    data["channels"]["search"]["saturation"]["half"] = HALVES[i]
    sc = parse_scenario(data).with_settings(agents=AGENTS, weeks=WEEKS)
    rec = run_plan(sc, plan, make_streams(SEED, i, len(sc.segments)), AGENTS, WEEKS)
    return metrics.summary_row(rec, slice(None), sc.scenario.ltv_weeks)


def test_the_base_plans_evaluation_is_the_mean_over_draws_of_direct_runs(expected: Optimization) -> None:
    start = expected.start
    assert start.rep.tolist() == [0, 1, 2, 3]  # one replication per draw
    rows = [by_hand(i, PLAN) for i in range(4)]
    without = [by_hand(i, None) for i in range(4)]
    for i, (row, none) in enumerate(zip(rows, without, strict=True)):
        got = start.iloc[i]
        for m in ("orders", "customers", "spend", "planned_spend", "revenue", "margin"):
            assert got[m] == float(row[m]), (i, m)
        assert got.inc_orders == row["orders"] - none["orders"]
        assert got.inc_margin == pytest.approx(row["margin"] - none["margin"], rel=1e-12)
    first = expected.trace.iloc[0]
    assert first.kind == "start"
    for m in ("orders", "spend", "margin", "inc_margin"):
        incremental = [r["margin"] - n["margin"] for r, n in zip(rows, without, strict=True)]
        values = [r[m] for r in rows] if m != "inc_margin" else incremental
        assert first[m] == pytest.approx(np.mean(values), rel=1e-12), m
    # the objective is that of the mean over draws: incremental margin less spend, scaled by the base's
    assert first.inc_net_margin == pytest.approx(first.inc_margin - first.spend, rel=1e-12)
    assert first.objective == -1.0


def test_the_draws_differ_so_the_search_sees_each_world(expected: Optimization) -> None:
    assert expected.start.orders.nunique() > 1
    d = expected.draws
    assert d.columns.tolist() == ["rep", "draw", "metric", "base", "optimized"]
    assert d.draw.tolist() == [7, 8, 9, 10] and set(d.metric) == {"inc_net_margin"}
    base = expected.start
    np.testing.assert_allclose(d.base.to_numpy(), (base.inc_margin - base.spend).to_numpy())


def test_the_fresh_re_evaluation_runs_the_draws_on_fresh_random_numbers(expected: Optimization) -> None:
    post = expected.posterior
    assert post is not None and expected.final is None
    s = expected.settings
    assert s["posterior"] and not s["robust"] and s["draws_used"] == 4 and s["final_reps"] is None
    assert s["final_seed"] != s["seed"]
    assert post.plans == [PLAN, expected.plan_name] and post.reference == PLAN
    # the base plan over the draws on the fresh seed: run --posterior's own numbers
    direct = run_posterior(read_toml(MINIMAL), draws_file(Path(str(post.draws.path)).parent, "again.parquet"), [PLAN],
                           agents=AGENTS, weeks=WEEKS, seed=s["final_seed"], workers=1)  # fmt: skip
    mine = post.per_draw[post.per_draw.plan == PLAN].reset_index(drop=True)
    theirs = direct.per_draw[direct.per_draw.plan == PLAN].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        mine[["draw", "orders", "spend", "margin"]], theirs[["draw", "orders", "spend", "margin"]]
    )


def test_comparison_is_paired_draw_by_draw_with_posterior_intervals(expected: Optimization) -> None:
    c = expected.comparison
    assert c.columns.tolist() == list(POSTERIOR_COMPARISON_COLUMNS)
    assert not [col for col in c.columns if "ci_" in col]
    assert post_draws(expected) == 4
    pr = expected.posterior.per_draw.set_index(["plan", "draw"])  # type: ignore[union-attr]
    a, b = pr.loc[expected.plan_name].orders.to_numpy(float), pr.loc[PLAN].orders.to_numpy(float)
    row = c[(c.versus == PLAN) & (c.metric == "orders")].iloc[0]
    assert row.difference == pytest.approx((a - b).mean())
    assert (row.p05, row.p95) == pytest.approx(tuple(np.quantile(a - b, [0.05, 0.95])))
    assert row.relative == pytest.approx(a.mean() / b.mean() - 1)
    assert (row.relative_p05, row.relative_p95) == pytest.approx(tuple(np.quantile(a / b - 1, [0.05, 0.95])))
    assert row.share_better == pytest.approx((a > b).mean())
    block = tomllib.loads(expected.toml())
    assert list(block["plans"]) == [expected.plan_name]
    assert "over 4 posterior draws" in expected.toml()


def post_draws(opt: Optimization) -> int:
    return int(opt.comparison.draws.max())


def test_the_worker_count_changes_nothing(folder: Path, expected: Optimization) -> None:
    other = search(draws_file(folder, "two.parquet"), workers=2)
    for name in ("trace", "variables", "start", "draws", "comparison"):
        pd.testing.assert_frame_equal(getattr(other, name), getattr(expected, name))
    assert other.campaigns == expected.campaigns


def test_robust_minimises_the_worst_case_regret_against_the_draws_bests(robust: Optimization) -> None:
    t, d = robust.trace, robust.draws
    assert robust.settings["robust"]
    assert {"regret", "worst_draw", "best", "optimized"} <= set(t.columns) | set(d.columns)
    assert set(t.worst_draw) <= {7, 8, 9, 10}
    ok = t[t.feasible.astype(bool)]
    assert (ok.regret >= -1e-12).all()
    # every regret is against the same bests: the winner has the smallest worst case of the feasible candidates
    assert d.regret.min() >= -1e-6 and (d.best >= d.optimized - 1e-6).all()  # higher is better: best >= any
    norm = d.regret.max() / ok.regret.min() if ok.regret.min() > 0 else None
    base_regret = (d.best - d.base).max()
    if norm is not None:  # natural units over normalised: one scale, the base plan's
        assert base_regret / t.regret.iloc[0] == pytest.approx(norm, rel=1e-9)
    assert d.regret.max() <= base_regret + 1e-6
    assert t.best_objective.iloc[-1] == pytest.approx(ok.regret.min())
    if robust.found:
        assert ok.regret.min() < t.regret.iloc[0]


def test_library_arguments_that_need_or_refuse_posterior(folder: Path) -> None:
    sc = load_scenario(MINIMAL)
    with pytest.raises(ArgumentError, match="robust needs posterior"):
        optimize(sc, PLAN, robust=True)
    with pytest.raises(ArgumentError, match="max_draws needs posterior"):
        optimize(sc, PLAN, max_draws=2)
    with pytest.raises(ArgumentError, match="reps 2: not with posterior"):
        optimize(sc, PLAN, reps=2, posterior=draws_file(folder, "r.parquet"))
    with pytest.raises(ArgumentError, match="max_draws 0"):
        optimize(sc, PLAN, max_draws=0, posterior=draws_file(folder, "r.parquet"))


def test_a_path_the_scenario_lacks_is_refused_before_anything_runs(folder: Path) -> None:
    bad = (FreeParameter("tv_half", "channels.tv.saturation.half"),)
    path = draws_file(folder, "bad.parquet", parameters=bad, tv_half=[1.0] * 4)
    with pytest.raises(ScenarioError) as e:
        search(path)
    assert str(path) in str(e.value) and "'tv_half'" in str(e.value) and "channels.tv.saturation.half" in str(e.value)


# --------------------------------------------------------------------------------------------
# the command line


def invoke(*args: object) -> Any:
    from cjmsim.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


SMALL = ["--split", "none", "--evaluations", 12, "--agents", AGENTS, "--weeks", WEEKS, "--final-agents", AGENTS,
         "--workers", 1]  # fmt: skip


def test_cli_writes_the_posterior_tables_and_labels_their_intervals(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = invoke("optimize", MINIMAL, "--plan", PLAN, *SMALL, "--posterior", draws_file(tmp_path), "--draws", 3,
                 "--robust", "--objective", "max-inc-margin", "--out", out)  # fmt: skip
    assert res.exit_code == 0, res.output
    names = {p.name for p in out.iterdir()}
    tables = {"comparison", "summary", "variables", "trace", "draws", "posterior_differences", "posterior_wins",
              "posterior_draws"}  # fmt: skip
    assert names == {"plan.toml", "metadata.json", *(f"{t}.csv" for t in tables)}
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["settings"]["posterior"] and meta["settings"]["robust"] and meta["settings"]["draws_used"] == 3
    assert list(pd.read_csv(out / "comparison.csv").columns) == list(POSTERIOR_COMPARISON_COLUMNS)
    assert "orders_p05" in pd.read_csv(out / "summary.csv").columns
    assert pd.read_csv(out / "draws.csv").draw.tolist() == [7, 8, 9]
    text = " ".join(res.output.split())
    assert "smallest worst-case regret" in text and "Worst-case regret" in text
    assert "90% interval over draws" in text and "3 posterior draws" in text
    assert "95% CI" not in text.replace("written for replications' 95% CIs", "")
    tomllib.loads((out / "plan.toml").read_text())


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--robust"], "--robust is an option of --posterior"),
        (["--draws", "2"], "--draws is an option of --posterior"),
        (["--posterior", "DRAWS", "--draws", "0"], "--draws"),
        (["--posterior", "DRAWS", "--reps", "2"], "--reps not with --posterior"),
        (["--posterior", "DRAWS", "--final-reps", "4"], "--final-reps not with --posterior"),
    ],
)
def test_cli_bad_posterior_options_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    args = [str(draws_file(tmp_path)) if a == "DRAWS" else a for a in args]
    res = invoke("optimize", MINIMAL, "--plan", PLAN, *args, "--out", tmp_path / "out")
    assert res.exit_code == 2, res.output
    assert words in res.output and "Traceback" not in res.output and res.output.lower().count("error") == 1
    assert not (tmp_path / "out").exists()


def test_cli_a_path_the_scenario_lacks_or_a_file_that_is_not_draws_exits_2(tmp_path: Path) -> None:
    bad = (FreeParameter("tv_half", "channels.tv.saturation.half"),)
    path = draws_file(tmp_path, "bad.parquet", parameters=bad, tv_half=[1.0] * 4)
    res = invoke("optimize", MINIMAL, "--plan", PLAN, *SMALL, "--posterior", path, "--out", tmp_path / "out")
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and res.output.count("error:") == 1 and "Traceback" not in res.output
    assert "'tv_half'" in res.output and "channels.tv.saturation.half" in res.output
    text = tmp_path / "text.parquet"
    text.write_text("draw,purchase\n0,1.0\n", encoding="utf-8")
    res = invoke("optimize", MINIMAL, "--plan", PLAN, "--posterior", text, "--out", tmp_path / "out")
    assert res.exit_code == 2 and "not a Parquet file" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


def test_robust_hedges_against_the_draw_where_a_channel_does_nothing(tmp_path: Path) -> None:
    # two channels on buyers in desire (tests/test_optimize.py), the base plan's money split 50/50; the
    # posterior is sure of channel a's odds (4) and unsure of b's: 16 in three draws, 1 (no effect) in one.
    # The expected orders favour b; the worst-case regret hedges towards a, and its worst case is smaller
    from test_optimize import two_channels

    sc = parse_scenario(two_channels(split=(0.5, 0.5)))
    params = (FreeParameter("b_odds", "segments.s.odds.b.purchase"),)
    table = pd.DataFrame({"draw": [0, 1, 2, 3], "b_odds": [1.0, 16.0, 16.0, 16.0]})
    path = write_draws(tmp_path / "b.parquet", Draws(params, table, {}))
    kw: dict[str, Any] = {"split": "none", "evaluations": 60, "workers": 1, "final_agents": 5000, "posterior": path}
    mean = optimize(sc, "base", "max-orders", **kw)
    hedge = optimize(sc, "base", "max-orders", robust=True, **kw)

    def share_a(opt: Optimization) -> float:
        w = opt.variables.groupby("campaign").weekly.sum()
        return float(w["A"] / w.sum())

    assert share_a(mean) < 0.45  # measured 0.41: b is the better channel on average
    assert share_a(hedge) > share_a(mean) + 0.03  # measured 0.45
    # against the same bests (the robust search's), the expected winner's worst case is worse
    d = hedge.draws
    assert (mean.draws.draw == d.draw).all()
    assert (d.best - mean.draws.optimized).max() > d.regret.max()  # measured 152 against 90 orders
