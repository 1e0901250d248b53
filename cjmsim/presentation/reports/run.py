"""The run report: one self-contained HTML page a strategist can open, print or forward.

:func:`render_report` turns a :class:`~cjmsim.engine.Result` and a list of chart images into a
single HTML page: what the run compared, the plan comparison table (with 95% CI half-widths when
there are replications), every chart, the personas, the channels and the assumptions. CSS is
inline, images are embedded as ``data:`` URIs, there is no script and nothing is fetched from the
network, so the file works offline, attached to an e-mail or printed.

All user text (scenario, plan, segment and channel names, descriptions, personas) reaches the page
through Jinja2 with autoescaping on; this module formats numbers and never builds HTML itself.
"""

from __future__ import annotations

import base64
import math
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from cjmsim import __version__
from cjmsim.output import write_text
from cjmsim.scenario import Channel, Scenario, Segment

if TYPE_CHECKING:
    from cjmsim.analyses.simulate import Result

__all__ = ["ReportImage", "ROWS", "default_assumptions", "render_report", "write_report"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: The comparison table, in groups: (group, [(summary column, label, format)]). Formats: n = count
#: of people or orders, m = money, p = percent, w = weeks, r = ratio. The rows are those of the
#: terminal table (``cjmsim.cli``), so the report and the terminal show the same numbers.
ROWS: list[tuple[str, list[tuple[str, str, str]]]] = [
    (
        "Funnel",
        [
            ("agents", "People", "n"),
            ("reached", "Reached by a channel", "n"),
            ("aware", "Became aware", "n"),
            ("leads", "Leads", "n"),
            ("customers", "New customers", "n"),
            ("orders", "Orders", "n"),
            ("conversion", "Conversion (aware \u2192 customer)", "p"),
            ("ttp_median_weeks", "Time to purchase, median, weeks", "w"),
        ],
    ),
    (
        "Cost",
        [
            ("spend", "Spend", "m"),
            ("cpl", "CPL (cost per lead)", "m"),
            ("cpo", "CPO (cost per order)", "m"),
            ("cac", "CAC (cost per new customer)", "m"),
        ],
    ),
    (
        "Return",
        [
            ("revenue", "Revenue", "m"),
            ("margin", "Gross margin", "m"),
            ("romi", "ROMI", "p"),
            ("ltv", "LTV (margin per new customer)", "m"),
            ("ltv_cac", "LTV / CAC", "r"),
        ],
    ),
]

_REQUIRES = {
    "none": "anyone in those stages",
    "visited": "people who once reached interest (site visitors)",
    "contact": "contacts: people who reached desire or bought",
}
_COST_MODEL = {"cpm": "CPM", "cpc": "CPC", "per_message": "per message"}
_DASH = "\u2013"


@dataclass(frozen=True)
class ReportImage:
    """One chart for the report: a PNG image with its title and a one-sentence caption.

    Attributes:
        slug: short id, used as the figure's anchor (e.g. ``funnel``).
        title: the chart's title; also the image's alt text.
        caption: one sentence on what the chart shows.
        png: the image, PNG bytes.
    """

    slug: str
    title: str
    caption: str
    png: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.png, bytes) or not self.png.startswith(_PNG_SIGNATURE):
            raise ValueError(f"report image {self.slug!r}: png is not PNG bytes (no PNG signature)")

    @property
    def size(self) -> tuple[int, int] | None:
        """Width and height in pixels, from the PNG header; None if the header is cut short."""
        if len(self.png) < 24 or self.png[12:16] != b"IHDR":
            return None
        width, height = struct.unpack(">II", self.png[16:24])
        return int(width), int(height)

    @property
    def data_uri(self) -> str:
        """The image as a ``data:image/png;base64,...`` URI."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


# --------------------------------------------------------------------------------------------
# numbers


def _fmt(v: Any, kind: str) -> str:
    """A number as the terminal table prints it: thousands separators, percent, 2 decimals for small money."""
    if v is None:
        return _DASH
    try:
        x = float(v)
    except (TypeError, ValueError):
        return _DASH
    if not math.isfinite(x):
        return _DASH
    if kind == "p":
        return f"{100 * x:,.1f}%"
    if kind == "w":
        return f"{x:,.1f}"
    if kind == "r":
        return f"{x:,.2f}"
    if kind == "m" and 0 < abs(x) < 100:
        return f"{x:,.2f}"
    return f"{x:,.0f}"


def _num(x: float) -> str:
    """A setting as written: 0.4, 1.5, 30 (no trailing zeros)."""
    return f"{x:,.6g}" if abs(x) < 1e6 else f"{x:,.0f}"


def _half_width(row: Mapping[str, Any], col: str, kind: str) -> str:
    """The 95% CI half-width of a summary cell, formatted; empty when there is no interval."""
    lo, hi = row.get(f"{col}_ci_low"), row.get(f"{col}_ci_high")
    try:
        low, high = float(lo), float(hi)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return ""
    return f"\u00b1 {_fmt((high - low) / 2, kind)}"


def _weeks(windows: Sequence[tuple[int, int]], horizon: int) -> str:
    """Active weeks as text: 'all 26 weeks', 'weeks 4-25', 'weeks 0-3, 8-11'."""
    active = sorted({w for s, e in windows for w in range(s, min(e, horizon))})
    if not active:
        return "none"
    if len(active) == horizon:
        return f"all {horizon} weeks"
    runs: list[list[int]] = []
    for w in active:
        if runs and w == runs[-1][1] + 1:
            runs[-1][1] = w
        else:
            runs.append([w, w])
    parts = [str(a) if a == b else f"{a}{_DASH}{b}" for a, b in runs]
    return ("week " if len(active) == 1 else "weeks ") + ", ".join(parts)


# --------------------------------------------------------------------------------------------
# the page's sections, as plain data for the template


def _plans(sc: Scenario, plans: Sequence[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The plans as cards, and their weekly budget by channel (the sum of the campaigns' budgets) as a table."""
    horizon = sc.scenario.weeks
    channel_order = list(sc.channels)
    cards = []
    budgets: list[dict[str, dict[str, Any]]] = []
    for pid in plans:
        plan = sc.plans[pid]
        by_channel: dict[str, dict[str, Any]] = {}
        for camp in plan.campaigns:
            # as the engine does: a campaign runs its windows (default the horizon) at a weekly rate
            windows = camp.windows_or_empty or [(0, horizon)]
            active = sum(e - s for s, e in windows)
            weekly = camp.weekly if camp.weekly is not None else (camp.total or 0.0) / active
            ch = by_channel.setdefault(camp.channel, {"weekly": 0.0, "total": 0.0, "windows": []})
            ch["weekly"] += weekly
            ch["total"] += weekly * active
            ch["windows"].extend(windows)
        budgets.append(by_channel)
        cards.append(
            {
                "name": plan.name or pid,
                "description": plan.description,
                "campaigns": len(plan.campaigns),
                "weekly": _fmt(sum(v["weekly"] for v in by_channel.values()), "m"),
                "total": _fmt(sum(v["total"] for v in by_channel.values()), "m"),
            }
        )
    used = [c for c in channel_order if any(c in b for b in budgets)]
    rows = []
    for cid in used:
        cells = []
        for b in budgets:
            v = b.get(cid)
            if v is None:
                cells.append({"value": _DASH, "weeks": ""})
                continue
            weeks = _weeks(v["windows"], horizon)
            cells.append({"value": _fmt(v["weekly"], "m"), "weeks": "" if weeks.startswith("all ") else weeks})
        rows.append({"name": sc.channels[cid].name or cid, "cells": cells})
    table = {"plans": [c["name"] for c in cards], "rows": rows}
    return cards, table


