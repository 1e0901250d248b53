"""Exports for analytics tools agree with the run they come from (exact identities, fixed seed)."""

from __future__ import annotations

import json
from dataclasses import fields

import helpers
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import cjmsim
import cjmsim.engine.calendar
import cjmsim.engine.step
from cjmsim import cli
from cjmsim.analyses.attribution import attribute
from cjmsim.analyses.exports import events_table, journeys_table, mmm_table, transactions_table
from cjmsim.engine import EVENTS, Records, make_streams, run_plan
from cjmsim.engine.population import segment_sizes

JOURNEY_KIND = ["journey", "order_number"]  # journeys.csv's columns after the four Markov tools read


@pytest.fixture(scope="module")
def result(scenario):
    return cjmsim.simulate(scenario, ["base"], export=True)


def test_export_logging_changes_no_result(scenario, result):
    plain = cjmsim.simulate(scenario, ["base"])
    pd.testing.assert_frame_equal(plain.summary, result.summary)


def test_journeys_conserve_conversions(scenario, result):
    rec = result.records["base"][0]
    j = journeys_table(rec, list(scenario.channels))
    assert list(j.columns) == [*["path", "total_conversions", "total_null", "total_conversion_value"], *JOURNEY_KIND]
    assert set(j.journey) == {"first", "repeat"}
    first, repeat = j[j.journey == "first"], j[j.journey == "repeat"]
    # whole people per row: the rounding moves the total by at most half a person per row
    assert abs(first.total_conversions.sum() - rec.customers.sum() * rec.weight) <= 0.5 * len(first)
    assert abs(repeat.total_conversions.sum() - (rec.orders - rec.customers).sum() * rec.weight) <= 0.5 * len(repeat)
    assert not j.duplicated(["journey", "order_number", "path"]).any()
    assert (repeat.order_number >= 2).all() and (first.order_number >= 1).all()
    assert all(p == "direct" or all(part in scenario.channels for part in p.split(" > ")) for p in j.path)
    # no path repeats a channel twice in a row (consecutive touches are collapsed)
    assert not any(a == b for p in j.path for a, b in zip(p.split(" > "), p.split(" > ")[1:], strict=False))
    # first journeys only: the table before repeat journeys, rows and all
    only = journeys_table(rec, list(scenario.channels), repeat=False)
    pd.testing.assert_frame_equal(only, first.reset_index(drop=True))


def test_transactions_are_the_orders(scenario, result):
    rec = result.records["base"][0]
    t = transactions_table(rec, scenario)
    assert list(t.columns) == ["customer_id", "date", "value", "segment", "margin"]
    assert len(t) == rec.orders.sum()
    assert t.value.sum() == pytest.approx(rec.revenue.sum(), rel=1e-6)
    assert t.date.min() >= str(scenario.scenario.start_date)


@pytest.fixture(scope="module")
def two_margins():
    """The funnel scenario with a different margin rate per segment (0.3 and 0.45)."""
    d = helpers.funnel_scenario()
    d["scenario"].update(agents=4000, weeks=12)
    d["segments"]["b"]["margin"] = 0.45
    sc = cjmsim.parse_scenario(d)
    return sc, cjmsim.simulate(sc, ["base"], export=True, baseline=False).records["base"][0]


def test_transactions_carry_segment_and_margin(two_margins):
    scenario, rec = two_margins
    t = transactions_table(rec, scenario)
    assert set(t.segment) <= set(scenario.segments) and len(set(t.segment)) > 1
    rate = t.segment.map({g: seg.margin for g, seg in scenario.segments.items()})
    np.testing.assert_array_equal(t.margin.to_numpy(), t.value.to_numpy() * rate.to_numpy())
    # each order's segment is its agent's: segments hold contiguous agent ranges in segment order
    sizes = segment_sizes([seg.share for seg in scenario.segments.values()], scenario.scenario.agents)
    owner = np.repeat(list(scenario.segments), sizes)
    np.testing.assert_array_equal(t.segment.to_numpy(), owner[t.customer_id.to_numpy()])
    # per segment, orders and revenue are the run's (unrounded values: within the cents' rounding)
    for g, seg_id in enumerate(scenario.segments):
        mine = t[t.segment == seg_id]
        assert len(mine) == rec.orders[:, g].sum()
        assert mine.margin.sum() == pytest.approx(rec.margin[:, g].sum(), abs=0.005 * len(mine) + 1e-9)


