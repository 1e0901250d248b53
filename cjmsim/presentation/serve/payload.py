"""What the live page shows, as JSON: the scenario's budget controls, and one edit's numbers, formatted.

Every number is formatted here by :mod:`cjmsim.presentation.format` (the run report's fixed style for
values, the executive summary's for paired effects) and every claim goes through
:mod:`cjmsim.presentation.verdict`, so the page says what the report and the terminal say. The page's
script only places these texts (as text, never as markup) and draws the charts from the raw series.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from cjmsim.analyses.whatif import EDITED, budget_limit, plan_weekly, weekly_budget
from cjmsim.presentation import format as fmt
from cjmsim.presentation import style
from cjmsim.presentation import verdict as vd
from cjmsim.presentation.reports.summary import NET, effect_cell, net_verdict, ratio_text
from cjmsim.scenario import STAGES, trigger_rule
from cjmsim.scenario import metrics as registry

if TYPE_CHECKING:
    import pandas as pd

    from cjmsim.analyses.simulate import Result
    from cjmsim.analyses.whatif import Size, WhatIf
    from cjmsim.scenario import Campaign, Scenario

__all__ = [
    "FUNNEL",
    "HEADLINE",
    "NO_MARKETING_COLOUR",
    "edit_payload",
    "reproduce_command",
    "size_text",
    "slider_max",
    "state_payload",
]

#: The headline KPIs, in order: incremental unless the label says the total includes orders that would come anyway.
HEADLINE = ("inc_orders", "cpo", "icpo", "inc_revenue", "inc_margin", "iromi", "spend")
#: The headline KPIs that are totals, not incremental: their label says so.
_TOTALS = ("cpo",)
_ANYWAY = ", including orders that would come anyway"
#: The funnel's rows: summary column and label (the run report's funnel chart's).
FUNNEL = (
    ("aware", "Aware"),
    ("leads", "Leads (interest)"),
    ("desire", "Desire"),
    ("customers", "Customers (action)"),
    ("loyal", "Loyal"),
)
#: The no-marketing run's colour in the page's charts (a plan's own colour is :func:`style.plan_colours`').
NO_MARKETING_COLOUR = "#9aa5b1"
_STAGE_LABELS = {"unaware": "Unaware", "customer": "Customer"}


def size_text(size: Size) -> str:
    """'10,000 agents, 5 replications' or '2,000 agents, 1 replication'."""
    return f"{size.agents:,} agents, {size.reps} replication{'s' if size.reps != 1 else ''}"


def slider_max(weekly: float, largest: float, limit: float) -> float:
    """A budget slider's top: a round number at least four times the campaign's budget and at least the plan's
    largest campaign's (so any campaign can be raised to the biggest one's level), within ``limit``."""
    top = max(4.0 * weekly, largest, 1000.0)
    step = 10 ** math.floor(math.log10(top))
    for m in (1, 2, 5, 10):
        if m * step >= top:
            return float(min(m * step, limit))
    return float(limit)  # pragma: no cover  (m = 10 always reaches top)


def _segment_names(scenario: Scenario, ids: list[str] | None) -> list[str]:
    return ["All segments"] if ids is None else [scenario.segments[s].name or s for s in ids]


def _control(scenario: Scenario, k: int, camp: Campaign, largest: float, limit: float) -> dict[str, Any]:
    """One campaign's control: what it is, its weekly budget and the slider's range (none for a trigger)."""
    weeks = scenario.scenario.weeks
    ch = scenario.channels[camp.channel]
    weekly = weekly_budget(camp, weeks)
    stages = [st for st in STAGES if st in set(camp.stages or ch.stages) & set(ch.stages)]
    windows = camp.windows_or_empty or [(0, weeks)]
    top = slider_max(weekly, largest, limit) if weekly is not None else 0.0
    return {
        "campaign": k,
        "name": camp.name or f"{ch.name or camp.channel} #{k}",
        "channel": camp.channel,
        "channel_name": ch.name or camp.channel,
        "segments": _segment_names(scenario, camp.segments),
        "stages": stages if camp.trigger is None else [],
        "weeks": fmt.active_weeks(windows, weeks),
        "weekly": weekly,
        "editable": weekly is not None,
        "max": top,
        "step": top / 1000 if top else 0.0,
        "note": f"lifecycle trigger: {trigger_rule(camp)}; priced per message, no budget" if weekly is None else "",
    }


def state_payload(whatif: WhatIf, reference: str, plan: str, file: str) -> dict[str, Any]:
    """The page's starting state: the scenario, the sizes it runs at, every plan with its campaigns as budget
    controls, the budget limit, and the reference and edited plan shown first."""
    sc = whatif.scenario
    s = sc.scenario
    weeks, limit = s.weeks, budget_limit(sc)
    plans = []
    for pid, p in sc.plans.items():
        budgets = [w for c in p.campaigns if (w := weekly_budget(c, weeks)) is not None]
        largest = max(budgets, default=0.0)
        total = plan_weekly(p, weeks)
        plans.append(
            {
                "id": pid,
                "name": p.name or pid,
                "description": p.description,
                "weekly": total,
                "weekly_text": f"{fmt.fixed(total, 'm')} {s.currency}",
                "interventions": len(p.interventions),
                "campaigns": [_control(sc, k, c, largest, limit) for k, c in enumerate(p.campaigns, start=1)],
            }
        )
    return {
        "title": s.name,
        "description": s.description,
        "currency": s.currency,
        "weeks": weeks,
        "population": fmt.fixed(s.population, "n"),
        "seed": whatif.seed,
        "file": file,
        "limit": limit,
        "sizes": [{"name": z.name, "agents": z.agents, "reps": z.reps, "text": size_text(z)} for z in whatif.sizes],
        "reference": reference,
        "plan": plan,
        "plans": plans,
    }


def _totals(result: Result, plan: str) -> pd.Series:
    s = result.summary
    return s[(s.plan == plan) & (s.segment == "all")].iloc[0]


def _value(row: pd.Series, col: str, kind: str) -> dict[str, Any]:
    """A plan's value as the run report writes it, with its 95% CI half-width ('' with one replication)."""
    v = row.get(col)
    return {
        "value": fmt.fixed(v, kind),
        "ci": fmt.fixed_half_width(row.get(f"{col}_ci_low"), row.get(f"{col}_ci_high"), kind),
        "raw": float(v) if fmt.finite(v) else None,
    }


