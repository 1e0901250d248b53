"""Sweeps under uncertainty (``sweep --posterior``): every point and plan of an experiment over posterior draws.

Each task is checked against a direct run built here by hand: draw i's values set in the TOML first,
then the point's changes, on replication i. The summaries are spreads over draws (90% posterior
intervals, not confidence intervals); the worker count and a resume change nothing; the
experiment's reps are not used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cjmsim.analyses import metrics
from cjmsim.analyses.calibration import Draws, FreeParameter, load_posterior_experiment, write_draws
from cjmsim.analyses.sweep import NO_MARKETING, POSTERIOR_DIFFERENCE_SUFFIXES, SweepResult, run_sweep
from cjmsim.engine import make_streams, run_plan
from cjmsim.scenario import TOTAL_METRICS, ScenarioError, parse_scenario, read_toml

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "scenarios" / "minimal.toml"
AGENTS, WEEKS, SEED = 2000, 6, 7
SEGMENTS = ["casual", "enthusiast"]
#: Each draw's purchase multiplier (relative, every segment) and search saturation half (absolute).
PURCHASE = [0.8, 1.0, 1.25]
HALVES = [0.2, 0.3, 0.45]
PARAMETERS = (
    FreeParameter("purchase", "segments.*.base.purchase", relative=True),
    FreeParameter("search_half", "channels.search.saturation.half"),
)
#: The sweep: the search half set (the same path as a posterior parameter: the point's value wins),
#: and the casual segment's purchase rate scaled (it multiplies the draw's value).
PARAMETERS_TOML = """
[[parameters]]
name = "half"
path = "channels.search.saturation.half"
values = [0.5, 1.0]