def test_mmm_is_the_observed_weekly_series(scenario, result):
    rec = result.records["base"][0]
    m = mmm_table(rec, scenario)
    assert len(m) == scenario.scenario.weeks
    assert m.orders.sum() == pytest.approx(result.totals().loc["base", "orders"])
    spend = m.filter(like="spend_").to_numpy().sum()
    assert spend == pytest.approx(result.totals().loc["base", "spend"], rel=1e-9)
    assert m.margin.sum() == pytest.approx(result.totals().loc["base", "margin"], abs=0.005 * len(m))
    assert not any(c.startswith("baseline_") for c in m.columns)  # no counterfactual given


def test_mmm_baseline_is_the_no_marketing_run(scenario, result):
    rec, base = result.records["base"][0], result.without[0]
    m = mmm_table(rec, scenario, base)
    assert list(m.columns[-3:]) == ["baseline_orders", "baseline_revenue", "baseline_margin"]
    np.testing.assert_array_equal(m.baseline_orders.to_numpy(), base.orders.sum(axis=1) * base.weight)
    np.testing.assert_array_equal(m.baseline_revenue.to_numpy(), (base.revenue.sum(axis=1) * base.weight).round(2))
    np.testing.assert_array_equal(m.baseline_margin.to_numpy(), (base.margin.sum(axis=1) * base.weight).round(2))
    # the first replication's, and a counterfactual, not the plan itself
    assert m.baseline_orders.sum() < m.orders.sum()
    np.testing.assert_array_equal(m.orders.to_numpy(), rec.orders.sum(axis=1) * rec.weight)


def _run_exports(tmp_path, scenario, *extra):
    path = tmp_path / "s.toml"
    path.write_text(helpers.to_toml(scenario.model_dump(mode="json", exclude_none=True)) + "\n")
    out = tmp_path / "o"
    args = ["run", str(path), "--plan", "base", "--export", "transactions,mmm", "--out", str(out), "--no-report"]
    res = CliRunner().invoke(cli.main, [*args, "--quiet", *extra])
    assert res.exit_code == 0, res.output
    return out / "exports" / "base"


def test_cli_mmm_csv_has_the_baseline_of_the_first_replication(tmp_path, scenario):
    d = _run_exports(tmp_path, scenario, "--reps", "2")
    m = pd.read_csv(d / "mmm.csv")
    again = cjmsim.simulate(scenario, ["base"], reps=2)
    base = again.without[0]
    np.testing.assert_allclose(m.baseline_orders, base.orders.sum(axis=1) * base.weight, rtol=1e-12)
    np.testing.assert_allclose(m.baseline_revenue, (base.revenue.sum(axis=1) * base.weight).round(2), rtol=1e-12)
    t = pd.read_csv(d / "transactions.csv")
    assert list(t.columns) == ["customer_id", "date", "value", "segment", "margin"]


def test_cli_no_baseline_writes_mmm_without_baseline_columns(tmp_path, scenario):
    d = _run_exports(tmp_path, scenario, "--no-baseline")
    m = pd.read_csv(d / "mmm.csv")
    assert "margin" in m.columns and not any(c.startswith("baseline_") for c in m.columns)
    assert (d / "ground_truth.json").exists()


def test_ground_truth_matches_the_attribution(tmp_path, scenario):
    path = tmp_path / "s.toml"
    path.write_text(helpers.to_toml(scenario.model_dump(mode="json", exclude_none=True)) + "\n")
    res = CliRunner().invoke(
        cli.main,
        [
            "run",
            str(path),
            "--plan",
            "base",
            "--export",
            "journeys,transactions,mmm",
            "--out",
            str(tmp_path / "o"),
            "--no-report",
        ],
    )
    assert res.exit_code == 0, res.output
    truth = json.loads((tmp_path / "o" / "exports" / "base" / "ground_truth.json").read_text())
    attr = attribute(scenario, "base", reps=1, shapley="none")
    for ch, series in truth["channels"].items():
        inc = attr.table[(attr.table.channel == ch) & (attr.table.segment == "all")].incremental_orders.iloc[0]
        assert np.sum(series["incremental_orders"]) == pytest.approx(inc, abs=1e-6)


