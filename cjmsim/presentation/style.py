"""The one chart style: palette, sizes and fonts, the figure factory and the axis helpers of every chart.

Every chart module draws with these, so a chart of a sweep looks like one of a run. Figures are
built without pyplot and every style choice is set on the artists themselves, so there is no GUI
backend and no global state (not even rcParams).

A plan keeps its colour everywhere: :func:`plan_colours` gives it by the plan's position in the
scenario's plan order, whatever subset or order a chart draws; a channel likewise by
:func:`channel_colours`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.patches import Patch

from cjmsim.presentation.format import finite

__all__ = [
    "SIZE",
    "DPI",
    "PLAN_COLOURS",
    "CHANNEL_COLOURS",
    "INK",
    "MUTED",
    "GRID",
    "AXIS",
    "TEXT",
    "PANEL",
    "CI_PAD",
    "plan_colours",
    "channel_colours",
    "mpl_text",
    "display_name",
    "chart_name",
    "figure",
    "legend",
    "bar_limits",
    "bare",
    "ci_limits",
    "whiskers",
]

SIZE, DPI = (10.0, 5.5), 120  # inches, dots per inch
#: One colour per plan, in the scenario's plan order; the first (usually the reference) is a quiet slate.
PLAN_COLOURS = ("#52606d", "#0f7c78", "#e0701a", "#7b4fa0", "#2f6fae", "#b8323f")
#: One colour per channel, in scenario order (Tableau 10).
CHANNEL_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#9c755f")
#: Non-media spend (a plan's interventions) in spend charts: a dark grey no channel uses.
NON_MEDIA = "#4d4d4d"
INK, MUTED, GRID, AXIS = "#222222", "#5f6b76", "#e4e7eb", "#9aa5b1"
TEXT: dict[str, Any] = {"fontsize": 10, "color": INK}  # every label and annotation: 10 pt at least
PANEL: dict[str, Any] = {"fontsize": 11, "color": INK}  # a panel's title
#: Whiskers may widen an axis by this share of the bars' span on each side, then are cut.
CI_PAD = 0.15


# --------------------------------------------------------------------------------------------
# colours


def _internal(plan: str) -> bool:
    """A plan the analyses add for themselves (the sweep's ``__warmup__``), never drawn as a plan."""
    return plan.startswith("__")


def plan_colours(plans: Iterable[str], extra: Iterable[str] = ()) -> dict[str, str]:
    """Each plan's colour by its position in the scenario's plan order (``scenario.plans``).

    Plans not in that order (``extra``: the optimizer's ``<plan>_optimized``) and internal ones
    (``__warmup__``) get the next colours after the scenario's own plans, in the order given, so a
    plan has the same colour in every chart and report of a scenario whatever subset is drawn.
    """
    given = list(plans)
    order = [p for p in given if not _internal(p)]
    order += [p for p in dict.fromkeys([*extra, *given]) if p not in order]
    return {p: PLAN_COLOURS[i % len(PLAN_COLOURS)] for i, p in enumerate(order)}


def channel_colours(channels: Iterable[str], extra: Iterable[str] = ()) -> dict[str, str]:
    """Each channel's colour by its position in the scenario's channel order; others (``extra``) next."""
    order = list(dict.fromkeys([*channels, *extra]))
    return {c: CHANNEL_COLOURS[i % len(CHANNEL_COLOURS)] for i, c in enumerate(order)}


# --------------------------------------------------------------------------------------------
# figures and axes


def mpl_text(text: str) -> str:
    """User text for matplotlib: a '$' is a dollar, not the start of mathtext."""
    return text.replace("$", r"\$")


#: Longest name a chart shows whole (legends, titles, tick labels); the HTML report shows it all.
NAME_LIMIT = 60


def display_name(name: str, limit: int = NAME_LIMIT) -> str:
    """A name as a chart shows it: on one line (any run of whitespace one space), and at most
    ``limit`` characters, cut with an ellipsis."""
    one = " ".join(str(name).split())
    return one if len(one) <= limit else one[: limit - 1].rstrip() + "\u2026"


def chart_name(name: str, limit: int = NAME_LIMIT) -> str:
    """A user's name ready for matplotlib: :func:`display_name`, then :func:`mpl_text`."""
    return mpl_text(display_name(name, limit))


def figure(
    title: str,
    subtitle: str,
    nrows: int = 1,
    ncols: int = 1,
    sharex: bool = False,
    sharey: bool = False,
    height: float = SIZE[1],
) -> tuple[Figure, list[Axes]]:
    """A 10 x 5.5 in figure (taller with ``height``, for small multiples): the finding as title, a
    subtitle, below them a grid of styled axes."""
    # at most 3 title and 5 subtitle lines, so no text can push the axes off the figure
    t = textwrap.wrap(title, 80, max_lines=3, placeholder=" \u2026")
    s = textwrap.wrap(subtitle, 112, max_lines=5, placeholder=" \u2026")
    top = (0.22 + 0.29 * len(t) + 0.21 * len(s)) / height  # the header band, as a share of the height
    layout = ConstrainedLayoutEngine(rect=(0, 0, 1, 1 - top))
    fig = Figure(figsize=(SIZE[0], height), dpi=DPI, facecolor="white", layout=layout)
    head: dict[str, Any] = {"x": 0.012, "ha": "left", "va": "top", "in_layout": False}
    fig.suptitle("\n".join(t), y=1 - 0.1 / height, fontsize=15, fontweight="bold", color=INK, **head)
    fig.text(s="\n".join(s), y=1 - (0.16 + 0.29 * len(t)) / height, fontsize=11, color=MUTED, **head)
    axes = list(fig.subplots(nrows, ncols, squeeze=False, sharex=sharex, sharey=sharey).flat)
    for ax in axes:
        ax.spines[["top", "right"]].set_visible(False)
        ax.spines[["left", "bottom"]].set_color(AXIS)
        ax.tick_params(labelsize=10, colors=INK, length=3)
        ax.grid(True, axis="y", color=GRID, lw=0.8)
        ax.set_axisbelow(True)
    return fig, axes


#: Characters of legend text a chart's width holds in one row (10 pt on the standard figure).
LEGEND_ROW = 120


def legend(fig: Figure, labels: Mapping[str, str], colours: Mapping[str, str]) -> None:
    """A legend of colour patches under the axes: one per key of labels, in their order, in at most four
    columns and fewer when the labels are long, so that a row fits the figure's width."""
    handles = [Patch(color=colours[k], label=v) for k, v in labels.items()]
    longest = max((len(v) for v in labels.values()), default=1)
    ncols = max(1, min(len(handles), 4, LEGEND_ROW // (longest + 6)))
    fig.legend(handles=handles, loc="outside lower center", ncols=ncols, frameon=False, fontsize=10)


def bar_limits(n: int) -> tuple[float, float]:
    """Y limits for n bars at 0..n-1, centred, as thin as for three bars when there are fewer."""
    half = max(n, 3) / 2 + 0.1
    return (n - 1) / 2 - half, (n - 1) / 2 + half


def bare(ax: Axes) -> None:
    """Bars labelled with their values need no x axis, grid or frame."""
    ax.xaxis.set_visible(False)
    ax.spines[["left", "bottom"]].set_visible(False)
    ax.grid(False)
    ax.tick_params(axis="y", length=0)


# --------------------------------------------------------------------------------------------
# confidence intervals that do not swamp the bars


def ci_limits(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[float, float, float]:
    """Axis limits holding the bars and 0, widened for the whiskers by at most ``CI_PAD`` of the span; and the span."""
    core = np.concatenate([values[np.isfinite(values)], [0.0]])
    a, b = float(core.min()), float(core.max())
    span = (b - a) or max(abs(a), abs(b), 1.0)
    low = np.nanmin(np.concatenate([lo[np.isfinite(lo)], [a]]))
    high = np.nanmax(np.concatenate([hi[np.isfinite(hi)], [b]]))
    return max(float(low), a - CI_PAD * span), min(float(high), b + CI_PAD * span), span


def whiskers(
    ax: Axes, pos: np.ndarray, lo: np.ndarray, hi: np.ndarray, lim: tuple[float, float], vertical: bool
) -> None:
    """95% CI whiskers cut at the axis limits, with a triangle where one is cut."""
    for p, a, b in zip(pos, lo, hi, strict=True):
        if not (finite(a) and finite(b)):
            continue
        a2, b2 = max(a, lim[0]), min(b, lim[1])
        if a2 > b2:
            continue
        line = ax.vlines if vertical else ax.hlines
        line(p, a2, b2, color=INK, lw=1.2, zorder=4)
        for end, clipped, marker in (
            (a2, a < lim[0], "v" if vertical else "<"),
            (b2, b > lim[1], "^" if vertical else ">"),
        ):
            if clipped:
                xy = (p, end) if vertical else (end, p)
                ax.plot(*xy, marker=marker, color=INK, ms=6, zorder=5, clip_on=False)
            else:
                cap = ax.hlines if vertical else ax.vlines
                cap(end, p - 0.1, p + 0.1, color=INK, lw=1.2, zorder=4)
