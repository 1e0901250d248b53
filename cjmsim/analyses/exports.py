"""Exports of a run for the analytics a marketing team already uses, with the ground truth beside them.

- ``journeys.csv``: the path format Markov attribution tools take: one row per distinct
  (journey, order number, path): ``path`` (channel ids joined by " > ", consecutive repeats
  collapsed, the latest 16 touches (fewer beyond 15 channels: 12 up to 31, 10 up to 63, ...:
  ``cjmsim.engine.path_touches``), touches of one week in the order of their time in the week;
  ``direct`` for a journey no channel touched), ``total_conversions`` and ``total_null`` (people,
  rounded to whole people per row), ``total_conversion_value``, ``journey`` (``first``: to a
  first order or a loss before one; ``repeat``: from an order to the next, or to a churn or the
  horizon's end without one) and ``order_number`` (the order the journey ends at, or would have).
  :func:`markov_paths` sums it per path for a Markov model.
- ``transactions.csv``: ``customer_id``, ``date``, ``value``, ``segment`` (the ordering agent's
  segment id), ``margin`` (``value`` times the segment's margin rate): one row per order, for CLV models.
- ``mmm.csv``: the weekly series a marketer observes: spend and units (impressions, clicks,
  messages) per channel, orders, revenue, margin; the controls ``season`` and ``trend`` (the need
  multiplier in force, population-share weighted over segments) and ``price_index_<channel>``
  (unit price / base price) for each channel with a ``price_season``; with a baseline run also ``baseline_orders``,
  ``baseline_revenue`` and ``baseline_margin``, the same weeks with no marketing on the same random
  numbers (the organic baseline). ``ground_truth.json`` beside it holds each channel's true
  weekly incremental orders and revenue, from the same run with the channel switched off (common
  random numbers).
- ``observed.csv``: the company's weekly data in the calibration's data contract
  (docs/calibration.md): ``week`` (0 = the first horizon week) and ``date``; ``spend_<channel>``
  and ``units_<channel>`` per channel; the counts an analytics system tracks, in whole people,
  ``leads``, ``new_customers`` and ``orders``, and ``revenue``; then the same four per segment,
  ``<count>:<segment>``. :func:`observed_table`; ``cjmsim.analyses.calibration.read_observed``
  reads it back. Beside it, for a scenario with ``[[lift_tests]]`` that run in the plan, ``lift.csv``:
  each test replayed and reported as the company's analysts would (``cjmsim.analyses.calibration.lift``).
- ``events.parquet``: the per-agent event log, one row per event in the horizon, sorted by week,
  agent and event: ``agent``, ``segment``, ``week``, ``event`` (``exposure``, or the stage entered:
  ``aware``, ``interest``, ``desire``, ``customer`` for a first order, ``loyal``, ``lost``; or
  ``repeat`` for a repeat order), ``channel`` (exposures only), ``count`` (exposures that week),
  ``value`` (the order value of ``customer`` and ``repeat``), ``at`` (an exposure's time in its
  week, in [0, 1); a week's exposures sort by it). Large (about one row per agent,
  channel and week with an exposure), so the engine logs it only when asked.

All from the first replication of each plan: one realisation, as observed data would be.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cjmsim.analyses.choices import EXPORTS, OBSERVED_COUNTS
from cjmsim.engine import EVENTS, JOURNEYS, Records, make_streams, path_channels, run_plan
from cjmsim.output import write_csv, write_json, write_parquet
from cjmsim.scenario import ArgumentError, Scenario, parse_scenario

__all__ = [
    "EXPORTS",
    "parse_exports",
    "JOURNEY_COLUMNS",
    "journeys_table",
    "markov_paths",
    "transactions_table",
    "mmm_table",
    "OBSERVED_COUNTS",
    "observed_table",
    "events_table",
    "ground_truth",
    "write_exports",
]


def parse_exports(text: str | None) -> list[str]:
    """The export names of a comma-separated list; ScenarioError for an unknown one."""
    if not text:
        return []
    names = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in names if x not in EXPORTS]
    if bad:
        raise ArgumentError("exports", f" {bad[0]!r}: unknown export; choose from {', '.join(EXPORTS)}")
    return list(dict.fromkeys(names))


def _decode(code: int, channels: list[str]) -> str:
    parts = [channels[c] for c in path_channels(code, len(channels))]
    return " > ".join(parts) if parts else "direct"


#: journeys.csv's columns, in order: the four Markov tools read, then the journey's kind and order.
JOURNEY_COLUMNS = ["path", "total_conversions", "total_null", "total_conversion_value", "journey", "order_number"]
_TOTALS = ["total_conversions", "total_null", "total_conversion_value"]


def journeys_table(rec: Records, channels: list[str], repeat: bool = True) -> pd.DataFrame:
    """Distinct (journey, order number, path) with their conversions, non-conversions and value (people).

    ``journey`` is ``first`` (to a first order or a loss before one, as journeys.csv held before
    repeat journeys) or ``repeat`` (from an order to the next, or to a churn or the horizon's end
    without one); ``order_number`` is the order the journey ends at (or would have: the next one).
    ``repeat=False`` keeps the first journeys only. Rows: first journeys, then repeat, each by
    conversions (most first), path and order number.
    """
    log = rec.journey_log
    if log is None:
        raise ValueError("the run was not made with export=True")
    if not repeat:
        log = log[~log.repeat]
    if log.empty:
        return pd.DataFrame(columns=JOURNEY_COLUMNS)
    keys = [log.repeat.rename("journey"), log.order_number, log.path]
    t = pd.DataFrame(
        {
            "total_conversions": log.converted.astype(np.float64).groupby(keys).sum() * rec.weight,
            "total_null": (~log.converted).astype(np.float64).groupby(keys).sum() * rec.weight,
            "total_conversion_value": log.value.groupby(keys).sum() * rec.weight,
        }
    ).reset_index()
    t["path"] = [_decode(int(c), channels) for c in t.path]
    t["journey"] = np.array(JOURNEYS, dtype=object)[t.journey.to_numpy(np.intp)]
    t = t.groupby(["journey", "order_number", "path"], as_index=False)[_TOTALS].sum()  # codes beyond 16 touches
    # whole people: attribution tools count journeys in integers (a fractional agent weight rounds)
    t["total_conversions"] = t["total_conversions"].round().astype(np.int64)
    t["total_null"] = t["total_null"].round().astype(np.int64)
    t["order_number"] = t["order_number"].astype(np.int64)
    t = t.sort_values(
        ["journey", "total_conversions", "path", "order_number"], ascending=[True, False, True, True], ignore_index=True
    )
    return t[JOURNEY_COLUMNS]


def markov_paths(journeys: pd.DataFrame, repeat: bool = True) -> pd.DataFrame:
    """journeys.csv summed per path, the input of Markov attribution (e.g. ChannelAttribution's ``markov_model``).

    With ``repeat`` (the default) every journey counts, first and repeat, so the credited
    conversions are all orders, as the ground truth's incremental orders are; ``repeat=False`` counts
    first journeys only (acquisition: first orders against losses before one).
    """
    j = journeys if repeat else journeys[journeys.journey == "first"]
    out = j.groupby("path", as_index=False)[_TOTALS].sum()
    return out.sort_values(["total_conversions", "path"], ascending=[False, True], ignore_index=True)


def transactions_table(rec: Records, sc: Scenario) -> pd.DataFrame:
    """One row per order: customer_id (the agent), date (start of its week), value, segment, margin.

    ``value`` is rounded to cents; ``margin`` is that rounded value times the segment's margin rate
    (not rounded again), so the column is exactly ``value * margin rate``.
    """
    log = rec.order_log
    if log is None:
        raise ValueError("the run was not made with export=True")
    dates = pd.to_datetime(sc.scenario.start_date) + pd.to_timedelta(log.week.to_numpy() * 7, unit="D")
    segments = list(sc.segments)
    rates = np.array([seg.margin for seg in sc.segments.values()], dtype=np.float64)
    code = log.segment.to_numpy()
    value = log.value.round(2).to_numpy()
    return pd.DataFrame(
        {
            "customer_id": log.agent.to_numpy(),
            "date": dates.strftime("%Y-%m-%d"),
            "value": value,
            "segment": np.array(segments, dtype=object)[code],
            "margin": value * rates[code],
        }
    )


def mmm_table(rec: Records, sc: Scenario, without: Records | None = None) -> pd.DataFrame:
    """The observed weekly series: date, spend and units per channel, orders, revenue and margin.

    Controls: ``season`` and ``trend`` (the need multiplier in force, weighted by population share)
    and ``price_index_<channel>`` per channel with a ``price_season`` (season x trend of its price);
    ``intervention_spend`` (the plan's interventions' cost booked in the week) when the plan has a cost of one.

    With ``without`` (the no-marketing run on the same random numbers), also the organic baseline:
    ``baseline_orders``, ``baseline_revenue`` and ``baseline_margin`` (people, currency).
    """
    W = rec.orders.shape[0]
    start = pd.to_datetime(sc.scenario.start_date)
    data: dict[str, Any] = {"date": (start + pd.to_timedelta(np.arange(W) * 7, unit="D")).strftime("%Y-%m-%d")}
    for c, (cid, ch) in enumerate(sc.channels.items()):
        data[f"spend_{cid}"] = rec.spend[:, :, c].sum(axis=1).round(2)
        data[f"{ch.cost.unit}_{cid}"] = rec.units[:, :, c].sum(axis=1).round(1)
    if rec.intervention_spend.any():  # a plan's interventions: their cost is spend too, not a channel's
        data["intervention_spend"] = rec.intervention_spend.sum(axis=1).round(2)
    data["orders"] = rec.orders.sum(axis=1) * rec.weight
    data["revenue"] = (rec.revenue.sum(axis=1) * rec.weight).round(2)
    data["margin"] = (rec.margin.sum(axis=1) * rec.weight).round(2)
    # controls: the need multiplier in force (population-share weighted over segments) and the price indices
    share = np.array([seg.share for seg in sc.segments.values()], dtype=np.float64)
    share /= share.sum()
    data["season"] = (rec.season @ share).round(12)
    data["trend"] = (rec.trend @ share).round(12)
    start_date = sc.scenario.start_date
    for cid, ch in sc.channels.items():
        if ch.price_season is not None:
            ps = ch.price_season
            data[f"price_index_{cid}"] = [round(math.prod(ps.index(start_date, t)), 12) for t in range(W)]
    if without is not None:
        data["baseline_orders"] = without.orders.sum(axis=1) * without.weight
        data["baseline_revenue"] = (without.revenue.sum(axis=1) * without.weight).round(2)
        data["baseline_margin"] = (without.margin.sum(axis=1) * without.weight).round(2)
    return pd.DataFrame(data)


#: The Records field behind each count of observed.csv (agents, but revenue: currency / weight).
_OBSERVED_FIELDS = {"leads": "leads", "new_customers": "customers", "orders": "orders", "revenue": "revenue"}


def observed_table(rec: Records, sc: Scenario) -> pd.DataFrame:
    """The company's weekly data in the data contract of the calibration (observed.csv).

    Columns, in order: ``week`` (int, 0 = the first horizon week; the warm-up is not in it) and
    ``date`` (the week's first day, ``start_date`` + 7 x week); per channel, in scenario order,
    ``spend_<channel>`` (actual spend, currency, rounded to cents) and ``units_<channel>`` (delivered
    units of the channel's cost unit: impressions, clicks or messages; rounded to 0.1); the totals
    :data:`OBSERVED_COUNTS`: ``leads`` (entries into interest), ``new_customers`` (first orders),
    ``orders`` (all orders), in whole people (int64), and ``revenue`` (currency, rounded to cents);
    then per segment, in scenario order, ``leads:<segment>``, ``new_customers:<segment>``,
    ``orders:<segment>`` and ``revenue:<segment>``.

    Each total is rounded from the unrounded sum over segments, so the rounded segment columns may
    not add up to it exactly (by at most half a person, or half a cent, per segment).
    """
    W = rec.orders.shape[0]
    weeks = np.arange(W, dtype=np.int64)
    start = pd.to_datetime(sc.scenario.start_date)
    data: dict[str, Any] = {"week": weeks, "date": (start + pd.to_timedelta(weeks * 7, unit="D")).strftime("%Y-%m-%d")}
    for c, cid in enumerate(sc.channels):
        data[f"spend_{cid}"] = rec.spend[:, :, c].sum(axis=1).round(2)
        data[f"units_{cid}"] = rec.units[:, :, c].sum(axis=1).round(1)

    def rounded(name: str, people: NDArray[np.float64]) -> NDArray[Any]:
        return people.round(2) if name == "revenue" else people.round().astype(np.int64)

    series = {name: getattr(rec, _OBSERVED_FIELDS[name]) * rec.weight for name in OBSERVED_COUNTS}  # (W, G)
    for name, people in series.items():
        data[name] = rounded(name, people.sum(axis=1))
    for g, seg in enumerate(sc.segments):
        for name, people in series.items():
            data[f"{name}:{seg}"] = rounded(name, people[:, g])
    return pd.DataFrame(data)


def events_table(rec: Records, sc: Scenario) -> pd.DataFrame:
    """The event log with names: agent, segment, week, event, channel (null but for exposures), count, value.

    ``count`` (exposures of the agent to the channel that week) is a nullable integer, null but for
    exposures; ``value`` (the order value, currency) is NaN but for ``customer`` and ``repeat``;
    ``at`` (float32) is an exposure's time in its week, in [0, 1), NaN for the other events.
    """
    log = rec.event_log
    if log is None:
        raise ValueError("the run was not made with events=True")
    count = log["count"].to_numpy()
    missing = np.isnan(count)
    return pd.DataFrame(
        {
            "agent": log.agent.to_numpy(),
            "segment": pd.Categorical.from_codes(log.segment.to_numpy(), categories=list(sc.segments)),
            "week": log.week.to_numpy(),
            "event": pd.Categorical.from_codes(log.event.to_numpy(), categories=list(EVENTS)),
            "channel": pd.Categorical.from_codes(log.channel.to_numpy(), categories=list(sc.channels)),
            "count": pd.arrays.IntegerArray(np.where(missing, 0, count).astype(np.int16), missing),
            "value": log.value.to_numpy(),
            "at": log["at"].to_numpy(),
        }
    )


def ground_truth(sc: Scenario, plan: str, full: Records, seed: int) -> dict[str, Any]:
    """Each channel's true weekly incremental orders and revenue: the plan minus the plan without it."""
    data = sc.model_dump(mode="json", exclude_none=True)
    camps = data["plans"][plan].get("campaigns", [])
    channels = [ch for ch in sc.channels if any(c["channel"] == ch for c in camps)]
    for ch in channels:
        data["plans"][f"__without_{ch}"] = {
            "campaigns": [c for c in camps if c["channel"] != ch],
            "interventions": data["plans"][plan].get("interventions", []),  # not a channel: kept
        }
    variants = parse_scenario(data, source="ground truth")
    out: dict[str, Any] = {
        "plan": plan,
        "seed": seed,
        "replication": 0,
        "weeks": int(full.orders.shape[0]),
        "channels": {},
    }
    w = full.weight
    for ch in channels:
        rec = run_plan(
            variants, f"__without_{ch}", make_streams(seed, 0, len(sc.segments)), sc.scenario.agents, sc.scenario.weeks
        )
        out["channels"][ch] = {
            "incremental_orders": ((full.orders - rec.orders).sum(axis=1) * w).round(3).tolist(),
            "incremental_revenue": ((full.revenue - rec.revenue).sum(axis=1) * w).round(2).tolist(),
        }
    return out


def write_exports(
    sc: Scenario,
    records: dict[str, list[Records]],
    seed: int,
    kinds: list[str],
    folder: Path,
    without: list[Records] | None = None,
) -> None:
    """Write the requested exports of every plan into folder/exports/<plan>/ (first replication).

    ``without`` is the run's no-marketing records per replication (``Result.without``); its first
    replication gives mmm.csv its baseline columns, which are left out when it is None.
    """
    channels = list(sc.channels)
    base = without[0] if without else None
    for plan, reps in records.items():
        rec = reps[0]
        d = folder / "exports" / plan
        if "journeys" in kinds:
            write_csv(d / "journeys.csv", journeys_table(rec, channels))
        if "transactions" in kinds:
            write_csv(d / "transactions.csv", transactions_table(rec, sc))
        if "mmm" in kinds:
            write_csv(d / "mmm.csv", mmm_table(rec, sc, base))
            write_json(d / "ground_truth.json", ground_truth(sc, plan, rec, seed))
        if "observed" in kinds:
            write_csv(d / "observed.csv", observed_table(rec, sc))
            if any((t.plans is None or plan in t.plans) and t.weeks[1] <= sc.scenario.weeks for t in sc.lift_tests):
                from cjmsim.analyses.calibration.lift import lift_table

                s = sc.scenario
                write_csv(d / "lift.csv", lift_table(sc, plan, sc.lift_tests, seed, s.agents, s.weeks))
        if "events" in kinds:
            write_parquet(d / "events.parquet", events_table(rec, sc))
