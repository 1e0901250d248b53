"""Simulating candidates: one candidate plan on one replication is one task of the shared runner.

A task carries everything a worker needs (the search scenario as parsed TOML, about 16 kB for
hifi, pickled in well under a millisecond against the tenths of a second a simulation takes), so
the same task runs in this process, on a local pool or on any node of a Dask cluster. Every
candidate is simulated on the same replications (common random numbers), and replications are
averaged in replication order, so a candidate's totals never depend on where or in what order
its tasks ran.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cjmsim.analyses.metrics import summary_row
from cjmsim.analyses.tasks import Executor
from cjmsim.engine import WarmWorlds, run_forked
from cjmsim.scenario import Scenario, parse_scenario

if TYPE_CHECKING:
    from cjmsim.engine.step import World

__all__ = ["CANDIDATE", "INCREMENTAL", "TOTALS", "Candidate", "Simulator", "Totals", "evaluate", "mean_totals"]

#: A candidate's totals over the horizon: orders, customers, spend, planned spend, revenue, margin
#: and, against the no-marketing run of the same replication, inc_orders, inc_revenue, inc_margin.
Totals = dict[str, float]

#: The totals every evaluation has, as :func:`cjmsim.analyses.metrics.summary_row` computes them.
TOTALS = ("orders", "customers", "spend", "planned_spend", "revenue", "margin")
#: The incremental totals: the candidate's minus the no-marketing run's, replication by replication.
INCREMENTAL = ("inc_orders", "inc_revenue", "inc_margin")

#: The candidate plan's id; a plan of that id in the search scenario is its template (the base plan's
#: interventions, which every candidate keeps), its campaigns replaced by each candidate's.
CANDIDATE = "__candidate__"
_CANDIDATE = CANDIDATE


@dataclass(frozen=True)
class Candidate:
    """One candidate plan on one replication: what a worker needs to simulate it."""

    data: dict[str, Any]  # the search scenario, as parsed TOML
    seed: int
    rep: int
    campaigns: list[dict[str, Any]] | None  # None: no marketing, the counterfactual
    key: str  # its name on a cluster's dashboard


def evaluate(task: Candidate) -> Totals:
    """Simulate one candidate's campaigns on one replication: its totals, as ``summary_row`` gives them.

    The same function :func:`cjmsim.analyses.simulate.simulate` uses, on the same streams, so a
    candidate holding a plan's campaigns has exactly that plan's totals. The replication's warm-up is
    simulated once per process (:func:`_warm`) and every candidate forks it."""
    data = dict(task.data)
    plan = None
    if task.campaigns is not None:
        template = data["plans"].get(_CANDIDATE, {})
        data["plans"] = {**data["plans"], _CANDIDATE: {**template, "campaigns": task.campaigns}}
        plan = _CANDIDATE
    sc = parse_scenario(data, source="optimizer candidate")
    s = sc.scenario
    rec = run_forked(_warm(task, sc), plan, s.weeks, sc)
    row = summary_row(rec, slice(None), s.ltv_weeks)
    return {k: float(row[k]) for k in TOTALS}


#: Warm-up worlds this process keeps (one per search replication; 20,000 agents are a few MB each).
WARM_KEEP = 8
_WARM = WarmWorlds()


def _warm(task: Candidate, sc: Scenario) -> World:
    """The world of ``task``'s replication at week 0, simulated once per process and replication: every
    candidate shares the warm-up (the warm-up plan, the same random numbers), so each forks it
    (:func:`cjmsim.engine.run_forked`, bit for bit a run from the start). The key is the search scenario
    without the candidate plan, the seed and the replication."""
    plans = {k: v for k, v in task.data.get("plans", {}).items() if k != _CANDIDATE}
    text = json.dumps([{k: v for k, v in task.data.items() if k != "plans"}, plans], sort_keys=True, default=str)
    key = (hashlib.sha256(text.encode()).hexdigest(), task.seed, task.rep)
    return _WARM.world(key, sc, task.seed, task.rep, WARM_KEEP)


class Simulator:
    """Candidates' totals over the search replications, simulated on an executor.

    The no-marketing run of every replication is simulated once, on first use, and every
    candidate's incremental totals are taken against it (the same people and random numbers)."""

    def __init__(self, executor: Executor, data: dict[str, Any], seed: int, reps: int):
        self.executor = executor
        self.data = data
        self.seed = seed
        self.reps = reps
        self._without: list[Totals] | None = None

    def without(self) -> list[Totals]:
        """The no-marketing totals of every replication (simulated once)."""
        if self._without is None:
            tasks = [Candidate(self.data, self.seed, r, None, f"no-marketing-r{r}") for r in range(self.reps)]
            self._without = self.executor.map(evaluate, tasks)
        return self._without

    def per_rep(self, candidates: list[list[dict[str, Any]]]) -> list[list[Totals]]:
        """Each candidate's (campaign list's) totals on every replication, with the incremental ones."""
        without = self.without()
        tasks = [
            Candidate(self.data, self.seed, r, campaigns, f"candidate{j}-r{r}")
            for j, campaigns in enumerate(candidates)
            for r in range(self.reps)
        ]
        results = self.executor.map(evaluate, tasks)
        out = []
        for j in range(len(candidates)):
            reps = []
            for r, res in enumerate(results[j * self.reps : (j + 1) * self.reps]):
                inc = {f"inc_{k}": res[k] - without[r][k] for k in ("orders", "revenue", "margin")}
                reps.append({**res, **inc})
            out.append(reps)
        return out

    def totals(self, candidates: list[list[dict[str, Any]]]) -> list[Totals]:
        """Each candidate's totals, averaged over the replications in order."""
        return [mean_totals(reps) for reps in self.per_rep(candidates)]


def mean_totals(reps: list[Totals]) -> Totals:
    """The mean of replications' totals, summed in replication order (so it never depends on the executor)."""
    mean = dict.fromkeys(reps[0], 0.0)
    for res in reps:
        for k, v in res.items():
            mean[k] += v / len(reps)
    return mean
