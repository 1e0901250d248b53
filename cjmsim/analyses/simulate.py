"""Simulate a scenario: every plan, on the same customers and random numbers, with replications.

:func:`simulate` is the entry point of the Python API: it runs the engine once per plan and
replication and turns the raw weekly records into tidy tables (:class:`Result`) through
:mod:`cjmsim.analyses.metrics`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from cjmsim.engine import Records, make_streams, run_plan, run_plans
from cjmsim.output import atomic_folder, metadata, write_csv, write_json
from cjmsim.scenario import ArgumentError, Scenario, did_you_mean

from . import metrics

__all__ = [
    "NO_MARKETING",
    "Result",
    "assemble",
    "available_memory",
    "check_memory",
    "check_reference",
    "shares_warm_up",
    "simulate",
    "simulated_weeks",
    "write_run",
]

#: The plan column of the no-marketing counterfactual's rows (no_marketing.csv); not a valid plan id.
NO_MARKETING = "(no marketing)"


@dataclass
class Result:
    """What :func:`simulate` returns: tidy tables plus the inputs that produced them.

    Attributes:
        scenario: the scenario as simulated (with any overrides applied).
        seed, reps, agents, weeks: the run's settings.
        summary: one row per plan x segment (``all`` = totals); CI columns when reps > 1.
        per_rep: the summary metrics of every replication (plan x segment x rep).
        weekly: one row per plan x week x segment, mean over replications (made on first use, as are
            ``ttp``, ``exposures``, ``journey``, ``campaigns`` and ``interventions``).
        ttp: new customers by plan, segment and weeks from awareness to first order.
        exposures: units delivered by plan, segment, channel and stage of the agent reached.
        records: raw weekly records, plan -> one :class:`Records` per replication.
        plan_order: every plan of the scenario the run was asked of, in file order, the simulated
            ones among them (charts give a plan its colour by its place here).
        reference: the plan the others are compared with (``differences``).
        differences: paired differences and ratios of every plan against ``reference``, per
            segment and metric, with 95% CIs (columns :data:`~cjmsim.analyses.metrics.DIFFERENCE_COLUMNS`).
        without: the no-marketing run of every replication, on the same customers and random
            numbers (None with ``baseline=False``); the incremental metrics are against it.
        no_marketing: its summary, one row per segment and ``all`` (plan ``none``), or None.
        journey: the journey map, one row per plan x segment x stage: people, entries, conversion
            to the next stage, spend on people in the stage, cost per entry
            (:func:`~cjmsim.analyses.metrics.journey_table`; journey.csv).
        campaigns: planned vs bought spend per plan x campaign, with why money was not bought
            (:func:`~cjmsim.analyses.metrics.campaign_table`; campaigns.csv).
        interventions: every plan's interventions: weeks, cost booked, what they change
            (:func:`~cjmsim.analyses.metrics.intervention_table`; interventions.csv when any).
    """

    scenario: Scenario
    seed: int
    reps: int
    agents: int
    weeks: int
    summary: pd.DataFrame
    per_rep: pd.DataFrame
    records: dict[str, list[Records]]
    plan_order: list[str] = field(default_factory=list)
    reference: str = ""
    differences: pd.DataFrame = field(default_factory=pd.DataFrame)
    without: list[Records] | None = None
    no_marketing: pd.DataFrame | None = None

    # The tables below are made from ``records`` on first use (and kept): a caller that reads only the
    # summary, as a search over many plans does, does not pay for them.

    @cached_property
    def weekly(self) -> pd.DataFrame:
        """One row per plan x week x segment, mean over replications (:func:`~cjmsim.analyses.metrics.weekly_table`)."""
        sc = self.scenario
        return metrics.weekly_table(
            self.records, list(sc.segments), list(sc.channels), [seg.share for seg in sc.segments.values()]
        )

    @cached_property
    def ttp(self) -> pd.DataFrame:
        """New customers by plan, segment and weeks from awareness to first order."""
        return metrics.ttp_table(self.records, list(self.scenario.segments))

    @cached_property
    def exposures(self) -> pd.DataFrame:
        """Units delivered by plan, segment, channel and stage of the agent reached."""
        return metrics.exposure_table(self.records, list(self.scenario.segments), list(self.scenario.channels))

    @cached_property
    def journey(self) -> pd.DataFrame:
        """The journey map, one row per plan x segment x stage (:func:`~cjmsim.analyses.metrics.journey_table`)."""
        return metrics.journey_table(self.records, list(self.scenario.segments))

    @cached_property
    def campaigns(self) -> pd.DataFrame:
        """Planned vs bought spend per plan x campaign (:func:`~cjmsim.analyses.metrics.campaign_table`)."""
        return metrics.campaign_table(self.records, self.scenario)

    @cached_property
    def interventions(self) -> pd.DataFrame:
        """Every plan's interventions (:func:`~cjmsim.analyses.metrics.intervention_table`)."""
        return metrics.intervention_table(self.records, self.scenario)

    @property
    def incremental(self) -> bool:
        """Whether the summary has the incremental metrics (a no-marketing run was made)."""
        return self.without is not None

    @property
    def plans(self) -> list[str]:
        """Plan ids, in scenario order."""
        return list(self.records)

    def totals(self) -> pd.DataFrame:
        """The summary's ``all`` rows, indexed by plan."""
        return self.summary[self.summary.segment == "all"].set_index("plan")


