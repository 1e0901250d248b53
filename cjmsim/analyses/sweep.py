"""Experiment sweeps: many runs over a grid (or a sample) of scenario changes, with replications.

An experiment file names a base scenario, the parameters to vary (addressed by dotted path into the
scenario, as whole-plan budget factors, as budget moved between channels, or as named sets of
assumptions), a design (grid, random or Latin hypercube), the plans, replications and seed. Every
(point, plan, replication) is an independent task; tasks go to an executor (in-process, a local
process pool, or a Dask cluster: one interface, one code path) and each finished task is written
at once as its own Parquet part, so an interrupted sweep resumes where it stopped with nothing lost
and nothing counted twice. Seeds depend on (experiment seed, replication) and, unless common random
numbers are switched off, not on the point: plans and points share random numbers, so their
differences are paired, and results never depend on the number of workers or the order tasks
finish in. Unless the experiment sets ``baseline = false``, every (point, replication) also runs
no marketing on the same customers and random numbers (one more task, plan ``(no marketing)``),
and every plan's row gains the incremental metrics against it (``inc_orders`` ... ``iromi``, as
the metric registry defines them for every command). Over posterior draws
(:func:`cjmsim.analyses.calibration.load_posterior_experiment`) a draw plays the part of a
replication, and the summaries give 90% posterior intervals instead of 95% confidence intervals.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
import re
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from cjmsim.analyses import metrics, simulate
from cjmsim.analyses.reconcile import Reconciliation
from cjmsim.analyses.simulate import NO_MARKETING
from cjmsim.analyses.tasks import executor_for
from cjmsim.engine import make_streams, run_plan
from cjmsim.output import check_resumable, metadata, write_json, write_parquet
from cjmsim.scenario import (
    INCREMENTAL_METRICS,
    ArgumentError,
    Scenario,
    ScenarioError,
    did_you_mean,
    parse_scenario,
    read_toml,
    validation_messages,
)
from cjmsim.scenario.experiment import Experiment, Move, Parameter
from cjmsim.scenario.metrics import SUMMARY_METRICS

if TYPE_CHECKING:
    from cjmsim.analyses.calibration.draws import Draws

__all__ = [
    "NO_MARKETING",
    "Experiment",
    "Parameter",
    "SweepResult",
    "SweepSize",
    "SweepTooLarge",
    "Task",
    "check_sweep_memory",
    "estimate_sweep",
    "load_experiment",
    "points",
    "run_sweep",
    "path_locations",
    "set_path",
    "sweep",
    "summarise_sweep",
    "summarise_no_marketing",
    "incremental_results",
    "DIFFERENCE_SUFFIXES",
    "POSTERIOR_DIFFERENCE_SUFFIXES",
    "SweepDraws",
    "sweep_size",
]


_ASCII_ID = re.compile(r"[A-Za-z0-9_-]+")

#: The copy of the base scenario's warm-up plan that the warm-up runs at every point.
WARMUP_PLAN = "__warmup__"


# --------------------------------------------------------------------------------------------
# loading


@dataclass(frozen=True)
class SweepDraws:
    """The posterior draws a sweep runs over instead of the experiment's replications.

    Draw i (the i-th row of the draws file) plays the part of replication i: every point and plan
    runs on replication i's customers and random numbers, with the draw's parameter values applied
    first and the point's changes on top of them
    (:func:`cjmsim.analyses.calibration.posterior_sweep.load_posterior_experiment`)."""

    draws: Draws
    ids: list[Any]  # the draws file's ``draw`` ids of the draws used, in file order
    scenarios: list[list[Scenario]]  # [point][draw]: the point's changes on the draw's scenario
    experiment_reps: int  # the experiment's own ``reps``: not used, each draw is one replication

    @property
    def note(self) -> str:
        """What the sweep does instead of the experiment's replications, in one sentence."""
        return (
            f"the experiment's reps = {self.experiment_reps} are not used: each of the {len(self.ids):,} posterior "
            "draws is one replication (its own customers and random numbers, shared by every point and plan of the "
            "draw); the number of draws says how many"
        )


@dataclass(frozen=True)
class LoadedExperiment:
    """An experiment with its base scenario data, its points, and what identifies it."""

    path: Path
    spec: Experiment
    base: dict[str, Any]  # the base scenario as parsed TOML
    scenario_path: Path
    points: list[dict[str, float | str]]
    scenarios: list[Scenario]  # one validated scenario per point
    plans: list[str]
    digest: str
    scenario_agents: int = 0  # the base scenario's own agents (its run's); the points may have fewer
    posterior: SweepDraws | None = None  # posterior draws to run over instead of the replications

    @property
    def reps(self) -> int:
        """The replications every point and plan runs: the experiment's, or one per posterior draw."""
        return len(self.posterior.ids) if self.posterior is not None else self.spec.experiment.reps


