"""Budget optimizer: search the allocation of a plan's budget by simulation.

The decision variables are the weekly budgets of the base plan's campaigns, each split into its
audience cells (segment x stage, by default) and, with ``periods``, into flight periods of the
horizon. Every candidate is simulated on the same replications (common random numbers), so two
candidates differ only by their budgets and the objective is a deterministic function of them.
SciPy's SLSQP (sequential quadratic programming) searches it: the budget and the per-campaign
bounds are linear constraints, the orders floor a nonlinear one, and the gradients are forward
differences whose points are simulated together on the worker processes. The best feasible
candidate seen (gradient points included) wins. It is then simulated again, with the base plan
and any plans to compare, on fresh replications at full size: the gain reported there is not
the winner's curse of the search seeds.

Objectives: ``min-cpo`` (actual spend per order), ``max-orders``, ``max-margin`` (gross margin
minus marketing spend). Constraints: planned spend <= budget (default: the base plan's), each
campaign's total within ``bounds`` x its base total, orders >= a floor (``keep_orders``: the base
plan's orders on the search replications, or ``min_orders``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

import numpy as np
import pandas as pd

from cjmsim.analyses import metrics
from cjmsim.analyses.choices import OBJECTIVES, SPLITS
from cjmsim.analyses.simulate import Result, simulate
from cjmsim.engine import make_streams, run_plan
from cjmsim.scenario import HEADLINE_METRICS, Scenario, ScenarioError, did_you_mean, parse_scenario, toml_value

__all__ = ["OBJECTIVES", "SPLITS", "Optimization", "optimize", "plan_toml"]

_CAND = "__candidate__"
_BASE = "__base__"


class _Budget(Exception):
    """The evaluation budget is spent: stop the search."""


@dataclass(frozen=True)
class Variable:
    """One decision variable: a cell of a base campaign (channel x audience) in one period."""

    campaign: int  # index of the base campaign
    campaign_name: str
    channel: str
    segments: tuple[str, ...]
    stages: tuple[str, ...]
    period: int
    windows: tuple[tuple[int, int], ...]  # active weeks [start, end)
    scale: float  # currency per week for x = 1 (x = 1: the mean planned spend of a variable)
    x0: float  # the base plan's budget of the cell, in units of scale

    @property
    def weeks(self) -> int:
        """Active weeks of the variable."""
        return sum(e - s for s, e in self.windows)

    @property
    def name(self) -> str:
        """Readable label: campaign, audience, period."""
        aud = "+".join(self.segments) + " / " + "+".join(self.stages)
        return f"{self.campaign_name}: {aud}" + (f" (period {self.period + 1})" if self.period >= 0 else "")


@dataclass
class Optimization:
    """What :func:`optimize` returns.

    Attributes:
        scenario: the scenario searched (agents and weeks of the search), with no extra plans.
        base_plan, plan_name: the base plan and the name of the optimized plan.
        objective: one of :data:`OBJECTIVES`.
        settings: every setting of the search (budget, floor, bounds, split, periods, reps, ...).
        variables: one row per decision variable: campaign, channel, segments, stages, period,
            weeks, base and optimized weekly budget and total.
        trace: one row per evaluation: kind (start, point, gradient), orders, spend, planned
            spend, margin, CPO, objective, feasible, best objective so far.
        curves: response curves per campaign around the optimum: the campaign's weekly budget
            scaled with the others held, orders, spend, CPO and margin (search replications).
        campaigns: the optimized plan's campaigns, as in the TOML block.
        final: the re-evaluation on fresh replications (:class:`cjmsim.engine.Result`) of the base
            plan, the optimized plan and the plans to compare.
        comparison: paired differences on the fresh replications (optimized minus each other plan):
            metric, mean, 95% CI.
        message: why the search stopped.
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
    extra: dict[str, Any] = field(default_factory=dict)

    def toml(self) -> str:
        """The optimized plan as a ``[plans.NAME]`` block to paste into the scenario."""
        return plan_toml(self)


