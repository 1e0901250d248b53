"""The search: SLSQP over the decision variables, every evaluation a batch of simulations.

- :class:`Problem` holds the linear algebra of the variables: what a point costs, each campaign's
  total, the box bounds of every variable and the linear constraints (budget, campaign bounds).
- :class:`Objective` scores a candidate's totals against the base plan, and says which candidates
  are allowed (under the budget, within the campaign bounds, above the orders floor).
- :class:`Search` runs SciPy's SLSQP: it evaluates points in batches (a gradient's forward
  differences are one batch, simulated together on the executor), caches every evaluation,
  records the trace, keeps the best feasible point seen and stops when the evaluation budget is
  spent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from cjmsim.analyses.optimize.evaluation import Simulator, Totals, mean_totals
from cjmsim.analyses.optimize.variables import Variable, candidate_campaigns

__all__ = ["OBJECTIVE_VALUES", "Objective", "Problem", "Search", "SearchBudgetSpent", "natural", "point_key"]


class SearchBudgetSpent(Exception):
    """The evaluation budget is spent: stop the search."""


_Budget = SearchBudgetSpent


def point_key(x: np.ndarray) -> bytes:
    """A point's identity in the caches (to 9 decimals)."""
    return np.round(x, 9).tobytes()


_key = point_key


class Problem:
    """The decision variables' linear algebra: costs, campaign totals, bounds and linear constraints."""

    def __init__(
        self, variables: list[Variable], campaigns: int, budget: float | None, bounds: tuple[float, float], step: float
    ):
        self.n = len(variables)
        self.ncamp = campaigns
        self.low, self.high = bounds
        self.x0 = np.array([v.x0 for v in variables])
        scale = np.array([v.scale for v in variables])
        wk = np.array([v.weeks for v in variables], dtype=float)
        self.cost = scale * wk  # planned spend per unit of x
        self.base_planned = float(self.cost @ self.x0)
        self.budget = self.base_planned if budget is None else float(budget)
        self.camp_of = np.array([v.campaign for v in variables])
        self.camp_base = np.array([self.cost[self.camp_of == c] @ self.x0[self.camp_of == c] for c in range(campaigns)])
        # x -> campaign totals
        self.camp_matrix = (self.camp_of[None, :] == np.arange(campaigns)[:, None]) * self.cost[None, :]
        # active weeks of each campaign (per active week is how budgets are written)
        self.camp_weeks = np.ones(campaigns)
        for c in range(campaigns):
            wins = {w for v in variables if v.campaign == c for w in v.windows}
            self.camp_weeks[c] = max(sum(e - s for s, e in wins), 1)
        self.lo_b = np.zeros(self.n)
        # a cell may take up to `high` times its campaign's base budget in its period
        period_base = {(v.campaign, v.period): 0.0 for v in variables}
        for v, xi in zip(variables, self.x0, strict=True):
            period_base[v.campaign, v.period] += xi * v.scale * v.weeks
        self.hi_b = np.array(
            [max(self.high * period_base[v.campaign, v.period] / (v.scale * v.weeks), step) for v in variables]
        )

    def allowed(self, x: np.ndarray) -> bool:
        """Whether a point keeps to the budget and every campaign's bounds (to a rounding tolerance)."""
        tol = 1e-6 * self.budget
        if self.cost @ x > self.budget + tol:
            return False
        per_campaign = self.camp_matrix @ x  # a gradient point may step past a campaign's bound
        return not (
            (per_campaign > self.high * self.camp_base + tol).any()
            or (per_campaign < self.low * self.camp_base - tol).any()
        )

    def linear_constraints(self) -> list[dict[str, Any]]:
        """SLSQP's constraints for the budget and each campaign's bounds (scaled to about 1)."""
        cost, base_planned, budget, low, high = self.cost, self.base_planned, self.budget, self.low, self.high
        constraints: list[dict[str, Any]] = [
            {"type": "ineq", "fun": lambda x: (budget - cost @ x) / base_planned, "jac": lambda x: -cost / base_planned}
        ]
        for c in range(self.ncamp):
            m = (self.camp_of == c).astype(float) * cost
            if self.camp_base[c] <= 0:
                continue
            b = self.camp_base[c]
            constraints.append(
                {"type": "ineq", "fun": lambda x, m=m, b=b: (m @ x) / b - low, "jac": lambda x, m=m, b=b: m / b}
            )
            constraints.append(
                {"type": "ineq", "fun": lambda x, m=m, b=b: high - (m @ x) / b, "jac": lambda x, m=m, b=b: -m / b}
            )
        return constraints


#: Each objective's value on a candidate's totals, in natural units, and whether higher is better.
#: ``inc_net_margin`` is incremental margin less spend: (margin - margin with no marketing) - spend.
OBJECTIVE_VALUES: dict[str, tuple[str, bool]] = {
    "min-cpo": ("cpo", False),
    "max-orders": ("orders", True),
    "max-margin": ("net_margin", True),
    "max-inc-margin": ("inc_net_margin", True),
    "min-icpo": ("icpo", False),
}


