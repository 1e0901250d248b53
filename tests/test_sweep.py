"""Sweeps: experiment validation, how a point changes the scenario, designs, determinism across
executors, common random numbers, resuming a killed sweep, and the tables a sweep writes.

Experiments here are small: the tutorial scenario (scenarios/minimal.toml, by absolute path), a few
thousand agents, 8-12 weeks, 2-3 replications.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cjmsim.analyses import metrics
from cjmsim.analyses.sweep import (
    NO_MARKETING,
    Experiment,
    Parameter,
    apply_point,
    executor_for,
    load_experiment,
    points,
    run_sweep,
    sweep,
)
from cjmsim.cli import main
from cjmsim.scenario import INCREMENTAL_METRICS, ScenarioError, load_scenario, read_toml

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = ROOT / "scenarios" / "minimal.toml"
SEGMENTS = ["casual", "enthusiast"]  # the minimal scenario's segments
METRIC_COLUMNS = list(metrics.TOTAL_METRICS)
INCREMENTAL_COLUMNS = list(INCREMENTAL_METRICS)


def write_experiment(
    folder: Path,
    body: str = "",
    *,
    name: str = "exp.toml",
    scenario: Path = MINIMAL,
    reps: int = 2,
    agents: int = 2000,
    weeks: int = 8,
    settings: str = "",
) -> Path:
    """An experiment file on the minimal scenario (absolute path); ``settings`` go in [experiment],
    ``body`` after it (the [[parameters]])."""
    text = (
        "[experiment]\n"
        f"scenario = {json.dumps(str(scenario))}\n"
        f"reps = {reps}\nagents = {agents}\nweeks = {weeks}\nseed = 7\n"
        f"{settings}\n{body}\n"
    )
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def scenario_variant(folder: Path, name: str, *replacements: tuple[str, str], extra: str = "") -> Path:
    """A copy of the minimal scenario with some text replaced and ``extra`` TOML appended."""
    text = MINIMAL.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = folder / name
    path.write_text(text + "\n" + extra, encoding="utf-8")
    return path


def invoke(*args: object):  # noqa: ANN201
    return CliRunner().invoke(main, [str(a) for a in args])


def sorted_frame(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["point", "plan", "rep", "segment"]).reset_index(drop=True)


def metric_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The metric columns, ordered by segment and replication, without the index."""
    return df.sort_values(["rep", "segment"])[METRIC_COLUMNS].reset_index(drop=True)


def read_table(paths: list[Path]) -> pd.DataFrame:
    """Like /work/shared/checks/same_results.py: a CSV, or the Parquet parts of a folder as one table."""
    df = pd.concat([pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p) for p in paths], ignore_index=True)
    return df.sort_values(list(df.columns)).reset_index(drop=True)


CPC = """
[[parameters]]
name = "cpc"
path = "channels.search.cost.cpc"
values = [20, 40]
"""


# ---- validation: one clear ScenarioError at load, and exit 2 from the command line

BAD_EXPERIMENTS = {
    "bad_path": (
        '[[parameters]]\nname = "cpc"\npath = "channels.serch.cost.cpc"\nvalues = [10, 20]\n',
        "",
        ["'cpc'", "channels.serch", "did you mean 'search'"],
    ),
    "unknown_plan": ("", 'plans = ["serch_and_email"]', ["serch_and_email", "no such plan", "did you mean"]),
    "unknown_metric": ("", 'metrics = ["orders", "ordrs"]', ["unknown metric 'ordrs'", "did you mean 'orders'"]),
    "two_kinds": (
        '[[parameters]]\nname = "x"\npath = "channels.search.cost.cpc"\nbudget = ["*"]\nvalues = [1]\n',
        "",
        ["exactly one of path, budget, move, levels", "path, budget"],
    ),
    "invalid_point": (
        '[[parameters]]\nname = "p"\npath = "segments.casual.base.purchase"\nvalues = [0.05, 2.0]\n',
        "",
        ["point 1", "p = 2.0", "segments.casual.base.purchase"],
    ),
    "share_above_one": (
        '[[parameters]]\nname = "x"\nmove = { plan = "search_and_email", source = "search", target = "email" }\n'
        "values = [0.5, 1.5]\n",
        "",
        ["share", "[0, 1]", "1.5"],
    ),
    "random_without_bounds": (
        '[[parameters]]\nname = "x"\npath = "channels.search.cost.cpc"\n',
        'design = "random"',
        ["'x'", "low and high"],
    ),
    "lhs_without_bounds": (
        '[[parameters]]\nname = "x"\npath = "channels.search.cost.cpc"\n',
        'design = "lhs"',
        ["'x'", "low and high"],
    ),
    "move_unknown_channel": (
        '[[parameters]]\nname = "x"\nmove = { plan = "search_and_email", source = "serch", target = "email" }\n'
        "values = [0.5]\n",
        "",
        ["'x'", "serch", "did you mean 'search'"],
    ),
    "level_bad_path": (
        '[[parameters]]\nname = "world"\nlevels.bad = { "segments.*.base.purchse" = 1.1 }\n',
        "",
        ["purchse"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_EXPERIMENTS))
def test_bad_experiment_raises_scenario_error(case, tmp_path):
    body, settings, expected = BAD_EXPERIMENTS[case]
    path = write_experiment(tmp_path, body, settings=settings, name=f"{case}.toml")
    with pytest.raises(ScenarioError) as info:
        load_experiment(path)
    message = str(info.value)
    assert f"{case}.toml" in message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


@pytest.mark.parametrize("case", list(BAD_EXPERIMENTS))
def test_bad_experiment_cli_exits_2(case, tmp_path):
    body, settings, expected = BAD_EXPERIMENTS[case]
    path = write_experiment(tmp_path, body, settings=settings, name=f"{case}.toml")
    res = invoke("sweep", path, "--out", tmp_path / "out", "--no-report")
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit)  # a clean exit, not an uncaught exception
    assert "Traceback" not in res.output
    assert "error:" in res.output and expected[0] in res.output
    assert not (tmp_path / "out").exists()


