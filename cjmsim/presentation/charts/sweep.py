"""Charts of an experiment sweep: what the varied settings do to each plan.

The chart functions read the tables of a :class:`cjmsim.sweep.SweepResult` (``summary`` and
``differences``, segment ``all``) and return ``matplotlib.figure.Figure`` objects in the style of
:mod:`cjmsim.presentation.style` (palette, header, helpers): each titled with the finding it shows, computed
from the data, over a smaller subtitle saying what is plotted. They never simulate, show or save.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from cjmsim.presentation import format as fmt
from cjmsim.presentation import style
from cjmsim.presentation import verdict as vd
from cjmsim.presentation.charts.chart import Chart
from cjmsim.presentation.style import GRID, INK, MUTED, PANEL, SIZE, TEXT, mpl_text
from cjmsim.scenario import metrics as registry

if TYPE_CHECKING:
    from cjmsim.analyses.sweep import Parameter, SweepResult

__all__ = [
    "response_curves",
    "frontier",
    "heatmaps",
    "plan_ranking",
    "all_charts",
    "SweepView",
    "sweep_view",
    "level_text",
]

#: The response curves' panels: column and panel title (chart wording); units, formats and which
#: way is better come from the metric registry. A sweep that ran no marketing at every point shows
#: what the plans add over it (a total ROMI climbs as the budget falls only because the orders that
#: would come anyway are spread over less money); one with ``baseline = false`` shows the totals.
_CURVES = (("orders", "Orders"), ("cpo", "Cost per order"), ("romi", "ROMI"))
_INC_CURVES = (("inc_orders", "Incremental orders"), ("icpo", "Cost per incremental order"), ("iromi", "iROMI"))
#: How the charts' running text names the orders and their cost, total or incremental.
_WORDS = {False: ("orders", "CPO", "order"), True: ("incremental orders", "iCPO", "incremental order")}


# --------------------------------------------------------------------------------------------
# the sweep as the charts need it


@dataclass(frozen=True)
class SweepView:
    """A sweep's totals (segment ``all``), plans, parameters and labels, computed once per chart."""

    result: SweepResult
    params: list[Parameter]
    plans: list[str]
    names: dict[str, str]  # display names for matplotlib ('$' escaped)
    plain: dict[str, str]  # display names as written, for the page
    colours: dict[str, str]
    reference: str
    currency: str  # for matplotlib
    reps: int
    tot: pd.DataFrame  # summary, segment all
    diffs: pd.DataFrame  # differences, segment all (empty with one plan)
    incremental: bool = False  # the tables have the metrics against no marketing

    @property
    def curves(self) -> tuple[tuple[str, str], ...]:
        """The response curves' panels: (column, panel title); incremental when the sweep ran no marketing."""
        return _INC_CURVES if self.incremental else _CURVES

    @property
    def orders_col(self) -> str:
        """The orders the charts compare plans on: incremental ones when there are, else all orders."""
        return self.curves[0][0]

    @property
    def cpo_col(self) -> str:
        """The cost per order the charts compare plans on: spend per incremental order, or per order."""
        return self.curves[1][0]

    @property
    def words(self) -> tuple[str, str, str]:
        """The orders, their cost and one order in running text: 'incremental orders', 'iCPO', ..."""
        return _WORDS[self.incremental]

    @property
    def grid(self) -> bool:
        """Whether the design is a grid (every combination of levels), not a sample."""
        return self.result.experiment.spec.experiment.design == "grid"

    def of(self, plan: str) -> pd.DataFrame:
        """The totals of one plan at every point."""
        return self.tot[self.tot.plan == plan]


def sweep_view(result: SweepResult) -> SweepView:
    """What every sweep chart and the report read of a result, computed once."""
    exp = result.experiment
    s = exp.spec.experiment
    sc = exp.scenarios[0]
    plans = list(exp.plans)
    d = result.differences
    return SweepView(
        result=result,
        params=list(exp.spec.parameters),
        plans=plans,
        names={p: style.chart_name(sc.plans[p].name or p) for p in plans},
        plain={p: sc.plans[p].name or p for p in plans},
        colours=style.plan_colours(sc.plans, extra=plans),
        reference=s.reference or plans[0],
        currency=style.chart_name(sc.scenario.currency, 24),
        reps=exp.reps,  # over posterior draws: the draws
        tot=result.summary[result.summary.segment == "all"].reset_index(drop=True),
        diffs=d[d.segment == "all"].reset_index(drop=True) if len(d) else d,
        incremental="inc_orders" in result.summary.columns,
    )


# --------------------------------------------------------------------------------------------
# parameters and their levels as a reader wants them


def _is_numeric(p: Parameter) -> bool:
    return p.levels is None


def level_text(p: Parameter, v: Any) -> str:
    """A parameter's level as text: '\u00d70.5' for factors and multipliers, '10%' for shares moved, 'central'."""
    if isinstance(v, str):
        return v
    x = float(v)
    if p.budget is not None or (p.path is not None and p.multiplies):
        return f"\u00d7{x:.4g}"
    if p.move is not None:
        return f"{100 * x:.3g}%"
    return f"{x:,.0f}" if x.is_integer() or abs(x) >= 1e4 else f"{x:.4g}"


def _point(view: SweepView, row: pd.Series | dict[str, Any], named: bool = True, short: bool = False) -> str:
    """A point's label: 'budget \u00d70.5, cpc 20'; unnamed, the bare level of a single parameter;
    short, the bare levels of all of them, '30% / 25%' (the axis or subtitle names the parameters)."""
    if not view.params:
        return "base scenario"
    if short or (len(view.params) == 1 and not named):
        return mpl_text(" / ".join(level_text(p, row[p.name]) for p in view.params))
    return ", ".join(mpl_text(_named(p, row[p.name])) for p in view.params)


def _named(p: Parameter, v: Any) -> str:
    """A level with its parameter: 'cpc 20', 'budget \u00d70.5', 'pessimistic assumptions'."""
    return f"{v} {p.name}" if isinstance(v, str) else f"{p.name} {level_text(p, v)}"


def _affected(view: SweepView, p: Parameter) -> list[str]:
    """The plans a parameter is aimed at (every plan for a setting outside ``plans.``).

    Others may still move with it: a warm-up under a changed plan changes every plan's start.
    """
    if p.budget is not None:
        return view.plans if "*" in p.budget else [x for x in view.plans if x in p.budget]
    if p.move is not None:
        return [x for x in view.plans if x == p.move.plan]
    if p.path is not None and p.path.startswith("plans."):
        head = p.path.split(".")[1].split("[")[0]
        return view.plans if head == "*" else [x for x in view.plans if x == head]
    return view.plans


