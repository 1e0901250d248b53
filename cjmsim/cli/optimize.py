"""``cjmsim optimize``: search a plan's budget allocation by simulation."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from cjmsim.analyses.choices import OBJECTIVES, SPLITS

from .common import (
    counter,
    err_console,
    force_option,
    guarded,
    library_errors,
    load,
    out_folder,
    plain,
    printable,
    scheduler_option,
    tracked,
)
from .tables import optimize_headline, optimize_table, posterior_headline, posterior_tables

__all__ = ["INFEASIBLE", "optimize_command"]

#: Exit status when the search finds no feasible allocation (2 is a bad input, 1 a crash).
INFEASIBLE = 3


def _bounds(_ctx: Any, _param: Any, value: str) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: give LOW,HIGH, e.g. 0,3") from None
    return low, high


@click.command("optimize")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--plan", required=True, help="The base plan: its campaigns' budgets are the decision variables.")
@click.option(
    "--objective",
    type=click.Choice(OBJECTIVES),
    default="min-cpo",
    show_default=True,
    help="min-cpo: lowest spend per order; max-orders: most orders; max-margin: most gross margin minus spend; "
    "max-inc-margin: most incremental margin (over no marketing) minus spend; min-icpo: lowest spend per "
    "incremental order.",
)
@click.option(
    "--budget", type=click.FloatRange(min=0), help="Most planned spend over the horizon. Default: the base plan's."
)
@click.option("--keep-orders", is_flag=True, help="Orders floor: the base plan's orders.")
@click.option("--min-orders", type=click.FloatRange(min=0), help="Orders floor in people over the horizon.")
@click.option("--keep-revenue", is_flag=True, help="Revenue floor: the base plan's revenue.")
@click.option(
    "--min-revenue", type=click.FloatRange(min=0), help="Revenue floor over the horizon, currency (any objective)."
)
@click.option(
    "--bounds",
    default="0,3",
    show_default=True,
    callback=_bounds,
    help="Each campaign's budget within LOW,HIGH x its base budget.",
)
@click.option(
    "--split",
    type=click.Choice(SPLITS),
    default="segment,stage",
    show_default=True,
    help="Split each campaign's audience into cells with their own budgets (none = campaigns as they are).",
)
@click.option("--periods", type=click.IntRange(min=1, max=52), default=1, show_default=True, help="Flight periods.")
@click.option(
    "--reps", type=click.IntRange(min=1, max=100), default=1, show_default=True, help="Replications per evaluation."
)
@click.option(
    "--evaluations", type=click.IntRange(min=2), default=1000, show_default=True, help="Most candidate evaluations."
)
@click.option(
    "--agents", type=click.IntRange(min=100), help="Agents in the search. Default: the scenario's, at most 20,000."
)
@click.option("--weeks", type=click.IntRange(min=1, max=1040), help="Horizon (overrides the scenario).")
@click.option("--seed", type=click.IntRange(min=0), help="Random seed (overrides the scenario).")
@click.option(
    "--final-reps", type=click.IntRange(min=2, max=1000), default=8, show_default=True, help="Fresh replications."
)
@click.option(
    "--final-agents", type=click.IntRange(min=100), help="Agents in the re-evaluation. Default: the scenario's."
)
@click.option("--compare", multiple=True, help="Another plan to re-evaluate beside them (repeatable).")
@click.option("--name", help="Id of the optimized plan. Default: <plan>_optimized.")
@click.option("--workers", type=click.IntRange(min=1, max=256), help="Local processes. Default: the machine's cores.")
@scheduler_option
@click.option("--no-curves", is_flag=True, help="Skip the response curves around the optimum.")
@click.option(
    "--curve-reps",
    type=click.IntRange(min=2, max=100),
    help="Replications of the response curves. Default: the search's, at least 2.",
)
@click.option("--out", type=click.Path(file_okay=False), help="Output folder. Default: out/<file name>-optimize.")
@click.option("--no-report", is_flag=True, help="Skip the charts and report.html (tables only).")
@click.option("--quiet", is_flag=True, help="Print no table and no progress.")
@click.option(
    "--posterior",
    type=click.Path(dir_okay=False),
    help="A posterior draws file (posterior.parquet): evaluate every candidate over its draws (draw i on "
    "replication i) for the best expected objective, and re-evaluate over them on fresh random numbers.",
)
@click.option(
    "--draws",
    type=click.IntRange(min=1, max=1000),
    help="With --posterior: use the file's first N draws. Default: every draw, at most 1,000.",
)
@click.option(
    "--robust",
    is_flag=True,
    help="With --posterior: the smallest worst-case regret over the draws instead of the best expected objective.",
)
@force_option
@guarded
def optimize_command(
    file: str,
    plan: str,
    objective: str,
    budget: float | None,
    keep_orders: bool,
    min_orders: float | None,
    keep_revenue: bool,
    min_revenue: float | None,
    bounds: tuple[float, float],
    split: str,
    periods: int,
    reps: int,
    evaluations: int,
    agents: int | None,
    weeks: int | None,
    seed: int | None,
    final_reps: int,
    final_agents: int | None,
    compare: tuple[str, ...],
    name: str | None,
    workers: int | None,
    scheduler: str | None,
    no_curves: bool,
    curve_reps: int | None,
    out: str | None,
    no_report: bool,
    quiet: bool,
    force: bool,
    posterior: str | None,
    draws: int | None,
    robust: bool,
) -> None:
    """Search a plan's budget allocation for an objective (min-cpo, max-inc-margin, ...), by simulation.

    Splits each campaign of the base plan into audience cells (segment x stage by default) and,
    with --periods, flight periods; simulates every candidate on the same replications (common
    random numbers); SciPy's SLSQP searches under the budget, the per-campaign bounds and the
    orders and revenue floors, with forward-difference gradients simulated in parallel. The
    first evaluation is the base plan itself; when nothing beats it, the result says "no better
    allocation found". The winner and the base plan (and --compare plans) are then re-run on
    fresh replications with 95% CIs. Writes plan.toml (the [plans.NAME] block to paste),
    comparison.csv, summary.csv, variables.csv, trace.csv, curves.csv, marginal.csv,
    metadata.json, the charts and report.html.

    With --posterior DRAWS every candidate is evaluated over the first --draws draws instead of
    replications (draw i's parameters, on replication i): the objective is that of the totals
    averaged over the draws; with --robust, the search minimises the worst-case regret over the
    draws (in each draw, how far the candidate falls short of the best candidate evaluated for
    that draw). The winner, the base plan and --compare plans are then re-run over the same draws
    on fresh random numbers: comparison.csv and summary.csv have 90% posterior intervals (_p05,
    _p95), and posterior_differences.csv, posterior_wins.csv, posterior_draws.csv and draws.csv
    (the search's objective per draw) are written; no response curves, charts or report.

    Exit status: 0 done; 2 a bad option or scenario, an --evaluations too small for one search
    step (n + 2 for n budgets), or a search too large for this machine (refused before any
    simulation); 3 no feasible allocation found (e.g. a --min-orders no allocation reaches): the
    reason is printed and no folder or plan.toml is written.
    """
    from cjmsim.analyses.optimize import InfeasibleError, optimize

    _check_posterior_options(posterior, draws, robust)
    sc = load(file)
    with library_errors():  # the draws file is read (and refused) before the output folder is touched
        posterior_draws = _read_draws(posterior)
    default = Path("out") / f"{Path(file).stem}-optimize{'-posterior' if posterior else ''}"
    target = out_folder(out, default, "optimize", force)
    t0 = time.perf_counter()
    with library_errors():
        try:
            opt = tracked(
                "optimizing",
                "evaluations",
                quiet,
                lambda tick: optimize(
                    sc,
                    plan,
                    objective,
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
                    agents=agents,
                    weeks=weeks,
                    seed=seed,
                    final_reps=final_reps,
                    final_agents=final_agents,
                    compare=list(compare),
                    curves=not no_curves,
                    curve_reps=curve_reps,
                    workers=workers,
                    scheduler=scheduler,
                    name=name,
                    posterior=posterior_draws,
                    max_draws=_max_draws(draws) if posterior else None,
                    robust=robust,
                    progress=counter(tick, evaluations),
                ),
            )
        except InfeasibleError as e:
            err_console.print("infeasible: ", style="bold red", end="")
            err_console.print(printable(e), markup=False, highlight=False, soft_wrap=True)
            sys.exit(INFEASIBLE)
    elapsed = time.perf_counter() - t0
    from cjmsim.output import atomic_folder

    with atomic_folder(target) as tmp:
        _write_folder(opt, tmp, file, elapsed, no_report, quiet)
    if not quiet:
        console = Console()
        plans = [opt.base_plan, opt.plan_name, *opt.settings["compare"]]
        if opt.posterior is not None:
            console.print(posterior_tables(opt.posterior, console.width))
            console.print(posterior_headline(opt))
        else:
            console.print(optimize_table(sc, opt.fresh, plans, console.width))
            console.print(optimize_headline(opt))
        console.print(printable(opt.toml()), markup=False, highlight=False, soft_wrap=True)  # never wrapped: paste it
        console.print(
            f"{opt.settings['evaluations_used']} evaluations ({plain(opt.message)}); {elapsed:.0f} s; "
            f"results in {plain(target)}/"
        )


def _write_folder(opt: Any, tmp: Path, file: str, elapsed: float, no_report: bool, quiet: bool) -> None:
    """The output folder's files: plan.toml and the tables (over posterior draws, their posterior tables),
    metadata.json, and (not over draws, unless no_report) the charts and report.html."""
    from cjmsim.output import metadata, write_csv, write_json, write_text

    write_text(tmp / "plan.toml", opt.toml())
    write_csv(tmp / "comparison.csv", opt.comparison)
    write_csv(tmp / "variables.csv", opt.variables)
    write_csv(tmp / "trace.csv", opt.trace)
    if opt.posterior is not None:
        write_csv(tmp / "summary.csv", opt.posterior.summary)
        write_csv(tmp / "posterior_differences.csv", opt.posterior.differences)
        write_csv(tmp / "posterior_wins.csv", opt.posterior.wins)
        write_csv(tmp / "posterior_draws.csv", opt.posterior.per_draw)
        write_csv(tmp / "draws.csv", opt.draws)
    else:
        write_csv(tmp / "summary.csv", opt.fresh.summary)
        write_csv(tmp / "curves.csv", opt.curves)
        write_csv(tmp / "marginal.csv", opt.marginal)
    settings = {k: v for k, v in opt.settings.items() if k != "search_base"}
    settings["message"] = opt.message
    meta = metadata(
        "optimize",
        opt.scenario,
        scenario_path=file,
        seed=opt.settings["seed"],
        reps=opt.settings["reps"],
        elapsed_s=elapsed,
        plans=[opt.base_plan, *opt.settings["compare"]],
        settings=settings,
    )
    # what the search did, at the top where a reader looks first (also under settings)
    meta["evaluations_used"] = opt.settings["evaluations_used"]
    meta["evaluations_allowed"] = opt.settings["evaluations_allowed"]
    meta["better_allocation_found"] = opt.found
    write_json(tmp / "metadata.json", meta)
    if opt.posterior is not None:
        if not no_report and not quiet:
            err_console.print(
                "no charts or report.html over posterior draws: they are written for replications' 95% CIs; "
                "the tables have the 90% posterior intervals",
                style="dim",
            )
    elif not no_report:
        if not quiet:
            err_console.print("drawing charts and the report ...", style="dim")
        from cjmsim.presentation.reports import optimize as optimize_report

        optimize_report.write(opt, tmp)


def _check_posterior_options(posterior: str | None, draws: int | None, robust: bool) -> None:
    """--draws and --robust need --posterior; with it, --reps, --final-reps and --curve-reps do not apply."""
    from cjmsim.scenario import ArgumentError

    ctx = click.get_current_context()

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE

    with library_errors():
        if posterior is None:
            for name, on in (("max_draws", draws is not None), ("robust", robust)):
                if on:
                    raise ArgumentError(name, lambda f: f" is an option of {f('posterior')}; give the draws file too")
            return
        for name, why in (
            ("reps", "each posterior draw is one replication (its own customers and random numbers)"),
            ("final_reps", "the fresh re-evaluation runs the same draws on fresh random numbers"),
            ("curve_reps", "no response curves are traced over posterior draws"),
        ):
            if given(name):
                raise ArgumentError(name, _not_with_posterior(why))


def _not_with_posterior(why: str) -> Callable[[Callable[[str], str]], str]:
    """The words after an option refused with --posterior, flags named by the namer."""
    return lambda f: f" not with {f('posterior')}: {why}; {f('max_draws')} says how many draws"


def _read_draws(posterior: str | None) -> Any:
    """The draws file of --posterior, read (None without it)."""
    if posterior is None:
        return None
    from cjmsim.analyses.calibration import read_draws

    return read_draws(posterior)


def _max_draws(draws: int | None) -> int:
    """The draws to use: --draws, or at most :data:`~cjmsim.analyses.calibration.posterior.MAX_DRAWS`."""
    from cjmsim.analyses.calibration.posterior import MAX_DRAWS

    return draws or MAX_DRAWS