def test_missing_experiment_and_scenario_files_exit_2(tmp_path):
    res = invoke("sweep", tmp_path / "nosuch.toml", "--out", tmp_path / "out")
    assert res.exit_code == 2 and "nosuch.toml" in res.output
    path = write_experiment(tmp_path, scenario=tmp_path / "noscenario.toml")
    res = invoke("sweep", path, "--out", tmp_path / "out")
    assert res.exit_code == 2 and "noscenario.toml" in res.output
    assert isinstance(res.exception, SystemExit)


# ---- apply_point: what a level does to the scenario


@pytest.fixture
def base() -> dict[str, Any]:
    return read_toml(MINIMAL)


def campaigns(data: dict[str, Any], plan: str = "search_and_email") -> list[dict[str, Any]]:
    return data["plans"][plan].get("campaigns", [])


def weekly_by_channel(data: dict[str, Any], plan: str = "search_and_email") -> dict[str, float]:
    out: dict[str, float] = {}
    for c in campaigns(data, plan):
        out[c["channel"]] = out.get(c["channel"], 0.0) + c["weekly"]
    return out


def test_path_star_sets_every_segment(base):
    p = Parameter(name="buy", path="segments.*.base.purchase", values=[0.2])
    data = apply_point(base, [p], {"buy": 0.2}, where="t")
    assert [data["segments"][s]["base"]["purchase"] for s in SEGMENTS] == [0.2, 0.2]
    assert base["segments"]["casual"]["base"]["purchase"] == 0.05  # the base is not modified


def test_path_with_index_sets_one_campaign(base):
    p = Parameter(name="w", path="plans.search_and_email.campaigns[1].weekly", values=[7.0])
    data = apply_point(base, [p], {"w": 7.0}, where="t")
    assert [c["weekly"] for c in campaigns(data)] == [150_000, 7.0]


def test_scale_multiplies_the_base_value(base):
    p = Parameter(name="buy", path="segments.*.base.purchase", scale=[0.5, 1.5])
    data = apply_point(base, [p], {"buy": 1.5}, where="t")
    assert data["segments"]["casual"]["base"]["purchase"] == pytest.approx(0.05 * 1.5)
    assert data["segments"]["enthusiast"]["base"]["purchase"] == pytest.approx(0.08 * 1.5)


def test_relative_bounds_multiply_the_base_value(base):
    p = Parameter(name="cpc", path="channels.search.cost.cpc", low=0.5, high=2.0, relative=True)
    data = apply_point(base, [p], {"cpc": 1.2}, where="t")
    assert data["channels"]["search"]["cost"]["cpc"] == pytest.approx(36.0)


def test_path_absent_last_key_is_set(base):
    p = Parameter(name="wom", path="segments.casual.word_of_mouth", values=[1.2])
    del base["segments"]["casual"]["word_of_mouth"]
    data = apply_point(base, [p], {"wom": 1.2}, where="t")
    assert data["segments"]["casual"]["word_of_mouth"] == 1.2


def test_budget_factor_scales_weekly_and_total(base):
    base["plans"]["search_and_email"]["campaigns"][1] = {"channel": "email", "total": 66_000.0, "weeks": [4, 26]}
    p = Parameter(name="b", budget=["search_and_email"], values=[2.0])
    data = apply_point(base, [p], {"b": 2.0}, where="t")
    first, second = campaigns(data)
    assert first["weekly"] == pytest.approx(300_000)
    assert second["total"] == pytest.approx(132_000) and "weekly" not in second


def test_budget_star_scales_every_plan(base):
    p = Parameter(name="b", budget=["*"], values=[0.5])
    data = apply_point(base, [p], {"b": 0.5}, where="t")
    assert weekly_by_channel(data) == {"search": 75_000, "email": 1_500}
    assert campaigns(data, "none") == []


