"""What an optimization returns, and the tables it is made of.

:class:`Optimization` holds the result; :func:`response_curves` traces each campaign's budget
around the optimum, :func:`variable_table` the allocation per decision variable,
:func:`paired_comparison` the fresh re-evaluation's paired differences, and :func:`plan_toml`
writes the optimized plan as a block to paste into the scenario.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cjmsim.analyses import metrics
from cjmsim.analyses.optimize.evaluation import Simulator, Totals
from cjmsim.analyses.optimize.search import Search
from cjmsim.analyses.optimize.variables import cell_budgets
from cjmsim.analyses.simulate import Result
from cjmsim.scenario import HEADLINE_METRICS, Scenario, ScenarioError, toml_value
from cjmsim.scenario.files import plan_block

if TYPE_CHECKING:
    from cjmsim.analyses.calibration import PosteriorResult

__all__ = [
    "COMPARED_METRICS",
    "InfeasibleError",
    "Optimization",
    "marginal_row",
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
            scaled with the others held; orders, spend, CPO, margin and incremental margin less
            spend, each the mean of ``curve_reps`` replications (the search's first ones) with its
            95% CI (``_ci_low``, ``_ci_high``).
        marginal: per campaign, from the optimum to the next level up (x1.25 of its budget): the
            extra orders, spend and incremental margin less spend with 95% CIs (paired over the
            curve replications), the spend per extra order and the incremental margin per extra
            unit of spend (ratios of means, delta-method CIs), and whether each ratio's CI supports
            quoting it (``cost_supported``, ``return_supported``).
        start: evaluation 1 (the base plan itself) on every search replication: rep, orders,
            customers, spend, planned spend, revenue, margin and the incremental totals.
        found: whether the search found a feasible allocation better than the base plan; when it
            did not, the optimized plan is the base plan.
        campaigns: the optimized plan's campaigns, as in the TOML block.
        final: the re-evaluation on fresh replications (a :class:`cjmsim.analyses.simulate.Result`)
            of the base plan, the optimized plan and the plans to compare; None for a search over
            posterior draws, re-evaluated over the draws instead (:attr:`posterior`).
        comparison: paired differences on the fresh replications (optimized minus each other plan):
            metric, mean, 95% CI; over posterior draws, paired draw by draw with 90% posterior
            intervals (columns :data:`~cjmsim.analyses.optimize.posterior.POSTERIOR_COMPARISON_COLUMNS`).
        message: why the search stopped.
        seconds: the wall time of the whole optimization.
        posterior: for a search over posterior draws, the fresh re-evaluation over the same draws on
            fresh random numbers (a :class:`~cjmsim.analyses.calibration.PosteriorResult`: the base plan
            is its reference); else None.
        draws: for a search over posterior draws, one row per draw: the objective's metric of the base
            and optimized plans on the search's draws (and, robust, each draw's best and the regret).
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
    final: Result | None
    comparison: pd.DataFrame
    message: str
    seconds: float = 0.0
    marginal: pd.DataFrame = field(default_factory=pd.DataFrame)
    start: pd.DataFrame = field(default_factory=pd.DataFrame)
    found: bool = True
    posterior: PosteriorResult | None = None
    draws: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def fresh(self) -> Result:
        """The re-evaluation on fresh replications (:attr:`final`); a search over posterior draws has none."""
        if self.final is None:
            raise ValueError("an optimization over posterior draws is re-evaluated over the draws: see .posterior")
        return self.final

    def toml(self) -> str:
        """The optimized plan as a ``[plans.NAME]`` block to paste into the scenario."""
        return plan_toml(self)


#: The response curves' budget levels: each campaign's budget times these, the others held.
CURVE_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def response_curves(search: Search, best_x: np.ndarray, simulator: Simulator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per campaign, orders, spend, CPO and margins as its budget is scaled around the optimum, and
    the marginal costs from the optimum to the next level up, each with 95% CIs over replications.

    Simulated on ``simulator``'s replications (the search's first ones, common random numbers),
    outside the evaluation budget and the trace: the curves and the marginal table.
    """
    p, variables, W = search.problem, search.variables, search.weeks
    levels = np.array(CURVE_LEVELS)
    points: dict[bytes, np.ndarray] = {}
    per_campaign: list[list[bytes]] = []
    # campaigns with budgets to scale: a trigger campaign has no variable (a fixed part of the plan)
    scaled = [c for c in range(p.ncamp) if (p.camp_of == c).any()]
    for c in scaled:
        sel = p.camp_of == c
        keys = []
        for lv in levels:
            x = best_x.copy()
            x[sel] = best_x[sel] * lv if p.cost[sel] @ best_x[sel] >= W else p.x0[sel] * lv
            x = np.clip(x, p.lo_b, np.maximum(p.hi_b, x))
            k = np.round(x, 9).tobytes()
            points.setdefault(k, x)
            keys.append(k)
        per_campaign.append(keys)
    order = list(points)
    runs = dict(zip(order, simulator.per_rep([search.campaigns(points[k]) for k in order]), strict=True))
    rows: list[dict[str, Any]] = []
    margins: list[dict[str, Any]] = []
    for c, keys in zip(scaled, per_campaign, strict=True):
        sel = p.camp_of == c
        first = variables[int(np.flatnonzero(sel)[0])]
        head = {"campaign_id": c, "campaign": first.campaign_name, "channel": first.channel}
        for lv, k in zip(levels, keys, strict=True):
            reps = runs[k]
            weekly = float((p.cost[sel] @ points[k][sel]) / p.camp_weeks[c])
            row: dict[str, Any] = {**head, "level": float(lv), "weekly": weekly}
            for m in ("orders", "spend", "margin", "inc_orders", "inc_net_margin"):
                mean, lo, hi = metrics.confidence(_values(reps, m))
                row.update({m: mean, f"{m}_ci_low": lo, f"{m}_ci_high": hi})
            row["cpo"] = row["spend"] / row["orders"] if row["orders"] > 0 and row["spend"] > 0 else math.nan
            row["reps"] = len(reps)
            row["base_weekly"] = float(p.camp_base[c] / p.camp_weeks[c])
            row["optimized_weekly"] = float((p.cost[sel] @ best_x[sel]) / p.camp_weeks[c])
            rows.append(row)
        here = keys[int(np.flatnonzero(np.isclose(levels, 1.0))[0])]
        up = keys[int(np.flatnonzero(levels > 1.0 + 1e-9)[0])]
        margins.append({**head, **marginal_row(runs[here], runs[up])})
    return pd.DataFrame(rows), pd.DataFrame(margins)


