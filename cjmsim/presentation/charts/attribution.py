"""Charts of a channel attribution: what each channel of a plan really adds, and what more money would add.

The chart functions read the table of a :class:`cjmsim.attribution.Attribution` (segment ``all``)
and return ``matplotlib.figure.Figure`` objects in the style of :mod:`cjmsim.presentation.style` (its palette,
header and helpers): each titled with the finding it shows, computed from the data, over a smaller
subtitle saying what is plotted. Values are means over replications; whiskers are 95% confidence
intervals, absent with a single replication. With two or three replications an interval can be far
wider than the bars: whiskers are cut at the plot's edge, where a small triangle says they run on.

- :func:`waterfall`: each channel's contribution (Shapley, else incremental) stacking up to the
  plan's total effect over no marketing;
- :func:`spend_vs_contribution`: each channel's share of spend against its share of that effect;
- :func:`marginal_roas`: the revenue an extra 10% of budget brings per unit of money, per channel.

Channels are named by their ids unless the scenario is passed (``scenario=``), which gives display
names, the currency and the colours every other chart of the scenario uses (the plan's own for
its total). They never simulate, show or save.
"""

from __future__ import annotations

import math
import textwrap
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import ScaledTranslation

from cjmsim.presentation import format as fmt
from cjmsim.presentation import style
from cjmsim.presentation import verdict as vd
from cjmsim.presentation.charts.chart import Chart
from cjmsim.presentation.style import AXIS, GRID, INK, MUTED, PLAN_COLOURS, TEXT

if TYPE_CHECKING:
    from cjmsim.analyses.attribution import Attribution
    from cjmsim.scenario import Scenario

__all__ = ["waterfall", "spend_vs_contribution", "marginal_roas", "all_charts"]

METRICS = ("orders", "revenue", "margin")
#: Metric -> the plan's effect in words, for titles and labels.
_WORDS = {"orders": "extra orders", "revenue": "extra revenue", "margin": "extra gross margin"}
_SPEND = "#c3cad2"  # a share of spend: neutral, so the channel's colour marks what it brings


# --------------------------------------------------------------------------------------------
# the attribution as the charts need it


