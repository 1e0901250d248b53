"""The ``cjmsim`` command: a thin shell over the library (the only module that imports click and rich).

Parses arguments, calls the library, prints tables and progress, and maps known errors to one
clear message and exit status 2.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from cjmsim import __version__
from cjmsim.analyses.simulate import Result, simulate
from cjmsim.output import write_run
from cjmsim.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["main"]

err_console = Console(stderr=True, highlight=False)
T = TypeVar("T")


def _fail(message: str) -> None:
    """Print one clear message and exit with status 2."""
    err_console.print("error: ", style="bold red", end="")
    err_console.print(message, markup=False, highlight=False, soft_wrap=True)
    sys.exit(2)


def _load(path: str) -> Scenario:
    try:
        return load_scenario(path)
    except ScenarioError as e:
        _fail(str(e))
        raise  # unreachable


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cjmsim")
def main() -> None:
    """Test marketing strategies on synthetic customers.

    Write a customer journey map as a TOML scenario (segments, the AIDA+Loyalty funnel, channels,
    budget plans); cjmsim simulates it week by week and reports what each plan buys.
    """


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Check a scenario file and print what it holds."""
    sc = _load(file)
    s = sc.scenario
    click.echo(
        f"{file}: ok: {s.name!r}, {len(sc.segments)} segments, {len(sc.channels)} channels, "
        f"{len(sc.plans)} plans ({', '.join(sc.plans)}), {s.weeks} weeks, {s.agents:,} agents"
    )


@main.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (editors can use it to check TOML)."""
    click.echo(json.dumps(Scenario.model_json_schema(), indent=2))


# --------------------------------------------------------------------------------------------
# run

_ROWS: list[tuple[str, str, str]] = [
    # (column, label, format): n = count, m = money, p = percent, w = weeks, r = ratio
    ("agents", "People", "n"),
    ("reached", "Reached", "n"),
    ("aware", "Became aware", "n"),
    ("leads", "Leads", "n"),
    ("customers", "New customers", "n"),
    ("orders", "Orders", "n"),
    ("conversion", "Conversion (aware -> customer)", "p"),
    ("ttp_median_weeks", "Time to purchase, median", "w"),
    ("spend", "Spend", "m"),
    ("cpl", "CPL", "m"),
    ("cpo", "CPO", "m"),
    ("cac", "CAC", "m"),
    ("revenue", "Revenue", "m"),
    ("margin", "Gross margin", "m"),
    ("romi", "ROMI", "p"),
    ("ltv", "LTV", "m"),
    ("ltv_cac", "LTV / CAC", "r"),
]


def _fmt(v: float, kind: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if kind == "p":
        return f"{100 * v:,.1f}%"
    if kind == "w":
        return f"{v:,.1f}"
    if kind == "r":
        return f"{v:,.2f}"
    if kind == "m" and abs(v) < 100:
        return f"{v:,.2f}"
    return f"{v:,.0f}"


def _cell(row: pd.Series, col: str, kind: str) -> str:
    text = _fmt(row[col], kind)
    lo, hi = f"{col}_ci_low", f"{col}_ci_high"
    if lo in row.index and math.isfinite(row[lo]) and math.isfinite(row[hi]) and row[hi] > row[lo]:
        text += f" [dim]± {_fmt((row[hi] - row[lo]) / 2, kind)}[/]"
    return text


def comparison_table(result: Result, segment: str = "all") -> Table:
    """Plans side by side for one segment (``all`` = totals), with 95% CIs when reps > 1."""
    s = result.summary
    rows = s[s.segment == segment].set_index("plan")
    cur = result.scenario.scenario.currency
    seg_name = "all segments" if segment == "all" else result.scenario.segments[segment].name
    title = f"{result.scenario.scenario.name}: {seg_name}, {result.weeks} weeks"
    if result.reps > 1:
        title += f", mean of {result.reps} replications ± 95% CI half-width"
    table = Table(title=title, title_justify="left")
    table.add_column("Metric")
    for plan in result.plans:
        name = result.scenario.plans[plan].name or plan
        table.add_column(name, justify="right")
    for col, label, kind in _ROWS:
        if kind == "m":
            label = f"{label}, {cur}"
        table.add_row(label, *[_cell(rows.loc[p], col, kind) for p in result.plans])
    return table


def _visuals(result: Result) -> Callable[[Path], None]:
    """Writer of the charts folder and report.html, for the run's temporary folder."""

    def write(folder: Path) -> None:
        # imported here: matplotlib and jinja2 are needed only when a run draws its charts
        from cjmsim.presentation.charts import run as charts
        from cjmsim.presentation.reports import run as report

        images = []
        for chart in charts.all_charts(result):
            png, _svg = charts.save(chart, folder / "charts", chart.slug)
            images.append(report.ReportImage(chart.slug, chart.title, chart.caption, Path(png).read_bytes()))
        report.write_report(result, images, folder / "report.html")

    return write