# --------------------------------------------------------------------------------------------
# evaluation on worker processes


_WORKER: dict[str, Any] = {}


def _init_worker(data: dict[str, Any], seed: int) -> None:
    _WORKER["data"] = data
    _WORKER["seed"] = seed


def _evaluate(task: tuple[int, int, list[dict[str, Any]]]) -> tuple[int, int, dict[str, float]]:
    """Simulate one candidate's campaigns on one replication: orders, spend, planned, margin."""
    key, rep, campaigns = task
    data = dict(_WORKER["data"])
    data["plans"] = {**data["plans"], _CAND: {"campaigns": campaigns}}
    sc = parse_scenario(data, source="optimizer candidate")
    s = sc.scenario
    rec = run_plan(sc, _CAND, make_streams(_WORKER["seed"], rep, len(sc.segments)), s.agents, s.weeks, threads=1)
    w = rec.weight
    return (
        key,
        rep,
        {
            "orders": float(rec.orders.sum()) * w,
            "spend": float(rec.spend.sum()),
            "planned": float(rec.planned.sum()),
            "margin": float(rec.margin.sum()) * w,
        },
    )


class _Pool:
    """Candidates x replications on a persistent pool (spawned workers), or in this process."""

    def __init__(self, data: dict[str, Any], seed: int, workers: int):
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        if workers > 1:
            self.pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(data, seed)
            )
        else:
            _init_worker(data, seed)

    def map(self, tasks: list[tuple[int, int, list[dict[str, Any]]]]) -> Iterator[tuple[int, int, dict[str, float]]]:
        if self.pool is None:
            yield from (_evaluate(t) for t in tasks)
        else:
            yield from self.pool.map(_evaluate, tasks, chunksize=1)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


# --------------------------------------------------------------------------------------------
# the decision variables


def _cells(
    sc: Scenario, camp: Any, split: str, shares: dict[tuple[str, str], float]
) -> list[tuple[tuple, tuple, float]]:
    """A campaign's audience cells with their share of its base budget."""
    segs = tuple(camp.segments or sc.segments)
    stages = tuple(camp.stages or sc.channels[camp.channel].stages)
    if split == "none":
        parts = [(segs, stages)]
    elif split == "segment":
        parts = [((g,), stages) for g in segs]
    elif split == "stage":
        parts = [(segs, (st,)) for st in stages]
    else:
        parts = [((g,), (st,)) for g in segs for st in stages]
    w = np.array([sum(shares.get((g, st), 0.0) for g in p[0] for st in p[1]) for p in parts])
    if w.sum() <= 0:
        w = np.ones(len(parts))
    w = w / w.sum()
    return [(p[0], p[1], float(wi)) for p, wi in zip(parts, w, strict=True)]


