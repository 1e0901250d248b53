"""What charts and reports say about a metric, and the plan totals they read from a run.

The words and directions of the summary's metrics, as the metric registry
(:mod:`cjmsim.scenario.metrics`) gives them, in the shapes the charts and reports read: :data:`ROWS`, the run report's
and terminal's comparison table; :data:`METRIC_LABELS`, every metric's label and kind (n count,
m money, p percent, w weeks, r ratio); :data:`LOWER_IS_BETTER` and :data:`NEUTRAL`, which way
each one is better; :func:`plan_totals`, a run's segment ``all`` by plan with cost ratios that a
plan without spend does not have.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from cjmsim.scenario.metrics import METRICS, metric

if TYPE_CHECKING:
    import pandas as pd

    from cjmsim.analyses.simulate import Result

__all__ = [
    "COLUMNS",
    "ROWS",
    "METRIC_LABELS",
    "SHORT",
    "LOWER_IS_BETTER",
    "NEUTRAL",
    "kind",
    "label",
    "short",
    "plan_totals",
]

#: The comparison table, in groups: (group, [(summary column, label, format)]). Formats: n = count
#: of people or orders, m = money, p = percent, w = weeks, r = ratio. The rows are those of the
#: terminal table (``cjmsim.cli.tables``), so the report and the terminal show the same numbers;
#: labels and formats come from the metric registry (:mod:`cjmsim.scenario.metrics`).
ROWS: list[tuple[str, list[tuple[str, str, str]]]] = [
    (group, [(n, metric(n).long_label, metric(n).code) for n in names])
    for group, names in (
        ("Funnel", ("agents", "reached", "aware", "leads", "customers", "orders", "conversion", "ttp_median_weeks")),
        ("Cost", ("spend", "cpl", "cpo", "cac")),
        ("Return", ("revenue", "margin", "romi", "ltv", "ltv_cac")),
    )
]

#: The same rows without their groups, for the terminal: (summary column, format).
COLUMNS: list[tuple[str, str]] = [(col, kind) for _, rows in ROWS for col, _, kind in rows]

#: Metric -> (label for tables, kind: n count, m money, p percent, w weeks, r ratio), from the registry.
METRIC_LABELS: dict[str, tuple[str, str]] = {n: (m.long_label, m.code) for n, m in METRICS.items()}
#: Short names for titles and axis labels.
SHORT: dict[str, str] = {n: m.short for n, m in METRICS.items()}
#: Metrics where less is better.
LOWER_IS_BETTER = frozenset(n for n, m in METRICS.items() if m.better == "lower")
#: Metrics neither better high nor low: spend is what a plan costs.
NEUTRAL = frozenset(n for n, m in METRICS.items() if m.better is None)
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
    tot.loc[~(tot.spend > 0), cost] = math.nan
    return tot