def test_move_shifts_share_of_source_to_target(base):
    p = Parameter(name="m", move={"plan": "search_and_email", "source": "search", "target": "email"}, values=[0.3])
    before = weekly_by_channel(base)
    data = apply_point(base, [p], {"m": 0.3}, where="t")
    after = weekly_by_channel(data)
    assert after["search"] == pytest.approx(150_000 * 0.7)
    assert after["email"] == pytest.approx(3_000 + 0.3 * 150_000)
    assert sum(after.values()) == pytest.approx(sum(before.values()))  # the plan's weekly money is kept
    assert len(campaigns(data)) == 2


def test_move_zero_and_one(base):
    p = Parameter(name="m", move={"plan": "search_and_email", "source": "search", "target": "email"}, values=[0, 1])
    assert weekly_by_channel(apply_point(base, [p], {"m": 0.0}, where="t")) == weekly_by_channel(base)
    assert weekly_by_channel(apply_point(base, [p], {"m": 1.0}, where="t")) == {"search": 0.0, "email": 153_000}


def test_move_adds_a_target_campaign_when_there_is_none(base):
    base["plans"]["search_and_email"]["campaigns"] = base["plans"]["search_and_email"]["campaigns"][:1]
    p = Parameter(name="m", move={"plan": "search_and_email", "source": "search", "target": "email"}, values=[0.2])
    data = apply_point(base, [p], {"m": 0.2}, where="t")
    assert [c["channel"] for c in campaigns(data)] == ["search", "email"]
    assert campaigns(data)[1]["weekly"] == pytest.approx(30_000)
    assert weekly_by_channel(data) == pytest.approx({"search": 120_000, "email": 30_000})


def test_move_into_a_total_budget_keeps_its_weekly_rate_plus_the_share(base):
    # e-mail as a total over its 22 active weeks (3,000 a week); 10% of search (15,000 a week) moves to it
    base["plans"]["search_and_email"]["campaigns"][1] = {"channel": "email", "total": 66_000.0, "weeks": [4, 26]}
    p = Parameter(name="m", move={"plan": "search_and_email", "source": "search", "target": "email"}, values=[0.1])
    data = apply_point(base, [p], {"m": 0.1}, where="t")
    assert campaigns(data)[1]["total"] == pytest.approx(18_000 * 22)


def test_levels_multiply_and_empty_level_keeps_base(base):
    p = Parameter(
        name="world",
        levels={"low": {"segments.*.base.purchase": 0.8, "channels.search.cost.cpc": 1.5}, "central": {}},
    )
    low = apply_point(base, [p], {"world": "low"}, where="t")
    assert low["segments"]["casual"]["base"]["purchase"] == pytest.approx(0.04)
    assert low["segments"]["enthusiast"]["base"]["purchase"] == pytest.approx(0.064)
    assert low["channels"]["search"]["cost"]["cpc"] == pytest.approx(45)
    assert apply_point(base, [p], {"world": "central"}, where="t") == base


def test_multiplying_a_missing_number_is_an_error(base):
    p = Parameter(name="x", path="channels.search.cost.cpm", scale=[2.0])
    with pytest.raises(ScenarioError, match="no number to multiply"):
        apply_point(base, [p], {"x": 2.0}, where="t")


def test_index_out_of_range_names_the_list(base):
    p = Parameter(name="x", path="plans.search_and_email.campaigns[5].weekly", values=[1.0])
    with pytest.raises(ScenarioError, match=r"list of 2"):
        apply_point(base, [p], {"x": 1.0}, where="t")


def test_deepcopy_of_base_is_untouched_by_every_kind(base):
    before = copy.deepcopy(base)
    params = [
        Parameter(name="a", path="segments.*.base.purchase", scale=[2.0]),
        Parameter(name="b", budget=["*"], values=[2.0]),
        Parameter(name="c", move={"plan": "search_and_email", "source": "search", "target": "email"}, values=[0.5]),
        Parameter(name="d", levels={"x": {"channels.search.cost.cpc": 2.0}}),
    ]
    apply_point(base, params, {"a": 2.0, "b": 2.0, "c": 0.5, "d": "x"}, where="t")
    assert base == before


# ---- designs


def spec(design: str, parameters: list[dict[str, Any]], **settings: Any) -> Experiment:
    return Experiment.model_validate(
        {"experiment": {"scenario": "x.toml", "design": design, **settings}, "parameters": parameters}
    )


def test_grid_is_the_product_of_levels():
    s = spec(
        "grid",
        [
            {"name": "a", "path": "x.a", "values": [1, 2, 3]},
            {"name": "b", "path": "x.b", "range": {"start": 0, "stop": 1, "num": 2}},
            {"name": "c", "levels": {"lo": {}, "hi": {}}},
        ],
    )
    pts = points(s)
    assert len(pts) == 3 * 2 * 2
    assert pts[0] == {"a": 1.0, "b": 0.0, "c": "lo"}
    assert pts[-1] == {"a": 3.0, "b": 1.0, "c": "hi"}
    assert len({tuple(p.values()) for p in pts}) == 12