def _variables(sc: Scenario, plan: str, split: str, periods: int, seed: int) -> list[Variable]:
    """Split the base plan's campaigns into cells (by the units the base plan delivered to each
    segment x stage on replication 0) and periods.

    Every variable is scaled to the same money: x = 1 is the mean planned spend of a variable
    over the horizon, so a gradient compares returns per unit of money and a step moves the same
    amount in every cell."""
    W = sc.scenario.weeks
    rec = run_plan(sc, plan, make_streams(seed, 0, len(sc.segments)), sc.scenario.agents, W, threads=1)
    chans = list(sc.channels)
    segs = list(sc.segments)
    stages_all = ["unaware", "aware", "interest", "desire", "customer", "loyal", "lost"]
    bounds = [round(W * k / periods) for k in range(periods + 1)]
    out: list[Variable] = []
    specs = []
    for i, camp in enumerate(sc.plans[plan].campaigns):
        c = chans.index(camp.channel)
        units = rec.units_stage[:, :, c, :].sum(axis=0)  # (G, 7)
        shares = {(g, st): float(units[segs.index(g), stages_all.index(st)]) for g in segs for st in stages_all}
        windows = list(camp.windows_or_empty or [(0, W)])
        weeks = sum(e - s for s, e in windows)
        weekly = camp.weekly if camp.weekly is not None else (camp.total or 0.0) / max(weeks, 1)
        cells = _cells(sc, camp, split, shares)
        label = camp.name or f"{camp.channel} #{i + 1}"
        for p in range(periods):
            lo, hi = bounds[p], bounds[p + 1]
            win = tuple((max(s, lo), min(e, hi)) for s, e in windows if min(e, hi) > max(s, lo))
            if not win:
                continue
            for g, st, share in cells:
                specs.append((i, label, camp.channel, g, st, p if periods > 1 else -1, win, weekly * share))
    planned = sum(wk * sum(e - s for s, e in win) for *_, win, wk in specs)
    unit = planned / len(specs) if planned > 0 else 1.0  # planned money of one x unit
    for i, label, ch, g, st, p, win, wk in specs:
        weeks_v = sum(e - s for s, e in win)
        scale = unit / weeks_v
        out.append(Variable(i, label, ch, g, st, p, win, scale=scale, x0=wk / scale))
    return out


def _campaigns(variables: list[Variable], x: np.ndarray, W: int) -> list[dict[str, Any]]:
    """The candidate plan's campaigns: one per variable with a budget of at least 1 a week."""
    out = []
    for v, xi in zip(variables, x, strict=True):
        weekly = round(float(xi) * v.scale)
        if weekly < 1:
            continue
        c: dict[str, Any] = {"name": v.name, "channel": v.channel, "weekly": weekly}
        c["segments"] = list(v.segments)
        c["stages"] = list(v.stages)
        if v.windows != ((0, W),):
            c["flights"] = [list(w) for w in v.windows]
        out.append(c)
    return out


# --------------------------------------------------------------------------------------------
# the search