def natural(e: Totals) -> dict[str, float]:
    """A candidate's objective values in natural units: CPO, orders, margin less spend, incremental
    margin less spend and iCPO (NaN where undefined: no spend, or no incremental orders)."""
    spend = e["spend"]
    return {
        "cpo": spend / e["orders"] if e["orders"] > 0 and spend > 0 else math.nan,
        "orders": e["orders"],
        "net_margin": e["margin"] - spend,
        "inc_net_margin": e["inc_margin"] - spend,
        "icpo": spend / e["inc_orders"] if e["inc_orders"] > 0 and spend > 0 else math.nan,
    }


class Objective:
    """What the search minimizes (normalised by the base plan's totals) and which candidates are allowed."""

    def __init__(self, name: str, problem: Problem, base: Totals, floor: float, revenue_floor: float = 0.0):
        self.name = name
        self.problem = problem
        self.floor = floor
        self.revenue_floor = revenue_floor
        self.metric, self.higher = OBJECTIVE_VALUES[name]
        at_base = natural(base)[self.metric]
        # ratios are scaled by the base plan's value (1 = the base's), sums by its size
        self.norm = abs(at_base) if math.isfinite(at_base) and at_base != 0 else 1.0
        if self.metric in ("orders", "net_margin", "inc_net_margin"):
            self.norm = max(self.norm, 1.0)
        self.norm_orders = max(base["orders"], 1.0)
        self.norm_revenue = max(base["revenue"], 1.0)

    def value(self, e: Totals) -> float:
        """The objective of a candidate's totals: lower is better (for a ratio, 1 = the base plan's)."""
        v = natural(e)[self.metric]
        if not math.isfinite(v):
            return 1e6  # no CPO (no spend or no incremental order): the worst
        return (-v if self.higher else v) / self.norm

    def feasible(self, x: np.ndarray, e: Totals) -> bool:
        """Whether a candidate may win: a defined objective, budget, campaign bounds, orders and revenue floors."""
        if not math.isfinite(natural(e)[self.metric]):
            return False  # no spend, no cost per order (n/a, as in the summary)
        if not self.problem.allowed(x):
            return False
        return e["orders"] >= self.floor - 1e-9 and e["revenue"] >= self.revenue_floor - 1e-9


