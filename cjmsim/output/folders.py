"""Run folders: write a result's tables, metadata and scenario copy, atomically.

Everything is written into a temporary folder next to the target, which is renamed into place
at the end, so a run that fails or is interrupted never leaves a half-written folder behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cjmsim import __version__
from cjmsim.analyses.simulate import Result
from cjmsim.scenario import file_hash

__all__ = ["atomic_folder", "write_run", "metadata"]


@contextlib.contextmanager
def atomic_folder(target: str | Path) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``target`` only if the block finishes.

    An existing ``target`` is replaced as a whole. On an exception the temporary folder is
    removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def metadata(result: Result, scenario_path: str | Path | None, elapsed_s: float) -> dict[str, Any]:
    """What a run folder's metadata.json holds: version, settings, scenario hash, run time."""
    s = result.scenario.scenario
    return {
        "cjmsim_version": __version__,
        "scenario": s.name,
        "scenario_file": str(scenario_path) if scenario_path else None,
        "scenario_sha256": file_hash(scenario_path) if scenario_path else None,
        "seed": result.seed,
        "reps": result.reps,
        "agents": result.agents,
        "population": s.population,
        "weight": result.scenario.weight,
        "weeks": result.weeks,
        "warmup_weeks": s.warmup_weeks,
        "plans": result.plans,
        "segments": list(result.scenario.segments),
        "channels": list(result.scenario.channels),
        "currency": s.currency,
        "run_seconds": round(elapsed_s, 3),
        "python": platform.python_version(),
    }


def write_run(
    result: Result,
    out: str | Path,
    scenario_path: str | Path | None = None,
    elapsed_s: float = 0.0,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write summary.csv, weekly.csv, metadata.json and a copy of the scenario into ``out``.

    ``extra`` may write more files (charts, reports) into the temporary folder before it is
    renamed. Returns the final folder.
    """
    out = Path(out)
    with atomic_folder(out) as tmp:
        result.summary.to_csv(tmp / "summary.csv", index=False)
        result.weekly.to_csv(tmp / "weekly.csv", index=False)
        result.per_rep.to_csv(tmp / "summary_by_rep.csv", index=False)
        (tmp / "metadata.json").write_text(json.dumps(metadata(result, scenario_path, elapsed_s), indent=2) + "\n")
        if scenario_path is not None:
            shutil.copyfile(scenario_path, tmp / f"scenario{Path(scenario_path).suffix or '.toml'}")
        if extra is not None:
            extra(tmp)
    return out