def optimize(
    scenario: Scenario,
    plan: str,
    objective: str = "min-cpo",
    *,
    budget: float | None = None,
    keep_orders: bool = False,
    min_orders: float | None = None,
    bounds: tuple[float, float] = (0.0, 3.0),
    split: str = "segment,stage",
    periods: int = 1,
    reps: int = 1,
    evaluations: int = 600,
    step: float = 0.25,
    agents: int | None = None,
    weeks: int | None = None,
    seed: int | None = None,
    final_reps: int = 5,
    final_agents: int | None = None,
    compare: list[str] | None = None,
    curves: bool = True,
    workers: int | None = None,
    name: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Optimization:
    """Search the base plan's budget allocation for an objective, by simulation.

    Args:
        scenario: a validated scenario.
        plan: the base plan: its campaigns (split into cells) are the decision variables.
        objective: ``min-cpo``, ``max-orders`` or ``max-margin`` (gross margin minus spend).
        budget: most planned spend over the horizon; default the base plan's planned spend.
        keep_orders: orders floor = the base plan's orders (on the search replications).
        min_orders: orders floor in people over the horizon (instead of ``keep_orders``).
        bounds: each campaign's total budget within [low, high] x its base total.
        split: ``none``, ``segment``, ``stage`` or ``segment,stage``: how each campaign's
            audience is split into variables (each cell's budget is searched separately).
        periods: split the horizon into this many equal flight periods, each with its budgets.
        reps: replications per evaluation (common random numbers: the same for every candidate).
        evaluations: most candidate evaluations in the search (gradient points included).
        step: forward-difference step, in units of a cell's even share of its campaign.
        agents, weeks, seed: search settings (default: at most 20,000 agents; the scenario's).
        final_reps, final_agents: the fresh re-evaluation (default 5 replications at the
            scenario's agents).
        compare: other plans of the scenario to re-evaluate beside the base and optimized plans.
        curves: also trace response curves per campaign around the optimum.
        workers: worker processes (default: the machine's cores); results do not depend on it.
        name: the optimized plan's id (default ``<plan>_optimized``).
        progress: called with the number of evaluations done since the last call.

    Returns:
        an :class:`Optimization`.
    """
    t0 = time.perf_counter()
    if objective not in OBJECTIVES:
        raise ScenarioError(f"--objective {objective!r}: choose from {', '.join(OBJECTIVES)}")
    if plan not in scenario.plans:
        raise ScenarioError(f"--plan {plan!r}: no such plan{did_you_mean(plan, list(scenario.plans))}")
    if split not in SPLITS:
        raise ScenarioError(f"--split {split!r}: choose from {', '.join(SPLITS)}")
    if keep_orders and min_orders is not None:
        raise ScenarioError("--keep-orders and --min-orders: give one of them")
    low, high = bounds
    if not (0 <= low <= 1 <= high) or high <= 0:
        raise ScenarioError(f"--bounds {low:g},{high:g}: need 0 <= LOW <= 1 <= HIGH (multiples of the base plan)")
    for p in compare or []:
        if p not in scenario.plans:
            raise ScenarioError(f"--compare {p!r}: no such plan{did_you_mean(p, list(scenario.plans))}")
    if not scenario.plans[plan].campaigns:
        raise ScenarioError(f"--plan {plan!r} has no campaigns: nothing to allocate")
    if periods < 1 or evaluations < 2 or reps < 1 or final_reps < 2:
        raise ScenarioError("--periods, --reps must be >= 1, --evaluations >= 2, final replications >= 2")
    base_sc = scenario
    seed = scenario.scenario.seed if seed is None else seed
    sc = scenario.with_settings(agents=agents or min(scenario.scenario.agents, 20_000), weeks=weeks)
    W = sc.scenario.weeks
    workers = workers or os.cpu_count() or 1
    name = name or f"{plan}_optimized"
    if name in scenario.plans:
        raise ScenarioError(f"--name {name!r}: the scenario already has a plan of that name")

    variables = _variables(sc, plan, split, periods, seed)
    n = len(variables)
    x0 = np.array([v.x0 for v in variables])
    scale = np.array([v.scale for v in variables])
    wk = np.array([v.weeks for v in variables], dtype=float)
    cost = scale * wk  # planned spend per unit of x
    base_planned = float(cost @ x0)
    budget_total = base_planned if budget is None else float(budget)
    ncamp = len(scenario.plans[plan].campaigns)
    camp_of = np.array([v.campaign for v in variables])
    camp_base = np.array([cost[camp_of == c] @ x0[camp_of == c] for c in range(ncamp)])
    camp_matrix = (camp_of[None, :] == np.arange(ncamp)[:, None]) * cost[None, :]  # x -> campaign totals
    # active weeks of each campaign (per active week is how budgets are written)
    camp_weeks = np.ones(ncamp)
    for c in range(ncamp):
        wins = {w for v in variables if v.campaign == c for w in v.windows}
        camp_weeks[c] = max(sum(e - s for s, e in wins), 1)

    data = sc.model_dump(mode="json", exclude_none=True)
    pool = _Pool(data, seed, min(workers, max(1, n + 1) * reps))
    cache: dict[bytes, dict[str, float]] = {}
    rows: list[dict[str, Any]] = []
    state: dict[str, Any] = {"best": None, "best_f": math.inf, "count": 0}

    def run_batch(points: list[np.ndarray], kind: str, limit: bool = True) -> list[dict[str, float]]:
        keys = [np.round(p, 9).tobytes() for p in points]
        todo = list(dict.fromkeys(k for k in keys if k not in cache))
        if limit and todo and state["count"] + len(todo) > evaluations and state["count"] > 0:
            raise _Budget
        by_key = {k: points[keys.index(k)] for k in todo}
        tasks = [(j, r, _campaigns(variables, by_key[k], W)) for j, k in enumerate(todo) for r in range(reps)]
        acc: dict[int, dict[str, float]] = {}
        for j, _r, res in pool.map(tasks):
            a = acc.setdefault(j, {"orders": 0.0, "spend": 0.0, "planned": 0.0, "margin": 0.0})
            for k2, v2 in res.items():
                a[k2] += v2 / reps
        for j, k in enumerate(todo):
            cache[k] = acc[j]
            if limit:
                state["count"] += 1
                _record(by_key[k], acc[j], kind)
        if progress is not None and limit and todo:
            progress(len(todo))
        return [cache[k] for k in keys]

    # the base plan itself (unsplit) on the search replications: the floor and the normalisation
    base_tasks = [
        (0, r, [c.model_dump(mode="json", exclude_none=True) for c in sc.plans[plan].campaigns]) for r in range(reps)
    ]
    base = {"orders": 0.0, "spend": 0.0, "planned": 0.0, "margin": 0.0}
    for _j, _r, res in pool.map(base_tasks):
        for k2, v2 in res.items():
            base[k2] += v2 / reps
    floor = base["orders"] if keep_orders else (min_orders if min_orders is not None else 0.0)
    base_cpo = base["spend"] / base["orders"] if base["orders"] > 0 else 1.0
    norm_orders = max(base["orders"], 1.0)
    norm_margin = max(abs(base["margin"] - base["spend"]), 1.0)

    def fval(e: dict[str, float]) -> float:
        if objective == "min-cpo":
            return (e["spend"] / e["orders"]) / base_cpo if e["orders"] > 0 else 1e6
        if objective == "max-orders":
            return -e["orders"] / norm_orders
        return -(e["margin"] - e["spend"]) / norm_margin

    def feasible(x: np.ndarray, e: dict[str, float]) -> bool:
        if objective == "min-cpo" and e["spend"] <= 0:
            return False  # no spend, no cost per order (n/a, as in the summary)
        tol = 1e-6 * budget_total
        if cost @ x > budget_total + tol:
            return False
        per_campaign = camp_matrix @ x  # a gradient point may step past a campaign's bound
        if (per_campaign > high * camp_base + tol).any() or (per_campaign < low * camp_base - tol).any():
            return False
        return e["orders"] >= floor - 1e-9

    def _record(x: np.ndarray, e: dict[str, float], kind: str) -> None:
        f = fval(e)
        ok = feasible(x, e)
        if ok and f < state["best_f"]:
            state["best_f"], state["best"] = f, x.copy()
        rows.append(
            {
                "evaluation": len(rows) + 1,
                "kind": kind,
                "orders": e["orders"],
                "spend": e["spend"],
                "planned_spend": e["planned"],
                "margin": e["margin"],
                "cpo": e["spend"] / e["orders"] if e["orders"] > 0 else math.nan,
                "objective": f,
                "feasible": ok,
                "best_objective": state["best_f"] if state["best"] is not None else math.nan,
            }
        )

    lo_b = np.zeros(n)
    # a cell may take up to `high` times its campaign's base budget in its period
    period_base = {(v.campaign, v.period): 0.0 for v in variables}
    for v, xi in zip(variables, x0, strict=True):
        period_base[v.campaign, v.period] += xi * v.scale * v.weeks
    hi_b = np.array([max(high * period_base[v.campaign, v.period] / (v.scale * v.weeks), step) for v in variables])

    def grad(x: np.ndarray) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
        """Forward differences of the objective and of orders, all points simulated together."""
        hs = np.where(x + step <= hi_b, step, -step)
        pts = [x] + [x + hs[i] * np.eye(1, n, i)[0] for i in range(n)]
        ev = run_batch(pts, "gradient")
        f0, o0 = fval(ev[0]), ev[0]["orders"]
        gf = np.array([(fval(ev[i + 1]) - f0) / hs[i] for i in range(n)])
        go = np.array([(ev[i + 1]["orders"] - o0) / hs[i] for i in range(n)])
        return ev[0], gf, go

    gcache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def grads(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = np.round(x, 9).tobytes()
        if k not in gcache:
            _, gf, go = grad(np.asarray(x, float))
            gcache[k] = (gf, go)
        return gcache[k]

    def fun(x: np.ndarray) -> float:
        return fval(run_batch([np.clip(x, lo_b, hi_b)], "point")[0]) * fscale[0]

    # SLSQP starts with an identity Hessian: scale the objective so that its first step may move
    # as much as the largest cell's budget along the steepest gradient (a step that is too long
    # costs a few single evaluations in the line search; one too short costs whole gradients)
    fscale = [1.0]

    constraints: list[dict[str, Any]] = [
        {
            "type": "ineq",
            "fun": lambda x: (budget_total - cost @ x) / base_planned,
            "jac": lambda x: -cost / base_planned,
        }
    ]
    for c in range(ncamp):
        m = (camp_of == c).astype(float) * cost
        if camp_base[c] <= 0:
            continue
        constraints.append(
            {
                "type": "ineq",
                "fun": lambda x, m=m, b=camp_base[c]: (m @ x) / b - low,
                "jac": lambda x, m=m, b=camp_base[c]: m / b,
            }
        )
        constraints.append(
            {
                "type": "ineq",
                "fun": lambda x, m=m, b=camp_base[c]: high - (m @ x) / b,
                "jac": lambda x, m=m, b=camp_base[c]: -m / b,
            }
        )
    if floor > 0:
        constraints.append(
            {
                "type": "ineq",
                "fun": lambda x: (
                    run_batch([np.clip(x, lo_b, hi_b)], "point")[0]["orders"] / norm_orders - floor / norm_orders
                ),
                "jac": lambda x: grads(x)[1] / norm_orders,
            }
        )

    from scipy.optimize import minimize

    run_batch([x0], "start")
    message = ""
    try:
        g0 = float(np.abs(grads(x0)[0]).max())
        fscale[0] = float(x0.max()) / g0 if g0 > 0 else 1.0
        res = minimize(
            fun,
            x0,
            jac=lambda x: grads(x)[0] * fscale[0],
            method="SLSQP",
            bounds=list(zip(lo_b, hi_b, strict=True)),
            constraints=constraints,
            options={"maxiter": 1000, "ftol": 1e-7},
        )
        message = f"SLSQP: {res.message}"
    except _Budget:
        message = f"evaluation budget spent ({state['count']} evaluations)"
    if state["best"] is None:
        best_x = x0
        message += "; no feasible candidate found: the base allocation is returned"
    else:
        best_x = state["best"]
    campaigns = _campaigns(variables, best_x, W)

    curve_rows: list[dict[str, Any]] = []
    if curves:
        levels = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0])
        for c in range(ncamp):
            sel = camp_of == c
            pts = []
            for lv in levels:
                x = best_x.copy()
                x[sel] = best_x[sel] * lv if cost[sel] @ best_x[sel] >= W else x0[sel] * lv
                pts.append(np.clip(x, lo_b, np.maximum(hi_b, x)))
            ev = run_batch(pts, "curve", limit=False)
            for lv, x, e in zip(levels, pts, ev, strict=True):
                curve_rows.append(
                    {
                        "campaign_id": c,
                        "campaign": variables[int(np.flatnonzero(sel)[0])].campaign_name,
                        "channel": variables[int(np.flatnonzero(sel)[0])].channel,
                        "level": float(lv),
                        "weekly": float((cost[sel] @ x[sel]) / camp_weeks[c]),
                        "orders": e["orders"],
                        "spend": e["spend"],
                        "cpo": e["spend"] / e["orders"] if e["orders"] > 0 else math.nan,
                        "margin": e["margin"],
                        "base_weekly": float(camp_base[c] / camp_weeks[c]),
                        "optimized_weekly": float((cost[sel] @ best_x[sel]) / camp_weeks[c]),
                    }
                )
    pool.close()

    # the re-evaluation on fresh replications, at full size, of base, optimized and compared plans
    final_data = base_sc.model_dump(mode="json", exclude_none=True)
    final_data["plans"][name] = {
        "name": f"{base_sc.plans[plan].name or plan}, optimized ({objective})",
        "campaigns": campaigns,
    }
    fresh_seed = int(np.random.SeedSequence([seed, 0x0F7]).generate_state(1, dtype=np.uint32)[0])
    final_sc = parse_scenario(final_data, source="optimized plan")
    names = [plan, name] + [p for p in (compare or []) if p not in (plan, name)]
    final = simulate(final_sc, names, agents=final_agents, weeks=weeks, seed=fresh_seed, reps=final_reps)
    comparison = _paired(final, name, [p for p in names if p != name])

    var_rows = []
    for v, a, b in zip(variables, x0, best_x, strict=True):
        var_rows.append(
            {
                "campaign_id": v.campaign,
                "campaign": v.campaign_name,
                "channel": v.channel,
                "segments": ", ".join(v.segments),
                "stages": ", ".join(v.stages),
                "period": v.period + 1 if v.period >= 0 else 0,
                "weeks": v.weeks,
                "base_weekly": a * v.scale,
                "weekly": round(b * v.scale) if b * v.scale >= 1 else 0.0,
                "base_total": a * v.scale * v.weeks,
                "total": (round(b * v.scale) if b * v.scale >= 1 else 0.0) * v.weeks,
            }
        )
    settings = {
        "plan": plan,
        "name": name,
        "objective": objective,
        "budget": budget_total,
        "base_planned_spend": base_planned,
        "keep_orders": keep_orders,
        "min_orders": min_orders,
        "orders_floor": floor,
        "bounds": [low, high],
        "split": split,
        "periods": periods,
        "reps": reps,
        "evaluations": evaluations,
        "evaluations_used": state["count"],
        "step": step,
        "agents": sc.scenario.agents,
        "weeks": W,
        "seed": seed,
        "final_seed": fresh_seed,
        "final_reps": final_reps,
        "final_agents": final.agents,
        "compare": names[2:],
        "workers": workers,
        "variables": n,
        "search_base": base,
    }
    return Optimization(
        scenario=sc,
        base_plan=plan,
        plan_name=name,
        objective=objective,
        settings=settings,
        variables=pd.DataFrame(var_rows),
        trace=pd.DataFrame(rows),
        curves=pd.DataFrame(curve_rows),
        campaigns=campaigns,
        final=final,
        comparison=comparison,
        message=message,
        seconds=time.perf_counter() - t0,
    )