@pytest.mark.parametrize("kinds", ["journeys,nope", "events,nope", "event"])
def test_unknown_export_exits_2(tmp_path, scenario, kinds):
    path = tmp_path / "s.toml"
    path.write_text(helpers.to_toml(scenario.model_dump(mode="json", exclude_none=True)) + "\n")
    res = CliRunner().invoke(cli.main, ["run", str(path), "--export", kinds, "--out", str(tmp_path / "o")])
    bad = kinds.split(",")[-1]
    assert res.exit_code == 2 and repr(bad) in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o").exists()


# ---- events.parquet: the per-agent event log

STAGE_EVENTS = ["aware", "interest", "desire", "customer", "loyal", "lost"]
# the stage entered next after each stage entered (unaware is never entered)
LEGAL_NEXT = {
    "aware": {"interest", "lost"},
    "interest": {"desire", "lost"},
    "desire": {"customer", "lost"},
    "customer": {"loyal", "lost"},
    "loyal": {"lost"},
    "lost": {"aware"},
}


@pytest.fixture(scope="module")
def warm_scenario():
    """The funnel with a warm-up under the plan, so the warm-up's events exist and must not be logged."""
    d = helpers.funnel_scenario()
    d["scenario"].update(agents=4000, weeks=10, warmup_weeks=4, warmup_plan="base")
    d["segments"]["a"]["return_rate"] = 0.2  # lost -> aware happens too
    d["segments"]["a"]["heterogeneity"] = 0.5
    return cjmsim.parse_scenario(d)


@pytest.fixture(scope="module")
def events_run(warm_scenario):
    return cjmsim.simulate(warm_scenario, ["base"], reps=2, events=True)


@pytest.fixture(scope="module")
def events(warm_scenario, events_run):
    return events_table(events_run.records["base"][0], warm_scenario)


def _per_week_segment(ev: pd.DataFrame, mask: pd.Series, W: int, G: int, weights=None) -> np.ndarray:
    """Rows under mask counted (or weights summed) per (week, segment code), as a (W, G) array."""
    sub = ev[mask]
    w = None if weights is None else weights[mask].to_numpy(dtype=np.float64)
    flat = sub.week.to_numpy(np.int64) * G + sub.segment.cat.codes.to_numpy(np.int64)
    return np.bincount(flat, weights=w, minlength=W * G).reshape(W, G)


def test_events_table_columns_and_dtypes(warm_scenario, events):
    ev = events
    sc = warm_scenario
    assert list(ev.columns) == ["agent", "segment", "week", "event", "channel", "count", "value", "at"]
    assert pd.api.types.is_integer_dtype(ev.agent) and pd.api.types.is_integer_dtype(ev.week)
    assert list(ev.segment.cat.categories) == list(sc.segments)
    assert list(ev.event.cat.categories) == list(EVENTS)
    assert list(ev.channel.cat.categories) == list(sc.channels)
    assert set(ev.event.unique()) == set(EVENTS)  # every kind of event happened in this run
    # horizon weeks only, though the warm-up ran the same plan
    assert ev.week.min() == 0 and ev.week.max() == sc.scenario.weeks - 1
    exposure = (ev.event == "exposure").to_numpy()
    order = ev.event.isin(["customer", "repeat"]).to_numpy()
    np.testing.assert_array_equal(ev.channel.notna().to_numpy(), exposure)
    np.testing.assert_array_equal(ev["count"].notna().to_numpy(), exposure)
    np.testing.assert_array_equal(ev.value.notna().to_numpy(), order)
    np.testing.assert_array_equal(ev["at"].notna().to_numpy(), exposure)
    at = ev["at"][exposure]
    assert ev["at"].dtype == np.float32 and (at >= 0).all() and (at < 1).all()
    assert (ev.value[order] > 0).all()
    caps = ev.channel[exposure].map({c: ch.frequency_cap for c, ch in sc.channels.items()}).astype(int)
    counts = ev["count"][exposure]
    assert (counts >= 1).all() and (counts.to_numpy() <= caps.to_numpy()).all()
    # each agent's segment is the block it was drawn in
    bounds = np.concatenate([[0], np.cumsum(segment_sizes([s.share for s in sc.segments.values()], 4000))])
    np.testing.assert_array_equal(np.searchsorted(bounds, ev.agent, side="right") - 1, ev.segment.cat.codes)
    # sorted by week, then agent, then exposures by their time in the week (ties by channel), then the
    # other events in EVENTS order; no duplicate rows
    later = np.where(exposure, ev.event.cat.codes, len(EVENTS) + ev.event.cat.codes)  # exposures first
    key = ev[["week", "agent"]].assign(e=later, at=ev["at"].fillna(0), c=ev.channel.cat.codes.where(exposure, -1))
    assert key.apply(tuple, axis=1).is_monotonic_increasing
    assert not key.drop(columns="at").duplicated().any()


