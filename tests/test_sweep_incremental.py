"""Sweeps against no marketing (issue 12): every point and replication also runs no marketing on
the same customers and random numbers; each plan's rows gain the incremental metrics, the
differences the paired ratios; ``baseline = false`` skips it. Exact equalities, no tolerances:
the no-marketing run and the minimal scenario's empty plan ``none`` are the same simulation.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cjmsim.analyses import metrics
from cjmsim.analyses.sweep import DIFFERENCE_SUFFIXES, NO_MARKETING, load_experiment, run_sweep
from cjmsim.scenario import INCREMENTAL_METRICS, SUMMARY_METRICS, TOTAL_METRICS, ScenarioError
from tests.test_sweep import CPC, invoke, results_parts, scenario_variant, write_experiment

WARM = (("warmup_weeks = 0", 'warmup_weeks = 4\nwarmup_plan = "search_and_email"'),)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sweepinc")


@pytest.fixture(scope="module")
def warm_sweep(folder: Path):
    """The CPC grid on the minimal scenario with a warm-up, 3 replications, the empty plan ``none`` as
    the reference, written to a folder."""
    sc = scenario_variant(folder, "warm.toml", *WARM)
    path = write_experiment(folder, CPC, name="warm_exp.toml", scenario=sc, reps=3, settings='reference = "none"')
    return path, run_sweep(path, out=folder / "warm_out")


def test_inc_orders_is_orders_minus_the_empty_plans_exactly(warm_sweep):
    """At every point, replication and segment: inc_x = x - x(plan none), bit for bit (an empty plan and
    no marketing are the same run; the warm-up runs the scenario's warm-up plan in both)."""
    _, res = warm_sweep
    r = res.results.set_index(["point", "segment", "rep"])
    plan, empty = r[r.plan == "search_and_email"], r[r.plan == "none"]
    empty = empty.loc[plan.index]
    for m in ("orders", "customers", "revenue", "margin"):
        assert (plan[f"inc_{m}"].to_numpy() == (plan[m] - empty[m]).to_numpy()).all(), m
    assert (empty.inc_orders == 0).all() and (empty.inc_revenue == 0).all()
    assert (plan.loc[(slice(None), "all", slice(None)), "inc_orders"] > 0).all()  # the plan adds orders
    # the no-marketing rows are the empty plan's rows
    w = res.without.set_index(["point", "segment", "rep"]).loc[plan.index]
    assert (w[list(TOTAL_METRICS)].fillna(-1).to_numpy() == empty[list(TOTAL_METRICS)].fillna(-1).to_numpy()).all()
    # icpo and iromi as the registry defines them, replication by replication
    spend = plan.spend
    ok = plan.inc_orders > 0  # n/a where the plan adds no order (a segment it does not reach)
    assert np.array_equal(plan.icpo[ok], spend[ok] / plan.inc_orders[ok]) and plan.icpo[~ok].isna().all()
    assert np.array_equal(plan.iromi, (plan.inc_margin - spend) / spend, equal_nan=True)


def test_summary_has_the_incremental_means_and_cis(warm_sweep):
    _, res = warm_sweep
    s = res.summary
    for m in SUMMARY_METRICS:
        assert {m, f"{m}_ci_low", f"{m}_ci_high"} <= set(s.columns), m
    row = s[(s.plan == "search_and_email") & (s.segment == "all") & (s.point == 0)].iloc[0]
    r = res.results
    reps = r[(r.plan == "search_and_email") & (r.segment == "all") & (r.point == 0)]
    assert row.inc_orders == metrics.confidence(reps.inc_orders.to_numpy())[0]
    assert row.icpo_ci_low < row.icpo < row.icpo_ci_high
    nm = res.no_marketing
    assert set(nm.plan) == {NO_MARKETING} and len(nm) == 2 * 3  # points x (2 segments + all)
    assert (nm.spend == 0).all()


def test_ratio_columns_are_the_paired_ratios_of_the_parts(warm_sweep):
    _, res = warm_sweep
    d = res.differences
    names = list(SUMMARY_METRICS)
    assert list(d.columns) == [
        "point", "cpc", "plan", "segment", "reference", *[f"{m}{x}" for m in names for x in DIFFERENCE_SUFFIXES]
    ]  # fmt: skip
    r = res.results.set_index(["point", "plan", "segment"]).sort_values("rep")
    for _, row in d.iterrows():
        a = r.loc[(row.point, row.plan, row.segment)]
        b = r.loc[(row.point, "none", row.segment)]
        for m in ("orders", "revenue", "spend", "inc_margin"):
            want = metrics.paired_ratio(a[m].to_numpy(float), b[m].to_numpy(float))
            got = (row[f"{m}_ratio"], row[f"{m}_ratio_ci_low"], row[f"{m}_ratio_ci_high"])
            assert all((g == w) or (math.isnan(g) and math.isnan(w)) for g, w in zip(got, want, strict=True)), m
        # the plan's orders over the empty plan's: the same ratio as 1 + inc_orders / orders(none)
        assert row.orders_ratio == pytest.approx(1 + a.inc_orders.mean() / b.orders.mean(), rel=1e-12)
        # against the same no-marketing run, an incremental difference is the total's difference
        assert row.inc_orders_diff == pytest.approx(row.orders_diff, rel=1e-12, abs=1e-9)


def test_the_folder_has_no_marketing_csv_and_the_ratio_columns(warm_sweep, folder):
    path, _ = warm_sweep
    out = folder / "cli_out"
    res = invoke("sweep", path, "--out", out, "--no-report", "--quiet")
    assert res.exit_code == 0, res.output
    nm = pd.read_csv(out / "no_marketing.csv")
    assert set(nm.plan) == {NO_MARKETING}
    diffs = pd.read_csv(out / "differences.csv")
    assert {"orders_ratio", "orders_ratio_ci_low", "orders_ratio_ci_high", "iromi_ratio"} <= set(diffs.columns)
    parts = results_parts(out)
    assert len(parts) == 2 * 3 * 3  # points x (plans + no marketing) x reps
    assert sum("-__none__-" in p.name for p in parts) == 2 * 3


def test_one_and_two_workers_give_identical_incremental_tables(warm_sweep):
    path, one = warm_sweep
    two = run_sweep(path, workers=2)
    for name in ("results", "summary", "differences", "without", "no_marketing"):
        pd.testing.assert_frame_equal(getattr(one, name), getattr(two, name), check_exact=True, obj=name)


def test_resume_runs_the_missing_no_marketing_tasks_to_the_same_tables(warm_sweep, folder):
    """A folder whose no-marketing parts are gone (as in a sweep of an older cjmsim, which ran none)
    and one plan part damaged: the resume runs exactly those, and the tables are unchanged."""
    import shutil

    path, full = warm_sweep
    out = folder / "resumed"
    shutil.copytree(folder / "warm_out", out)
    gone = [p for p in results_parts(out) if "-__none__-" in p.name]
    for p in gone:
        p.unlink()
    results_parts(out)[0].write_bytes(b"")  # an empty plan part: set aside, run again
    calls: list[tuple[int, int]] = []
    again = run_sweep(path, out=out, resume=True, progress=lambda d, t: calls.append((d, t)))
    total = 2 * 3 * 3
    assert calls[0] == (total - len(gone) - 1, total) and calls[-1] == (total, total)
    assert len(again.warnings) == 1
    for name in ("results", "summary", "differences", "without", "no_marketing"):
        pd.testing.assert_frame_equal(getattr(full, name), getattr(again, name), check_exact=True, obj=name)


def test_baseline_false_runs_no_marketing_nowhere(folder):
    path = write_experiment(folder, CPC, name="nobase.toml", settings="baseline = false")
    exp = load_experiment(path)
    assert exp.spec.experiment.metrics[0] == "orders"  # the totals' headline: there is no incremental one
    out = folder / "nobase_out"
    res = invoke("sweep", path, "--out", out, "--no-report")
    assert res.exit_code == 0, res.output
    assert "8 tasks (2 points x (2 plans) x 2 reps)" in " ".join(res.output.split())
    assert not (out / "no_marketing.csv").exists()
    assert not [p for p in results_parts(out) if "__none__" in p.name]
    r = run_sweep(path)
    assert r.without is None and r.no_marketing is None and not r.incremental
    assert not set(INCREMENTAL_METRICS) & set(r.results.columns)
    assert not any(c.startswith("inc_") for c in r.differences.columns)
    assert "orders_ratio" in r.differences.columns  # the ratios come with or without the baseline


def test_experiments_may_name_the_incremental_metrics(folder):
    path = write_experiment(folder, CPC, name="named.toml", settings='metrics = ["iromi", "icpo", "inc_orders"]')
    assert load_experiment(path).spec.experiment.metrics == ["iromi", "icpo", "inc_orders"]
    default = load_experiment(write_experiment(folder, CPC, name="default.toml"))
    assert default.spec.experiment.metrics[:3] == ["inc_orders", "icpo", "iromi"]  # the sweep leads with them
    bad = write_experiment(folder, CPC, name="bad.toml", settings='baseline = false\nmetrics = ["iromi"]')
    with pytest.raises(ScenarioError, match="'iromi' is incremental.*baseline = false"):
        load_experiment(bad)
    res = invoke("sweep", bad, "--quiet", "--no-report")
    assert res.exit_code == 2 and "baseline = true" in res.output


@pytest.mark.parametrize("name", ["orders_ratio", "iromi_ratio_ci_low", "inc_orders_diff_ci_high"])
def test_parameter_names_clashing_with_ratio_columns_are_rejected(name, folder):
    body = f'[[parameters]]\nname = "{name}"\npath = "channels.search.cost.cpc"\nvalues = [20]\n'
    with pytest.raises(ScenarioError, match="clash with result columns"):
        load_experiment(write_experiment(folder, body, name=f"clash_{name}.toml"))


def test_fewer_agents_than_the_scenario_are_stated_and_compared(warm_sweep, folder):
    """The experiment runs 2,000 agents, the scenario 20,000: the terminal and the page say so, with the
    reference plan once at each size; the full-size figure is what `cjmsim run --reps 1` gives."""
    import cjmsim

    path, _ = warm_sweep
    out = folder / "agents_out"
    res = invoke("sweep", path, "--out", out)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "note: 2,000 agents per run (the scenario's run uses 20,000)" in text
    assert "The base plan \u201cNo marketing\u201d" in text  # the reference: its spend is 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "2,000 agents per run (the scenario&#39;s run uses 20,000)" in html
    assert "2,000 (run: 20,000)" in html  # the facts
    exp = load_experiment(path)
    sc = cjmsim.load_scenario(exp.scenario_path)
    run = cjmsim.simulate(sc, ["none"], reps=1, weeks=8, baseline=False).totals().loc["none"]
    from cjmsim.analyses.reconcile import reconcile

    rec = reconcile(sc, "none", 2000, weeks=8)
    assert rec.full["orders"] == run.orders and rec.full_agents == 20_000


def test_the_scenarios_own_agents_need_no_statement(folder):
    sc = scenario_variant(folder, "small.toml", ("agents = 20_000", "agents = 2_000"))
    path = write_experiment(folder, CPC, name="small_exp.toml", scenario=sc)
    out = folder / "small_out"
    res = invoke("sweep", path, "--out", out)
    assert res.exit_code == 0, res.output
    assert "note:" not in res.output and "agents per run (the scenario" not in (out / "report.html").read_text()