def _values(reps: list[Totals], metric: str) -> np.ndarray:
    """One metric over replications; ``inc_net_margin`` is incremental margin less spend."""
    if metric == "inc_net_margin":
        return np.array([e["inc_margin"] - e["spend"] for e in reps])
    return np.array([e[metric] for e in reps])


def marginal_row(here: list[Totals], up: list[Totals]) -> dict[str, Any]:
    """From one point to a bigger budget, paired replication by replication: the extra orders, spend
    and incremental margin less spend (95% CIs), and the two ratios a strategist quotes, each with
    whether its CI supports quoting it (finite, of some width, excluding zero)."""
    d = {m: _values(up, m) - _values(here, m) for m in ("orders", "spend", "inc_margin", "inc_net_margin")}
    out: dict[str, Any] = {"reps": len(here)}
    for m, name in (("orders", "extra_orders"), ("spend", "extra_spend"), ("inc_net_margin", "extra_inc_net_margin")):
        mean, lo, hi = metrics.confidence(d[m])
        out.update({name: mean, f"{name}_ci_low": lo, f"{name}_ci_high": hi})
    cost = metrics.paired_ratio(d["spend"], d["orders"])
    ret = metrics.paired_ratio(d["inc_margin"], d["spend"])
    out.update({"cost_per_extra_order": cost[0], "cost_ci_low": cost[1], "cost_ci_high": cost[2]})
    out.update({"return_per_extra_spend": ret[0], "return_ci_low": ret[1], "return_ci_high": ret[2]})

    # a ratio is quoted only when its interval is finite, excludes zero and has a width (with the few
    # replications of a curve and whole agents, two replications can agree exactly: no evidence of a spread)
    def supported(low: float, high: float, denominator_low: float) -> bool:
        finite = math.isfinite(low) and math.isfinite(high)
        return bool(finite and high > low and (low > 0 or high < 0) and denominator_low > 0)

    out["cost_supported"] = supported(cost[1], cost[2], out["extra_orders_ci_low"])
    out["return_supported"] = supported(ret[1], ret[2], out["extra_spend_ci_low"])
    return out


