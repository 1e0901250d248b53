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

import os
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cjmsim import __version__
from cjmsim.analyses.metrics import ttp_against_stated
from cjmsim.presentation import format as fmt
from cjmsim.presentation import persona
from cjmsim.presentation.comparison import ROWS, rows_of
from cjmsim.presentation.reports.html import ReportImage, chart_images, figures, render_page, write_html
from cjmsim.presentation.reports.summary import run_summary
from cjmsim.presentation.spend import spend_table
from cjmsim.scenario import Channel, Scenario, Segment, trigger_rule

if TYPE_CHECKING:
    from cjmsim.analyses.simulate import Result

__all__ = [
    "JOURNEY_CHARTS",
    "ROWS",
    "ReportImage",
    "default_assumptions",
    "journey_section",
    "render",
    "render_report",
    "write",
    "write_html",
    "write_report",
]

_REQUIRES = {
    "none": "anyone in those stages",
    "visited": "people who once reached interest (site visitors)",
    "contact": "contacts: people who reached desire or bought",
}
_COST_MODEL = {"cpm": "CPM", "cpc": "CPC", "per_message": "per message", "cpa": "CPA", "cpl": "CPL"}


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
            ch = by_channel.setdefault(camp.channel, {"weekly": 0.0, "total": 0.0, "windows": [], "rules": []})
            if camp.trigger is not None:  # priced per message: no budget to add; its rule in words
                ch["rules"].append(f"triggered: {trigger_rule(camp)}")
                continue
            ch["weekly"] += weekly
            ch["total"] += weekly * active
            ch["windows"].extend(windows)
            if camp.start_when is not None:
                ch["rules"].append(trigger_rule(camp))
        budgets.append(by_channel)
        cards.append(
            {
                "name": plan.name or pid,
                "description": plan.description,
                "campaigns": len(plan.campaigns),
                "weekly": fmt.fixed(sum(v["weekly"] for v in by_channel.values()), "m"),
                "total": fmt.fixed(sum(v["total"] for v in by_channel.values()), "m"),
                "rules": _rules_note(plan.campaigns),
                "interventions": _interventions_note(plan.interventions, horizon),
            }
        )
    used = [c for c in channel_order if any(c in b for b in budgets)]
    rows = []
    for cid in used:
        cells = []
        for b in budgets:
            v = b.get(cid)
            if v is None:
                cells.append({"value": fmt.DASH, "weeks": ""})
                continue
            weeks = fmt.active_weeks(v["windows"], horizon) if v["windows"] else ""
            notes = ([] if weeks.startswith("all ") or not weeks else [weeks]) + v["rules"]
            value = fmt.fixed(v["weekly"], "m") if v["windows"] else fmt.DASH
            cells.append({"value": value, "weeks": "; ".join(notes)})
        rows.append({"name": sc.channels[cid].name or cid, "cells": cells})
    table = {"plans": [c["name"] for c in cards], "rows": rows}
    return cards, table


def _rules_note(campaigns: Sequence[Any]) -> str:
    """A plan card's note on its campaigns without a fixed budget: triggers (spend not in the budget) and
    thresholds (budget counted in full)."""
    triggers = sum(c.trigger is not None for c in campaigns)
    gated = sum(c.start_when is not None for c in campaigns)
    parts = []
    if triggers:
        parts.append(
            f"plus {triggers} lifecycle-trigger campaign{'s' if triggers != 1 else ''}, priced per message sent"
        )
    if gated:
        parts.append(f"{gated} campaign{'s' if gated != 1 else ''} waiting for its audience, counted in full")
    return "; ".join(parts)


def _interventions_note(interventions: Sequence[Any], horizon: int) -> str:
    """A plan card's note on its interventions: how many and their cost in the horizon (not in the media budget)."""
    if not interventions:
        return ""
    n = len(interventions)
    cost = sum(iv.booked(horizon) for iv in interventions)
    return f"plus {n} intervention{'s' if n != 1 else ''} costing {fmt.fixed(cost, 'm')} (not media; in its spend)"