def load_experiment(path: str | Path) -> LoadedExperiment:
    """Read an experiment file, its base scenario and every point's scenario, all validated.

    Raises:
        ScenarioError: naming the file, the key path or parameter, the bad value and what is allowed.
    """
    path = Path(path)
    spec, scenario_path, base_sc, plans = _read_spec(path)
    s = spec.experiment
    check_sweep_memory(sweep_size(spec, base_sc, plans), path)  # before a single point is built
    try:
        pts = points(spec)
    except ValueError as e:
        raise ScenarioError(f"{path}: {e}") from None
    # the experiment's agents and weeks first, so a point may still change them
    base = base_sc.with_settings(agents=s.agents, weeks=s.weeks).model_dump(mode="json", exclude_none=True)
    warm = base["scenario"].get("warmup_plan")
    if warm is not None:
        # the warm-up is the past: it runs the base scenario's plan whatever a point changes
        base["plans"][WARMUP_PLAN] = copy.deepcopy(base["plans"][warm])
        base["scenario"]["warmup_plan"] = WARMUP_PLAN
    scenarios = []
    for i, pt in enumerate(pts):
        data_i = apply_point(base, spec.parameters, pt, where=f"{path}")
        label = ", ".join(f"{k} = {v}" for k, v in pt.items())
        scenarios.append(parse_scenario(data_i, source=f"{path}: point {i} ({label})"))
    # the files, and the scenario as parsed: a seasonality `file` it reads is in it (as `weekly`)
    parsed = json.dumps(base, sort_keys=True).encode("utf-8")
    digest = hashlib.sha256(path.read_bytes() + b"\0" + scenario_path.read_bytes() + b"\0" + parsed).hexdigest()
    return LoadedExperiment(path, spec, base, scenario_path, pts, scenarios, plans, digest, base_sc.scenario.agents)


def _read_spec(path: Path) -> tuple[Experiment, Path, Scenario, list[str]]:
    """An experiment file validated, its base scenario's path and scenario, and the plans to run."""
    data = read_toml(path)
    try:
        spec = Experiment.model_validate(data)
    except ValidationError as err:
        lines = validation_messages(err, data, Experiment)
        body = lines[0] if len(lines) == 1 else "\n  " + "\n  ".join(lines)
        raise ScenarioError(f"{path}: {body}") from None
    s = spec.experiment
    scenario_path = (path.parent / s.scenario).resolve()
    if not scenario_path.is_file():
        raise ScenarioError(f"{path}: experiment.scenario = {s.scenario!r}: no such file ({scenario_path})")
    base = read_toml(scenario_path)
    base_sc = parse_scenario(base, source=str(scenario_path), internal_plans=False)  # a file: no __ plans
    plans = list(dict.fromkeys(s.plans)) if s.plans else list(base_sc.plans)
    for p in [*plans, *([s.reference] if s.reference else [])]:
        if p not in base_sc.plans:
            raise ScenarioError(
                f"{path}: experiment plan {p!r}: no such plan in {s.scenario}{did_you_mean(p, list(base_sc.plans))}; "
                f"plans: {', '.join(base_sc.plans)}"
            )
    if s.reference and s.reference not in plans:
        plans = [s.reference, *plans]
    return spec, scenario_path, base_sc, plans


# --------------------------------------------------------------------------------------------
# size, time and memory, estimated before any work

#: Agent-weeks a second one task simulates and summarises, for the estimate. docs/performance.md
#: measures the engine alone at 22-36 M on an idle 2-core machine; a sweep task also builds its
#: agents and summarises them, and machines are shared: 10 M (measured 5 M for hifi at 100,000
#: agents on a loaded 2-core machine, 1.7 M at 20,000 where the fixed cost dominates).
AGENT_WEEKS_PER_S = 10e6
#: Seconds every task takes whatever its size (its agents' set-up, metrics, the part written):
#: measured 0.3 s for hifi at 2,000 agents.
TASK_OVERHEAD_S = 0.3
#: Above either, ``cjmsim sweep`` asks for ``--yes`` first.
LARGE_TASKS = 10_000
LARGE_SECONDS = 3600.0
#: Memory of one point's validated scenario per byte of the base scenario's JSON (measured 7.3
#: for minimal and hifi), plus the point's own levels and task.
BYTES_PER_SCENARIO_BYTE = 8
BYTES_PER_POINT = 1000


@dataclass(frozen=True)
class SweepSize:
    """How large a sweep is, estimated from its experiment before any point is built."""

    points: int
    plans: int
    reps: int
    agents: int
    weeks: int  # simulated weeks a task: the horizon and the warm-up
    segments: int
    columns: int  # columns of the long results table
    scenario_bytes: int  # the base scenario's JSON
    parallel: int = 1  # tasks at once (local workers on this machine's cores)
    baseline: bool = False  # a no-marketing run per point and replication besides the plans
    draws: bool = False  # over posterior draws: ``reps`` counts draws, one scenario per point and draw

    @property
    def tasks(self) -> int:
        """Points x (plans, and no marketing if run) x replications."""
        return self.points * (self.plans + self.baseline) * self.reps

    @property
    def seconds(self) -> float:
        """Estimated run time: every task's fixed cost and agent-weeks, over the tasks run at once."""
        per_task = TASK_OVERHEAD_S + self.agents * self.weeks / AGENT_WEEKS_PER_S
        return self.tasks * per_task / max(self.parallel, 1)

    @property
    def result_bytes(self) -> int:
        """The long results table in memory: rows (tasks x (segments + all)) x columns x 8 bytes."""
        return self.tasks * (self.segments + 1) * self.columns * 8

    @property
    def point_bytes(self) -> int:
        """Every point's validated scenario, held at once while the sweep runs."""
        per_point = 1 + self.reps if self.draws else 1  # the point's scenario, and its scenario in every draw
        return self.points * per_point * (self.scenario_bytes * BYTES_PER_SCENARIO_BYTE + BYTES_PER_POINT)

    @property
    def memory_bytes(self) -> int:
        """Points, and the results twice (the parts and the table made of them)."""
        return self.point_bytes + 2 * self.result_bytes

    @property
    def large(self) -> bool:
        """More than :data:`LARGE_TASKS` tasks or :data:`LARGE_SECONDS` of estimated time."""
        return self.tasks > LARGE_TASKS or self.seconds > LARGE_SECONDS

    def describe(self) -> str:
        """The estimate in one sentence: tasks, their size, time and memory."""
        t = self.seconds
        when = f"{t / 3600:,.1f} h" if t >= 3600 else f"{t / 60:,.0f} min" if t >= 60 else f"{t:.0f} s"
        on = f"{self.parallel} workers at once" if self.parallel > 1 else "one worker"
        return (
            f"{self.tasks:,} tasks ({_n(self.points, 'point')} x "
            f"{_n(self.plans, 'plan') + (' + no marketing' if self.baseline else '')} x "
            f"{_n(self.reps, 'draw' if self.draws else 'rep')}) of "
            f"{self.agents:,} agents x {self.weeks} weeks: about {when} on {on} "
            f"(at {AGENT_WEEKS_PER_S / 1e6:g} M agent-weeks/s and {TASK_OVERHEAD_S:g} s a task), "
            f"and about {_gb(self.memory_bytes)} GB of memory"
        )


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _gb(n: float) -> str:
    return f"{n / 1e9:,.1f}" if n >= 1e9 else f"{n / 1e9:.2f}"


