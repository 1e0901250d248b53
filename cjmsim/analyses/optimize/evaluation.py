"""Simulating candidates: candidate plans on one replication, stepped together, are one task of the shared runner.

A task carries everything a worker needs (the search scenario as parsed TOML, about 16 kB for
hifi, pickled in well under a millisecond against the tenths of a second a simulation takes), so
the same task runs in this process, on a local pool or on any node of a Dask cluster. Every
candidate is simulated on the same replications (common random numbers), and replications are
averaged in replication order, so a candidate's totals never depend on where or in what order
its tasks ran. The candidates of a task step together (:func:`cjmsim.engine.run_forked_together`: the
week's random numbers drawn once for all of them), each bit for bit its own run.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cjmsim.analyses.metrics import summary_row
from cjmsim.analyses.tasks import Executor
from cjmsim.engine import WarmWorlds, run_forked_together
from cjmsim.scenario import Scenario, parse_scenario

if TYPE_CHECKING:
    from cjmsim.engine.step import World

__all__ = [
    "CANDIDATE",
    "INCREMENTAL",
    "TOTALS",
    "Candidate",
    "Candidates",
    "Simulator",
    "Totals",
    "evaluate",
    "evaluate_many",
    "mean_totals",
]

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


@dataclass(frozen=True)
class Candidates:
    """Candidate plans on one replication, stepped together: what a worker needs to simulate them."""

    data: dict[str, Any]  # the search scenario, as parsed TOML
    seed: int
    rep: int
    campaigns: list[list[dict[str, Any]] | None]  # each candidate's campaigns; None: no marketing
    key: str  # its name on a cluster's dashboard


def evaluate(task: Candidate) -> Totals:
    """Simulate one candidate's campaigns on one replication: its totals, as ``summary_row`` gives them.

    The same function :func:`cjmsim.analyses.simulate.simulate` uses, on the same streams, so a
    candidate holding a plan's campaigns has exactly that plan's totals. The replication's warm-up is
    simulated once per process (:func:`_warm`) and every candidate forks it."""
    return evaluate_many(Candidates(task.data, task.seed, task.rep, [task.campaigns], task.key))[0]


def evaluate_many(task: Candidates) -> list[Totals]:
    """:func:`evaluate` of each of ``task``'s candidates, stepped together (the week's random numbers drawn
    once for all of them); each candidate's totals are bit for bit its own :func:`evaluate`'s."""
    plans: list[str | None] = []
    scenarios: list[Scenario | None] = []
    for campaigns in task.campaigns:
        data = dict(task.data)
        plan = None
        if campaigns is not None:
            template = data["plans"].get(_CANDIDATE, {})
            data["plans"] = {**data["plans"], _CANDIDATE: {**template, "campaigns": campaigns}}
            plan = _CANDIDATE
        plans.append(plan)
        scenarios.append(parse_scenario(data, source="optimizer candidate"))
    sc = scenarios[0]
    assert sc is not None
    s = sc.scenario
    recs = run_forked_together(_warm(task, sc), plans, s.weeks, scenarios, lean=True)  # totals only
    out = []
    for rec in recs:
        row = summary_row(rec, slice(None), s.ltv_weeks)
        out.append({k: float(row[k]) for k in TOTALS})
    return out


#: Most candidates one task steps together; fewer when the workers would otherwise sit idle.
CANDIDATES_PER_TASK = 8


#: Warm-up worlds this process keeps (one per search replication; 20,000 agents are a few MB each).
WARM_KEEP = 8
_WARM = WarmWorlds()


def _warm(task: Candidate | Candidates, sc: Scenario) -> World:
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
    candidate's incremental totals are taken against it (the same people and random numbers).

    With ``draws`` (one search scenario per posterior draw, as parsed TOML), replication r is draw r:
    its candidates run on draw r's scenario and replication r's streams, and ``reps`` is the number
    of draws."""

    def __init__(
        self,
        executor: Executor,
        data: dict[str, Any],
        seed: int,
        reps: int,
        draws: list[dict[str, Any]] | None = None,
    ):
        self.executor = executor
        self.data = data
        self.seed = seed
        self.draws = draws
        self.reps = reps if draws is None else len(draws)
        self._without: list[Totals] | None = None

    def scenario_of(self, rep: int) -> dict[str, Any]:
        """The search scenario replication ``rep`` runs: the search's, or that of posterior draw ``rep``."""
        return self.data if self.draws is None else self.draws[rep]

    def without(self) -> list[Totals]:
        """The no-marketing totals of every replication (simulated once)."""
        if self._without is None:
            tasks = [Candidate(self.scenario_of(r), self.seed, r, None, f"no-marketing-r{r}") for r in range(self.reps)]
            self._without = self.executor.map(evaluate, tasks)
        return self._without

    def per_rep(self, candidates: list[list[dict[str, Any]]]) -> list[list[Totals]]:
        """Each candidate's (campaign list's) totals on every replication, with the incremental ones."""
        without = self.without()
        # the candidates of a replication step together in tasks, enough tasks to keep every worker busy
        workers = int(getattr(self.executor, "workers", 1))
        size = max(1, min(CANDIDATES_PER_TASK, math.ceil(len(candidates) * self.reps / max(workers, 1) / 2)))
        groups = [range(i, min(i + size, len(candidates))) for i in range(0, len(candidates), size)]
        tasks = [
            Candidates(
                self.scenario_of(r),
                self.seed,
                r,
                [candidates[j] for j in group],
                f"candidate{group[0]}+{len(group) - 1}-r{r}",
            )
            for group in groups
            for r in range(self.reps)
        ]
        results: dict[tuple[int, int], Totals] = {}
        for (group, r), got in zip(
            ((g, r) for g in groups for r in range(self.reps)), self.executor.map(evaluate_many, tasks), strict=True
        ):
            for j, res in zip(group, got, strict=True):
                results[j, r] = res
        out = []
        for j in range(len(candidates)):
            reps = []
            for r in range(self.reps):
                res = results[j, r]
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