def test_no_parameters_is_one_point():
    assert points(spec("grid", [])) == [{}]


def test_lhs_puts_one_sample_in_each_stratum():
    n = 16
    s = spec(
        "lhs",
        [{"name": "a", "path": "x.a", "low": 0, "high": 1}, {"name": "b", "path": "x.b", "low": 10, "high": 20}],
        samples=n,
    )
    pts = points(s)
    assert len(pts) == n
    for name, low, high in (("a", 0, 1), ("b", 10, 20)):
        u = np.array([(p[name] - low) / (high - low) for p in pts])
        assert ((u >= 0) & (u < 1)).all()
        assert sorted(np.floor(u * n).astype(int)) == list(range(n)), name


@pytest.mark.parametrize("design", ["random", "lhs"])
def test_sampled_designs_are_reproducible_from_the_seed(design):
    params = [
        {"name": "a", "path": "x.a", "low": 1, "high": 5},
        {"name": "m", "move": {"plan": "p", "source": "s", "target": "t"}, "low": 0, "high": 0.5},
        {"name": "w", "levels": {"lo": {}, "mid": {}, "hi": {}}},
    ]
    first = points(spec(design, params, samples=12, seed=3))
    assert first == points(spec(design, params, samples=12, seed=3))
    assert first != points(spec(design, params, samples=12, seed=4))
    assert all(1 <= p["a"] <= 5 and 0 <= p["m"] <= 0.5 and p["w"] in ("lo", "mid", "hi") for p in first)


# ---- results: the long table, and the same tables whatever runs the tasks


def test_long_table_shape_and_columns(tmp_path):
    res = run_sweep(write_experiment(tmp_path, CPC))
    df = res.results
    assert list(df.columns[:4]) == ["point", "plan", "rep", "cpc"]
    assert list(df.columns[4:]) == ["segment", *METRIC_COLUMNS, *INCREMENTAL_COLUMNS]
    assert len(df) == 2 * 2 * 2 * (len(SEGMENTS) + 1)  # points x plans x reps x (segments + all)
    assert res.without is not None and set(res.without.plan) == {NO_MARKETING}
    assert len(res.without) == 2 * 2 * (len(SEGMENTS) + 1)  # points x reps x (segments + all)
    assert set(df.segment) == {*SEGMENTS, "all"}
    assert sorted(df.cpc.unique()) == [20.0, 40.0]
    # 'all' is the sum of the segments for counts
    one = df[(df.point == 0) & (df.plan == "search_and_email") & (df.rep == 0)].set_index("segment")
    assert one.loc["all", "orders"] == pytest.approx(one.loc[SEGMENTS, "orders"].sum())
    assert (df[df.plan == "none"].spend == 0).all()


@pytest.mark.slow
def test_one_and_two_workers_give_identical_tables(tmp_path):
    path = write_experiment(tmp_path, CPC, reps=3, agents=3000, weeks=10)
    one = sweep(path, workers=1)
    two = sweep(path, workers=2)
    pd.testing.assert_frame_equal(sorted_frame(one), sorted_frame(two))
    pd.testing.assert_frame_equal(one, two)  # task order, not finish order


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    try:
        yield cluster
    finally:
        # run_sweep leaves its Client open (see test_dask_sweep_closes_its_client): close it before the
        # cluster, or it spends 30 s trying to reconnect and logs tracebacks
        for client in list(distributed.client._global_clients.values()):
            client.close()
        cluster.close()


@pytest.mark.slow
def test_dask_cluster_gives_identical_tables(tmp_path, dask_cluster):
    path = write_experiment(tmp_path, CPC, reps=3, agents=3000, weeks=10)
    local = sweep(path, workers=1)
    remote = sweep(path, scheduler=dask_cluster.scheduler_address)
    pd.testing.assert_frame_equal(sorted_frame(local), sorted_frame(remote))
    out = tmp_path / "dask-out"
    res = run_sweep(path, scheduler=dask_cluster.scheduler_address, out=out)
    assert len(list((out / "results").glob("*.parquet"))) == 2 * (2 + 1) * 3  # points x (plans + no marketing) x reps
    pd.testing.assert_frame_equal(sorted_frame(local), sorted_frame(res.results))


def test_executor_for_picks_the_executor():
    assert type(executor_for(1, None)).__name__ == "InProcess"
    assert type(executor_for(3, None)).__name__ == "LocalPool"


# ---- common random numbers

TWIN_PLAN = """
[plans.twin]
name = "Twin of search + e-mail"

[[plans.twin.campaigns]]
channel = "search"
weekly = 150_000
weeks = [0, 26]
segments = ["casual", "enthusiast"]
stages = ["interest", "desire"]

[[plans.twin.campaigns]]
channel = "email"
weekly = 3_000
weeks = [4, 26]
segments = ["enthusiast"]
stages = ["desire", "customer", "loyal"]
"""

