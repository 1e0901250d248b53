"""The metric registry: every metric a run reports, named once.

Each :class:`Metric` says what a column is called in tables, reports and running text, what it
measures, how to format it, which direction is better and how it is computed. :data:`METRICS`
holds the summary.csv columns after plan and segment, in their order; :data:`DERIVED_METRICS`
the columns the attribution and the optimizer derive from runs. Tables, charts and the metric
table of docs/model.md are built from here, and experiment files may name any summary metric.

Pure data: this module imports nothing but the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "DERIVED_METRICS",
    "HEADLINE_METRICS",
    "INCREMENTAL_METRICS",
    "KINDS",
    "METRICS",
    "SUMMARY_METRICS",
    "TOTAL_METRICS",
    "UNITS",
    "Better",
    "Kind",
    "Metric",
    "Unit",
    "UnknownMetricError",
    "metric",
    "metrics_table_markdown",
]

#: What a metric measures.
Unit = Literal["people", "orders", "money", "share", "weeks", "ratio"]
#: How a metric's value is written: a count, an amount of money, a percent, weeks or a ratio.
Kind = Literal["count", "money", "percent", "weeks", "ratio"]
#: Which direction is better; ``None``: neither (what a plan costs, how many people there are).
Better = Literal["higher", "lower"] | None

UNITS: tuple[str, ...] = get_args(Unit)
KINDS: tuple[str, ...] = get_args(Kind)
#: The one-letter format codes the tables' formatters use: n, m, p, w, r.
_CODES: dict[str, str] = {"count": "n", "money": "m", "percent": "p", "weeks": "w", "ratio": "r"}


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric: its column, its names, its unit and format, its better direction, its definition.

    Attributes:
        name: the column (summary.csv, or the attribution's and optimizer's tables).
        label: how a table row or column names it, e.g. ``CPO``, ``New customers``.
        unit: what it measures, one of :data:`UNITS`.
        kind: how to format it, one of :data:`KINDS`.
        better: ``"higher"``, ``"lower"`` or ``None`` (neither).
        definition: one sentence, the formula in words, as docs/model.md gives it.
        long_label: the label spelled out, for reports, e.g. ``CPO (cost per order)``.
        short: the name inside running text, chart titles and axes, e.g. ``new customers``.
    """

    name: str
    label: str
    unit: Unit
    kind: Kind
    better: Better
    definition: str
    long_label: str
    short: str

    @property
    def code(self) -> str:
        """The one-letter format code of :attr:`kind`: n count, m money, p percent, w weeks, r ratio."""
        return _CODES[self.kind]

    @property
    def money(self) -> bool:
        """Whether the value is an amount of money (a table adds the currency to its heading)."""
        return self.unit == "money"

    def heading(self, currency: str, long: bool = False) -> str:
        """The label with the currency for money, e.g. ``CPO, EUR``; ``long`` uses :attr:`long_label`."""
        label = self.long_label if long else self.label
        return f"{label}, {currency}" if self.money else label


def _m(
    name: str,
    label: str,
    unit: Unit,
    kind: Kind,
    better: Better,
    definition: str,
    long_label: str | None = None,
    short: str | None = None,
) -> Metric:
    """A metric whose long label defaults to its label and whose short name to its label in lower case."""
    return Metric(name, label, unit, kind, better, definition, long_label or label, short or label.lower())


_TTP = "weeks from a journey's entry into aware to its first order"

