"""``cjmsim validate``, ``cjmsim schema`` and ``cjmsim run``: check a scenario, simulate its plans."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.text import Text

from .common import (
    err_console,
    force_option,
    guarded,
    library_errors,
    load,
    out_folder,
    plain,
    printable,
    scheduler_option,
    week_progress,
)
from .posterior import check_posterior_options, run_posterior_command
from .tables import run_tables

if TYPE_CHECKING:
    from cjmsim.analyses.simulate import Result

__all__ = ["run", "schema", "validate"]


#: ``cjmsim validate``'s persona check simulates at most this many agents (the scenario's, if fewer).
CHECK_AGENTS = 20_000


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--no-check",
    is_flag=True,
    help="Skip the persona check (the quick simulation of every plan); only check the file.",
)
@guarded
def validate(file: str, no_check: bool) -> None:
    """Check a scenario file and print what it holds.

    When a segment states time_before_purchase_weeks, also runs a quick simulation (one run of
    every plan, at most 20,000 agents, no baseline) and warns, on stderr, about each segment whose
    simulated median weeks to first order fall outside that range. Warnings are not errors: the
    exit status stays 0. --no-check skips the simulation.
    """
    sc = load(file)
    s = sc.scenario
    click.echo(
        f"{printable(file)}: ok: {printable(repr(s.name))}, {len(sc.segments)} segments, {len(sc.channels)} channels, "
        f"{len(sc.plans)} plans ({printable(', '.join(sc.plans))}), {s.weeks} weeks, {s.agents:,} agents"
    )
    if no_check or all(seg.time_before_purchase_weeks is None for seg in sc.segments.values()):
        return
    from cjmsim.analyses.simulate import simulate
    from cjmsim.presentation import persona

    with library_errors():
        result = simulate(sc, agents=min(CHECK_AGENTS, s.agents), reps=1, baseline=False)
    for check in persona.warnings(result):
        _warn([check.text()])


@click.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (editors can use it to check TOML)."""
    from cjmsim.scenario import Scenario

    click.echo(json.dumps(Scenario.model_json_schema(), indent=2))