REPEATED_VALUE = """
[[parameters]]
name = "cpc"
path = "channels.search.cost.cpc"
values = [30, 30]
"""


@pytest.mark.parametrize("crn", [True, False])
def test_identical_plans_give_identical_rows(tmp_path, crn):
    sc = scenario_variant(tmp_path, "twin.toml", extra=TWIN_PLAN)
    path = write_experiment(
        tmp_path,
        REPEATED_VALUE,
        scenario=sc,
        settings=f'plans = ["search_and_email", "twin"]\ncommon_random_numbers = {str(crn).lower()}',
    )
    df = sweep(path)
    for point in (0, 1):
        a = df[(df.point == point) & (df.plan == "search_and_email")]
        b = df[(df.point == point) & (df.plan == "twin")]
        pd.testing.assert_frame_equal(metric_rows(a), metric_rows(b))
    res = run_sweep(path)
    diff = res.differences[res.differences.segment == "all"]
    assert (diff.orders_diff == 0).all() and (diff.revenue_diff == 0).all()


def test_common_random_numbers_pair_points(tmp_path):
    """The same level at two points: identical rows with common random numbers, different without."""
    on = sweep(write_experiment(tmp_path, REPEATED_VALUE, name="on.toml"))
    off = sweep(write_experiment(tmp_path, REPEATED_VALUE, name="off.toml", settings="common_random_numbers = false"))
    pd.testing.assert_frame_equal(metric_rows(on[on.point == 0]), metric_rows(on[on.point == 1]))
    a, b = metric_rows(off[off.point == 0]), metric_rows(off[off.point == 1])
    assert not a.equals(b)
    assert (a.orders != b.orders).any()


def test_replications_differ_and_seed_matters(tmp_path):
    df = sweep(write_experiment(tmp_path, CPC, reps=3))
    rows = df[(df.plan == "search_and_email") & (df.segment == "all") & (df.point == 0)]
    assert rows.orders.nunique() > 1
    other = sweep(write_experiment(tmp_path, CPC.replace("20, 40", "20, 41"), name="b.toml", reps=3))
    same = other[(other.plan == "search_and_email") & (other.segment == "all") & (other.point == 0)]
    pd.testing.assert_frame_equal(metric_rows(rows), metric_rows(same))  # point 0 is unchanged


# ---- output folder: summary.csv and differences.csv


def test_output_folder_tables(tmp_path):
    path = write_experiment(tmp_path, CPC, settings='reference = "none"')
    out = tmp_path / "out"
    res = invoke("sweep", path, "--out", out, "--no-report", "--quiet")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "differences.csv", "metadata.json", "no_marketing.csv", "results", "summary.csv"
    ]  # fmt: skip
    assert len(list((out / "results").glob("*.parquet"))) == 2 * (2 + 1) * 2  # points x (plans + no marketing) x reps
    meta = json.loads((out / "metadata.json").read_text())  # the shape of every output folder's metadata
    assert meta["analysis"] == "sweep" and meta["plans"] == ["none", "search_and_email"] and meta["reps"] == 2
    assert meta["settings"]["points"] == 2 and meta["settings"]["digest"]

    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns[:5]) == ["point", "cpc", "plan", "segment", "reps"]
    for m in METRIC_COLUMNS:
        assert {m, f"{m}_ci_low", f"{m}_ci_high"} <= set(summary.columns), m
    assert len(summary) == 2 * 2 * (len(SEGMENTS) + 1)  # point x plan x segment
    assert not summary.duplicated(["point", "plan", "segment"]).any()
    assert (summary.reps == 2).all()
    ok = summary.dropna(subset=["orders_ci_low"])
    assert (ok.orders_ci_low <= ok.orders).all() and (ok.orders <= ok.orders_ci_high).all()

    diffs = pd.read_csv(out / "differences.csv")
    assert list(diffs.columns[:5]) == ["point", "cpc", "plan", "segment", "reference"]
    for m in METRIC_COLUMNS:
        assert {f"{m}_diff", f"{m}_diff_ci_low", f"{m}_diff_ci_high"} <= set(diffs.columns), m
    assert len(diffs) == 2 * 1 * (len(SEGMENTS) + 1)  # point x (plans - reference) x segment
    assert set(diffs.plan) == {"search_and_email"} and set(diffs.reference) == {"none"}

    # a difference is the paired mean: mean of the plan minus mean of the reference
    s = summary.set_index(["point", "plan", "segment"])
    for _, row in diffs.iterrows():
        want = (
            s.loc[(row.point, "search_and_email", row.segment), "orders"]
            - s.loc[(row.point, "none", row.segment), "orders"]
        )
        assert row.orders_diff == pytest.approx(want)