def _still(view: SweepView, p: Parameter, rows: pd.DataFrame) -> set[str]:
    """Plans whose results do not move at all over this parameter's levels (same orders, spend, revenue).

    Read from the data, not the parameter, since a warm-up under a changed plan moves the others too;
    with common random numbers off every plan moves a little, and none is called still.
    """
    keys = ["orders", "spend", "revenue"]
    return {
        str(plan)
        for plan, d in rows.groupby("plan", sort=False)
        if d[p.name].nunique() > 1 and all(d[k].nunique(dropna=False) == 1 for k in keys)
    }


def _first(p: Parameter) -> Any:
    """The level other parameters' curves hold this one at: the scenario as written when the grid has
    it (\u00d71, no budget moved, the level without changes), else the first level."""
    levels = p.grid()
    if p.levels is not None:
        return next((name for name, changes in p.levels.items() if not changes), levels[0])
    as_written = 1.0 if p.budget is not None or (p.path is not None and p.multiplies) else 0.0
    if p.path is not None and not p.multiplies:
        return levels[0]
    return next((v for v in levels if math.isclose(float(v), as_written)), levels[0])


def _same(column: pd.Series, level: Any) -> pd.Series:
    if isinstance(level, str):
        return column == level
    return pd.Series(np.isclose(column.astype(float), float(level)), index=column.index)


# --------------------------------------------------------------------------------------------
# response curves


def response_curves(result: SweepResult) -> list[Figure]:
    """Orders, CPO and ROMI against each parameter, one line per plan with its 95% CI band.

    One figure per parameter, in the experiment's order. With several parameters on a grid, the
    others are held at one level: the scenario as written when the grid has it (\u00d71, nothing
    moved, the level without changes), else their first. A budget factor applied to every plan run is plotted
    against the money actually spent (the subtitle says so). A parameter with named levels gives
    grouped bars with 95% CI whiskers instead.
    """
    return [fig for _, fig, _ in _response_curves(result)]


def _response_curves(result: SweepResult) -> list[tuple[Parameter, Figure, bool]]:
    """Each parameter, its figure, and whether its x axis is the money spent."""
    view = sweep_view(result)
    out = []
    for p in view.params:
        rows, held = view.tot, []
        if view.grid:
            for q in view.params:
                if q is not p:
                    rows = rows[_same(rows[q.name], _first(q))]
                    held.append(mpl_text(_named(q, _first(q))))
        numeric = _is_numeric(p)
        fig = _curves(view, p, rows, held) if numeric else _bars(view, p, rows, held)
        out.append((p, fig, numeric and _x_is_spend(view, p, rows)))
    return out


def _x_is_spend(view: SweepView, p: Parameter, rows: pd.DataFrame) -> bool:
    """Spend on the x axis: a budget factor on every plan run, each spending at every level."""
    return p.budget is not None and _affected(view, p) == view.plans and bool((rows.spend > 0).all())


def _curve_title(view: SweepView, p: Parameter, rows: pd.DataFrame, lead: str) -> str:
    """What the parameter does to the lead plan's orders and CPO, from its lowest to its highest level.

    On a grid: 'Budget ×0.25 → ×2: orders ×2.6 and CPO ×3.1 for <plan>', and for a budget what each
    order of the last step costs. In a sampled design the others vary too, so the two ends say
    little: the title gives the direction of the rank correlation instead.
    """
    d = rows[rows.plan == lead].sort_values(p.name)
    plan = view.names[lead]
    oc, cc = view.orders_col, view.cpo_col
    ow, cw, one = view.words
    if d[p.name].nunique() < 2:
        return f"{plan}: a single level of {mpl_text(p.name)}, nothing to compare"
    if not view.grid:
        trends = [_trend(d, p.name, ow, oc), _trend(d, p.name, cw, cc)]
        if all(t.endswith("no clear trend") for t in trends):
            return f"{plan}: neither {ow} nor {cw} show a clear trend as {mpl_text(p.name)} rises"
        return f"{plan}: as {mpl_text(p.name)} rises, {' and '.join(trends)}"
    a, b = d.iloc[0], d.iloc[-1]
    name = "Budget" if p.budget is not None else mpl_text(p.name)
    span = f"{name} {level_text(p, a[p.name])} \u2192 {level_text(p, b[p.name])}"
    if view.reps < 2:
        return f"{span} for {plan}: {vd.ONE_REP}"
    pairs = _Pairs(view)
    moves = [
        (m, a[c], b[c], pairs(c, (b.point, lead), (a.point, lead)).distinguishable)
        for m, c in ((ow, oc), (cw, cc))
        if fmt.finite(a[c]) and fmt.finite(b[c])
    ]
    if not any(clear for *_, clear in moves):
        return f"{span}: neither {ow} nor {cw} moves beyond noise for {plan} at {view.reps} replications"
    said = [f"{m} {fmt.change(x, y)}" if clear else f"{m} within noise" for m, x, y, clear in moves]
    title = f"{span}: " + " and ".join(said) + f" for {plan}"
    cpo = d[cc].astype(float).reset_index(drop=True)
    if cpo.notna().all() and len(cpo) > 2:  # the best CPO between the ends: a sweet spot the ends hide
        k = int(cpo.idxmin())
        end = 0 if cpo.iloc[0] <= cpo.iloc[-1] else len(cpo) - 1
        if 0 < k < len(cpo) - 1 and pairs(cc, (d.point.iloc[k], lead), (d.point.iloc[end], lead)).side == "lower":
            level = level_text(p, d[p.name].iloc[k])
            return title + f"; the lowest {cw} is in between, at {level} ({fmt.count(cpo[k])} {view.currency})"
    if p.budget is not None:  # diminishing returns: what each order the last step adds costs
        s, t = d.iloc[-2], d.iloc[-1]
        extra = t[oc] - s[oc]
        if t.spend > s.spend and extra > 0 and pairs(oc, (t.point, lead), (s.point, lead)).side == "higher":
            title += (
                f"; from {level_text(p, s[p.name])} to {level_text(p, t[p.name])} each extra {one} costs "
                f"{fmt.count((t.spend - s.spend) / extra)} {view.currency}"
            )
    return title


class _Pairs:
    """Paired verdicts between any two (point, plan) of a sweep, replication by replication.

    With common random numbers, every point and plan of a replication share their customers and
    luck; without, the pairs are independent and the paired interval is still valid, only wider."""

    def __init__(self, view: SweepView) -> None:
        r = view.result.results
        self.reps = r[r.segment == "all"].sort_values("rep").groupby(["point", "plan"], sort=False)
        self.cache: dict[tuple[str, Any, str], list[float]] = {}

    def values(self, metric: str, key: tuple[Any, str]) -> list[float]:
        """A metric of one (point, plan), replication by replication."""
        k = (metric, *key)
        if k not in self.cache:
            try:
                self.cache[k] = [float(x) for x in self.reps.get_group(key)[metric]]
            except KeyError:
                self.cache[k] = []
        return self.cache[k]

    def __call__(self, metric: str, a: tuple[Any, str], b: tuple[Any, str]) -> vd.Verdict:
        """The verdict of a's paired difference from b on the metric (better: the registry's)."""
        va, vb = self.values(metric, a), self.values(metric, b)
        n = min(len(va), len(vb))
        return vd.verdict(*vd.paired(va[:n], vb[:n]), registry.metric(metric).better)