def _kpis(result: Result, currency: str) -> list[dict[str, Any]]:
    """The headline KPIs: each plan's value and the edited plan's paired difference from the reference."""
    ref, edited = _totals(result, result.reference), _totals(result, EDITED)
    d = result.differences
    d = d[(d.plan == EDITED) & (d.segment == "all")].set_index("metric")
    rows = []
    for name in HEADLINE:
        meta = registry.metric(name)
        kind = meta.code
        r = d.loc[name]
        v = vd.verdict(r["diff"], r.diff_ci_low, r.diff_ci_high, int(r.reps), meta.better)
        cell = effect_cell(v, kind, ratio_text(r.ratio, r.ratio_ci_low, r.ratio_ci_high))
        rows.append(
            {
                "metric": name,
                "label": meta.long_label + (_ANYWAY if name in _TOTALS else ""),
                "unit": currency if meta.money else "",
                "reference": _value(ref, name, kind),
                "edited": _value(edited, name, kind),
                "diff": {**cell, "raw": float(r["diff"]) if fmt.finite(r["diff"]) else None},
                "said": _said(v, meta.short),
            }
        )
    return rows


def _said(v: vd.Verdict, on: str) -> str:
    """Why a difference makes no claim ('' when it does): one replication, or not distinguishable at this many."""
    if v.distinguishable:
        return ""
    if v.reps < 2:
        return "one replication: no confidence interval, no claim"
    return v.undecided("the edited plan", "the reference", on)


def _headline(result: Result, names: dict[str, str], currency: str) -> str:
    """The one claim the page makes: whether the edited plan's margin less spend beats the reference's, only
    where the paired 95% CI excludes zero."""
    v = net_verdict(result, EDITED, result.reference)
    a, b = names[EDITED], names[result.reference]
    if not v.distinguishable:
        return f"{fmt.sentence(NET)}: {_said(v, '') if v.reps < 2 else v.undecided(a, b)}."
    word = "more" if v.side == "higher" else "less"
    cell = effect_cell(v, "m", "")
    return f"{a} earns {word} {NET} than {b}: {cell['value']} {currency} ({cell['ci']} {currency})."


