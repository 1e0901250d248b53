"""Plans under uncertainty: every plan of a scenario run over posterior draws, paired within a draw.

:func:`run_posterior` applies each posterior draw to the scenario (:func:`~.draws.apply_draw`) and
runs every plan, and no marketing, on the customers and random numbers of one replication per draw:
draw i runs on replication i (``make_streams(seed, i, G)``). Within a draw every plan sees the same
customers and random numbers, so a plan's difference from the reference is paired; across draws
both the parameters and the random numbers change, so the spread over draws is the spread of what
the plan would do in the worlds the posterior allows: parameter uncertainty and simulation noise
together. Every number is a total over the segments (the run's segment ``all``), computed by
:mod:`cjmsim.analyses.metrics` (the summary row and the incremental metrics every command uses).

Intervals are 90% posterior intervals: the 5th and 95th percentiles over draws (numpy's linear
interpolation between order statistics; with few draws they lie close to the extreme draws, so a
few dozen draws or more make them worth reading). One task per draw goes through the shared task
runner (:func:`~cjmsim.analyses.tasks.executor_for`); results do not depend on the workers.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cjmsim.analyses import metrics
from cjmsim.analyses.simulate import NO_MARKETING, check_memory, check_reference, shares_warm_up, simulated_weeks
from cjmsim.analyses.tasks import executor_for
from cjmsim.engine import make_streams, run_plan, run_plans
from cjmsim.output import atomic_folder, metadata, write_csv, write_json
from cjmsim.scenario import (
    INCREMENTAL_METRICS,
    METRICS,
    SUMMARY_METRICS,
    TOTAL_METRICS,
    ArgumentError,
    Scenario,
    ScenarioError,
    parse_scenario,
)

from .draws import Draws, apply_draw, read_draws

__all__ = [
    "DIFFERENCE_COLUMNS",
    "INTERVAL",
    "MAX_DRAWS",
    "NO_CLEAR_DIFFERENCE",
    "PARALLEL_AGENT_WEEKS",
    "PosteriorResult",
    "WIN_COLUMNS",
    "WIN_METRICS",
    "DrawTask",
    "paired_differences",
    "posterior_verdict",
    "run_draw",
    "run_posterior",
    "summarise_draws",
    "win_shares",
    "write_posterior",
]

#: The most draws ``cjmsim run --posterior`` uses (the first ones of the file); the library has no cap.
MAX_DRAWS = 1000
#: The posterior interval: the share of draws between its ends (5th and 95th percentiles).
INTERVAL = metrics.POSTERIOR_INTERVAL
_LOW, _HIGH = (1 - INTERVAL) / 2, 1 - (1 - INTERVAL) / 2
#: Below this many agent-weeks in all (draws x agents x simulated weeks), ``workers=None`` runs in this
#: process: a spawned process takes about 1.5 s to start (imports, the compiled kernels), more than
#: such a run gains (at about 10 M agent-weeks a second and core, docs/performance.md).
PARALLEL_AGENT_WEEKS = 50e6
#: The verdict of a paired difference whose 90% interval includes zero.
NO_CLEAR_DIFFERENCE = "no clear difference"
#: The metrics whose wins are counted (those the run has: the incremental ones need no marketing).
WIN_METRICS = ("inc_orders", "icpo", "inc_margin", "iromi", "orders", "cpo", "margin", "romi")
#: The columns of the differences table (posterior_differences.csv), in order.
DIFFERENCE_COLUMNS = (
    "plan", "reference", "metric", "better", "draws", "diff", "diff_median", "diff_p05", "diff_p95", "verdict",
    "share_higher", "ratio", "ratio_median", "ratio_p05", "ratio_p95",
)  # fmt: skip
#: The columns of the wins table (posterior_wins.csv), in order.
WIN_COLUMNS = ("metric", "better", "plan", "wins", "draws", "share")


@dataclass
class PosteriorResult:
    """What :func:`run_posterior` returns: four tables over the draws, and the settings that made them.

    Attributes:
        scenario: the scenario as run before any draw (agents, weeks and seed applied).
        draws: the posterior draws (all of them; ``settings["draws_used"]`` were run).
        plans: the plans run, in order; ``reference`` the one the others are compared with.
        summary: one row per plan (and no marketing, last): ``draws``, then for every metric
            ``<metric>`` (mean over draws), ``<metric>_median``, ``<metric>_p05`` and ``<metric>_p95``
            (its 90% posterior interval); a draw where a metric has no value (n/a) is left out of it.
        differences: every plan but the reference against it, per metric, paired within each draw:
            columns :data:`DIFFERENCE_COLUMNS` (see :func:`paired_differences`).
        wins: per metric of :data:`WIN_METRICS` and plan, the share of draws in which the plan is the
            best of the plans run: columns :data:`WIN_COLUMNS` (see :func:`win_shares`).
        per_draw: one row per draw and plan (no marketing too): ``draw`` (the draws file's), ``plan``,
            every parameter's value in that draw, every metric.
        settings: draws used and available, agents, weeks, seed, reference, baseline, the interval,
            the draws file, what made it, and its parameters.
    """

    scenario: Scenario
    draws: Draws
    plans: list[str]
    reference: str
    summary: pd.DataFrame
    differences: pd.DataFrame
    wins: pd.DataFrame
    per_draw: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def incremental(self) -> bool:
        """Whether no marketing was run, so the tables have the incremental metrics."""
        return bool(self.settings.get("baseline"))


@dataclass(frozen=True)
class DrawTask:
    """One draw's work: its scenario, run with every plan (and no marketing) on replication ``index``."""

    index: int  # the draw's row in the draws file: its streams are replication ``index``
    draw: Any  # the draws file's ``draw`` value
    scenario: Scenario
    plans: tuple[str, ...]
    baseline: bool
    seed: int
    threads: int | None = None

    @property
    def key(self) -> str:
        """The task's identity (a Dask key)."""
        return f"posterior-draw-{self.index:05d}"


def run_draw(task: DrawTask) -> tuple[int, list[dict[str, Any]]]:
    """Run one draw: every plan, then no marketing (when ``baseline``), on the customers and random numbers
    of replication ``task.index``; returns the index and one row per plan (``plan`` and every metric of
    segment ``all``: :func:`~cjmsim.analyses.metrics.summary_row`, and with the baseline
    :func:`~cjmsim.analyses.metrics.incremental_row` against it; the no-marketing row's incremental
    metrics are NaN)."""
    sc = task.scenario
    s = sc.scenario
    streams = make_streams(task.seed, task.index, len(sc.segments))
    runs: list[str | None] = [*task.plans, *([None] if task.baseline else [])]
    if shares_warm_up(len(runs)):  # bit for bit the records of run_plan, one warm-up's work
        records = run_plans(sc, runs, streams, s.agents, s.weeks, threads=task.threads)
    else:
        records = [run_plan(sc, p, streams, s.agents, s.weeks, threads=task.threads) for p in runs]
    totals = [metrics.summary_row(rec, slice(None), s.ltv_weeks) for rec in records]
    rows: list[dict[str, Any]] = []
    without = totals[-1] if task.baseline else None
    for plan, row in zip(task.plans, totals, strict=False):
        extra = metrics.incremental_row(row, without) if without is not None else {}
        rows.append({"plan": plan, **row, **extra})
    if without is not None:
        rows.append({"plan": NO_MARKETING, **without, **dict.fromkeys(INCREMENTAL_METRICS, math.nan)})
    return task.index, rows


def _finite(values: Any) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return v[np.isfinite(v)]


def _spread(values: Any) -> tuple[float, float, float, float]:
    """Mean, median, 5th and 95th percentiles of the finite values (NaN when there are none)."""
    v = _finite(values)
    if v.size == 0:
        return math.nan, math.nan, math.nan, math.nan
    med, low, high = np.quantile(v, [0.5, _LOW, _HIGH])
    return float(v.mean()), float(med), float(low), float(high)


def posterior_verdict(low: float, high: float, draws: int) -> str:
    """``"higher"`` where the 90% interval of a paired difference (plan - reference) lies above zero,
    ``"lower"`` where it lies below, else :data:`NO_CLEAR_DIFFERENCE` (also with fewer than two draws).

    The interval is over posterior draws, so it carries the parameters' uncertainty as well as the
    simulation's noise: a plan may be called higher or lower only where this says so."""
    if draws < 2 or not (math.isfinite(low) and math.isfinite(high)):
        return NO_CLEAR_DIFFERENCE
    if low > 0:
        return "higher"
    if high < 0:
        return "lower"
    return NO_CLEAR_DIFFERENCE


def summarise_draws(per_draw: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """One row per plan of ``per_draw`` (in its order): ``draws``, then for each metric its mean over draws
    and ``_median``, ``_p05``, ``_p95`` (the 90% posterior interval), over the draws where it has a value."""
    rows = []
    for plan, grp in per_draw.groupby("plan", sort=False):
        row: dict[str, Any] = {"plan": plan, "draws": len(grp)}
        for m in names:
            mean, med, low, high = _spread(grp[m])
            row.update({m: mean, f"{m}_median": med, f"{m}_p05": low, f"{m}_p95": high})
        rows.append(row)
    return pd.DataFrame(rows)


def paired_differences(
    per_draw: pd.DataFrame, plans: Sequence[str], reference: str, names: Sequence[str]
) -> pd.DataFrame:
    """Every plan but ``reference`` against it, per metric, paired draw by draw.

    ``diff`` is the mean over draws of (plan - reference) in the same draw, ``diff_median``,
    ``diff_p05``, ``diff_p95`` its median and 90% posterior interval, ``verdict`` what that interval
    allows (:func:`posterior_verdict`), ``share_higher`` the share of draws where the plan is above
    the reference. ``ratio`` is the ratio of the means (``mean(plan) / mean(reference)``, so
    ``ratio - 1 = diff / mean(reference)``), ``ratio_median``, ``ratio_p05``, ``ratio_p95`` those of the
    per-draw ratios (draws with a reference above zero). ``draws``: the draws where both have a value;
    ``better``: the metric's better direction (the registry's; empty where neither)."""
    by = per_draw.set_index(["plan", "draw"])
    rows = []
    for plan in plans:
        if plan == reference:
            continue
        mine = by.loc[plan]
        ref = by.loc[reference].loc[mine.index]  # the same draws, in the same order
        for m in names:
            a, b = mine[m].to_numpy(dtype=float), ref[m].to_numpy(dtype=float)
            ok = np.isfinite(a) & np.isfinite(b)
            a, b = a[ok], b[ok]
            d = a - b
            mean, med, low, high = _spread(d)
            share = float((d > 0).mean()) if d.size else math.nan
            ratio = float(a.mean() / b.mean()) if b.size and b.mean() > 0 else math.nan
            pos = b > 0
            _, rmed, rlow, rhigh = _spread(a[pos] / b[pos])
            better = METRICS[m].better if m in METRICS else None
            rows.append((plan, reference, m, better or "", int(d.size), mean, med, low, high,
                         posterior_verdict(low, high, int(d.size)), share, ratio, rmed, rlow, rhigh))  # fmt: skip
    return pd.DataFrame(rows, columns=list(DIFFERENCE_COLUMNS))


def win_shares(per_draw: pd.DataFrame, plans: Sequence[str], names: Sequence[str]) -> pd.DataFrame:
    """Per metric and plan: the share of draws in which the plan is the best of ``plans``.

    The best is the highest value, or the lowest for a metric whose better direction is lower
    (``icpo``, ``cpo``); a plan without a value in a draw (n/a: a CPO without spend) does not win
    it; plans tied for the best split the draw evenly. ``wins`` is the (fractional) count of draws
    won, ``draws`` the draws in which some plan has a value, ``share = wins / draws``: the shares of
    a metric sum to 1 over the plans (NaN when no draw has a value)."""
    wide = per_draw[per_draw.plan.isin(plans)]
    rows = []
    for m in names:
        better = METRICS[m].better
        table = wide.pivot(index="draw", columns="plan", values=m).reindex(columns=list(plans)).to_numpy(float)
        signed = table if better == "higher" else -table
        wins = np.zeros(len(plans))
        draws = 0
        for values in signed:
            ok = np.isfinite(values)
            if not ok.any():
                continue
            draws += 1
            best = values[ok].max()
            tied = ok & (values == best)
            wins[tied] += 1.0 / tied.sum()
        for plan, w in zip(plans, wins, strict=True):
            rows.append((m, better, plan, float(w), draws, float(w / draws) if draws else math.nan))
    return pd.DataFrame(rows, columns=list(WIN_COLUMNS))


def _scenarios(base: dict[str, Any], draws: Draws, n: int, source: str, name: str) -> tuple[list[Scenario], list[Any]]:
    """The first ``n`` draws' scenarios, each validated (a bad draw is refused before any run), and their ids."""
    ids = draws.table["draw"].iloc[:n].tolist()
    seen: set[Any] = set()
    for draw in ids:
        if draw in seen:
            raise ScenarioError(f"{name}: column 'draw': draw {draw!r} appears twice; each draw must have its own id")
        seen.add(draw)
    out = []
    for i, draw in enumerate(ids):
        data = apply_draw(base, draws.parameters, draws.values(i), where=f"{name}: draw {draw} (on {source})")
        out.append(parse_scenario(data, source=f"{source}: draw {draw} of {name}", internal_plans=False))
    return out, ids


def run_posterior(
    scenario_data: dict[str, Any],
    draws: Draws | str | Path,
    plans: Sequence[str] | None = None,
    *,
    agents: int | None = None,
    weeks: int | None = None,
    seed: int | None = None,
    reference: str | None = None,
    baseline: bool = True,
    max_draws: int | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    progress: Callable[[int, int], None] | None = None,
    source: str = "<scenario>",
    base_dir: Path | None = None,
) -> PosteriorResult:
    """Run every plan (and no marketing) over posterior draws: one replication per draw, paired within it.

    Args:
        scenario_data: the scenario as TOML parses it; validated here (messages name ``source``).
        draws: posterior draws, or the path of a draws file (:func:`~.draws.read_draws`).
        plans: plan ids to run, default all, in scenario order.
        agents, weeks, seed: override the scenario's settings (every draw runs with them).
        reference: the plan the others are compared with (default: the first plan run).
        baseline: also run no marketing in every draw, for the incremental metrics.
        max_draws: use only the first ``max_draws`` draws (default: all of them).
        workers: local processes (1 = in this process; default: the machine's cores, at most one per
            draw, or this process for a run under :data:`PARALLEL_AGENT_WEEKS`). Ignored with
            ``scheduler``. Results do not depend on it.
        scheduler: a Dask scheduler address (or a ``distributed.Client``): the draws run there.
        progress: called with (draws done, draws in all) as draws finish.
        source: what messages call the scenario (its file); ``base_dir``: the folder its files are
            relative to (a seasonality ``file``).

    Draw i is applied to the scenario (a relative parameter multiplies every value its path selects)
    and runs on replication i of ``seed``. Intervals are 90% posterior intervals over draws, so they
    include the parameters' uncertainty, not only the simulation's noise (see the module's text).

    Raises:
        ScenarioError: a bad scenario; a draw whose path the scenario does not have (naming the draws
            file, the draw, the parameter and the path) or whose values make it invalid; a parameter
            named like a column of the tables. All before anything runs.
        ArgumentError: an unknown plan or reference, ``max_draws`` below 1, or too little memory.
    """
    if not isinstance(draws, Draws):
        draws = read_draws(draws)
    name = str(draws.path) if draws.path is not None else "<draws>"
    if max_draws is not None and max_draws < 1:
        raise ArgumentError("max_draws", f" {max_draws}: use at least one draw")
    sc = parse_scenario(scenario_data, source=source, internal_plans=False, base_dir=base_dir)
    sc = sc.with_settings(agents=agents, weeks=weeks, seed=seed)
    names = list(dict.fromkeys(plans)) if plans else list(sc.plans)
    sc.only_plans(names)  # an unknown plan is named now
    ref = reference if reference is not None else names[0]
    check_reference(ref, names)
    columns = {"draw", "plan", *SUMMARY_METRICS}
    clash = [p.name for p in draws.parameters if p.name in columns]
    if clash:
        raise ScenarioError(f"{name}: parameter {clash[0]!r} is named like a column of the results; rename it")
    n = len(draws) if max_draws is None else min(max_draws, len(draws))
    # the validated scenario, every default filled in: a relative parameter may scale a default
    base = sc.model_dump(mode="json", exclude_none=True)
    scenarios, ids = _scenarios(base, draws, n, source, name)
    s = sc.scenario
    runs = len(names) + baseline
    local = scheduler is None
    if workers is None:  # a small run is done before processes would have started
        small = (
            s.agents * simulated_weeks(runs, s.weeks, s.warmup_weeks, n, shares_warm_up(runs)) < PARALLEL_AGENT_WEEKS
        )
        workers = 1 if small else os.cpu_count() or 1
    workers = max(1, min(workers, n)) if local else 1
    check_memory(s.agents, processes=workers, fork=shares_warm_up(runs))
    if not local:
        threads: int | None = 1  # a cluster's worker runs one task per core
    else:  # engine threads: the default in this process, else the cores shared by the processes
        threads = None if workers == 1 else max(1, (os.cpu_count() or 1) // workers)
    tasks = [DrawTask(i, ids[i], scenarios[i], tuple(names), baseline, s.seed, threads) for i in range(n)]
    got: dict[int, list[dict[str, Any]]] = {}
    if progress is not None:
        progress(0, n)
    with executor_for(workers, scheduler) as ex:
        for index, rows in ex.run(run_draw, tasks):
            got[index] = rows
            if progress is not None:
                progress(len(got), n)
    per_draw = _per_draw(got, draws, ids, baseline)
    metric_names = list(SUMMARY_METRICS if baseline else TOTAL_METRICS)
    settings = {
        "posterior": True,
        "draws_used": n,
        "draws_available": len(draws),
        "all_draws": n == len(draws),
        "agents": s.agents,
        "weeks": s.weeks,
        "seed": s.seed,
        "reference": ref,
        "baseline": baseline,
        "interval": INTERVAL,
        "draws_file": None if draws.path is None else str(draws.path),
        "draws_source": draws.source,
        "parameters": [{"name": p.name, "path": p.path, "relative": p.relative} for p in draws.parameters],
        "workers": workers if local else None,  # results do not depend on it
    }
    win_names = [m for m in WIN_METRICS if m in metric_names]
    return PosteriorResult(
        sc, draws, names, ref,
        summary=summarise_draws(per_draw, metric_names),
        differences=paired_differences(per_draw, names, ref, metric_names),
        wins=win_shares(per_draw, names, win_names),
        per_draw=per_draw,
        settings=settings,
    )  # fmt: skip


def _per_draw(got: dict[int, list[dict[str, Any]]], draws: Draws, ids: list[Any], baseline: bool) -> pd.DataFrame:
    """The long table: draw by draw (in the file's order, whatever order they finished in), plan by plan."""
    rows = []
    for i in sorted(got):
        values = draws.values(i)
        for r in got[i]:
            rows.append({"draw": ids[i], "plan": r["plan"], **values, **{k: v for k, v in r.items() if k != "plan"}})
    names = list(SUMMARY_METRICS if baseline else TOTAL_METRICS)
    return pd.DataFrame(rows, columns=["draw", "plan", *(p.name for p in draws.parameters), *names])


def write_posterior(
    result: PosteriorResult,
    out: str | Path,
    scenario_path: str | Path | None = None,
    elapsed_s: float = 0.0,
) -> Path:
    """Write a posterior run's folder atomically: posterior_summary.csv, posterior_differences.csv,
    posterior_wins.csv, posterior_draws.csv (the per-draw table), metadata.json (analysis ``run``,
    the settings under ``settings``) and a copy of the scenario file; returns the folder."""
    out = Path(out)
    with atomic_folder(out) as tmp:
        write_csv(tmp / "posterior_summary.csv", result.summary)
        write_csv(tmp / "posterior_differences.csv", result.differences)
        write_csv(tmp / "posterior_wins.csv", result.wins)
        write_csv(tmp / "posterior_draws.csv", result.per_draw)
        meta = metadata(
            "run",
            result.scenario,
            scenario_path=scenario_path,
            seed=result.scenario.scenario.seed,
            reps=1,  # one replication per draw
            elapsed_s=elapsed_s,
            plans=result.plans,
            settings=result.settings,
        )
        write_json(tmp / "metadata.json", meta)
        if scenario_path is not None:
            shutil.copyfile(scenario_path, tmp / f"scenario{Path(scenario_path).suffix or '.toml'}")
    return out