_SUMMARY: tuple[Metric, ...] = (
    _m("agents", "People", "people", "count", None, "People in the segment."),
    _m("reached", "Reached", "people", "count", "higher",
       "People exposed to any channel at least once in the horizon.", "Reached by a channel"),
    _m("aware", "Became aware", "people", "count", "higher",
       "Entries into aware: unaware -> aware plus lost -> aware (an agent returning twice counts twice).",
       short="newly aware"),
    _m("leads", "Leads", "people", "count", "higher", "Entries into interest."),
    _m("desire", "Reached desire", "people", "count", "higher", "Entries into desire."),
    _m("customers", "New customers", "people", "count", "higher",
       "First orders: desire -> customer transitions (a lost customer who returns and buys again counts again)."),
    _m("loyal", "Became loyal", "people", "count", "higher", "Entries into loyal.", short="loyal"),
    _m("orders", "Orders", "orders", "count", "higher", "All orders, first and repeat."),
    _m("repeat_orders", "Repeat orders", "orders", "count", "higher",
       "Orders that are not first orders: `orders - customers`."),
    _m("conversion", "Conversion (aware -> customer)", "share", "percent", "higher",
       "First orders in the horizon of journeys that became aware in the horizon, divided by `aware`.",
       "Conversion (aware \u2192 customer)", "conversion"),
    _m("ttp_median_weeks", "Time to purchase, median", "weeks", "weeks", "lower",
       f"Median of the {_TTP}.", "Time to purchase, median, weeks", "median time to purchase"),
    _m("ttp_mean_weeks", "Time to purchase, mean", "weeks", "weeks", "lower",
       f"Mean of the {_TTP}.", "Time to purchase, mean, weeks", "mean time to purchase"),
    _m("ttp_p10_weeks", "Time to purchase, 10th percentile", "weeks", "weeks", "lower",
       f"10th percentile of the {_TTP}.", "Time to purchase, 10th percentile, weeks",
       "10th percentile of time to purchase"),
    _m("ttp_p90_weeks", "Time to purchase, 90th percentile", "weeks", "weeks", "lower",
       f"90th percentile of the {_TTP}.", "Time to purchase, 90th percentile, weeks",
       "90th percentile of time to purchase"),
    _m("planned_spend", "Planned spend", "money", "money", None,
       "Planned spend of the plan: its campaigns' planned media spend plus its interventions' cost (on `all` rows "
       "only; empty for segments)."),
    _m("spend", "Spend", "money", "money", None,
       "What the plan cost: `media_spend + intervention_spend`; every cost metric below divides this."),
    _m("media_spend", "Media spend", "money", "money", None, "Media spend actually bought (the campaigns)."),
    _m("intervention_spend", "Intervention cost", "money", "money", None,
       "The interventions' cost booked in the horizon (one-off and running; docs/model.md, Interventions), split "
       "over the segments each acts on by population share."),
    _m("cpl", "CPL", "money", "money", "lower", "`spend / leads`; n/a when `spend = 0`.",
       "CPL (cost per lead)", "CPL"),
    _m("cpo", "CPO", "money", "money", "lower", "`spend / orders`; n/a when `spend = 0`.",
       "CPO (cost per order)", "CPO"),
    _m("cac", "CAC", "money", "money", "lower", "`spend / customers`; n/a when `spend = 0`.",
       "CAC (cost per new customer)", "CAC"),
    _m("revenue", "Revenue", "money", "money", "higher", "Sum of order values."),
    _m("margin", "Gross margin", "money", "money", "higher", "Gross margin: sum of `value * margin`."),
    _m("romi", "ROMI", "ratio", "percent", "higher", "`(margin - spend) / spend`.", short="ROMI"),
    _m("roas", "ROAS", "ratio", "ratio", "higher", "`revenue / spend`.", "ROAS (revenue / spend)", "ROAS"),
    _m("ltv", "LTV", "money", "money", "higher",
       "Margin of the orders in the `ltv_weeks` after (and including) each first order, divided by the first "
       "orders, over the acquisition weeks `0 .. weeks - ltv_weeks` whose window ends inside the horizon; "
       "empty when `ltv_weeks > weeks`.",
       "LTV (margin per new customer)", "LTV"),
    _m("ltv_cac", "LTV / CAC", "ratio", "ratio", "higher", "`ltv / cac`.", short="LTV/CAC"),
    _m("satisfaction", "Satisfied orders", "share", "percent", "higher",
       "Share of the orders that left the customer satisfied: `satisfied orders / (satisfied + unsatisfied)`, "
       "over the segments with a `satisfaction` table; empty without one.",
       "Satisfied orders (share of orders)", "satisfaction"),
)  # fmt: skip

_WITHOUT = (
    "the same customers and random numbers with no marketing (the counterfactual run of every "
    "`run`, sweep point, attribution and optimization)"
)

#: Incremental metrics: the plan against no marketing, replication by replication (paired).
_INCREMENTAL: tuple[Metric, ...] = (
    _m("inc_orders", "Incremental orders", "orders", "count", "higher",
       f"`orders` minus the orders of {_WITHOUT}.", "Incremental orders (over no marketing)", "incremental orders"),
    _m("inc_customers", "Incremental new customers", "people", "count", "higher",
       "`customers` minus the new customers with no marketing.", short="incremental new customers"),
    _m("inc_revenue", "Incremental revenue", "money", "money", "higher",
       "`revenue` minus the revenue with no marketing.", short="incremental revenue"),
    _m("inc_margin", "Incremental margin", "money", "money", "higher",
       "`margin` minus the gross margin with no marketing.", short="incremental margin"),
    _m("icpo", "iCPO", "money", "money", "lower",
       "`spend / inc_orders`: spend per incremental order; n/a when `spend = 0` or `inc_orders <= 0`.",
       "iCPO (spend per incremental order)", "iCPO"),
    _m("iroas", "iROAS", "ratio", "ratio", "higher",
       "`inc_revenue / spend`; n/a when `spend = 0`.", "iROAS (incremental revenue / spend)", "iROAS"),
    _m("iromi", "iROMI", "ratio", "percent", "higher",
       "`(inc_margin - spend) / spend`: the return on marketing; n/a when `spend = 0`.",
       "iROMI (incremental margin less spend, per spend)", "iROMI"),
)  # fmt: skip