def test_levels_parameter_in_tables(tmp_path):
    body = """
[[parameters]]
name = "world"
levels.gloomy = { "segments.*.base.purchase" = 0.5 }
levels.central = {}
"""
    res = run_sweep(write_experiment(tmp_path, body), out=tmp_path / "out")
    summary = res.summary
    assert list(summary.world.unique()) == ["gloomy", "central"]
    customers = summary[(summary.segment == "all") & (summary.plan == "none")].set_index("world").customers
    assert customers["gloomy"] < customers["central"]
    parts = pd.concat(pd.read_parquet(p) for p in (tmp_path / "out" / "results").glob("*.parquet"))
    assert set(parts.world) == {"gloomy", "central"}


# ---- resume


RESUME_BODY = """
[[parameters]]
name = "cpc"
path = "channels.search.cost.cpc"
range = { start = 10, stop = 60, num = 15 }
"""


def results_parts(folder: Path) -> list[Path]:
    return sorted((folder / "results").glob("*.parquet"))


def assert_same_results(a: Path, b: Path) -> None:
    """summary.csv, differences.csv and the results parts of two sweep folders are the same tables."""
    for name in ("summary.csv", "differences.csv"):
        pd.testing.assert_frame_equal(read_table([a / name]), read_table([b / name]), check_exact=True)
    assert [p.name for p in results_parts(a)] == [p.name for p in results_parts(b)]
    pd.testing.assert_frame_equal(read_table(results_parts(a)), read_table(results_parts(b)), check_exact=True)


@pytest.mark.slow
def test_killed_sweep_resumes_to_the_same_tables(tmp_path):
    path = write_experiment(tmp_path, RESUME_BODY, agents=5000, weeks=12)
    total = 15 * (2 + 1) * 2  # points x (plans + no marketing) x reps

    full = tmp_path / "full"
    res = invoke("sweep", path, "--out", full, "--workers", "1", "--no-report", "--quiet")
    assert res.exit_code == 0, res.output
    assert len(results_parts(full)) == total

    cut = tmp_path / "cut"
    cmd = [sys.executable, "-c", "from cjmsim.cli import main; main()", "sweep", str(path)]
    cmd += ["--out", str(cut), "--workers", "2", "--no-report", "--quiet"]
    log = tmp_path / "cut.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 60
            while not results_parts(cut) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            done = len(results_parts(cut))
            assert proc.poll() is None, f"the sweep ended before it was killed ({done} parts): {log.read_text()}"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the whole group: the CLI and its worker processes
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = len(results_parts(cut))
    assert 1 <= done < total, done

    stale = cut / "results" / ".p00003-none-r0001.parquet.tmp"
    stale.write_bytes(b"half a part")
    res = invoke("sweep", path, "--out", cut, "--workers", "2", "--resume", "--no-report", "--quiet")
    assert res.exit_code == 0, res.output
    assert not list((cut / "results").glob("*.tmp")), "stale temporary part left"
    assert len(results_parts(cut)) == total
    assert_same_results(full, cut)

    # the folder holds results: without --resume it is refused, and so is another experiment
    res = invoke("sweep", path, "--out", cut, "--no-report", "--quiet")
    assert res.exit_code == 2 and "use --resume to continue it, or another --out" in res.output  # flags
    assert isinstance(res.exception, SystemExit)
    other = write_experiment(tmp_path, RESUME_BODY, name="other.toml", agents=5000, weeks=12, reps=3)
    res = invoke("sweep", other, "--out", cut, "--resume", "--no-report", "--quiet")
    assert res.exit_code == 2 and "another experiment" in res.output
    assert isinstance(res.exception, SystemExit)
    assert_same_results(full, cut)  # refused runs changed nothing


