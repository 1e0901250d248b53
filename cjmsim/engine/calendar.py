"""The calendar: SimPy switches the campaign flights and steps the population once a week.

:func:`run_plan` is the engine's entry point. One SimPy process per campaign flight switches it
on at its start and off at its end; the week clock steps the :class:`~cjmsim.engine.step.World`
at mid-week, after the week's switches, and resets the horizon's reach flags at week 0.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Callable, Generator, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import numpy as np
import simpy
from threadpoolctl import ThreadpoolController

from cjmsim.engine.compiled import CompiledCampaign
from cjmsim.engine.population import REACHED, THREADS_MIN_AGENTS
from cjmsim.engine.records import Recorder, Records, standard_recorders
from cjmsim.engine.step import SharedDraws, World
from cjmsim.engine.streams import Streams, make_streams
from cjmsim.scenario import Scenario

__all__ = [
    "WarmWorlds",
    "batches",
    "run_forked",
    "run_forked_together",
    "run_plan",
    "run_plans",
    "run_together",
    "run_weeks",
    "start_flights",
    "warm_up",
]


@cache
def _blas_controller() -> ThreadpoolController:
    """threadpoolctl's view of the loaded thread pools (numpy's BLAS), made once: ``threadpool_limits`` looks
    them up again on every call (0.4 ms, a small run's tenth of a week)."""
    return ThreadpoolController()


def _one_blas_thread() -> Any:
    """A context in which BLAS uses one thread (the step's small matrix products: BLAS's threads would only
    contend with the engine's)."""
    return _blas_controller().limit(limits=1, user_api="blas")


def start_flights(
    env: simpy.Environment,
    campaigns: list[CompiledCampaign],
    active: set[int],
    gates: dict[int, simpy.Event] | None = None,
) -> None:
    """One SimPy process per campaign flight: campaign k is in ``active`` while a flight of it is on.

    A campaign with an audience threshold (``gate``, ``start_when``) and an event in ``gates`` waits
    for it first: the week clock succeeds it at the end of the first week its audience reaches the
    threshold, and from the next week on the campaign runs its flights (at most ``run_for`` weeks)."""

    def flight(k: int, start: int, end: int) -> Generator[simpy.Event, Any, None]:
        yield env.timeout(start - env.now)
        active.add(k)
        yield env.timeout(end - start)
        active.discard(k)

    def gated(k: int, camp: CompiledCampaign, gate: simpy.Event) -> Generator[simpy.Event, Any, None]:
        yield gate
        opened = math.ceil(env.now)  # succeeded at the end of week t (t + 0.5): open from week t + 1
        last = opened + camp.run_for if camp.run_for is not None else math.inf
        for s, e in camp.windows:
            s2, e2 = max(s, opened), min(e, last)
            if e2 > s2:
                env.process(flight(k, s2, int(e2)))

    for k, camp in enumerate(campaigns):
        if gates is not None and k in gates:
            env.process(gated(k, camp, gates[k]))
            continue
        for s, e in camp.windows:
            if e > env.now:  # a calendar that starts later (a forked world) skips the flights it is past
                env.process(flight(k, max(s, int(env.now)), e))


def _open_gates(world: World, campaigns: list[CompiledCampaign], gates: dict[int, simpy.Event]) -> None:
    """Succeed the gate of every campaign whose audience has reached its ``start_when`` size."""
    for k, gate in gates.items():
        threshold = campaigns[k].gate
        if not gate.triggered and threshold is not None and world.audience(campaigns[k]) >= threshold:
            gate.succeed()


def run_weeks(
    world: World,
    weeks: int,
    on_week: Callable[[int], None] | None = None,
    *,
    start: int | None = None,
    stop: int | None = None,
) -> None:
    """Step ``world`` through its warm-up and ``weeks`` horizon weeks on a SimPy calendar, or
    through the weeks ``start`` (default the warm-up's first, ``-warmup_weeks``) to ``stop - 1``
    (default the horizon's last)."""
    _calendar(world, weeks, on_week, start, stop).run()


def _calendar(
    world: World, weeks: int, on_week: Callable[[int], None] | None, start: int | None, stop: int | None
) -> simpy.Environment:
    """:func:`run_weeks`' SimPy calendar, ready to run: the flights of the world's campaigns and the week clock."""
    first = -world.warm if start is None else start
    last = weeks if stop is None else stop
    env = simpy.Environment(initial_time=first)
    active: set[int] = set()
    # warm-up and plan campaigns share one list, so carryover bought in the warm-up keeps working
    campaigns = world.warm_campaigns + world.plan_campaigns
    # audience thresholds (start_when) are checked at the end of every week from the warm-up's last on
    # (the state the horizon starts from): a calendar starting at week >= 0 checks that state first
    gates = {k: env.event() for k, camp in enumerate(campaigns) if camp.gate is not None}
    start_flights(env, campaigns, active, gates)

    def clock() -> Generator[simpy.Event, Any, None]:
        if gates and first >= 0:
            _open_gates(world, campaigns, gates)
        yield env.timeout(0.5)
        for t in range(first, last):
            if t == 0:
                world.pop.flags &= np.uint8(~REACHED & 0xFF)
            world.week(t, campaigns, active)
            if on_week is not None:
                on_week(t)
            if gates and t >= -1:
                _open_gates(world, campaigns, gates)
            yield env.timeout(1)

    env.process(clock())
    return env


def run_together(
    worlds: Sequence[World],
    weeks: int,
    on_week: Callable[[int], None] | None = None,
    *,
    start: int | None = None,
    stop: int | None = None,
) -> None:
    """Step several worlds of one replication (forks of one world, each with its own plan) through the same
    weeks together, as :func:`run_weeks` steps one: week by week, each on its own SimPy calendar, the week's
    random numbers drawn once for all of them (:class:`~cjmsim.engine.step.SharedDraws`). Each world ends
    bit for bit as it would stepped alone."""
    if len(worlds) <= 1:  # one world draws its own numbers
        for w in worlds:
            run_weeks(w, weeks, on_week, start=start, stop=stop)
        return
    envs = [_calendar(w, weeks, on_week, start, stop) for w in worlds]
    first = -worlds[0].warm if start is None else start
    last = weeks if stop is None else stop
    draws = SharedDraws(worlds[0])
    for w in worlds:
        w.shared = draws
    try:
        for t in range(first, last):
            draws.draw()
            for env in envs:
                env.run(until=t + 1)  # the week's flight switches and its step at t + 0.5
    finally:
        for w in worlds:
            w.shared = None


#: Most bytes of world state stepped together (:func:`batches`): a world is about 110 bytes per agent.
TOGETHER_BYTES = 1 << 29
_WORLD_BYTES_PER_AGENT = 150
#: Fewest agents for which worlds step together. Measured in CPU time on hifi (benchmarks/bench_together.py),
#: together is x1.04 at 10,000 agents, x1.08 at 20,000 and x1.09-1.16 from 100,000: no size loses, so 0.
TOGETHER_MIN_AGENTS = 0


def batches(count: int, agents: int) -> list[range]:
    """``range(count)`` cut into runs of consecutive variants to step together, each holding at most
    :data:`TOGETHER_BYTES` of world state; one variant a batch below :data:`TOGETHER_MIN_AGENTS` agents."""
    size = max(1, TOGETHER_BYTES // max(agents * _WORLD_BYTES_PER_AGENT, 1)) if agents >= TOGETHER_MIN_AGENTS else 1
    return [range(i, min(i + size, count)) for i in range(0, count, size)]


def _pool(threads: int, world: World) -> ThreadPoolExecutor | None:
    """A pool of ``threads`` threads for ``world``'s blocks, or None where threads would not pay: one thread,
    fewer than :data:`THREADS_MIN_AGENTS` agents, or a single block."""
    if threads > 1 and world.pop.size >= THREADS_MIN_AGENTS and world.B > 1:
        return ThreadPoolExecutor(max_workers=threads)
    return None


def run_plan(
    scenario: Scenario,
    plan: str | None,
    streams: Streams,
    agents: int,
    weeks: int,
    on_week: Callable[[int], None] | None = None,
    threads: int | None = None,
    export: bool = False,
    events: bool = False,
    recorders: Sequence[Recorder] = (),
) -> Records:
    """Simulate one plan (None = no marketing) for one replication and return its weekly records.

    SimPy drives the calendar: the warm-up plan's flight runs over the warm-up weeks, the plan's
    campaign flights switch on and off at their windows, and the week clock steps the population
    at mid-week, after the week's switches. ``threads`` (default: the machine's cores, at most
    4) step segment blocks concurrently; results do not depend on it. ``export`` logs orders and
    journey paths (``Records.order_log``, ``journey_log``), ``events`` every exposure, stage change
    and repeat order of the horizon (``Records.event_log``): they add the recorders
    :class:`~cjmsim.engine.records.OrderLog` and :class:`~cjmsim.engine.records.JourneyLog`, and
    :class:`~cjmsim.engine.records.EventLog`, to ``recorders``, which the step calls at every
    week's exposures, orders and moves. No recorder changes any result.
    """
    if threads is None:
        threads = min(os.cpu_count() or 1, 4)
    world = World(scenario, streams, plan, agents, weeks, [*recorders, *standard_recorders(export, events)], threads)
    world.pool = _pool(threads, world)
    try:
        with _one_blas_thread():  # small matmuls: BLAS threads only contend
            run_weeks(world, weeks, on_week)
    finally:
        if world.pool is not None:
            world.pool.shutdown()
    return world.finish()


def run_plans(
    scenario: Scenario,
    plans: Sequence[str | None],
    streams: Streams,
    agents: int,
    weeks: int,
    on_week: Callable[[int], None] | None = None,
    threads: int | None = None,
) -> list[Records]:
    """Simulate several plans (None = no marketing) of one replication, sharing its warm-up.

    Every plan of a replication runs the same warm-up (the warm-up plan, the same random numbers),
    so it is simulated once and the world at week 0 is forked into one world per plan
    (:meth:`~cjmsim.engine.step.World.fork`). Each plan's records are bit for bit those of
    :func:`run_plan` with the same arguments; the warm-up's weeks are counted by ``on_week`` once.
    """
    if threads is None:
        threads = min(os.cpu_count() or 1, 4)
    start = World(scenario, streams, None, agents, weeks, threads=threads)
    pool = _pool(threads, start)
    out: list[Records] = []
    try:
        with _one_blas_thread():
            start.pool = pool
            run_weeks(start, weeks, on_week, stop=0)
            start.pool = None
            # the last plan goes on with the warm-up's own world: one copy fewer
            last = len(plans) - 1
            out = _forks_together(
                lambda i: start.fork(plans[i]) if i < last else start.fork_last(plans[i]), len(plans), agents, weeks,
                pool, on_week,
            )  # fmt: skip
    finally:
        if pool is not None:
            pool.shutdown()
    return out


def warm_up(scenario: Scenario, streams: Streams, agents: int, weeks: int) -> World:
    """The world of one replication stepped through its warm-up (the warm-up plan), at week 0, one thread:
    the start every plan of the replication shares. :func:`run_forked` runs a plan from it and leaves it as it
    was, so one warm-up serves any number of plans (an optimizer's candidates, :mod:`cjmsim.analyses.optimize`)."""
    start = World(scenario, streams, None, agents, weeks)
    with _one_blas_thread():
        run_weeks(start, weeks, stop=0)
    return start


def run_forked(
    warm: World, plan: str | None, weeks: int, scenario: Scenario | None = None, threads: int = 1
) -> Records:
    """``plan``'s records from a world :func:`warm_up` made (forked: ``warm`` is not changed); bit for bit
    :func:`run_plan`'s with the same scenario, streams, agents and weeks. ``scenario``: the plan's scenario
    when it differs from the warm world's in its plans only (a candidate plan added). ``threads``: as in
    :func:`run_plan` (one by default); results do not depend on it."""
    world = warm.fork(plan, scenario)
    world.pool = _pool(threads, world)
    try:
        with _one_blas_thread():
            run_weeks(world, weeks, start=0)
    finally:
        if world.pool is not None:
            world.pool.shutdown()
    return world.finish()


def run_forked_together(
    warm: World,
    plans: Sequence[str | None],
    weeks: int,
    scenarios: Sequence[Scenario | None] | None = None,
    threads: int = 1,
    lean: bool = False,
) -> list[Records]:
    """:func:`run_forked` of several plans from one warm world, stepped together in batches
    (:func:`run_together`: the week's random numbers drawn once for the batch); bit for bit each plan's
    :func:`run_forked`. ``scenarios``: each plan's scenario when it differs from the warm world's in its plans
    only (None: the warm world's). ``lean``: keep a search's records (:attr:`Records.lean
    <cjmsim.engine.records.Records.lean>`: the tables by stage and by campaign left out, the rest the same)."""
    scs = list(scenarios) if scenarios is not None else [None] * len(plans)
    pool = _pool(threads, warm)
    out: list[Records] = []

    def fork(i: int) -> World:
        world = warm.fork(plans[i], scs[i])
        world.lean = lean
        return world

    try:
        with _one_blas_thread():
            out = _forks_together(fork, len(plans), warm.pop.size, weeks, pool)
    finally:
        if pool is not None:
            pool.shutdown()
    return out


def _forks_together(
    fork: Callable[[int], World],
    count: int,
    agents: int,
    weeks: int,
    pool: ThreadPoolExecutor | None,
    on_week: Callable[[int], None] | None = None,
) -> list[Records]:
    """The records of variants ``0 .. count - 1`` from week 0, ``fork(i)`` making variant i's world, stepped
    together in memory-bounded :func:`batches` on ``pool``'s threads; in variant order."""
    out: list[Records] = []
    for batch in batches(count, agents):
        worlds = [fork(i) for i in batch]
        for world in worlds:
            world.pool = pool
        run_together(worlds, weeks, on_week, start=0)
        for world in worlds:
            world.pool = None
            out.append(world.finish())
        del worlds
    return out


class WarmWorlds(OrderedDict[Hashable, World]):
    """The warm-up worlds a process keeps (:func:`warm_up`), least recently used out first: an analysis
    that runs many plans on the same replications (an optimizer's candidates, attribution's coalitions)
    simulates each replication's warm-up once per process, and every plan forks it (:func:`run_forked`)."""

    def world(self, key: Hashable, scenario: Scenario, seed: int, rep: int, keep: int) -> World:
        """The world of replication ``rep`` (seed ``seed``) of ``scenario`` at week 0, made on first use and
        kept under ``key``, which must name everything the warm-up depends on (the scenario but its plans,
        the warm-up plan, seed, replication); at most ``keep`` worlds stay."""
        world = self.get(key)
        if world is None:
            s = scenario.scenario
            world = warm_up(scenario, make_streams(seed, rep, len(scenario.segments)), s.agents, s.weeks)
            self[key] = world
            while len(self) > keep:
                self.popitem(last=False)
        else:
            self.move_to_end(key)
        return world