def test_events_orders_are_the_runs_orders(warm_scenario, events_run, events):
    rec = events_run.records["base"][0]
    W, G = rec.orders.shape
    ev = events
    orders = ev.event.isin(["customer", "repeat"])
    assert orders.sum() == rec.orders.sum() > 0
    np.testing.assert_array_equal(_per_week_segment(ev, orders, W, G), rec.orders)
    np.testing.assert_array_equal(_per_week_segment(ev, ev.event == "customer", W, G), rec.customers)
    np.testing.assert_allclose(_per_week_segment(ev, orders, W, G, weights=ev.value), rec.revenue, rtol=1e-12)
    assert ev.value.sum() == pytest.approx(rec.revenue.sum(), rel=1e-12)
    # the same orders as the transactions export's log: agent, week and value
    logged = cjmsim.simulate(warm_scenario, ["base"], export=True).records["base"][0].order_log
    assert logged is not None
    mine = ev[orders].sort_values(["week", "agent"], kind="stable")
    np.testing.assert_array_equal(mine.agent.to_numpy(), logged.agent.to_numpy())
    np.testing.assert_array_equal(mine.value.to_numpy(), logged.value.to_numpy())


def test_events_stage_entries_are_the_runs_counters(events_run, events):
    rec = events_run.records["base"][0]
    W, G = rec.orders.shape
    ev = events
    for event, counter in [("aware", rec.aware), ("interest", rec.leads), ("desire", rec.desire), ("loyal", rec.loyal)]:
        assert counter.sum() > 0, event
        np.testing.assert_array_equal(_per_week_segment(ev, ev.event == event, W, G), counter, err_msg=event)


def test_exposure_counts_are_the_delivered_units(warm_scenario, events_run, events):
    rec = events_run.records["base"][0]
    W, G, C = rec.units.shape
    ev = events
    exp = ev[ev.event == "exposure"]
    flat = (exp.week.to_numpy(np.int64) * G + exp.segment.cat.codes.to_numpy()) * C + exp.channel.cat.codes.to_numpy()
    counts = np.bincount(flat, weights=exp["count"].to_numpy(np.float64), minlength=W * G * C).reshape(W, G, C)
    # rec.units are real units: the agents' exposures times the agent weight
    assert rec.weight != 1
    np.testing.assert_allclose(counts * rec.weight, rec.units, rtol=1e-12)
    # an agent's first exposure in the horizon is when it counts as reached
    first = exp.drop_duplicates("agent")
    np.testing.assert_array_equal(_per_week_segment(first, pd.Series(True, index=first.index), W, G), rec.reached)