def test_resume_runs_only_missing_tasks(tmp_path):
    path = write_experiment(tmp_path, CPC)
    out = tmp_path / "out"
    first = run_sweep(path, out=out)
    parts = results_parts(out)
    removed = parts[:3]
    for p in removed:
        p.unlink()
    (out / "results" / ".p00000-none-r0000.parquet.tmp").write_bytes(b"")
    calls: list[tuple[int, int]] = []
    again = run_sweep(path, out=out, resume=True, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (len(parts) - 3, len(parts)) and calls[-1] == (len(parts), len(parts))
    assert len(calls) == 4  # the start, and one call per task run again
    assert [p.name for p in results_parts(out)] == [p.name for p in parts]
    assert not list((out / "results").glob(".*"))
    pd.testing.assert_frame_equal(first.results, again.results)
    pd.testing.assert_frame_equal(first.summary, again.summary)
    pd.testing.assert_frame_equal(first.differences, again.differences)


def test_results_without_resume_are_refused(tmp_path):
    path = write_experiment(tmp_path, CPC)
    run_sweep(path, out=tmp_path / "out")
    # in the library's words (the CLI says --resume and --out: test_killed_sweep_resumes...)
    with pytest.raises(
        ScenarioError, match=r"holds results of a sweep already; use resume to continue it, or another out$"
    ):
        run_sweep(path, out=tmp_path / "out")
    path.write_text(path.read_text().replace("seed = 7", "seed = 8"))
    with pytest.raises(ScenarioError, match="another experiment"):
        run_sweep(path, out=tmp_path / "out", resume=True)


def test_resume_of_a_finished_sweep_runs_nothing(tmp_path, monkeypatch):
    path = write_experiment(tmp_path, CPC)
    out = tmp_path / "out"
    first = run_sweep(path, out=out)

    def boom(*args, **kwargs):
        raise AssertionError("no task should run")

    monkeypatch.setattr(sys.modules["cjmsim.analyses.sweep"], "executor_for", boom)  # the module, not cjmsim.sweep()
    again = run_sweep(path, out=out, resume=True)
    pd.testing.assert_frame_equal(first.summary, again.summary)


# ---- regression tests for bugs this suite found

WARMUP_MOVE = """
[[parameters]]
name = "share"
move = { plan = "search_and_email", source = "search", target = "email" }
values = [0.0, 0.5]
"""


def test_plans_a_parameter_does_not_touch_stay_the_same(tmp_path):
    """A move inside one plan should change only that plan. When that plan is also the scenario's
    warmup_plan (hi-fi: baseline), apply_point changes the warm-up too, so every other plan (the
    untouched reference) starts week 0 from another state and its rows change from point to point."""
    sc = scenario_variant(
        tmp_path,
        "warm.toml",
        ("warmup_weeks = 0", "warmup_weeks = 6"),
        ('# warmup_plan = "none"', 'warmup_plan = "search_and_email"'),
    )
    df = sweep(write_experiment(tmp_path, WARMUP_MOVE, scenario=sc))
    untouched = df[df.plan == "none"]
    pd.testing.assert_frame_equal(
        metric_rows(untouched[untouched.point == 0]), metric_rows(untouched[untouched.point == 1])
    )


INCOMPLETE_LEVELS = {
    "grid_with_bounds_only": (
        '[[parameters]]\nname = "cpc"\npath = "channels.search.cost.cpc"\nlow = 10\nhigh = 50\n',
        "",
    ),
    "random_budget_without_bounds": ('[[parameters]]\nname = "b"\nbudget = ["*"]\n', 'design = "random"'),
    "empty_values": ('[[parameters]]\nname = "cpc"\npath = "channels.search.cost.cpc"\nvalues = []\n', ""),
}


@pytest.mark.parametrize("case", list(INCOMPLETE_LEVELS))
def test_parameter_without_usable_levels_is_a_scenario_error(case, tmp_path):
    body, settings = INCOMPLETE_LEVELS[case]
    path = write_experiment(tmp_path, body, settings=settings, name=f"{case}.toml")
    with pytest.raises(ScenarioError):
        run_sweep(path)


@pytest.mark.parametrize("case", list(INCOMPLETE_LEVELS))
def test_parameter_without_usable_levels_cli_exits_2(case, tmp_path):
    body, settings = INCOMPLETE_LEVELS[case]
    path = write_experiment(tmp_path, body, settings=settings, name=f"{case}.toml")
    res = invoke("sweep", path, "--out", tmp_path / "out", "--no-report", "--quiet")
    assert res.exit_code == 2, res.output


def test_move_share_range_above_one_is_rejected(tmp_path):
    body = (
        '[[parameters]]\nname = "frac"\nmove = { plan = "search_and_email", source = "search", target = "email" }\n'
        "range = { start = 0, stop = 1.5, num = 4 }\n"
    )
    with pytest.raises(ScenarioError, match=r"share moved must be in \[0, 1\]"):
        load_experiment(write_experiment(tmp_path, body))


@pytest.mark.parametrize("name", ["reps", "reference"])
def test_parameter_names_clashing_with_table_columns_are_rejected(name, tmp_path):
    path = write_experiment(tmp_path, CPC.replace('name = "cpc"', f'name = "{name}"'))
    with pytest.raises(ScenarioError, match=name):
        load_experiment(path)


def test_path_parameter_on_agents_is_not_silently_ignored(tmp_path):
    body = '[[parameters]]\nname = "n"\npath = "scenario.agents"\nvalues = [1000, 4000]\n'
    path = write_experiment(tmp_path, body, settings='plans = ["none"]')
    try:
        df = sweep(path)
    except ScenarioError:
        return  # refusing the clash is a fix too
    all_rows = df[df.segment == "all"]
    assert all_rows[all_rows.point == 0].orders.tolist() != all_rows[all_rows.point == 1].orders.tolist()


def test_one_plan_sweep_writes_a_readable_differences_csv(tmp_path):
    path = write_experiment(tmp_path, CPC, settings='plans = ["search_and_email"]')
    res = invoke("sweep", path, "--out", tmp_path / "out", "--no-report", "--quiet")
    assert res.exit_code == 0, res.output
    diffs = pd.read_csv(tmp_path / "out" / "differences.csv")
    assert "point" in diffs.columns and len(diffs) == 0


@pytest.mark.slow
def test_dask_sweep_closes_its_client(tmp_path, dask_cluster):
    sweep(write_experiment(tmp_path, CPC), scheduler=dask_cluster.scheduler_address)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        clients = [c for c in dask_cluster.scheduler.clients if c != "fire-and-forget"]
        if not clients:
            break
        time.sleep(0.1)
    assert not clients, f"clients still connected after the sweep: {clients}"


@pytest.mark.slow
def test_scheduler_may_be_a_client(tmp_path, dask_cluster):
    from distributed import Client

    path = write_experiment(tmp_path, CPC)
    with Client(dask_cluster) as client:
        df = sweep(path, scheduler=client)
    pd.testing.assert_frame_equal(sorted_frame(df), sorted_frame(sweep(path)))


def test_unreachable_scheduler_exits_2(tmp_path):
    dask = pytest.importorskip("dask")
    path = write_experiment(tmp_path, CPC)
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        res = invoke("sweep", path, "--scheduler", "tcp://127.0.0.1:9", "--out", tmp_path / "out", "--quiet")
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit)