[[parameters]]
name = "casual_purchase"
path = "segments.casual.base.purchase"
scale = [1.0, 1.2]
"""


def experiment(folder: Path, reps: int = 3, name: str = "exp.toml", body: str = PARAMETERS_TOML) -> Path:
    text = (
        f"[experiment]\nscenario = {json.dumps(str(MINIMAL))}\nreps = {reps}\nagents = {AGENTS}\n"
        f"weeks = {WEEKS}\nseed = {SEED}\n{body}"
    )
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def draws_file(folder: Path, name: str = "posterior.parquet", parameters: Any = PARAMETERS, **columns: Any) -> Path:
    table = pd.DataFrame({"draw": [100, 101, 102], "purchase": PURCHASE, "search_half": HALVES, **columns})
    return write_draws(folder / name, Draws(parameters, table, {"calibration": "test"}))


def sweep_over_draws(folder: Path, **kw: Any) -> SweepResult:
    max_draws = kw.pop("max_draws", None)
    exp = load_posterior_experiment(kw.pop("path", experiment(folder)), kw.pop("draws", draws_file(folder)), max_draws)
    return run_sweep(exp, **kw)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    return sweep_over_draws(tmp_path_factory.mktemp("sweep-posterior"))


def by_hand(i: int, half: float, casual: float, plan: str | None) -> pd.DataFrame:
    """Draw i with the point (half, casual) on top, run directly on replication i: rows per segment and all."""
    data = read_toml(MINIMAL)
    for seg in data["segments"].values():  # the draw first ...
        seg["base"]["purchase"] *= PURCHASE[i]
    data["channels"]["search"]["saturation"]["half"] = HALVES[i]
    data["channels"]["search"]["saturation"]["half"] = half  # ... then the point: it sets the same path
    data["segments"]["casual"]["base"]["purchase"] *= casual  # and scales the draw's value
    sc = parse_scenario(data).with_settings(agents=AGENTS, weeks=WEEKS)
    rec = run_plan(sc, plan, make_streams(SEED, i, len(sc.segments)), AGENTS, WEEKS)
    rows = [{"segment": s, **metrics.summary_row(rec, g, sc.scenario.ltv_weeks)} for g, s in enumerate(SEGMENTS)]
    rows.append({"segment": "all", **metrics.summary_row(rec, slice(None), sc.scenario.ltv_weeks)})
    return pd.DataFrame(rows).set_index("segment")


def test_each_task_is_its_draw_with_the_point_on_top_run_on_the_draws_replication(result: SweepResult) -> None:
    r = result.results
    head = ["point", "plan", "rep", "draw", "half", "casual_purchase", "purchase", "search_half", "segment"]
    assert list(r.columns[: len(head)]) == head
    assert sorted(r.rep.unique()) == [0, 1, 2]  # one replication per draw, not the experiment's 3 reps x 3 draws
    without = result.without
    assert without is not None
    for (point, plan, rep), got in pd.concat([r, without]).groupby(["point", "plan", "rep"]):
        row = got.iloc[0]
        assert row.draw == 100 + rep and row.purchase == PURCHASE[rep] and row.search_half == HALVES[rep]
        expected = by_hand(
            int(rep), float(row.half), float(row.casual_purchase), None if plan == NO_MARKETING else plan
        )
        mine = got.set_index("segment")
        for m in TOTAL_METRICS:
            np.testing.assert_array_equal(
                mine.loc[["casual", "enthusiast", "all"], m].to_numpy(float),
                expected.loc[["casual", "enthusiast", "all"], m].to_numpy(float),
                err_msg=f"point {point}, plan {plan}, draw {rep}: {m}",
            )
    # within a draw the points and plans share their customers: no marketing is the same at every point
    # whose changes do not touch it (the search half), and the plan "none" equals no marketing
    nm = without[without.segment == "all"].set_index(["point", "rep"]).orders
    assert (nm.loc[0] == nm.loc[2]).all()  # points 0 and 2 differ only by the search half (grid order)
    assert (nm.loc[0] != nm.loc[1]).any()  # point 1 scales a purchase rate: no marketing changes too
    plans = r[(r.segment == "all") & (r.plan == "none")].set_index(["point", "rep"]).orders
    assert (plans == nm.loc[plans.index]).all()


def test_the_summary_gives_90_percent_posterior_intervals_over_the_draws(result: SweepResult) -> None:
    s = result.summary
    assert result.posterior
    assert "draws" in s.columns and "reps" not in s.columns
    assert not [c for c in s.columns if "_ci_" in c]
    assert {"orders", "orders_p05", "orders_p95", "inc_orders_p05", "icpo_p95"} <= set(s.columns)
    r = result.results
    for (point, plan), g in r[r.segment == "all"].groupby(["point", "plan"]):
        row = s[(s.point == point) & (s.plan == plan) & (s.segment == "all")].iloc[0]
        v = g.orders.to_numpy(float)
        assert row.draws == 3
        assert row.orders == pytest.approx(v.mean())
        assert (row.orders_p05, row.orders_p95) == pytest.approx(tuple(np.quantile(v, [0.05, 0.95])))
    assert result.no_marketing is not None and "orders_p95" in result.no_marketing.columns


def test_differences_are_paired_draw_by_draw_with_posterior_intervals(result: SweepResult) -> None:
    d = result.differences
    assert set(d.plan) == {"search_and_email"} and set(d.reference) == {"none"}
    assert f"orders{POSTERIOR_DIFFERENCE_SUFFIXES[1]}" in d.columns and not [c for c in d.columns if "_ci_" in c]
    r = result.results[result.results.segment == "all"].set_index(["point", "plan", "rep"])
    for point in range(4):
        a = r.loc[(point, "search_and_email")].sort_index()
        b = r.loc[(point, "none")].sort_index()
        row = d[(d.point == point) & (d.segment == "all")].iloc[0]
        diff = (a.orders - b.orders).to_numpy(float)
        assert row.orders_diff == pytest.approx(diff.mean())
        assert (row.orders_diff_p05, row.orders_diff_p95) == pytest.approx(tuple(np.quantile(diff, [0.05, 0.95])))
        ratio = (a.orders / b.orders).to_numpy(float)
        assert row.orders_ratio == pytest.approx(a.orders.mean() / b.orders.mean())
        assert (row.orders_ratio_p05, row.orders_ratio_p95) == pytest.approx(tuple(np.quantile(ratio, [0.05, 0.95])))


def test_the_worker_count_changes_nothing(tmp_path: Path, result: SweepResult) -> None:
    other = sweep_over_draws(tmp_path, workers=2)
    for name in ("results", "summary", "differences", "without", "no_marketing"):
        pd.testing.assert_frame_equal(getattr(other, name), getattr(result, name))


def test_the_experiments_reps_are_not_used(tmp_path: Path, result: SweepResult) -> None:
    one = sweep_over_draws(tmp_path, path=experiment(tmp_path, reps=1, name="one.toml"))
    pd.testing.assert_frame_equal(one.results, result.results)
    exp = result.experiment
    assert exp.reps == 3 and exp.posterior is not None and exp.posterior.experiment_reps == 3
    assert "reps = 3 are not used" in exp.posterior.note


def test_max_draws_runs_the_first_draws_on_the_same_replications(tmp_path: Path, result: SweepResult) -> None:
    two = sweep_over_draws(tmp_path, max_draws=2)
    assert two.experiment.reps == 2
    pd.testing.assert_frame_equal(two.results, result.results[result.results.rep < 2].reset_index(drop=True))


def test_resume_after_losing_parts_gives_the_same_tables(tmp_path: Path, result: SweepResult) -> None:
    out = tmp_path / "out"
    first = sweep_over_draws(tmp_path, out=out)
    parts = sorted((out / "results").glob("*.parquet"))
    assert len(parts) == 4 * 3 * 3  # points x (plans + no marketing) x draws
    for p in parts[::5]:
        p.unlink()
    again = sweep_over_draws(tmp_path, out=out, resume=True)
    assert again.warnings == []
    for name in ("results", "summary", "differences", "no_marketing"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(first, name))
        pd.testing.assert_frame_equal(getattr(again, name), getattr(result, name))
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["settings"]["posterior"] is True and meta["settings"]["draws_used"] == 3
    assert meta["settings"]["interval"] == 0.9 and meta["reps"] == 1
    # another draws file, or the same experiment without draws, is another sweep: not resumed here
    with pytest.raises(ScenarioError, match="another experiment"):
        other = draws_file(tmp_path, name="other.parquet", parameters=PARAMETERS[:1])
        sweep_over_draws(tmp_path, out=out, resume=True, draws=other)
    with pytest.raises(ScenarioError, match="another experiment"):
        from cjmsim.analyses.sweep import load_experiment

        run_sweep(load_experiment(experiment(tmp_path)), out=out, resume=True)


def test_a_path_the_scenario_lacks_names_the_file_the_draw_and_the_parameter(tmp_path: Path) -> None:
    bad = (FreeParameter("tv_half", "channels.tv.saturation.half"),)
    path = draws_file(tmp_path, name="bad.parquet", parameters=bad, tv_half=[1.0, 1.0, 1.0])
    with pytest.raises(ScenarioError) as e:
        load_posterior_experiment(experiment(tmp_path), path)
    text = str(e.value)
    assert str(path) in text and "draw 100" in text and "'tv_half'" in text and "channels.tv.saturation.half" in text


def test_a_posterior_parameter_named_like_a_sweep_parameter_or_a_column_is_refused(tmp_path: Path) -> None:
    for clash in ("half", "draw", "orders"):
        params = (FreeParameter(clash, "segments.*.base.purchase", relative=True),)
        table = pd.DataFrame({"draw": [0], clash: [1.0]}) if clash != "draw" else pd.DataFrame({"draw": [1.0]})
        path = write_draws(tmp_path / f"{clash}.parquet", Draws(params, table, {}))
        with pytest.raises(ScenarioError, match=f"'{clash}'"):
            load_posterior_experiment(experiment(tmp_path), path)


# --------------------------------------------------------------------------------------------
# the command line


def invoke(*args: object) -> Any:
    from cjmsim.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_writes_the_tables_over_draws_and_says_what_the_intervals_are(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = invoke("sweep", experiment(tmp_path), "--posterior", draws_file(tmp_path), "--draws", 2, "--out", out)
    assert res.exit_code == 0, res.output
    names = {p.name for p in out.iterdir()}
    assert {"summary.csv", "differences.csv", "no_marketing.csv", "draws.csv", "metadata.json", "results"} == names
    summary = pd.read_csv(out / "summary.csv")
    assert "orders_p05" in summary.columns and "draws" in summary.columns
    assert pd.read_csv(out / "draws.csv").to_dict("list") == {
        "rep": [0, 1],
        "draw": [100, 101],
        "purchase": PURCHASE[:2],
        "search_half": HALVES[:2],
    }
    text = " ".join(res.output.split())
    assert "reps = 3 are not used" in text
    assert "2 posterior draws" in text and "90% interval over draws" in text and "not a confidence interval" in text
    assert "95% CI" not in text.replace("written for replications' 95% CIs", "")
    assert "90% posterior interval, over the draws" in text  # the rule of a win
    assert "no charts or report.html over posterior draws" in text


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--draws", "0"], "--draws"),
        (["--draws", "2"], "--draws is an option of --posterior"),
    ],
)
def test_cli_bad_draws_options_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    extra = ["--posterior", draws_file(tmp_path)] if args[1] == "0" else []
    res = invoke("sweep", experiment(tmp_path), *extra, *args, "--out", tmp_path / "out")
    assert res.exit_code == 2, res.output
    assert words in res.output and "Traceback" not in res.output and res.output.lower().count("error") == 1
    assert not (tmp_path / "out").exists()


def test_cli_a_path_the_scenario_lacks_exits_2_with_one_message(tmp_path: Path) -> None:
    bad = (FreeParameter("tv_half", "channels.tv.saturation.half"),)
    path = draws_file(tmp_path, name="bad.parquet", parameters=bad, tv_half=[1.0, 1.0, 1.0])
    res = invoke("sweep", experiment(tmp_path), "--posterior", path, "--out", tmp_path / "out")
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and res.output.count("error:") == 1 and "Traceback" not in res.output
    assert "'tv_half'" in res.output and "channels.tv.saturation.half" in res.output
    assert not (tmp_path / "out").exists()


def test_cli_a_file_that_is_not_draws_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "posterior.parquet"
    path.write_text("draw,purchase\n0,1.0\n", encoding="utf-8")
    res = invoke("sweep", experiment(tmp_path), "--posterior", path, "--out", tmp_path / "out")
    assert res.exit_code == 2, res.output
    assert "not a Parquet file" in res.output and "Traceback" not in res.output
    missing = invoke("sweep", experiment(tmp_path), "--posterior", tmp_path / "none.parquet", "--out", tmp_path / "o")
    assert missing.exit_code == 2 and "no such file" in missing.output and "Traceback" not in missing.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "o").exists()
