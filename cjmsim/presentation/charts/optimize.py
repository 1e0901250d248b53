"""Charts of a budget optimization: where the money moved, why, how the search went and what it gained.

The chart functions read the tables of a :class:`cjmsim.optimize.Optimization` and return
``matplotlib.figure.Figure`` objects in the style of :mod:`cjmsim.presentation.style` (its palette, header
and helpers): each titled with the finding it shows, computed from the data, over a smaller subtitle
saying what is plotted. They never simulate, show or save.

- :func:`plan_comparison`: CPO, orders and spend of the base, optimized and compared plans on the
  fresh replications, with 95% confidence intervals;
- :func:`allocation`: each campaign's budget before and after, and the optimized plan's money by
  channel x segment with its change (budgets when every decision variable targets one segment, else
  the spend actually bought in each segment on the fresh replications);
- :func:`response_curves`: orders and CPO against each campaign's budget, the others held at the
  optimum, with the base and optimized budgets marked;
- :func:`convergence`: the objective at every evaluation of the search and the best feasible one so far.

Budgets are per active week of the campaign (a campaign running 22 of 26 weeks at 3,000 a week
shows 3,000), as ``weekly`` is written in the scenario and in the optimized plan's TOML block.
"""

from __future__ import annotations

import math
import textwrap
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from cjmsim.presentation import format as fmt
from cjmsim.presentation import style
from cjmsim.presentation.charts.chart import Chart
from cjmsim.presentation.charts.run import plans_of
from cjmsim.presentation.comparison import plan_totals
from cjmsim.presentation.format import budget_change as change
from cjmsim.presentation.optimize_text import OBJECTIVE_METRIC, headline, search_finding
from cjmsim.presentation.style import AXIS, GRID, INK, MUTED, TEXT, mpl_text

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from cjmsim.analyses.optimize import Optimization

__all__ = [
    "plan_comparison",
    "allocation",
    "response_curves",
    "convergence",
    "all_charts",
    "campaign_budgets",
    "change",
    "headline",
    "OBJECTIVE_METRIC",
]

#: The comparison chart's panels: summary column, panel title, money?, higher is better (None: neither).
_PANELS: tuple[tuple[str, str, bool, bool | None], ...] = (
    ("cpo", "Cost per order", True, False),
    ("orders", "Orders", False, True),
    ("spend", "Spend", True, None),
)
#: The panels for the incremental objectives: what the plan adds over no marketing.
_INCREMENTAL_PANELS: tuple[tuple[str, str, bool, bool | None], ...] = (
    ("inc_margin", "Incremental margin", True, True),
    ("icpo", "Spend per incremental order", True, False),
    ("spend", "Spend", True, None),
)
_INFEASIBLE = ("#b8323f", "#e15759")  # red; a lighter red when the optimized plan's colour is the first
_MAX_CAMPAIGNS = 14  # bars in the allocation chart; beyond, the rest as one row
_MAX_CURVES = 6  # campaigns in the response curves; the biggest budgets
fmt.MINUS = "\u2212"


# --------------------------------------------------------------------------------------------
# the optimization as the charts (and the report) need it


