"""A run's plan comparison: the rows the report and the terminal show, and the plans' totals.

:data:`ROWS` is the comparison table in groups, :data:`COLUMNS` the same rows flat (the terminal's
order); their labels and formats come from the metric registry (:mod:`cjmsim.scenario.metrics`).
The incremental group leads; the totals follow, labelled as counting the orders that would come
with no marketing too (:func:`rows_of` drops the incremental group from a run without baseline).
:func:`plan_totals` is a run's segment ``all``, one row per plan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cjmsim.scenario.metrics import metric

if TYPE_CHECKING:
    import pandas as pd

    from cjmsim.analyses.simulate import Result

__all__ = ["COLUMNS", "INCREMENTAL", "ROWS", "SPEND_SPLIT", "plan_totals", "rows_of"]

#: The group of the incremental metrics: each plan against no marketing on the same customers.
INCREMENTAL = "Incremental: over no marketing, on the same customers"

#: The comparison table, in groups: (group, [(summary column, label, format)]). Formats: n = count
#: of people or orders, m = money, p = percent, w = weeks, r = ratio. The rows are those of the
#: terminal table (``cjmsim.cli.tables``), so the report and the terminal show the same numbers;
#: labels and formats come from the metric registry (:mod:`cjmsim.scenario.metrics`).
ROWS: list[tuple[str, list[tuple[str, str, str]]]] = [
    (group, [(n, metric(n).long_label, metric(n).code) for n in names])
    for group, names in (
        (INCREMENTAL, ("inc_orders", "inc_customers", "icpo", "inc_revenue", "inc_margin", "iroas", "iromi")),
        ("Funnel", ("agents", "reached", "aware", "leads", "customers", "orders", "conversion", "ttp_median_weeks")),
        ("Cost, including orders that would come anyway", ("planned_spend", "spend", "cpl", "cpo", "cac")),
        ("Return, including orders that would come anyway", ("revenue", "margin", "romi", "ltv", "ltv_cac")),
    )
]

#: The same rows without their groups, for the terminal: (summary column, format).
COLUMNS: list[tuple[str, str]] = [(col, kind) for _, rows in ROWS for col, _, kind in rows]


#: The rows that split ``spend`` when a plan of the run has interventions: media and the interventions' cost.
SPEND_SPLIT: list[tuple[str, str, str]] = [
    (n, metric(n).long_label, metric(n).code) for n in ("media_spend", "intervention_spend")
]


def rows_of(result: Result) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """:data:`ROWS` for this run: without the incremental group when it made no no-marketing run; when a
    plan has interventions, ``spend`` (their sum, which every cost ratio divides) is followed by its two parts."""
    split = any(result.scenario.plans[p].interventions for p in result.plans)
    out = []
    for g, rows in ROWS:
        if g == INCREMENTAL and not result.incremental:
            continue
        if split and any(col == "spend" for col, _, _ in rows):
            at = [col for col, _, _ in rows].index("spend") + 1
            rows = [*rows[:at], *SPEND_SPLIT, *rows[at:]]
        out.append((g, rows))
    return out


def plan_totals(result: Result) -> pd.DataFrame:
    """The summary's ``all`` rows by plan, in the result's plan order (cost ratios are NaN without spend)."""
    s = result.summary
    return s[s.segment == "all"].set_index("plan").reindex(list(result.plans))
