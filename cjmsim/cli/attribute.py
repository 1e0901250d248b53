"""``cjmsim attribute``: what each channel of a plan really adds, by counterfactual runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from cjmsim.analyses.choices import SHAPLEY

from .common import (
    err_console,
    force_option,
    guarded,
    library_errors,
    load,
    out_folder,
    plain,
    scheduler_option,
    tracked,
)
from .tables import attribution_table

__all__ = ["attribute_command"]


@click.command("attribute")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--plan", help="Plan to attribute. Default: the scenario's first plan.")
@click.option("--reps", type=click.IntRange(min=1, max=1000), default=3, show_default=True, help="Replications.")
@click.option(
    "--agents",
    type=click.IntRange(min=1),
    help="Agents per run. Default: the scenario's, so the totals are the run's. Fewer are faster and noisier; "
    "the page and the terminal then say so and compare the plan with one run at the scenario's agents.",
)
@click.option("--weeks", type=click.IntRange(min=1, max=1040), help="Horizon (overrides the scenario).")
@click.option("--seed", type=click.IntRange(min=0), help="Random seed (overrides the scenario).")
@click.option("--workers", type=click.IntRange(min=1, max=256), default=1, show_default=True, help="Local processes.")
@scheduler_option
@click.option(
    "--shapley",
    type=click.Choice(SHAPLEY),
    default="auto",
    show_default=True,
    help="Shapley values: exact over every coalition (auto up to 8 channels), sampled permutations, or none.",
)
@click.option("--samples", type=click.IntRange(min=2), default=64, show_default=True, help="Permutations when sampled.")
@click.option("--out", type=click.Path(file_okay=False), help="Output folder. Default: out/<file name>-attribution.")
@click.option("--no-report", is_flag=True, help="Skip the charts and report.html (tables only).")
@click.option("--quiet", is_flag=True, help="Print no table and no progress.")
@force_option
@guarded
def attribute_command(
    file: str,
    plan: str | None,
    reps: int,
    agents: int | None,
    weeks: int | None,
    seed: int | None,
    workers: int,
    scheduler: str | None,
    shapley: str,
    samples: int,
    out: str | None,
    no_report: bool,
    quiet: bool,
    force: bool,
) -> None:
    """What each channel of a plan really adds: counterfactual runs on the same customers.

    Switches each channel off (and raises it by 10%) on the same synthetic customers and random
    numbers, and shares the plan's total effect among channels by Shapley values. Writes
    attribution.csv (channel x segment with 95% CIs), attribution_runs.csv (every variant run),
    metadata.json, the charts (charts/*.png and .svg) and report.html, atomically.
    """
    from cjmsim.analyses.attribution import attribute

    sc = load(file)
    target = out_folder(out, Path("out") / f"{Path(file).stem}-attribution", "attribute", force)
    if agents is None:
        agents = sc.scenario.agents  # the run's size: the same plan shows the same totals as `cjmsim run`
    t0 = time.perf_counter()
    with library_errors():
        attr = tracked(
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
                scheduler=scheduler,
                shapley=shapley,
                samples=samples,
                progress=tick,
            ),  # fmt: skip
        )
    from cjmsim.analyses.reconcile import fewer_agents, reconcile

    if fewer_agents(sc, agents):  # one run at the scenario's size, so the page can say how far off it is
        if not quiet:
            name = sc.plans[attr.plan].name or attr.plan
            err_console.print(
                f"running {plain(name)} once at the scenario's {sc.scenario.agents:,} agents to compare ...",
                style="dim",
            )
        with library_errors():
            attr.reconciliation = reconcile(
                sc, attr.plan, agents, weeks=weeks, seed=seed, workers=workers, scheduler=scheduler
            )
    elapsed = time.perf_counter() - t0
    from cjmsim.output import atomic_folder, metadata, write_csv, write_json

    simulated = sc.with_settings(agents=agents, weeks=weeks, seed=seed)
    with atomic_folder(target) as tmp:
        write_csv(tmp / "attribution.csv", attr.table)
        write_csv(tmp / "attribution_runs.csv", attr.runs)
        settings: dict[str, Any] = {"plan": attr.plan, "attributed_channels": attr.channels, "shapley": attr.shapley}
        settings["scenario_agents"] = sc.scenario.agents
        if attr.reconciliation is not None:
            r = attr.reconciliation
            settings["reconciliation"] = {
                "agents": r.agents,
                "full_agents": r.full_agents,
                "small": r.small,
                "full": r.full,
            }
        meta = metadata(
            "attribute",
            simulated,
            scenario_path=file,
            seed=simulated.scenario.seed,
            reps=reps,
            elapsed_s=elapsed,
            plans=[attr.plan],
            settings=settings,
        )
        write_json(tmp / "metadata.json", meta)
        if not no_report:
            if not quiet:
                err_console.print("drawing charts and the report ...", style="dim")
            from cjmsim.presentation.reports import (
                attribution as attribution_report,  # matplotlib and jinja2 only when the report is drawn
            )

            attribution_report.write(attr, simulated, tmp)
    if not quiet:
        from cjmsim.presentation.reconciliation import agents_statement

        console = Console()
        console.print(plain(_plan_line(attr, sc.plans[attr.plan].name or attr.plan, sc.scenario.currency)))
        console.print(attribution_table(attr, simulated, console.width))
        statement = agents_statement(
            agents,
            sc.scenario.agents,
            attr.reconciliation,
            plan_name=sc.plans[attr.plan].name or attr.plan,
            currency=sc.scenario.currency,
        )
        if statement:
            console.print(f"note: {plain(statement)}")
        runs = len(attr.runs) // (len(sc.segments) + 1) + (2 if attr.reconciliation is not None else 0)
        console.print(f"{runs} runs in {elapsed:.1f} s; results in {plain(target)}/")


def _plan_line(attr: Any, name: str, currency: str) -> str:
    """The whole plan against no marketing, in one line: incremental orders, iCPO, iROMI, incremental
    margin (each mean ± 95% CI half-width), and the orders that would come anyway."""
    from cjmsim.presentation import format as fmt
    from cjmsim.scenario.metrics import metric

    t = attr.table
    rows = t[(t.segment == "all") & (t.channel == "total")]
    if not len(rows) or "inc_orders" not in rows:
        return ""
    r = rows.iloc[0]

    def cell(name: str) -> str:
        m = metric(name)
        unit = f" {currency}" if m.money else ""
        half = fmt.half_width(r[name], r.get(f"{name}_ci_low"), r.get(f"{name}_ci_high"), m.code)
        return f"{m.label} {fmt.table_value(r[name], m.code)}{unit}" + (f" {half}{unit}" if half else "")

    anyway = fmt.table_value(r["orders"] - r["inc_orders"], "n")
    return (
        f"\u201c{name}\u201d against no marketing: "
        + "; ".join(cell(n) for n in ("inc_orders", "icpo", "iromi", "inc_margin"))
        + f" (of its {fmt.table_value(r['orders'], 'n')} orders, {anyway} would come anyway)"
    )
