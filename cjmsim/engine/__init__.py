"""The engine layer: a SimPy calendar driving one vectorized population step per week.

It takes a validated :class:`cjmsim.scenario.Scenario` and seeds and returns raw weekly
:class:`Records`; it never reads files, writes, prints or draws, and imports nothing of cjmsim
above the scenario layer. Modules: :mod:`.population` (the agents' arrays), :mod:`.exposure` (money
to units to exposures, adstock, saturation) and :mod:`.step` (the weekly step and the calendar).
"""

from __future__ import annotations

from .step import EVENTS, LOGIT_CLIP, Records, Streams, make_streams, order_uniforms, run_plan

__all__ = ["EVENTS", "LOGIT_CLIP", "Records", "Streams", "make_streams", "order_uniforms", "run_plan"]