def sweep_size(
    spec: Experiment, base: Scenario, plans: list[str], parallel: int = 1, draws: int | None = None
) -> SweepSize:
    """The size of a sweep of ``spec`` over ``base`` (validated) and ``plans``, before building it;
    with ``draws``, over that many posterior draws instead of the experiment's replications."""
    s = spec.experiment
    agents = s.agents or base.scenario.agents
    weeks = (s.weeks or base.scenario.weeks) + base.scenario.warmup_weeks
    columns = 3 + len(spec.parameters) + 1 + len(SUMMARY_METRICS)  # point, plan, rep, levels, segment, metrics
    size = len(json.dumps(base.model_dump(mode="json", exclude_none=True)))
    baseline = bool(getattr(s, "baseline", False))  # experiments that also run no marketing count it
    reps = s.reps if draws is None else draws
    return SweepSize(
        spec.point_count(), len(plans), reps, agents, weeks, len(base.segments), columns, size, parallel, baseline,
        draws is not None,
    )  # fmt: skip


def check_sweep_memory(size: SweepSize, path: Path) -> None:
    """Raise :class:`ScenarioError` when the sweep's points and results need more memory than is available."""
    have = simulate.available_memory()
    if have is None or size.memory_bytes <= have:
        return
    raise ScenarioError(
        f"{path}: the sweep needs about {_gb(size.memory_bytes)} GB of memory ({size.points:,} points x "
        f"{size.point_bytes // max(size.points, 1):,} bytes of scenario each, and {size.tasks:,} tasks' results), "
        f"more than the {_gb(have)} GB available; use fewer points (fewer levels, or a random or lhs design "
        f"with fewer samples), plans or {'draws' if size.draws else 'reps'}"
    )


class SweepTooLarge(ScenarioError):
    """A sweep above the stated size (:attr:`SweepSize.large`) that was not confirmed."""

    def __init__(self, path: Path, size: SweepSize) -> None:
        self.size = size
        super().__init__(
            f"{path}: a large sweep: {size.describe()}; more than {LARGE_TASKS:,} tasks or "
            f"{LARGE_SECONDS / 3600:g} h needs a confirmation"
        )


def estimate_sweep(
    path: str | Path, *, workers: int = 1, scheduler: bool = False, large: bool = True, draws: int | None = None
) -> SweepSize:
    """Read an experiment and estimate its sweep's size, time and memory, building no point.

    ``workers`` local processes share this machine's cores (on a cluster, ``scheduler``, the
    time is that of one worker); ``draws``: over that many posterior draws instead of the
    experiment's replications.

    Raises:
        ScenarioError: a bad experiment, or its points and results cannot fit in memory.
        SweepTooLarge: unless ``large``, when the sweep is above the stated size.
    """
    path = Path(path)
    spec, _, base_sc, plans = _read_spec(path)
    parallel = 1 if scheduler else max(1, min(workers, os.cpu_count() or 1))
    size = sweep_size(spec, base_sc, plans, parallel, draws)
    check_sweep_memory(size, path)
    if size.large and not large:
        raise SweepTooLarge(path, size)
    return size


def points(spec: Experiment) -> list[dict[str, float | str]]:
    """The design's points: parameter name -> level, in a fixed order."""
    params = spec.parameters
    if not params:
        return [{}]
    s = spec.experiment
    if s.design == "grid":
        return [
            dict(zip([p.name for p in params], combo, strict=True))
            for combo in itertools.product(*[p.grid() for p in params])
        ]
    rng = np.random.default_rng(np.random.SeedSequence([s.seed, 0x5EED]))
    if s.design == "random":
        u = rng.random((s.samples, len(params)))
    else:  # Latin hypercube: one draw in each of `samples` strata per parameter, strata shuffled
        u = (
            np.argsort(rng.random((s.samples, len(params))), axis=0) + rng.random((s.samples, len(params)))
        ) / s.samples
    return [{p.name: _clean(p.draw(float(u[i, j]))) for j, p in enumerate(params)} for i in range(s.samples)]