def _bar(label: str, unit: str) -> Progress:
    """A transient progress bar on stderr: label, bar, done/total units, elapsed and ETA."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn(f"{{task.completed}}/{{task.total}} {unit}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )


def _tracked(label: str, unit: str, quiet: bool, work: Callable[[Callable[[int, int], None] | None], T]) -> T:
    """Run ``work(progress)`` under a progress bar of (done, total) units, unless quiet or not a terminal."""
    if quiet or not err_console.is_terminal:
        return work(None)
    prog = _bar(label, unit)
    bar = prog.add_task(label, total=None)
    with prog:
        return work(lambda done, total: prog.update(bar, completed=done, total=total))


def _progress(total: int, enabled: bool) -> tuple[Progress | None, Callable[[int], None] | None]:
    if not enabled:
        return None, None
    prog = _bar("simulating", "weeks")
    task = prog.add_task("run", total=total)
    return prog, lambda k: prog.advance(task, k)


@main.command()
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
    "--out", type=click.Path(file_okay=False), help="Output folder. Default: out/<scenario file name without .toml>."
)
@click.option("--segments", "by_segment", is_flag=True, help="Also print a table per segment.")
@click.option("--no-report", is_flag=True, help="Skip the charts and report.html (tables only).")
@click.option(
    "--export",
    "exports",
    help="Comma-separated exports for analytics tools: journeys (Markov attribution paths), transactions "
    "(CLV), mmm (weekly MMM series + ground_truth.json), events (events.parquet: every exposure, stage change "
    "and order of every agent; large). Written to exports/<plan>/.",
)
@click.option("--quiet", is_flag=True, help="Print no table and no progress.")
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
    quiet: bool,
) -> None:
    """Simulate the plans of a scenario FILE and write the results to a folder.

    Writes summary.csv (plan x segment), weekly.csv (plan x week x segment), summary_by_rep.csv,
    metadata.json, a copy of the scenario, the charts (charts/*.png and .svg) and report.html,
    atomically.
    """
    sc = _load(file)
    from cjmsim.analyses.exports import parse_exports
    from cjmsim.output import write_exports

    try:
        kinds = parse_exports(exports)
        if plans:
            sc = sc.only_plans(list(dict.fromkeys(plans)))
        sc = sc.with_settings(agents=agents, weeks=weeks, seed=seed)
    except ScenarioError as e:
        _fail(str(e))
    names = list(dict.fromkeys(plans)) if plans else list(sc.plans)
    s = sc.scenario
    total_weeks = reps * len(names) * (s.weeks + s.warmup_weeks)
    show = not quiet and err_console.is_terminal and total_weeks * s.agents > 2_000_000
    prog, tick = _progress(total_weeks, show)
    logs, events = bool(set(kinds) - {"events"}), "events" in kinds  # the event log only on request
    t0 = time.perf_counter()
    if prog is not None:
        with prog:
            result = simulate(sc, names, reps=reps, progress=tick, export=logs, events=events)
    else:
        result = simulate(sc, names, reps=reps, export=logs, events=events)
    elapsed = time.perf_counter() - t0
    target = Path(out) if out else Path("out") / Path(file).stem
    if not quiet and not no_report:
        err_console.print("drawing charts and the report ...", style="dim")
    visuals = None if no_report else _visuals(result)

    def extra(folder: Path) -> None:
        if visuals is not None:
            visuals(folder)
        if kinds:
            write_exports(result.scenario, result.records, result.seed, kinds, folder)

    write_run(result, target, scenario_path=file, elapsed_s=elapsed, extra=extra)
    if not quiet:
        console = Console()
        console.print(comparison_table(result))
        if by_segment:
            for seg in sc.segments:
                console.print(comparison_table(result, seg))
        console.print(
            f"{s.agents:,} agents x {s.weeks} weeks x {len(names)} plans x {reps} reps in {elapsed:.1f} s; "
            f"results in {target}/"
        )


# --------------------------------------------------------------------------------------------
# sweep


def sweep_table(result: Any, segment: str = "all") -> Table:
    """Per point and plan, the experiment's metrics with their 95% CI half-widths."""
    exp = result.experiment
    s = result.summary
    rows = s[s.segment == segment]
    params = [p.name for p in exp.spec.parameters]
    kinds = {col: kind for col, _, kind in _ROWS}
    table = Table(
        title=f"{exp.spec.experiment.name}: {len(exp.points)} points x {len(exp.plans)} plans x "
        f"{exp.spec.experiment.reps} reps (mean ± 95% CI half-width)",
        title_justify="left",
    )
    for p in params:
        table.add_column(p, justify="right")
    table.add_column("plan")
    shown = exp.spec.experiment.metrics
    for m in shown:
        table.add_column(m, justify="right")
    for _, r in rows.iterrows():
        cells = [f"{r[p]:g}" if isinstance(r[p], float) else str(r[p]) for p in params]
        cells.append(str(r["plan"]))
        cells += [_compact_cell(r, m, kinds.get(m, "n")) for m in shown]
        table.add_row(*cells)
    return table


def _compact(v: float, kind: str) -> str:
    if not math.isfinite(v):
        return "-"
    if kind == "p":
        return f"{100 * v:,.0f}%"
    a = abs(v)
    for threshold, div, suffix in ((1e9, 1e9, "B"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if a >= threshold:
            return f"{v / div:.3g}{suffix}"
    return f"{v:,.0f}" if a >= 100 else f"{v:.3g}"


def _compact_cell(row: pd.Series, col: str, kind: str) -> str:
    text = _compact(float(row[col]), kind)
    lo, hi = f"{col}_ci_low", f"{col}_ci_high"
    if lo in row.index and math.isfinite(row[lo]) and math.isfinite(row[hi]) and row[hi] > row[lo]:
        text += f" [dim]±{_compact((row[hi] - row[lo]) / 2, kind)}[/]"
    return text


@main.command("sweep")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--workers", type=click.IntRange(min=1, max=256), default=1, show_default=True, help="Local worker processes."
)
@click.option("--scheduler", help="Dask scheduler address (tcp://host:8786): run the tasks on that cluster.")
@click.option("--out", type=click.Path(file_okay=False), help="Output folder. Default: out/<experiment file name>.")
@click.option("--resume", is_flag=True, help="Continue an interrupted sweep in --out: finished tasks are kept.")
@click.option("--no-report", is_flag=True, help="Skip the charts and report.html.")
@click.option("--quiet", is_flag=True, help="Print no table and no progress.")
def sweep_command(
    file: str, workers: int, scheduler: str | None, out: str | None, resume: bool, no_report: bool, quiet: bool
) -> None:
    """Run an experiment FILE: every point x plan x replication, streamed to disk, resumable.

    Writes results/*.parquet (one part per task, as each finishes), summary.csv (mean and 95% CI per
    point, plan and segment), differences.csv (paired differences from the reference plan),
    experiment.json, the charts and report.html.
    """
    from cjmsim.analyses.sweep import load_experiment, run_sweep

    try:
        exp = load_experiment(file)
    except ScenarioError as e:
        _fail(str(e))
        raise
    target = Path(out) if out else Path("out") / Path(file).stem
    t0 = time.perf_counter()
    try:
        result = _tracked(
            "sweeping",
            "tasks",
            quiet,
            lambda tick: run_sweep(exp, workers=workers, scheduler=scheduler, out=target, resume=resume, progress=tick),
        )
    except ScenarioError as e:
        _fail(str(e))
        raise
    elapsed = time.perf_counter() - t0
    _write_sweep_tables(result, target, no_report)
    if not quiet:
        console = Console()
        console.print(sweep_table(result))
        n = len(result.results[result.results.segment == "all"])
        console.print(
            f"{n} tasks ({len(exp.points)} points x {len(exp.plans)} plans x {exp.spec.experiment.reps} reps) "
            f"in {elapsed:.1f} s; results in {target}/"
        )


def _write_sweep_tables(result: Any, target: Path, no_report: bool) -> None:
    """summary.csv, differences.csv and (unless no_report) the charts and report, each written whole."""
    import os
    import tempfile

    def atomic_csv(frame: pd.DataFrame, path: Path) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        frame.to_csv(tmp, index=False)
        os.replace(tmp, path)

    atomic_csv(result.summary, target / "summary.csv")
    atomic_csv(result.differences, target / "differences.csv")
    if no_report:
        return
    from cjmsim.presentation.reports import sweep as sweep_report

    sweep_report.write(result, target)


# --------------------------------------------------------------------------------------------
# attribute


@main.command("attribute")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--plan", help="Plan to attribute. Default: the scenario's first plan.")
@click.option("--reps", type=click.IntRange(min=1, max=1000), default=3, show_default=True, help="Replications.")
@click.option("--agents", type=click.IntRange(min=1), help="Agents per run. Default: the scenario's, at most 50,000.")
@click.option("--weeks", type=click.IntRange(min=1, max=1040), help="Horizon (overrides the scenario).")
@click.option("--seed", type=click.IntRange(min=0), help="Random seed (overrides the scenario).")
@click.option("--workers", type=click.IntRange(min=1, max=256), default=1, show_default=True, help="Local processes.")
@click.option(
    "--shapley",
    type=click.Choice(["auto", "exact", "sampled", "none"]),
    default="auto",
    show_default=True,
    help="Shapley values: exact over every coalition (auto up to 8 channels), sampled permutations, or none.",
)
@click.option("--samples", type=click.IntRange(min=2), default=64, show_default=True, help="Permutations when sampled.")
@click.option("--out", type=click.Path(file_okay=False), help="Output folder. Default: out/<file name>-attribution.")
@click.option("--no-report", is_flag=True, help="Skip the charts and report.html (tables only).")
@click.option("--quiet", is_flag=True, help="Print no table and no progress.")
def attribute_command(
    file: str,
    plan: str | None,
    reps: int,
    agents: int | None,
    weeks: int | None,
    seed: int | None,
    workers: int,
    shapley: str,
    samples: int,
    out: str | None,
    no_report: bool,
    quiet: bool,
) -> None:
    """What each channel of a plan really adds: counterfactual runs on the same customers.

    Switches each channel off (and raises it by 10%) on the same synthetic customers and random
    numbers, and shares the plan's total effect among channels by Shapley values. Writes
    attribution.csv (channel x segment with 95% CIs), attribution_runs.csv (every variant run),
    metadata.json, the charts (charts/*.png and .svg) and report.html, atomically.
    """
    from cjmsim.analyses.attribution import attribute

    sc = _load(file)
    if agents is None:
        agents = min(sc.scenario.agents, 50_000)
    t0 = time.perf_counter()
    try:
        attr = _tracked(
            "attributing",
            "runs",
            quiet,
            lambda tick: attribute(
                sc,
                plan,
                reps=reps,
                agents=agents,
                weeks=weeks,
                seed=seed,
                workers=workers,
                shapley=shapley,
                samples=samples,
                progress=tick,
            ),  # fmt: skip
        )
    except ScenarioError as e:
        _fail(str(e))
        raise
    elapsed = time.perf_counter() - t0
    target = Path(out) if out else Path("out") / f"{Path(file).stem}-attribution"
    from cjmsim.output import atomic_folder

    with atomic_folder(target) as tmp:
        attr.table.to_csv(tmp / "attribution.csv", index=False)
        attr.runs.to_csv(tmp / "attribution_runs.csv", index=False)
        meta = {
            "cjmsim_version": __version__,
            "scenario_file": file,
            "plan": attr.plan,
            "channels": attr.channels,
            "reps": reps,
            "agents": agents,
            "seed": sc.scenario.seed if seed is None else seed,
            "shapley": attr.shapley,
            "run_seconds": round(elapsed, 3),
        }
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
        if not no_report:
            if not quiet:
                err_console.print("drawing charts and the report ...", style="dim")
            from cjmsim.presentation.reports import (
                attribution as attribution_report,  # matplotlib and jinja2 only when the report is drawn
            )

            attribution_report.write(attr, sc.with_settings(agents=agents, weeks=weeks, seed=seed), tmp)
    if not quiet:
        Console().print(attribution_table(attr, sc.scenario.currency))
        Console().print(f"{len(attr.runs) // (len(sc.segments) + 1)} runs in {elapsed:.1f} s; results in {target}/")


def attribution_table(attr: Any, currency: str) -> Table:
    """Per channel (all segments): spend, incremental and Shapley orders with 95% CIs, ROAS."""
    t = attr.table[attr.table.segment == "all"]
    table = Table(
        title=f"Plan {attr.plan!r}: what each channel adds (mean ± 95% CI; Shapley {attr.shapley})",
        title_justify="left",
    )
    cols = [
        ("spend", f"Spend, {currency}", "m"),
        ("incremental_orders", "Orders lost without it", "n"),
        ("shapley_orders", "Shapley orders", "n"),
        ("incremental_revenue", f"Incremental revenue, {currency}", "m"),
        ("incremental_cpo", f"Incremental CPO, {currency}", "m"),
        ("incremental_roas", "Incremental ROAS", "r"),
        ("marginal_roas", "Marginal ROAS (+10%)", "r"),
    ]
    table.add_column("Channel")
    for _, label, _ in cols:
        table.add_column(label, justify="right")
    for _, r in t.iterrows():
        cells = [str(r["channel"])]
        for col, _, kind in cols:
            cells.append(_compact_cell(r, col, kind) if col in r.index and pd.notna(r[col]) else "-")
        table.add_row(*cells)
    return table


def _bounds(_ctx: Any, _param: Any, value: str) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: give LOW,HIGH, e.g. 0,3") from None
    return low, high


@main.command("optimize")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--plan", required=True, help="The base plan: its campaigns' budgets are the decision variables.")
@click.option(
    "--objective",
    type=click.Choice(["min-cpo", "max-orders", "max-margin"]),
    default="min-cpo",
    show_default=True,
    help="min-cpo: lowest spend per order; max-orders: most orders; max-margin: most gross margin minus spend.",
)
@click.option(
    "--budget", type=click.FloatRange(min=0), help="Most planned spend over the horizon. Default: the base plan's."
)
@click.option("--keep-orders", is_flag=True, help="Orders floor: the base plan's orders.")
@click.option("--min-orders", type=click.FloatRange(min=0), help="Orders floor in people over the horizon.")
@click.option(
    "--bounds",
    default="0,3",
    show_default=True,
    callback=_bounds,
    help="Each campaign's budget within LOW,HIGH x its base budget.",
)
@click.option(
    "--split",
    type=click.Choice(["none", "segment", "stage", "segment,stage"]),
    default="segment,stage",
    show_default=True,
    help="Split each campaign's audience into cells with their own budgets (none = campaigns as they are).",
)
@click.option("--periods", type=click.IntRange(min=1, max=52), default=1, show_default=True, help="Flight periods.")
@click.option(
    "--reps", type=click.IntRange(min=1, max=100), default=1, show_default=True, help="Replications per evaluation."
)
@click.option(
    "--evaluations", type=click.IntRange(min=2), default=600, show_default=True, help="Most candidate evaluations."
)
@click.option(
    "--agents", type=click.IntRange(min=100), help="Agents in the search. Default: the scenario's, at most 20,000."
)
@click.option("--weeks", type=click.IntRange(min=1, max=1040), help="Horizon (overrides the scenario).")
@click.option("--seed", type=click.IntRange(min=0), help="Random seed (overrides the scenario).")
@click.option(
    "--final-reps", type=click.IntRange(min=2, max=1000), default=5, show_default=True, help="Fresh replications."
)
@click.option(
    "--final-agents", type=click.IntRange(min=100), help="Agents in the re-evaluation. Default: the scenario's."
)
@click.option("--compare", multiple=True, help="Another plan to re-evaluate beside them (repeatable).")
@click.option("--name", help="Id of the optimized plan. Default: <plan>_optimized.")
@click.option("--workers", type=click.IntRange(min=1, max=256), help="Local processes. Default: the machine's cores.")
@click.option("--no-curves", is_flag=True, help="Skip the response curves around the optimum.")
@click.option("--out", type=click.Path(file_okay=False), help="Output folder. Default: out/<file name>-optimize.")
@click.option("--no-report", is_flag=True, help="Skip the charts and report.html (tables only).")
@click.option("--quiet", is_flag=True, help="Print no table and no progress.")
def optimize_command(
    file: str,
    plan: str,
    objective: str,
    budget: float | None,
    keep_orders: bool,
    min_orders: float | None,
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
    no_curves: bool,
    out: str | None,
    no_report: bool,
    quiet: bool,
) -> None:
    """Search a plan's budget allocation: min-cpo, max-orders or max-margin, by simulation.

    Splits each campaign of the base plan into audience cells (segment x stage by default) and,
    with --periods, flight periods; simulates every candidate on the same replications (common
    random numbers); SciPy's SLSQP searches under the budget, the per-campaign bounds and the
    orders floor, with forward-difference gradients simulated in parallel. The winner and the
    base plan (and --compare plans) are then re-run on fresh replications with 95% CIs. Writes
    plan.toml (the [plans.NAME] block to paste), comparison.csv, summary.csv, variables.csv,
    trace.csv, curves.csv, metadata.json, the charts and report.html.
    """
    from cjmsim.analyses.optimize import optimize

    sc = _load(file)
    t0 = time.perf_counter()
    try:
        opt = _tracked(
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
                workers=workers,
                name=name,
                progress=_counter(tick, evaluations),
            ),
        )
    except ScenarioError as e:
        _fail(str(e))
        raise
    elapsed = time.perf_counter() - t0
    target = Path(out) if out else Path("out") / f"{Path(file).stem}-optimize"
    from cjmsim.output import atomic_folder

    with atomic_folder(target) as tmp:
        (tmp / "plan.toml").write_text(opt.toml())
        opt.comparison.to_csv(tmp / "comparison.csv", index=False)
        opt.final.summary.to_csv(tmp / "summary.csv", index=False)
        opt.variables.to_csv(tmp / "variables.csv", index=False)
        opt.trace.to_csv(tmp / "trace.csv", index=False)
        opt.curves.to_csv(tmp / "curves.csv", index=False)
        meta = {
            "cjmsim_version": __version__,
            "scenario_file": file,
            **{k: v for k, v in opt.settings.items() if k != "search_base"},
            "message": opt.message,
            "run_seconds": round(elapsed, 3),
        }
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=2, default=float) + "\n")
        if not no_report:
            if not quiet:
                err_console.print("drawing charts and the report ...", style="dim")
            from cjmsim.presentation.reports import optimize as optimize_report

            optimize_report.write(opt, tmp)
    if not quiet:
        console = Console()
        console.print(_comparison_table(sc, opt.final, [opt.base_plan, opt.plan_name, *opt.settings["compare"]]))
        console.print(_headline(opt))
        console.print(opt.toml(), markup=False, highlight=False, soft_wrap=True)  # never wrapped: paste it
        console.print(
            f"{opt.settings['evaluations_used']} evaluations ({opt.message}); {elapsed:.0f} s; results in {target}/"
        )


def _counter(tick: Callable[[int, int], None] | None, total: int) -> Callable[[int], None] | None:
    """Adapt a (done, total) progress callback to one called with increments."""
    if tick is None:
        return None
    done = [0]

    def step(k: int) -> None:
        done[0] += k
        tick(done[0], total)

    return step


def _comparison_table(sc: Scenario, final: Result, plans: list[str]) -> Table:
    """Plans on the fresh replications: orders, spend, CPO, revenue, ROMI with 95% CIs."""
    cur = sc.scenario.currency
    t = final.summary[final.summary.segment == "all"].set_index("plan")
    table = Table(
        title=f"Fresh replications ({final.reps} x {final.agents:,} agents; mean ± 95% CI)", title_justify="left"
    )
    cols = [("orders", "Orders", "n"), ("spend", f"Spend, {cur}", "m"), ("cpo", f"CPO, {cur}", "m"),
            ("revenue", f"Revenue, {cur}", "m"), ("margin", f"Margin, {cur}", "m"), ("romi", "ROMI", "r")]  # fmt: skip
    table.add_column("Plan", no_wrap=True)
    for _, label, _ in cols:
        table.add_column(label, justify="right")
    for p in plans:
        r = t.loc[p]
        table.add_row(p, *[_compact_cell(r, c, k) for c, _, k in cols])
    return table


def _headline(opt: Any) -> str:
    """One line per compared plan: paired relative differences with 95% CIs."""
    lines = []
    for other, g in opt.comparison.groupby("versus", sort=False):
        g = g.set_index("metric")
        parts = [
            f"{m} {g.loc[m, 'relative']:+.1%} [{g.loc[m, 'relative_ci_low']:+.1%}, {g.loc[m, 'relative_ci_high']:+.1%}]"
            for m in ("orders", "spend", "cpo", "margin")
        ]
        lines.append(f"{opt.plan_name} vs {other} (paired, 95% CI): " + ", ".join(parts))
    return "\n".join(lines)