#: The stages a trigger campaign's message is shown at (its event's stage; an order: customers and loyal).
_TRIGGER_STAGES = {"interest": ("interest",), "desire": ("desire",), "order": ("customer", "loyal"), "lost": ("lost",)}


def _fit_text(fits: dict[str, float]) -> str:
    """A message's fit at a campaign's stages: one number when the same at all, else per stage."""
    values = set(fits.values())
    if len(values) == 1:
        return fmt.setting(round(values.pop(), 3))
    return ", ".join(f"{st} {fmt.setting(round(f, 3))}" for st, f in fits.items())


def _interventions(result: Result) -> list[dict[str, Any]]:
    """Per plan with interventions: each one's name, the weeks it acts, its segments, its one-off and weekly
    cost, the cost booked in the horizon (interventions.csv) and what it changes, in words (empty: none)."""
    sc, table = result.scenario, result.interventions
    out = []
    for pid in result.plans:
        plan = sc.plans[pid]
        if not plan.interventions:
            continue
        rows = []
        for i, iv in enumerate(plan.interventions):
            booked = table[(table.plan == pid) & (table.intervention == i + 1)].cost
            segs = "all" if iv.segments is None else ", ".join(sc.segments[g].name or g for g in iv.segments)
            rows.append(
                {
                    "name": iv.name,
                    "weeks": fmt.active_weeks([(iv.start, iv.last_week(result.weeks))], result.weeks),
                    "segments": segs,
                    "one_off": fmt.fixed(iv.cost, "m"),
                    "weekly": fmt.fixed(iv.weekly_cost, "m") if iv.weekly_cost else fmt.DASH,
                    "cost": fmt.fixed(float(booked.iloc[0]) if len(booked) else iv.booked(result.weeks), "m"),
                    "changes": iv.effects(),
                }
            )
        out.append({"name": plan.name or pid, "rows": rows})
    return out


def _messages(sc: Scenario, plans: Sequence[str]) -> list[dict[str, Any]]:
    """Per plan with a messaged campaign: each campaign's message, its fit for each targeted segment at
    the stages the campaign reaches, and that segment's persona's "what to say" (empty: no messages)."""
    if not sc.messages:
        return []
    out = []
    for pid in plans:
        plan = sc.plans[pid]
        if not any(c.message is not None for c in plan.campaigns):
            continue
        rows = []
        for i, camp in enumerate(plan.campaigns):
            msg = sc.messages[camp.message] if camp.message is not None else None
            ch = sc.channels[camp.channel]
            if camp.trigger is not None:
                stages = [st for st in _TRIGGER_STAGES[camp.trigger.event]]
            else:
                stages = [st for st in ch.stages if camp.stages is None or st in camp.stages]
            label = camp.name or f"{ch.name or camp.channel} #{i + 1}"
            for sid in camp.segments or list(sc.segments):
                seg = sc.segments[sid]
                fits = {st: 1.0 if msg is None else msg.fit_of(sid, st) for st in stages}
                rows.append(
                    {
                        "campaign": label,
                        "message": "none (fit 1)" if msg is None else msg.name or str(camp.message),
                        "text": "" if msg is None else msg.text,
                        "segment": seg.name,
                        "fit": _fit_text(fits),
                        "say": seg.persona.say,
                    }
                )
        out.append({"name": plan.name or pid, "rows": rows})
    return out


#: How the run report names the odds an unsatisfying order multiplies (``satisfaction.unsatisfied`` keys).
_UNSATISFIED_WORDS = {"churn": "churn", "loyal": "becoming loyal", "repeat": "a repeat order", "return": "coming back"}