def _trend(d: pd.DataFrame, x: str, metric: str, col: str) -> str:
    """'orders rise', 'CPO falls' or 'orders show no clear trend' (``metric`` the words, ``col`` the
    column), from the rank correlation: a trend needs |rho| >= 0.5 and beyond chance,
    |rho| >= 1.96 / sqrt(points - 1) (the large-sample 5% test)."""
    y = d[col].astype(float)
    ok = np.isfinite(y)
    if ok.sum() < 3:
        return f"{metric} n/a"
    rho = float(np.corrcoef(d[x][ok].rank(), y[ok].rank())[0, 1])
    plural = metric.endswith("orders")
    if not math.isfinite(rho) or abs(rho) < max(0.5, 1.96 / math.sqrt(int(ok.sum()) - 1)):
        return f"{metric} show{'' if plural else 's'} no clear trend"
    return f"{metric} {'rise' if rho > 0 else 'fall'}{'' if plural else 's'}"


def _lead(view: SweepView, plans: list[str], rows: pd.DataFrame) -> str:
    """The plan a title speaks of: among those given, the lowest mean CPO (else the most orders),
    incremental when the sweep ran no marketing."""
    by = rows[rows.plan.isin(plans)].groupby("plan", sort=False)
    cpo = by[view.cpo_col].mean().dropna()
    if len(cpo):
        return str(cpo.idxmin())
    orders = by[view.orders_col].mean()
    return str(orders.idxmax()) if len(orders) else plans[0]


def _curves(view: SweepView, p: Parameter, rows: pd.DataFrame, held: list[str]) -> Figure:
    spend_x = _x_is_spend(view, p, rows)
    still = _still(view, p, rows)
    aimed = [x for x in _affected(view, p) if x not in still]
    lead = _lead(view, aimed or [x for x in view.plans if x not in still] or view.plans, rows)
    title = _curve_title(view, p, rows, lead)
    levels = sorted(float(v) for v in rows[p.name].unique())
    if spend_x:
        low, high = level_text(p, levels[0]), level_text(p, levels[-1])
        what = f"x = money actually spent, {view.currency} (budget {low} to {high})"
    else:
        what = f"x = {mpl_text(p.name)}" + (" (budget factor)" if p.budget is not None else "")
    silent = [view.names[x] for x in view.plans if not (rows[rows.plan == x].spend > 0).any()]
    sub = (
        f"{_panels(view)} per plan, all segments, {_reps(view)}"
        + ((", band = 95% CI" if view.grid else ", whiskers = 95% CI") if view.reps > 1 else "")
        + f"; {what}"
        + (f"; other parameters at {', '.join(held)}" if held else "")
        + ("" if view.grid else "; the other parameters vary too (sampled design)")
        + (f"; {', '.join(silent)}: no spend, so no CPO or ROMI" if silent else "")
    )
    if still:
        sub += f"; dashed: plans that {mpl_text(p.name)} does not change"
    fig, axes = style.figure(title, sub, 1, len(view.curves), sharex=True)
    for i, (ax, (col, label)) in enumerate(zip(axes, view.curves, strict=True)):
        m = registry.metric(col)
        for plan in view.plans:
            d = rows[rows.plan == plan].sort_values(p.name)
            x = (d.spend if spend_x else d[p.name]).to_numpy(dtype=float)
            y = d[col].to_numpy(dtype=float)
            lo, hi = d[f"{col}_ci_low"].to_numpy(dtype=float), d[f"{col}_ci_high"].to_numpy(dtype=float)
            c = view.colours[plan]
            if plan in still:  # a flat line for reference; its band would only hide the others
                ax.plot(x, y, color=c, lw=1.4, ls="--")
            elif view.grid:
                ax.fill_between(x, lo, hi, color=c, alpha=0.16, lw=0)
                ax.plot(x, y, color=c, lw=2.2, marker="o", ms=4.5)
            else:  # sampled points are not ordered along this parameter: no lines
                ok = np.isfinite(lo) & np.isfinite(hi)
                ax.errorbar(x[ok], y[ok], yerr=[y[ok] - lo[ok], hi[ok] - y[ok]], fmt="none", ecolor=c, alpha=0.5)
                ax.plot(x, y, "o", color=c, ms=5)
        unit = f", {view.currency}" if m.money else ""
        ax.set_title(f"{label}{unit}\n({m.better} is better)", loc="left", fontsize=11, color=INK)
        ax.grid(True, axis="x", color=GRID, lw=0.8)
        ax.yaxis.set_major_formatter(FuncFormatter(fmt.percent_tick if m.code == "p" else fmt.tick))
        if col in ("romi", "iromi") and np.nanmin(np.append(rows[f"{col}_ci_low"].to_numpy(float), 0)) < 0:
            ax.axhline(0, color=INK, lw=0.8)  # below it the plan loses money
        if i == len(axes) // 2:
            ax.set_xlabel(f"Actual spend, {view.currency}" if spend_x else _x_label(p), **TEXT)
    _x_ticks(axes[0], p, levels, spend_x, view.grid)
    style.legend(fig, view.names, view.colours)
    return fig


def _panels(view: SweepView) -> str:
    """What the three panels show, for a subtitle."""
    if view.incremental:
        return (
            "Incremental orders (over no marketing on the same customers), iCPO (spend per incremental order) and iROMI"
        )
    return "Orders, cost per order and ROMI (all orders, including those that would come anyway)"


def _x_label(p: Parameter) -> str:
    if p.budget is not None:
        return f"{mpl_text(p.name)}: budget factor (\u00d71 = the scenario's budget)"
    if p.move is not None:
        return f"{mpl_text(p.name)}: share of {mpl_text(p.move.source)} budget moved to {mpl_text(p.move.target)}"
    if p.path is not None and p.multiplies:
        return f"{mpl_text(p.name)}: multiplier of {mpl_text(p.path)}"
    return f"{mpl_text(p.name)} ({mpl_text(p.path or '')})"


def _x_ticks(ax: Axes, p: Parameter, levels: list[float], spend_x: bool, grid: bool) -> None:
    if spend_x:
        ax.xaxis.set_major_formatter(FuncFormatter(fmt.tick))
        return
    if grid and len(levels) <= 8:
        ax.set_xticks(levels, [level_text(p, v) for v in levels])
    elif p.move is not None:
        ax.xaxis.set_major_formatter(FuncFormatter(fmt.percent_tick))