class _View:
    """Segment ``all`` of an attribution by channel, with names, colours, currency and replications."""

    def __init__(self, attr: Attribution, scenario: Scenario | None) -> None:
        t = attr.table
        t = t[t.segment == "all"].drop_duplicates("channel").set_index("channel")
        self.channels = [c for c in attr.channels if c in t.index]
        self.t = t
        known = scenario.channels if scenario is not None else {}
        order = list(known) if scenario is not None else list(attr.channels)
        self.names = {
            c: style.chart_name(fmt.short_name(known[c].name or c) if c in known else c) for c in self.channels
        }
        self.colours = style.channel_colours(order, extra=self.channels)
        # the plan's total: the plan's colour in every chart of its scenario (a quiet slate without one)
        plans = scenario.plans if scenario is not None else {}
        self.plan_colour = style.plan_colours(plans)[attr.plan] if attr.plan in plans else PLAN_COLOURS[0]
        self.currency = style.chart_name(scenario.scenario.currency, 24) if scenario is not None else ""
        runs = getattr(attr, "runs", None)
        self.reps = int(runs["rep"].nunique()) if isinstance(runs, pd.DataFrame) and "rep" in runs else 0
        self.shapley = attr.shapley

    def get(self, col: str, channel: str) -> float:
        """A value of the table, NaN when the row or the column is missing."""
        if col not in self.t.columns or channel not in self.t.index:
            return math.nan
        v = self.t.at[channel, col]
        return float(v) if fmt.finite(v) else math.nan

    def est(self, col: str, channels: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Means and 95% CI bounds of a column for channels (NaN where unknown)."""
        mean, lo, hi = (
            np.array([self.get(name, c) for c in channels], dtype=float)
            for name in (col, f"{col}_ci_low", f"{col}_ci_high")
        )
        return mean, lo, hi

    def has(self, col: str) -> bool:
        return col in self.t.columns and bool(self.t.loc[self.channels, col].notna().any())

    def contribution(self, metric: str) -> tuple[str, str]:
        """The column that shares out the plan's effect (Shapley, else incremental) and how to say it."""
        if self.has(f"shapley_{metric}"):
            return f"shapley_{metric}", "Shapley values" + ("" if self.shapley == "exact" else f", {self.shapley}")
        return f"incremental_{metric}", "incremental effects"

    def total(self, metric: str) -> tuple[float, float, float]:
        """The plan against no marketing: mean and CI; the channels' sum when the table has no total row."""
        if "total" in self.t.index:
            m, lo, hi = (self.get(f"incremental_{metric}{s}", "total") for s in ("", "_ci_low", "_ci_high"))
            if fmt.finite(m):
                return m, lo, hi
        v = np.array([self.get(f"incremental_{metric}", c) for c in self.channels])
        return float(np.nansum(v)), math.nan, math.nan

    def amount(self, x: float, metric: str, signed: bool = False) -> str:
        """A value of the metric as a reader wants it: 1,230 orders, 2.3B RUB."""
        if not fmt.finite(x):
            return "n/a"
        text = (
            fmt.count(abs(x))
            if metric == "orders"
            else fmt.money(abs(x), self.currency)
            if self.currency
            else fmt.compact(abs(x))
        )
        sign = fmt.MINUS if x < 0 else ("+" if signed and x > 0 else "")
        return sign + text

    def quantity(self, x: float, metric: str, extra: bool = True) -> str:
        """An amount with its words: '27,000 extra orders', '2.3B RUB of extra revenue'."""
        words = _WORDS[metric] if extra else _WORDS[metric][6:]
        return f"{self.amount(x, metric)} {'' if metric == 'orders' else 'of '}{words}"

    def reps_text(self, cis: bool) -> str:
        """What the values are: means over N replications and 95% CI whiskers, or a single replication."""
        if not cis:
            return (
                "single replication, no confidence intervals"
                if self.reps <= 1
                else f"means over {self.reps} replications"
            )
        over = f"{self.reps} replications" if self.reps > 1 else "replications"
        return f"means over {over}, whiskers = 95% CI"


def _only(view: _View, channel: str, total: float, metric: str) -> str:
    """The title for a plan with one channel."""
    come = "come" if metric == "orders" else "comes"
    return f"All of the plan's {view.quantity(total, metric)} {come} from {view.names[channel]}, its only channel"


def _cut(lo: np.ndarray, hi: np.ndarray, lim: tuple[float, float]) -> str:
    """A note for the subtitle when a whisker runs beyond the axis."""
    with np.errstate(invalid="ignore"):
        cut = bool((np.nan_to_num(lo, nan=lim[0]) < lim[0]).any() or (np.nan_to_num(hi, nan=lim[1]) > lim[1]).any())
    return "; a whisker ending in a triangle runs on beyond the chart" if cut else ""


def _cis(*bounds: np.ndarray) -> bool:
    return any(bool(np.isfinite(b).any()) for b in bounds)


def _check(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r}: choose one of {', '.join(METRICS)}")


# --------------------------------------------------------------------------------------------
# the charts


def waterfall(attr: Attribution, metric: str = "orders", *, scenario: Scenario | None = None) -> Figure:
    """Each channel's contribution to the plan's effect over no marketing, as bars stacking up to the plan's total.

    Contributions are Shapley values (they add up to the total, interactions shared among channels),
    or incremental effects when the attribution has no Shapley values; then a grey bar holds what the
    channels' separate effects leave out of the total (their interactions). Largest first; a channel
    that takes away goes down, hatched.
    """
    _check(metric)
    view = _View(attr, scenario)
    col, how = view.contribution(metric)
    v, lo, hi = view.est(col, view.channels)
    order = sorted(range(len(view.channels)), key=lambda i: -v[i] if fmt.finite(v[i]) else math.inf)
    chans = [view.channels[i] for i in order]
    v, lo, hi = v[order], lo[order], hi[order]
    total, t_lo, t_hi = view.total(metric)
    words = _WORDS[metric]
    amount = view.amount(total, metric)

    # the title: where the biggest share of the total comes from, and who takes away
    known = [i for i in range(len(chans)) if fmt.finite(v[i])]
    if not known:
        title = f"No channel of plan {style.chart_name(attr.plan)} has a measured contribution"
    elif len(known) == 1 and total > 0:
        title = _only(view, chans[known[0]], total, metric)
    else:  # a channel named as the biggest only where its CI clears every other channel's
        top = vd.clear_leader({chans[i]: (v[i], lo[i], hi[i]) for i in known}, "higher")
        t = view.quantity(total, metric) if total > 0 else view.quantity(total, metric, extra=False)
        if top is not None and total > 0:
            i = chans.index(top)
            title = f"The biggest share of the plan's {t} comes from {view.names[top]} ({fmt.percent(v[i] / total, 0)})"
        elif top is not None:
            i = chans.index(top)
            title = (
                f"The plan adds {t} over no marketing; the most comes from "
                f"{view.names[top]} ({view.amount(v[i], metric, signed=True)})"
            )
        else:
            why = vd.ONE_REP if view.reps < 2 else f"not distinguishable at {view.reps} replications"
            title = f"The plan adds {t} over no marketing; no channel stands out beyond noise ({why})"
    if known and len(known) > 1 and vd.beyond(lo[known[-1]], hi[known[-1]], 0.0) == "below":
        title += f"; {view.quantity(-v[known[-1]], metric, extra=False)} lost through {view.names[chans[known[-1]]]}"

    # bars: each channel from the running sum before it to the one after it, then the rest, then the total
    steps = np.nan_to_num(v)
    ends = np.cumsum(steps)
    starts = ends - steps
    labels = [view.names[c] for c in chans]
    colours = [view.colours[c] for c in chans]
    rest = total - float(ends[-1]) if len(ends) else total
    with_rest = fmt.finite(rest) and abs(rest) > 0.005 * max(abs(total), float(np.abs(steps).sum()), 1e-9)
    if with_rest:  # incremental effects (or sampled Shapley values) do not add up to the total
        starts, ends = np.append(starts, ends[-1] if len(ends) else 0.0), np.append(ends, total)
        steps = np.append(steps, rest)
        labels.append("Interactions" if col.startswith("incremental") else "Not assigned")
        colours.append("#d5dae0")
        lo, hi, v = np.append(lo, np.nan), np.append(hi, np.nan), np.append(v, rest)
    n = len(steps)
    x = np.arange(n + 1, dtype=float)
    lo_top = np.append(ends + (lo - v), t_lo)  # the whisker of a step sits on its end
    hi_top = np.append(ends + (hi - v), t_hi)
    low, high, span = style.ci_limits(np.concatenate([starts, ends, [total]]), lo_top, hi_top)
    lim = (low - 0.04 * span, high + 0.04 * span)

    cis = _cis(lo, hi, np.array([t_lo, t_hi]))
    share_out = (
        "they share the channels' interactions out among them"
        if col.startswith("shapley")
        else "each is the plan minus the plan without the channel"
    )
    sub = (
        f"Each channel's contribution to the plan's {words} over no marketing ({how}: {share_out}), all segments, "
        f"largest first, stacking up to the plan's total"
        + (
            f"; grey: what the channels' {'separate effects' if col.startswith('incremental') else 'values'} leave out"
            if with_rest
            else ""
        )
        + f"; {view.reps_text(cis)}{_cut(lo_top, hi_top, lim) if cis else ''}"
    )
    fig, (ax,) = style.figure(title, sub)
    for i in range(n):
        neg = steps[i] < 0
        ax.bar(
            x[i],
            steps[i],
            bottom=starts[i],
            width=0.7,
            color=colours[i],
            hatch="///" if neg else None,
            edgecolor="white" if neg else colours[i],
            lw=0,
            zorder=3,
        )
    for i in range(n):  # a thin connector from one step's end to the next step's start (or the total)
        ax.hlines(ends[i], x[i] + 0.35, x[i + 1] - 0.35, color=AXIS, lw=0.8, ls=(0, (2, 2)), zorder=2)
    ax.bar(x[n], total if fmt.finite(total) else 0.0, width=0.7, color=view.plan_colour, zorder=3)
    if cis:
        style.whiskers(ax, x, lo_top, hi_top, lim, vertical=True)
    ticks = []
    for i in range(n):
        share = (
            f"\n{fmt.percent(steps[i] / total, 0).replace('-', fmt.MINUS)}" if total > 0 and fmt.finite(v[i]) else ""
        )
        value = view.amount(v[i], metric, signed=True) if fmt.finite(v[i]) else "n/a"
        ticks.append(f"{_fill(labels[i], 12)}\n{value}{share}")
    ticks.append(f"Plan total\n{amount}")
    ax.set_xticks(x, ticks)
    ax.tick_params(axis="x", length=0)
    ax.axhline(0, color=AXIS, lw=0.8, zorder=2)
    ax.set(xlim=(-0.6, n + 0.6), ylim=lim)
    ax.yaxis.set_major_formatter(FuncFormatter(fmt.compact))
    unit = f", {view.currency}" if metric != "orders" and view.currency else ""
    ax.set_ylabel(f"{words[0].upper()}{words[1:]}{unit}", **TEXT)
    return fig


def _fill(name: str, width: int) -> str:
    return textwrap.fill(name, width, break_long_words=False)


def _column(ax: Axes, inches: float, y: np.ndarray, head: str, texts: list[str], colours: list[str]) -> None:
    """A column of values right of the plot, ending this many inches past its edge, one per bar row."""
    shift = ScaledTranslation(inches, 0, ax.figure.dpi_scale_trans)
    ax.text(1, 1.0, head, transform=ax.transAxes + shift, va="bottom", ha="right", fontsize=10, color=MUTED)
    for yi, text, colour in zip(y, texts, colours, strict=True):
        ax.text(
            1,
            yi,
            text,
            transform=ax.get_yaxis_transform() + shift,
            va="center",
            ha="right",
            fontsize=11,
            color=colour,
            fontweight="bold",
        )


def spend_vs_contribution(attr: Attribution, metric: str = "orders", *, scenario: Scenario | None = None) -> Figure:
    """Each channel's share of the plan's spend beside its share of the plan's effect, biggest spender first.

    The effect is the Shapley value (else the incremental effect) as a share of the plan's total over
    no marketing. On the right, the two shares and their ratio: the channel's effect per unit of money
    against the plan's average (above 1: it brings more than its money's share).
    """
    _check(metric)
    view = _View(attr, scenario)
    col, how = view.contribution(metric)
    chans = list(view.channels)
    spend = np.array([view.get("spend", c) for c in chans])
    paid = float(np.nansum(spend))
    s_share = spend / paid if paid > 0 else np.full(len(chans), np.nan)
    order = sorted(range(len(chans)), key=lambda i: -s_share[i] if fmt.finite(s_share[i]) else math.inf)
    chans, s_share = [chans[i] for i in order], s_share[order]
    v, lo, hi = view.est(col, chans)
    total = view.total(metric)[0]
    shares = total > 0
    c_share, c_lo, c_hi = ((a / total if shares else np.full(len(chans), np.nan)) for a in (v, lo, hi))
    words = _WORDS[metric]
    what = words[6:]  # "orders", "revenue", "gross margin"

    gaps = np.abs(c_share - s_share)
    if not chans:
        title = f"Plan {style.chart_name(attr.plan)} has no channels to compare"
    elif not shares:
        title = f"The plan adds {view.quantity(total, metric, extra=False)} over no marketing: nothing to share out"
    elif len(chans) == 1:
        title = _only(view, chans[0], total, metric)
    else:  # the biggest gap among the channels whose share's CI excludes their share of spend
        clear = np.array([vd.beyond(a, b, s) is not None for a, b, s in zip(c_lo, c_hi, s_share, strict=True)])
        gaps = np.where(clear, gaps, np.nan)
        if np.isfinite(gaps).any() and np.nanmax(gaps) >= 0.05:
            i = int(np.nanargmax(gaps))
            name, ps, pc = view.names[chans[i]], fmt.percent(s_share[i], 0), fmt.percent(c_share[i], 0)
            title = (
                f"{name}: {ps} of spend but only {pc} of the plan's {words}"
                if s_share[i] > c_share[i]
                else f"{name}: {pc} of the plan's {words} on only {ps} of spend"
            )
        elif view.reps < 2:
            title = f"Each channel's share of {words} against its share of spend ({vd.ONE_REP})"
        else:
            title = f"No channel's share of {words} differs from its share of spend by 5 points beyond noise"

    n = len(chans)
    y = np.arange(n)[::-1].astype(float)
    h = 0.36
    bars = np.concatenate([s_share, c_share])
    low, high, span = style.ci_limits(bars, c_lo, c_hi)
    lim = (low - 0.03 * span, high + 0.03 * span)
    cis = shares and _cis(c_lo, c_hi)
    per = view.currency or "unit of money"
    sub = (
        f"Share of the plan's spend (grey) and of its {words} over no marketing (colour; {how}), all segments; "
        f"right: {what} per {per} against the plan's average; {view.reps_text(cis)}"
        + (_cut(c_lo, c_hi, lim) if cis else "")
    )
    fig, (ax,) = style.figure(title, sub)
    ax.barh(y + h / 2, np.nan_to_num(s_share), height=h, color=_SPEND, zorder=3)
    ax.barh(y - h / 2, np.nan_to_num(c_share), height=h, color=[view.colours[c] for c in chans], zorder=3)
    if cis:
        style.whiskers(ax, y - h / 2, c_lo, c_hi, lim, vertical=False)
    ratios = [fmt.ratio(c, s) for c, s in zip(c_share, s_share, strict=True)]
    good = ["#2a7a3b" if r >= 1.05 else "#b8323f" if r <= 0.95 else INK if fmt.finite(r) else MUTED for r in ratios]
    _column(ax, 0.6, y, "spend", [fmt.percent(s, 0) for s in s_share], [INK] * n)
    _column(ax, 1.3, y, what, [fmt.percent(c, 0) for c in c_share], [INK] * n)
    _column(
        ax,
        2.3,
        y,
        f"per {view.currency or 'money'}\nvs plan",
        [f"\u00d7{fmt.multiple(r)}" if fmt.finite(r) else "n/a" for r in ratios],
        good,
    )
    ax.set_yticks(y, [_fill(view.names[c], 16) for c in chans])
    ax.set(xlim=lim, ylim=style.bar_limits(n) if n else (-1, 1))
    ax.axvline(0, color=AXIS, lw=0.8, zorder=2)
    ax.grid(True, axis="x", color=GRID, lw=0.8)
    ax.grid(False, axis="y")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _p: fmt.percent(x, 0)))
    ax.tick_params(axis="y", length=0, pad=8)
    ax.spines["left"].set_visible(False)
    return fig