def _clean(v: float | str) -> float | str:
    return v if isinstance(v, str) else float(round(v, 12))


# --------------------------------------------------------------------------------------------
# applying a point to the scenario


_INDEX = re.compile(r"^(?P<key>[^\[\]]+)(?P<idx>(\[\d+\])*)$")
_CHOICE = re.compile(r"^\{[^{}]*\}$")  # {a,b}: the listed keys at one level


def path_locations(data: Any, path: str, where: str) -> list[tuple[Any, Any]]:
    """(container, key) pairs a dotted path with '*' and [i] selects; errors name the bad step.

    The last key may be absent (an optional setting the scenario leaves at its default). ``{a,b}``
    selects the listed keys at one level (``channels.{context,smm}.targeting.premium``); each must
    exist unless it is the last key.
    """
    cur: list[tuple[Any, Any]] = [(None, None)]  # (container, key); (None, None) is the root

    def node(c: Any, k: Any) -> Any:
        return data if c is None else c[k]

    parts = path.split(".")
    for depth, part in enumerate(parts):
        m = _INDEX.match(part)
        if not m:
            raise ScenarioError(f"{where}: path {path!r}: cannot read {part!r}")
        steps: list[Any] = [m.group("key"), *[int(x) for x in re.findall(r"\[(\d+)\]", m.group("idx"))]]
        for si, step in enumerate(steps):
            last = depth == len(parts) - 1 and si == len(steps) - 1
            nxt: list[tuple[Any, Any]] = []
            for c, k in cur:
                n = node(c, k)
                if step == "*" and isinstance(n, dict):
                    nxt.extend((n, key) for key in n)
                elif isinstance(step, str) and _CHOICE.match(step) and isinstance(n, dict):
                    keys = [x.strip() for x in step[1:-1].split(",")]
                    missing = [x for x in keys if x not in n and not last]
                    if missing or "" in keys:
                        here = ".".join(parts[: depth + 1])
                        bad = missing[0] if missing else ""
                        raise ScenarioError(
                            f"{where}: path {path!r}: {here!r}: key {bad!r} not found"
                            f"{did_you_mean(bad, [str(x) for x in n])}; keys here: {', '.join(str(x) for x in n)}"
                        )
                    nxt.extend((n, key) for key in dict.fromkeys(keys))
                elif isinstance(step, int) and isinstance(n, list) and step < len(n):
                    nxt.append((n, step))
                elif isinstance(step, str) and isinstance(n, dict) and (step in n or last):
                    nxt.append((n, step))
                else:
                    here = ".".join(parts[: depth + 1])
                    options = [str(x) for x in n] if isinstance(n, dict) else []
                    if isinstance(n, list):
                        detail = f"; it is a list of {len(n)} (indices 0..{len(n) - 1})"
                    elif options:
                        detail = f"{did_you_mean(str(step), options)}; keys here: {', '.join(options)}"
                    else:
                        detail = ""
                    raise ScenarioError(f"{where}: path {path!r}: {here!r} not found{detail}")
            cur = nxt
    return cur


def _weekly_rate(camp: dict[str, Any], weeks: int) -> float:
    """A campaign's budget per active week (weekly, or total over its windows)."""
    if camp.get("weekly") is not None:
        return float(camp["weekly"])
    windows = camp.get("flights") or ([camp["weeks"]] if camp.get("weeks") else [[0, weeks]])
    active: int = max(sum(e - s for s, e in windows), 1)
    return float(camp.get("total") or 0.0) / active


def _scale_budget(camp: dict[str, Any], factor: float) -> None:
    # a trigger campaign has neither key: budget scaling leaves it (and its caps) as it is
    for key in ("weekly", "total"):
        if camp.get(key) is not None:
            camp[key] = camp[key] * factor


def apply_point(base: dict[str, Any], params: Iterable[Parameter], point: dict[str, Any], where: str) -> dict[str, Any]:
    """The base scenario (parsed TOML) with one point's changes applied; the base is not modified."""
    data = copy.deepcopy(base)
    weeks = int(data.get("scenario", {}).get("weeks", 52))
    for p in params:
        level = point[p.name]
        here = f"{where}: parameter {p.name!r}"
        if p.path is not None:
            set_path(data, p.path, float(level), multiply=p.multiplies, where=here)
        elif p.budget is not None:
            plans = data.get("plans", {})
            names = [n for n in plans if n != WARMUP_PLAN] if p.budget == ["*"] else p.budget
            for name in names:
                if name not in plans:
                    raise ScenarioError(f"{here}: budget plan {name!r} not found{did_you_mean(name, list(plans))}")
                for camp in plans[name].get("campaigns", []):
                    _scale_budget(camp, float(level))
        elif p.move is not None:
            _move_budget(data, p.move, float(level), weeks, here)
        elif p.levels is not None:
            for path, factor in p.levels[str(level)].items():
                set_path(data, path, factor, multiply=True, where=f"{here}, level {level!r}")
    return data


