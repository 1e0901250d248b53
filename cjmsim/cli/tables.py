"""The terminal's tables: rich Tables of a run, a sweep, an attribution and an optimization."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rich.table import Table

from cjmsim.scenario.metrics import metric

if TYPE_CHECKING:
    import pandas as pd

    from cjmsim.analyses.simulate import Result
    from cjmsim.scenario import Scenario

__all__ = ["ROWS", "attribution_table", "comparison_table", "optimize_headline", "optimize_table", "sweep_table"]


#: The comparison table's metrics, in order; the run report shows the same rows.
_SHOWN = ("agents", "reached", "aware", "leads", "customers", "orders", "conversion", "ttp_median_weeks",
             "spend", "cpl", "cpo", "cac", "revenue", "margin", "romi", "ltv", "ltv_cac")  # fmt: skip

#: The comparison table's rows, from the metric registry: (column, label, format code), with the
#: codes n = count, m = money, p = percent, w = weeks, r = ratio.
ROWS: list[tuple[str, str, str]] = [(m.name, m.label, m.code) for m in map(metric, _SHOWN)]


def _fmt(v: float, kind: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if kind == "p":
        return f"{100 * v:,.1f}%"
    if kind == "w":
        return f"{v:,.1f}"
    if kind == "r":
        return f"{v:,.2f}"
    if kind == "m" and abs(v) < 100:
        return f"{v:,.2f}"
    return f"{v:,.0f}"


def _cell(row: pd.Series, col: str, kind: str) -> str:
    text = _fmt(row[col], kind)
    lo, hi = f"{col}_ci_low", f"{col}_ci_high"
    if lo in row.index and math.isfinite(row[lo]) and math.isfinite(row[hi]) and row[hi] > row[lo]:
        text += f" [dim]± {_fmt((row[hi] - row[lo]) / 2, kind)}[/]"
    return text


def comparison_table(result: Result, segment: str = "all") -> Table:
    """Plans side by side for one segment (``all`` = totals), with 95% CIs when reps > 1."""
    s = result.summary
    rows = s[s.segment == segment].set_index("plan")
    cur = result.scenario.scenario.currency
    seg_name = "all segments" if segment == "all" else result.scenario.segments[segment].name
    title = f"{result.scenario.scenario.name}: {seg_name}, {result.weeks} weeks"
    if result.reps > 1:
        title += f", mean of {result.reps} replications ± 95% CI half-width"
    table = Table(title=title, title_justify="left")
    table.add_column("Metric")
    for plan in result.plans:
        name = result.scenario.plans[plan].name or plan
        table.add_column(name, justify="right")
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
        title=f"{exp.spec.experiment.name}: {len(exp.points)} points x {len(exp.plans)} plans x "
        f"{exp.spec.experiment.reps} reps (mean ± 95% CI half-width)",
        title_justify="left",
    )
    for p in params:
        table.add_column(p, justify="right")
    table.add_column("plan")
    shown = exp.spec.experiment.metrics
    for m in shown:
        table.add_column(m, justify="right")
    for _, r in rows.iterrows():
        cells = [f"{r[p]:g}" if isinstance(r[p], float) else str(r[p]) for p in params]
        cells.append(str(r["plan"]))
        cells += [_compact_cell(r, m, metric(m).code) for m in shown]
        table.add_row(*cells)
    return table


def _compact(v: float, kind: str) -> str:
    if not math.isfinite(v):
        return "-"
    if kind == "p":
        return f"{100 * v:,.0f}%"
    a = abs(v)
    for threshold, div, suffix in ((1e9, 1e9, "B"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if a >= threshold:
            return f"{v / div:.3g}{suffix}"
    return f"{v:,.0f}" if a >= 100 else f"{v:.3g}"


def _compact_cell(row: pd.Series, col: str, kind: str) -> str:
    text = _compact(float(row[col]), kind)
    lo, hi = f"{col}_ci_low", f"{col}_ci_high"
    if lo in row.index and math.isfinite(row[lo]) and math.isfinite(row[hi]) and row[hi] > row[lo]:
        text += f" [dim]±{_compact((row[hi] - row[lo]) / 2, kind)}[/]"
    return text


def attribution_table(attr: Any, currency: str) -> Table:
    """Per channel (all segments): spend, incremental and Shapley orders with 95% CIs, ROAS."""
    import pandas as pd  # loaded already by the analysis: only its NaN test is needed here

    t = attr.table[attr.table.segment == "all"]
    table = Table(
        title=f"Plan {attr.plan!r}: what each channel adds (mean ± 95% CI; Shapley {attr.shapley})",
        title_justify="left",
    )
    shown = ("spend", "incremental_orders", "shapley_orders", "incremental_revenue", "incremental_cpo",
             "incremental_roas", "marginal_roas")  # fmt: skip
    cols = [(m.name, m.heading(currency), m.code) for m in map(metric, shown)]
    table.add_column("Channel")
    for _, label, _ in cols:
        table.add_column(label, justify="right")
    for _, r in t.iterrows():
        cells = [str(r["channel"])]
        for col, _, kind in cols:
            cells.append(_compact_cell(r, col, kind) if col in r.index and pd.notna(r[col]) else "-")
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
    cols = [(m.name, m.heading(cur), m.code) for m in map(metric, shown)]
    table.add_column("Plan", no_wrap=True)
    for _, label, _ in cols:
        table.add_column(label, justify="right")
    for p in plans:
        r = t.loc[p]
        table.add_row(p, *[_compact_cell(r, c, k) for c, _, k in cols])
    return table


def optimize_headline(opt: Any) -> str:
    """One line per compared plan: paired relative differences with 95% CIs."""
    lines = []
    for other, g in opt.comparison.groupby("versus", sort=False):
        g = g.set_index("metric")
        parts = [
            f"{m} {g.loc[m, 'relative']:+.1%} [{g.loc[m, 'relative_ci_low']:+.1%}, {g.loc[m, 'relative_ci_high']:+.1%}]"
            for m in ("orders", "spend", "cpo", "margin")
        ]
        lines.append(f"{opt.plan_name} vs {other} (paired, 95% CI): " + ", ".join(parts))
    return "\n".join(lines)
