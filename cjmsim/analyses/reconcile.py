"""Reconciliation: how far an analysis run with fewer agents than the scenario is from the run's totals.

A sweep, an attribution or an optimization may simulate fewer agents than the scenario's ``agents``
to save time. Results are people, not agents (each agent stands for ``population / agents``), so
the totals are on the same scale, but a smaller population carries more sampling noise, and the
same plan then shows other totals than ``cjmsim run`` does. :func:`reconcile` runs the plan once at
the analysis's agents and once at the scenario's, on replication 0 of the same seed (what
``cjmsim run --reps 1`` simulates), so a page can say by how much they differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from cjmsim.analyses import metrics
from cjmsim.analyses.simulate import check_memory
from cjmsim.analyses.tasks import executor_for
from cjmsim.engine import make_streams, run_plan
from cjmsim.scenario import ArgumentError, Scenario, did_you_mean

__all__ = ["FLOWS", "Reconciliation", "fewer_agents", "reconcile"]

#: The totals compared.
FLOWS = ("orders", "spend", "revenue", "margin")


@dataclass(frozen=True)
class Reconciliation:
    """One plan's totals at an analysis's agents and at the scenario's (one run each, same seed).

    Attributes:
        plan: the plan compared.
        agents: the analysis's agents per run.
        full_agents: the scenario's ``agents`` (what ``cjmsim run`` simulates).
        weeks, seed: the horizon and seed of both runs (replication 0).
        small, full: the plan's totals (:data:`FLOWS`, all segments) at ``agents`` and ``full_agents``.
    """

    plan: str
    agents: int
    full_agents: int
    weeks: int
    seed: int
    small: dict[str, float]
    full: dict[str, float]

    def change(self, flow: str) -> float:
        """The relative difference of a total at the analysis's agents from the scenario's: small / full - 1."""
        full = self.full[flow]
        return self.small[flow] / full - 1 if full else float("nan")


def fewer_agents(scenario: Scenario, agents: int | None) -> bool:
    """Whether an analysis at ``agents`` per run simulates fewer agents than the scenario's run."""
    return agents is not None and agents < scenario.scenario.agents


def _run(job: tuple[Scenario, str, int]) -> dict[str, float]:
    """One run of a plan, replication 0: its totals."""
    sc, plan, threads = job
    s = sc.scenario
    rec = run_plan(sc, plan, make_streams(s.seed, 0, len(sc.segments)), s.agents, s.weeks, threads=threads)
    row = metrics.summary_row(rec, slice(None), s.ltv_weeks)
    return {k: float(row[k]) for k in FLOWS}


def reconcile(
    scenario: Scenario,
    plan: str,
    agents: int,
    *,
    weeks: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    scheduler: str | None = None,
) -> Reconciliation:
    """Run ``plan`` once at ``agents`` and once at the scenario's own agents (same seed, replication 0).

    ``scenario`` is the scenario as the user wrote it (its ``agents`` are the run's); ``weeks`` and
    ``seed`` override it for both runs, as the analysis did. Two runs, the larger one at the
    scenario's full size: call it only when the analysis used fewer agents (:func:`fewer_agents`).

    Raises:
        ArgumentError: ``plan`` is not a plan of the scenario, or the full-size run does not fit in memory.
    """
    if plan not in scenario.plans:
        raise ArgumentError("plan", f" {plan!r}: no such plan{did_you_mean(plan, list(scenario.plans))}")
    full = scenario.with_settings(weeks=weeks, seed=seed)
    small = full.with_settings(agents=agents)
    check_memory(full.scenario.agents, weeks=full.scenario.weeks)
    threads = max(1, 2 // max(workers, 1)) if scheduler is None else 1
    with executor_for(min(workers, 2), scheduler) as runner:
        at_small, at_full = runner.map(_run, [(small, plan, threads), (full, plan, threads)])
    s = full.scenario
    return Reconciliation(plan, agents, s.agents, s.weeks, s.seed, at_small, at_full)
