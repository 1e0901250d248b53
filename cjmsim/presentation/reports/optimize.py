"""The HTML report of a budget optimization, and the writer of its charts.

:func:`write` saves every chart of :mod:`cjmsim.presentation.charts.optimize` (PNG and SVG) and a
self-contained ``report.html`` rendered from ``templates/optimize.html.j2`` (which extends the
reports' one base template) with autoescaping: images as data URIs, no script and nothing fetched
from the network. The page says what was searched and under which constraints, the result on fresh
replications (paired relative differences with 95% CIs against the base plan and every compared
plan), the plans side by side, where the money moved (campaigns and cells), the optimized plan as a
TOML block to paste into the scenario, every chart and how to read it all. Numbers are written as in
the sweep report (3 significant digits with thousands separators, millions and billions as M and B,
money in the scenario's currency).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from cjmsim import __version__
from cjmsim.presentation import format as fmt
from cjmsim.presentation.charts.optimize import OBJECTIVE_METRIC, all_charts, campaign_budgets, headline, segment_names
from cjmsim.presentation.comparison import plan_totals
from cjmsim.presentation.format import budget_change as change
from cjmsim.presentation.optimize_text import agents_note
from cjmsim.presentation.reports.html import (
    ReportImage,
    chart_images,
    difference_cell,
    figures,
    render_page,
    value_cell,
    write_html,
)
from cjmsim.scenario import metrics as registry

if TYPE_CHECKING:
    from cjmsim.analyses.optimize import Optimization

__all__ = ["METRICS", "render", "write"]

#: The plans table and the headline, segment ``all``: (summary column, format, relative?). Formats as
#: in :data:`cjmsim.presentation.comparison.ROWS`: n = orders, m = money, p = percent. ROMI is a ratio that can be
#: negative, so its difference is in percentage points, not relative.
METRICS: list[tuple[str, str, bool]] = [
    (n, registry.metric(n).code, n not in ("romi", "iromi", "inc_net_margin"))
    for n in (
        "orders",
        "inc_orders",
        "spend",
        "cpo",
        "icpo",
        "revenue",
        "margin",
        "inc_margin",
        "inc_net_margin",
        "romi",
        "iromi",
    )
]
#: Each objective in words.
_GOALS = {
    "min-cpo": "the lowest cost per order",
    "max-orders": "the most orders",
    "max-margin": "the most gross margin after marketing spend",
    "max-inc-margin": "the most incremental margin (over no marketing) after marketing spend",
    "min-icpo": "the lowest cost per incremental order",
}
_SPLITS = {
    "none": "campaign (one budget each)",
    "segment": "segment",
    "stage": "stage",
    "segment,stage": "segment \u00d7 stage",
}


def _plan_name(opt: Optimization, plan: str) -> str:
    plans = opt.fresh.scenario.plans
    return (plans[plan].name or plan) if plan in plans else plan


def _money(opt: Optimization, x: Any) -> str:
    return f"{fmt.table_value(x, 'm')} {opt.scenario.scenario.currency}" if fmt.finite(x) else fmt.table_value(x, "m")


def _floor(opt: Optimization) -> str:
    s = opt.settings
    floor = s.get("orders_floor", 0.0)
    if s.get("keep_orders"):
        return f"the base plan's orders ({fmt.table_value(floor, 'n')})"
    return fmt.table_value(floor, "n") if fmt.finite(floor) and floor > 0 else "none"


def _revenue_floor(opt: Optimization) -> str:
    s = opt.settings
    floor = s.get("revenue_floor", 0.0)
    if s.get("keep_revenue"):
        return f"the base plan's revenue ({_money(opt, floor)})"
    return _money(opt, floor) if fmt.finite(floor) and floor > 0 else "none"


def _facts(opt: Optimization, generated: date | None) -> list[tuple[str, str]]:
    s = opt.settings
    low, high = s.get("bounds", (0.0, 3.0))
    return [
        ("Base plan", _plan_name(opt, opt.base_plan)),
        ("Objective", opt.objective),
        ("Budget", _money(opt, s.get("budget"))),
        ("Orders floor", _floor(opt)),
        ("Revenue floor", _revenue_floor(opt)),
        ("Bounds", f"\u00d7{low:g} to \u00d7{high:g} of each campaign"),
        ("Split by", _SPLITS.get(str(s.get("split")), str(s.get("split")))),
        ("Periods", str(s.get("periods", 1))),
        ("Budgets searched", str(s.get("variables", len(opt.variables)))),
        ("Search runs", f"{s.get('reps', 1)} \u00d7 {s.get('agents', opt.scenario.scenario.agents):,} agents"),
        ("Evaluations", f"{s.get('evaluations_used', len(opt.trace))} of {s.get('evaluations', '?')}"),
        ("Better allocation", "found" if opt.found else "none found: the optimized plan is the base plan"),
        ("Run time", fmt.duration(opt.seconds)),
        ("Fresh check", f"{opt.fresh.reps} \u00d7 {opt.fresh.agents:,} agents"),
        ("Scenario's run", f"{s.get('scenario_agents', opt.fresh.agents):,} agents"),
        ("Seed", str(s.get("seed", opt.scenario.scenario.seed))),
        ("Date", (generated or date.today()).isoformat()),
        ("cjmsim", __version__),
    ]


def _headline_table(opt: Optimization) -> dict[str, Any]:
    """Optimized minus each other plan, paired on the fresh replications: relative differences and their CIs.

    A relative difference needs the other plan's value above zero (no spend, no CPO: no ratio); then
    the cell gives the difference itself, in the metric's unit.
    """
    c = opt.comparison
    others = list(dict.fromkeys(c.versus)) if len(c) else []
    currency = opt.scenario.scenario.currency
    rows = []
    for metric, kind, relative in METRICS:
        if not (c.metric == metric).any():
            continue  # e.g. no incremental metrics without the no-marketing run
        cells = []
        for other in others:
            hit = c[(c.versus == other) & (c.metric == metric)]
            r = hit.iloc[0] if len(hit) else pd.Series(dtype=float)
            rel = relative and fmt.finite(r.get("relative"))
            keys = ("relative", "relative_ci_low", "relative_ci_high") if rel else ("difference", "ci_low", "ci_high")
            diff = pd.Series(
                {f"{metric}_diff{s}": r.get(k) for s, k in zip(("", "_ci_low", "_ci_high"), keys, strict=True)}
            )
            cell = difference_cell(diff, metric, "p" if rel else kind)
            if not rel and kind == "p":  # a difference of two percentages: percentage points
                cell = {k: v.replace("%", " pp") for k, v in cell.items()}
            elif not rel and kind == "m" and fmt.finite(r.get("difference")):
                cell["value"] += f" {currency}"
            cells.append({**cell, "absolute": not rel and fmt.finite(r.get("difference"))})
        rows.append({"label": registry.metric(metric).long_label, "cells": cells})
    return {"plans": [_plan_name(opt, p) for p in others], "rows": rows}


def _plans_table(opt: Optimization) -> dict[str, Any]:
    """The plans of the fresh re-evaluation side by side (segment ``all``), each value over its CI half-width."""
    tot = plan_totals(opt.fresh)
    plans = list(opt.fresh.plans)
    currency = opt.scenario.scenario.currency
    rows: list[dict[str, Any]] = [
        {
            "label": registry.metric(metric).long_label,
            "unit": currency if kind == "m" else "",
            "cells": [value_cell(tot.loc[p], metric, kind) for p in plans],
        }
        for metric, kind, _ in METRICS
        if metric in tot
    ]
    roles = {opt.base_plan: "base", opt.plan_name: "optimized"}
    return {
        "plans": [{"name": _plan_name(opt, p), "role": roles.get(p, "compared")} for p in plans],
        "rows": rows,
        "has_ci": any(cell["ci"] for row in rows for cell in row["cells"]),
    }


def _allocation(opt: Optimization) -> dict[str, Any]:
    """Campaigns with their base and optimized budgets, and the cells the optimized plan funds."""
    sc = opt.scenario
    camps = []
    for _, r in campaign_budgets(opt).iterrows():
        camps.append(
            {
                "name": r.campaign,
                "channel": sc.channels[r.channel].name or r.channel if r.channel in sc.channels else r.channel,
                "weeks": f"{r.weeks:.0f}",
                "base": fmt.table_value(r.base_weekly, "m"),
                "optimized": fmt.table_value(r.weekly, "m"),
                "change": change(r.base_weekly, r.weekly),
                "base_total": fmt.table_value(r.base_total, "m"),
                "total": fmt.table_value(r.total, "m"),
            }
        )
    v = opt.variables
    base, total = float(v.base_total.sum()), float(v.total.sum())
    periods = int(opt.settings.get("periods", 1)) > 1
    cells = []
    for _, r in v[v.weekly > 0].iterrows():
        cells.append(
            {
                "campaign": r.campaign,
                "segments": segment_names(opt, str(r.segments)),
                "stages": str(r.stages),
                "period": str(r.period),
                "weeks": str(r.weeks),
                "base": fmt.table_value(r.base_weekly, "m"),
                "optimized": fmt.table_value(r.weekly, "m"),
                "change": change(r.base_weekly, r.weekly),
            }
        )
    return {
        "campaigns": camps,
        "base_total": fmt.table_value(base, "m"),
        "total": fmt.table_value(total, "m"),
        "change": change(base, total),
        "budget": _money(opt, opt.settings.get("budget")),
        "cells": cells,
        "periods": periods,
        "cut": int(((v.weekly <= 0) & (v.base_weekly > 0)).sum()),
        "n_cells": len(v),
    }


def _marginal(opt: Optimization) -> list[dict[str, str]]:
    """Per funded campaign, past the optimum (x1.25 of its budget): the extra orders with their CI, and
    the cost per extra order and the incremental margin per extra unit of spend, each quoted only
    where its 95% CI supports it (else 'not distinguishable from zero at N replications')."""
    m = opt.marginal
    if not len(m):
        return []
    funded = set(opt.curves[opt.curves.optimized_weekly >= 1].campaign) if len(opt.curves) else set()
    cur = opt.scenario.scenario.currency
    rows = []
    for _, r in m[m.campaign.isin(funded)].iterrows():
        unsure = f"not distinguishable from zero at {int(r.reps)} replications"
        orders = fmt.table_value(r.extra_orders, "n")
        if fmt.finite(r.extra_orders_ci_low):
            low, high = (fmt.table_value(r[k], "n") for k in ("extra_orders_ci_low", "extra_orders_ci_high"))
            orders += f" [{low}, {high}]"
        cost = (
            f"{fmt.money(r.cost_per_extra_order, cur)} [{fmt.table_value(r.cost_ci_low, 'm')}, "
            f"{fmt.table_value(r.cost_ci_high, 'm')}]"
            if r.cost_supported
            else unsure
        )
        ret = (
            f"{r.return_per_extra_spend:.2f} [{r.return_ci_low:.2f}, {r.return_ci_high:.2f}]"
            if r.return_supported
            else unsure
        )
        rows.append({"campaign": str(r.campaign), "orders": orders, "cost": cost, "return": ret})
    return rows


def _reading(opt: Optimization) -> list[tuple[str, str]]:
    """'How to read this': what was searched and how, in a sentence or three each."""
    s = opt.settings
    base = _plan_name(opt, opt.base_plan)
    n, ncamp = s.get("variables", len(opt.variables)), len(campaign_budgets(opt))
    periods = int(s.get("periods", 1))
    low, high = s.get("bounds", (0.0, 3.0))
    floor = _floor(opt)
    flights = (
        f", and the {s.get('weeks')} weeks into {periods} flight periods with budgets of their own"
        if periods > 1
        else ""
    )
    metric = OBJECTIVE_METRIC[opt.objective][1]
    split = _SPLITS.get(str(s.get("split")), str(s.get("split")))
    reps, agents = s.get("reps", 1), s.get("agents", opt.scenario.scenario.agents)
    used, budget = s.get("evaluations_used", len(opt.trace)), s.get("evaluations", "?")
    return [
        (
            "What was searched",
            f"The {n} weekly budgets of \u201c{base}\u201d: each of its {ncamp} campaigns split by {split}{flights}. "
            "The channels, audiences and flights of the campaigns stay as they are; only the money moves. "
            f"The goal: {_GOALS[opt.objective]} ({opt.objective}). "
            f"The constraints: planned spend at most {_money(opt, s.get('budget'))}; each campaign's total between "
            f"\u00d7{low:g} and \u00d7{high:g} of its base total; orders floor: {floor}.",
        ),
        (
            "Common random numbers",
            f"Every candidate allocation was simulated on the same {reps} replication{'s' if reps != 1 else ''} of "
            f"{agents:,} synthetic people with the same random numbers, so two candidates differ only by their "
            f"budgets: the {metric} of a candidate is a repeatable function of the budgets, which a gradient search "
            "needs.",
        ),
        (
            "The search",
            "Evaluation 1 is the base plan itself, its campaigns as they are: a candidate keeps each base campaign "
            "at a level and adds a campaign per cell for the rest of that cell's budget, so at the start it is the "
            "base plan to the last digit. SciPy's SLSQP (sequential quadratic programming) then moves the budgets "
            "step by step. Its gradients are forward differences: each budget raised a little on its own, all those "
            "points simulated together (one step over n budgets costs n + 2 evaluations; fewer are refused). The "
            "budget and the bounds are linear constraints, the orders and revenue floors simulated ones. The best "
            "candidate seen that meets every constraint wins, gradient points included; if none beats the base "
            "plan, the result says no better allocation was found and the optimized plan is the base plan. It used "
            f"{used} of {budget} evaluations and stopped because: {opt.message}.",
        ),
        ("Agents", agents_note(opt)),
        (
            "Fresh replications",
            "The winner was picked on the search's random numbers, so its value there is flattered: among many "
            "candidates the one that looks best is partly the one that got lucky (the winner's curse). Every number "
            f"of the result and the plans table comes from a new simulation on {opt.fresh.reps} fresh replications of "
            f"{opt.fresh.agents:,} agents, of the base, optimized and compared plans together; differences are paired "
            "(each replication's own difference, then averaged), and \u00b1 is the half-width of the 95% confidence "
            "interval (Student's t). It measures simulation noise only, not the uncertainty of the scenario's "
            "assumptions.",
        ),
        (
            "Response curves",
            "Each campaign's budget scaled from 0 to \u00d72 of its optimum with the other campaigns held at the "
            f"optimum, on {opt.settings.get('curve_reps') or 2} replications (the search's first ones): the band is "
            "the 95% CI of orders. Where a curve flattens, more money there buys little. A marginal cost (spend per "
            "extra order from the optimum to \u00d71.25) is quoted only where its CI is finite, has a width and "
            "excludes zero; "
            "otherwise it is not distinguishable from zero at that number of replications. They show the "
            "neighbourhood of the optimum, not of the base plan.",
        ),
        (
            "Budgets",
            "A budget is per active week of its campaign, as weekly is written in the scenario; a campaign's change is "
            "that of its total. Spend is what was actually bought: a channel cannot deliver more than its audience "
            "absorbs, so spend can stay below the budget. Lowering CPO can mean spending less and selling less: an "
            "orders floor (--keep-orders or --min-orders) keeps the volume.",
        ),
    ]


def render(opt: Optimization, images: Sequence[ReportImage], *, generated: date | None = None) -> str:
    """Render the optimizer report as one self-contained HTML page (inline CSS, data-URI images, no script).

    Args:
        opt: what :func:`cjmsim.optimize.optimize` returned.
        images: the charts, in the order they should appear.
        generated: the report's date; default today.
    """
    s = opt.scenario.scenario
    context = {
        "title": s.name,
        "description": s.description,
        "plan": _plan_name(opt, opt.base_plan),
        "optimized": _plan_name(opt, opt.plan_name),
        "plan_id": opt.plan_name,
        "goal": _GOALS[opt.objective],
        "facts": _facts(opt, generated),
        "message": opt.message,
        "headline": headline(opt),
        "found": opt.found,
        "agents_note": agents_note(opt),
        "marginal": _marginal(opt),
        "result": _headline_table(opt),
        "plans": _plans_table(opt),
        "reps": opt.fresh.reps,
        "weeks": opt.fresh.weeks,
        "currency": s.currency,
        "allocation": _allocation(opt),
        "toml": opt.toml(),
        "images": figures(images),
        "reading": _reading(opt),
        "version": __version__,
    }
    return render_page("optimize.html.j2", context)


def write(opt: Optimization, folder: str | os.PathLike[str]) -> Path:
    """Save every optimizer chart (PNG and SVG) in folder/charts, then folder/report.html; returns the page's path.

    The page embeds the PNGs and is written atomically by :func:`cjmsim.presentation.reports.html.write_html`.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    images = chart_images(all_charts(opt), out / "charts")
    return write_html(render(opt, images), out / "report.html")