def set_path(data: dict[str, Any], path: str, value: float, multiply: bool, where: str) -> None:
    """Set (or, with ``multiply``, multiply by ``value``) every number the dotted ``path`` selects in the
    parsed TOML ``data``, in place: the path syntax of an experiment's ``[[parameters]]`` (``*``,
    ``{a,b}``, ``[i]``; the last key may be absent). ScenarioError, prefixed with ``where``, names the
    step of the path that is not there or a value that is not a number to multiply."""
    for container, key in path_locations(data, path, where):
        if multiply:
            base = container.get(key) if isinstance(container, dict) else container[key]
            if base is None and isinstance(container, dict) and key not in container:  # nothing there to multiply
                keys = [str(k) for k in container]
                raise ScenarioError(
                    f"{where}: path {path!r}: key {key!r} not found{did_you_mean(str(key), keys)}, so no number to "
                    f"multiply; keys here: {', '.join(keys)}"
                )
            if not isinstance(base, (int, float)) or isinstance(base, bool):
                raise ScenarioError(f"{where}: path {path!r}: {key!r} has no number to multiply (found {base!r})")
            container[key] = base * value
        else:
            container[key] = value


def _move_budget(data: dict[str, Any], move: Move, share: float, weeks: int, where: str) -> None:
    plans = data.get("plans", {})
    if move.plan not in plans:
        raise ScenarioError(f"{where}: move.plan {move.plan!r} not found{did_you_mean(move.plan, list(plans))}")
    channels = list(data.get("channels", {}))
    for ch in (move.source, move.target):
        if ch not in channels:
            raise ScenarioError(f"{where}: move channel {ch!r} not found{did_you_mean(ch, channels)}")
    camps = plans[move.plan].setdefault("campaigns", [])
    # trigger campaigns have no budget: a move leaves them as they are (docs/sweeps.md)
    source = [c for c in camps if c.get("channel") == move.source and c.get("trigger") is None]
    moved = share * sum(_weekly_rate(c, weeks) for c in source)
    for c in source:
        _scale_budget(c, 1.0 - share)
    target = [c for c in camps if c.get("channel") == move.target and c.get("trigger") is None]
    if not target:
        camps.append({"channel": move.target, "weekly": moved})
        return
    rates = np.array([_weekly_rate(c, weeks) for c in target])
    shares = rates / rates.sum() if rates.sum() > 0 else np.full(len(target), 1.0 / len(target))
    for c, rate, sh in zip(target, rates, shares, strict=True):
        if c.get("weekly") is not None or rate == 0:
            c["weekly"] = (c.get("weekly") or 0.0) + moved * sh
            c.pop("total", None)
        else:
            _scale_budget(c, (rate + moved * sh) / rate)


# --------------------------------------------------------------------------------------------
# tasks and executors


#: The results-part name of a no-marketing task (plan ids cannot start with ``__``).
_NO_MARKETING_KEY = "__none__"


@dataclass(frozen=True)
class Task:
    """One independent unit of work: a point, a plan (or :data:`NO_MARKETING`), a replication."""

    point: int
    plan: str
    rep: int
    scenario: Scenario
    seed: int
    common_random_numbers: bool
    threads: int = 1

    @property
    def key(self) -> str:
        """File-name-safe identity of the task, unique to it (its results part's name).

        An ASCII plan id is written as it is (ids are unique once case is ignored, so a
        case-insensitive file system keeps them apart); any other gets its ASCII letters and a
        digest of the id, so ``план`` and ``цены`` are two parts, and file systems that
        re-normalise Unicode names (macOS) find the part again on resume.
        """
        if self.plan == NO_MARKETING:
            name = _NO_MARKETING_KEY
        elif _ASCII_ID.fullmatch(self.plan):
            name = self.plan
        else:  # '.' is in no id, so this never equals an ASCII id's name
            digest = hashlib.sha256(self.plan.encode("utf-8")).hexdigest()[:12]
            name = re.sub(r"[^A-Za-z0-9_-]", "_", self.plan) + "." + digest
        return f"p{self.point:05d}-{name}-r{self.rep:04d}"


def run_task(task: Task) -> tuple[str, pd.DataFrame]:
    """Run one task: one plan (None for :data:`NO_MARKETING`), one replication; rows per segment and
    ``all`` with every metric a run has without its counterfactual (the incremental ones are added
    when the sweep is summarised)."""
    sc = task.scenario
    if task.common_random_numbers:
        seed = task.seed
    else:  # each point its own random numbers
        seed = int(np.random.SeedSequence([task.seed, task.point]).generate_state(1, dtype=np.uint32)[0])
    streams = make_streams(seed, task.rep, len(sc.segments))
    plan = None if task.plan == NO_MARKETING else task.plan
    rec = run_plan(sc, plan, streams, sc.scenario.agents, sc.scenario.weeks, threads=task.threads)
    rows = []
    selections: list[tuple[int | slice, str]] = [*enumerate(sc.segments), (slice(None), "all")]
    for g, seg in selections:
        rows.append({"segment": seg, **metrics.summary_row(rec, g, sc.scenario.ltv_weeks)})
    return task.key, pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# running, resuming, summarising


