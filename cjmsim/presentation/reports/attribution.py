"""The HTML report of a channel attribution, and the writer of its charts.

:func:`write` saves every chart of :mod:`cjmsim.presentation.charts.attribution` (PNG and SVG)
and a self-contained ``report.html`` rendered from ``templates/attribution.html.j2`` (which extends
the reports' one base template) with autoescaping: images as data URIs, no script and nothing
fetched from the network. The page says what was attributed, how to read the numbers, the channel
table (segment ``all``) with 95% CI half-widths, the Shapley orders per segment, every chart and the assumptions
the counterfactuals rest on. Its numbers are those of ``attribution.csv``, written as in the sweep
report (3 significant digits with thousands separators, millions and billions as M and B, money in
the scenario's currency).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from cjmsim import __version__
from cjmsim.presentation import format as fmt
from cjmsim.presentation.charts.attribution import all_charts
from cjmsim.presentation.reports.html import ReportImage, chart_images, figures, render_page, value_cell, write_html
from cjmsim.presentation.reports.summary import attribution_summary
from cjmsim.scenario import metrics as registry

if TYPE_CHECKING:
    from cjmsim.analyses.attribution import Attribution
    from cjmsim.scenario import Scenario

__all__ = ["COLUMNS", "render", "write"]

#: The channel table, segment ``all``: (attribution.csv column, label, format). Formats as in
#: :data:`cjmsim.presentation.comparison.ROWS`: n = orders, m = money (in the scenario's currency), r = ratio. The
#: values are written as in the sweep report: 3 significant digits (means of samples), M and B.
COLUMNS: list[tuple[str, str, str]] = [
    (n, registry.metric(n).label, registry.metric(n).code)
    for n in (
        "spend",
        "incremental_orders",
        "incremental_revenue",
        "shapley_orders",
        "incremental_cpo",
        "incremental_roas",
        "marginal_roas",
    )
]
_TOTAL = "total"  # the table's row of the whole plan against no marketing
_NONE = pd.Series(dtype=float)  # a missing row: every cell a dash


def _reps(attr: Attribution) -> int:
    return int(attr.runs["rep"].nunique()) if "rep" in attr.runs else 1


def _rows(attr: Attribution, segment: str) -> dict[str, pd.Series]:
    """The table's rows of one segment, by channel (and ``total``)."""
    t = attr.table[attr.table.segment == segment].drop_duplicates("channel").set_index("channel")
    return {str(ch): row for ch, row in t.iterrows()}


def _shapley_column(attr: Attribution) -> str:
    """The column that shares out the plan's effect: Shapley orders, or incremental ones without Shapley values."""
    col = "shapley_orders"
    if col in attr.table and attr.table.loc[attr.table.channel != _TOTAL, col].notna().any():
        return col
    return "incremental_orders"


def _channel_table(attr: Attribution, sc: Scenario) -> dict[str, Any]:
    """Segment ``all``: one row per channel, and the whole plan against no marketing as the footer."""
    currency = sc.scenario.currency
    rows = _rows(attr, "all")
    shared = _shapley_column(attr)
    cols = [(col, label, kind) for col, label, kind in COLUMNS if col != "shapley_orders" or shared == col]
    body: list[dict[str, Any]] = []
    for ch in attr.channels:
        row = rows.get(ch, _NONE)
        body.append({"name": _name(sc, ch), "cells": [value_cell(row, col, kind) for col, _, kind in cols]})
    total = rows.get(_TOTAL, _NONE).copy()
    if len(total):
        # the plan's own return: its extra revenue per unit of all its spend. The channels' Shapley values
        # add up to its total effect exactly, replication by replication, so that is its Shapley column.
        # No +10% is run for the plan as a whole: no marginal ROAS.
        spend, revenue = total.get("spend"), total.get("incremental_revenue")
        total["incremental_roas"] = (
            revenue / spend if fmt.finite(spend) and fmt.finite(revenue) and spend > 0 else math.nan
        )
        if shared == "shapley_orders":
            for s in ("", "_ci_low", "_ci_high"):
                total[f"{shared}{s}"] = total.get(f"incremental_orders{s}")
    foot = [value_cell(total, col, kind) for col, _, kind in cols] if len(total) else []
    return {
        "heads": [{"col": col, "label": label, "unit": currency if kind == "m" else ""} for col, label, kind in cols],
        "rows": body,
        "total": foot,
        "has_ci": any(c["ci"] for r in body for c in r["cells"]),
    }


#: The whole plan against no marketing, as every command reports it (the registry's incremental metrics).
_PLAN_FIGURES = ("inc_orders", "icpo", "iromi", "inc_margin", "inc_revenue", "spend")