# ---- the experiments shipped in experiments/


@pytest.mark.parametrize("name", ["budget_level", "channel_mix", "robustness"])
def test_shipped_experiments_load(name):
    exp = load_experiment(ROOT / "experiments" / f"{name}.toml")
    assert exp.points and exp.plans
    assert exp.spec.experiment.reps >= 3


def test_channel_mix_moves_keep_the_baseline_budget():
    exp = load_experiment(ROOT / "experiments" / "channel_mix.toml")
    assert len(exp.points) == 5 * 4
    assert exp.plans[0] == "baseline" and exp.spec.experiment.reference == "cjm_growth"

    def weekly(sc, plan):
        out: dict[str, float] = {}
        for c in sc.plans[plan].campaigns:
            out[c.channel] = out.get(c.channel, 0.0) + (c.weekly or 0.0)
        return out

    base = weekly(exp.scenarios[0], "baseline")
    for pt, sc in zip(exp.points, exp.scenarios, strict=True):
        w = weekly(sc, "baseline")
        assert sum(w.values()) == pytest.approx(sum(base.values()))
        assert w["seo"] - base["seo"] == pytest.approx(pt["context_to_seo"] * base["context"])
        assert w["remarketing"] - base["remarketing"] == pytest.approx(
            pt["aggregator_to_remarketing"] * base["aggregator"]
        )
        assert sc.plans["cjm_growth"] == exp.scenarios[0].plans["cjm_growth"]  # the reference is not moved


def test_robustness_levels():
    exp = load_experiment(ROOT / "experiments" / "robustness.toml")
    assert exp.plans == ["baseline", "cjm", "cjm_growth"]
    assert {p["personas"] for p in exp.points} == {"pessimistic", "central", "optimistic"}
    by = {(p["personas"], p["media_prices"]): sc for p, sc in zip(exp.points, exp.scenarios, strict=True)}
    central = by["central", "current"]
    hifi = load_scenario(ROOT / "scenarios" / "hifi.toml")
    assert central.segments == hifi.segments and central.channels == hifi.channels  # central = the scenario
    for seg in central.segments:
        low = by["pessimistic", "current"].segments[seg]
        high = by["optimistic", "current"].segments[seg]
        mid = central.segments[seg]
        assert low.base.purchase < mid.base.purchase < high.base.purchase
        assert low.order_value.mean < mid.order_value.mean < high.order_value.mean
    assert by["central", "dearer"].channels["context"].cost.cpc > central.channels["context"].cost.cpc


def test_digest_follows_a_seasonality_file_the_scenario_reads(tmp_path):
    """A resume checks the digest: an edited seasonality CSV (read into the scenario when it is loaded)
    changes it, although neither the experiment nor the scenario file changed."""
    minimal = Path(__file__).resolve().parents[1] / "scenarios" / "minimal.toml"
    (tmp_path / "scenario.toml").write_text(
        minimal.read_text(encoding="utf-8") + '\n[seasonality]\nfile = "season.csv"\n', encoding="utf-8"
    )
    plan = next(iter(load_scenario(minimal).plans))
    (tmp_path / "exp.toml").write_text(
        f'[experiment]\nname = "d"\nscenario = "scenario.toml"\nplans = ["{plan}"]\nreps = 1\nagents = 1000\n'
        '[[parameters]]\nname = "budget"\nbudget = ["*"]\nvalues = [1.0]\n',
        encoding="utf-8",
    )

    def digest(peak: float) -> str:
        rows = "\n".join(f"{w},{peak if w == 50 else 1.0}" for w in range(1, 53))
        (tmp_path / "season.csv").write_text("week,multiplier\n" + rows + "\n", encoding="utf-8")
        return load_experiment(tmp_path / "exp.toml").digest

    assert digest(1.5) == digest(1.5)
    assert digest(1.5) != digest(2.0)