@dataclass
class SweepResult:
    """A finished sweep: the experiment, the long table and its summaries."""

    experiment: LoadedExperiment
    results: pd.DataFrame  # point x plan x rep x segment, parameters and every metric (incremental too)
    summary: pd.DataFrame  # point x plan x segment: mean and 95% CI (over draws: 90% posterior interval) of each metric
    differences: pd.DataFrame  # point x plan x segment: paired difference and ratio from the reference plan
    warnings: list[str] = field(default_factory=list)  # on resume: results parts set aside and run again
    without: pd.DataFrame | None = None  # the no-marketing runs: point x rep x segment (None: baseline = false)
    no_marketing: pd.DataFrame | None = None  # their summary: point x segment, mean and 95% CI
    reconciliation: Reconciliation | None = None  # a Reconciliation when the sweep ran fewer agents than the scenario

    @property
    def incremental(self) -> bool:
        """Whether the tables have the incremental metrics (no marketing was run at every point)."""
        return self.without is not None

    @property
    def posterior(self) -> bool:
        """Whether the sweep ran over posterior draws: its intervals are 90% posterior intervals
        (``_p05``, ``_p95``), not 95% confidence intervals over replications (``_ci_low``, ``_ci_high``)."""
        return self.experiment.posterior is not None


def _tasks(exp: LoadedExperiment, threads: int) -> list[Task]:
    """Every task, point by point: with the baseline, no marketing first, then the plans.

    Over posterior draws, replication r is draw r: its task runs the point's scenario built on the draw."""
    s = exp.spec.experiment
    plans = [NO_MARKETING, *exp.plans] if s.baseline else exp.plans
    post = exp.posterior
    return [
        Task(i, plan, r, sc if post is None else post.scenarios[i][r], s.seed, s.common_random_numbers, threads)
        for i, sc in enumerate(exp.scenarios)
        for plan in plans
        for r in range(exp.reps)
    ]


def _write_part(folder: Path, key: str, frame: pd.DataFrame) -> None:
    write_parquet(folder / f"{key}.parquet", frame)  # a part exists whole or not at all


def _tag(task: Task, frame: pd.DataFrame, point: dict[str, Any]) -> pd.DataFrame:
    head = pd.DataFrame({"point": task.point, "plan": task.plan, "rep": task.rep}, index=frame.index)
    params = pd.DataFrame({k: [v] * len(frame) for k, v in point.items()}, index=frame.index)
    return pd.concat([head, params, frame], axis=1)


def run_sweep(
    experiment: str | Path | LoadedExperiment,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    progress: Callable[[int, int], None] | None = None,
    threads: int | None = None,
) -> SweepResult:
    """Run every (point, plan, replication) of an experiment; stream results to ``out``.

    Args:
        experiment: an experiment file or a loaded experiment.
        workers: local processes (1 = in this process). Ignored with ``scheduler``.
        scheduler: a Dask scheduler address; tasks go to that cluster.
        out: folder for results/*.parquet (one part per task, written as each finishes); none =
            keep everything in memory.
        resume: continue a sweep in ``out``: tasks with a part are not run again. A part that is
            empty, truncated, not Parquet or another task's (its columns, point, plan or
            replication) is moved to ``out``/rejected/, named in ``SweepResult.warnings``, and
            its task run again.
        progress: called with (tasks done, tasks in all) as tasks finish.
        threads: engine threads per task; default the machine's cores divided by the workers
            (1 on a Dask cluster). Results do not depend on it.

    Raises:
        ScenarioError: bad experiment, or ``out`` holds another sweep, or results without ``resume``.
    """
    exp = experiment if isinstance(experiment, LoadedExperiment) else load_experiment(experiment)
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // max(workers, 1)) if scheduler is None else 1
    tasks = _tasks(exp, threads)
    by_key = {t.key: t for t in tasks}
    parts: dict[str, pd.DataFrame] = {}
    warnings: list[str] = []
    folder = None
    with ExitStack() as stack:
        # a cluster is reached before anything is written; a local executor only when there is work
        runner = stack.enter_context(executor_for(workers, scheduler)) if scheduler is not None else None
        if out is not None:
            folder = Path(out) / "results"
            _prepare(Path(out), folder, exp, resume)
            for p in sorted(folder.glob("*.parquet")):
                if p.stem in by_key:
                    frame, why = _read_part(p, by_key[p.stem], exp)
                    if frame is not None:
                        parts[p.stem] = frame
                    else:
                        warnings.append(f"{p}: {why}; moved to {_set_aside(Path(out), p)}, its task runs again")
        todo = [t for t in tasks if t.key not in parts]
        done = len(tasks) - len(todo)
        if progress is not None:
            progress(done, len(tasks))
        if todo:
            runner = runner or stack.enter_context(executor_for(workers, scheduler))
            for key, frame in runner.run(run_task, todo):
                task = by_key[key]
                tagged = _tag(task, frame, exp.points[task.point])
                if folder is not None:
                    _write_part(folder, key, tagged)
                parts[key] = tagged
                done += 1
                if progress is not None:
                    progress(done, len(tasks))
    results = pd.concat([parts[t.key] for t in tasks], ignore_index=True)  # task order, not finish order
    if exp.posterior is not None:
        results = _draw_columns(results, exp.posterior)
    results, without = incremental_results(results, exp)
    summary, differences = summarise_sweep(results, exp)
    no_marketing = None if without is None else summarise_no_marketing(without, exp)
    return SweepResult(exp, results, summary, differences, warnings, without, no_marketing)


def _draw_columns(results: pd.DataFrame, post: SweepDraws) -> pd.DataFrame:
    """The long table with each row's draw: ``draw`` (the draws file's id) after ``rep``, and every
    parameter's value in that draw before ``segment`` (a results part has neither: they follow from ``rep``)."""
    rep = results["rep"].to_numpy()
    table = post.draws.table
    out = results.copy()
    out.insert(int(out.columns.get_loc("rep")) + 1, "draw", pd.Series(post.ids).to_numpy()[rep])
    for p in post.draws.parameters:
        out.insert(int(out.columns.get_loc("segment")), p.name, table[p.name].to_numpy(dtype=float)[rep])
    return out