def _comparison(result: Result) -> dict[str, Any]:
    """The plan comparison table: metric rows in groups, one column per plan, CI half-widths."""
    sc = result.scenario
    cur = sc.scenario.currency
    totals = result.summary[result.summary.segment == "all"].set_index("plan")
    rows_by_plan = {p: totals.loc[p].to_dict() for p in result.plans}
    groups: list[dict[str, Any]] = []
    for group, rows in ROWS:
        body: list[dict[str, Any]] = []
        for col, label, kind in rows:
            cells = [
                {"value": _fmt(rows_by_plan[p].get(col), kind), "ci": _half_width(rows_by_plan[p], col, kind)}
                for p in result.plans
            ]
            body.append({"label": label, "unit": cur if kind == "m" else "", "cells": cells})
        groups.append({"label": group, "rows": body})
    has_ci = any(cell["ci"] for g in groups for row in g["rows"] for cell in row["cells"])
    return {"plans": [sc.plans[p].name or p for p in result.plans], "groups": groups, "has_ci": has_ci}


def _segments(sc: Scenario) -> list[dict[str, Any]]:
    """One persona card per segment."""
    cur = sc.scenario.currency
    cards = []
    for sid, seg in sc.segments.items():
        cards.append(
            {
                "id": sid,
                "name": seg.name,
                "share": f"{_num(round(100 * seg.share, 1))}%",
                "people": _fmt(seg.share * sc.scenario.population, "n"),
                "wants": seg.persona.wants,
                "where": list(seg.persona.where),
                "how": list(seg.persona.how),
                "say": seg.persona.say,
                "time": _time_before_purchase(seg),
                "order_value": f"{_fmt(seg.order_value.mean, 'm')} {cur}",
                "order_cv": _num(seg.order_value.cv),
                "margin": f"{100 * seg.margin:.0f}%",
            }
        )
    return cards


