"""What charts and reports say about a metric, and the plan totals they read from a run.

One place for the words and directions of the summary's metrics: :data:`ROWS`, the run report's
and terminal's comparison table; :data:`METRIC_LABELS`, every metric's label and kind (n count,
m money, p percent, w weeks, r ratio); :data:`LOWER_IS_BETTER` and :data:`NEUTRAL`, which way
each one is better; :func:`plan_totals`, a run's segment ``all`` by plan with cost ratios that a
plan without spend does not have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from cjmsim.analyses.simulate import Result

__all__ = ["ROWS", "METRIC_LABELS", "SHORT", "LOWER_IS_BETTER", "NEUTRAL", "kind", "label", "short", "plan_totals"]

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

#: Metric -> (label for tables, kind: n count, m money, p percent, w weeks, r ratio), as the run report.
METRIC_LABELS: dict[str, tuple[str, str]] = {
    **{col: (text, k) for _, rows in ROWS for col, text, k in rows},
    "desire": ("Reached desire", "n"),
    "loyal": ("Became loyal", "n"),
    "repeat_orders": ("Repeat orders", "n"),
    "ttp_mean_weeks": ("Time to purchase, mean, weeks", "w"),
    "ttp_p10_weeks": ("Time to purchase, 10th percentile, weeks", "w"),
    "ttp_p90_weeks": ("Time to purchase, 90th percentile, weeks", "w"),
    "planned_spend": ("Planned spend", "m"),
    "roas": ("ROAS (revenue / spend)", "r"),
}
#: Short names for titles and axis labels.
SHORT = {
    "cpo": "CPO",
    "cpl": "CPL",
    "cac": "CAC",
    "romi": "ROMI",
    "roas": "ROAS",
    "ltv": "LTV",
    "ltv_cac": "LTV/CAC",
    "customers": "new customers",
    "margin": "gross margin",
    "ttp_median_weeks": "median time to purchase",
}
#: Metrics where less is better; spend is what a plan costs, neither better nor worse.
LOWER_IS_BETTER = frozenset(
    {"cpl", "cpo", "cac", "ttp_median_weeks", "ttp_mean_weeks", "ttp_p10_weeks", "ttp_p90_weeks"}
)
NEUTRAL = frozenset({"agents", "spend", "planned_spend"})
#: Cost ratios: undefined for a plan without spend.
_COST_RATIOS = ("cpl", "cpo", "cac", "romi", "roas", "ltv_cac")


def kind(metric: str) -> str:
    """A metric's kind (n, m, p, w or r); n for a metric without a label."""
    return METRIC_LABELS.get(metric, (metric, "n"))[1]


def label(metric: str) -> str:
    """A metric's label for tables: 'CPO (cost per order)'; the column name for a metric without one."""
    return METRIC_LABELS.get(metric, (metric, "n"))[0]


def short(metric: str) -> str:
    """A metric's short name for titles: 'CPO', 'new customers', 'repeat orders'."""
    return SHORT.get(metric, metric.replace("_", " "))


def plan_totals(result: Result) -> pd.DataFrame:
    """The summary's ``all`` rows by plan, in the result's plan order; cost ratios NaN for a plan without spend."""
    s = result.summary
    tot = s[s.segment == "all"].set_index("plan").reindex(list(result.plans))
    # metrics report CPO 0 for a plan without spend, which would win every CPO comparison
    cost = [c for c in tot.columns if c.split("_ci_")[0] in _COST_RATIOS]
    tot.loc[~(tot.spend > 0), cost] = np.nan
    return tot