def _at_point(pairs: _Pairs, metric: str, point: Any, a: str, b: str) -> vd.Verdict:
    """Plan a against plan b at one point (for :func:`cjmsim.presentation.verdict.leader`)."""
    return pairs(metric, (point, a), (point, b))


def _level_leaders(
    view: SweepView, p: Parameter, rows: pd.DataFrame, levels: list[str], col: str
) -> tuple[dict[str, str], list[str]]:
    """The plan leading on ``col`` at each named level where its paired CI against every other plan at
    that point excludes zero (:func:`cjmsim.presentation.verdict.leader`), and the levels without one
    (a level spanning several sampled points has none: a mean of points is no pair)."""
    pairs, better = _Pairs(view), registry.metric(col).better or "higher"
    best: dict[str, str] = {}
    undecided: list[str] = []
    for lv in levels:
        at = rows[rows[p.name] == lv]
        d = at.set_index("plan")[col].dropna()
        pts = list(dict.fromkeys(at.point))
        lead: str | None = None
        if len(d) == 1:
            lead = str(d.index[0])
        elif len(d) > 1 and len(pts) == 1:
            values = {str(k): float(v) for k, v in d.items()}
            lead = vd.leader(values, partial(_at_point, pairs, col, pts[0]), better)
        if lead is not None:
            best[lv] = lead
        elif len(d):
            undecided.append(lv)
    return best, undecided


def _bars(view: SweepView, p: Parameter, rows: pd.DataFrame, held: list[str]) -> Figure:
    """Grouped bars: one group per named level, one bar per plan, 95% CI whiskers."""
    levels = [str(v) for v in p.grid()]
    levels = [v for v in levels if v in set(rows[p.name])]
    oc, cc = view.orders_col, view.cpo_col
    ow, cw, _ = view.words
    col = cc if rows[cc].notna().any() else oc
    best, undecided = _level_leaders(view, p, rows, levels, col)
    what = f"the lowest {cw}" if col == cc else f"the most {ow}"
    winners = list(dict.fromkeys(best.values()))
    rivals = rows.groupby("plan")[col].apply(lambda v: v.notna().any()).sum()
    if rivals < 2 and winners:  # nothing to rank: how far the levels move the one plan with a value
        d = rows[rows.plan == winners[0]].set_index(p.name)
        title = (
            f"{view.names[winners[0]]}: {ow} from {fmt.count(d[oc].min())} "
            f"({mpl_text(str(d[oc].idxmin()))}) to "
            f"{fmt.count(d[oc].max())} ({mpl_text(str(d[oc].idxmax()))})"
        )
        if col == cc:
            title += f", {cw} from {fmt.count(d[cc].min())} to {fmt.count(d[cc].max())} {view.currency}"
    elif undecided and not winners:
        title = (
            f"{fmt.sentence(what[4:])} by plan at each level of {mpl_text(p.name)} ({vd.ONE_REP})"
            if view.reps < 2
            else f"No plan has {what} beyond noise at any level of {mpl_text(p.name)} ({view.reps} replications)"
        )
    elif undecided:
        title = (
            f"{what[4].upper()}{what[5:]} beyond noise: "
            + ", ".join(f"{view.names[w]} when {lv}" for lv, w in best.items())
            + f"; within noise when {', '.join(undecided)}"
        )
    elif len(winners) == 1:
        title = (
            f"{view.names[winners[0]]} has {what} at every level of {mpl_text(p.name)} ({mpl_text(', '.join(levels))})"
        )
    elif winners:
        title = f"Which plan has {what} depends on {mpl_text(p.name)}: " + ", ".join(
            f"{view.names[w]} when {lv}" for lv, w in best.items()
        )
    else:
        title = f"No plan has a finite {registry.metric(col).short} at any level of {mpl_text(p.name)}"
    sub = (
        f"{_panels(view)} per plan at each level of {mpl_text(p.name)}, all segments, {_reps(view)}"
        + (", whiskers = 95% CI" if view.reps > 1 and view.grid else "")
        + (f"; other parameters at {', '.join(held)}" if held else "")
        + ("" if view.grid else "; the other parameters vary too: means over the sampled points")
    )
    fig, axes = style.figure(title, sub, 1, len(view.curves))
    n = len(view.plans)
    width = 0.8 / n
    x = np.arange(len(levels))
    for ax, (c, label) in zip(axes, view.curves, strict=True):
        m = registry.metric(c)
        for i, plan in enumerate(view.plans):
            d = rows[rows.plan == plan].groupby(p.name).mean(numeric_only=True).reindex(levels)
            y = d[c].to_numpy(dtype=float)
            lo, hi = d[f"{c}_ci_low"].to_numpy(dtype=float), d[f"{c}_ci_high"].to_numpy(dtype=float)
            xs = x - 0.4 + width * (i + 0.5)
            ok = np.isfinite(y)
            ax.bar(xs[ok], y[ok], width * 0.92, color=view.colours[plan])
            ci = ok & np.isfinite(lo) & np.isfinite(hi) & view.grid  # a mean of CIs is no CI
            if ci.any():
                ax.errorbar(xs[ci], y[ci], yerr=[y[ci] - lo[ci], hi[ci] - y[ci]], fmt="none", ecolor=INK, capsize=3)
        unit = f", {view.currency}" if m.money else ""
        ax.set_title(f"{label}{unit}\n({m.better} is better)", loc="left", fontsize=11, color=INK)
        ax.set_xticks(x, [textwrap.fill(mpl_text(v), 12) for v in levels])
        ax.tick_params(axis="x", length=0)
        ax.yaxis.set_major_formatter(FuncFormatter(fmt.percent_tick if m.code == "p" else fmt.tick))
        ax.axhline(0, color=INK, lw=0.8)
    style.legend(fig, view.names, view.colours)
    return fig


def _reps(view: SweepView) -> str:
    return f"mean of {view.reps} replications" if view.reps > 1 else "single replication, no confidence intervals"


# --------------------------------------------------------------------------------------------
# frontier


def _efficient(orders: np.ndarray, cpo: np.ndarray) -> np.ndarray:
    """Pareto-efficient points: no other point has at least as many orders for at most the CPO, one strictly."""
    better = (orders[None, :] >= orders[:, None]) & (cpo[None, :] <= cpo[:, None])
    strictly = (orders[None, :] > orders[:, None]) | (cpo[None, :] < cpo[:, None])
    return np.asarray(~(better & strictly).any(axis=1))