def _time_before_purchase(seg: Segment) -> str:
    said = seg.persona.time_before_purchase
    if seg.time_before_purchase_weeks is None:
        return said
    lo, hi = seg.time_before_purchase_weeks
    weeks = f"{lo:g} weeks" if lo == hi else f"{lo:g}{_DASH}{hi:g} weeks"
    return f"{said} ({weeks})" if said else weeks


def _channel_row(cid: str, ch: Channel, currency: str) -> dict[str, Any]:
    kind = ch.cost.model_kind
    price = float(getattr(ch.cost, kind))
    shown = f"{price:,.0f}" if price.is_integer() else f"{price:,.2f}"
    return {
        "name": ch.name or cid,
        "cost": f"{_COST_MODEL[kind]} {shown} {currency}",
        "unit": ch.cost.unit,
        "stages": ", ".join(ch.stages),
        "requires": _REQUIRES.get(ch.requires, ch.requires),
        "decay": _num(ch.adstock.decay),
        "half": _num(ch.saturation.half),
        "slope": _num(ch.saturation.slope),
        "cap": f"{ch.frequency_cap} a week",
        "carryover": _num(ch.carryover.rate),
    }


def default_assumptions(result: Result) -> list[str]:
    """The assumptions every cjmsim run rests on, in words a board can read."""
    sc = result.scenario
    s = sc.scenario
    weight = s.population / result.agents
    text = [
        f"The customers are synthetic: {result.agents:,} simulated people stand for a population of "
        f"{s.population:,.0f} (each stands for {weight:,.4g} real people), grown from the segments and personas "
        "of the scenario. The results are as good as those descriptions; they are a what-if, not a forecast.",
        f"Time moves in weekly steps over {result.weeks} weeks; within a week, spend, exposure and moves "
        "through the funnel happen once, in a fixed order.",
        "Every plan was simulated on the same synthetic people with the same luck (common random numbers), "
        "so differences between plans come from the plans, not from noise.",
    ]
    if result.reps > 1:
        text.append(
            f"Each number is the mean of {result.reps} independent replications; \u00b1 is the half-width of its "
            "95% confidence interval (Student's t), the uncertainty due to simulation noise only, not to the "
            "assumptions of the scenario."
        )
    else:
        text.append(
            "This is a single replication, so no confidence intervals are shown; run with several replications "
            "(for example --reps 5) to see how much of a difference is simulation noise."
        )
    text.append(
        "Spend is what was actually bought: a channel stops at its budget and cannot deliver more than its "
        "audience absorbs under the frequency cap, so spend can be slightly below the planned budget."
    )
    text.append(
        "Revenue, margin and ROMI count every order in the period, including repeat orders of existing "
        "customers; compare with a plan without marketing to see what the money adds."
    )
    if s.warmup_weeks > 0:
        wp = s.warmup_plan
        under = f"the plan \u201c{sc.plans[wp].name or wp}\u201d" if wp is not None else "no marketing"
        text.append(
            f"Before week 0 the model ran {s.warmup_weeks} warm-up weeks under {under}, so the funnel is not "
            "empty at the start; they are not counted in any number."
        )
    text.append(
        "Counts of aware people, leads and new customers are entries into a stage: a person whose need comes "
        "back after being lost can count twice. Reached counts unique people."
    )
    text.append("docs/model.md in the cjmsim project defines every formula and every metric.")
    return text


