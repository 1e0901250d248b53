"""Charts for a strategist's deck: each function turns a result's tables into one titled Figure.

The functions read the tables of a :class:`cjmsim.engine.Result` (summary, weekly, ttp, exposures)
and return a ``matplotlib.figure.Figure`` titled with the finding it shows, computed from the data,
over a smaller subtitle saying what is plotted. They never simulate, show or save; :func:`save` and
:func:`png_bytes` are helpers for the caller. Figures are built without pyplot in the one style of
:mod:`cjmsim.presentation.style`: a plan has the colour of its position in the scenario's plan order
in every chart of every analysis, a channel likewise in every channel chart.
"""

from __future__ import annotations

import math
import textwrap
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from cjmsim.analyses.metrics import paired_ratio, ttp_against_stated, week_quantile
from cjmsim.presentation import format as fmt
from cjmsim.presentation import style
from cjmsim.presentation import verdict as vd
from cjmsim.presentation.charts.chart import Chart, png_bytes, save
from cjmsim.presentation.comparison import plan_totals
from cjmsim.presentation.style import AXIS, GRID, INK, MUTED, TEXT
from cjmsim.scenario import STAGES
from cjmsim.scenario import metrics as registry

if TYPE_CHECKING:
    from cjmsim.analyses.simulate import Result

__all__ = [
    "Chart",
    "funnel",
    "stage_occupancy",
    "time_to_purchase",
    "kpi_comparison",
    "spend_by_channel",
    "orders_vs_spend",
    "exposure_heatmap",
    "budget_by_stage",
    "exposure_heatmaps",
    "time_to_purchase_by_plan",
    "all_charts",
    "save",
    "png_bytes",
]

#: Funnel rows: summary columns (entries into each stage) and their labels.
_FUNNEL_COLS = ("aware", "leads", "desire", "customers", "loyal")
_FUNNEL = dict(zip(_FUNNEL_COLS, ("Aware", "Leads (interest)", "Desire", "Customers (action)", "Loyal"), strict=True))
#: Stage occupancy panels (weekly ``n_<stage>`` columns), labelled as the funnel rows.
_OCCUPIED = dict(zip(("aware", "interest", "desire", "customer", "loyal"), _FUNNEL.values(), strict=True))
#: Who is reached at each stage, for titles.
_WHO = "unaware people|aware people|leads|people at desire|customers|loyal customers|lapsed (lost) people"
_PEOPLE = dict(zip(STAGES, _WHO.split("|"), strict=True))


# --------------------------------------------------------------------------------------------
# tables, comparisons and layout


def plans_of(result: Result) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Plan ids in result order, their display names and their colours (by the scenario's plan order)."""
    plans = list(result.plans)
    names = {p: result.scenario.plans[p].name or p for p in plans}
    return plans, names, style.plan_colours(result.plan_order or result.scenario.plans, extra=plans)


def _charted(result: Result) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """:func:`plans_of` with the names ready for a chart: shortened and mathtext-safe."""
    plans, names, colours = plans_of(result)
    return plans, {p: style.chart_name(n) for p, n in names.items()}, colours


def _weekly(result: Result) -> pd.DataFrame:
    return result.weekly[result.weekly.segment == "all"]


def _reps(result: Result) -> str:
    return f"mean of {result.reps} replications" if result.reps > 1 else "single replication"


def _rank(values: pd.Series, higher: bool) -> list[str]:
    """Plans with a finite value, best first (ties keep plan order)."""
    v = values.astype(float)
    return list(v[np.isfinite(v)].sort_values(ascending=not higher, kind="stable").index)


def _versus(values: pd.Series, plans: list[str], higher: bool) -> tuple[str, str | None]:
    """The best plan and the one to compare it with: the first plan, or the runner-up if the first wins."""
    ranked = _rank(values, higher) or plans[:1]
    best = ranked[0]
    other = plans[0] if best != plans[0] and plans[0] in ranked else (ranked[1] if len(ranked) > 1 else None)
    return best, other


def _per_rep(result: Result, metric: str, segment: str = "all") -> dict[str, list[float]]:
    """A summary metric of every plan, replication by replication (in replication order)."""
    r = result.per_rep
    d = r[r.segment == segment].sort_values("rep")
    return {str(p): [float(x) for x in g[metric]] for p, g in d.groupby("plan", sort=False)}


def _active_end(result: Result, plans: list[str]) -> dict[str, list[float]]:
    """Active customers (customer + loyal) over the last four weeks, people, per replication."""
    both = [STAGES.index("customer"), STAGES.index("loyal")]
    return {
        p: [float(r.stage[-4:, :, both].sum(axis=(1, 2)).mean()) * r.weight for r in result.records[p]] for p in plans
    }


def _lead(
    result: Result,
    values: pd.Series,
    reps: dict[str, list[float]],
    names: dict[str, str],
    more: str,
    what: str,
    higher: bool = True,
) -> str | None:
    """A title naming the leading plan: '<best> <more, with the lead in %> <other>', only where the
    95% CI of the paired difference (same replications) says so (:mod:`cjmsim.presentation.verdict`).

    The other plan is the first, or the runner-up when the first leads. Otherwise '<best> and <other>
    are not distinguishable on <what> at N replications; about M ...', or with one
    replication '<what> by plan (one replication: run --reps 3 or more to compare)'. None when only
    one plan has a value.
    """
    best, other = _versus(values, list(names), higher)
    if other is None:
        return None
    if result.reps < 2:
        return f"{fmt.sentence(what)} by plan ({vd.ONE_REP})"
    d, lo, hi, n = vd.paired(reps.get(best, []), reps.get(other, []))
    v = vd.verdict(d, lo, hi, n, "higher" if higher else "lower")
    if not v.improves:
        return v.undecided(names[best], names[other], on=what)
    gain = (fmt.ratio(values[best], values[other]) - 1) * (1 if higher else -1)
    return f"{names[best]} {more.format(fmt.percent(gain, 0 if gain >= 0.005 else None))} {names[other]}"


def _weeks(ax: Axes, weeks: int, label: bool = False) -> None:
    """Week ticks at round steps (quarters for a year), compact y ticks."""
    step = next((s for s in (1, 2, 4, 13, 26, 52) if weeks / s <= 5), 104)
    ax.set_xticks(np.arange(0, weeks + 1, step))
    ax.yaxis.set_major_formatter(FuncFormatter(fmt.compact))
    if label:
        ax.set_xlabel("Week", **TEXT)


# --------------------------------------------------------------------------------------------
# the charts


def funnel(result: Result) -> Figure:
    """AIDA+L funnel per plan: people entering each stage, with stage-to-stage conversion annotated."""
    plans, names, colours = _charted(result)
    tot = plan_totals(result)
    steps = [
        (fmt.ratio(tot[b].sum(), tot[a].sum()), a, b) for a, b in zip(_FUNNEL_COLS[:3], _FUNNEL_COLS[1:4], strict=True)
    ]
    weak = min((s for s in steps if fmt.finite(s[0])), default=None)
    title = _lead(
        result, tot.customers, _per_rep(result, "customers"), names, "wins {} more new customers than", "new customers"
    )
    if title is None:
        none = f"{names[plans[0]]}: nobody enters the funnel in {result.weeks} weeks"
        title = f"Weakest step: {weak[1]} to {weak[2]}, only {fmt.percent(weak[0], 0)} get through" if weak else none
    own = len(plans) > 1  # several plans: each row on its own scale, so plans compare within a stage
    sub = (
        f"People entering each stage over {result.weeks} weeks, all segments ({_reps(result)}); "
        f"% = entries per entry into the stage above{'; each row on its own scale' if own else ''}"
    )
    fig, axes = style.figure(title, sub, len(_FUNNEL), 1)
    y = np.arange(len(plans))[::-1]
    for row, (ax, (col, label)) in enumerate(zip(axes, _FUNNEL.items(), strict=True)):
        vals = tot[col].fillna(0.0).to_numpy()
        top = max(float(vals.max() if own else tot[list(_FUNNEL_COLS)].max().max()), 1.0)
        ax.barh(y, vals, height=0.78, color=[colours[p] for p in plans])
        prev = _FUNNEL_COLS[row - 1]
        for yi, p, v in zip(y, plans, vals, strict=True):
            note = f"   ({fmt.percent(fmt.ratio(v, tot[prev][p]))} of {prev})" if row else ""
            ax.text(v + 0.01 * top, yi, f"{fmt.count(v)}{note}", va="center", **TEXT)
        ax.set(xlim=(0, top * 1.4), ylim=style.bar_limits(len(plans)), yticks=[])
        style.bare(ax)
        ax.spines["left"].set_visible(True)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=11, color=INK, labelpad=8)
    style.legend(fig, names, colours)
    return fig