def _satisfaction_effect(seg: Segment) -> str:
    """What an unsatisfying order changes for a segment's customer, in words."""
    sat = seg.satisfaction
    assert sat is not None
    parts = [f"{_UNSATISFIED_WORDS[k]} \u00d7{v:g}" for k, v in sat.unsatisfied.items() if v != 1.0]
    text = "odds of " + ", ".join(parts) if parts else "no odds change"
    if sat.word_of_mouth != 0.0 and seg.word_of_mouth != 1.0:
        verb = "dampens" if sat.word_of_mouth < 0 else "adds to"
        text += (
            f"; each unsatisfied customer {verb} word of mouth (weight {sat.word_of_mouth:g} against a loyal one's 1)"
        )
    return text


def _satisfaction(result: Result) -> dict[str, Any]:
    """The satisfaction table (empty: no segment has a ``satisfaction`` table): per segment with one, its
    stated rate, what an unsatisfying order changes, and per plan the share of orders that satisfied and the
    unsatisfied customers (customers and loyal) at the end of the horizon."""
    sc = result.scenario
    segs = [(sid, seg) for sid, seg in sc.segments.items() if seg.satisfaction is not None]
    if not segs:
        return {}
    s, w = result.summary, result.weekly
    last = w[w.week == w.week.max()]
    rows = []
    for sid, seg in segs:
        assert seg.satisfaction is not None
        cells = []
        for p in result.plans:
            share = s[(s.plan == p) & (s.segment == sid)].satisfaction
            unsat = last[(last.plan == p) & (last.segment == sid)].unsatisfied_customers
            cells.append(
                {
                    "share": fmt.fixed(share.iloc[0] if len(share) else None, "p"),
                    "unsatisfied": fmt.fixed(unsat.iloc[0] if len(unsat) else None, "n"),
                }
            )
        rows.append(
            {
                "segment": seg.name,
                "rate": fmt.fixed(seg.satisfaction.rate, "p"),
                "effect": _satisfaction_effect(seg),
                "cells": cells,
            }
        )
    return {"plans": [sc.plans[p].name or p for p in result.plans], "rows": rows, "weeks": result.weeks}


def _comparison(result: Result, segment: str = "all") -> dict[str, Any]:
    """The plan comparison table of one segment (``all``: the totals): metric rows in groups, one
    column per plan, CI half-widths; the incremental group only when the run made its baseline."""
    sc = result.scenario
    cur = sc.scenario.currency
    s = result.summary
    rows_by_plan = {p: s[(s.plan == p) & (s.segment == segment)].iloc[0].to_dict() for p in result.plans}
    groups: list[dict[str, Any]] = []
    for group, rows in rows_of(result):
        body: list[dict[str, Any]] = []
        for col, label, kind in rows:
            cells = [
                {
                    "value": fmt.fixed(rows_by_plan[p].get(col), kind),
                    "ci": fmt.fixed_half_width(
                        rows_by_plan[p].get(f"{col}_ci_low"), rows_by_plan[p].get(f"{col}_ci_high"), kind
                    ),
                }
                for p in result.plans
            ]
            body.append({"metric": col, "label": label, "unit": cur if kind == "m" else "", "cells": cells})
        groups.append({"label": group, "rows": body})
    has_ci = any(cell["ci"] for g in groups for row in g["rows"] for cell in row["cells"])
    return {"plans": [sc.plans[p].name or p for p in result.plans], "groups": groups, "has_ci": has_ci}


def capacity_rows(result: Result) -> list[dict[str, str]]:
    """One row per plan x weekly order limit (the business's, each segment's own; docs/model.md, Capacity):
    the limit, mean and peak utilisation over the horizon, weeks at the limit and the refused orders.
    Empty when the scenario has no limit."""
    w = result.weekly
    if "capacity" not in w.columns:
        return []
    sc = result.scenario

    def own(seg: Segment) -> str:  # a segment's limit outside the business's is its own book
        return f"{seg.name} (its own book)" if seg.capacity is not None and seg.capacity.separate else seg.name

    apart = any(seg.capacity is not None and seg.capacity.separate for seg in sc.segments.values())
    business = "The business (the segments without a book of their own)" if apart else "All segments (the business)"
    names = {"all": business} | {k: own(seg) for k, seg in sc.segments.items()}
    rows = []
    for plan in result.plans:
        for seg, label in names.items():
            part = w[(w.plan == plan) & (w.segment == seg) & w.capacity.notna()]
            if part.empty:
                continue
            u = part.capacity_utilisation
            rows.append(
                {
                    "plan": sc.plans[plan].name or plan,
                    "limit": label,
                    "weekly": fmt.count(float(part.capacity.iloc[0])),
                    "mean": fmt.percent(float(u.mean())),
                    "peak": fmt.percent(float(u.max())),
                    "weeks": str(int((part.capacity_refused > 0).sum())),
                    "refused": fmt.count(float(part.capacity_refused.sum())),
                }
            )
    return rows