def _visuals(result: Result) -> Callable[[Path], None]:
    """Writer of the charts folder and report.html, for the run's temporary folder."""

    def write(folder: Path) -> None:
        # imported here: matplotlib and jinja2 are needed only when a run draws its charts
        from cjmsim.presentation.reports import run as report

        report.write(result, folder)

    return write


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--plan", "plans", multiple=True, help="Run only this plan (repeatable). Default: every plan.")
@click.option("--agents", type=click.IntRange(min=1), help="Synthetic agents (overrides the scenario).")
@click.option("--weeks", type=click.IntRange(min=1, max=1040), help="Horizon in weeks (overrides the scenario).")
@click.option("--seed", type=click.IntRange(min=0), help="Random seed (overrides the scenario).")
@click.option(
    "--reps",
    type=click.IntRange(min=1, max=1000),
    default=1,
    show_default=True,
    help="Replications; > 1 gives 95% CIs.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Output folder. Default: out/<scenario file name without .toml> (with --posterior: out/<name>-posterior).",
)
@click.option("--segments", "by_segment", is_flag=True, help="Also print a table per segment.")
@click.option("--no-report", is_flag=True, help="Skip the charts and report.html (tables only).")
@click.option(
    "--export",
    "exports",
    help="Comma-separated exports for analytics tools: journeys (Markov attribution paths), transactions "
    "(CLV), mmm (weekly MMM series + ground_truth.json), events (events.parquet: every exposure, stage change "
    "and order of every agent; large), observed (observed.csv: the weekly data a calibration reads, "
    "docs/calibration.md). Written to exports/<plan>/.",
)
@click.option(
    "--reference",
    help="Plan the others are compared with, paired (differences.csv, the report). Default: the first plan.",
)
@click.option(
    "--no-baseline",
    is_flag=True,
    help="Skip the no-marketing run on the same customers: no incremental metrics (inc_orders, iCPO, iROMI).",
)
@click.option(
    "--posterior",
    type=click.Path(dir_okay=False),
    help="A posterior draws file (posterior.parquet): run every plan over its draws instead, paired within each "
    "draw; writes posterior_*.csv. Not with --reps > 1, --export or --segments.",
)
@click.option(
    "--draws",
    type=click.IntRange(min=1, max=1000),  # cjmsim.analyses.calibration.posterior.MAX_DRAWS (tested)
    help="With --posterior: use the file's first N draws. Default: every draw, at most 1,000.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=256),
    help="With --posterior: local processes. Default: the machine's cores (one process for a small run).",
)
@scheduler_option
@click.option("--quiet", is_flag=True, help="Print no table and no progress.")
@force_option
@guarded
def run(
    file: str,
    plans: tuple[str, ...],
    agents: int | None,
    weeks: int | None,
    seed: int | None,
    reps: int,
    out: str | None,
    by_segment: bool,
    no_report: bool,
    exports: str | None,
    reference: str | None,
    no_baseline: bool,
    posterior: str | None,
    draws: int | None,
    workers: int | None,
    scheduler: str | None,
    quiet: bool,
    force: bool,
) -> None:
    """Simulate the plans of a scenario FILE and write the results to a folder.

    Every plan is also compared with no marketing on the same customers and random numbers
    (incremental orders, iCPO, iROMI; unless --no-baseline) and with the reference plan, paired.
    Writes summary.csv (plan x segment), weekly.csv (plan x week x segment), summary_by_rep.csv,
    differences.csv (paired, against the reference), no_marketing.csv, metadata.json, a copy of
    the scenario, the charts (charts/*.png and .svg) and report.html, atomically, and campaigns.csv
    (planned vs bought per campaign); a plan that buys under 95% of its budget is warned about, and
    so is a segment whose simulated median time to first order is clearly (its 95% interval) outside
    its time_before_purchase_weeks.

    With --posterior DRAWS (a posterior.parquet of posterior draws), runs every plan and no marketing
    once per draw instead, draw i with the draw's parameters on replication i: within a draw the
    plans share the customers and random numbers, so their differences are paired, and across draws
    the parameters and random numbers change, so every interval includes the parameters'
    uncertainty. Writes posterior_summary.csv (per plan: mean, median and 90% interval of every
    metric over the draws), posterior_differences.csv (paired differences from the reference, with
    a verdict: higher, lower or no clear difference, from the 90% interval), posterior_wins.csv
    (the share of draws each plan wins, per metric), posterior_draws.csv (draw x plan, with the
    draw's parameters), metadata.json and a copy of the scenario, atomically, by default to
    out/<file name>-posterior. --draws N uses the first N draws (default all, at most 1,000);
    --workers and --scheduler choose where they run. Not with --reps > 1, --export or --segments.
    """
    check_posterior_options(
        posterior, reps=reps, exports=exports, by_segment=by_segment, draws=draws, workers=workers, scheduler=scheduler
    )
    if posterior is not None:
        run_posterior_command(
            file, posterior, plans=plans, agents=agents, weeks=weeks, seed=seed, reference=reference,
            no_baseline=no_baseline, draws=draws, workers=workers, scheduler=scheduler, out=out, quiet=quiet,
            force=force,
        )  # fmt: skip
        return
    sc = load(file)
    target = out_folder(out, Path("out") / Path(file).stem, "run", force)
    from cjmsim.analyses.exports import parse_exports, write_exports
    from cjmsim.analyses.simulate import (
        check_memory,
        check_reference,
        shares_warm_up,
        simulate,
        simulated_weeks,
        write_run,
    )

    names = list(dict.fromkeys(plans)) if plans else list(sc.plans)
    with library_errors():
        kinds = parse_exports(exports)
        if plans:
            sc.only_plans(names)  # unknown plans are named now, before anything runs
        if reference is not None:
            check_reference(reference, names)
        sc = sc.with_settings(agents=agents, weeks=weeks, seed=seed)
        runs = len(names) + (not no_baseline)
        # the event log only on request; observed.csv is made of the weekly records alone
        logs, events = bool(set(kinds) - {"events", "observed"}), "events" in kinds
        shared = shares_warm_up(runs, logs, events)
        check_memory(sc.scenario.agents, weeks=sc.scenario.weeks, events=events, fork=shared)  # before any run
    s = sc.scenario
    total_weeks = simulated_weeks(runs, s.weeks, s.warmup_weeks, reps, shared)
    show = not quiet and err_console.is_terminal and total_weeks * s.agents > 2_000_000
    prog, tick = week_progress(total_weeks, show)
    t0 = time.perf_counter()
    if prog is not None:
        with prog:
            result = simulate(
                sc,
                names,
                reps=reps,
                progress=tick,
                export=logs,
                events=events,
                baseline=not no_baseline,
                reference=reference,
            )
    else:
        result = simulate(
            sc, names, reps=reps, export=logs, events=events, baseline=not no_baseline, reference=reference
        )
    elapsed = time.perf_counter() - t0
    if not quiet and not no_report:
        err_console.print("drawing charts and the report ...", style="dim")
    visuals = None if no_report else _visuals(result)

    def extra(folder: Path) -> None:
        if visuals is not None:
            visuals(folder)
        if kinds:
            write_exports(result.scenario, result.records, result.seed, kinds, folder, result.without)

    write_run(result, target, scenario_path=file, elapsed_s=elapsed, extra=extra)
    if not quiet:
        console = Console()
        console.print(run_tables(result, console.width, segments=by_segment))
        console.print(
            Text(
                f"{s.agents:,} agents x {s.weeks} weeks x {len(names)} plans x {reps} reps in {elapsed:.1f} s; "
                f"results in {printable(target)}/"
            )
        )
    from cjmsim.presentation import persona
    from cjmsim.presentation.spend import warnings as spend_warnings

    for warning in spend_warnings(result):  # after the tables, even with --quiet: the spend above misleads
        _warn(warning.lines())
    for check in persona.warnings(result):
        _warn([check.text()])


def _warn(lines: list[str]) -> None:
    """Print a warning on stderr: ``warning:`` and its lines, escaped, wrapped to the terminal's width
    (a bulleted line's continuation under its text, not its bullet)."""
    for i, line in enumerate(lines):
        hang = " " * (len(line) - len(line.lstrip(" -")))
        text = textwrap.fill(("warning: " if i == 0 else "") + line, err_console.width, subsequent_indent=hang)
        err_console.print(plain(text), soft_wrap=True)
