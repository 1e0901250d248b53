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

from cjmsim.analyses.optimize.evaluation import Simulator, Totals
from cjmsim.analyses.optimize.variables import Variable, candidate_campaigns

__all__ = ["Objective", "Problem", "Search"]


class _Budget(Exception):
    """The evaluation budget is spent: stop the search."""


def _key(x: np.ndarray) -> bytes:
    """A point's identity in the caches (to 9 decimals)."""
    return np.round(x, 9).tobytes()


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


class Objective:
    """What the search minimizes (normalised by the base plan's totals) and which candidates are allowed."""

    def __init__(self, name: str, problem: Problem, base: Totals, floor: float):
        self.name = name
        self.problem = problem
        self.floor = floor
        self.base_cpo = base["spend"] / base["orders"] if base["orders"] > 0 else 1.0
        self.norm_orders = max(base["orders"], 1.0)
        self.norm_margin = max(abs(base["margin"] - base["spend"]), 1.0)

    def value(self, e: Totals) -> float:
        """The objective of a candidate's totals: lower is better (1 = the base plan's CPO)."""
        if self.name == "min-cpo":
            return (e["spend"] / e["orders"]) / self.base_cpo if e["orders"] > 0 else 1e6
        if self.name == "max-orders":
            return -e["orders"] / self.norm_orders
        return -(e["margin"] - e["spend"]) / self.norm_margin

    def feasible(self, x: np.ndarray, e: Totals) -> bool:
        """Whether a candidate may win: spend (for a CPO), budget, campaign bounds, orders floor."""
        if self.name == "min-cpo" and e["spend"] <= 0:
            return False  # no spend, no cost per order (n/a, as in the summary)
        if not self.problem.allowed(x):
            return False
        return e["orders"] >= self.floor - 1e-9


class Search:
    """SLSQP's search state: the evaluations (cached by point), the trace and the best feasible point."""

    def __init__(
        self,
        problem: Problem,
        objective: Objective,
        simulator: Simulator,
        variables: list[Variable],
        weeks: int,
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
        self.evaluations = evaluations
        self.step = step
        self.progress = progress
        self.cache: dict[bytes, Totals] = {}
        self.gradient_cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        self.rows: list[dict[str, Any]] = []  # the trace: one row per counted evaluation
        self.best: np.ndarray | None = None
        self.best_f = math.inf
        self.count = 0  # evaluations counted against the budget
        self.fscale = 1.0  # the objective's scale for SLSQP (see run)

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
        totals = self.simulator.totals([candidate_campaigns(self.variables, by_key[k], self.weeks) for k in todo])
        for k, e in zip(todo, totals, strict=True):
            self.cache[k] = e
            if limit:
                self.count += 1
                self._record(by_key[k], e, kind)
        if self.progress is not None and limit and todo:
            self.progress(len(todo))
        return [self.cache[k] for k in keys]

    def _record(self, x: np.ndarray, e: Totals, kind: str) -> None:
        f = self.objective.value(e)
        ok = self.objective.feasible(x, e)
        if ok and f < self.best_f:
            self.best_f, self.best = f, x.copy()
        self.rows.append(
            {
                "evaluation": len(self.rows) + 1,
                "kind": kind,
                "orders": e["orders"],
                "spend": e["spend"],
                "planned_spend": e["planned"],
                "margin": e["margin"],
                "cpo": e["spend"] / e["orders"] if e["orders"] > 0 else math.nan,
                "objective": f,
                "feasible": ok,
                "best_objective": self.best_f if self.best is not None else math.nan,
            }
        )

    def _at(self, x: np.ndarray) -> Totals:
        """The totals at an SLSQP point (clipped to the box: SLSQP may step a hair outside it)."""
        return self.evaluate([np.clip(x, self.problem.lo_b, self.problem.hi_b)], "point")[0]

    def gradients(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward differences of the objective and of orders at ``x``: one batch, cached by point."""
        k = _key(x)
        if k not in self.gradient_cache:
            x = np.asarray(x, float)
            n, value = self.problem.n, self.objective.value
            hs = np.where(x + self.step <= self.problem.hi_b, self.step, -self.step)
            pts = [x] + [x + hs[i] * np.eye(1, n, i)[0] for i in range(n)]
            ev = self.evaluate(pts, "gradient")
            f0, o0 = value(ev[0]), ev[0]["orders"]
            gf = np.array([(value(ev[i + 1]) - f0) / hs[i] for i in range(n)])
            go = np.array([(ev[i + 1]["orders"] - o0) / hs[i] for i in range(n)])
            self.gradient_cache[k] = (gf, go)
        return self.gradient_cache[k]

    # ---- SLSQP

    def constraints(self) -> list[dict[str, Any]]:
        """The linear constraints and, with a floor, the orders floor (simulated, with its gradient)."""
        constraints = self.problem.linear_constraints()
        floor, norm = self.objective.floor, self.objective.norm_orders
        if floor > 0:
            constraints.append(
                {
                    "type": "ineq",
                    "fun": lambda x: self._at(x)["orders"] / norm - floor / norm,
                    "jac": lambda x: self.gradients(x)[1] / norm,
                }
            )
        return constraints

    def run(self) -> tuple[np.ndarray, str]:
        """Search from the base allocation: the best feasible point seen and why the search stopped."""
        from scipy.optimize import minimize

        x0, p = self.problem.x0, self.problem
        self.evaluate([x0], "start")
        try:
            # SLSQP starts with an identity Hessian: scale the objective so that its first step may
            # move as much as the largest cell's budget along the steepest gradient (a step that is
            # too long costs a few single evaluations in the line search; one too short costs whole
            # gradients)
            g0 = float(np.abs(self.gradients(x0)[0]).max())
            self.fscale = float(x0.max()) / g0 if g0 > 0 else 1.0
            res = minimize(
                lambda x: self.objective.value(self._at(x)) * self.fscale,
                x0,
                jac=lambda x: self.gradients(x)[0] * self.fscale,
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