#: Where a resume moves the results parts it cannot use (inside ``out``, beside results/).
REJECTED = "rejected"


def _read_part(path: Path, task: Task, exp: LoadedExperiment) -> tuple[pd.DataFrame | None, str]:
    """A results part found on resume, or None and why it cannot be this task's part.

    It must be a Parquet file (not empty, not truncated) with exactly the sweep's columns, one row
    per segment and ``all``, and this task's point, plan, replication and parameter levels.
    """
    if path.is_symlink() or not path.is_file():
        return None, "not a regular file"
    if path.stat().st_size == 0:
        return None, "empty (0 bytes)"
    try:
        frame = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises many kinds for a damaged file
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        return None, f"not a readable Parquet file (truncated or damaged: {reason})"
    point = exp.points[task.point]
    columns = ["point", "plan", "rep", *point, "segment", *metrics.TOTAL_METRICS]
    if list(frame.columns) != columns:
        return None, "its columns are not this sweep's (a part of another sweep or another version)"
    segments = [*task.scenario.segments, "all"]
    if frame["segment"].tolist() != segments:
        return None, f"its segments are not this sweep's ({', '.join(segments)})"
    keys = {"point": task.point, "plan": task.plan, "rep": task.rep, **point}
    for name, value in keys.items():
        if not (frame[name] == value).all():
            return None, f"its {name} is not {value!r}, the task its file name says (a part of another task)"
    return frame, ""


def _set_aside(out: Path, part: Path) -> Path:
    """Move a results part a resume cannot use to ``out``/rejected/ (a new name if one is taken)."""
    aside = out / REJECTED
    aside.mkdir(exist_ok=True)
    dest = aside / part.name
    n = 1
    while dest.exists() or dest.is_symlink():
        dest = aside / f"{part.stem}.{n}{part.suffix}"
        n += 1
    os.replace(part, dest)
    return dest


def _prepare(out: Path, folder: Path, exp: LoadedExperiment, resume: bool) -> None:
    meta = out / "metadata.json"
    started = folder.exists() and any(folder.glob("*.parquet"))
    if started:
        if not (meta.exists() or meta.is_symlink()):  # resumed or not: it cannot be this sweep's
            raise ArgumentError(
                "out",
                lambda name: (
                    f" {out}: metadata.json is missing: this folder cannot be checked against the experiment; "
                    f"use another {name('out')} or {name('force')}"
                ),
            )
    check_resumable(
        out,
        started,
        exp.digest,
        resume,
        "results of a sweep",
        "a sweep of another experiment (or another version of its files)",
    )
    folder.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.glob(".*.tmp"), *out.glob(".*.tmp")]:  # a part or table a killed sweep was writing
        if stale.is_file():
            stale.unlink()
    s = exp.spec.experiment
    settings: dict[str, Any] = {
        "experiment": str(exp.path),
        "digest": exp.digest,
        "points": len(exp.points),
        "design": s.design,
    }
    if exp.posterior is not None:
        settings.update(_posterior_settings(exp.posterior))
    info = metadata(
        "sweep",
        exp.scenarios[0] if exp.scenarios else parse_scenario(exp.base, source=str(exp.scenario_path)),
        scenario_path=exp.scenario_path,
        seed=s.seed,
        reps=1 if exp.posterior is not None else s.reps,  # over draws: one replication per draw
        elapsed_s=None,
        plans=exp.plans,
        settings=settings,
    )
    write_json(meta, info)


def _posterior_settings(post: SweepDraws) -> dict[str, Any]:
    """metadata.json's settings of a sweep over posterior draws."""
    draws = post.draws
    return {
        "posterior": True,
        "draws_used": len(post.ids),
        "draws_available": len(draws),
        "all_draws": len(post.ids) == len(draws),
        "draws_file": None if draws.path is None else str(draws.path),
        "draws_source": draws.source,
        "parameters": [{"name": p.name, "path": p.path, "relative": p.relative} for p in draws.parameters],
        "interval": metrics.POSTERIOR_INTERVAL,
        "order": "draw, then point: a point's changes are applied on top of the draw's values",
        "experiment_reps": post.experiment_reps,  # not used: each draw is one replication
    }