def _frontier_title(view: SweepView, t: pd.DataFrame, eff: np.ndarray) -> str:
    """What the frontier shows, each "beats", "most" and "cheapest" checked against the paired 95% CIs
    of the points involved (same replications); without such support, how many points are efficient
    by their means and that none stands out beyond noise. ``t``'s ``orders`` and ``cpo`` are the
    frontier's axes (incremental ones when the sweep ran no marketing)."""
    oc, cc = view.orders_col, view.cpo_col
    ow, cw, _ = view.words
    if not len(t):
        return (
            f"No plan spends {'and adds orders ' if view.incremental else ''}at any point: there is no {cw} to compare"
        )
    if len(t) == 1:
        row = t.iloc[0]
        at = f" at {_point(view, row)}" if view.params else ""
        return f"{view.names[row.plan]}{at}: {fmt.count(row.orders)} {ow} at {fmt.count(row.cpo)} {view.currency} each"
    pairs = _Pairs(view)
    keys = [(row.point, str(row.plan)) for row in t.itertuples()]

    def beats(a: tuple[Any, str], b: tuple[Any, str]) -> bool:  # more orders and a lower CPO, beyond noise
        return bool(pairs(oc, a, b).improves and pairs(cc, a, b).improves)

    def lead(axis: str, metric: str) -> tuple[Any, str] | None:  # axis: t's column; metric: the results'
        values = {k: float(v) for k, v in zip(keys, t[axis], strict=True)}
        return vd.leader(values, lambda a, b: pairs(metric, a, b), registry.metric(metric).better or "higher")

    by_plan = pd.Series(t.plan[eff]).value_counts()
    fronts = [k for k, e in zip(keys, eff, strict=True) if e]
    if view.reps >= 2 and len(by_plan) == 1 and t.plan.nunique() > 1:
        winner = str(by_plan.index[0])
        if all(any(beats(f, k) for f in fronts) for k in keys if k[1] != winner):
            others = [view.names[p] for p in view.plans if p != winner and p in set(t.plan)]
            who = f"Every point of {others[0]}" if len(others) == 1 else "Every point of the other plans"
            return f"{who} is beaten on both {ow} and {cw} by a point of {view.names[winner]}, beyond noise"
    if view.reps >= 2 and eff.sum() == 1 and all(beats(fronts[0], k) for k in keys if k != fronts[0]):
        row = t[eff].iloc[0]
        at = f" at {_point(view, row)}" if view.params else ""
        return f"{view.names[row.plan]}{at} has the most {ow} and the lowest {cw}, beyond noise"
    cheap, most = (lead("cpo", cc), lead("orders", oc)) if view.reps >= 2 else (None, None)
    if cheap is not None and most is not None:
        c, m = t.iloc[keys.index(cheap)], t.iloc[keys.index(most)]
        return (
            f"Cheapest {ow} ({fmt.count(c.cpo)} {view.currency}) with {view.names[c.plan]}, the most {ow} "
            f"({fmt.count(m.orders)}) with {view.names[m.plan]}, each beyond noise"
        )
    why = vd.ONE_REP if view.reps < 2 else f"no point stands out beyond noise at {view.reps} replications"
    are = "is" if eff.sum() == 1 else "are"
    return f"{int(eff.sum())} of {len(t)} points {are} efficient by their means; {why}"


def frontier(result: SweepResult) -> Figure:
    """CPO against orders for every point and plan; the efficient points (no other point has more
    orders for a lower CPO) are ringed and joined, each point labelled with its parameter values.

    When the sweep ran no marketing, the incremental ones: iCPO against incremental orders (the
    orders that would come anyway make a plan look cheap, not good)."""
    view = sweep_view(result)
    ow, cw, _ = view.words
    # below, `orders` and `cpo` are the frontier's two axes: incremental ones when there are
    tot = view.tot.assign(orders=view.tot[view.orders_col], cpo=view.tot[view.cpo_col])
    t = tot[np.isfinite(tot.cpo.astype(float)) & np.isfinite(tot.orders.astype(float))]
    t = t.reset_index(drop=True)
    eff = _efficient(t.orders.to_numpy(float), t.cpo.to_numpy(float)) if len(t) else np.zeros(0, bool)
    title = _frontier_title(view, t, eff)
    silent = [view.names[p] for p in view.plans if p not in set(t.plan)]
    what = (
        "Spend per incremental order against incremental orders (over no marketing on the same customers)"
        if view.incremental
        else "Cost per order against orders (all orders, including those that would come anyway)"
    )
    sub = (
        f"{what}, one dot per point and plan, all segments, {_reps(view)}; ringed and "
        f"joined: efficient, no other dot has more {ow} for a lower {cw}; labels: "
        + (" / ".join(mpl_text(p.name) for p in view.params) or "the base scenario")
        + (" (where they fit, the efficient first)" if len(t) > 12 else "")
        + (f"; {', '.join(silent)}: no spend, no {cw}, not shown" if silent else "")
    )
    fig, (ax,) = style.figure(title, sub)
    ax.grid(True, axis="x", color=GRID, lw=0.8)
    if not len(t):
        ax.text(0.5, 0.5, "no spend, no CPO", transform=ax.transAxes, ha="center", fontsize=12, color=MUTED)
        ax.set_axis_off()
        return fig
    f = t[eff].sort_values("orders")
    ax.plot(f.orders, f.cpo, color=INK, lw=1.2, ls="--", zorder=2)
    for plan in view.plans:
        d = t[t.plan == plan]
        e = eff[d.index.to_numpy()]
        c = view.colours[plan]
        ax.scatter(d.orders[~e], d.cpo[~e], s=36, color=c, alpha=0.75, zorder=3, lw=0)
        ax.scatter(d.orders[e], d.cpo[e], s=70, color=c, edgecolors=INK, linewidths=1.4, zorder=4)
    ax.margins(x=0.12, y=0.12)
    _labels(ax, t, eff, view)
    ax.xaxis.set_major_formatter(FuncFormatter(fmt.tick))
    ax.yaxis.set_major_formatter(FuncFormatter(fmt.tick))
    ax.set_xlabel(f"{ow[0].upper() + ow[1:]} (more is better \u2192)", **TEXT)
    ax.set_ylabel(f"{registry.metric(view.cpo_col).label}, {view.currency} (lower is better)", **TEXT)
    style.legend(fig, {p: view.names[p] for p in view.plans if p in set(t.plan)}, view.colours)
    return fig


#: Where a label may go, in points from its dot: (dx, dy, ha, va); the frontier rises to the right,
#: so its labels try below-right first, the others above-right.
_SPOTS = ((7, 5, "left", "bottom"), (7, -6, "left", "top"), (-7, 5, "right", "bottom"), (-7, -6, "right", "top"))