def _paired(final: Result, plan: str, others: list[str]) -> pd.DataFrame:
    """Paired differences (plan minus each other plan) per replication, with 95% CIs."""
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
    """The optimized plan as a ``[plans.NAME]`` TOML block, one inline table per campaign."""
    s = opt.settings
    cmp = opt.comparison[(opt.comparison.versus == opt.base_plan)].set_index("metric")
    lines = [
        f"[plans.{opt.plan_name}]",
        f"name = {toml_value(opt.final.scenario.plans[opt.plan_name].name)}",
        "description = "
        + toml_value(
            f"cjmsim optimize --plan {opt.base_plan} --objective {opt.objective}: {s['variables']} budgets "
            f"(split {s['split']}, {s['periods']} period(s)), {s['evaluations_used']} evaluations"
        ),
        f"# fresh replications ({s['final_reps']} x {s['final_agents']:,} agents): orders "
        f"{cmp.loc['orders', 'relative']:+.1%}, CPO {cmp.loc['cpo', 'relative']:+.1%}, spend "
        f"{cmp.loc['spend', 'relative']:+.1%} against {opt.base_plan}",
        "campaigns = [",
    ]
    for c in opt.campaigns:
        items = ", ".join(f"{k} = {toml_value(v)}" for k, v in c.items())
        lines.append(f"  {{ {items} }},")
    lines.append("]")
    return "\n".join(lines) + "\n"