def incremental_results(long: pd.DataFrame, exp: LoadedExperiment) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Split the tasks' long table into the plans' rows and the no-marketing rows, and give every
    plan row the incremental metrics against the no-marketing run of its point, replication and
    segment (:func:`cjmsim.analyses.metrics.incremental_row`, the definition every command uses).

    Returns (plans, without); without is None when the experiment has ``baseline = false``.
    """
    if not exp.spec.experiment.baseline:
        return long, None
    none = long.plan == NO_MARKETING
    without = long[none].reset_index(drop=True)
    plans = long[~none].reset_index(drop=True)
    keys = ["point", "segment", "rep"]
    base = without.set_index(keys).loc[pd.MultiIndex.from_frame(plans[keys])]
    totals = list(metrics.TOTAL_METRICS)
    rows = [
        metrics.incremental_row(row, b)
        for row, b in zip(plans[totals].to_dict("records"), base[totals].to_dict("records"), strict=True)
    ]
    inc = pd.DataFrame(rows, columns=list(INCREMENTAL_METRICS), index=plans.index, dtype=float)
    return pd.concat([plans, inc], axis=1), without


def _means(results: pd.DataFrame, params: list[str], posterior: bool = False) -> pd.DataFrame:
    """Per point, plan and segment: the number of replications, and each metric's mean and 95% CI
    (``posterior``: the number of draws, and each metric's mean and 90% posterior interval)."""
    names = [m for m in metrics.SUMMARY_METRICS if m in results.columns]
    keys = ["point", *params, "plan", "segment"]
    spread, low, high = _interval(posterior)
    rows = []
    for key, grp in results.groupby(["point", "plan", "segment"], sort=False):
        row = dict(zip(["point", "plan", "segment"], key, strict=True))
        row.update({p: grp[p].iloc[0] for p in params})
        row["draws" if posterior else "reps"] = len(grp)
        for m in names:
            mean, lo, hi = spread(grp[m].to_numpy())
            row[m], row[f"{m}{low}"], row[f"{m}{high}"] = mean, lo, hi
        rows.append(row)
    summary = pd.DataFrame(rows)
    return summary[keys + [c for c in summary.columns if c not in keys]]


#: The columns each metric has in a sweep's differences table, after its name.
DIFFERENCE_SUFFIXES = ("_diff", "_diff_ci_low", "_diff_ci_high", "_ratio", "_ratio_ci_low", "_ratio_ci_high")
#: The same over posterior draws: the intervals are 90% posterior intervals (5th and 95th percentiles).
POSTERIOR_DIFFERENCE_SUFFIXES = ("_diff", "_diff_p05", "_diff_p95", "_ratio", "_ratio_p05", "_ratio_p95")


def _interval(posterior: bool) -> tuple[Callable[[np.ndarray], tuple[float, float, float]], str, str]:
    """The summary's interval and its column suffixes: Student-t 95% CI over replications, or the
    90% posterior interval over draws."""
    if posterior:
        return metrics.posterior_interval, "_p05", "_p95"
    return metrics.confidence, "_ci_low", "_ci_high"


def summarise_sweep(results: pd.DataFrame, exp: LoadedExperiment) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per point, plan and segment: mean and 95% CI of each metric, and the paired differences and
    ratios from the reference plan, replication by replication.

    ``<metric>_diff`` is the mean of the differences (the same replication's reference value
    subtracted) with its Student-t 95% CI; ``<metric>_ratio`` the ratio of the means with its
    delta-method CI (:func:`cjmsim.analyses.metrics.paired_ratio`). ``results`` are the plans'
    rows (with the incremental metrics when the sweep ran no marketing, see
    :func:`incremental_results`).

    Over posterior draws (``exp.posterior``) a replication is a draw and every interval is the 90%
    posterior interval over the draws instead (columns ``_p05`` and ``_p95``, and ``draws`` for
    ``reps``): of each metric, of the paired differences, and of the per-draw ratios
    (:func:`cjmsim.analyses.metrics.posterior_interval`, :func:`~cjmsim.analyses.metrics.posterior_ratio`).
    """
    params = [p.name for p in exp.spec.parameters]
    s = exp.spec.experiment
    reference = s.reference or exp.plans[0]
    names = [m for m in metrics.SUMMARY_METRICS if m in results.columns]
    posterior = exp.posterior is not None
    summary = _means(results, params, posterior)
    suffixes = POSTERIOR_DIFFERENCE_SUFFIXES if posterior else DIFFERENCE_SUFFIXES
    spread, _, _ = _interval(posterior)
    ratio = metrics.posterior_ratio if posterior else metrics.paired_ratio
    ref = results[results.plan == reference].set_index(["point", "segment", "rep"])
    diffs = []
    for key, grp in results[results.plan != reference].groupby(["point", "plan", "segment"], sort=False):
        g = grp.set_index(["point", "segment", "rep"])
        base = ref.loc[g.index]
        row = dict(zip(["point", "plan", "segment"], key, strict=True))
        row.update({p: grp[p].iloc[0] for p in params})
        row["reference"] = reference
        for m in names:
            a, b = g[m].to_numpy(dtype=float), base[m].to_numpy(dtype=float)
            values = (*spread(a - b), *ratio(a, b))
            row.update({f"{m}{x}": v for x, v in zip(suffixes, values, strict=True)})
        diffs.append(row)
    diff_columns = [f"{m}{x}" for m in names for x in suffixes]
    differences = pd.DataFrame(diffs, columns=["point", *params, "plan", "segment", "reference", *diff_columns])
    return summary, differences


def summarise_no_marketing(without: pd.DataFrame, exp: LoadedExperiment) -> pd.DataFrame:
    """The no-marketing runs per point and segment: mean and 95% CI (over draws: 90% posterior interval)
    of each metric (plan ``(no marketing)``)."""
    return _means(without, [p.name for p in exp.spec.parameters], exp.posterior is not None)


def sweep(
    experiment: str | Path,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    out: str | Path | None = None,
    resume: bool = False,
) -> pd.DataFrame:
    """Run an experiment and return the long table: one row per point x plan x replication x segment.

    Columns: point, plan, rep, one column per parameter, segment, then every summary metric (the
    incremental ones last, unless the experiment has ``baseline = false``); the no-marketing runs
    are in :attr:`SweepResult.without`. See :func:`run_sweep` for the arguments and the summaries.
    """
    return run_sweep(experiment, workers=workers, scheduler=scheduler, out=out, resume=resume).results
