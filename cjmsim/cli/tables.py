"""The terminal's tables: rich Tables of a run, a sweep, an attribution and an optimization."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

from cjmsim.presentation import comparison
from cjmsim.presentation import format as fmt
from cjmsim.scenario.metrics import metric

from .common import plain

if TYPE_CHECKING:
    import pandas as pd

    from cjmsim.analyses.simulate import Result
    from cjmsim.scenario import Scenario

__all__ = [
    "ROWS",
    "attribution_table",
    "compact_cell",
    "comparison_table",
    "optimize_headline",
    "optimize_table",
    "sweep_table",
]


#: The comparison table's rows: the run report's (:data:`cjmsim.presentation.comparison.ROWS`), with the
#: registry's plain labels: (column, label, format code), n = count, m = money, p = percent,
#: w = weeks, r = ratio.
ROWS: list[tuple[str, str, str]] = [(col, metric(col).label, kind) for col, kind in comparison.COLUMNS]


def _cell(row: pd.Series, col: str, kind: str) -> str:
    """A comparison-table cell: the value, and its 95% CI half-width dimmed when there is one."""
    text = fmt.fixed(row[col], kind, missing="-")
    half = fmt.fixed_half_width(row.get(f"{col}_ci_low"), row.get(f"{col}_ci_high"), kind)
    return f"{text} [dim]{half}[/]" if half else text


def comparison_table(result: Result, segment: str = "all") -> Table:
    """Plans side by side for one segment (``all`` = totals), with 95% CIs when reps > 1."""
    s = result.summary
    rows = s[s.segment == segment].set_index("plan")
    cur = plain(result.scenario.scenario.currency)
    seg_name = "all segments" if segment == "all" else plain(result.scenario.segments[segment].name)
    title = f"{plain(result.scenario.scenario.name)}: {seg_name}, {result.weeks} weeks"
    if result.reps > 1:
        title += f", mean of {result.reps} replications ± 95% CI half-width"
    table = Table(title=title, title_justify="left")
    table.add_column("Metric")
    for plan in result.plans:
        name = result.scenario.plans[plan].name or plan
        table.add_column(plain(name), justify="right")
    for col, label, kind in ROWS:
        heading = f"{label}, {cur}" if kind == "m" else label
        table.add_row(heading, *[_cell(rows.loc[p], col, kind) for p in result.plans])
    return table


def sweep_table(result: Any, segment: str = "all") -> Table:
    """Per point and plan, the experiment's metrics with their 95% CI half-widths."""
    exp = result.experiment
    s = result.summary
    rows = s[s.segment == segment]
    params = [p.name for p in exp.spec.parameters]
    table = Table(
        title=f"{plain(exp.spec.experiment.name)}: {len(exp.points)} points x {len(exp.plans)} plans x "
        f"{exp.spec.experiment.reps} reps (mean ± 95% CI half-width)",
        title_justify="left",
    )
    for p in params:
        table.add_column(plain(p), justify="right")
    table.add_column("plan")
    shown = exp.spec.experiment.metrics
    for m in shown:
        table.add_column(metric(m).label, justify="right")
    for _, r in rows.iterrows():
        cells = [f"{r[p]:g}" if isinstance(r[p], float) else plain(r[p]) for p in params]
        cells.append(plain(r["plan"]))
        cells += [compact_cell(r, m, metric(m).code) for m in shown]
        table.add_row(*cells)
    return table


def compact_cell(row: pd.Series, col: str, kind: str) -> str:
    """A sweep, attribution or optimizer table cell, as the HTML reports write it: 3 significant
    digits, M and B, and the 95% CI half-width dimmed in the value's unit."""
    text = fmt.table_value(row[col], kind)
    half = fmt.half_width(row[col], row.get(f"{col}_ci_low"), row.get(f"{col}_ci_high"), kind)
    return f"{text} [dim]{half}[/]" if half else text


def attribution_table(attr: Any, currency: str) -> Table:
    """Per channel (all segments): spend, incremental and Shapley orders with 95% CIs, ROAS."""
    import pandas as pd  # loaded already by the analysis: only its NaN test is needed here

    t = attr.table[attr.table.segment == "all"]
    table = Table(
        title=f"Plan {plain(repr(attr.plan))}: what each channel adds (mean ± 95% CI; Shapley {attr.shapley})",
        title_justify="left",
    )
    shown = ("spend", "incremental_orders", "shapley_orders", "incremental_revenue", "incremental_cpo",
             "incremental_roas", "marginal_roas")  # fmt: skip
    cols = [(m.name, plain(m.heading(currency)), m.code) for m in map(metric, shown)]
    table.add_column("Channel")
    for _, label, _ in cols:
        table.add_column(label, justify="right")
    for _, r in t.iterrows():
        cells = [plain(r["channel"])]
        for col, _, kind in cols:
            cells.append(compact_cell(r, col, kind) if col in r.index and pd.notna(r[col]) else "-")
        table.add_row(*cells)
    return table


def optimize_table(sc: Scenario, final: Result, plans: list[str]) -> Table:
    """Plans on the fresh replications: orders, spend, CPO, revenue, ROMI with 95% CIs."""
    cur = sc.scenario.currency
    t = final.summary[final.summary.segment == "all"].set_index("plan")
    table = Table(
        title=f"Fresh replications ({final.reps} x {final.agents:,} agents; mean ± 95% CI)", title_justify="left"
    )
    shown = ("orders", "spend", "cpo", "revenue", "margin", "romi")
    cols = [(m.name, plain(m.heading(cur)), m.code) for m in map(metric, shown)]
    table.add_column("Plan", no_wrap=True)
    for _, label, _ in cols:
        table.add_column(label, justify="right")
    for p in plans:
        r = t.loc[p]
        table.add_row(plain(p), *[compact_cell(r, c, k) for c, _, k in cols])
    return table


def optimize_headline(opt: Any) -> str:
    """The verdict (the report's, from :mod:`cjmsim.presentation.optimize_text`), the agents used, then one
    line per compared plan: paired relative differences with 95% CIs."""
    from cjmsim.presentation.optimize_text import agents_note, headline, signed_money

    lines = [plain(headline(opt)) + ".", plain(agents_note(opt))]
    for other, g in opt.comparison.groupby("versus", sort=False):
        g = g.set_index("metric")
        parts = [
            f"{m} {g.loc[m, 'relative']:+.1%} [{g.loc[m, 'relative_ci_low']:+.1%}, {g.loc[m, 'relative_ci_high']:+.1%}]"
            for m in ("orders", "spend", "cpo", "margin")
        ]
        if "inc_net_margin" in g.index:
            r = g.loc["inc_net_margin"]
            parts.append(
                f"inc. margin less spend {signed_money(r.difference)} "
                f"[{signed_money(r.ci_low)}, {signed_money(r.ci_high)}]"
            )
        lines.append(f"{plain(opt.plan_name)} vs {plain(other)} (paired, 95% CI): " + ", ".join(parts))
    return "\n".join(lines)