def _images(images: Sequence[ReportImage]) -> list[dict[str, Any]]:
    out = []
    for img in images:
        size = img.size
        out.append(
            {
                "slug": img.slug,
                "title": img.title,
                "caption": img.caption,
                "src": img.data_uri,
                "width": size[0] if size else None,
                "height": size[1] if size else None,
            }
        )
    return out


# --------------------------------------------------------------------------------------------
# rendering


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("cjmsim.presentation", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(
    result: Result,
    images: Sequence[ReportImage],
    assumptions: Sequence[str] | None = None,
    *,
    generated: date | None = None,
) -> str:
    """Render the run report as one self-contained HTML page.

    Args:
        result: what :func:`cjmsim.simulate` returned.
        images: the charts, in the order they should appear (see :class:`ReportImage`).
        assumptions: the "Assumptions" section, one item each; default :func:`default_assumptions`.
        generated: the report's date; default today.

    Returns:
        the HTML page: inline CSS, images as data URIs, no script, nothing loaded from the network.
    """
    sc = result.scenario
    s = sc.scenario
    plans, budget = _plans(sc, result.plans)
    context = {
        "title": s.name,
        "description": s.description,
        "facts": [
            ("Date", (generated or date.today()).isoformat()),
            ("Horizon", f"{result.weeks} weeks"),
            ("Plans", str(len(result.plans))),
            ("Segments", str(len(sc.segments))),
            ("Population", _fmt(s.population, "n")),
            ("Agents", f"{result.agents:,}"),
            ("Replications", str(result.reps)),
            ("Seed", str(result.seed)),
            ("Currency", s.currency),
            ("cjmsim", __version__),
        ],
        "currency": s.currency,
        "weeks": result.weeks,
        "reps": result.reps,
        "plans": plans,
        "budget": budget,
        "table": _comparison(result),
        "images": _images(images),
        "segments": _segments(sc),
        "channels": [_channel_row(cid, ch, s.currency) for cid, ch in sc.channels.items()],
        "assumptions": list(assumptions) if assumptions is not None else default_assumptions(result),
        "version": __version__,
    }
    return _environment().get_template("report.html.j2").render(**context)


def write_report(
    result: Result,
    images: Sequence[ReportImage],
    path: str | os.PathLike[str],
    assumptions: Sequence[str] | None = None,
) -> Path:
    """Render the report and write it to ``path`` atomically (UTF-8); returns the path.

    The folder is created if needed; a failed write leaves no partial file behind.
    """
    target = Path(path)
    return write_html(render_report(result, images, assumptions), target)


def write_html(html: str, path: str | os.PathLike[str]) -> Path:
    """Write a page atomically (temporary file, then rename), readable by everyone; returns its path."""
    return write_text(path, html)