_DERIVED: tuple[Metric, ...] = (
    _m("incremental_orders", "Orders the channel adds", "orders", "count", "higher",
       "The plan's orders minus those of the plan without the channel: what is lost if it is switched off.",
       "Orders the channel adds (lost without it)", "incremental orders"),
    _m("incremental_revenue", "Revenue the channel adds", "money", "money", "higher",
       "The plan's revenue minus that of the plan without the channel.", short="incremental revenue"),
    _m("incremental_margin", "Margin the channel adds", "money", "money", "higher",
       "The plan's gross margin minus that of the plan without the channel.", short="incremental margin"),
    _m("shapley_orders", "Shapley orders", "orders", "count", "higher",
       "The channel's Shapley value of orders: the plan's total effect shared among channels over every coalition.",
       short="Shapley orders"),
    _m("shapley_revenue", "Shapley revenue", "money", "money", "higher",
       "The channel's Shapley value of revenue.", short="Shapley revenue"),
    _m("shapley_margin", "Shapley margin", "money", "money", "higher",
       "The channel's Shapley value of gross margin.", short="Shapley margin"),
    _m("incremental_cpo", "Incremental CPO", "money", "money", "lower",
       "`spend / incremental_orders`; n/a when either is not above zero.", short="incremental CPO"),
    _m("incremental_roas", "Incremental ROAS", "ratio", "ratio", "higher",
       "`incremental_revenue / spend`.", short="incremental ROAS"),
    _m("marginal_roas", "Marginal ROAS (+10%)", "ratio", "ratio", "higher",
       "Extra revenue per extra spend when the channel's budget grows by 10%.", short="marginal ROAS"),
    _m("net_margin", "Gross margin less spend", "money", "money", "higher",
       "`margin - spend`: what the max-margin objective maximizes."),
    _m("inc_net_margin", "Incremental margin less spend", "money", "money", "higher",
       "`inc_margin - spend`: the margin a plan adds over no marketing, less what it costs; what the "
       "max-inc-margin objective maximizes."),
)  # fmt: skip

#: The summary metrics, name -> metric, in the order of summary.csv's columns after plan and segment
#: (the incremental ones last; absent from a run made with ``--no-baseline``).
METRICS: dict[str, Metric] = {m.name: m for m in (*_SUMMARY, *_INCREMENTAL)}
#: The incremental metrics: each plan against no marketing on the same customers and random numbers.
INCREMENTAL_METRICS: tuple[str, ...] = tuple(m.name for m in _INCREMENTAL)
#: The summary metrics every replication has, with or without the no-marketing counterfactual.
TOTAL_METRICS: tuple[str, ...] = tuple(m.name for m in _SUMMARY)
#: Columns the attribution and the optimizer derive from runs; not in summary.csv.
DERIVED_METRICS: dict[str, Metric] = {m.name: m for m in _DERIVED}
#: Columns of summary.csv after plan and segment, in order.
SUMMARY_METRICS: tuple[str, ...] = tuple(METRICS)
#: The few metrics a sweep prints and charts by default and an optimization compares its plans on.
HEADLINE_METRICS: tuple[str, ...] = ("orders", "customers", "spend", "cpo", "revenue", "margin", "romi")


class UnknownMetricError(KeyError):
    """A name that is no metric; the message suggests the closest names."""

    def __str__(self) -> str:
        return str(self.args[0])


def metric(name: str) -> Metric:
    """The metric called ``name``, summary or derived; :class:`UnknownMetricError` with a did-you-mean if none."""
    found = METRICS.get(name) or DERIVED_METRICS.get(name)
    if found is not None:
        return found
    from cjmsim.scenario.errors import did_you_mean  # only on this error path: errors loads pydantic

    known = [*METRICS, *DERIVED_METRICS]
    raise UnknownMetricError(f"unknown metric {name!r}{did_you_mean(name, known)}; metrics: {', '.join(known)}")


def metrics_table_markdown(metrics: tuple[Metric, ...] | None = None) -> str:
    """The metric table of docs/model.md: column, label, unit, better direction and definition, one row each."""
    rows = ["| metric | label | unit | better | definition |", "|---|---|---|---|---|"]
    for m in metrics if metrics is not None else tuple(METRICS.values()):
        rows.append(f"| `{m.name}` | {m.label} | {m.unit} | {m.better or 'neither'} | {m.definition} |")
    return "\n".join(rows)
