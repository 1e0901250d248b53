"""The metric registry: every metric a run reports, named once.

Summary columns, tables, chart labels and docs/model.md's metric table are built from this list;
experiment files may name any of these metrics.
"""

from __future__ import annotations

__all__ = ["SUMMARY_METRICS"]

#: Columns of summary.csv after plan and segment, in order.
SUMMARY_METRICS: tuple[str, ...] = (
    "agents",
    "reached",
    "aware",
    "leads",
    "desire",
    "customers",
    "loyal",
    "orders",
    "repeat_orders",
    "conversion",
    "ttp_median_weeks",
    "ttp_mean_weeks",
    "ttp_p10_weeks",
    "ttp_p90_weeks",
    "planned_spend",
    "spend",
    "cpl",
    "cpo",
    "cac",
    "revenue",
    "margin",
    "romi",
    "roas",
    "ltv",
    "ltv_cac",
)