def _marginal_title(
    view: _View, chans: list[str], v: np.ndarray, lo: np.ndarray, hi: np.ndarray, known: list[int], even: float
) -> str:
    """The marginal ROAS title: a channel named as paying most (or least) only where its 95% CI clears
    every other channel's, and 'does not repay' only where the CI lies below the break-even."""
    per = view.currency or "unit"
    if not known:
        return "No channel can spend an extra 10%: marginal ROAS is n/a"
    if view.reps < 2:
        title = f"Marginal ROAS by channel ({vd.ONE_REP})"
        return title if len(known) > 1 else title.replace("by channel", f"of {view.names[chans[known[0]]]}")
    if len(known) == 1:
        i = known[0]
        title = f"An extra 10% on {view.names[chans[i]]} brings {fmt.multiple(v[i])} of revenue per {per} spent"
    else:
        est = {chans[i]: (v[i], lo[i], hi[i]) for i in known}
        most, least = vd.clear_leader(est, "higher"), vd.clear_leader(est, "lower")
        parts = [f"pays most on {view.names[most]} ({fmt.multiple(est[most][0])})"] if most else []
        parts += [f"least on {view.names[least]} ({fmt.multiple(est[least][0])})"] if least else []
        title = (
            "Extra budget " + " and ".join(parts)
            if parts
            else f"No channel's marginal ROAS stands out beyond noise at {view.reps} replications"
        )
    if fmt.finite(even):
        below = sum(vd.beyond(lo[i], hi[i], even) == "below" for i in known)
        above = sum(vd.beyond(lo[i], hi[i], even) == "above" for i in known)
        if below and len(known) > 1:
            title += f"; {below} of {len(known)} channels do not repay it in margin, beyond noise"
        elif below:
            title += "; it does not repay it in margin, beyond noise"
        elif not above:
            title += "; whether it repays in margin is within noise"
    return title