def _labels(ax: Axes, t: pd.DataFrame, eff: np.ndarray, view: SweepView) -> None:
    """Label the dots with their levels: the efficient ones first, each at the first spot that stays
    inside the plot and overlaps no label placed before; a label with no such spot is left out, and
    dots on the same spot share one label."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    width, height = 0.85 * SIZE[0] * 72, 0.55 * SIZE[1] * 72  # the plot area in points, near enough
    px = (t.orders.to_numpy(float) - x0) / ((x1 - x0) or 1) * width
    py = (t.cpo.to_numpy(float) - y0) / ((y1 - y0) or 1) * height
    boxes = [(x - 4, y - 4, x + 4, y + 4) for x, y in zip(px, py, strict=True)]  # no label over a dot
    done: set[tuple[int, int]] = set()
    for k in sorted(range(len(t)), key=lambda k: (not eff[k], k)):
        spot = (round(px[k]), round(py[k]))
        if spot in done:
            continue
        done.add(spot)
        row = t.iloc[k]
        text = _point(view, row, short=True)
        w, h = 6.2 * len(text), 12.0
        for dx, dy, ha, va in (_SPOTS[1], _SPOTS[0], *_SPOTS[2:]) if eff[k] else _SPOTS:
            left = px[k] + dx - (w if ha == "right" else 0)
            bottom = py[k] + dy - (h if va == "top" else 0)
            box = (left, bottom, left + w, bottom + h)
            inside = box[0] >= 0 and box[2] <= width and box[1] >= 0 and box[3] <= height
            if inside and not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in boxes):
                boxes.append(box)
                ax.annotate(
                    text,
                    (row.orders, row.cpo),
                    xytext=(dx, dy),
                    textcoords="offset points",
                    ha=ha,
                    va=va,
                    fontsize=10,
                    color=view.colours[row.plan],
                )
                break


# --------------------------------------------------------------------------------------------
# heatmaps


def heatmaps(result: SweepResult) -> list[Figure]:
    """For a grid over exactly two parameters: orders and CPO over the grid, one figure per metric.

    The panels are the plans other than the reference (the reference when it is the only plan).
    Anything else (one parameter, three, a sampled design) gives an empty list.
    """
    return [fig for _, fig in _heatmaps(result)]


def _heatmaps(result: SweepResult) -> list[tuple[str, Figure]]:
    view = sweep_view(result)
    if len(view.params) != 2 or not view.grid:
        return []
    shown = [p for p in view.plans if p != view.reference] or [view.reference]
    shown = shown[:4]
    out = []
    for metric in (view.orders_col, view.cpo_col):
        if view.tot[view.tot.plan.isin(shown)][metric].notna().any():
            out.append((metric, _heatmap(view, shown, metric)))
    return out


def _at(levels: list[Any], v: Any) -> int:
    """The index of a level in a parameter's grid (floats compared with a tolerance)."""
    return next(
        k for k, lv in enumerate(levels) if (lv == v if isinstance(lv, str) else math.isclose(float(lv), float(v)))
    )


def _heatmap(view: SweepView, shown: list[str], metric: str) -> Figure:
    px, py = view.params
    xs, ys = px.grid(), py.grid()
    higher = registry.metric(metric).better != "lower"
    grids = {}
    cells: dict[tuple[Any, str], float] = {}  # (point, plan) -> mean, for the verdict on the best cell
    for plan in shown:
        d = view.of(plan)
        m = np.full((len(ys), len(xs)), np.nan)
        for _, row in d.iterrows():
            m[_at(ys, row[py.name]), _at(xs, row[px.name])] = row[metric]
            if fmt.finite(row[metric]):
                cells[(row.point, plan)] = float(row[metric])
        grids[plan] = m
    stack = np.stack(list(grids.values()))
    name = registry.metric(metric).short
    pairs = _Pairs(view)
    best_cell = vd.leader(cells, lambda a, b: pairs(metric, a, b), "higher" if higher else "lower")
    if not np.isfinite(stack).any():  # pragma: no cover - _heatmaps skips such metrics
        title = f"No {name} anywhere on the grid"
    elif best_cell is None:  # no cell beats every other beyond noise: no "most", no "lowest"
        whose = " and ".join(view.names[p] for p in shown)
        why = vd.ONE_REP if view.reps < 2 else f"no cell stands out beyond noise at {view.reps} replications"
        title = f"{name[0].upper()}{name[1:]} of {whose} over {mpl_text(px.name)} and {mpl_text(py.name)}: {why}"
    else:
        k, i, j = (int(n) for n in np.unravel_index(np.nanargmax(stack if higher else -stack), stack.shape))
        plan, best, m = shown[k], stack[k, i, j], stack[k]
        # how much each parameter moves the metric: its mean range with the other held, against the best
        along_x = float(np.nanmean(np.nanmax(m, axis=1) - np.nanmin(m, axis=1))) / abs(best or 1)
        along_y = float(np.nanmean(np.nanmax(m, axis=0) - np.nanmin(m, axis=0))) / abs(best or 1)
        flat_x, flat_y = along_x < 0.005, along_y < 0.005
        word = "Most" if higher else "Lowest"
        who = f" for {view.names[plan]}" if len(shown) > 1 or plan != view.reference else ""
        value = fmt.rounded(best, registry.metric(metric).code)
        if flat_x and flat_y:
            title = f"Neither {mpl_text(px.name)} nor {mpl_text(py.name)} moves {name}{who} ({value})"
        elif flat_x or flat_y:
            moving, still, level = (py, px, ys[i]) if flat_x else (px, py, xs[j])
            at = mpl_text(_named(moving, level))
            title = f"{word} {name}{who} ({value}) at {at}, whatever the {mpl_text(still.name)}"
        else:
            at = f"{mpl_text(_named(px, xs[j]))}, {mpl_text(_named(py, ys[i]))}"
            title = f"{word} {name}{who} ({value}) at {at}"
            if max(along_x, along_y) >= 1.5 * min(along_x, along_y):
                big, small = (px, py) if along_x > along_y else (py, px)
                title += f"; {mpl_text(big.name)} moves it more than {mpl_text(small.name)}"
    unit = f", {view.currency}" if registry.metric(metric).code == "m" else ""
    sub = (
        f"{registry.metric(metric).long_label}{unit} over the grid of {mpl_text(px.name)} (across) and "
        f"{mpl_text(py.name)} (down), all segments, {_reps(view)}; darker = better "
        f"({'more' if higher else 'lower'}); outlined: the best cell"
    )
    fig, axes = style.figure(title, sub, 1, len(shown), sharey=True)
    cmap = matplotlib.colormaps["Blues" if higher else "Blues_r"].with_extremes(bad="#f5f7f9")
    lo, hi = float(np.nanmin(stack)), float(np.nanmax(stack))
    image = None
    for ax, plan in zip(axes, shown, strict=True):
        m = grids[plan]
        image = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1, aspect="auto")
        for (i, j), v in np.ndenumerate(m):
            dark = fmt.finite(v) and hi > lo and ((v - lo) / (hi - lo) > 0.55) == higher
            ax.text(
                j,
                i,
                fmt.rounded(v, registry.metric(metric).code),
                ha="center",
                va="center",
                fontsize=10,
                color="white" if dark else INK,
            )
        if np.isfinite(m).any():
            bi, bj = np.unravel_index(np.nanargmax(m if higher else -m), m.shape)
            ax.add_patch(Rectangle((bj - 0.5, bi - 0.5), 1, 1, fill=False, ec=INK, lw=2.2))
        ax.set_xticks(range(len(xs)), [mpl_text(level_text(px, v)) for v in xs])
        ax.set_yticks(range(len(ys)), [mpl_text(level_text(py, v)) for v in ys])
        ax.set_xlabel(mpl_text(px.name), **TEXT)
        ax.tick_params(which="both", length=0)
        ax.spines[:].set_visible(False)
        ax.grid(False)
        if len(shown) > 1 or plan != view.reference:
            ax.set_title(textwrap.fill(view.names[plan], 40), loc="left", fontsize=11, color=view.colours[plan])
    axes[0].set_ylabel(mpl_text(py.name), **TEXT)
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.9, pad=0.02)
        bar.ax.tick_params(labelsize=10, colors=INK)
        bar.ax.yaxis.set_major_formatter(
            FuncFormatter(fmt.percent_tick if registry.metric(metric).code == "p" else fmt.tick)
        )
        bar.outline.set_visible(False)
    return fig