def _funnel(result: Result, names: dict[str, str]) -> dict[str, Any]:
    plans = [result.reference, EDITED]
    rows = [(names[p], _totals(result, p)) for p in plans]
    if result.no_marketing is not None:
        nm = result.no_marketing
        rows.append(("No marketing", nm[nm.segment == "all"].iloc[0]))
    return {
        "stages": [label for _, label in FUNNEL],
        "plans": [
            {
                "name": name,
                "values": [float(row[c]) for c, _ in FUNNEL],
                "texts": [fmt.fixed(row[c], "n") for c, _ in FUNNEL],
            }
            for name, row in rows
        ],
    }


def _cumulative(result: Result, names: dict[str, str]) -> dict[str, Any]:
    """Cumulative orders against cumulative spend (media and interventions), week by week, per plan."""
    w = result.weekly
    w = w[w.segment == "all"]
    spend_cols = [c for c in w.columns if c.startswith("spend_")] + ["intervention_spend"]
    out = []
    for p in (result.reference, EDITED):
        part = w[w.plan == p].sort_values("week")
        spend = part[spend_cols].sum(axis=1).cumsum()
        orders = part["orders"].cumsum()
        out.append({"name": names[p], "spend": [float(x) for x in spend], "orders": [float(x) for x in orders]})
    return {"plans": out}


def _budget(result: Result, names: dict[str, str]) -> dict[str, Any]:
    """Spend by segment x stage of the people reached (the journey table's), for both plans."""
    sc = result.scenario
    j = result.journey
    segs = list(sc.segments)
    tables = {}
    for p in (EDITED, result.reference):
        part = j[(j.plan == p) & (j.segment != "all")]
        grid = part.pivot(index="segment", columns="stage", values="spend").reindex(index=segs, columns=list(STAGES))
        tables[p] = grid.fillna(0.0)
    ed, ref = tables[EDITED], tables[result.reference]
    return {
        "segments": [sc.segments[s].name or s for s in segs],
        "stages": [_STAGE_LABELS.get(st, st.capitalize()) for st in STAGES],
        "values": [[float(x) for x in row] for row in ed.to_numpy()],
        "texts": [[fmt.fixed(x, "m") for x in row] for row in ed.to_numpy()],
        "reference": [[fmt.fixed(x, "m") for x in row] for row in ref.to_numpy()],
        "edited_name": names[EDITED],
        "reference_name": names[result.reference],
    }


def reproduce_command(file: str, plan_id: str, reference: str, size: Size, seed: int) -> str:
    """The ``cjmsim run`` that gives a size's numbers, once the saved plan block is appended to ``file``."""
    return (
        f"cjmsim run {file} --plan {reference} --plan {plan_id} --reference {reference} "
        f"--agents {size.agents} --reps {size.reps} --seed {seed}"
    )


def edit_payload(result: Result, size: Size, edited_name: str, elapsed: float, file: str) -> dict[str, Any]:
    """One edit's numbers at one size (``result`` from :meth:`cjmsim.analyses.whatif.WhatIf.outcome`): the
    headline KPIs with their paired differences, the one claim, the funnel, cumulative orders vs spend and
    the spend by segment x stage, each formatted for people (user text as data, to be shown as text)."""
    sc = result.scenario
    cur = sc.scenario.currency
    names = {result.reference: sc.plans[result.reference].name or result.reference, EDITED: edited_name}
    colours = style.plan_colours([*sc.plans, EDITED])
    notes = []
    if size.name == "preview":
        notes.append(f"Preview at {size_text(size)}: the full size follows.")
    if size.reps < 2:
        notes.append(
            "One replication: no confidence interval and no claim"
            + ("." if size.name == "preview" else "; start cjmsim serve with --reps 3 or more to compare.")
        )
    return {
        "stage": size.name,
        "size": {"agents": size.agents, "reps": size.reps, "text": size_text(size)},
        "elapsed": fmt.duration(elapsed),
        "reference": {"id": result.reference, "name": names[result.reference], "colour": colours[result.reference]},
        "edited": {"name": edited_name, "colour": colours[EDITED]},
        "no_marketing_colour": NO_MARKETING_COLOUR,
        "currency": cur,
        "kpis": _kpis(result, cur),
        "headline": _headline(result, names, cur),
        "notes": notes,
        "funnel": _funnel(result, names),
        "cumulative": _cumulative(result, names),
        "budget": _budget(result, names),
        "reproduce": reproduce_command(file, "NAME", result.reference, size, result.seed),
    }