def marginal_roas(attr: Attribution, *, scenario: Scenario | None = None) -> Figure:
    """Extra revenue per unit of extra money when a channel's budget rises 10%, with break-even lines.

    At 1 the extra revenue repays the extra spend; at 1 / (the plan's margin share of revenue) its
    extra gross margin does, the real break-even. A channel that cannot spend more (its audience is
    used up) has no marginal ROAS: n/a.
    """
    view = _View(attr, scenario)
    v, lo, hi = view.est("marginal_roas", view.channels)
    order = sorted(range(len(view.channels)), key=lambda i: -v[i] if fmt.finite(v[i]) else math.inf)
    chans = [view.channels[i] for i in order]
    v, lo, hi = v[order], lo[order], hi[order]
    revenue, margin = view.total("revenue")[0], view.total("margin")[0]
    share = fmt.ratio(margin, revenue)
    even = 1 / share if fmt.finite(share) and 0 < share < 1 else math.nan  # ROAS at which the extra margin repays
    known = [i for i in range(len(chans)) if fmt.finite(v[i])]
    per = view.currency or "unit"

    title = _marginal_title(view, chans, v, lo, hi, known, even)

    n = len(chans)
    y = np.arange(n)[::-1].astype(float)
    low, high, span = style.ci_limits(np.concatenate([v, [1.0, even if fmt.finite(even) else 1.0]]), lo, hi)
    lim = (low - 0.03 * span, high + 0.03 * span)
    cis = _cis(lo, hi)
    margin_note = (
        f"; dashed line at {fmt.multiple(even)}: the extra gross margin repays it (the plan's margin is "
        f"{fmt.percent(share, 0)} of revenue)"
        if fmt.finite(even)
        else ""
    )
    sub = (
        f"Extra revenue per {per} of extra spend when a channel's budget rises 10% (marginal ROAS), all segments; "
        f"line at 1: the extra revenue repays the extra spend{margin_note}; {view.reps_text(cis)}"
        + (_cut(lo, hi, lim) if cis else "")
    )
    fig, (ax,) = style.figure(title, sub)
    ax.barh(y, np.nan_to_num(v), height=0.62, color=[view.colours[c] for c in chans], zorder=3)
    if cis:
        style.whiskers(ax, y, lo, hi, lim, vertical=False)
    for yi, val in zip(y, v, strict=True):
        if not fmt.finite(val):
            ax.text(0.01 * span, yi, "n/a: the extra budget is not spent", va="center", fontsize=10, color=MUTED)
    ax.axvline(1, color=INK, lw=1.2, zorder=2)
    handles = [Line2D([], [], color=INK, lw=1.2, label="break-even on revenue (1)")]
    if fmt.finite(even):
        ax.axvline(even, color=INK, lw=1.2, ls=(0, (4, 3)), zorder=2)
        handles.append(
            Line2D([], [], color=INK, lw=1.2, ls=(0, (4, 3)), label=f"break-even on margin ({fmt.multiple(even)})")
        )
    ax.legend(
        handles=handles, loc="lower left", bbox_to_anchor=(0, 1), ncols=2, frameon=False, fontsize=10, borderaxespad=0.2
    )
    _column(ax, 0.65, y, "marginal\nROAS", [fmt.multiple(x) for x in v], [INK] * n)
    if cis:
        _column(
            ax,
            2.0,
            y,
            "95% CI",
            [
                f"{fmt.multiple(a)} to {fmt.multiple(b)}" if fmt.finite(a) else "n/a"
                for a, b in zip(lo, hi, strict=True)
            ],
            [MUTED] * n,
        )
    ax.set_yticks(y, [_fill(view.names[c], 16) for c in chans])
    ax.set(xlim=lim, ylim=style.bar_limits(n) if n else (-1, 1))
    ax.axvline(0, color=AXIS, lw=0.8, zorder=2)
    ax.grid(True, axis="x", color=GRID, lw=0.8)
    ax.grid(False, axis="y")
    ax.tick_params(axis="y", length=0, pad=8)
    ax.spines["left"].set_visible(False)
    ax.set_xlabel(f"Extra revenue per {per} of extra spend", **TEXT)
    return fig


# --------------------------------------------------------------------------------------------
# all of them


def all_charts(attr: Attribution, *, scenario: Scenario | None = None) -> list[Chart]:
    """The three attribution charts, each with its slug, title and a one-sentence plain-language caption."""
    made: list[tuple[str, Figure, str]] = [
        (
            "attribution_waterfall",
            waterfall(attr, scenario=scenario),
            "How the extra orders the plan brings over no marketing add up, channel by channel: each bar is "
            "what one channel adds, and the last bar is the plan's total.",
        ),
        (
            "attribution_spend_share",
            spend_vs_contribution(attr, scenario=scenario),
            "Each channel's share of the money beside its share of the extra orders: a coloured bar longer than "
            "the grey one means the channel brings more than its money's worth.",
        ),
        (
            "attribution_marginal_roas",
            marginal_roas(attr, scenario=scenario),
            "What 10% more budget on each channel would bring back in revenue for every unit of money: a bar "
            "past the dashed line would pay for itself in profit, not just in sales.",
        ),
    ]
    return [Chart(slug, fig.get_suptitle().replace("\n", " "), caption, fig) for slug, fig, caption in made]