# --------------------------------------------------------------------------------------------
# plan ranking


def _ranking_metric(view: SweepView) -> str:
    shown = view.result.experiment.spec.experiment.metrics
    return shown[0] if shown else "cpo"


def plan_ranking(result: SweepResult) -> Figure:
    """Plans ranked at each point (the best few when there are many) by the experiment's first metric.

    A dot plot, one row per point: left, each plan's mean with its 95% CI, the first plan ringed;
    right, each plan's paired difference from the reference with its 95% CI, filled where the CI
    excludes 0.
    """
    view = sweep_view(result)
    metric = _ranking_metric(view)
    kind, higher = registry.metric(metric).code, registry.metric(metric).better != "lower"
    name = registry.metric(metric).short
    t = view.tot
    pts = list(dict.fromkeys(t.point))
    at = {pt: t[t.point == pt].set_index("plan") for pt in pts}
    sign = 1 if higher else -1

    def first(pt: Any, plans: list[str]) -> str | None:
        v = at[pt].reindex(plans)[metric].astype(float) * sign
        return str(v.idxmax()) if v.notna().any() else None

    pairs = _Pairs(view)

    def leads(pt: Any) -> str | None:  # first beyond noise: the paired CI against every other plan excludes 0
        v = at[pt].reindex(view.plans)[metric].astype(float).dropna()
        values = {str(k): float(x) for k, x in v.items()}
        return vd.leader(values, partial(_at_point, pairs, metric, pt), "higher" if higher else "lower")

    firsts = {pt: f for pt in pts if (f := leads(pt)) is not None}
    shown = pts
    if len(pts) > _MAX_ROWS:  # the best few, judged on the plans compared with the reference
        judged = [x for x in view.plans if x != view.reference] or view.plans
        score = {pt: float(at[pt].loc[b, metric]) * sign for pt in pts if (b := first(pt, judged)) is not None}
        shown = sorted(score, key=lambda pt: -score[pt])[:_MAX_ROWS]
    diffs = view.diffs
    has_diffs = len(diffs) > 0 and f"{metric}_diff" in diffs.columns
    title = _ranking_title(view, metric, firsts, at, pts)
    sub = (
        f"{registry.metric(metric).long_label}"
        + (f", {view.currency}" if kind == "m" else "")
        + f", per plan at each point, all segments, {_reps(view)}"
        + (", whiskers = 95% CI" if view.reps > 1 else "")
        + ("; ringed: first beyond noise at that point" if view.reps > 1 and len(view.plans) > 1 else "")
        + (f"; the best {len(shown)} of {len(pts)} points" if len(shown) < len(pts) else "")
        + (f"; right: paired difference from {view.names[view.reference]}" if has_diffs else "")
        + (", filled where its 95% CI excludes 0" if has_diffs and view.reps > 1 else "")
    )
    fig, axes = style.figure(title, sub, 1, 2 if has_diffs else 1, sharey=True)
    ax = axes[0]
    ys = -np.arange(len(shown), dtype=float)
    step = min(0.25, 0.6 / max(len(view.plans), 1))
    offset = {plan: (k - (len(view.plans) - 1) / 2) * -step for k, plan in enumerate(view.plans)}
    for plan in view.plans:
        c = view.colours[plan]
        for y, pt in zip(ys, shown, strict=True):
            r = at[pt].loc[plan] if plan in at[pt].index else None
            if r is None or not fmt.finite(r[metric]):
                continue
            v, lo, hi = float(r[metric]), float(r[f"{metric}_ci_low"]), float(r[f"{metric}_ci_high"])
            if fmt.finite(lo) and fmt.finite(hi):
                ax.plot([lo, hi], [y + offset[plan]] * 2, color=c, lw=1.8, solid_capstyle="butt")
            ring = firsts.get(pt) == plan and len(view.plans) > 1
            ax.plot([v], [y + offset[plan]], "o", ms=8 if ring else 6.5, color=c, mec=INK if ring else c, mew=1.6)
    ax.set_yticks(ys, [_point(view, at[pt].iloc[0], named=False, short=True) for pt in shown])
    if view.params:
        ax.set_ylabel(textwrap.fill(" / ".join(mpl_text(p.name) for p in view.params), 40), **TEXT)
    low, high = float(ys.min()) - 0.6, float(ys.max()) + 0.6
    pad = max(0.0, 6 - (high - low)) / 2  # a few rows: spread as for six, not stretched
    ax.set_ylim(low - pad, high + pad)
    ax.tick_params(axis="y", length=0)
    ax.set_title(f"{name[0].upper() + name[1:]}\n({'higher' if higher else 'lower'} is better)", loc="left", **PANEL)
    ax.xaxis.set_major_formatter(FuncFormatter(fmt.percent_tick if kind == "p" else fmt.tick))
    ax.grid(True, axis="x", color=GRID, lw=0.8)
    ax.grid(False, axis="y")
    ax.margins(x=0.08)
    if has_diffs:
        _differences(view, axes[1], list(zip(ys, shown, strict=True)), offset, metric, kind, higher)
    style.legend(fig, view.names, view.colours)
    return fig


#: At most this many points in the ranking; beyond, the best of them.
_MAX_ROWS = 20