def _plan_figures(attr: Attribution, sc: Scenario) -> dict[str, Any]:
    """The page's lead: the plan's incremental orders, iCPO, iROMI, incremental margin and revenue and
    its spend (mean and 95% CI half-width), and its orders with those that would come anyway."""
    total = _rows(attr, "all").get(_TOTAL, _NONE)
    if "inc_orders" not in total:
        return {}
    currency = sc.scenario.currency
    figures = []
    for name in _PLAN_FIGURES:
        m = registry.metric(name)
        cell = value_cell(total, name, m.code)
        figures.append({"label": m.long_label, "unit": currency if m.money else "", **cell})
    orders, inc = total.get("orders"), total.get("inc_orders")
    anyway = orders - inc if fmt.finite(orders) and fmt.finite(inc) else math.nan
    return {
        "figures": figures,
        "orders": fmt.table_value(orders, "n"),
        "anyway": fmt.table_value(anyway, "n"),
        "share": fmt.percent(anyway / orders) if fmt.finite(anyway) and orders else "",
    }


def _agents(attr: Attribution, sc: Scenario) -> str:
    """What fewer agents than the scenario's run mean, and how far the plan's totals then are (or nothing)."""
    from cjmsim.presentation.reconciliation import agents_statement

    full = attr.scenario_agents or sc.scenario.agents
    return agents_statement(
        sc.scenario.agents,
        full,
        attr.reconciliation,
        plan_name=sc.plans[attr.plan].name or attr.plan,
        currency=sc.scenario.currency,
        how=f"run with --agents {full}",
    )


def _segment_table(attr: Attribution, sc: Scenario) -> dict[str, Any]:
    """Shapley orders (or incremental ones) by channel x segment, with every segment together last."""
    col = _shapley_column(attr)
    segments = [s for s in sc.segments if s in set(attr.table.segment)]
    by_segment = {s: _rows(attr, s) for s in [*segments, "all"]}
    rows: list[dict[str, Any]] = []
    for ch in attr.channels:
        rows.append(
            {
                "name": _name(sc, ch),
                "cells": [value_cell(by_segment[s].get(ch, _NONE), col, "n") for s in [*segments, "all"]],
            }
        )
    total = [value_cell(by_segment[s].get(_TOTAL, _NONE), "incremental_orders", "n") for s in [*segments, "all"]]
    return {
        "shapley": col == "shapley_orders",
        "segments": [sc.segments[s].name for s in segments],
        "rows": rows,
        "total": total if any(c["value"] != fmt.DASH for c in total) else [],
    }


def _name(sc: Scenario, channel: str) -> str:
    ch = sc.channels.get(channel)
    return (ch.name or channel) if ch is not None else channel


def _sampling_note(attr: Attribution) -> str:
    """For sampled Shapley values: the largest sampling standard error of the orders, in words."""
    col = "shapley_orders_sampling_se"
    if col not in attr.table:
        return ""
    t = attr.table[(attr.table.segment == "all") & (attr.table.channel != _TOTAL)]
    se = pd.to_numeric(t[col], errors="coerce").max()
    if not fmt.finite(se):
        return ""
    return (
        f"The Shapley values are {attr.shapley}: besides the replications' \u00b1, each carries a sampling "
        f"standard error of at most {fmt.table_value(se, 'n')} orders (all segments)."
    )


#: "How to read this": each measure of the page, in a sentence.
_READING: list[tuple[str, str]] = [
    (
        "Incremental",
        "What the plan loses if the channel is switched off: the plan minus the plan without that channel, "
        "run on the same synthetic customers with the same random numbers, so the difference is the "
        "channel's own doing. Channels that work together each count what they do together, so the "
        "incremental effects need not add up to the plan's total.",
    ),
    (
        "Shapley",
        "The plan's total effect (the plan minus no marketing at all) shared out among its channels: each "
        "channel gets what it adds when it joins the others, averaged over every order in which the channels "
        "could be added. The Shapley values add up to the total exactly, interactions included.",
    ),
    (
        "Marginal",
        "What 10% more budget on the channel would add, on the same customers and random numbers. Marginal "
        "ROAS is that extra revenue per unit of extra spend: above 1 the extra money comes back as sales, "
        "and it pays for itself in profit only above 1 \u00f7 the gross margin share of revenue.",
    ),
    (
        "Cost and return",
        "Incremental CPO is the channel's spend per incremental order; ROAS is its incremental revenue per "
        "unit of its spend. A dash means the number is undefined, e.g. a cost per order with no order.",
    ),
]


