"""What an optimization returns, and the tables it is made of.

:class:`Optimization` holds the result; :func:`response_curves` traces each campaign's budget
around the optimum, :func:`variable_table` the allocation per decision variable,
:func:`paired_comparison` the fresh re-evaluation's paired differences, and :func:`plan_toml`
writes the optimized plan as a block to paste into the scenario.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cjmsim.analyses import metrics
from cjmsim.analyses.optimize.search import Search
from cjmsim.analyses.optimize.variables import Variable
from cjmsim.analyses.simulate import Result
from cjmsim.scenario import HEADLINE_METRICS, Scenario, ScenarioError, toml_value
from cjmsim.scenario.files import toml_key

__all__ = [
    "InfeasibleError",
    "Optimization",
    "paired_comparison",
    "plan_toml",
    "response_curves",
    "variable_table",
]


class InfeasibleError(ScenarioError):
    """The search found no candidate within the budget, the campaign bounds and the orders floor.

    No optimized plan exists, so none is returned (the CLI exits 3 and writes no folder).

    Attributes:
        trace: every evaluation of the search (as :attr:`Optimization.trace`).
        floor: the orders floor in force.
        evaluations: the evaluations the search used.
        stopped: why the search stopped.
    """

    def __init__(self, message: str, trace: pd.DataFrame, floor: float, evaluations: int, stopped: str) -> None:
        super().__init__(message)
        self.trace = trace
        self.floor = floor
        self.evaluations = evaluations
        self.stopped = stopped

    def __reduce__(self) -> tuple[Any, ...]:
        return (InfeasibleError, (str(self), self.trace, self.floor, self.evaluations, self.stopped))


@dataclass
class Optimization:
    """What :func:`cjmsim.analyses.optimize.optimize` returns.

    Attributes:
        scenario: the scenario searched (agents and weeks of the search), with no extra plans.
        base_plan, plan_name: the base plan and the name of the optimized plan.
        objective: one of :data:`cjmsim.analyses.choices.OBJECTIVES`.
        settings: every setting of the search (budget, floor, bounds, split, periods, reps, ...).
        variables: one row per decision variable: campaign, channel, segments, stages, period,
            weeks, base and optimized weekly budget and total.
        trace: one row per evaluation: kind (start, point, gradient), orders, spend, planned
            spend, margin, CPO, objective, feasible, best objective so far.
        curves: response curves per campaign around the optimum: the campaign's weekly budget
            scaled with the others held, orders, spend, CPO and margin (search replications).
        campaigns: the optimized plan's campaigns, as in the TOML block.
        final: the re-evaluation on fresh replications (a :class:`cjmsim.analyses.simulate.Result`)
            of the base plan, the optimized plan and the plans to compare.
        comparison: paired differences on the fresh replications (optimized minus each other plan):
            metric, mean, 95% CI.
        message: why the search stopped.
        seconds: the wall time of the whole optimization.
    """

    scenario: Scenario
    base_plan: str
    plan_name: str
    objective: str
    settings: dict[str, Any]
    variables: pd.DataFrame
    trace: pd.DataFrame
    curves: pd.DataFrame
    campaigns: list[dict[str, Any]]
    final: Result
    comparison: pd.DataFrame
    message: str
    seconds: float = 0.0

    def toml(self) -> str:
        """The optimized plan as a ``[plans.NAME]`` block to paste into the scenario."""
        return plan_toml(self)


#: The response curves' budget levels: each campaign's budget times these, the others held.
CURVE_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def response_curves(search: Search, best_x: np.ndarray) -> pd.DataFrame:
    """Per campaign, orders, spend, CPO and margin as its budget is scaled around the optimum.

    Evaluated on the search replications, outside the evaluation budget and the trace.
    """
    p, variables, W = search.problem, search.variables, search.weeks
    levels = np.array(CURVE_LEVELS)
    rows: list[dict[str, Any]] = []
    for c in range(p.ncamp):
        sel = p.camp_of == c
        pts = []
        for lv in levels:
            x = best_x.copy()
            x[sel] = best_x[sel] * lv if p.cost[sel] @ best_x[sel] >= W else p.x0[sel] * lv
            pts.append(np.clip(x, p.lo_b, np.maximum(p.hi_b, x)))
        ev = search.evaluate(pts, "curve", limit=False)
        first = variables[int(np.flatnonzero(sel)[0])]
        for lv, x, e in zip(levels, pts, ev, strict=True):
            rows.append(
                {
                    "campaign_id": c,
                    "campaign": first.campaign_name,
                    "channel": first.channel,
                    "level": float(lv),
                    "weekly": float((p.cost[sel] @ x[sel]) / p.camp_weeks[c]),
                    "orders": e["orders"],
                    "spend": e["spend"],
                    "cpo": e["spend"] / e["orders"] if e["orders"] > 0 else math.nan,
                    "margin": e["margin"],
                    "base_weekly": float(p.camp_base[c] / p.camp_weeks[c]),
                    "optimized_weekly": float((p.cost[sel] @ best_x[sel]) / p.camp_weeks[c]),
                }
            )
    return pd.DataFrame(rows)


def variable_table(variables: list[Variable], x0: np.ndarray, best_x: np.ndarray) -> pd.DataFrame:
    """One row per decision variable: its cell, and its base and optimized weekly budget and total."""
    rows = []
    for v, a, b in zip(variables, x0, best_x, strict=True):
        weekly = round(b * v.scale) if b * v.scale >= 1 else 0.0  # as the plan's campaigns write it
        rows.append(
            {
                "campaign_id": v.campaign,
                "campaign": v.campaign_name,
                "channel": v.channel,
                "segments": ", ".join(v.segments),
                "stages": ", ".join(v.stages),
                "period": v.period + 1 if v.period >= 0 else 0,
                "weeks": v.weeks,
                "base_weekly": a * v.scale,
                "weekly": weekly,
                "base_total": a * v.scale * v.weeks,
                "total": weekly * v.weeks,
            }
        )
    return pd.DataFrame(rows)


def paired_comparison(final: Result, plan: str, others: list[str]) -> pd.DataFrame:
    """Paired differences (plan minus each other plan) per replication, with 95% CIs, of the headline metrics."""
    pr = final.per_rep[final.per_rep.segment == "all"].set_index(["plan", "rep"])
    rows = []
    for other in others:
        for m in HEADLINE_METRICS:
            a = pr.loc[plan][m].sort_index().to_numpy(dtype=float)
            b = pr.loc[other][m].sort_index().to_numpy(dtype=float)
            mean, lo, hi = metrics.confidence(a - b)
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(b != 0, a / np.where(b != 0, b, 1.0) - 1.0, np.nan)
            ra, rlo, rhi = metrics.confidence(rel) if np.isfinite(rel).any() else (math.nan,) * 3
            rows.append(
                {
                    "versus": other,
                    "metric": m,
                    "optimized": float(np.mean(a[np.isfinite(a)])) if np.isfinite(a).any() else math.nan,
                    "other": float(np.mean(b[np.isfinite(b)])) if np.isfinite(b).any() else math.nan,
                    "difference": mean,
                    "ci_low": lo,
                    "ci_high": hi,
                    "relative": ra,
                    "relative_ci_low": rlo,
                    "relative_ci_high": rhi,
                }
            )
    return pd.DataFrame(rows)


def plan_toml(opt: Optimization) -> str:
    """The optimized plan as a ``[plans.ID]`` TOML block, one inline table per campaign.

    Valid TOML whatever the plan's id and names: a key that is not a bare key is quoted
    (``[plans."my plan"]``), strings are escaped (control characters as ``\\uXXXX``), and the
    comment line holds no line break, so ``tomllib.loads`` gives back the campaigns and the name.
    """
    s = opt.settings
    cmp = opt.comparison[(opt.comparison.versus == opt.base_plan)].set_index("metric")
    lines = [
        f"[plans.{toml_key(opt.plan_name)}]",
        f"name = {toml_value(opt.final.scenario.plans[opt.plan_name].name)}",
        "description = "
        + toml_value(
            f"cjmsim optimize --plan {opt.base_plan} --objective {opt.objective}: {s['variables']} budgets "
            f"(split {s['split']}, {s['periods']} period(s)), {s['evaluations_used']} evaluations"
        ),
        f"# fresh replications ({s['final_reps']} x {s['final_agents']:,} agents): orders "
        f"{cmp.loc['orders', 'relative']:+.1%}, CPO {cmp.loc['cpo', 'relative']:+.1%}, spend "
        f"{cmp.loc['spend', 'relative']:+.1%} against {toml_value(opt.base_plan)[1:-1]}",
        "campaigns = [",
    ]
    for c in opt.campaigns:
        items = ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in c.items())
        lines.append(f"  {{ {items} }},")
    lines.append("]")
    return "\n".join(lines) + "\n"