#: Peak memory of the engine per agent (docs/performance.md: 101 bytes of RSS at 1M agents).
BYTES_PER_AGENT = 100
#: Memory per agent of the copy of the warm-up's world that the plans of a replication share
#: (measured 83 bytes at 1M agents on hifi; ``engine.run_plans``).
BYTES_PER_FORK = 80
#: Peak memory per row of the event log (docs/ground-truth.md: about 80 bytes a row, 82 measured
#: with the touch times of issue 13), and a low guess of its rows per agent-week (hifi logs 0.33):
#: the estimate stays below the real need.
BYTES_PER_EVENT = 80
EVENTS_PER_AGENT_WEEK = 0.1


def available_memory() -> int | None:
    """Bytes of memory available to a new run (Linux ``MemAvailable``; else free physical pages), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f}" if n >= 1e9 else f"{n / 1e9:.2f}"


def check_memory(agents: int, *, processes: int = 1, weeks: int = 0, events: bool = False, fork: bool = False) -> None:
    """Raise :class:`ArgumentError` on ``agents`` when a run of ``agents`` agents in ``processes``
    processes at once (with the event log over ``weeks``; with ``fork``, the copy of the world the
    plans of a replication share their warm-up from) needs more memory than is available.

    The estimate is low on purpose (the engine's peak per agent, the event log's fewest rows), so
    a run that is refused could not have finished."""
    need = agents * (BYTES_PER_AGENT + (BYTES_PER_FORK if fork else 0)) * max(processes, 1)
    if events:
        need += int(agents * weeks * EVENTS_PER_AGENT_WEEK * BYTES_PER_EVENT)
    have = available_memory()
    if have is None or need <= have:
        return
    per = f"{BYTES_PER_AGENT + (BYTES_PER_FORK if fork else 0)} bytes per agent" + (
        f" x {processes} processes at once" if processes > 1 else ""
    )
    per += ", and the event log" if events else ""
    raise ArgumentError(
        "agents",
        f" {agents:,}: needs about {_gb(need)} GB of memory ({per}), more than the {_gb(have)} GB "
        "available; use fewer agents (each then stands for more of the population: the results are "
        "people, not agents)"
        + (", fewer workers" if processes > 1 else "")
        + (", or no events export" if events else ""),
    )


def shares_warm_up(runs: int, export: bool = False, events: bool = False) -> bool:
    """Whether the ``runs`` plan runs of a replication share its warm-up (``engine.run_plans``): with
    more than one, unless the order, journey or event logs follow every agent from the warm-up on."""
    return runs > 1 and not (export or events)


def simulated_weeks(runs: int, weeks: int, warmup: int, reps: int, shared: bool) -> int:
    """The weeks :func:`simulate` steps (what its ``progress`` counts): per replication one warm-up
    and every run's horizon when the runs share the warm-up, else every run's warm-up and horizon."""
    return reps * (warmup + runs * weeks if shared else runs * (warmup + weeks))


def check_reference(reference: str, plans: list[str]) -> None:
    """Raise :class:`ArgumentError` on ``reference`` when it is not one of the ``plans`` run."""
    if reference not in plans:
        raise ArgumentError(
            "reference",
            f" {reference!r} is not a plan of this run{did_you_mean(reference, plans)}; plans: {', '.join(plans)}",
        )


def simulate(
    scenario: Scenario,
    plans: list[str] | None = None,
    *,
    agents: int | None = None,
    weeks: int | None = None,
    seed: int | None = None,
    reps: int = 1,
    progress: Callable[[int], None] | None = None,
    export: bool = False,
    events: bool = False,
    baseline: bool = True,
    reference: str | None = None,
) -> Result:
    """Simulate every plan (or the named ones) of a scenario, with replications.

    Every plan of a replication sees the same agents and the same random numbers (common random
    numbers), so differences between plans are the plans' doing, not noise.

    Args:
        scenario: a validated scenario (see :func:`cjmsim.load_scenario`).
        plans: plan ids to run, default all, in scenario order.
        agents, weeks, seed: override the scenario's settings.
        reps: replications (independent populations and random numbers), >= 1.
        progress: called with the number of weeks simulated since the last call.
        export: also log every order and every journey's path of channel touches (for
            :mod:`cjmsim.exports`); results are the same either way.
        events: also log every exposure, stage change and repeat order of the horizon, per agent,
            in the first replication (``Records.event_log``, for ``events.parquet``; large, so
            the other replications log none); results are the same either way.
        baseline: also simulate no marketing on the same customers and random numbers, for the
            incremental metrics (``inc_orders``, ``icpo``, ``iromi``, ...): one more run per replication.
        reference: the plan the others are compared with, paired (default: the first plan run).

    Returns:
        a :class:`Result` with summary, per-replication and weekly tables.
    """
    if reps < 1:
        raise ValueError("reps must be >= 1")
    sc = scenario.with_settings(agents=agents, weeks=weeks, seed=seed)
    fork = shares_warm_up(len(plans or sc.plans) + baseline, export, events)
    check_memory(sc.scenario.agents, weeks=sc.scenario.weeks, events=events, fork=fork)
    if plans:
        sc = sc.only_plans(list(dict.fromkeys(plans)))
    names = list(dict.fromkeys(plans)) if plans else list(sc.plans)  # each plan once, in the order given
    s = sc.scenario
    ref = reference if reference is not None else names[0]
    check_reference(ref, names)
    records: dict[str, list[Records]] = {p: [] for p in names}
    without: list[Records] | None = [] if baseline else None
    tick = (lambda _t: progress(1)) if progress is not None else None
    runs: list[str | None] = [*names, *([None] if without is not None else [])]
    for r in range(reps):
        streams = make_streams(s.seed, r, len(sc.segments))
        if not shares_warm_up(len(runs), export, events):  # one run, or logs that follow agents from the warm-up
            got = [
                run_plan(sc, p, streams, s.agents, s.weeks, on_week=tick, export=export and p is not None,
                         events=events and r == 0 and p is not None)
                for p in runs
            ]  # fmt: skip
        else:  # the plans share the replication's warm-up (identical records, one warm-up's work)
            got = run_plans(sc, runs, streams, s.agents, s.weeks, on_week=tick)
        for p, rec in zip(names, got, strict=False):
            records[p].append(rec)
        if without is not None:
            without.append(got[-1])
    return assemble(sc, records, without, ref, list(scenario.plans), reps)


def assemble(
    scenario: Scenario,
    records: dict[str, list[Records]],
    without: list[Records] | None,
    reference: str,
    order: list[str],
    reps: int,
) -> Result:
    """A :class:`Result` from raw records: what :func:`simulate` returns for the same records.

    ``scenario``: the scenario the plans of ``records`` were run from (its settings: agents, weeks, seed);
    ``records``: plan -> one :class:`Records` per replication; ``without``: the no-marketing run of every
    replication (None: no incremental metrics); ``reference``: the plan the others are compared with;
    ``order``: every plan of the scenario asked of, in file order (a plan's colour). Analyses that simulate
    their plans otherwise (the live what-if, :mod:`cjmsim.analyses.whatif`) get the same tables from it."""
    sc, s = scenario, scenario.scenario
    segs = list(sc.segments)
    summary, per_rep = metrics.summarise(records, segs, s.ltv_weeks, without)
    no_marketing = None if without is None else metrics.summarise({NO_MARKETING: without}, segs, s.ltv_weeks)[0]
    differences = metrics.differences(per_rep, reference)
    return Result(
        sc, s.seed, reps, s.agents, s.weeks, summary, per_rep, records, order,
        reference=reference,
        differences=differences,
        without=without,
        no_marketing=no_marketing,
    )  # fmt: skip


def write_run(
    result: Result,
    out: str | Path,
    scenario_path: str | Path | None = None,
    elapsed_s: float = 0.0,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write a run's folder atomically: summary.csv, weekly.csv, summary_by_rep.csv, differences.csv,
    campaigns.csv, interventions.csv (when a plan has one), no_marketing.csv (unless the run had no baseline),
    metadata.json and a copy of
    the scenario file.

    ``extra`` may write more files (charts, report, exports) into the temporary folder before it
    is renamed into place. Returns the final folder.
    """
    out = Path(out)
    with atomic_folder(out) as tmp:
        write_csv(tmp / "summary.csv", result.summary)
        write_csv(tmp / "weekly.csv", result.weekly)
        write_csv(tmp / "summary_by_rep.csv", result.per_rep)
        write_csv(tmp / "differences.csv", result.differences)
        write_csv(tmp / "campaigns.csv", result.campaigns)
        if result.no_marketing is not None:
            write_csv(tmp / "no_marketing.csv", result.no_marketing)
        if not result.interventions.empty:  # the plans' interventions and their cost (issue 14)
            write_csv(tmp / "interventions.csv", result.interventions)
        if not result.journey.empty:  # the journey map (issue 12)
            write_csv(tmp / "journey.csv", result.journey)
        meta = metadata(
            "run",
            result.scenario,
            scenario_path=scenario_path,
            seed=result.seed,
            reps=result.reps,
            elapsed_s=elapsed_s,
            plans=result.plans,
            settings={"reference": result.reference, "baseline": result.incremental},
        )
        write_json(tmp / "metadata.json", meta)
        if scenario_path is not None:
            shutil.copyfile(scenario_path, tmp / f"scenario{Path(scenario_path).suffix or '.toml'}")
        if extra is not None:
            extra(tmp)
    return out