def _segments(sc: Scenario) -> list[dict[str, Any]]:
    """One persona card per segment."""
    cur = sc.scenario.currency
    cards = []
    for sid, seg in sc.segments.items():
        cards.append(
            {
                "id": sid,
                "name": seg.name,
                "share": f"{fmt.setting(round(100 * seg.share, 1))}%",
                "people": fmt.fixed(seg.share * sc.scenario.population, "n"),
                "wants": seg.persona.wants,
                "where": list(seg.persona.where),
                "how": list(seg.persona.how),
                "say": seg.persona.say,
                "time": _time_before_purchase(seg),
                "order_value": f"{fmt.fixed(seg.order_value.mean, 'm')} {cur}",
                "order_cv": fmt.setting(seg.order_value.cv),
                "margin": f"{100 * seg.margin:.0f}%",
            }
        )
    return cards


def _time_before_purchase(seg: Segment) -> str:
    said = seg.persona.time_before_purchase
    if seg.time_before_purchase_weeks is None:
        return said
    lo, hi = seg.time_before_purchase_weeks
    weeks = f"{lo:g} weeks" if lo == hi else f"{lo:g}{fmt.DASH}{hi:g} weeks"
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
        "decay": fmt.setting(ch.adstock.decay),
        "half": fmt.setting(ch.saturation.half),
        "slope": fmt.setting(ch.saturation.slope),
        "cap": f"{ch.frequency_cap} a week",
        "carryover": fmt.setting(ch.carryover.rate),
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


# --------------------------------------------------------------------------------------------
# the journey map (issue 12): budget and KPIs per segment x stage, per-segment results

#: The run charts the journey section shows (the others are in the charts section), in order.
JOURNEY_CHARTS = ("budget_by_stage", "exposure_heatmaps", "time_to_purchase_by_plan")
#: The journey table's stage rows, as a strategist names them.
_STAGE_LABELS = {
    "unaware": "Unaware",
    "aware": "Aware",
    "interest": "Interest (leads)",
    "desire": "Desire",
    "customer": "Customer (first order)",
    "loyal": "Loyal",
    "lost": "Lost (lapsed)",
}


def _journey_plan(result: Result, plan: str) -> dict[str, Any]:
    """One plan's journey table: a group of stage rows per segment (``all`` first)."""
    sc = result.scenario
    j = result.journey
    j = j[j.plan == plan]
    groups = []
    for seg in ["all", *sc.segments]:
        rows = j[j.segment == seg].set_index("stage")
        body = []
        for st, label in _STAGE_LABELS.items():
            r = rows.loc[st]
            cells = [
                fmt.fixed(r["people"], "n"),
                fmt.fixed(r["entries"], "n"),
                fmt.fixed(r["conversion"], "p"),
                fmt.fixed(r["spend"], "m"),
                fmt.fixed(r["cost_per_entry"], "m"),
            ]
            body.append({"stage": label, "cells": cells})
        name = "All segments" if seg == "all" else sc.segments[seg].name or seg
        spend = float(rows["spend"].sum())
        groups.append({"id": seg, "name": name, "rows": body, "spend": fmt.fixed(spend, "m")})
    return {"id": plan, "name": sc.plans[plan].name or plan, "groups": groups}


