"""Charts of a calibration: the fit to the data, prior against posterior, the correlations, the sampler's trace.

The chart functions read the tables of a :class:`cjmsim.analyses.calibration.Calibrated` and return
``matplotlib.figure.Figure`` objects in the style of :mod:`cjmsim.presentation.style`, each titled with
the finding it shows (:mod:`cjmsim.presentation.calibration_text`, the report's sentences too) over a
smaller subtitle saying what is plotted. They never simulate, show or save.

- :func:`fit`: per fitted series, the observed weeks (points), the estimate (line) and the 90%
  posterior predictive band, small multiples;
- :func:`parameters`: per parameter, the prior's 90% interval and median, the posterior's draws
  (histogram) and 90% interval, and the point estimate, on one axis, small multiples;
- :func:`correlations`: the posterior correlation matrix as a heat map, the numbers in the cells;
- :func:`trace`: the log-likelihood of every candidate by evaluation (the search and the sampler,
  each on its own scale: they are computed differently), and every parameter's proposals at each
  step of the sampler, the burn-in shaded.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from cjmsim.presentation import format as fmt
from cjmsim.presentation import style
from cjmsim.presentation.calibration_text import (
    band_shares,
    convergence_finding,
    correlation,
    correlation_finding,
    narrowing_finding,
    series_label,
)
from cjmsim.presentation.charts.chart import Chart
from cjmsim.presentation.style import AXIS, GRID, INK, MUTED, PANEL, PLAN_COLOURS, TEXT, chart_name, mpl_text

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from cjmsim.analyses.calibration import Calibrated

__all__ = ["all_charts", "correlations", "fit", "parameters", "trace"]

#: The posterior (draws, band) in the teal of the chart palette, the estimate in its orange, the
#: search in its slate; the prior in the axis grey; an observed week outside the band in red.
POSTERIOR, ESTIMATE, SEARCH = PLAN_COLOURS[1], PLAN_COLOURS[2], PLAN_COLOURS[0]
PRIOR, OUTSIDE = AXIS, "#b8323f"
_MAX_SERIES = 12  # panels of the fit chart; every series is in fit.csv
_DASHED = (0, (4, 3))


def _grid(n: int, panel: float) -> tuple[int, int, float]:
    """Rows and columns of n small multiples (one column for one, two up to four, else three) and the height."""
    ncols = 1 if n <= 1 else 2 if n <= 4 else 3
    nrows = -(-max(n, 1) // ncols)
    return nrows, ncols, max(style.SIZE[1], 2.3 + panel * nrows)


def _panel_title(ax: Axes, text: str, width: int) -> None:
    ax.set_title(textwrap.fill(text, width), loc="left", **PANEL)


# --------------------------------------------------------------------------------------------
# the fit


def _fit_title(result: Calibrated, shares: dict[str, float]) -> str:
    f = result.fit
    has = f.band_p05.notna() & f.band_p95.notna()
    inside = ((f.observed >= f.band_p05) & (f.observed <= f.band_p95))[has]
    if not len(inside):
        return "No posterior draw gave a valid scenario: no predictive band"
    title = (
        f"{fmt.percent(float(inside.mean()), 0)} of the observed weeks fall inside the 90% predictive band "
        "(a well-calibrated fit holds about 90%)"
    )
    known = {k: v for k, v in shares.items() if fmt.finite(v)}
    if len(known) > 1 and min(known.values()) < max(known.values()):  # a fewest only where the series differ
        worst = min(known, key=lambda k: known[k])
        title += f"; the fewest in {series_label(result, worst)} ({fmt.percent(known[worst], 0)})"
    return mpl_text(title)


def fit(result: Calibrated) -> Figure:
    """Per fitted series: the observed weeks (points; red outside the band), what the analytics would see
    at the point estimate (line) and the 5%..95% posterior predictive band (shaded)."""
    f = result.fit
    shares = band_shares(f)
    names = list(shares)
    shown = names[:_MAX_SERIES]
    cur = result.cal.scenario.scenario.currency
    more = f"; the first {len(shown)} of {len(names)} series (all in fit.csv)" if len(shown) < len(names) else ""
    sub = (
        "Points: the observed weekly values (red: outside the band); line: what the company's analytics would see "
        "at the point estimate; band: 5% to 95% of the posterior predictive, each draw's expected value plus the "
        f"noise the fit found, over {len(result.draws)} draws{more}"
    )
    nrows, ncols, height = _grid(len(shown), 2.1)
    fig, axes = style.figure(_fit_title(result, shares), sub, nrows, ncols, height=height)
    for ax in axes[len(shown) :]:
        ax.set_axis_off()
    width = 96 // ncols - 4
    for i, (ax, name) in enumerate(zip(axes, shown, strict=False)):
        d = f[f.series == name].sort_values("week")
        week = d.week.to_numpy(float)
        obs, lo, hi = (d[c].to_numpy(float) for c in ("observed", "band_p05", "band_p95"))
        ax.fill_between(week, lo, hi, color=POSTERIOR, alpha=0.22, lw=0, zorder=2)
        ax.plot(week, d.estimate.to_numpy(float), color=ESTIMATE, lw=1.6, zorder=3)
        out = ~((obs >= lo) & (obs <= hi))
        ax.plot(week[~out], obs[~out], "o", ms=3, color=INK, zorder=4)
        ax.plot(week[out], obs[out], "o", ms=3.5, color=OUTSIDE, zorder=5)
        label = series_label(result, name) + (f", {cur}" if name.startswith("revenue") else "")
        _panel_title(ax, f"{chart_name(label, 48)}: {fmt.percent(shares[name], 0)} inside", width)
        ax.yaxis.set_major_formatter(FuncFormatter(fmt.tick))
        ax.set_ylim(bottom=0)
        if i >= len(shown) - ncols:
            ax.set_xlabel("Week", **TEXT)
    handles = [
        Line2D([], [], color=INK, marker="o", ms=4, lw=0, label="observed"),
        Line2D([], [], color=OUTSIDE, marker="o", ms=4, lw=0, label="observed, outside the band"),
        Line2D([], [], color=ESTIMATE, lw=1.6, label="at the point estimate"),
        Patch(color=POSTERIOR, alpha=0.3, label="90% predictive band"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, frameon=False, fontsize=10)
    return fig


# --------------------------------------------------------------------------------------------
# prior against posterior


def _interval(ax: Axes, low: float, mid: float, high: float, y: float, colour: str) -> None:
    """A 90% interval as a thick bar at height y (a share of the axes), its median as a tick."""
    at = ax.get_xaxis_transform()
    ax.plot([low, high], [y, y], transform=at, color=colour, lw=7, solid_capstyle="butt", zorder=4)
    ax.plot([mid], [y], transform=at, marker="|", ms=15, mew=2.5, color=INK, zorder=5)


def parameters(result: Calibrated) -> Figure:
    """Per parameter, on one axis: the prior's 90% interval and median (grey bar), the posterior's draws
    (histogram) and 90% interval and median (teal bar), and the point estimate (dashed)."""
    p = result.parameters
    draws = result.draws.table
    sub = (
        f"Grey bar: the prior's 90% interval, with its median; histogram: the {len(draws)} posterior draws, teal bar "
        "their 90% interval and median; dashed: the point estimate (CMA-ES's best candidate); each panel's title "
        "gives the posterior's 90% interval as a share of the prior's"
    )
    n = len(p)
    nrows, ncols, height = _grid(n, 2.0)
    fig, axes = style.figure(mpl_text(narrowing_finding(p)), sub, nrows, ncols, height=height)
    for ax in axes[n:]:
        ax.set_axis_off()
    width = 96 // ncols - 4
    for ax, r in zip(axes, p.itertuples(), strict=False):
        v = draws[r.parameter].to_numpy(float)
        v = v[np.isfinite(v)]
        ends = [r.prior_p05, r.prior_p95, r.estimate, *((v.min(), v.max()) if len(v) else ())]
        lo, hi = float(np.nanmin(ends)), float(np.nanmax(ends))
        pad = 0.06 * (hi - lo) or 0.05 * abs(hi) or 1.0
        top = 1.0
        if len(v):
            counts, _, _ = ax.hist(v, bins=min(30, max(6, len(v) // 4)), color=POSTERIOR, alpha=0.7, zorder=3)
            top = max(float(np.max(counts)), 1.0)
        ax.set_ylim(0, top * 1.6)  # room above the histogram for the two intervals
        _interval(ax, r.prior_p05, r.prior_p50, r.prior_p95, 0.9, PRIOR)
        _interval(ax, r.posterior_p05, r.posterior_p50, r.posterior_p95, 0.77, POSTERIOR)
        ax.axvline(r.estimate, color=ESTIMATE, lw=1.8, ls=_DASHED, zorder=6)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_yticks([])
        ax.grid(False, axis="y")
        ax.spines["left"].set_visible(False)
        ax.xaxis.set_major_formatter(FuncFormatter(fmt.tick))
        said = fmt.percent(r.width_ratio) if fmt.finite(r.width_ratio) else "n/a"
        _panel_title(ax, f"{chart_name(str(r.parameter), 48)}: {said} of the prior's width", width)
    handles = [
        Line2D([], [], color=PRIOR, lw=7, label="prior, 90%"),
        Line2D([], [], color=POSTERIOR, lw=7, label="posterior, 90%"),
        Line2D([], [], color=INK, marker="|", ms=12, mew=2.5, lw=0, label="median"),
        Line2D([], [], color=ESTIMATE, lw=1.8, ls=_DASHED, label="point estimate"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, frameon=False, fontsize=10)
    return fig


# --------------------------------------------------------------------------------------------
# correlations


def correlations(result: Calibrated) -> Figure:
    """The posterior correlation of every pair of parameters, as a heat map with the numbers in the cells."""
    c = result.correlations
    m = c.to_numpy(dtype=float)
    d = len(m)
    sub = (
        f"Correlation of the {len(result.draws)} posterior draws of each pair of parameters: red, the two rise "
        "together; blue, one rises as the other falls; a strong one means the data pin a combination of the two "
        "rather than each"
    )
    fig, (ax,) = style.figure(mpl_text(correlation_finding(c)), sub)
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="#f5f7f9")
    off = m.copy()
    np.fill_diagonal(off, np.nan)  # a parameter with itself: 1, no news
    image = ax.imshow(np.ma.masked_invalid(off), cmap=cmap, vmin=-1, vmax=1)
    size = 10 if d <= 8 else 9
    for (i, j), v in np.ndenumerate(m):
        ink = MUTED if i == j else "white" if fmt.finite(v) and abs(v) > 0.6 else INK
        ax.text(j, i, "1" if i == j else correlation(v), ha="center", va="center", fontsize=size, color=ink)
    names = [chart_name(str(n), 28) for n in c.index]
    tilt = d > 3
    ax.set_xticks(range(d), names, rotation=30 if tilt else 0, ha="left" if tilt else "center")
    for tick in ax.get_xticklabels() if tilt else []:
        tick.set_rotation_mode("anchor")
    ax.set_yticks(range(d), names)
    ax.xaxis.tick_top()
    ax.tick_params(which="both", length=0)
    ax.spines[:].set_visible(False)
    ax.grid(False)
    bar = fig.colorbar(image, ax=ax, shrink=0.9, pad=0.02)
    bar.ax.tick_params(labelsize=10, colors=INK)
    bar.outline.set_visible(False)
    return fig


# --------------------------------------------------------------------------------------------
# the trace


def _likelihood(ax: Axes, part: pd.DataFrame, colour: str, title: str) -> None:
    """One phase's log-likelihood by evaluation; the worst 5% of the candidates cut at the axis' foot (a triangle)."""
    ll = part.log_likelihood.to_numpy(float)
    ev = part.evaluation.to_numpy(float)
    ok = np.isfinite(ll)
    if not ok.any():
        ax.text(0.5, 0.5, "no valid candidate", transform=ax.transAxes, ha="center", **TEXT)
        _panel_title(ax, title, 44)
        return
    low, high = float(np.quantile(ll[ok], 0.05)), float(ll[ok].max())
    span = (high - low) or max(abs(high) * 0.01, 1.0)
    foot = low - 0.1 * span
    cut = ok & (ll < foot)
    keep = ok & ~cut
    ax.scatter(ev[keep], ll[keep], s=9, color=colour, alpha=0.6, lw=0, zorder=3)
    ax.scatter(ev[cut], np.full(int(cut.sum()), foot), s=16, marker="v", color=colour, lw=0, zorder=3, clip_on=False)
    ax.set_ylim(foot, high + 0.1 * span)
    ax.yaxis.set_major_formatter(FuncFormatter(fmt.tick))
    ax.grid(True, axis="x", color=GRID, lw=0.8)
    said = f"; {int(cut.sum())} lower, drawn at the foot" if cut.any() else ""
    _panel_title(ax, f"{title}{said}", 44)


def _walkers(ax: Axes, result: Calibrated, post: pd.DataFrame, name: str, tau: float) -> None:
    """A parameter's proposals at each sampler step (step 0: the starting ball), the burn-in shaded."""
    walkers = int(result.convergence["walkers"])
    burn = int(result.convergence["burn_in"])
    per_chain = int(result.convergence["steps_kept"]) + burn + 1  # the starting ball, then every step
    step = (np.arange(len(post)) // walkers) % per_chain  # the chains, one after another, overlaid
    ok = np.isfinite(post.log_likelihood.to_numpy(float))
    ax.axvspan(-0.5, burn + 0.5, color=GRID, alpha=0.7, lw=0, zorder=1)
    ax.scatter(step[ok], post[name].to_numpy(float)[ok], s=6, color=POSTERIOR, alpha=0.45, lw=0, zorder=3)
    ax.axhline(result.estimate[name], color=ESTIMATE, lw=1.4, ls=_DASHED, zorder=4)
    ax.yaxis.set_major_formatter(FuncFormatter(fmt.tick))
    _panel_title(ax, f"{chart_name(name, 40)}: autocorrelation {fmt.rounded(tau, 'w')} steps", 44)


def trace(result: Calibrated) -> Figure:
    """The log-likelihood of every candidate by evaluation, the search's and the sampler's each on its own
    axis; below, each parameter's proposals at every step of the sampler, the burn-in shaded."""
    t = result.trace
    c = result.convergence
    search, post = t[t.phase == "search"], t[t.phase == "posterior"].reset_index(drop=True)
    names = list(result.parameters.parameter)
    invalid = int((~np.isfinite(t.log_likelihood.to_numpy(float))).sum())
    sub = (
        "Top: the log-likelihood of each candidate by evaluation; the search's noise scales are estimated per "
        "candidate, the sampler's held at the estimate's and each series tempered, so the two levels differ. "
        f"Below: each parameter's proposals at every step ({c['walkers']} walkers, one each a step; shaded: the "
        f"{c['burn_in']} burn-in steps); dashed: the point estimate; acceptance "
        f"{fmt.rounded(c['acceptance_fraction'], 'r')}, "
        f"about {fmt.count(c['effective_samples'])} effective draws"
        + (f"; {invalid} candidates outside the prior or not a valid scenario are not drawn" if invalid else "")
    )
    rows = -(-len(names) // 2)
    fig, axes = style.figure(
        mpl_text(convergence_finding(result)), sub, 1 + rows, 2, height=max(style.SIZE[1], 2.6 + 2.1 * (1 + rows))
    )
    _likelihood(axes[0], search, SEARCH, f"Search (CMA-ES): {len(search)} candidates")
    _likelihood(axes[1], post, POSTERIOR, f"Sampler (emcee): {len(post)} candidates")
    axes[0].set_ylabel("Log-likelihood", **TEXT)
    for ax in axes[:2]:
        ax.set_xlabel("Evaluation", **TEXT)
    taus = list(c.get("tau", [])) + [float("nan")] * len(names)
    for ax, name, tau in zip(axes[2:], names, taus, strict=False):
        _walkers(ax, result, post, name, tau)
    for ax in axes[2 + len(names) :]:
        ax.set_axis_off()
    for ax in axes[2 + max(len(names) - 2, 0) : 2 + len(names)]:
        ax.set_xlabel("Sampler step", **TEXT)
    return fig


# --------------------------------------------------------------------------------------------
# all of them


def all_charts(result: Calibrated) -> list[Chart]:
    """Every chart of a calibration, each with its slug, title and a one-sentence plain-language caption."""
    made: list[tuple[str, Figure, str]] = [
        (
            "calibration_fit",
            fit(result),
            "The company's weekly numbers (points) against what the calibrated model expects (line) and the range "
            "it would give 90% of the time (band): about nine weeks in ten should fall inside it.",
        ),
        (
            "calibration_parameters",
            parameters(result),
            "What each parameter could be before the data (grey bar) and after them (histogram and teal bar): the "
            "shorter the teal bar against the grey, the more the data say about that parameter.",
        ),
        (
            "calibration_correlations",
            correlations(result),
            "How the parameters move together among the plausible values: a strong colour means the data fix a "
            "combination of two parameters rather than each of them.",
        ),
        (
            "calibration_trace",
            trace(result),
            "How the search and the sampler went: the likelihood of every candidate tried, and the values the "
            "sampler proposed step by step, which should settle into a steady band after the shaded burn-in.",
        ),
    ]
    return [Chart(slug, fig.get_suptitle().replace("\n", " ").replace("\\$", "$"), cap, fig) for slug, fig, cap in made]
