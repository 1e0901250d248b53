"""``cjmsim calibrate``: fit a scenario to a company's observed weekly data, with a posterior."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

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

__all__ = ["calibrate_command"]


@click.command("calibrate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--workers", type=click.IntRange(min=1, max=256), help="Local processes. Default: the machine's cores.")
@scheduler_option
@click.option("--out", type=click.Path(file_okay=False), help="Output folder. Default: out/<file name without .toml>.")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted calibration in --out: the candidates it simulated are read, not simulated again.",
)
@click.option("--no-report", is_flag=True, help="Skip the charts and report.html (tables only).")
@click.option("--quiet", is_flag=True, help="Print no table and no progress.")
@force_option
@guarded
def calibrate_command(
    file: str,
    workers: int | None,
    scheduler: str | None,
    out: str | None,
    resume: bool,
    no_report: bool,
    quiet: bool,
    force: bool,
) -> None:
    """Fit a scenario's free parameters to observed weekly data (docs/calibration.md).

    FILE is a calibration file: the scenario, the observed data (observed.csv), the plan in force over
    the observed weeks, the free parameters (dotted paths) with their priors, the series to fit.
    Every candidate is simulated on the same customers and random numbers. CMA-ES finds the point
    estimate; emcee's ensemble sampler then draws the posterior. Writes calibrated.toml (the scenario
    with the point estimate, comments kept), posterior.parquet (the draws, for `cjmsim run --posterior`),
    parameters.csv (prior and posterior of each parameter, and how much the data narrowed it),
    correlations.csv, fit.csv (observed vs simulated, with the posterior predictive band), trace.csv,
    metadata.json (convergence included), and, unless --no-report, the charts (charts/, PNG and SVG)
    and report.html: what the data narrow and cannot, the correlations, the sampler's convergence and
    the fit, on one self-contained page. The simulated candidates are kept in evaluations/ as they
    finish: an interrupted calibration continues with --resume and ends exactly as an uninterrupted
    one.
    """
    import os

    from cjmsim.analyses.calibration import calibrate, load_calibration
    from cjmsim.analyses.tasks import SchedulerLost, check_scheduler
    from cjmsim.output import clean_stale, remove_folder

    with library_errors():
        cal = load_calibration(file)
        check_scheduler(scheduler)
    fresh = force and not resume  # --force starts afresh; with --resume the folder must be this calibration's
    target = out_folder(out, Path("out") / Path(file).stem, "calibrate", fresh)
    clean_stale(target)
    if fresh:
        remove_folder(target)
    nworkers = workers or os.cpu_count() or 1
    t0 = time.perf_counter()
    seen = [0, 0]

    def work(tick: Callable[[int, int], None] | None) -> Any:
        def progress(done: int, total: int) -> None:
            seen[:] = [done, total]
            if tick is not None:
                tick(done, total)

        return calibrate(cal, workers=nworkers, scheduler=scheduler, out=target, resume=resume, progress=progress)

    with library_errors():
        try:
            result = tracked("calibrating", "candidates", quiet, work)
        except SchedulerLost as e:
            fail(
                f"lost the scheduler {e.scheduler} after {seen[0]} of {seen[1]} candidates; those are kept in "
                f"{target}; rerun with --resume (and the same --out) to continue"
            )
        except KeyboardInterrupt:
            click.echo(
                f"interrupted after {seen[0]} of at most {seen[1]} candidates (kept in {printable(target)}); "
                "rerun with --resume",
                err=True,
            )
            sys.exit(130)
    elapsed = time.perf_counter() - t0
    _write(result, target, file, elapsed)
    _report(result, target, no_report, quiet)
    for warning in result.warnings:
        click.echo(f"warning: {printable(warning)}", err=True)
    if not quiet:
        _print(result, target, elapsed)


def _write(result: Any, target: Path, file: str, elapsed: float) -> None:
    """The calibration's tables, draws and calibrated scenario, each written atomically into ``target``."""
    from cjmsim.analyses.calibration import calibrated_toml, write_draws
    from cjmsim.output import metadata, write_csv, write_json, write_text
    from cjmsim.scenario import load_scenario

    cal = result.cal
    write_draws(target / "posterior.parquet", result.draws)
    write_csv(target / "parameters.csv", result.parameters)
    write_csv(target / "correlations.csv", result.correlations.reset_index(names="parameter"))
    write_csv(target / "fit.csv", result.fit)
    write_csv(target / "trace.csv", result.trace)
    if not result.lifts.empty:
        write_csv(target / "lift_tests.csv", result.lifts)
    scenario_file = target / "calibrated.toml"
    write_text(scenario_file, calibrated_toml(cal, result.estimate, result.parameters, target))
    load_scenario(scenario_file)  # it must validate and run: a ScenarioError here is a bug, said as one
    s = cal.spec.calibration
    meta = metadata(
        "calibrate",
        cal.scenario,
        scenario_path=cal.scenario_path,
        seed=s.seed,
        reps=s.reps,
        elapsed_s=elapsed,
        plans=[s.plan],
        settings={
            "calibration": str(cal.path),
            "digest": cal.digest,
            "agents": cal.agents,
            "weeks": cal.weeks,
            "series": list(cal.series),
            "evaluations": result.evaluations,
            "reused": result.reused,
        },
    )
    meta["estimate"] = result.estimate
    meta["estimate_log_likelihood"] = result.estimate_log_likelihood
    meta["convergence"] = result.convergence
    meta["warnings"] = result.warnings
    write_json(target / "metadata.json", meta)


def _report(result: Any, target: Path, no_report: bool, quiet: bool) -> None:
    """The charts and report.html in ``target``; with ``no_report``, none, and none left from an earlier
    calibration there (a page must not describe other results)."""
    if no_report:
        from cjmsim.output import remove_folder

        (target / "report.html").unlink(missing_ok=True)
        remove_folder(target / "charts")
        return
    if not quiet:
        err_console.print("drawing charts and the report ...", style="dim")
    from cjmsim.presentation.reports import calibrate as calibrate_report

    calibrate_report.write(result, target)


def _print(result: Any, target: Path, elapsed: float) -> None:
    """The parameters' prior and posterior on the terminal, then where the results are."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=plain(f"{result.cal.spec.calibration.name}: posterior (90% intervals)"))
    for col in ("parameter", "prior 90%", "estimate", "posterior 90%", "width vs prior"):
        t.add_column(col, justify="left" if col == "parameter" else "right")
    for _, row in result.parameters.iterrows():
        t.add_row(
            plain(row["parameter"]),
            f"{row['prior_p05']:.3g}..{row['prior_p95']:.3g}",
            f"{row['estimate']:.3g}",
            f"{row['posterior_p05']:.3g}..{row['posterior_p95']:.3g}",
            f"{row['width_ratio']:.0%}",
        )
    console = Console()
    console.print(t)
    c = result.convergence
    console.print(
        plain(
            f"{result.evaluations} candidates ({result.reused} read back) in {elapsed:.0f} s; sampler acceptance "
            f"{c['acceptance_fraction']:.2f}, about {c['effective_samples']:.0f} effective draws; results in {target}/"
        )
    )
    err_console.file.flush()