def _segment_table(result: Result, seg: str) -> dict[str, Any]:
    """One segment's results, plans side by side: the comparison table's rows, from summary.csv."""
    return {"id": seg, "name": result.scenario.segments[seg].name or seg, **_comparison(result, seg)}


def _ttp_note(result: Result) -> str:
    """Which segments' simulated median time to first order falls outside the persona's stated range
    (in the words of the terminal's warning, :mod:`cjmsim.presentation.persona`)."""
    sc = result.scenario
    facts = ttp_against_stated(result.ttp, sc.segments, result.plans)
    stated = facts[facts.outside.notna()]
    if not len(stated):
        return "No segment states a time before purchase in weeks, or none buys in the horizon."
    found = persona.warnings(result, clear=False)
    outside = sum(len(w.plans) for w in found)
    head = (
        "The simulated median weeks from first awareness to first order fall inside the persona's stated time "
        f"before purchase in {len(stated) - outside} of {len(stated)} segment \u00d7 plan pairs"
    )
    if not found:
        return head + "."
    return f"{head}; outside: {'; '.join(w.finding for w in found)}; {persona.basis(result)}."


def journey_section(result: Result, images: Sequence[ReportImage], first_figure: int = 1) -> dict[str, Any]:
    """The journey section's data: its figures (:data:`JOURNEY_CHARTS`, numbered from ``first_figure``),
    each plan's table of people, entries, conversion, spend and cost per entry by segment x stage,
    one results table per segment (summary.csv's rows, plans side by side), and the time-to-purchase note."""
    shown = [img for slug in JOURNEY_CHARTS for img in images if img.slug == slug]
    return {
        "images": figures(shown),
        "first_figure": first_figure,
        "plans": [_journey_plan(result, p) for p in result.plans] if not result.journey.empty else [],
        "plan_names": [result.scenario.plans[p].name or p for p in result.plans],
        "segments": [_segment_table(result, seg) for seg in result.scenario.segments],
        "ttp_note": _ttp_note(result),
        "currency": result.scenario.scenario.currency,
        "reps": result.reps,
    }


# --------------------------------------------------------------------------------------------
# rendering


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
            ("Population", fmt.fixed(s.population, "n")),
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
        "messages": _messages(sc, result.plans),
        "interventions": _interventions(result),
        "summary": run_summary(result),
        "table": _comparison(result),
        "satisfaction": _satisfaction(result),
        "images": figures([img for img in images if img.slug not in JOURNEY_CHARTS]),
        "journey": journey_section(result, images, 1 + sum(img.slug not in JOURNEY_CHARTS for img in images)),
        "spend": spend_table(result),  # templates/spend.html.j2
        "capacity": capacity_rows(result),
        "segments": _segments(sc),
        "channels": [_channel_row(cid, ch, s.currency) for cid, ch in sc.channels.items()],
        "assumptions": list(assumptions) if assumptions is not None else default_assumptions(result),
        "version": __version__,
    }
    return render_page("report.html.j2", context)


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


def render(result: Result) -> str:
    """The run report as one HTML page, its charts drawn in memory (no file is written): what ``write``
    writes as report.html, for a report handed out directly (cjmsim serve's comparison report)."""
    from cjmsim.presentation.charts.chart import png_bytes  # matplotlib only when charts are drawn
    from cjmsim.presentation.charts.run import all_charts

    images = [ReportImage(c.slug, c.title, c.caption, png_bytes(c.figure)) for c in all_charts(result)]
    return render_report(result, images)


def write(result: Result, folder: str | os.PathLike[str]) -> Path:
    """Write folder/charts/<slug>.png and .svg for every run chart, and folder/report.html; returns
    the report's path (as every analysis' report module does)."""
    from cjmsim.presentation.charts.run import all_charts  # matplotlib only when charts are drawn

    out = Path(folder)
    images = chart_images(all_charts(result), out / "charts")
    return write_report(result, images, out / "report.html")
