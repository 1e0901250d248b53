"""Budget optimizer: search the allocation of a plan's budget by simulation.

The decision variables are the weekly budgets of the base plan's campaigns, each split into its
audience cells (segment x stage, by default) and, with ``periods``, into flight periods of the
horizon. Every candidate is simulated on the same replications (common random numbers), so two
candidates differ only by their budgets and the objective is a deterministic function of them.
SciPy's SLSQP (sequential quadratic programming) searches it: the budget and the per-campaign
bounds are linear constraints, the orders floor a nonlinear one, and the gradients are forward
differences whose points are simulated together on the shared task runner (local processes or
a Dask cluster). The best feasible candidate seen (gradient points included) wins. It is then
simulated again, with the base plan and any plans to compare, on fresh replications at full
size: the gain reported there is not the winner's curse of the search seeds.

Objectives: ``min-cpo`` (actual spend per order), ``max-orders``, ``max-margin`` (gross margin
minus marketing spend). Constraints: planned spend <= budget (default: the base plan's), each
campaign's total within ``bounds`` x its base total, orders >= a floor (``keep_orders``: the base
plan's orders on the search replications, or ``min_orders``).

The parts, in the order :func:`optimize` uses them:

- :mod:`.settings`: :class:`SearchSettings`, every setting, checked against the scenario;
- :mod:`.variables`: the decision variables and the campaigns a point stands for;
- :mod:`.evaluation`: one candidate on one replication, a task of :mod:`cjmsim.analyses.tasks`;
- :mod:`.search`: the constraints, the objective and the SLSQP search with its cache and trace;
- :mod:`.result`: :class:`Optimization`, the response curves and the tables;
- :mod:`.posterior` and :mod:`.robust`: the search over posterior draws (``posterior``): the best
  expected objective, or (``robust``) the smallest worst-case regret over the draws.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from cjmsim.analyses.calibration import PosteriorResult
from cjmsim.analyses.choices import OBJECTIVES, SPLITS
from cjmsim.analyses.optimize.evaluation import CANDIDATE, Simulator, Totals, mean_totals
from cjmsim.analyses.optimize.posterior import (
    SearchDraws,
    posterior_comparison,
    reevaluate_over_draws,
    search_draws,
    search_draws_table,
)
from cjmsim.analyses.optimize.result import (
    COMPARED_METRICS,
    InfeasibleError,
    Optimization,
    paired_comparison,
    plan_toml,
    response_curves,
    variable_table,
)
from cjmsim.analyses.optimize.robust import RobustSearch
from cjmsim.analyses.optimize.search import Objective, Problem, Search, point_key
from cjmsim.analyses.optimize.settings import SearchSettings
from cjmsim.analyses.optimize.variables import Variable, decision_variables
from cjmsim.analyses.simulate import Result, check_memory, simulate
from cjmsim.analyses.tasks import executor_for
from cjmsim.scenario import Scenario, parse_scenario

__all__ = [
    "OBJECTIVES",
    "SPLITS",
    "InfeasibleError",
    "Optimization",
    "SearchSettings",
    "Variable",
    "optimize",
    "plan_toml",
    "run_optimization",
]

#: Most agents of a search unless ``agents`` says otherwise.
SEARCH_AGENTS = 20_000


def optimize(
    scenario: Scenario,
    plan: str,
    objective: str = "min-cpo",
    *,
    budget: float | None = None,
    keep_orders: bool = False,
    min_orders: float | None = None,
    keep_revenue: bool = False,
    min_revenue: float | None = None,
    bounds: tuple[float, float] = (0.0, 3.0),
    split: str = "segment,stage",
    periods: int = 1,
    reps: int = 1,
    evaluations: int = 1000,
    step: float = 0.25,
    agents: int | None = None,
    weeks: int | None = None,
    seed: int | None = None,
    final_reps: int = 8,
    final_agents: int | None = None,
    compare: list[str] | None = None,
    curves: bool = True,
    curve_reps: int | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    name: str | None = None,
    posterior: Any = None,
    max_draws: int | None = None,
    robust: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Optimization:
    """Search the base plan's budget allocation for an objective, by simulation.

    Args:
        scenario: a validated scenario.
        plan: the base plan: its campaigns (split into cells) are the decision variables.
        objective: ``min-cpo`` (spend per order), ``max-orders``, ``max-margin`` (gross margin minus
            spend), ``max-inc-margin`` (incremental margin minus spend: the margin the plan adds over
            no marketing on the same people and random numbers, less what it costs) or ``min-icpo``
            (spend per incremental order).
        budget: most planned media spend over the horizon (the campaigns' budgets; the base plan's
            interventions are kept fixed in every candidate and not in it); default the base plan's.
        keep_orders: orders floor = the base plan's orders (on the search replications).
        min_orders: orders floor in people over the horizon (instead of ``keep_orders``).
        keep_revenue: revenue floor = the base plan's revenue (on the search replications).
        min_revenue: revenue floor over the horizon, currency (instead of ``keep_revenue``).
        bounds: each campaign's total budget within [low, high] x its base total.
        split: ``none``, ``segment``, ``stage`` or ``segment,stage``: how each campaign's
            audience is split into variables (each cell's budget is searched separately).
        periods: split the horizon into this many equal flight periods, each with its budgets.
        reps: replications per evaluation (common random numbers: the same for every candidate).
        evaluations: most candidate evaluations in the search (gradient points included), at
            least one search step (the start, n gradient points and a step: n + 2).
        step: forward-difference step, in units of a cell's even share of its campaign.
        agents, weeks, seed: search settings (default: at most 20,000 agents; the scenario's).
        final_reps, final_agents: the fresh re-evaluation (default 8 replications at the
            scenario's agents).
        compare: other plans of the scenario to re-evaluate beside the base and optimized plans.
        curves: also trace response curves per campaign around the optimum.
        curve_reps: replications of the response curves (default the search's, at least 2), so
            their marginal costs have confidence intervals.
        workers: local worker processes (default: the machine's cores). Ignored with ``scheduler``.
        scheduler: a Dask scheduler address (or a ``distributed.Client``): the search's
            simulations go to that cluster. Results depend on neither the workers nor the cluster.
        name: the optimized plan's id (default ``<plan>_optimized``).
        posterior: posterior draws (a :class:`~cjmsim.analyses.calibration.Draws` or a draws file):
            evaluate every candidate over them instead of ``reps`` replications, draw i on
            replication i (:mod:`.posterior`); the fresh re-evaluation then runs the same draws on
            fresh random numbers (``final_reps`` is not used) and no response curves are traced.
        max_draws: with ``posterior``, use only the first draws (default: all of them).
        robust: with ``posterior``, search the smallest worst-case regret over the draws instead of the
            best expected objective (:mod:`.robust`).
        progress: called with the number of evaluations done since the last call.

    Returns:
        an :class:`Optimization`.

    Raises:
        ArgumentError: a bad argument, named by its parameter (``objective``, ``bounds``, ...),
            an evaluation budget too small for one search step, or a search too large for this
            machine (decision variables, agents), before any run.
        InfeasibleError: no candidate of the search kept to the budget, the bounds and the
            orders floor (e.g. a ``min_orders`` no allocation reaches); no plan is returned.
    """
    settings = SearchSettings(
        objective=objective,
        budget=budget,
        keep_orders=keep_orders,
        min_orders=min_orders,
        keep_revenue=keep_revenue,
        min_revenue=min_revenue,
        bounds=bounds,
        split=split,
        periods=periods,
        reps=reps,
        evaluations=evaluations,
        step=step,
        agents=agents,
        weeks=weeks,
        seed=seed,
        final_reps=final_reps,
        final_agents=final_agents,
        compare=tuple(compare or ()),
        curves=curves,
        curve_reps=curve_reps,
        workers=workers,
        scheduler=scheduler,
        name=name,
        posterior=posterior,
        max_draws=max_draws,
        robust=robust,
    )
    return run_optimization(scenario, plan, settings, progress)


def run_optimization(
    scenario: Scenario, plan: str, s: SearchSettings, progress: Callable[[int], None] | None = None
) -> Optimization:
    """:func:`optimize` with its settings in one value: check, search, trace curves, re-evaluate."""
    t0 = time.perf_counter()
    s.check(scenario, plan)
    seed = scenario.scenario.seed if s.seed is None else s.seed
    sc = scenario.with_settings(agents=s.agents or min(scenario.scenario.agents, SEARCH_AGENTS), weeks=s.weeks)
    W = sc.scenario.weeks
    workers = s.workers or os.cpu_count() or 1
    check_memory(sc.scenario.agents, processes=min(workers, 1_000) if s.scheduler is None else 1)
    check_memory(s.final_agents or scenario.scenario.agents)
    data = sc.model_dump(mode="json", exclude_none=True)
    base_campaigns = list(data["plans"][plan]["campaigns"])  # the base plan as it is: evaluation 1
    # the base plan's interventions stay fixed in every candidate: the search moves media budgets only
    if data["plans"][plan].get("interventions"):
        data["plans"][CANDIDATE] = {"campaigns": [], "interventions": data["plans"][plan]["interventions"]}
    # the draws are read and each one's scenario validated before anything is simulated
    post = None if s.posterior is None else search_draws(data, s.posterior, s.max_draws, "the search scenario")
    variables = decision_variables(sc, plan, s.split, s.periods, seed)
    problem = Problem(variables, len(sc.plans[plan].campaigns), s.budget, s.bounds, s.step)
    reps = s.reps if post is None else len(post.ids)
    curve_reps = s.curve_reps or max(s.reps, 2)
    with executor_for(min(workers, (problem.n + 1) * reps), s.scheduler) as executor:
        simulator = Simulator(executor, data, seed, s.reps, None if post is None else post.scenarios)
        start = simulator.per_rep([base_campaigns])[0]
        base = mean_totals(start)
        floor = base["orders"] if s.keep_orders else (s.min_orders if s.min_orders is not None else 0.0)
        revenue_floor = base["revenue"] if s.keep_revenue else (s.min_revenue or 0.0)
        goal = Objective(s.objective, problem, base, floor, revenue_floor)
        search = (RobustSearch if s.robust else Search)(
            problem, goal, simulator, variables, W, base_campaigns,
            evaluations=s.evaluations, step=s.step, progress=progress,
        )  # fmt: skip
        search.start(start)
        best_x, message = search.run()
        if search.best is None:
            raise _infeasible(search, floor, revenue_floor, message)
        if not search.found:
            best_x = problem.x0  # the base plan itself
        curves = pd.DataFrame([])
        marginal = pd.DataFrame([])
        if s.curves and post is None:  # over draws: no curves (their intervals would be over replications)
            curve_sim = simulator if curve_reps == s.reps else Simulator(executor, data, seed, curve_reps)
            curves, marginal = response_curves(search, best_x, curve_sim)
    campaigns = search.campaigns(best_x)
    name = s.plan_name(plan)
    compared = [plan] + [p for p in s.compare if p not in (plan, name)]  # the optimized plan against these
    final, final_seed = _reevaluate(scenario, plan, name, campaigns, compared, s, seed, post)
    settings = {
        "plan": plan,
        "name": name,
        "objective": s.objective,
        "budget": problem.budget,
        "base_planned_spend": problem.base_planned,
        "keep_orders": s.keep_orders,
        "min_orders": s.min_orders,
        "orders_floor": floor,
        "keep_revenue": s.keep_revenue,
        "min_revenue": s.min_revenue,
        "revenue_floor": revenue_floor,
        "bounds": list(s.bounds),
        "split": s.split,
        "periods": s.periods,
        "reps": s.reps,
        "evaluations": s.evaluations,
        "evaluations_allowed": s.evaluations,
        "evaluations_used": search.count,
        "found": search.found,
        "step": s.step,
        "agents": sc.scenario.agents,
        "scenario_agents": scenario.scenario.agents,
        "weeks": W,
        "seed": seed,
        "final_seed": final_seed,
        "final_reps": s.final_reps,
        "final_agents": final.agents if isinstance(final, Result) else final.scenario.scenario.agents,
        "curve_reps": curve_reps if s.curves else None,
        "compare": compared[1:],
        "workers": workers if s.scheduler is None else None,  # a cluster has its own
        "scheduler": s.scheduler if s.scheduler is None or isinstance(s.scheduler, str) else "a distributed.Client",
        "variables": problem.n,
        "search_base": base,
        "posterior": post is not None,
        "robust": s.robust,
        **({} if post is None else post.settings()),
    }
    if post is not None:  # the fresh re-evaluation ran the draws, and no curves were traced
        settings.update(final_reps=None, curve_reps=None)
    return Optimization(
        scenario=sc,
        base_plan=plan,
        plan_name=name,
        objective=s.objective,
        settings=settings,
        variables=variable_table(search, best_x),
        trace=_trace(search, post),
        curves=curves,
        marginal=marginal,
        start=pd.DataFrame([{"rep": r, **e} for r, e in enumerate(start)]),
        found=search.found,
        campaigns=campaigns,
        final=final if isinstance(final, Result) else None,
        posterior=None if isinstance(final, Result) else final,
        comparison=_comparison(final, name, compared),
        message=message,
        seconds=time.perf_counter() - t0,
        draws=pd.DataFrame() if post is None else _draws_table(search, post, goal, start, best_x),
    )


def _trace(search: Search, post: SearchDraws | None) -> pd.DataFrame:
    """The search's evaluations; a robust search's ``worst_draw`` named by the draws file's id."""
    trace = pd.DataFrame(search.rows)
    if post is not None and "worst_draw" in trace:
        trace["worst_draw"] = [post.ids[int(i)] for i in trace["worst_draw"]]
    return trace


def _comparison(final: Result | PosteriorResult, name: str, compared: list[str]) -> pd.DataFrame:
    """The optimized plan against the others: paired over replications (95% CIs) or over draws (90% intervals)."""
    if isinstance(final, Result):
        return paired_comparison(final, name, compared)
    return posterior_comparison(final, name, compared, COMPARED_METRICS)


def _draws_table(
    search: Search, post: SearchDraws, goal: Objective, start: list[Totals], best_x: np.ndarray
) -> pd.DataFrame:
    """The search's draws: the objective's metric of the base and optimized plans (and the robust bests)."""
    optimized = search.per_rep_cache[point_key(best_x)] if point_key(best_x) in search.per_rep_cache else start
    bests = search.natural_bests() if isinstance(search, RobustSearch) else None
    return search_draws_table(post, goal, start, optimized, bests)


def _infeasible(search: Search, floor: float, revenue_floor: float, stopped: str) -> InfeasibleError:
    """Why no candidate was feasible: the most orders (revenue) seen within the budget and bounds, against the floor."""
    trace = pd.DataFrame(search.rows)
    say = f"{stopped}; no feasible candidate found in {search.count} evaluations"
    if revenue_floor > 0 and len(trace) and float(trace.revenue.max()) < revenue_floor:
        say += (
            f": the most revenue of any candidate was {float(trace.revenue.max()):,.0f}, below the revenue floor of "
            f"{revenue_floor:,.0f}; lower the revenue floor, or raise the budget or the bounds"
        )
    elif floor > 0 and len(trace):
        most = float(trace.orders.max())
        say += (
            f": the most orders of any candidate were {most:,.0f}, below the orders floor of {floor:,.0f}; "
            "lower the orders floor, or raise the budget or the bounds"
        )
    else:
        say += ": no candidate had spend within the budget and bounds; raise the budget or widen the bounds"
    return InfeasibleError(say + "; no optimized plan was made", trace, floor, search.count, stopped)


def _reevaluate(
    scenario: Scenario,
    plan: str,
    name: str,
    campaigns: list[dict[str, Any]],
    compared: list[str],
    s: SearchSettings,
    seed: int,
    post: SearchDraws | None = None,
) -> tuple[Result | PosteriorResult, int]:
    """The base, optimized and compared plans on fresh replications at full size (over the posterior
    draws on fresh random numbers), and their seed."""
    data = scenario.model_dump(mode="json", exclude_none=True)
    label = f"{scenario.plans[plan].name or plan}, optimized ({s.objective})"
    interventions = data["plans"][plan].get("interventions", [])  # fixed: the optimizer moves media budgets
    data["plans"][name] = {"name": label, "campaigns": campaigns, "interventions": interventions}
    fresh_seed = int(np.random.SeedSequence([seed, 0x0F7]).generate_state(1, dtype=np.uint32)[0])
    if post is not None:
        over = reevaluate_over_draws(
            data, post, [plan, name, *compared[1:]], agents=s.final_agents, weeks=s.weeks, seed=fresh_seed,
            workers=s.workers, scheduler=s.scheduler,
        )  # fmt: skip
        return over, fresh_seed
    final = simulate(
        parse_scenario(data, source="optimized plan"),
        [plan, name, *compared[1:]],
        agents=s.final_agents,
        weeks=s.weeks,
        seed=fresh_seed,
        reps=s.final_reps,
    )
    return final, fresh_seed