def _per_week(v: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Variables grouped by keys: base and optimized totals, active weeks, and budgets per active week.

    A group's active weeks add up over flight periods (in one period its cells share their weeks),
    so with one period a group's budget per week is the sum of its variables' weekly budgets.
    """
    weeks = v.groupby([*keys, "period"], sort=False).weeks.max().groupby(level=list(range(len(keys))), sort=False)
    out = v.groupby(keys, sort=False)[["base_total", "total"]].sum().join(weeks.sum())
    active = out.weeks.where(out.weeks > 0)
    out["base_weekly"] = out.base_total / active
    out["weekly"] = out.total / active
    return out.reset_index()


def campaign_budgets(opt: Optimization) -> pd.DataFrame:
    """One row per base campaign: campaign, channel, weeks, base and optimized budget per active week and total."""
    return _per_week(opt.variables, ["campaign", "channel"])


def _colours(opt: Optimization) -> dict[str, str]:
    """Each plan's colour in every chart of the scenario; the optimized plan's the next after the scenario's plans."""
    return style.plan_colours(opt.scenario.plans, extra=[opt.plan_name, *opt.fresh.plans])


def _moves(budgets: pd.DataFrame, label: pd.Series) -> tuple[str, str] | None:
    """The biggest cut and the biggest rise of budgets (rows with base_total, total), as 'label (change)';
    an empty string for a side without any move over 0.5% of the whole budget; None without moves."""
    delta = budgets.total - budgets.base_total
    tol = 0.005 * max(float(budgets.base_total.sum()), 1.0)
    said = ["", ""]
    for k, side in enumerate((delta[delta < -tol].sort_values(), delta[delta > tol].sort_values(ascending=False))):
        if len(side):
            row = budgets.loc[side.index[0]]
            said[k] = f"{label[side.index[0]]} ({change(row.base_total, row.total)})"
    return (said[0], said[1]) if any(said) else None


def _allocation_title(opt: Optimization, cells: tuple[pd.DataFrame, pd.DataFrame, str]) -> str:
    """Where the money moved: between campaigns, else between channels and segments (:func:`_by_segment`)."""
    c = campaign_budgets(opt)
    moves = _moves(c, c.campaign.map(mpl_text))
    if moves is None:
        new, old, _ = cells
        money = pd.DataFrame({"total": new.stack(), "base_total": old.stack()})
        chans, segs = opt.scenario.channels, opt.scenario.segments
        label = pd.Series(
            [
                f"{style.chart_name(chans[ch].name or ch, 30)} for {style.chart_name(segs[g].name or g, 30)}"
                for ch, g in money.index
            ],
            index=money.index,
        )
        inside = _moves(money, label)
        if inside is None or not all(inside):
            return "The optimizer keeps every budget within 0.5% of the base plan's"
        return f"Campaign budgets hold; within them money moves from {inside[0]} to {inside[1]}"
    if all(moves):
        return f"Money moves from {moves[0]} to {moves[1]}"
    if not c.total.sum() > 0:
        return "The optimized plan cuts every budget to 0"
    total = change(float(c.base_total.sum()), float(c.total.sum()))
    return f"The optimized plan budgets {total}; the biggest {'cut' if moves[0] else 'rise'}: {moves[0] or moves[1]}"


def segment_names(opt: Optimization, ids: str) -> str:
    """A variable's segments ('a, b') by display name: 'Casual + Enthusiast'."""
    segs = opt.scenario.segments
    return " + ".join(segs[s].name or s if s in segs else s for s in ids.split(", "))


# --------------------------------------------------------------------------------------------
# the charts


def plan_comparison(opt: Optimization) -> Figure:
    """CPO, orders and spend of every plan of the fresh re-evaluation, with 95% CI whiskers (segment ``all``)."""
    res = opt.fresh
    plans, plain, _ = plans_of(res)
    colours = _colours(opt)
    names = {p: style.chart_name(n) for p, n in plain.items()}
    tot, cur = plan_totals(res), style.chart_name(opt.scenario.scenario.currency, 24)
    cis = res.reps > 1
    sub = (
        f"Each plan on {res.reps} fresh replications of {res.agents:,} agents, not the search's, all segments; "
        + ("whiskers = 95% CI" if cis else "single replication, no confidence intervals")
        + "; spend is what was actually bought"
    )
    incremental = opt.objective in ("max-inc-margin", "min-icpo") and "inc_margin" in tot
    panels = _INCREMENTAL_PANELS if incremental else _PANELS
    fig, axes = style.figure(mpl_text(headline(opt)), sub, 1, len(panels), sharey=True)
    y = np.arange(len(plans))[::-1].astype(float)
    for ax, (col, label, money, higher) in zip(axes, panels, strict=True):
        v, lo, hi = (
            tot[f"{col}{s}"].to_numpy(float) if f"{col}{s}" in tot else np.full(len(plans), np.nan)
            for s in ("", "_ci_low", "_ci_high")
        )
        low, high, span = style.ci_limits(v, lo, hi)
        low = min(low, 0.0)
        ok = np.isfinite(v)
        ax.barh(y[ok], v[ok], height=0.66, color=[colours[p] for p, f in zip(plans, ok, strict=True) if f], zorder=3)
        if cis:  # cut where the values' labels begin
            style.whiskers(ax, y, lo, hi, (low, high), vertical=False)
        for yi, val, top in zip(y, v, hi, strict=True):
            text = (fmt.money(val, cur) if money else fmt.count(val)) if fmt.finite(val) else "n/a"
            end = min(max(val, top), high) if fmt.finite(top) else val
            gap = 0.05 if fmt.finite(top) and top > high else 0.02  # clear of a cut whisker's triangle
            ax.text((end if fmt.finite(end) else 0.0) + gap * span, yi, text, va="center", **TEXT)
        ax.set(
            xlim=(low, high + 0.5 * span), ylim=style.bar_limits(len(plans))
        )  # room right of the bars for their values
        better = "" if higher is None else f"\n({'higher' if higher else 'lower'} is better)"
        ax.set_title(f"{label}{f', {cur}' if money else ''}{better}", loc="left", fontsize=11, color=INK)
        style.bare(ax)
        ax.axvline(0, color=AXIS, lw=0.8)
    axes[0].set_yticks(y, [textwrap.fill(names[p], 20) for p in plans])
    return fig


def allocation(opt: Optimization) -> Figure:
    """Each campaign's budget per active week, base beside optimized; and the optimized budget by channel x audience.

    Left, one pair of bars per campaign (the biggest when there are many, the rest summed); right, a
    heatmap of the optimized budget per active week of every channel and audience (the segments a
    decision variable targets), each cell with its change from the base plan.
    """
    cur = style.chart_name(opt.scenario.scenario.currency, 24)
    c = campaign_budgets(opt)
    shown = c
    if len(c) > _MAX_CAMPAIGNS:  # the biggest budgets, before or after; the others as one row
        big = c[["base_weekly", "weekly"]].max(axis=1).sort_values(ascending=False, kind="stable")
        keep = sorted(big.index[: _MAX_CAMPAIGNS - 1])
        rest = c.drop(index=keep)
        other = pd.DataFrame(
            [
                {
                    "campaign": f"{len(rest)} other campaigns",
                    **rest[["base_weekly", "weekly", "base_total", "total"]].sum(),
                }
            ]
        )
        shown = pd.concat([c.loc[keep], other], ignore_index=True)
    cells = _by_segment(opt)
    sub = (
        f"{cur}; left: budget per active week of each campaign of "
        f"{style.chart_name(plans_of(opt.fresh)[1][opt.base_plan])}, "
        f"base (upper bar) and optimized (lower), the change of its total; right: the optimized plan's {cells[2]} by "
        "channel and segment, under it the change from the base plan"
    )
    fig, (left, right) = style.figure(_allocation_title(opt, cells), sub, 1, 2)
    n = len(shown)
    y = np.arange(n)[::-1].astype(float)
    h = 0.38
    colours = _colours(opt)
    left.barh(y + h / 2, shown.base_weekly, height=h, color=colours[opt.base_plan], zorder=3, label="base")
    left.barh(y - h / 2, shown.weekly, height=h, color=colours[opt.plan_name], zorder=3, label="optimized")
    top = max(float(shown[["base_weekly", "weekly"]].max().max()), 1.0)
    for yi, a, b, r in zip(y, shown.base_weekly, shown.weekly, shown.itertuples(), strict=True):
        left.text(max(a, b) + 0.02 * top, yi, f"{fmt.compact(b)}  {change(r.base_total, r.total)}", va="center", **TEXT)
    left.set(xlim=(0, top * 1.45), ylim=style.bar_limits(n))
    left.set_yticks(y, [textwrap.shorten(mpl_text(str(x)), 30, placeholder="\u2026") for x in shown.campaign])
    left.xaxis.set_major_formatter(FuncFormatter(fmt.compact))
    left.grid(True, axis="x", color=GRID, lw=0.8)
    left.grid(False, axis="y")
    left.tick_params(axis="y", length=0)
    left.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=2, frameon=False, fontsize=10, borderaxespad=0.2)
    spec = left.get_subplotspec()
    if spec is not None:  # room for the heatmap's columns
        spec.get_gridspec().set_width_ratios([1, 1.25])
    _cells(opt, right, cells)
    return fig