class Search:
    """SLSQP's search state: the evaluations (cached by point), the trace and the best feasible point.

    Evaluation 1 is the base plan itself (its campaigns as they are, which is what the base
    allocation ``x0`` stands for: see :func:`cjmsim.analyses.optimize.variables.candidate_campaigns`);
    :attr:`found` says whether any later candidate beat it."""

    def __init__(
        self,
        problem: Problem,
        objective: Objective,
        simulator: Simulator,
        variables: list[Variable],
        weeks: int,
        base: list[dict[str, Any]],
        *,
        evaluations: int,
        step: float,
        progress: Callable[[int], None] | None = None,
    ):
        self.problem = problem
        self.objective = objective
        self.simulator = simulator
        self.variables = variables
        self.weeks = weeks
        self.base = base
        self.evaluations = evaluations
        self.step = step
        self.progress = progress
        self.cache: dict[bytes, Totals] = {}  # a point's totals, the mean over the replications
        self.per_rep_cache: dict[bytes, list[Totals]] = {}  # its totals on every replication (posterior draw)
        self.gradient_cache: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.rows: list[dict[str, Any]] = []  # the trace: one row per counted evaluation
        self.best: np.ndarray | None = None
        self.best_f = math.inf
        self.start_f = math.nan  # the base plan's objective; NaN when it is not feasible
        self.count = 0  # evaluations counted against the budget

    def campaigns(self, x: np.ndarray) -> list[dict[str, Any]]:
        """The candidate plan's campaigns at a point (the base plan's own at ``x0``)."""
        return candidate_campaigns(self.variables, x, self.weeks, self.base, self.problem.x0)

    @property
    def found(self) -> bool:
        """Whether the search found a feasible allocation better than the base plan (or, when the
        base plan breaks a constraint, any feasible one)."""
        if self.best is None:
            return False
        return not math.isfinite(self.start_f) or self.best_f < self.start_f

    # ---- evaluations

    def evaluate(self, points: list[np.ndarray], kind: str, limit: bool = True) -> list[Totals]:
        """Every point's totals; new points simulated together in one batch.

        With ``limit`` (the search itself) new points count against the evaluation budget and
        are recorded in the trace; a batch that would overrun the budget stops the search.
        """
        keys = [_key(p) for p in points]
        todo = list(dict.fromkeys(k for k in keys if k not in self.cache))
        if limit and todo and self.count + len(todo) > self.evaluations and self.count > 0:
            raise _Budget
        by_key = {k: points[keys.index(k)] for k in todo}
        per_rep = self.simulator.per_rep([self.campaigns(by_key[k]) for k in todo])
        for k, reps in zip(todo, per_rep, strict=True):
            e = mean_totals(reps)  # as Simulator.totals: the mean in replication order
            self.cache[k] = e
            self.per_rep_cache[k] = reps
            if limit:
                self._record(by_key[k], e, kind)
        if self.progress is not None and limit and todo:
            self.progress(len(todo))
        return [self.cache[k] for k in keys]

    def start(self, reps: list[Totals]) -> None:
        """Evaluation 1: the base plan's totals on the search replications (simulated by the caller)."""
        e = mean_totals(reps)
        self.cache[_key(self.problem.x0)] = e
        self.per_rep_cache[_key(self.problem.x0)] = reps
        self._record(self.problem.x0, e, "start")
        if self.best is not None:
            self.start_f = self.best_f
        if self.progress is not None:
            self.progress(1)

    def _record(self, x: np.ndarray, e: Totals, kind: str) -> None:
        self.count += 1
        f = self.objective.value(e)
        ok = self.objective.feasible(x, e)
        if ok and f < self.best_f:
            self.best_f, self.best = f, x.copy()
        nat = natural(e)
        self.rows.append(
            {
                "evaluation": len(self.rows) + 1,
                "kind": kind,
                "orders": e["orders"],
                "spend": e["spend"],
                "planned_spend": e["planned_spend"],
                "revenue": e["revenue"],
                "margin": e["margin"],
                "inc_orders": e["inc_orders"],
                "inc_margin": e["inc_margin"],
                "cpo": nat["cpo"],
                "icpo": nat["icpo"],
                "net_margin": nat["net_margin"],
                "inc_net_margin": nat["inc_net_margin"],
                "objective": f,
                "feasible": ok,
                "best_objective": self.best_f if self.best is not None else math.nan,
            }
        )

    def _at(self, x: np.ndarray) -> Totals:
        """The totals at an SLSQP point (clipped to the box: SLSQP may step a hair outside it)."""
        return self.evaluate([np.clip(x, self.problem.lo_b, self.problem.hi_b)], "point")[0]

    def gradients(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Forward differences of the objective, of orders and of revenue at ``x``: one batch, cached by point."""
        k = _key(x)
        if k not in self.gradient_cache:
            x = np.asarray(x, float)
            n, value = self.problem.n, self.objective.value
            hs = np.where(x + self.step <= self.problem.hi_b, self.step, -self.step)
            pts = [x] + [x + hs[i] * np.eye(1, n, i)[0] for i in range(n)]
            ev = self.evaluate(pts, "gradient")
            f0 = value(ev[0])
            gf = np.array([(value(ev[i + 1]) - f0) / hs[i] for i in range(n)])
            go, gr = (np.array([(ev[i + 1][m] - ev[0][m]) / hs[i] for i in range(n)]) for m in ("orders", "revenue"))
            self.gradient_cache[k] = (gf, go, gr)
        return self.gradient_cache[k]

    # ---- SLSQP

    def constraints(self) -> list[dict[str, Any]]:
        """The linear constraints and, with a floor, the orders and revenue floors (simulated, with gradients)."""
        constraints = self.problem.linear_constraints()
        for j, (metric, floor, norm) in enumerate(
            (
                ("orders", self.objective.floor, self.objective.norm_orders),
                ("revenue", self.objective.revenue_floor, self.objective.norm_revenue),
            )
        ):
            if floor > 0:
                constraints.append(
                    {
                        "type": "ineq",
                        "fun": lambda x, m=metric, f=floor, d=norm: self._at(x)[m] / d - f / d,
                        "jac": lambda x, j=j, d=norm: self.gradients(x)[j + 1] / d,
                    }
                )
        return constraints

    def run(self) -> tuple[np.ndarray, str]:
        """Search from the base allocation (:meth:`start` first): the best feasible point seen and why it stopped."""
        from scipy.optimize import minimize

        x0, p = self.problem.x0, self.problem
        try:
            # SLSQP starts with an identity Hessian: scale the objective so that its first step may
            # move as much as the largest cell's budget along the steepest gradient (a step that is
            # too long costs a few single evaluations in the line search; one too short costs whole
            # gradients)
            g0 = float(np.abs(self.gradients(x0)[0]).max())
            fscale = float(x0.max()) / g0 if g0 > 0 else 1.0
            res = minimize(
                lambda x: self.objective.value(self._at(x)) * fscale,
                x0,
                jac=lambda x: self.gradients(x)[0] * fscale,
                method="SLSQP",
                bounds=list(zip(p.lo_b, p.hi_b, strict=True)),
                constraints=self.constraints(),
                options={"maxiter": 1000, "ftol": 1e-7},
            )
            message = f"SLSQP: {res.message}"
        except _Budget:
            message = f"evaluation budget spent ({self.count} evaluations)"
        if self.best is None:  # no feasible candidate: the caller raises InfeasibleError
            return x0, message
        return self.best, message