def _assumptions(attr: Attribution, sc: Scenario) -> list[str]:
    s = sc.scenario
    reps = _reps(attr)
    n = len(attr.channels)
    text = [
        f"Every number compares runs of the scenario \u201c{s.name}\u201d on {s.agents:,} synthetic people standing "
        f"for {s.population:,.0f} real ones over {s.weeks} weeks: the exact effect of each channel in the world "
        "the scenario describes, built from its personas and channel assumptions. It is a what-if, not an "
        "estimate from history and not a forecast.",
        "A counterfactual changes the plan and nothing else. In each replication every variant runs on the same "
        "synthetic people with the same random numbers (common random numbers), so the differences between "
        "variants come from the channels, not from noise. Switching a channel off removes its campaigns and "
        "leaves the others as they are: its money is not moved to another channel. The +10% variant raises the "
        "budget of each of the channel's campaigns by a tenth, in the same weeks.",
    ]
    ivs = sc.plans[attr.plan].interventions if attr.plan in sc.plans else []
    if ivs:  # non-media: not a channel, kept in every variant
        names = ", ".join(f"\u201c{iv.name}\u201d" for iv in ivs)
        text.append(
            f"The plan's interventions ({names}) are not channels: every variant keeps them, so a channel's "
            "contribution is measured with them in place, the channels' spend is media only, and the plan's "
            "own incremental metrics (its total row) are against no marketing and no interventions, their cost "
            "counted in its spend."
        )
    if s.warmup_weeks > 0:
        wp = s.warmup_plan
        under = f"the plan \u201c{sc.plans[wp].name or wp}\u201d" if wp is not None else "no marketing"
        text.append(
            f"Before week 0 every variant ran the same {s.warmup_weeks} warm-up weeks under {under}: a "
            "counterfactual changes the horizon, not the past, so every variant starts from the same funnel. "
            "The warm-up weeks are not counted in any number."
        )
    else:
        text.append(
            "There is no warm-up: every variant starts from the scenario's initial funnel, and a counterfactual "
            "changes the horizon only."
        )
    if attr.shapley == "exact":
        text.append(
            f"The Shapley values are exact: every one of the {2**n:,} combinations of the plan's {n} channels was run."
        )
    elif attr.shapley.startswith("sampled"):
        text.append(
            f"The Shapley values are estimated from random orders of the {n} channels ({attr.shapley}), not from "
            "every combination; attribution.csv holds their sampling standard errors "
            "(shapley_<metric>_sampling_se)."
        )
    else:
        text.append("No Shapley values were computed (--shapley none): the per-segment table shows incremental orders.")
    if reps > 1:
        text.append(
            f"Each number is the mean of {reps} replications; \u00b1 is the half-width of its 95% confidence "
            "interval (Student's t over replications, each replication's difference taken on its own random "
            "numbers). It measures simulation noise only, not the uncertainty of the scenario's assumptions."
        )
    else:
        text.append(
            "This is a single replication, so no confidence intervals are shown; run with several replications "
            "(for example --reps 3) to see how much of an effect is simulation noise."
        )
    text.append(
        "Spend is what was actually bought: a channel cannot deliver more than its audience absorbs, so spend "
        "can be below the planned budget, and an extra 10% may not be spent at all (no marginal ROAS). Orders "
        "and revenue count every order in the period, repeat orders included."
    )
    text.append(
        "docs/ground-truth.md in the cjmsim project explains the attribution and every column of attribution.csv."
    )
    return text


def render(
    attr: Attribution, scenario: Scenario, images: Sequence[ReportImage], *, generated: date | None = None
) -> str:
    """Render the attribution report as one self-contained HTML page (inline CSS, data-URI images, no script).

    Args:
        attr: what :func:`cjmsim.attribution.attribute` returned.
        scenario: the scenario as attributed (with the agents, weeks and seed of the runs), for names,
            the currency and the settings shown.
        images: the charts, in the order they should appear.
        generated: the report's date; default today.
    """
    sc = scenario
    s = sc.scenario
    plan = sc.plans[attr.plan]
    reps = _reps(attr)
    context = {
        "title": s.name,
        "description": s.description,
        "plan": plan.name or attr.plan,
        "plan_description": plan.description,
        "facts": [
            ("Plan", plan.name or attr.plan),
            ("Channels", str(len(attr.channels))),
            ("Segments", str(len(sc.segments))),
            ("Replications", str(reps)),
            ("Agents per run", f"{s.agents:,}"),
            ("Horizon", f"{s.weeks} weeks"),
            ("Seed", str(s.seed)),
            ("Shapley", attr.shapley),
            ("Date", (generated or date.today()).isoformat()),
            ("cjmsim", __version__),
        ],
        "summary": attribution_summary(
            attr, s.currency, {c: fmt.short_name(ch.name or c) for c, ch in sc.channels.items()}
        ),
        "reading": _READING,
        "whole": _plan_figures(attr, sc),
        "agents_note": _agents(attr, sc),
        "reps": reps,
        "weeks": s.weeks,
        "channels": _channel_table(attr, sc),
        "segments": _segment_table(attr, sc),
        "sampling": _sampling_note(attr),
        "images": figures(images),
        "assumptions": _assumptions(attr, sc),
        "version": __version__,
    }
    return render_page("attribution.html.j2", context)


def write(attr: Attribution, scenario: Scenario, folder: str | os.PathLike[str]) -> Path:
    """Write folder/charts/<slug>.png and .svg for every chart, and folder/report.html; returns the report's path.

    ``scenario`` is the scenario as attributed (see :func:`render`). The report is written whole (a
    temporary file renamed), so a failed write leaves no partial page.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    images = chart_images(all_charts(attr, scenario=scenario), out / "charts")
    return write_html(render(attr, scenario, images), out / "report.html")
