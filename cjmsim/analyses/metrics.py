"""Metrics: turn the engine's weekly records into tidy tables, per plan and segment, with CIs.

Reads :class:`cjmsim.engine.Records` only through their public arrays. One row per plan x segment
(segment ``all`` for the totals) in the summary; one row per plan x week x segment in the weekly
series. With several replications each metric is computed per replication, then averaged, with a
95% confidence interval from Student's t over replications. Which metrics there are, in which
column order, with which labels and definitions, is the registry's, :mod:`cjmsim.scenario.metrics`;
this module computes their values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from cjmsim.engine.records import LEAN_FIELDS, UNBOUGHT_REASONS
from cjmsim.scenario import STAGES, SUMMARY_METRICS, TOTAL_METRICS, trigger_rule

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from cjmsim.engine import Records
    from cjmsim.scenario import Scenario, Segment

__all__ = [
    "week_quantile",
    "SUMMARY_METRICS",
    "TOTAL_METRICS",
    "DIFFERENCE_COLUMNS",
    "differences",
    "incremental_row",
    "paired_ratio",
    "POSTERIOR_INTERVAL",
    "posterior_interval",
    "posterior_ratio",
    "summary_row",
    "summarise",
    "weekly_table",
    "ttp_table",
    "exposure_table",
    "confidence",
    "JOURNEY_COLUMNS",
    "ENTRIES",
    "journey_rows",
    "journey_table",
    "ttp_against_stated",
    "UNBOUGHT_REASONS",
    "UNDERSPEND_SHARE",
    "Underspend",
    "campaign_table",
    "INTERVENTION_COLUMNS",
    "intervention_table",
    "underspend",
]


def _div(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def _cost_per(spend: float, n: float) -> float:
    """Spend per unit of n; n/a (NaN) when nothing was spent, so a plan without marketing does not
    'win' on cost."""
    return _div(spend, n) if spend > 0 else math.nan


def week_quantile(hist: np.ndarray, q: float) -> float:
    """The q-quantile of a weekly histogram (``hist[w]`` people at w weeks): the first week by which
    a share q of them is reached; NaN for an empty histogram."""
    total = hist.sum()
    if total <= 0:
        return math.nan
    cum = np.cumsum(hist)
    return float(np.searchsorted(cum, q * total, side="left"))


def summary_row(rec: Records, seg: slice | int, ltv_weeks: int) -> dict[str, float]:
    """Every summary metric of one replication, for one segment (int) or all (slice(None)).

    The keys are :data:`~cjmsim.scenario.metrics.TOTAL_METRICS`, in order (tests/test_metrics_registry.py).
    """
    w = rec.weight
    G = rec.stage.shape[1]
    sel = [seg] if isinstance(seg, int) else list(range(G))[seg]

    def tot(a: np.ndarray) -> float:
        return float(a[:, sel].sum())

    agents = float(rec.stage[0, sel].sum()) * w
    aware = tot(rec.aware) * w
    leads = tot(rec.leads) * w
    customers = tot(rec.customers) * w
    orders = tot(rec.orders) * w
    media = tot(rec.spend)
    intervention = tot(rec.intervention_spend)
    spend = media + intervention  # what the plan cost: every cost metric divides it
    planned = float(rec.planned.sum() + rec.intervention_spend.sum()) if len(sel) == G else math.nan
    revenue = tot(rec.revenue) * w
    margin = tot(rec.margin) * w
    hist = rec.ttp[sel].sum(axis=0)
    weeks = np.arange(hist.size)
    W = rec.customers.shape[0]
    full = max(W - ltv_weeks + 1, 0)  # acquisition weeks whose LTV window ends inside the horizon
    ltv_cohort = float(rec.customers[:full, sel].sum()) * w
    ltv = _div(float(rec.ltv_margin[:full, sel].sum()) * w, ltv_cohort)
    cac = _cost_per(spend, customers)
    return {
        "agents": agents,
        "reached": tot(rec.reached) * w,
        "aware": aware,
        "leads": leads,
        "desire": tot(rec.desire) * w,
        "customers": customers,
        "loyal": tot(rec.loyal) * w,
        "orders": orders,
        "repeat_orders": orders - customers,
        "conversion": _div(tot(rec.cohort_customers) * w, aware),
        "ttp_median_weeks": week_quantile(hist, 0.5),
        "ttp_mean_weeks": _div(float((hist * weeks).sum()), float(hist.sum())),
        "ttp_p10_weeks": week_quantile(hist, 0.1),
        "ttp_p90_weeks": week_quantile(hist, 0.9),
        "planned_spend": planned,
        "spend": spend,
        "media_spend": media,
        "intervention_spend": intervention,
        "cpl": _cost_per(spend, leads),
        "cpo": _cost_per(spend, orders),
        "cac": cac,
        "revenue": revenue,
        "margin": margin,
        "romi": _div(margin - spend, spend),
        "roas": _div(revenue, spend),
        "ltv": ltv,
        "ltv_cac": _div(ltv, cac),
        # satisfied share of the orders that drew satisfaction (none without a satisfaction table: NaN)
        "satisfaction": _div(tot(rec.satisfied), tot(rec.satisfied) + tot(rec.unsatisfied)),
    }


def incremental_row(row: dict[str, float], without: dict[str, float]) -> dict[str, float]:
    """The incremental metrics of one replication: ``row`` (a :func:`summary_row`) against ``without``,
    the summary row of the same segment, customers and random numbers with no marketing.

    The keys are :data:`~cjmsim.scenario.metrics.INCREMENTAL_METRICS`, in order."""
    spend = row["spend"]
    inc_orders = row["orders"] - without["orders"]
    inc_revenue = row["revenue"] - without["revenue"]
    inc_margin = row["margin"] - without["margin"]
    return {
        "inc_orders": inc_orders,
        "inc_customers": row["customers"] - without["customers"],
        "inc_revenue": inc_revenue,
        "inc_margin": inc_margin,
        "icpo": spend / inc_orders if spend > 0 and inc_orders > 0 else math.nan,
        "iroas": inc_revenue / spend if spend > 0 else math.nan,
        "iromi": (inc_margin - spend) / spend if spend > 0 else math.nan,
    }


@lru_cache(maxsize=256)
def _t_quantile(q: float, df: int) -> float:
    """Student's t quantile, remembered: every table asks for the same few (a run's replications)."""
    return float(stats.t.ppf(q, df))


def confidence(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t confidence interval of replication values (NaNs ignored)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if v.size < 2:
        return mean, math.nan, math.nan
    half = _t_quantile(0.5 + level / 2, v.size - 1) * float(v.std(ddof=1)) / math.sqrt(v.size)
    return mean, mean - half, mean + half


def summarise(
    records: dict[str, list[Records]],
    segments: list[str],
    ltv_weeks: int,
    without: list[Records] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Summary tables from records per plan (one Records per replication).

    ``without``: the no-marketing run of every replication, on the same customers and random
    numbers; with it, each row also has the incremental metrics, replication by replication.

    Returns:
        (summary, per_rep): summary has one row per plan x segment with each metric's mean and,
        when there are several replications, ``<metric>_ci_low`` / ``<metric>_ci_high``;
        per_rep has one row per plan x segment x replication.
    """
    rows: list[dict[str, Any]] = []
    names = TOTAL_METRICS if without is None else SUMMARY_METRICS
    selections: list[tuple[int | slice, str]] = [*enumerate(segments), (slice(None), "all")]
    bases = (
        {}
        if without is None
        else {(seg, r): summary_row(rec, g, ltv_weeks) for g, seg in selections for r, rec in enumerate(without)}
    )
    for plan, reps in records.items():
        for g, seg in selections:
            for r, rec in enumerate(reps):
                row = summary_row(rec, g, ltv_weeks)
                if without is not None:
                    row.update(incremental_row(row, bases[seg, r]))
                rows.append({"plan": plan, "segment": seg, "rep": r, **row})
    per_rep = _frame(rows)
    n_reps = max(len(v) for v in records.values())
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (plan, segment) -> its replications, in order
    for one in rows:
        groups.setdefault((one["plan"], one["segment"]), []).append(one)
    out = []
    for (plan, seg), grp in groups.items():
        mean_row: dict[str, object] = {"plan": plan, "segment": seg, "reps": len(grp)}
        for mtr in names:
            mean, low, high = confidence(np.array([one[mtr] for one in grp], dtype=np.float64))
            mean_row[mtr] = mean
            if n_reps > 1:
                mean_row[f"{mtr}_ci_low"] = low
                mean_row[f"{mtr}_ci_high"] = high
        out.append(mean_row)
    return _frame(out), per_rep


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A table of rows that all have the same keys in the same order, built column by column (pandas
    infers each column's type as it does from the rows, in a fraction of the time)."""
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame({k: [row[k] for row in rows] for k in rows[0]})


def paired_ratio(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """The ratio of means ``mean(a) / mean(b)`` of paired replication values, and its two-sided
    confidence interval by the delta method (Fieller's linearisation): the Student-t interval of
    ``a - R b`` over replications, divided by ``mean(b)``. Pairs with a NaN are dropped; NaN when
    ``mean(b)`` is not above zero, a NaN interval with fewer than two pairs."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if a.size == 0 or not b.mean() > 0:
        return math.nan, math.nan, math.nan
    ratio = float(a.mean() / b.mean())
    if a.size < 2:
        return ratio, math.nan, math.nan
    resid = a - ratio * b
    half = _t_quantile(0.5 + level / 2, a.size - 1) * float(resid.std(ddof=1)) / math.sqrt(a.size) / float(b.mean())
    return ratio, ratio - half, ratio + half


#: The share of posterior draws between the ends of a posterior interval (its 5th and 95th percentiles).
POSTERIOR_INTERVAL = 0.90


def posterior_interval(values: np.ndarray, interval: float = POSTERIOR_INTERVAL) -> tuple[float, float, float]:
    """Mean and central posterior interval of values over posterior draws (NaNs ignored): the
    ``(1 - interval) / 2`` and ``(1 + interval) / 2`` quantiles (numpy's linear interpolation between
    the sorted draws; the 5th and 95th percentiles by default). Unlike :func:`confidence`, it is the
    spread of the values themselves, not of their mean: it does not shrink as draws are added."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    low, high = np.quantile(v, [(1 - interval) / 2, (1 + interval) / 2])
    return float(v.mean()), float(low), float(high)


def posterior_ratio(a: np.ndarray, b: np.ndarray, interval: float = POSTERIOR_INTERVAL) -> tuple[float, float, float]:
    """The ratio of means ``mean(a) / mean(b)`` of values paired draw by draw, and the central posterior
    interval of the per-draw ratios ``a / b`` (draws with ``b`` above zero). Pairs with a NaN are
    dropped; NaN when ``mean(b)`` is not above zero."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if a.size == 0 or not b.mean() > 0:
        return math.nan, math.nan, math.nan
    pos = b > 0
    _, low, high = posterior_interval(a[pos] / b[pos], interval)
    return float(a.mean() / b.mean()), low, high


#: The columns of a run's differences table (differences.csv), in order.
DIFFERENCE_COLUMNS = (
    "plan", "reference", "segment", "metric", "reps",
    "diff", "diff_ci_low", "diff_ci_high", "ratio", "ratio_ci_low", "ratio_ci_high",
)  # fmt: skip


def differences(per_rep: pd.DataFrame, reference: str, metrics: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Paired differences and ratios of every plan against ``reference``, per segment and metric.

    ``per_rep`` is a run's table of replications (plan, segment, rep and the metrics). A plan's
    replication r is compared with the reference's replication r: the same customers and random
    numbers. ``diff`` is the mean of the paired differences with its Student-t 95% CI; ``ratio`` the
    ratio of the means with its delta-method CI (:func:`paired_ratio`). CIs are NaN with one
    replication. Columns: :data:`DIFFERENCE_COLUMNS`; the reference's own rows are left out.
    """
    names = [m for m in (metrics or SUMMARY_METRICS) if m in per_rep.columns]
    values = per_rep[names].to_numpy(dtype=float)  # (rows, metrics)
    plans, segs, reps = (per_rep[k].tolist() for k in ("plan", "segment", "rep"))
    ref = {(seg, r): i for i, (plan, seg, r) in enumerate(zip(plans, segs, reps, strict=True)) if plan == reference}
    groups: dict[tuple[Any, Any], list[int]] = {}  # (plan, segment) -> its rows, in the table's order
    for i, key in enumerate(zip(plans, segs, strict=True)):
        if key[0] != reference:
            groups.setdefault(key, []).append(i)
    rows = []
    for (plan, seg), idx in groups.items():
        mine = np.array(idx, dtype=np.intp)
        base = np.array([ref[seg, reps[i]] for i in idx], dtype=np.intp)  # the same customers' replications
        for j, m in enumerate(names):
            a, b = values[mine, j], values[base, j]
            diff, lo, hi = confidence(a - b)
            ratio, rlo, rhi = paired_ratio(a, b)
            rows.append((plan, reference, seg, m, len(idx), diff, lo, hi, ratio, rlo, rhi))
    return pd.DataFrame(rows, columns=list(DIFFERENCE_COLUMNS))


def weekly_table(
    records: dict[str, list[Records]],
    segments: list[str],
    channels: list[str],
    shares: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Weekly series: one row per plan x week x segment (and ``all``), mean over replications.

    Columns: stage occupancy at the end of the week (people), spend / planned / units per channel,
    reached, aware, leads, customers, orders, revenue, margin, ``intervention_spend`` (the interventions' cost
    booked in the week, apart from the channels' media spend), then ``season`` and ``trend`` (the
    need multiplier in force: seasonal factor and trend index; on ``all`` rows their mean over
    segments weighted by ``shares``, the segments' population shares, by default their agents), and,
    only when a segment has a ``satisfaction`` table, ``satisfied_orders``, ``unsatisfied_orders`` and
    ``unsatisfied_customers`` (customers and loyal whose latest order left them unsatisfied, at the end
    of the week).
    Planned spend is a plan-level figure and appears on the ``all`` rows only. A scenario with a weekly
    order limit (docs/model.md, Capacity) adds ``capacity`` (the limit, orders a week in people: the
    business's on ``all`` rows, the segment's own on segment rows; NaN where none), ``capacity_utilisation``
    (orders / capacity, in [0, 1]) and ``capacity_refused`` (the order requests that limit refused, people;
    NaN where none).
    """
    frames = []
    for plan, reps in records.items():
        w = reps[0].weight
        W, G, _ = reps[0].stage.shape

        def mean(name: str, reps: list[Records] = reps) -> np.ndarray:
            out: np.ndarray = np.mean([getattr(r, name) for r in reps], axis=0)
            return out

        stage = mean("stage") * w
        spend, units = mean("spend"), mean("units")
        flows = {
            k: mean(k) * w
            for k in ("reached", "aware", "leads", "desire", "customers", "loyal", "orders", "revenue", "margin")
        }
        planned = mean("planned")
        sat = {}  # with satisfaction: orders satisfied and not, unsatisfied customers at the end of the week
        if reps[0].satisfaction:
            sat = {
                "satisfied_orders": mean("satisfied") * w,
                "unsatisfied_orders": mean("unsatisfied") * w,
                "unsatisfied_customers": mean("unsatisfied_customers") * w,
            }
        intervention = mean("intervention_spend")
        season, trend = reps[0].season, reps[0].trend  # the same in every replication
        limit = np.where(np.isinf(reps[0].capacity), np.nan, reps[0].capacity)  # (W, G + 1); NaN: no limit
        limited = bool(np.isfinite(limit).any())
        refused = mean("refused") * w if limited else None
        share = np.asarray(shares if shares is not None else stage[0].sum(axis=1), dtype=np.float64)
        share = share / share.sum()
        seg_labels = [*segments, "all"]
        for g, seg in enumerate(seg_labels):
            sl = slice(None) if seg == "all" else g
            data: dict[str, object] = {"plan": plan, "week": np.arange(W), "segment": seg}
            st = stage[:, sl].sum(axis=1) if seg == "all" else stage[:, g]
            for s, name in enumerate(STAGES):
                data[f"n_{name}"] = st[:, s]
            for c, ch in enumerate(channels):
                data[f"spend_{ch}"] = spend[:, sl, c].sum(axis=1) if seg == "all" else spend[:, g, c]
                data[f"planned_{ch}"] = planned[:, c] if seg == "all" else np.nan
                data[f"units_{ch}"] = units[:, sl, c].sum(axis=1) if seg == "all" else units[:, g, c]
            for k, v in flows.items():
                data[k] = v[:, sl].sum(axis=1) if seg == "all" else v[:, g]
            data["intervention_spend"] = intervention[:, sl].sum(axis=1) if seg == "all" else intervention[:, g]
            # rounded: a share-weighted mean of equal factors is that factor, not 1 - 1e-16
            data["season"] = (season @ share).round(12) if seg == "all" else season[:, g]
            data["trend"] = (trend @ share).round(12) if seg == "all" else trend[:, g]
            if refused is not None:  # only a scenario with a weekly order limit has these columns
                cap = limit[:, G] if seg == "all" else limit[:, g]
                data["capacity"] = cap
                # the business limit counts the orders of the segments it serves (not those with their own book)
                counted = flows["orders"][:, reps[0].capacity_shared].sum(axis=1) if seg == "all" else data["orders"]
                with np.errstate(invalid="ignore", divide="ignore"):
                    data["capacity_utilisation"] = np.asarray(counted) / cap
                mine = refused[:, :, 1].sum(axis=1) if seg == "all" else refused[:, g, 0]  # this limit's refusals
                data["capacity_refused"] = np.where(np.isnan(cap), np.nan, mine)
            for k, v in sat.items():
                data[k] = v[:, sl].sum(axis=1) if seg == "all" else v[:, g]
            frames.append(pd.DataFrame(data))
    return pd.concat(frames, ignore_index=True)


def ttp_table(records: dict[str, list[Records]], segments: list[str]) -> pd.DataFrame:
    """Time to purchase: new customers (people, mean over replications) by plan, segment and weeks.

    One row per plan x segment (and ``all``) x weeks from first awareness to the first order, for
    the first orders in the horizon whose awareness week is known; rows with no customers omitted.
    """
    frames = []
    for plan, reps in records.items():
        w = reps[0].weight
        hist = np.mean([r.ttp for r in reps], axis=0) * w  # (G, weeks)
        for g, seg in [*enumerate(segments), (None, "all")]:
            h = hist.sum(axis=0) if g is None else hist[g]
            weeks = np.flatnonzero(h > 0)
            frames.append(pd.DataFrame({"plan": plan, "segment": seg, "weeks": weeks, "customers": h[weeks]}))
    return pd.concat(frames, ignore_index=True)


def _full(records: Iterable[Records]) -> None:
    """Refuse lean records (:attr:`~cjmsim.engine.records.Records.lean`) where a table reads what they leave out."""
    if any(r.lean for r in records):
        raise ValueError(f"lean records (a search's) hold no {', '.join(LEAN_FIELDS)}: run the plan in full")


def exposure_table(records: dict[str, list[Records]], segments: list[str], channels: list[str]) -> pd.DataFrame:
    """Units delivered over the horizon by plan, segment, channel and the stage of the agent reached.

    Real units (impressions, clicks or messages), mean over replications; zero rows omitted.
    """
    _full(r for reps in records.values() for r in reps)
    rows = []
    for plan, reps in records.items():
        units = np.mean([r.units_stage.sum(axis=0) for r in reps], axis=0)  # (G, C, 7)
        for g, seg in enumerate(segments):
            for c, ch in enumerate(channels):
                for s, stage in enumerate(STAGES):
                    if units[g, c, s] > 0:
                        rows.append(
                            {"plan": plan, "segment": seg, "channel": ch, "stage": stage, "units": units[g, c, s]}
                        )
    return pd.DataFrame(rows, columns=["plan", "segment", "channel", "stage", "units"])


# --------------------------------------------------------------------------------------------
# the journey map: entries, conversion and spend per segment x stage

#: The summary column that counts the entries into each stage (unaware and lost have none recorded).
ENTRIES = {"aware": "aware", "interest": "leads", "desire": "desire", "customer": "customers", "loyal": "loyal"}
#: The stage whose people the money moves on into each stage: the cost per entry of a stage is the
#: spend on people reached while in these stages, over the entries (aware: from unaware or lost).
_FEEDS = {"aware": ("unaware", "lost"), "interest": ("aware",), "desire": ("interest",), "customer": ("desire",)}
_FEEDS["loyal"] = ("customer",)
#: The next funnel stage of each stage with entries (conversion = its entries / this stage's).
_NEXT = {"aware": "interest", "interest": "desire", "desire": "customer", "customer": "loyal"}
#: The columns of a journey table (journey.csv), in order; ``_ci_low`` / ``_ci_high`` follow each
#: measure when there are several replications.
JOURNEY_COLUMNS = ("plan", "segment", "stage", "reps", "people", "entries", "conversion", "spend", "cost_per_entry")
_JOURNEY_MEASURES = JOURNEY_COLUMNS[4:]


def journey_rows(rec: Records, seg: slice | int) -> list[dict[str, object]]:
    """The journey map of one replication for one segment (int) or all (slice(None)): one row per stage.

    ``people``: mean occupancy at the weeks' ends; ``entries``: entries into the stage over the
    horizon (the summary's aware, leads, desire, customers, loyal; NaN for unaware and lost);
    ``conversion``: entries into the next stage / entries into this one, a flow ratio over the
    horizon, not a cohort's (people already in the stage at week 0 can move on, so it may exceed
    100%); ``spend``: the money spent on units that reached people in the stage
    (``Records.spend_stage``); ``cost_per_entry``: the spend on people in the stage before (aware:
    unaware and lost) / the entries, NaN without that spend or without entries.
    """
    _full([rec])
    w = rec.weight
    G = rec.stage.shape[1]
    sel = [seg] if isinstance(seg, int) else list(range(G))[seg]
    spend = {st: float(rec.spend_stage[:, sel, :, s].sum()) for s, st in enumerate(STAGES)}
    entries = {st: float(getattr(rec, col)[:, sel].sum()) * w for st, col in ENTRIES.items()}
    people = rec.stage[:, sel, :].sum(axis=1).mean(axis=0) * w  # (7,)
    rows: list[dict[str, object]] = []
    for s, st in enumerate(STAGES):
        n = entries.get(st, math.nan)
        feed = sum(spend[f] for f in _FEEDS.get(st, ()))
        nxt = _NEXT.get(st)
        rows.append(
            {
                "stage": st,
                "people": float(people[s]),
                "entries": n,
                "conversion": _div(entries[nxt], n) if nxt else math.nan,
                "spend": spend[st],
                "cost_per_entry": _cost_per(feed, n) if st in _FEEDS else math.nan,
            }
        )
    return rows


def journey_table(records: dict[str, list[Records]], segments: list[str]) -> pd.DataFrame:
    """The journey map of every plan: one row per plan x segment (and ``all``) x stage.

    Each measure (see :func:`journey_rows`) is computed per replication, then averaged, with a 95%
    Student-t CI (``<measure>_ci_low`` / ``_ci_high``) when there are several replications, as
    the summary's. Entries equal the summary's aware, leads, desire, customers and loyal, and a
    plan's spend over the stages of a segment is the summary's spend of that segment.
    Columns: :data:`JOURNEY_COLUMNS` (and the CI columns).
    """
    selections: list[tuple[int | slice, str]] = [*enumerate(segments), (slice(None), "all")]
    n_reps = max((len(v) for v in records.values()), default=1)
    out = []
    for plan, reps in records.items():
        for g, seg in selections:
            per_rep = [journey_rows(rec, g) for rec in reps]
            for s, st in enumerate(STAGES):
                row: dict[str, object] = {"plan": plan, "segment": seg, "stage": st, "reps": len(reps)}
                for m in _JOURNEY_MEASURES:
                    values = np.array([rows[s][m] for rows in per_rep], dtype=np.float64)
                    mean, low, high = confidence(values)
                    row[m] = mean
                    if n_reps > 1:
                        row[f"{m}_ci_low"], row[f"{m}_ci_high"] = low, high
                out.append(row)
    return pd.DataFrame(out)


def ttp_against_stated(
    ttp: pd.DataFrame, segments: Mapping[str, Segment], plans: Sequence[str] | None = None
) -> pd.DataFrame:
    """Each plan x segment's simulated median weeks to first order against the persona's stated
    ``time_before_purchase_weeks``.

    ``ttp`` is a run's time-to-purchase table (:func:`ttp_table`: replications pooled). Columns:
    plan, segment, median_weeks (NaN without first orders), stated_low, stated_high (NaN when the
    segment states no range), outside (nullable boolean: whether the median falls outside
    [low, high]; missing when either is unknown). One row per plan x segment, for ``plans``
    (default: those of ``ttp``, where a plan without first orders has no rows).
    """
    rows = []
    t = ttp[ttp.customers > 0]
    for plan in plans if plans is not None else dict.fromkeys(ttp.plan):
        for sid, seg in segments.items():
            d = t[(t.plan == plan) & (t.segment == sid)]
            hist = np.bincount(d.weeks.to_numpy(dtype=np.int64), weights=d.customers.to_numpy(dtype=float))
            med = week_quantile(hist, 0.5) if len(d) else math.nan
            band = seg.time_before_purchase_weeks
            lo, hi = (float(band[0]), float(band[1])) if band is not None else (math.nan, math.nan)
            known = band is not None and math.isfinite(med)
            rows.append((plan, sid, med, lo, hi, (not lo <= med <= hi) if known else pd.NA))
    out = pd.DataFrame(rows, columns=["plan", "segment", "median_weeks", "stated_low", "stated_high", "outside"])
    out["outside"] = out["outside"].astype("boolean")
    return out


# spend honesty: planned vs bought per campaign

#: A plan that buys less than this share of its planned budget is flagged (terminal and report).
UNDERSPEND_SHARE = 0.95


def campaign_table(records: dict[str, list[Records]], scenario: Scenario) -> pd.DataFrame:
    """Planned and bought spend per plan x campaign over the horizon, mean over replications.

    One row per campaign of each plan, in the plan's order (``campaign`` counts from 1, as the
    campaigns are listed in the scenario file). ``planned`` is the campaign's budget over its
    active weeks of the horizon, ``bought`` the spend actually bought (summed over a plan's
    campaigns it is the summary's ``media_spend``; interventions: :func:`intervention_table`),
    ``share_bought = bought / planned``, ``unbought =
    planned - bought`` and ``unbought_<reason>`` its split by reason
    (:data:`~cjmsim.engine.records.UNBOUGHT_REASONS`; docs/model.md). With several replications,
    ``bought_ci_low`` / ``bought_ci_high`` and ``share_bought_ci_low`` / ``share_bought_ci_high``.
    When some budget campaign has a targeting precision below 1: ``leaked``, the part of ``bought`` paid
    for units that landed outside the campaign's audience, and ``leaked_share = leaked / bought``.
    """
    leaky = any(
        camp.trigger is None and scenario.channels[camp.channel].targeting.precision < 1.0
        for plan in records
        for camp in scenario.plans[plan].campaigns
    )
    _full(r for reps in records.values() for r in reps)
    rows = []
    for plan, reps in records.items():
        n = len(reps)
        planned = np.array([r.campaign_planned.sum(axis=0) for r in reps])  # (reps, K)
        bought = np.array([r.campaign_bought.sum(axis=0) for r in reps])
        unbought = np.array([r.campaign_unbought.sum(axis=0) for r in reps])  # (reps, K, R)
        for k, camp in enumerate(scenario.plans[plan].campaigns):
            ch = scenario.channels[camp.channel]
            if camp.trigger is not None:  # a trigger's audience is its event's (docs/model.md)
                stages = [f"trigger: {trigger_rule(camp)}"]
            else:
                stages = [st for st in STAGES if st in set(camp.stages or ch.stages) & set(ch.stages)]
                if camp.start_when is not None:
                    stages.append(trigger_rule(camp))
            plan_k = float(planned[:, k].mean())
            row: dict[str, object] = {
                "plan": plan,
                "campaign": k + 1,
                "name": camp.name,
                "channel": camp.channel,
                "segments": "all" if camp.segments is None else "; ".join(camp.segments),
                "stages": "; ".join(stages),
                "reps": n,
                "planned": plan_k,
            }
            mean, low, high = confidence(bought[:, k])
            row["bought"] = mean
            if n > 1:
                row["bought_ci_low"], row["bought_ci_high"] = low, high
            row["share_bought"] = _div(mean, plan_k)
            if n > 1:
                row["share_bought_ci_low"], row["share_bought_ci_high"] = _div(low, plan_k), _div(high, plan_k)
            row["unbought"] = float((planned[:, k] - bought[:, k]).mean())
            for j, reason in enumerate(UNBOUGHT_REASONS):
                row[f"unbought_{reason}"] = float(unbought[:, k, j].mean())
            if leaky:
                leaked = float(np.mean([r.campaign_leaked[:, k].sum() for r in reps]))
                row["leaked"], row["leaked_share"] = leaked, _div(leaked, mean)
            rows.append(row)
    base = ["plan", "campaign", "name", "channel", "segments", "stages", "reps", "planned", "bought"]
    return pd.DataFrame(rows, columns=None if rows else base)


#: The columns of a run's interventions table (interventions.csv), in order.
INTERVENTION_COLUMNS = (
    "plan", "intervention", "name", "segments", "start", "end", "weeks", "one_off", "weekly_cost", "cost", "changes",
)  # fmt: skip


def intervention_table(records: dict[str, list[Records]], scenario: Scenario) -> pd.DataFrame:
    """The plans' interventions, one row each in the plan's order (``intervention`` counts from 1): the weeks
    it acts ``[start, end)`` (``end`` excluded, the horizon's end when it runs for good), ``weeks`` active,
    its ``one_off`` and ``weekly_cost``, ``cost`` booked in the horizon (summed over a plan's interventions it
    is the summary's ``intervention_spend``), and what it ``changes`` in words. Columns:
    :data:`INTERVENTION_COLUMNS`; empty when no plan has one."""
    rows = []
    for plan, reps in records.items():
        for i, iv in enumerate(scenario.plans[plan].interventions):
            W = reps[0].intervention_spend.shape[0]
            end = min(iv.last_week(W), W)
            rows.append(
                (
                    plan,
                    i + 1,
                    iv.name,
                    "all" if iv.segments is None else "; ".join(iv.segments),
                    iv.start,
                    end,
                    max(end - iv.start, 0),
                    iv.cost,
                    iv.weekly_cost,
                    float(np.mean([r.intervention_booked[:, i].sum() for r in reps])),
                    iv.effects(),
                )
            )
    return pd.DataFrame(rows, columns=list(INTERVENTION_COLUMNS))


@dataclass(frozen=True)
class Underspend:
    """A plan that bought less than :data:`UNDERSPEND_SHARE` of its planned budget.

    ``campaigns`` are its rows of the campaign table (:func:`campaign_table`) that fell short of
    the same share themselves, largest shortfall (``unbought``) first.
    """

    plan: str
    planned: float
    bought: float
    campaigns: pd.DataFrame

    @property
    def share(self) -> float:
        """Share of the planned budget bought."""
        return _div(self.bought, self.planned)


def underspend(campaigns: pd.DataFrame, threshold: float = UNDERSPEND_SHARE) -> list[Underspend]:
    """The plans of a campaign table whose bought spend is below ``threshold`` x their planned spend,
    in the table's plan order; a plan without planned spend is never flagged. Money a trigger campaign's
    own weekly cap left out (``unbought_trigger_cap``) is what the plan asked for and not planned spend
    here: a capped trigger is not an underspend; nor is the budget of a per-action campaign no action billed
    (``unbought_per_action``: the budget is a ceiling on the bill)."""
    out: list[Underspend] = []
    if campaigns.empty:
        return out
    for plan, grp in campaigns.groupby("plan", sort=False):
        asked = grp.planned
        for ceiling in ("unbought_trigger_cap", "unbought_per_action"):
            if ceiling in grp:
                asked = asked - grp[ceiling]
        planned, bought = float(asked.sum()), float(grp.bought.sum())
        if planned > 0 and bought < threshold * planned:
            short = grp[grp.bought < threshold * asked].sort_values("unbought", ascending=False, kind="stable")
            out.append(Underspend(str(plan), planned, bought, short.reset_index(drop=True)))
    return out