def variable_table(search: Search, best_x: np.ndarray) -> pd.DataFrame:
    """One row per decision variable: its cell, and its base and optimized weekly budget and total.

    The optimized budget is the cell's money in the optimized plan as written (its top-up plus its
    share of its base campaign kept as it is, :func:`cell_budgets`), so the totals add up to the plan."""
    p, variables = search.problem, search.variables
    weekly = cell_budgets(variables, best_x, search.weeks, search.base, p.x0)
    rows = []
    for v, a, w in zip(variables, p.x0, weekly, strict=True):
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
                "weekly": float(w),
                "base_total": a * v.scale * v.weeks,
                "total": float(w) * v.weeks,
            }
        )
    return pd.DataFrame(rows)


#: The metrics the fresh re-evaluation compares, paired: the headline ones, the incremental ones
#: and what each objective maximizes (margin less spend, incremental margin less spend).
COMPARED_METRICS: tuple[str, ...] = (
    *HEADLINE_METRICS, "inc_orders", "inc_revenue", "inc_margin", "icpo", "iromi", "net_margin", "inc_net_margin",
)  # fmt: skip


def paired_comparison(final: Result, plan: str, others: list[str]) -> pd.DataFrame:
    """Paired differences (plan minus each other plan) per replication, with 95% CIs, of the headline metrics."""
    pr = final.per_rep[final.per_rep.segment == "all"].copy()
    pr["net_margin"] = pr.margin - pr.spend
    if "inc_margin" in pr:
        pr["inc_net_margin"] = pr.inc_margin - pr.spend
    pr = pr.set_index(["plan", "rep"])
    rows = []
    for other in others:
        for m in (m for m in COMPARED_METRICS if m in pr):
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
    over = getattr(opt, "posterior", None)
    final = over if over is not None else opt.final
    assert final is not None
    if over is not None:
        fresh = (
            f"fresh random numbers over {s['draws_used']:,} posterior draws ({s['final_agents']:,} agents), "
            "mean over draws"
        )
    else:
        fresh = f"fresh replications ({s['final_reps']} x {s['final_agents']:,} agents)"
    description = (
        f"cjmsim optimize --plan {opt.base_plan} --objective {opt.objective}: {s['variables']} budgets "
        f"(split {s['split']}, {s['periods']} period(s)), {s['evaluations_used']} evaluations"
        + ("" if getattr(opt, "found", True) else "; no better allocation found: the base plan's campaigns")
    )
    comment = (
        f"{fresh}: orders {cmp.loc['orders', 'relative']:+.1%}, CPO {cmp.loc['cpo', 'relative']:+.1%}, spend "
        f"{cmp.loc['spend', 'relative']:+.1%} against {toml_value(opt.base_plan)[1:-1]}"
    )
    name = final.scenario.plans[opt.plan_name].name
    return plan_block(opt.plan_name, name, description, opt.campaigns, comment=comment)