def stage_occupancy(result: Result, plan: str | None = None) -> Figure:
    """People in each funnel stage week by week: one panel per stage, one line per plan (or the given plan).

    Panels per stage rather than per plan, so plans compare on one axis and a small stage (desire) is
    not flattened by a big one (aware). Unaware and lost people, most of the market, are left out; the
    subtitle says how many they are.
    """
    plans, names, colours = _charted(result)
    shown = [plan] if plan else plans
    w = _weekly(result)
    w = w[w.plan.isin(shown)]
    base = (w.n_customer + w.n_loyal).groupby([w.plan, w.week]).sum().unstack("week").reindex(shown)
    end, start = base.iloc[:, -4:].mean(axis=1), base.iloc[:, 0]  # the customer base over the last four weeks
    title = _lead(
        result,
        end,
        _active_end(result, shown),
        {p: names[p] for p in shown},
        "ends with {} more active customers than",
        "end-of-horizon active customers",
    )
    if title is None:
        move = "grow" if end.iloc[0] >= start.iloc[0] else "fall"
        a, b = fmt.count(start.iloc[0]), fmt.count(end.iloc[0])
        title = f"Active customers {move} from {a} to {b} in {result.weeks} weeks"
    ref = w[w.plan == shown[0]]
    sub = (
        f"People in each stage at each week's end, all segments ({_reps(result)}); active customers = customers + "
        f"loyal; too many to show: unaware ~{fmt.count(ref.n_unaware.mean())}, lost ~{fmt.count(ref.n_lost.mean())}"
    )
    fig, axes = style.figure(title, sub, 1, len(_OCCUPIED), sharex=True)
    for i, (ax, (stage, label)) in enumerate(zip(axes, _OCCUPIED.items(), strict=True)):
        for p in shown:
            ax.plot(w.week[w.plan == p], w[f"n_{stage}"][w.plan == p], color=colours[p], lw=2)
        ax.set_title(label, loc="left", fontsize=11, color=INK)
        ax.set_ylim(0, max(ax.get_ylim()[1], 1.0))
        _weeks(ax, result.weeks, label=i == len(axes) // 2)
    style.legend(fig, {p: names[p] for p in shown}, colours)
    return fig


def _quantiles(weeks: np.ndarray, people: np.ndarray, qs: tuple[float, ...]) -> list[int]:
    """Weighted quantiles of integer weeks, as the summary's time to purchase computes them."""
    hist = np.bincount(weeks.astype(np.int64), weights=people)
    return [int(week_quantile(hist, q)) for q in qs]


def _slowest(result: Result, plan: str, medians: dict[str, float]) -> str | None:
    """The segment with the longest median time to purchase, only where its paired 95% CI against every
    other segment's (same replications) excludes zero; None otherwise (and with one replication)."""
    reps = {s: _per_rep(result, "ttp_median_weeks", s).get(plan, []) for s in medians}
    return vd.leader(medians, lambda a, b: vd.verdict(*vd.paired(reps[a], reps[b]), "higher"), "higher")


def time_to_purchase(result: Result, plan: str | None = None) -> Figure:
    """Weeks from first awareness to first order, one row per segment (first plan by default), median marked."""
    plans, names, colours = _charted(result)
    plan = plan or plans[0]
    t = result.ttp[(result.ttp.plan == plan) & (result.ttp.customers > 0)]
    labels = {
        "all": "All segments",
        **{s: style.chart_name(seg.name or s) for s, seg in result.scenario.segments.items()},
    }
    data = {s: (d.weeks.to_numpy(), d.customers.to_numpy(dtype=float)) for s, d in t.groupby("segment")}
    q = {s: _quantiles(wk, n, (0.25, 0.5, 0.75)) for s, (wk, n) in data.items()}
    segs = [s for s in labels if s in q and s != "all"]
    slow = _slowest(result, plan, {s: float(q[s][1]) for s in segs})
    title = f"Half of first orders come {q['all'][0]}-{q['all'][2]} weeks after awareness" if "all" in q else ""
    slowest = f"; slowest: {labels[slow]} (median {q[slow][1]})" if slow else ""
    title += slowest if len(title + slowest) <= 80 else ""
    sub = (
        f"{names[plan]}: new customers by weeks from first awareness to first order ({_reps(result)}); "
        "smoothed, each row scaled to its peak, darker = the middle half"
    )
    fig, (ax,) = style.figure(title or "No first orders in the horizon", sub)
    ax.grid(True, axis="x", color=GRID, lw=0.8)
    ax.grid(False, axis="y")
    top = max((int(wk.max()) for wk, _ in data.values()), default=1) + 1
    x = np.arange(top + 1)
    kernel = np.exp(-0.5 * (np.arange(-4, 5) / 1.5) ** 2)  # Gaussian, sd 1.5 weeks: small segments are spiky
    for i, s in enumerate(labels):
        base = len(labels) - 1 - i
        if s not in data:
            ax.text(0.5, base + 0.3, "no first orders", fontsize=10, color=MUTED)
            continue
        wk, n = data[s]
        counts = np.bincount(wk, weights=n, minlength=top + 1)
        half = kernel.size // 2  # "full" then centre-cut: same length as counts even for short horizons
        h = np.convolve(counts, kernel / kernel.sum(), mode="full")[half : half + counts.size]
        h = base + 0.85 * h / h.max()
        lo, med, hi = q[s]
        ax.fill_between(x, base, h, color=colours[plan], alpha=0.25, lw=0)
        ax.fill_between(x, base, h, where=(x >= lo) & (x <= hi), color=colours[plan], alpha=0.6, lw=0)
        ax.vlines(med, base, h[med], color=INK, lw=2)
        ax.text(1.01, base + 0.3, f"median {med} wk ({lo}-{hi})", transform=ax.get_yaxis_transform(), **TEXT)
    ax.set_yticks(np.arange(len(labels))[::-1] + 0.3, [textwrap.fill(v, 26) for v in labels.values()])
    ax.tick_params(axis="y", length=0)
    ax.spines["left"].set_visible(False)
    ax.set(xlim=(0, top), ylim=(-0.1, len(labels)))
    ax.set_xlabel("Weeks from first awareness to first order", **TEXT)
    return fig


# summary column, panel title (chart wording), money?, higher is better? (from the metric registry)
def _kpis(*cols: tuple[str, str]) -> tuple[tuple[str, str, bool, bool], ...]:
    return tuple((c, t, registry.metric(c).money, registry.metric(c).better == "higher") for c, t in cols)


#: The KPI panels: (column, panel title, money, higher is better). With the no-marketing baseline the
#: cost and the return are the incremental ones (the totals count the orders that come anyway).
_KPIS = _kpis(("cpo", "Cost per order"), ("conversion", "Conversion to customer"), ("ltv", "LTV per customer"),
              ("romi", "ROMI"))  # fmt: skip
_INC_KPIS = _kpis(("icpo", "Spend per incremental order (iCPO)"), ("conversion", "Conversion to customer"),
                  ("ltv", "LTV per customer"), ("iromi", "iROMI (over no marketing)"))  # fmt: skip


def kpi_comparison(result: Result) -> Figure:
    """The cost per order, conversion, LTV and return per plan, with 95% confidence intervals when
    there are replications: iCPO and iROMI (over no marketing on the same customers) when the run
    made its baseline, else the totals' CPO and ROMI."""
    plans, names, colours = _charted(result)
    tot, cur = plan_totals(result), style.chart_name(result.scenario.scenario.currency, 24)
    inc = result.incremental and "icpo" in tot.columns
    kpis, cost, ret = (_INC_KPIS, "icpo", "iromi") if inc else (_KPIS, "cpo", "romi")
    word, rword = ("iCPO", "iROMI") if inc else ("CPO", "ROMI")
    values = tot[cost]
    best = _versus(values, plans, higher=False)[0]
    title = _lead(result, values, _per_rep(result, cost), names, f"cuts {word} by {{}} vs", word, higher=False)
    if not _rank(tot.cpo, higher=False):
        who = f"{names[plans[0]]} spends" if len(plans) == 1 else "No plan spends"
        title = f"{who} nothing: CPO and ROMI are n/a; conversion {fmt.percent(tot.conversion.max())}"
    elif title is None:  # a single plan with spend
        title = f"{names[best]}: {word} {fmt.money(values[best], cur)}, {rword} {fmt.percent(tot[ret][best])}"
    ci = result.reps > 1 and f"{cost}_ci_low" in tot.columns
    what = (
        "spend per incremental order (over no marketing), share of newly aware people who order, margin per new "
        f"customer within {result.scenario.scenario.ltv_weeks} weeks, incremental return on marketing spend; "
        if inc
        else "Cost per order, share of newly aware people who order, margin per new customer within "
        f"{result.scenario.scenario.ltv_weeks} weeks, return on marketing spend; "
    )
    sub = (
        what[0].upper()
        + what[1:]
        + (f"{_reps(result)}, whiskers = 95% CI" if ci else "single replication, no confidence intervals")
        + ("; LTV n/a: the horizon is shorter than the LTV window" if tot.ltv.isna().all() else "")
    )
    fig, axes = style.figure(title, sub, 1, len(kpis), sharey=True)
    y = np.arange(len(plans))[::-1]
    for ax, (col, label, money, higher) in zip(axes, kpis, strict=True):
        v = tot[col].to_numpy(dtype=float)
        lo, hi = (tot[f"{col}_ci_{k}"].to_numpy(float) if ci else np.full_like(v, np.nan) for k in ("low", "high"))
        ok = np.isfinite(v)
        ends = np.concatenate([v[ok], lo[np.isfinite(lo)], hi[np.isfinite(hi)], [0.0]])
        left, right = float(ends.min()), float(ends.max())
        span = (right - left) or 1.0
        ax.barh(y[ok], v[ok], height=0.7, color=[colours[p] for p, f in zip(plans, ok, strict=True) if f])
        cis = ok & np.isfinite(lo) & np.isfinite(hi)
        if cis.any():
            err = [v[cis] - lo[cis], hi[cis] - v[cis]]
            ax.errorbar(v[cis], y[cis], xerr=err, fmt="none", ecolor=INK, elinewidth=1.2, capsize=3)
        # one number of decimals per panel, from its largest share (not 1.00% beside 1.0%)
        largest = float(np.abs(v[ok]).max()) if ok.any() else 1.0
        digits = 2 if largest < 0.01 else 1 if largest < 0.1 else 0
        for yi, val, h, low in zip(y, v, hi, lo, strict=True):
            text = fmt.money(val, cur) if money else fmt.percent(val, digits)
            if not fmt.finite(val):
                ax.text(0, yi, " n/a", va="center", fontsize=10, color=MUTED)
            elif val >= 0:
                ax.text(np.nanmax([val, h]) + 0.03 * span, yi, text, va="center", **TEXT)
            else:
                ax.text(np.nanmin([val, low]) - 0.03 * span, yi, text, va="center", ha="right", **TEXT)
        # room for the value labels on a side where a bar ends; a CI reaching below 0 needs little
        ax.set_xlim(left - (0.6 if (v[ok] < 0).any() else 0.03) * span, right + (0.6 if right > 0 else 0.05) * span)
        ax.axvline(0, color=AXIS, lw=0.8)
        better = f"({'higher' if higher else 'lower'} is better)"  # wrapped: a long label ran into the next panel's
        ax.set_title(f"{textwrap.fill(label, 24)}\n{better}", loc="left", fontsize=11, color=INK)
        style.bare(ax)
    axes[0].set_yticks(y, [textwrap.fill(names[p], 18) for p in plans])
    axes[0].set_ylim(*style.bar_limits(len(plans)))
    return fig


#: The band of the interventions' cost in the spend chart (not a channel: a plan's non-media changes).
_INTERVENTIONS = "__interventions__"


def spend_by_channel(result: Result) -> Figure:
    """Actual weekly spend by channel, stacked, one panel per plan; a channel has the same colour everywhere.
    A plan's interventions (their cost, counted in spend and every cost ratio) are one more band."""
    plans, names, colours = _charted(result)
    chans = {c: style.chart_name(ch.name or c) for c, ch in result.scenario.channels.items()}
    cur, w = style.chart_name(result.scenario.scenario.currency, 24), _weekly(result)
    col = {c: f"spend_{c}" for c in chans}
    if "intervention_spend" in w and float(w.intervention_spend.sum()) > 0:
        chans[_INTERVENTIONS] = "Interventions (not media)"
        col[_INTERVENTIONS] = "intervention_spend"
    ccol = style.channel_colours(chans)
    if _INTERVENTIONS in chans:  # not media: a colour of its own, never a channel's
        ccol[_INTERVENTIONS] = style.NON_MEDIA
    by_plan = w.groupby("plan").sum(numeric_only=True).reindex(plans)
    spend = by_plan[[col[c] for c in chans]].set_axis(list(chans), axis=1)
    planned = by_plan[[f"planned_{c}" for c in result.scenario.channels]].sum(axis=1)
    if _INTERVENTIONS in chans:  # their cost is booked as planned
        planned = planned + by_plan.intervention_spend
    total = spend.sum(axis=1)
    used = [c for c in chans if spend[c].sum() > 0]
    share = spend[used].div(total.where(total > 0), axis=0)
    payers = [p for p in plans if total[p] > 0]
    if not payers:
        title = f"{names[plans[0]]} spends nothing" if len(plans) == 1 else f"No plan spends in {result.weeks} weeks"
    elif len(payers) == 1 or payers[0] != plans[0]:
        p, top = payers[0], str(share.loc[payers[0]].idxmax())
        title = f"{names[p]} puts {fmt.percent(share.loc[p, top], 0)} of its money into {fmt.short_name(chans[top])}"
    else:  # the biggest shift of a channel's share against the first plan
        p, c = (share.loc[payers[1:]] - share.loc[plans[0]]).abs().stack().idxmax()
        a, b = share.loc[plans[0], c], share.loc[p, c]
        title = (
            f"{names[p]} {'raises' if b > a else 'cuts'} {fmt.short_name(chans[c])} from {fmt.percent(a, 0)} to "
            f"{fmt.percent(b, 0)} of spend vs {names[plans[0]]}"
        )
    sub = (
        f"Actual spend per week by channel, {cur}, all segments ({_reps(result)}); a plan spends less than planned "
        "when its audiences cannot absorb the budget"
        + (
            "; interventions: their one-off cost in the start week, then their running cost"
            if col.get(_INTERVENTIONS)
            else ""
        )
    )
    fig, axes = style.figure(title, sub, 1, len(plans), sharey=True)
    for i, (ax, p) in enumerate(zip(axes, plans, strict=True)):
        d = w[w.plan == p]
        if used:
            ax.stackplot(d.week, *[d[col[c]] for c in used], colors=[ccol[c] for c in used], lw=0)
        used_pct = f" ({fmt.percent(total[p] / planned[p], 0)} of plan)" if total[p] < 0.995 * planned[p] else ""
        width = max(14, 90 // len(plans))  # panel titles must not run into each other
        head = (
            f"{textwrap.fill(names[p], width)}\n{textwrap.fill(fmt.money(total[p], cur) + ' spent' + used_pct, width)}"
        )
        ax.set_title(head, loc="left", fontsize=11, color=colours[p], fontweight="bold")
        _weeks(ax, result.weeks, label=i == len(axes) // 2)
        if total[p] <= 0:  # a flat line at zero says "nothing" more plainly than an empty panel
            ax.plot(d.week, np.zeros(len(d)), color=colours[p], lw=2)
            ax.text(0.5, 0.5, "no spend", transform=ax.transAxes, ha="center", fontsize=11, color=MUTED)
    peak = float(w[[col[c] for c in used]].sum(axis=1).max()) if used else 0.0
    axes[0].set_ylim(0, max(peak * 1.05, 1.0))  # once, after every panel: the y axis is shared
    if not used:
        axes[0].set_yticks([0])
    axes[0].set_ylabel(f"{cur} per week", **TEXT)
    if used:
        style.legend(fig, {c: chans[c] for c in used}, ccol)
    return fig


def orders_vs_spend(result: Result) -> Figure:
    """Cumulative orders against cumulative spend, one line per plan: the steeper, the cheaper each order."""
    plans, names, colours = _charted(result)
    tot, cur = plan_totals(result), style.chart_name(result.scenario.scenario.currency, 24)
    best, other = _versus(tot.cpo, plans, higher=False)
    cpo = _per_rep(result, "cpo")
    if other and not vd.verdict(*vd.paired(cpo[best], cpo[other]), "lower").improves:
        best, other = (plans[1], plans[0]) if len(plans) > 1 else (best, None)  # no ranking: in scenario order
    free = next((p for p in plans if not tot.spend[p] > 0), None)  # a plan without spend: the organic orders
    extra = tot.orders[best] - tot.orders[free] if free else math.nan
    if other:
        orders = _per_rep(result, "orders")
        share, low, high = paired_ratio(np.asarray(orders[best]), np.asarray(orders[other]))
        said = (
            f"{fmt.percent(max(low, 0.0), 0)} to {fmt.percent(high, 0)}"  # the paired ratio's 95% CI, not a point
            if fmt.finite(low) and fmt.finite(high)
            else f"{fmt.percent(share, 0)} (one replication)"
        )
        title = (
            f"{names[best]} gets {said} of {names[other]}'s "
            f"orders for {fmt.percent(fmt.ratio(tot.spend[best], tot.spend[other]), 0)} of the money"
        )
    elif free and fmt.finite(tot.cpo[best]) and extra > 0:
        each = fmt.money(tot.spend[best] / extra, cur)
        title = f"{names[best]} adds {fmt.count(extra)} orders to {names[free]}'s, at {each} each"
    else:
        most = _rank(tot.orders, higher=True)[0]
        title = f"{names[most]}: {fmt.count(tot.orders[most])} orders for {fmt.money(tot.spend[most], cur)}"
    sub = (
        f"Orders (first and repeat, including those that would come anyway) against money spent, "
        f"week by week over {result.weeks} weeks, all segments ({_reps(result)})"
    )
    fig, (ax,) = style.figure(title, sub)
    ax.grid(True, axis="x", color=GRID, lw=0.8)
    w = _weekly(result)
    spend = w[[f"spend_{c}" for c in result.scenario.channels]].sum(axis=1)
    if "intervention_spend" in w:  # the interventions' cost is spent money too (the summary's spend)
        spend = spend + w.intervention_spend
    for p in plans:
        x = np.concatenate([[0.0], spend[w.plan == p].cumsum().to_numpy()])
        y = np.concatenate([[0.0], w.orders[w.plan == p].cumsum().to_numpy()])
        label = f"{names[p]}: {fmt.count(y[-1])} orders for {fmt.money(x[-1], cur)}"
        ax.plot(x, y, color=colours[p], lw=2.4, label=label, solid_capstyle="round")
        ax.plot(x[-1:], y[-1:], "o", color=colours[p], ms=6)
    right = max(float(tot.spend.max()), 1.0)
    ax.set(xlim=(-0.02 * right, right * 1.05), ylim=(0, None))
    if right <= 1:  # nothing spent: one tick at 0, not 0.2 RUB steps
        ax.set_xticks([0])
    ax.xaxis.set_major_formatter(FuncFormatter(fmt.compact))
    ax.yaxis.set_major_formatter(FuncFormatter(fmt.compact))
    ax.set_xlabel(f"Cumulative spend, {cur}", **TEXT)
    ax.set_ylabel("Cumulative orders", **TEXT)
    ax.legend(loc="lower right", frameon=False, fontsize=10)
    return fig


def exposure_heatmap(result: Result, plan: str | None = None) -> Figure:
    """Share of each channel's units by the stage of the person reached, for a plan.

    The default plan is the first one that delivers any units (the first plan when none does), so a
    "no marketing" reference listed first does not give an empty chart.
    """
    plans, names, _ = _charted(result)
    e = result.exposures
    plan = plan or next((p for p in plans if e[e.plan == p].units.sum() > 0), plans[0])
    chans = {c: style.chart_name(ch.name or c) for c, ch in result.scenario.channels.items()}
    unit = {c: ch.cost.unit for c, ch in result.scenario.channels.items()}
    units = e[e.plan == plan].groupby(["channel", "stage"]).units.sum().unstack("stage")
    units = units.reindex(index=[c for c in chans if c in units.index], columns=list(STAGES)).fillna(0.0)
    rows = units.sum(axis=1)
    share = units.div(rows, axis=0)
    title = f"{names[plan]} delivers no units: it has no campaigns"
    if len(units):  # the channel with the biggest spend, and where most of its units land
        w = _weekly(result)
        top = str(units.index[int(np.argmax(w[w.plan == plan][[f"spend_{c}" for c in units.index]].sum()))])
        stage = str(share.loc[top].idxmax())
        title = (
            f"{fmt.short_name(chans[top])}, the biggest spend: {fmt.percent(share.loc[top, stage], 0)} of its "
            f"{unit[top]} reach {_PEOPLE[stage]}"
        )
    sub = (
        f"{names[plan]}: share of each channel's units (impressions, clicks or messages) by the stage of the "
        f"person reached, all segments, {result.weeks} weeks ({_reps(result)}); right: total units"
    )
    fig, (ax,) = style.figure(title, sub)
    ax.grid(False)
    if not len(units):
        ax.text(0.5, 0.5, "no units delivered", transform=ax.transAxes, ha="center", fontsize=12, color=MUTED)
        ax.set_axis_off()
        return fig
    cmap = matplotlib.colormaps["Blues"].with_extremes(bad="#f5f7f9")  # no units: a neutral cell
    ax.imshow(np.ma.masked_equal(share.to_numpy(), 0.0), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for (i, j), s in np.ndenumerate(share.to_numpy()):
        if s > 0:
            text = "<1%" if s < 0.005 else f"{100 * s:.0f}%"
            ax.text(j, i, text, ha="center", va="center", fontsize=10, color="white" if s > 0.55 else INK)
    for i, c in enumerate(units.index):
        ax.text(1.01, i, f"{fmt.compact(rows[c])} {unit[c]}", transform=ax.get_yaxis_transform(), va="center", **TEXT)
    ax.set_xticks(range(len(STAGES)), [s.capitalize() for s in STAGES])
    ax.set_yticks(range(len(units)), [textwrap.fill(chans[c], 24) for c in units.index])
    ax.set_xticks(np.arange(len(STAGES) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(units) + 1) - 0.5, minor=True)
    ax.xaxis.tick_top()
    ax.tick_params(which="both", length=0)
    ax.spines[:].set_visible(False)
    ax.grid(True, which="minor", color="white", lw=2)
    return fig


# --------------------------------------------------------------------------------------------
# the journey map: every plan side by side (small multiples)

#: Stage labels of the journey charts' columns, short enough for a panel per plan.
_STAGE_TICKS = ("Unaware", "Aware", "Interest", "Desire", "Customer", "Loyal", "Lost")


def _panel_grid(n: int, rows_per_panel: int) -> tuple[int, int, float]:
    """Rows and columns of n heatmap panels (one column up to three plans) and the figure's height."""
    ncols = 1 if n <= 3 else 2
    nrows = -(-n // ncols)
    return nrows, ncols, max(style.SIZE[1], 1.9 + nrows * (0.3 * rows_per_panel + 0.75))


def _heat(ax: Axes, values: np.ndarray, rows: list[str], vmax: float, first_col: bool) -> matplotlib.image.AxesImage:
    """One heatmap panel: rows x the seven stages, zero cells neutral, the shared colour scale [0, vmax]."""
    cmap = matplotlib.colormaps["Blues"].with_extremes(bad="#f5f7f9")  # nothing there: a neutral cell
    im = ax.imshow(np.ma.masked_equal(values, 0.0), cmap=cmap, vmin=0, vmax=vmax, aspect="auto")
    ax.grid(False)
    ax.set_xticks(range(len(STAGES)), _STAGE_TICKS)
    ax.set_yticks(range(len(rows)), [textwrap.fill(r, 24) for r in rows] if first_col else [])
    ax.set_xticks(np.arange(len(STAGES) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(rows) + 1) - 0.5, minor=True)
    ax.xaxis.tick_top()
    ax.tick_params(which="both", length=0)
    ax.spines[:].set_visible(False)
    ax.grid(True, which="minor", color="white", lw=2)
    return im


def _panels(n: int, rows_per_panel: int, title: str, sub: str) -> tuple[Figure, list[Axes]]:
    """A figure of n heatmap panels, one per plan; spare cells of the grid hidden."""
    nrows, ncols, height = _panel_grid(n, rows_per_panel)
    fig, axes = style.figure(title, sub, nrows, ncols, height=height)
    for ax in axes[n:]:
        ax.set_axis_off()
    return fig, axes[:n]


def _shares_title(lead: str, parts: list[tuple[str, str, float]]) -> str:
    """'<lead> <people>: 59% (A), 41% (B)' when every plan's top stage is the same, else each its own."""
    if len({st for _, st, _ in parts}) == 1:
        return f"{lead} {_PEOPLE[parts[0][1]]}: " + ", ".join(f"{fmt.percent(v, 0)} ({n})" for n, _, v in parts)
    return f"{lead}: " + "; ".join(f"{_PEOPLE[st]}, {fmt.percent(v, 0)} ({n})" for n, st, v in parts)


def budget_by_stage(result: Result) -> Figure:
    """Money by segment x stage of the people reached, one panel per plan, on one colour scale (the
    article's Fig. 6: the distribution of the advertising budget)."""
    plans, names, colours = _charted(result)
    cur = style.chart_name(result.scenario.scenario.currency, 24)
    segs = {s: style.chart_name(seg.name or s) for s, seg in result.scenario.segments.items()}
    j = result.journey
    j = j[j.segment != "all"]
    spend = {
        p: j[j.plan == p].pivot(index="segment", columns="stage", values="spend").reindex(
            index=list(segs), columns=list(STAGES)
        ).fillna(0.0)
        for p in plans
    }  # fmt: skip
    totals = {p: float(m.to_numpy().sum()) for p, m in spend.items()}
    payers = [p for p in plans if totals[p] > 0]
    title = f"No plan spends in {result.weeks} weeks" if len(plans) > 1 else f"{names[plans[0]]} spends nothing"
    if payers:  # where the money goes: each plan's biggest stage, as a share of its spend
        tops = [(p, str(spend[p].sum(axis=0).idxmax())) for p in payers[:3]]
        parts = [(names[p], st, float(spend[p][st].sum()) / totals[p]) for p, st in tops]
        title = _shares_title("The biggest share of spend reaches", parts)
    sub = (
        f"Actual spend, {cur}, by segment and by the stage of the people its ads reached, {result.weeks} weeks "
        f"({_reps(result)}); one colour scale for every plan"
    )
    if any(result.scenario.plans[p].interventions for p in plans):  # their cost reaches no one by an ad
        sub += "; media spend only, the interventions' cost is not by stage"
    fig, axes = _panels(len(plans), len(segs), title, sub)
    vmax = max((float(m.to_numpy().max()) for m in spend.values()), default=0.0) or 1.0
    im = None
    ncols = 1 if len(plans) <= 3 else 2
    for i, (ax, p) in enumerate(zip(axes, plans, strict=True)):
        m = spend[p].to_numpy()
        im = _heat(ax, m, list(segs.values()), vmax, first_col=i % ncols == 0)
        for (r, c), v in np.ndenumerate(m):
            if v > 0:
                colour = "white" if v > 0.55 * vmax else INK
                ax.text(c, r, fmt.compact(v), ha="center", va="center", fontsize=10, color=colour)
        head = f"{names[p]}: {fmt.money(totals[p], cur)} spent"
        ax.set_title(head, loc="left", fontsize=11, color=colours[p], fontweight="bold")
        if totals[p] <= 0:
            ax.text(3, (len(segs) - 1) / 2, "no spend", ha="center", va="center", fontsize=11, color=MUTED)
    if im is not None and payers:
        bar = fig.colorbar(im, ax=axes, shrink=0.6, pad=0.01)
        bar.ax.tick_params(labelsize=10)
        bar.ax.yaxis.set_major_formatter(FuncFormatter(fmt.compact))
        bar.set_label(cur, fontsize=10)
    return fig


def _exposure_shares(result: Result, plan: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A plan's units by channel x stage (channels that delivered), and each row's shares."""
    e = result.exposures
    units = e[e.plan == plan].groupby(["channel", "stage"]).units.sum().unstack("stage")
    order = [c for c in result.scenario.channels if c in units.index]
    units = units.reindex(index=order, columns=list(STAGES)).fillna(0.0)
    return units, units.div(units.sum(axis=1), axis=0)


def exposure_heatmaps(result: Result) -> Figure:
    """Every plan's exposure heatmap (:func:`exposure_heatmap`), one panel per plan, rows = every channel."""
    plans, names, colours = _charted(result)
    chans = {c: style.chart_name(ch.name or c) for c, ch in result.scenario.channels.items()}
    shares = {p: _exposure_shares(result, p) for p in plans}
    used = [c for c in chans if any(c in u.index for u, _ in shares.values())]
    # the channel most of the plans deliver on, and where its units land in each
    common = max(used, key=lambda c: sum(float(u.loc[c].sum()) for u, _ in shares.values() if c in u.index), default="")
    none = f"{names[plans[0]]} delivers no units: it has no campaigns" if len(plans) == 1 else ""
    title = (none or f"No plan delivers any units in {result.weeks} weeks") if not used else ""
    if used:
        tops = [(p, sh) for p, (u, sh) in shares.items() if common in u.index][:3]
        parts = [(names[p], str(sh.loc[common].idxmax()), float(sh.loc[common].max())) for p, sh in tops]
        title = _shares_title(
            f"{fmt.short_name(chans[common])}, the channel with the most units, reaches mostly", parts
        )
    sub = (
        f"Share of each channel's units (impressions, clicks or messages) by the stage of the person reached, "
        f"all segments, {result.weeks} weeks ({_reps(result)}); each row adds up to 100%; one panel per plan"
    )
    fig, axes = _panels(len(plans), max(len(used), 1), title, sub)
    ncols = 1 if len(plans) <= 3 else 2
    for i, (ax, p) in enumerate(zip(axes, plans, strict=True)):
        _, sh = shares[p]
        m = sh.reindex(index=used).fillna(0.0).to_numpy() if used else np.zeros((1, len(STAGES)))
        _heat(ax, m, [chans[c] for c in used] or [""], 1.0, first_col=i % ncols == 0)
        for (r, c), v in np.ndenumerate(m):
            if v > 0:
                text = "<1%" if v < 0.005 else f"{100 * v:.0f}%"
                ax.text(c, r, text, ha="center", va="center", fontsize=10, color="white" if v > 0.55 else INK)
        ax.set_title(names[p], loc="left", fontsize=11, color=colours[p], fontweight="bold")
        if not len(sh):
            ax.text(3, (m.shape[0] - 1) / 2, "no units delivered", ha="center", va="center", fontsize=11, color=MUTED)
    return fig


def _ttp_title(result: Result, facts: pd.DataFrame, names: dict[str, str]) -> tuple[str, str]:
    """The title (how many segment x plan medians fall inside the stated ranges) and which fall outside."""
    stated = facts[facts.outside.notna()]
    out = stated[stated.outside.fillna(False).astype(bool)]
    segs = {s: style.chart_name(seg.name or s) for s, seg in result.scenario.segments.items()}
    if not len(stated):
        return "No segment states a time before purchase, or none buys in the horizon", ""
    title = (
        f"The simulated median time to first order is inside the persona's stated range in "
        f"{len(stated) - len(out)} of {len(stated)} segment x plan panels"
    )
    by_seg: dict[str, list[str]] = {}
    for seg, plan in zip(out.segment, out.plan, strict=True):
        by_seg.setdefault(str(seg), []).append(names[str(plan)])
    outside = "; ".join(f"{segs[s]} ({', '.join(ps)})" for s, ps in by_seg.items())
    return title, (f"outside: {outside}" if outside else "none outside")


def time_to_purchase_by_plan(result: Result) -> Figure:
    """Weeks from first awareness to first order, one panel per segment x plan, each persona's
    stated time before purchase shaded over the simulated distribution, the median marked."""
    plans, names, colours = _charted(result)
    segs = {s: style.chart_name(seg.name or s) for s, seg in result.scenario.segments.items()}
    table = ttp_against_stated(result.ttp, result.scenario.segments, result.plans)
    title, outside = _ttp_title(result, table, names)
    facts = table.set_index(["plan", "segment"])
    sub = (
        f"New customers by weeks from first awareness to first order, first orders in the {result.weeks} weeks "
        f"({_reps(result)}; waits longer than the horizon cannot show); grey band = the persona's stated time "
        f"before purchase, line = simulated median; {outside}"
    )
    t = result.ttp[result.ttp.customers > 0]
    bands = [seg.time_before_purchase_weeks for seg in result.scenario.segments.values()]
    top = max([int(t.weeks.max()) if len(t) else 1, *(int(math.ceil(b[1])) for b in bands if b is not None)]) + 1
    fig, axes = style.figure(
        title, sub, len(segs), len(plans), sharex=True, sharey=True, height=max(style.SIZE[1], 2.2 + 0.85 * len(segs))
    )
    kernel = np.exp(-0.5 * (np.arange(-4, 5) / 1.5) ** 2)  # as time_to_purchase: sd 1.5 weeks
    x = np.arange(top + 1)
    for r, (sid, label) in enumerate(segs.items()):
        for c, p in enumerate(plans):
            ax = axes[r * len(plans) + c]
            ax.grid(False)
            ax.set_yticks([])
            ax.spines["left"].set_visible(False)
            f = facts.loc[(p, sid)]
            if result.scenario.segments[sid].time_before_purchase_weeks is not None:
                ax.axvspan(f.stated_low, f.stated_high, color=GRID, lw=0, gid="persona-band", zorder=0)
            d = t[(t.plan == p) & (t.segment == sid)]
            if r == 0:
                ax.set_title(textwrap.fill(names[p], 30), loc="left", fontsize=11, color=colours[p], fontweight="bold")
            if c == 0:
                ax.set_ylabel(textwrap.fill(label, 16), rotation=0, ha="right", va="center", fontsize=10, color=INK)
            if not len(d):
                ax.text(0.5, 0.4, "no first orders", transform=ax.transAxes, ha="center", fontsize=10, color=MUTED)
                continue
            counts = np.bincount(
                d.weeks.to_numpy(dtype=np.int64), weights=d.customers.to_numpy(float), minlength=top + 1
            )
            half = kernel.size // 2
            h = np.convolve(counts, kernel / kernel.sum(), mode="full")[half : half + counts.size]
            h = h / h.max()
            ax.fill_between(x, 0, h[: x.size], color=colours[p], alpha=0.5, lw=0, zorder=1)
            med = int(f.median_weeks)
            ax.vlines(med, 0, 1.05, color=INK, lw=1.8, gid="median", zorder=2)
            ax.text(0.98, 0.8, f"median {med} wk", transform=ax.transAxes, ha="right", fontsize=10, color=INK)
    axes[0].set(xlim=(0, top), ylim=(0, 1.25))
    fig.supxlabel("Weeks from first awareness to first order", fontsize=10, color=INK)
    return fig


# --------------------------------------------------------------------------------------------
# all of them, and saving


#: Each chart in funnel order, with its caption for a non-technical reader.
_CHARTS = {
    funnel: "Each row is a stage of the funnel, from first awareness down to loyalty: longer bars mean more "
    "people, and the percentages say how many made it from the stage above.",
    stage_occupancy: "Each panel follows how many people sit in one stage of the funnel, week by week: a line "
    "above the others means that plan keeps more people in that stage.",
    kpi_comparison: "The four headline numbers side by side for each plan (shorter is better for cost per order, "
    "longer for the other three); whiskers show where the true value most likely lies.",
    spend_by_channel: "How each plan spreads its money over the channels every week: the height of each band is "
    "what that channel costs that week.",
    orders_vs_spend: "Orders piling up as the money is spent: the steeper a plan's line, the more orders it "
    "gets for the same money.",
    budget_by_stage: "Where each plan's money goes, as a customer journey map: one panel per plan, a row per "
    "segment, a column per stage of the people the ads reached; the darker the cell, the more money, on one "
    "scale for every plan.",
    exposure_heatmaps: "Where each channel's ads land in the funnel, for every plan: each row adds up to 100%, and "
    "the darker the cell, the bigger the share of that channel's impressions, clicks or messages.",
    time_to_purchase_by_plan: "How long people in each segment take from first hearing of us to their first "
    "order, for every plan: the grey band is the wait the persona card states, the line the simulated median.",
}


def all_charts(result: Result) -> list[Chart]:
    """Every chart of a result, in funnel order, each with its slug, title and plain-language caption."""
    figures = [(make.__name__, make(result), caption) for make, caption in _CHARTS.items()]
    return [Chart(slug, fig.get_suptitle().replace("\n", " "), caption, fig) for slug, fig, caption in figures]
