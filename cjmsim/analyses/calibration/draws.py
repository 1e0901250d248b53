"""Posterior draws: the file ``cjmsim calibrate`` writes and ``run --posterior`` reads.

``posterior.parquet`` holds one row per draw: ``draw`` (0, 1, ...) and one column per free parameter
(its ``name``), the parameter's value in that draw. What each column changes in the scenario travels
with the table, in its Parquet metadata (``cjmsim``: the parameters' names, dotted paths and whether a
value multiplies the scenario's own or replaces it), so the file alone says how to apply a draw. The
draws are equally weighted samples of the posterior.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cjmsim.scenario import ScenarioError

__all__ = ["DRAWS_FORMAT", "Draws", "FreeParameter", "apply_draw", "read_draws", "write_draws"]

#: The version of the draws file's metadata: a reader refuses another.
DRAWS_FORMAT = 1


@dataclass(frozen=True)
class FreeParameter:
    """A calibrated parameter: its column ``name``, the dotted ``path`` it sets in the scenario (the
    sweep's path syntax, wildcards included) and whether its value multiplies the scenario's own
    (``relative``: every value the path selects is scaled, so segments keep their differences)."""

    name: str
    path: str
    relative: bool = False


@dataclass(frozen=True)
class Draws:
    """Posterior draws: the parameters and a table with ``draw`` and one column per parameter."""

    parameters: tuple[FreeParameter, ...]
    table: pd.DataFrame
    #: what made them (the calibration file, the scenario file): shown, not needed to apply them
    source: dict[str, Any]
    #: the file they were read from (:func:`read_draws`), for messages; None for draws made in code
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.table)

    def values(self, i: int) -> dict[str, float]:
        """Draw ``i``'s value of every parameter, by name."""
        row = self.table.iloc[i]
        return {p.name: float(row[p.name]) for p in self.parameters}


def write_draws(path: str | Path, draws: Draws) -> Path:
    """Write ``draws`` as Parquet (atomically) with the parameters in its metadata; returns the path."""
    from cjmsim.output import write_parquet

    frame = draws.table.reset_index(drop=True).copy()
    frame.attrs = {
        "cjmsim": {
            "format": DRAWS_FORMAT,
            "parameters": [{"name": p.name, "path": p.path, "relative": p.relative} for p in draws.parameters],
            "source": draws.source,
        }
    }
    return write_parquet(path, frame)


def read_draws(path: str | Path) -> Draws:
    """Read a posterior draws file; ScenarioError naming the file when it is not one (not Parquet, no
    cjmsim metadata, a parameter column missing, a value that is not a finite number)."""
    path = Path(path)
    try:
        frame = pd.read_parquet(path)
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such file") from None
    except (OSError, ValueError) as e:  # pyarrow's errors are subclasses of both
        raise ScenarioError(f"{path}: not a Parquet file of posterior draws ({type(e).__name__})") from None
    meta = frame.attrs.get("cjmsim") if isinstance(frame.attrs, dict) else None
    if not isinstance(meta, dict) or "parameters" not in meta:
        raise ScenarioError(f"{path}: no cjmsim metadata: not the posterior.parquet of `cjmsim calibrate`")
    if meta.get("format") != DRAWS_FORMAT:
        raise ScenarioError(f"{path}: draws format {meta.get('format')!r}; this cjmsim reads format {DRAWS_FORMAT}")
    try:
        params = tuple(
            FreeParameter(str(p["name"]), str(p["path"]), bool(p.get("relative", False))) for p in meta["parameters"]
        )
    except (KeyError, TypeError):
        raise ScenarioError(f"{path}: its cjmsim metadata has no readable parameters") from None
    missing = [p.name for p in params if p.name not in frame.columns]
    if missing or "draw" not in frame.columns:
        raise ScenarioError(f"{path}: column {(missing or ['draw'])[0]!r} missing: the file was changed")
    if not params or frame.empty:
        raise ScenarioError(f"{path}: no parameters or no draws")
    for p in params:
        col = pd.to_numeric(frame[p.name], errors="coerce")
        if not col.notna().all() or not col.abs().lt(float("inf")).all():
            raise ScenarioError(f"{path}: column {p.name!r}: every value must be a finite number")
    frame.attrs = {}
    return Draws(params, frame, dict(meta.get("source") or {}), path)


def apply_draw(
    data: dict[str, Any], parameters: tuple[FreeParameter, ...], values: dict[str, float], where: str
) -> dict[str, Any]:
    """A copy of the parsed scenario ``data`` with each parameter's value set (or, relative, multiplied)
    at its path; ScenarioError, prefixed with ``where``, for a path the scenario does not have."""
    from cjmsim.analyses.sweep import set_path

    out = copy.deepcopy(data)
    for p in parameters:
        set_path(out, p.path, values[p.name], multiply=p.relative, where=f"{where}: parameter {p.name!r}")
    return out
