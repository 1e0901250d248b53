"""``cjmsim sweep``: run an experiment, every point x plan x replication, resumable."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from .common import (
    err_console,
    fail,
    force_option,
    guarded,
    library_errors,
    out_folder,
    plain,
    printable,
    scheduler_option,
    tracked,
)
from .tables import sweep_table

__all__ = ["sweep_command"]


@click.command("sweep")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--workers", type=click.IntRange(min=1, max=256), default=1, show_default=True, help="Local worker processes."
)
@scheduler_option
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Output folder. Default: out/<experiment file name> (with --posterior: out/<name>-posterior).",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted sweep in --out: finished tasks are kept.")
@click.option("--no-report", is_flag=True, help="Skip the charts and report.html.")
@click.option("--quiet", is_flag=True, help="Print no table and no progress.")
@click.option(
    "--yes",
    is_flag=True,
    help="Run a large sweep (over 10,000 tasks or an estimated hour) without asking; the estimate is printed first.",
)
@click.option(
    "--posterior",
    type=click.Path(dir_okay=False),
    help="A posterior draws file (posterior.parquet): run every point and plan over its draws instead of the "
    "experiment's replications (draw i on replication i; the draw's values first, then the point's changes).",
)
@click.option(
    "--draws",
    type=click.IntRange(min=1, max=1000),  # cjmsim.analyses.calibration.posterior.MAX_DRAWS
    help="With --posterior: use the file's first N draws. Default: every draw, at most 1,000.",
)
@force_option
@guarded
def sweep_command(
    file: str,
    workers: int,
    scheduler: str | None,
    out: str | None,
    resume: bool,
    no_report: bool,
    quiet: bool,
    force: bool,
    yes: bool,
    posterior: str | None,
    draws: int | None,
) -> None:
    """Run an experiment FILE: every point x plan x replication, streamed to disk, resumable.

    Writes results/*.parquet (one part per task, as each finishes), summary.csv (mean and 95% CI per
    point, plan and segment, with the incremental metrics against no marketing), differences.csv
    (paired differences and ratios from the reference plan), no_marketing.csv (the no-marketing
    runs per point, unless the experiment has baseline = false), metadata.json, the charts and
    report.html.

    With --posterior DRAWS every point and plan runs over the posterior draws instead of the
    experiment's replications (its reps are not used): for draw i, the draw's parameter values are
    applied to the scenario first and the point's changes on top of them, on replication i, so the
    points and plans of a draw share their customers and random numbers. The intervals of
    summary.csv, differences.csv and no_marketing.csv are then 90% posterior intervals over the
    draws (columns _p05 and _p95), draws.csv lists the draws, and no charts or report are drawn.
    """
    posterior_draws, n_draws = _read_posterior(posterior, draws)
    from cjmsim.analyses.sweep import (
        LARGE_SECONDS,
        LARGE_TASKS,
        SweepTooLarge,
        estimate_sweep,
        load_experiment,
        run_sweep,
    )

    with library_errors():  # the size first: a sweep too large is refused before its points are built
        try:
            size = estimate_sweep(file, workers=workers, scheduler=scheduler is not None, large=yes, draws=n_draws)
        except SweepTooLarge as e:
            fail(
                f"{file}: a large sweep: {e.size.describe()}. Over {LARGE_TASKS:,} tasks or "
                f"{LARGE_SECONDS / 3600:g} h: rerun with --yes to run it, or use fewer points, plans, reps or agents"
            )
        if size.large and not quiet:
            click.echo(f"a large sweep: {printable(size.describe())}", err=True)
        if posterior_draws is None:
            exp = load_experiment(file)
        else:
            from cjmsim.analyses.calibration import load_posterior_experiment

            exp = load_posterior_experiment(file, posterior_draws, n_draws)
    if exp.posterior is not None and exp.posterior.experiment_reps > 1 and not quiet:
        click.echo(f"note: {printable(exp.posterior.note)}", err=True)
    from cjmsim.analyses.tasks import check_scheduler
    from cjmsim.output import clean_stale, remove_folder

    with library_errors():
        check_scheduler(scheduler)
    fresh = force and not resume  # --force starts afresh; with --resume the folder must be this sweep's
    default = Path("out") / (Path(file).stem + ("-posterior" if posterior else ""))
    target = out_folder(out, default, "sweep", fresh)
    clean_stale(target)
    if fresh:
        remove_folder(target)
    t0 = time.perf_counter()
    seen = [0, 0]  # tasks done, tasks in all: what a lost scheduler or Ctrl-C reports

    def work(tick: Callable[[int, int], None] | None) -> Any:
        def progress(done: int, total: int) -> None:
            seen[:] = [done, total]
            if tick is not None:
                tick(done, total)

        return run_sweep(exp, workers=workers, scheduler=scheduler, out=target, resume=resume, progress=progress)

    from cjmsim.analyses.tasks import SchedulerLost

    with library_errors():  # a lost scheduler is said with the sweep's counts, before the generic message
        try:
            result = tracked("sweeping", "tasks", quiet, work)
            # the comparison run and the tables too: a Ctrl-C there is the same one line (a resume writes them)
            result.reconciliation = _reconcile(exp, workers, scheduler, quiet)
            elapsed = time.perf_counter() - t0
            for warning in result.warnings:  # results parts a resume could not use: set aside, run again
                click.echo(f"warning: {printable(warning)}", err=True)
            _write_sweep_tables(result, target, no_report, quiet)
        except SchedulerLost as e:
            fail(
                f"lost the scheduler {e.scheduler} after {seen[0]} of {seen[1]} tasks; the finished parts are "
                f"kept in {target}; rerun with --resume (and the same --out) to run the rest"
            )
        except KeyboardInterrupt:  # the workers are stopped by now (the executor closed on the way out)
            # the parts on disk are what a resume keeps: a part written just before Ctrl-C counts though
            # its progress tick never came
            done = max(seen[0], len(list((target / "results").glob("*.parquet"))))
            click.echo(
                f"interrupted: {done} of {seen[1]} tasks done (kept in {printable(target)}); rerun with --resume",
                err=True,
            )
            sys.exit(130)
    if not quiet:
        console = Console()
        console.print(sweep_table(result, width=console.width))
        from cjmsim.presentation.reconciliation import agents_statement

        base = exp.scenarios[0] if exp.scenarios else None
        statement = agents_statement(
            base.scenario.agents if base is not None else exp.scenario_agents,
            exp.scenario_agents,
            result.reconciliation,
            plan_name=(base.plans[result.reconciliation.plan].name or "") if base and result.reconciliation else "",
            currency=base.scenario.currency if base is not None else "",
        )
        if statement:
            console.print(f"note: {plain(statement)}")
        _print_wins(console, result)
        s = exp.spec.experiment
        n = len(exp.points) * (len(exp.plans) + s.baseline) * exp.reps
        runs = f"{len(exp.plans)} plans" + (" + no marketing" if s.baseline else "")
        each = f"{exp.reps} posterior draws" if exp.posterior is not None else f"{s.reps} reps"
        console.print(
            f"{n} tasks ({len(exp.points)} points x ({runs}) x {each}) in {elapsed:.1f} s; results in {plain(target)}/"
        )


def _read_posterior(posterior: str | None, draws: int | None) -> tuple[Any, int | None]:
    """The draws file of --posterior (None without it) and the draws to use; --draws without it is refused."""
    from cjmsim.scenario import ArgumentError

    with library_errors():
        if posterior is None:
            if draws is not None:
                raise ArgumentError("draws", lambda f: f" is an option of {f('posterior')}; give the draws file too")
            return None, None
        from cjmsim.analyses.calibration import read_draws
        from cjmsim.analyses.calibration.posterior import MAX_DRAWS

        found = read_draws(posterior)
        return found, min(draws or MAX_DRAWS, len(found))
    raise AssertionError("unreachable")  # pragma: no cover  (library_errors exits)


def _print_wins(console: Console, result: Any) -> None:
    """Per plan and counted metric, the points it wins, loses and leaves undecided against the reference."""
    from cjmsim.presentation.reports.sweep import win_lines

    lines = win_lines(result)
    for line in lines:
        console.print(f"{plain(line)}.")
    if lines and result.posterior:
        console.print(
            "(a win: the 90% posterior interval, over the draws, of the plan minus the reference in the same draw "
            "lies wholly on the better side of zero)",
            style="dim",
        )
    elif lines:
        console.print(
            "(a win: the paired 95% CI of the plan minus the reference lies wholly on the better side of zero)",
            style="dim",
        )


def _reconcile(exp: Any, workers: int, scheduler: str | None, quiet: bool) -> Any:
    """With fewer agents than the base scenario's: its reference plan once at each size (else None)."""
    from cjmsim.analyses.reconcile import reconcile
    from cjmsim.scenario import load_scenario

    agents = exp.spec.experiment.agents
    if agents is None or agents >= exp.scenario_agents:
        return None
    plan = exp.spec.experiment.reference or exp.plans[0]
    with library_errors():
        sc = load_scenario(exp.scenario_path)
        if not quiet:
            name = sc.plans[plan].name or plan if plan in sc.plans else plan
            err_console.print(
                f"running {plain(name)} on the base scenario once at its {exp.scenario_agents:,} agents to compare ...",
                style="dim",
            )
        return reconcile(sc, plan, agents, weeks=exp.spec.experiment.weeks, workers=workers, scheduler=scheduler)


def _write_sweep_tables(result: Any, target: Path, no_report: bool, quiet: bool = False) -> None:
    """summary.csv, differences.csv and (unless no_report) the charts and report, each written whole;
    over posterior draws, draws.csv and no charts or report."""
    from cjmsim.output import write_csv

    write_csv(target / "summary.csv", result.summary)
    write_csv(target / "differences.csv", result.differences)
    if result.no_marketing is not None:
        write_csv(target / "no_marketing.csv", result.no_marketing)
    if result.posterior:
        from cjmsim.analyses.calibration import draws_table

        write_csv(target / "draws.csv", draws_table(result.experiment))
        if not no_report and not quiet:
            err_console.print(
                "no charts or report.html over posterior draws: they are written for replications' 95% CIs; "
                "the tables have the 90% posterior intervals",
                style="dim",
            )
        return
    if no_report:
        return
    from cjmsim.presentation.reports import sweep as sweep_report

    sweep_report.write(result, target)
