"""The sentence a sweep, attribution or optimizer page and its terminal say when they simulated fewer
agents than the scenario's run: that totals are scaled to the population but noisier, and how far
the base plan's totals then are from the run's (:class:`cjmsim.analyses.reconcile.Reconciliation`).
Pure text, shared by the HTML reports and the terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cjmsim.presentation import format as fmt

if TYPE_CHECKING:
    from cjmsim.analyses.reconcile import Reconciliation

__all__ = ["agents_statement"]


def agents_statement(
    agents: int,
    full_agents: int,
    rec: Reconciliation | None = None,
    *,
    plan_name: str = "",
    currency: str = "",
    how: str = "",
) -> str:
    """Empty when ``agents`` is the scenario's (``full_agents``) or more; else what fewer agents mean,
    and, with ``rec``, the base plan's orders and spend at both sizes (one run each).

    ``how`` says how to report at the run's size (e.g. ``--agents 200000``), for when ``rec`` is None.
    """
    if agents >= full_agents:
        return ""
    text = (
        f"{agents:,} agents per run (the scenario's run uses {full_agents:,}): totals are scaled to the "
        "population, but carry more sampling noise than the run's."
    )
    if rec is None:
        return text + (f" {how[0].upper() + how[1:]} to report at the run's size." if how else "")
    name = f"\u201c{plan_name or rec.plan}\u201d"
    money = f" {currency}" if currency else ""

    def cmp(flow: str, kind: str, unit: str) -> str:
        here, there = fmt.table_value(rec.small[flow], kind), fmt.table_value(rec.full[flow], kind)
        return f"{here}{unit} here vs {there}{unit} at {full_agents:,} agents ({fmt.signed_percent(rec.change(flow))})"

    return (
        f"{text} The base plan {name}, one run each (seed {rec.seed}, replication 0, {rec.weeks} weeks): "
        f"orders {cmp('orders', 'n', '')}; spend {cmp('spend', 'm', money)}. The run at {full_agents:,} agents "
        "was made only for this comparison."
    )