def _by_segment(opt: Optimization) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The optimized and the base plan's money by channel (rows) x segment (columns), and what it is.

    Budgets per active week when every decision variable targets one segment (split by segment);
    otherwise a budget has no share per segment, and the money is the spend actually bought in
    each segment, per week of the horizon, on the fresh replications. NaN where neither plan has any.
    """
    v = opt.variables
    chans = [ch for ch in opt.scenario.channels if ch in set(v.channel)]
    segs = list(opt.scenario.segments)
    if len(v) and not v.segments.astype(str).str.contains(", ").any():
        cells = _per_week(v, ["channel", "segments"]).set_index(["channel", "segments"])
        new, old = (cells[c].unstack("segments").reindex(index=chans, columns=segs) for c in ("weekly", "base_weekly"))
        return new, old, "budget per active week"
    w = opt.fresh.weekly
    frames = []
    for plan in (opt.plan_name, opt.base_plan):
        d = w[(w.plan == plan) & (w.segment != "all")].groupby("segment", sort=False)
        frames.append(pd.DataFrame({ch: d[f"spend_{ch}"].mean() for ch in chans}).T.reindex(index=chans, columns=segs))
    none = (frames[0].fillna(0.0) <= 0) & (frames[1].fillna(0.0) <= 0)
    return frames[0].mask(none), frames[1].mask(none), "spend actually bought per week on the fresh replications"


def _cells(opt: Optimization, ax: Axes, cells: tuple[pd.DataFrame, pd.DataFrame, str]) -> None:
    """The heatmap of the optimized money by channel x segment (:func:`_by_segment`), each cell with its change.

    Cell (i, j) spans [j, j + 1] x [i, i + 1], rows downwards; where neither plan has money the grey
    background shows through.
    """
    new, old, _ = cells
    value = new.to_numpy(dtype=float)
    top = max(float(np.nanmax(value)) if np.isfinite(value).any() else 1.0, 1.0)
    ax.set_facecolor("#f5f7f9")
    ax.pcolormesh(np.ma.masked_invalid(value), cmap="Blues", vmin=0, vmax=top, edgecolors="white", linewidth=2)
    size = 9 if value.shape[1] > 4 else 10
    for (i, j), v in np.ndenumerate(value):
        if fmt.finite(v):
            ink = "white" if v / top > 0.55 else INK
            label = f"{fmt.compact(v)}\n{change(float(old.iat[i, j]), v)}"
            ax.text(j + 0.5, i + 0.5, label, ha="center", va="center", fontsize=size, color=ink)
    chans, segs = opt.scenario.channels, opt.scenario.segments
    rows = [textwrap.fill(style.chart_name(chans[c].name or c, 48), 16) for c in new.index]
    cols = [
        textwrap.shorten(mpl_text(fmt.short_name(segs[g].name or g)), 20, placeholder="\u2026") for g in new.columns
    ]
    tilt = len(cols) > 3  # slanted, so the names do not collide
    ax.set(xlim=(0, len(cols)), ylim=(len(rows), 0))
    ax.set_yticks(np.arange(len(rows)) + 0.5, rows)
    ax.set_xticks(np.arange(len(cols)) + 0.5, cols, rotation=30 if tilt else 0, ha="left" if tilt else "center")
    for tick in ax.get_xticklabels() if tilt else []:
        tick.set_rotation_mode("anchor")
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    ax.grid(False)


def _curve_title(opt: Optimization, shown: list[str]) -> str:
    """The marginal cost of an order past the optimum, quoted only where its 95% CI supports it."""
    cur = style.chart_name(opt.scenario.scenario.currency, 24)
    m = opt.marginal
    if not len(m):
        return "Response curves around the optimum"
    m = m[m.campaign.isin(shown)]
    funded = m[m.campaign.map(lambda k: k in set(opt.curves[opt.curves.optimized_weekly >= 1].campaign))]
    if not len(funded):
        return "Every campaign shown was cut to zero: no curve around the optimum"
    reps = int(m.reps.iloc[0])
    priced = funded[funded.cost_supported.astype(bool)].set_index("campaign").cost_per_extra_order
    if len(priced) > 1:
        lo, hi = priced.idxmin(), priced.idxmax()
        title = (
            f"Past the optimum, extra orders cost least on {mpl_text(lo)} ({fmt.money(priced[lo], cur)} each) "
            f"and most on {mpl_text(hi)} ({fmt.money(priced[hi], cur)})"
        )
    elif len(priced):
        name = str(priced.index[0])
        title = f"Past the optimum, each extra order on {mpl_text(name)} costs {fmt.money(priced.iloc[0], cur)}"
    else:
        return (
            "Past the optimum, no campaign shown has a cost per extra order that can be quoted at "
            f"{reps} replications: its 95% CI spans zero or is unbounded"
        )
    rest = len(funded) - len(priced)
    if rest:
        title += f"; on {rest} other{'s' if rest > 1 else ''}, not quotable at {reps} replications (CI spans zero)"
    return title


def response_curves(opt: Optimization) -> Figure:
    """Orders (top row) and CPO (bottom row) against each campaign's budget, the other campaigns at the optimum.

    One column per campaign (the biggest optimized or base budgets when there are many); the dashed
    line is the base plan's budget, the ringed point the optimum. On the search replications.
    """
    cur = style.chart_name(opt.scenario.scenario.currency, 24)
    colours = _colours(opt)
    base_colour, best_colour = colours[opt.base_plan], colours[opt.plan_name]
    budgets = campaign_budgets(opt).set_index("campaign")
    weeks = opt.scenario.scenario.weeks
    curves: dict[str, pd.DataFrame] = {}
    for name, d in opt.curves.groupby("campaign", sort=False):
        d = d.sort_values("level").copy()
        d["cpo"] = d.cpo.where(d.spend > 0)  # nothing spent: no cost per order, as in every other chart
        # optimize.py gives budgets per week of the horizon; per active week as everywhere else
        active = float(budgets.weeks.get(name, weeks)) if name in budgets.index else float(weeks)
        for col in ("weekly", "base_weekly", "optimized_weekly"):
            d[col] = d[col] * weeks / max(active, 1.0)
        curves[str(name)] = d
    reps = int(opt.curves.reps.iloc[0]) if "reps" in opt.curves and len(opt.curves) else 1
    ranked = sorted(curves, key=lambda k: -max(curves[k].base_weekly.iloc[0], curves[k].optimized_weekly.iloc[0]))
    shown = [k for k in curves if k in ranked[:_MAX_CURVES]]
    more = f"; the {len(shown)} of {len(curves)} campaigns with the biggest budgets" if len(shown) < len(curves) else ""
    sub = (
        f"Orders and cost per order as one campaign's budget per active week scales from 0 to \u00d72 of its optimum, "
        f"{cur}, the other campaigns held at the optimum; dashed: the base plan's budget, ringed: the optimum; "
        f"band: 95% CI of orders over {reps} replications \u00d7 {opt.scenario.scenario.agents:,} agents (the search's "
        "first ones); a cost per extra order (x1 to x1.25) is quoted only where its CI is finite, of some width "
        f"and above 0{more}"
    )
    fig, axes = style.figure(_curve_title(opt, shown), sub, 2, max(len(shown), 1))
    ncol = max(len(shown), 1)
    for j, name in enumerate(shown):
        d = curves[name]
        top, bottom = axes[j], axes[ncol + j]
        bottom.sharex(top)  # a column: one campaign's budget
        top.tick_params(labelbottom=False)
        base, best = float(d.base_weekly.iloc[0]), float(d.optimized_weekly.iloc[0])
        width = max(12, 96 // ncol - 2)  # two lines at most, narrow enough not to run into the next title
        label = textwrap.fill(textwrap.shorten(mpl_text(name), 2 * width, placeholder="\u2026"), width)
        top.set_title(label, loc="left", fontsize=11, color=INK)
        for ax, col in ((top, "orders"), (bottom, "cpo")):
            ax.axvline(base, color=base_colour, lw=1.4, ls=(0, (4, 3)), zorder=2)
            ax.xaxis.set_major_formatter(FuncFormatter(fmt.tick))
            if best < 1:  # cut to zero: the levels scale nothing, no curve to draw
                ax.text(0.5, 0.5, "cut to 0", transform=ax.transAxes, ha="center", fontsize=10, color=MUTED)
                ax.set_yticks([])
                continue
            ax.plot(d.weekly, d[col], color=best_colour, lw=2, marker="o", ms=3.5, zorder=3)
            if f"{col}_ci_low" in d and d[f"{col}_ci_low"].notna().any():  # the 95% CI over the curve's replications
                ax.fill_between(
                    d.weekly, d[f"{col}_ci_low"], d[f"{col}_ci_high"], color=best_colour, alpha=0.18, lw=0, zorder=2
                )
            at = d[np.isclose(d.level, 1.0)]
            ax.plot(at.weekly, at[col], "o", ms=9, mfc="white", mec=INK, mew=1.6, zorder=4)
            ax.yaxis.set_major_formatter(FuncFormatter(fmt.tick))
        right = max(float(d.weekly.max()), base) * 1.05
        bottom.set_xlim(-0.03 * max(right, 1.0), max(right, 1.0))
    for ax in axes[len(shown) : ncol] + axes[ncol + len(shown) :]:  # no campaign with a curve: one empty column
        ax.set_axis_off()
    axes[0].set_ylabel("Orders", **TEXT)
    axes[ncol].set_ylabel(f"CPO, {cur}", **TEXT)
    axes[ncol + ncol // 2].set_xlabel(f"Budget per active week, {cur}", **TEXT)
    handles = [
        Line2D([], [], color=base_colour, lw=1.4, ls=(0, (4, 3)), label="base plan's budget"),
        Line2D([], [], color=INK, marker="o", ms=8, mfc="white", lw=0, label="optimum"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False, fontsize=10)
    return fig


def convergence(opt: Optimization) -> Figure:
    """The objective, in its own units, at every evaluation of the search, and the best feasible value so far.

    Feasible candidates in colour, infeasible ones (over budget or under the orders floor) in red,
    gradient points (the forward differences) lighter; the dashed line is the start, the base
    allocation. On the search replications.
    """
    metric, name, higher, money = OBJECTIVE_METRIC[opt.objective]
    cur = style.chart_name(opt.scenario.scenario.currency, 24)
    colours = _colours(opt)
    base_colour, feasible = colours[opt.base_plan], colours[opt.plan_name]
    infeasible = _INFEASIBLE[feasible == _INFEASIBLE[0]]
    t = opt.trace.copy()
    if "net_margin" not in t:
        t["net_margin"] = t.margin - t.spend
    val = t[metric].astype(float)
    ok = t.feasible.astype(bool)
    best = val.where(ok).cummax() if higher else val.where(ok).cummin()
    best = best.ffill()
    start = t[t.kind == "start"]
    s = float(val[start.index[0]]) if len(start) else math.nan
    used, budget = opt.settings.get("evaluations_used", len(t)), opt.settings.get("evaluations")
    title = search_finding(opt)  # the one verdict of the search, as the report and the terminal say it
    floors = [w for w, k in (("orders", "orders_floor"), ("revenue", "revenue_floor")) if opt.settings.get(k, 0)]
    floor = f" or its {' or '.join(floors)} under the floor" if floors else ""
    sub = (
        f"{name[0].upper() + name[1:]}{f' ({cur})' if money else ''} of each candidate allocation on the search "
        f"replications, {used} of {budget} evaluations; red: infeasible, its planned spend over the budget{floor}; "
        f"stopped: {mpl_text(opt.message)}"
    )
    fig, (ax,) = style.figure(title, sub)
    grad = (t.kind == "gradient").to_numpy()
    for mask, colour in ((ok.to_numpy(), feasible), (~ok.to_numpy(), infeasible)):
        for light, size, alpha in ((True, 18, 0.3), (False, 34, 1.0)):
            m = mask & (grad == light) & (t.kind != "start").to_numpy()
            ax.scatter(t.evaluation[m], val[m], s=size, color=colour, alpha=alpha, lw=0, zorder=3)
    ax.step(t.evaluation, best, where="post", color=INK, lw=1.8, zorder=4)
    if fmt.finite(s):
        ax.axhline(s, color=base_colour, lw=1.2, ls=(0, (4, 3)), zorder=2)
        ax.plot(start.evaluation, [s] * len(start), "s", ms=8, color=base_colour, zorder=5)
    ax.set_xlabel("Evaluation", **TEXT)
    ax.set_ylabel(f"{name[0].upper() + name[1:]}{f', {cur}' if money else ''}", **TEXT)
    ax.yaxis.set_major_formatter(FuncFormatter(fmt.tick))
    ax.grid(True, axis="x", color=GRID, lw=0.8)
    handles = [
        Line2D([], [], color=base_colour, marker="s", ms=7, lw=1.2, ls=(0, (4, 3)), label="start: the base allocation"),
        Line2D([], [], color=feasible, marker="o", lw=0, ms=6, label="feasible"),
        Line2D([], [], color=infeasible, marker="o", lw=0, ms=6, label="infeasible"),
        Line2D([], [], color=MUTED, marker="o", lw=0, ms=5, alpha=0.4, label="gradient point (lighter)"),
        Line2D([], [], color=INK, lw=1.8, label=f"best feasible so far ({'higher' if higher else 'lower'} is better)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False, fontsize=10)
    return fig


# --------------------------------------------------------------------------------------------
# all of them


def all_charts(opt: Optimization) -> list[Chart]:
    """Every chart of an optimization, each with its slug, title and a one-sentence plain-language caption."""
    made: list[tuple[str, Figure, str]] = [
        (
            "optimize_comparison",
            plan_comparison(opt),
            "The plans run again on new synthetic customers the search never saw: shorter bars are better for "
            + (
                "spend per incremental order, longer for incremental margin (over no marketing)"
                if opt.objective in ("max-inc-margin", "min-icpo")
                else "cost per order, longer for orders"
            )
            + "; the whiskers show where the true value most likely lies.",
        ),
        (
            "optimize_allocation",
            allocation(opt),
            "Where the money moved: each campaign's weekly budget before (upper bar) and after (lower bar), and on "
            "the right the new budget of each channel and audience with its change.",
        ),
    ]
    if len(opt.curves):
        made.append(
            (
                "optimize_response_curves",
                response_curves(opt),
                "What happens to orders and to the cost of an order when one campaign gets less or more money and "
                "the others keep their optimized budgets: where a curve flattens, more money buys little.",
            )
        )
    made.append(
        (
            "optimize_convergence",
            convergence(opt),
            "How the search went: every dot is one allocation tried, red ones break a constraint, and the black "
            "line is the best allowed allocation found so far.",
        )
    )
    return [Chart(slug, fig.get_suptitle().replace("\n", " ").replace("\\$", "$"), cap, fig) for slug, fig, cap in made]
