"""The robust search: the allocation with the smallest worst-case regret over the posterior draws.

For candidate x and draw i let f_i(x) be the objective on draw i alone (the search's normalised
objective, lower is better: :meth:`~cjmsim.analyses.optimize.search.Objective.value` of the draw's
totals), and b_i the best (lowest) f_i among the feasible candidates evaluated so far. The regret of
x in draw i is f_i(x) - b_i >= 0: how much worse x does in that world than the best allocation the
search has seen for it. The criterion is the worst-case regret R(x) = max_i (f_i(x) - b_i).

The bests are only as good as the candidates behind them (with the base plan alone, every other
allocation's regret is how much worse it is than the base in its worst draw). So the first half of
the evaluation budget goes to the expected-objective search (:meth:`Search.run`), whose candidates
spread over good allocations, and the second half to the regret.

A maximum is not smooth, so SLSQP searches its epigraph: minimise t over (x, t) subject to
t >= f_i(x) - b_i for every draw, besides the budget, campaign bounds and floors, each draw's
gradient from the same forward differences (one batch of simulations gives every draw's). The bests
b_i are held fixed during one SLSQP run; then they are taken again over every candidate evaluated,
and SLSQP restarts from the candidate with the smallest R, until a run leaves them unchanged, the
evaluation budget is spent, or :data:`ROUNDS` runs are done. The winner is the feasible candidate
evaluated with the smallest R against the final bests, so every reported regret is against the same
b_i. A draw where the objective is undefined (no spend, no incremental order) counts as the worst
(the search's 1e6).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cjmsim.analyses.optimize.evaluation import Totals
from cjmsim.analyses.optimize.search import Search, SearchBudgetSpent, natural, point_key

__all__ = ["ROUNDS", "RobustSearch"]

#: Most SLSQP runs of a robust search (each restarted with the draws' bests taken again).
ROUNDS = 8


class RobustSearch(Search):
    """:class:`~cjmsim.analyses.optimize.search.Search` on the worst-case regret over the draws.

    The trace keeps every column of the expected search (``objective`` is still the objective of the
    mean over draws) and adds ``regret`` (the candidate's worst-case regret against the final bests)
    and ``worst_draw`` (the draw where it is reached); ``best_objective`` is the smallest regret so far
    among the feasible candidates. :attr:`best_f` and :attr:`start_f` are regrets."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keys: list[bytes] = []  # per trace row, its point's key
        self.points: dict[bytes, np.ndarray] = {}
        self.draw_gradient_cache: dict[bytes, np.ndarray] = {}
        self.bests: np.ndarray = np.array([])  # b_i of the final selection (natural units: natural_bests)

    def _record(self, x: np.ndarray, e: Totals, kind: str) -> None:
        super()._record(x, e, kind)
        k = point_key(x)
        self.keys.append(k)
        self.points.setdefault(k, x.copy())

    # ---- the draws' objectives

    def draw_values(self, k: bytes) -> np.ndarray:
        """f_i of an evaluated point, draw by draw."""
        return np.array([self.objective.value(e) for e in self.per_rep_cache[k]])

    def _draws_at(self, x: np.ndarray) -> np.ndarray:
        """f_i at an SLSQP point (clipped to the box, as :meth:`_at`)."""
        x = np.clip(x, self.problem.lo_b, self.problem.hi_b)
        self.evaluate([x], "point")
        return self.draw_values(point_key(x))

    def draw_gradients(self, x: np.ndarray) -> np.ndarray:
        """Forward differences of every f_i at ``x`` (draws x variables), from the batch :meth:`gradients` simulates."""
        k = point_key(x)
        if k not in self.draw_gradient_cache:
            x = np.asarray(x, float)
            self.gradients(x)  # simulates x and its n neighbours in one batch (and caches the mean's gradients)
            hs = np.where(x + self.step <= self.problem.hi_b, self.step, -self.step)
            f0 = self.draw_values(point_key(x))
            cols = [(self.draw_values(point_key(x + hs[i] * np.eye(1, self.problem.n, i)[0])) - f0) / hs[i]
                    for i in range(self.problem.n)]  # fmt: skip
            self.draw_gradient_cache[k] = np.column_stack(cols)
        return self.draw_gradient_cache[k]

    def current_bests(self) -> np.ndarray:
        """b_i: the lowest f_i among the feasible candidates evaluated (among all of them while none is feasible)."""
        feasible = [k for k, row in zip(self.keys, self.rows, strict=True) if row["feasible"]]
        values = np.array([self.draw_values(k) for k in (feasible or self.keys)])
        bests: np.ndarray = values.min(axis=0)
        return bests

    def regret(self, k: bytes, bests: np.ndarray) -> tuple[float, int]:
        """A point's worst-case regret against ``bests`` and the draw where it is reached."""
        r = self.draw_values(k) - bests
        i = int(np.argmax(r))
        return float(r[i]), i

    # ---- SLSQP on the epigraph

    def _epigraph(self, bests: np.ndarray, fscale: float) -> list[dict[str, Any]]:
        """t >= f_i(x) - b_i per draw (scaled by ``fscale``), and the search's constraints on x."""
        n = self.problem.n
        out: list[dict[str, Any]] = []
        for i in range(len(bests)):
            out.append(
                {
                    "type": "ineq",
                    "fun": lambda z, i=i: z[n] - fscale * (self._draws_at(z[:n])[i] - bests[i]),
                    "jac": lambda z, i=i: np.append(-fscale * self.draw_gradients(z[:n])[i], 1.0),
                }
            )
        for c in self.constraints():  # budget, campaign bounds, floors: functions of x alone
            out.append(
                {
                    "type": "ineq",
                    "fun": lambda z, c=c: c["fun"](z[:n]),
                    "jac": lambda z, c=c: np.append(c["jac"](z[:n]), 0.0),
                }
            )
        return out

    def run(self) -> tuple[np.ndarray, str]:
        """Search from the base allocation (:meth:`start` first): the expected objective with half the
        evaluation budget, then rounds of SLSQP on the regret's epigraph; the feasible candidate with the
        smallest worst-case regret and why the search stopped."""
        full = self.evaluations
        self.evaluations = max(full // 2, 1)
        _, expected = super().run()  # stops itself when its half is spent
        self.evaluations = full
        regret = self._rounds()
        self._finish()
        message = f"expected objective: {expected}; worst-case regret: {regret}"
        if self.best is None:
            return self.problem.x0, message
        return self.best, message

    def _rounds(self) -> str:
        """SLSQP on the epigraph from the candidate of least regret, the bests taken again after each run."""
        from scipy.optimize import minimize

        p = self.problem
        try:
            x = self._least_regret(self.current_bests())[0]
            g0 = float(np.abs(self.draw_gradients(x)).max())
            fscale = float(x.max()) / g0 if g0 > 0 else 1.0
            message = ""
            for _ in range(ROUNDS):
                bests = self.current_bests()
                r0, _ = self.regret(point_key(x), bests)
                res = minimize(
                    lambda z: z[-1],
                    np.append(x, fscale * r0),
                    jac=lambda z: np.append(np.zeros(p.n), 1.0),
                    method="SLSQP",
                    bounds=[*zip(p.lo_b, p.hi_b, strict=True), (None, None)],
                    constraints=self._epigraph(bests, fscale),
                    options={"maxiter": 1000, "ftol": 1e-7},
                )
                message = f"SLSQP: {res.message}"
                if np.array_equal(self.current_bests(), bests):
                    message += "; the draws' bests held"
                    break
                x = self._least_regret(self.current_bests())[0]
            else:
                message += f"; stopped after {ROUNDS} rounds"
        except SearchBudgetSpent:
            message = f"evaluation budget spent ({self.count} evaluations)"
        return message

    def _least_regret(self, bests: np.ndarray) -> tuple[np.ndarray, float]:
        """The feasible candidate with the smallest worst-case regret (any, while none is feasible)."""
        feasible = [k for k, row in zip(self.keys, self.rows, strict=True) if row["feasible"]] or self.keys
        k = min(feasible, key=lambda k: self.regret(k, bests)[0])
        return self.points[k], self.regret(k, bests)[0]

    def _finish(self) -> None:
        """Regrets against the final bests: the trace's columns, the winner and the start's."""
        self.best, self.best_f, self.start_f = None, math.inf, math.nan
        if not self.keys:
            return
        bests = self.current_bests()
        self.bests = bests
        running = math.inf
        for k, row in zip(self.keys, self.rows, strict=True):
            r, i = self.regret(k, bests)
            row["regret"], row["worst_draw"] = r, i
            if row["feasible"] and r < running:
                running = r
                if r < self.best_f:
                    self.best, self.best_f = self.points[k].copy(), r
            row["best_objective"] = running if math.isfinite(running) else math.nan
        if self.rows[0]["feasible"]:
            self.start_f = self.regret(self.keys[0], bests)[0]

    def natural_bests(self) -> list[float]:
        """b_i in natural units: the best value of the objective's metric in each draw among the feasible
        candidates evaluated (NaN where none has a value)."""
        feasible = [k for k, row in zip(self.keys, self.rows, strict=True) if row["feasible"]] or self.keys
        metric, higher = self.objective.metric, self.objective.higher
        out = []
        for i in range(len(self.bests)):
            values = [natural(self.per_rep_cache[k][i])[metric] for k in feasible]
            finite = [v for v in values if math.isfinite(v)]
            out.append((max(finite) if higher else min(finite)) if finite else math.nan)
        return out