def _ranking_title(
    view: SweepView, metric: str, firsts: dict[Any, str], at: dict[Any, pd.DataFrame], pts: list[Any]
) -> str:
    """Who ranks first beyond noise (its paired CI against every other plan at the point excludes 0),
    and at how many points; with no such point, that none does and why."""
    kind, higher, name = (
        registry.metric(metric).code,
        registry.metric(metric).better != "lower",
        registry.metric(metric).short,
    )
    word = "the lowest" if not higher else "the most" if kind in ("n", "m") else "the highest"
    known = [pt for pt in pts if at[pt][metric].notna().any()]
    if not known:
        return f"No plan has a finite {name} at any point"
    if view.reps < 2:
        return f"{fmt.sentence(name)} by plan at each point ({vd.ONE_REP})"
    if len(view.plans) == 1:
        plan = view.plans[0]
        values = {pt: float(at[pt].iloc[0][metric]) for pt in known}
        pairs = _Pairs(view)
        best = vd.leader(values, lambda a, b: pairs(metric, (a, plan), (b, plan)), "higher" if higher else "lower")
        if best is None:
            return f"{view.names[plan]}: no point stands out on {name} beyond noise at {view.reps} replications"
        row = at[best].iloc[0]
        where = f" at {_point(view, row)}" if view.params else ""
        return f"{view.names[plan]}: {word} {name} ({fmt.rounded(row[metric], kind)}){where}, beyond noise"
    if not firsts:
        return f"No plan has {word} {name} beyond noise at any point ({view.reps} replications)"
    count = pd.Series(list(firsts.values()), dtype=str).value_counts()
    top, k, n = str(count.index[0]), int(count.iloc[0]), len(known)
    where = f" at all {n} points" if k == n and n > 1 else "" if n == 1 else f" at {k} of {n} points"
    return f"{view.names[top]} has {word} {name} beyond noise{where}"


def _differences(
    view: SweepView,
    ax: Axes,
    rows: list[tuple[float, Any]],
    offset: dict[str, float],
    metric: str,
    kind: str,
    higher: bool,
) -> None:
    """The right panel of the ranking: each plan's paired difference from the reference, with its 95% CI."""
    d = view.diffs.set_index(["point", "plan"])
    ends: list[float] = [0.0]
    for y, pt in rows:
        for plan in view.plans:
            if plan == view.reference or (pt, plan) not in d.index:
                continue
            r = d.loc[(pt, plan)]
            v, lo, hi = (float(r[f"{metric}_diff{s}"]) for s in ("", "_ci_low", "_ci_high"))
            if not fmt.finite(v):
                continue
            c, yy = view.colours[plan], y + offset[plan]
            ci = fmt.finite(lo) and fmt.finite(hi)
            clear = ci and (lo > 0 or hi < 0)
            if ci:
                ax.plot([lo, hi], [yy, yy], color=c, lw=1.8, solid_capstyle="butt")
                ends += [lo, hi]
            # one replication: no CI, a plain dot; otherwise filled only when the CI excludes 0
            ax.plot([v], [yy], "o", ms=7, color=c, mfc=c if clear or not ci else "white", mew=1.8)
            ends.append(v)
            ax.annotate(
                fmt.signed(v, kind),
                (hi if ci else v, yy),
                xytext=(5, 0),
                textcoords="offset points",
                va="center",
                fontsize=10,
                color=INK,
                fontweight="bold" if clear else "normal",
            )
    left, right = min(ends), max(ends)
    span = (right - left) or 1.0
    ax.set_xlim(left - 0.08 * span, right + 0.3 * span)
    ax.axvline(0, color=INK, lw=0.8)
    better = "lower" if not higher else "higher"
    ref = textwrap.shorten(view.names[view.reference], 40)
    ax.set_title(f"Difference from {ref}\n(paired; {better} is better; 0 = {ref})", loc="left", **PANEL)
    ax.xaxis.set_major_formatter(FuncFormatter(fmt.percent_tick if kind == "p" else fmt.tick))
    ax.grid(True, axis="x", color=GRID, lw=0.8)
    ax.grid(False, axis="y")
    ax.tick_params(axis="y", length=0)


# --------------------------------------------------------------------------------------------
# all of them, the report, writing


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "parameter"


def all_charts(result: SweepResult) -> list[Chart]:
    """Every chart of a sweep, each with a slug, its title and a one-sentence plain-language caption."""
    view = sweep_view(result)
    ref = view.plain[view.reference]
    made: list[tuple[str, Figure, str]] = []
    panels = (
        "the orders each plan adds over no marketing, what each of them costs and the return on marketing "
        "spend they bring"
        if view.incremental
        else "orders, cost per order and return on marketing spend (counting the orders that would come anyway)"
    )
    for p, fig, spend_x in _response_curves(result):
        name = p.name
        if _is_numeric(p):
            against = "against what each plan actually spent at each budget level" if spend_x else f"as {name} changes"
            caption = (
                f"How {panels} move {against}, one line per plan; "
                "the shaded band is where the true average most likely lies (95% confidence)."
            )
        else:
            caption = (
                f"{panels[0].upper() + panels[1:]} under each {name} level; "
                "the whiskers show where the true average most likely lies (95% confidence)."
            )
        made.append((f"response_{_slug(name)}", fig, caption))
    made.append(
        (
            "frontier",
            frontier(result),
            "Each dot is one plan at one point of the experiment: further right means more "
            + (
                "orders added over no marketing, lower means cheaper added orders"
                if view.incremental
                else "orders, lower means cheaper orders"
            )
            + ", and the dashed line joins the dots no other dot beats on both.",
        )
    )
    shown = [p for p in view.plans if p != view.reference] or [view.reference]
    names = " and ".join(view.plain[p] for p in shown[:4])
    for metric, fig in _heatmaps(result):
        px, py = view.params
        short = registry.metric(metric).short
        made.append(
            (
                f"heatmap_{metric}",
                fig,
                f"{short[0].upper() + short[1:]} of {names} for every combination of "
                f"{px.name} "
                f"and {py.name}: the darker the cell, the better, and the outlined cell is the best.",
            )
        )
    short = registry.metric(_ranking_metric(view)).short
    made.append(
        (
            "plan_ranking",
            plan_ranking(result),
            f"At each point the plans are ranked by {short}, best on top; on the right, each plan's "
            f"difference from {ref} in the same replications, with a filled dot where it is more than noise."
            if len(view.plans) > 1
            else f"The plan's {short} at each point, with where the true average most likely lies.",
        )
    )
    seen: set[str] = set()
    charts = []
    for slug, fig, caption in made:
        unique, n = slug, 2
        while unique in seen:
            unique, n = f"{slug}_{n}", n + 1
        seen.add(unique)
        title = fig.get_suptitle().replace("\n", " ").replace("\\$", "$")
        charts.append(Chart(unique, title, caption, fig))
    return charts
