"""The engine layer: a SimPy calendar driving one vectorized population step per week.

It takes a validated :class:`cjmsim.scenario.Scenario` and seeds and returns raw weekly
:class:`Records`; it never reads files, writes, prints or draws, and imports nothing of cjmsim
above the scenario layer. Modules, bottom up:

- :mod:`.population`: the agents' arrays (stage, flags, propensity), stored in segment blocks;
- :mod:`.streams`: the random streams of a replication and the counter-based order uniforms;
- :mod:`.exposure`: money to units to exposures, adstock, saturation (pure functions);
- :mod:`.compiled`: the scenario compiled into per-segment model tables and campaigns;
- :mod:`.records`: the weekly :class:`Records`, and the :class:`Recorder` observers that log
  per-agent detail (orders, journeys, events);
- :mod:`.step`: the weekly step of one run (``World``);
- :mod:`.calendar`: the SimPy calendar (flights, the week clock) and :func:`run_plan`
  (:func:`run_plans`: the plans of a replication sharing one warm-up; :class:`WarmWorlds`, a process's
  warm-up worlds that many plans fork);
- :mod:`.kernel`: the step's compiled loops (numba), bit for bit the numpy operations they fuse.
"""

from __future__ import annotations

from .calendar import WarmWorlds, run_forked, run_forked_together, run_plan, run_plans, run_together, warm_up
from .compiled import LOGIT_CLIP
from .records import (
    EVENTS,
    JOURNEYS,
    EventLog,
    JourneyLog,
    Layout,
    OrderLog,
    Recorder,
    Records,
    path_channels,
    path_touches,
)
from .streams import Streams, make_streams, order_uniforms

__all__ = [
    "EVENTS",
    "JOURNEYS",
    "LOGIT_CLIP",
    "EventLog",
    "JourneyLog",
    "Layout",
    "OrderLog",
    "Recorder",
    "Records",
    "Streams",
    "WarmWorlds",
    "make_streams",
    "order_uniforms",
    "path_channels",
    "path_touches",
    "run_forked",
    "run_forked_together",
    "run_plan",
    "run_plans",
    "run_together",
    "warm_up",
]