def test_each_agents_events_follow_the_journey(events):
    ev = events
    stages = ev[ev.event.isin(STAGE_EVENTS + ["repeat"])]
    stages = stages.assign(event=stages.event.astype(str)).sort_values(["agent", "week"], kind="stable")
    moves = stages[stages.event != "repeat"]
    assert len(moves) > 0 and moves.agent.duplicated().any()
    # one stage change per agent and week; the next stage entered is one the model can reach
    assert not moves.duplicated(["agent", "week"]).any()
    prev = moves.groupby("agent").event.shift()
    pairs = pd.DataFrame({"prev": prev, "next": moves.event})[prev.notna()]
    assert len(pairs) > 0
    illegal = pairs[[n not in LEGAL_NEXT[p] for p, n in zip(pairs.prev, pairs.next, strict=True)]]
    assert illegal.empty, illegal.value_counts().head()
    # a first order follows desire, whenever the horizon saw the agent enter a stage before it
    assert (pairs.prev[pairs.next == "customer"] == "desire").all()
    # a repeat order is made by a customer or a loyal agent: the last stage it entered before
    # (a churn or loyalty move of the same week comes after the order)
    before = stages.groupby("agent").event.shift().where(lambda s: s != "repeat").groupby(stages.agent).ffill()
    made = before[(stages.event == "repeat") & before.notna()]
    assert len(made) > 0 and made.isin(["customer", "loyal"]).all()
    assert not stages[stages.event == "repeat"].duplicated(["agent", "week"]).any()


def test_event_log_only_on_request_and_it_changes_no_result(warm_scenario, events_run):
    plain = cjmsim.simulate(warm_scenario, ["base"], reps=2)
    pd.testing.assert_frame_equal(plain.summary, events_run.summary)
    pd.testing.assert_frame_equal(plain.weekly, events_run.weekly)
    arrays = [f.name for f in fields(Records) if f.name not in ("weight", "extra", "order_log", "journey_log")]
    for a, b in zip(plain.records["base"], events_run.records["base"], strict=True):
        assert a.event_log is None
        for name in arrays:
            if name != "event_log":
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    # the log is large: only the first replication (the one exports use) keeps it
    assert events_run.records["base"][0].event_log is not None
    assert events_run.records["base"][1].event_log is None
    with pytest.raises(ValueError, match="events=True"):
        events_table(plain.records["base"][0], warm_scenario)


def test_event_log_is_the_same_for_any_thread_count(funnel, monkeypatch):
    pools = []

    class SpyPool(cjmsim.engine.calendar.ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(kwargs.get("max_workers"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(cjmsim.engine.calendar, "ThreadPoolExecutor", SpyPool)
    monkeypatch.setattr(cjmsim.engine.step, "CHUNK", 1 << 13)  # many blocks, interleaved on the threads
    funnel["scenario"].update(population=600_000, warmup_weeks=1, warmup_plan="base")
    sc = cjmsim.parse_scenario(funnel)
    logs = [
        run_plan(sc, "base", make_streams(3, 0, len(sc.segments)), 50_000, 3, threads=t, events=True).event_log
        for t in (1, 2)
    ]
    assert pools == [2]  # threads=2 really stepped the blocks on a pool
    assert logs[0] is not None and len(logs[0]) > 0
    pd.testing.assert_frame_equal(logs[0], logs[1])


def test_cli_writes_events_parquet(tmp_path, write_toml, warm_scenario, events):
    path = write_toml(warm_scenario.model_dump(mode="json", exclude_none=True))
    out = tmp_path / "o"
    args = ["run", str(path), "--plan", "base", "--export", "events", "--out", str(out), "--no-report", "--quiet"]
    res = CliRunner().invoke(cli.main, args)
    assert res.exit_code == 0, res.output
    d = out / "exports" / "base"
    assert sorted(p.name for p in d.iterdir()) == ["events.parquet"]  # only what was asked for
    read = pd.read_parquet(d / "events.parquet")
    pd.testing.assert_frame_equal(read, events)  # the file is the API's table, dtypes and all
    # with the other exports, each is written beside it
    both = tmp_path / "o2"
    args = ["run", str(path), "--plan", "base", "--export", "transactions,events", "--out", str(both), "--quiet"]
    res = CliRunner().invoke(cli.main, [*args, "--no-report"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (both / "exports" / "base").iterdir()) == ["events.parquet", "transactions.csv"]
    pd.testing.assert_frame_equal(pd.read_parquet(both / "exports" / "base" / "events.parquet"), events)
