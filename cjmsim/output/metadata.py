"""One shape of metadata.json for every output folder: what ran, on what, with which settings.

Every analysis writes the same keys (version, analysis, scenario, its file and hash, seed,
replications, agents, weeks, the scenario's plans, segments and channels, run time, Python), and
puts what is its own under ``settings``, so a reader or a script finds the same facts in the same
place in a run, a sweep, an attribution or an optimization folder.
"""

from __future__ import annotations

import os
import platform
from typing import TYPE_CHECKING, Any

from cjmsim import __version__
from cjmsim.scenario import file_hash

if TYPE_CHECKING:
    from cjmsim.scenario import Scenario

__all__ = ["metadata"]


def metadata(
    analysis: str,
    scenario: Scenario,
    *,
    scenario_path: str | os.PathLike[str] | None,
    seed: int,
    reps: int,
    elapsed_s: float | None,
    plans: list[str] | None = None,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The metadata.json of one output folder.

    Args:
        analysis: what ran: ``run``, ``sweep``, ``attribute`` or ``optimize``.
        scenario: the scenario as simulated (agents, weeks and seed overrides applied).
        scenario_path: the file it was read from (hashed), or None for a scenario built in code.
        seed, reps: the seed and the replications.
        elapsed_s: wall-clock seconds of the analysis; None where it is not one number (a sweep
            writes its metadata when it starts, and may be resumed many times).
        plans: the plans simulated (default: every plan of the scenario).
        settings: what is the analysis' own (e.g. the optimizer's objective and bounds).
    """
    s = scenario.scenario
    return {
        "cjmsim_version": __version__,
        "analysis": analysis,
        "scenario": s.name,
        "scenario_file": str(scenario_path) if scenario_path else None,
        "scenario_sha256": file_hash(scenario_path) if scenario_path else None,
        "seed": seed,
        "reps": reps,
        "agents": s.agents,
        "population": s.population,
        "weight": scenario.weight,
        "weeks": s.weeks,
        "warmup_weeks": s.warmup_weeks,
        "plans": list(plans) if plans is not None else list(scenario.plans),
        "segments": list(scenario.segments),
        "channels": list(scenario.channels),
        "currency": s.currency,
        "settings": dict(settings or {}),
        "run_seconds": round(elapsed_s, 3) if elapsed_s is not None else None,
        "python": platform.python_version(),
    }
