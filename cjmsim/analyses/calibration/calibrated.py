"""The calibrated scenario: the scenario file as its author wrote it, with the calibrated values set.

tomlkit edits the TOML in place, so the strategist's comments, order and layout survive; each value
the calibration set carries a comment saying so, with its 90% posterior interval (the scenarios label
their numbers ``assumption``, ``benchmark`` or ``calibrated``); a value inside an inline table
(``odds.search = { interest = 1.5 }``) gets it on the table's line, before the author's comment. A
relative ``file`` the scenario names (a seasonality curve) is rewritten relative to the calibrated
file's folder, so it still resolves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import tomlkit

from .fit import LoadedCalibration

__all__ = ["calibrated_toml"]


def calibrated_toml(cal: LoadedCalibration, estimate: dict[str, float], parameters: pd.DataFrame, folder: Path) -> str:
    """The scenario's TOML text with the point estimate set at every parameter's path, to be written in
    ``folder`` (relative file names are rewritten for it). ``parameters`` is the fit's parameter table
    (its 90% posterior interval goes into each value's comment)."""
    from cjmsim.analyses.sweep import path_locations

    doc = tomlkit.parse(cal.scenario_path.read_text(encoding="utf-8"))
    by_name = {row["parameter"]: row for _, row in parameters.iterrows()}
    for p in cal.parameters:
        row = by_name[p.name]
        how = f"x {estimate[p.name]:.4g}" if p.relative else f"{estimate[p.name]:.4g}"
        note = (
            f"calibrated: cjmsim calibrate {cal.path.name}, parameter {p.name} ({how}; 90% posterior "
            f"{row['posterior_p05']:.4g}..{row['posterior_p95']:.4g})"
        )
        for container, key in path_locations(doc, p.path, where=f"{cal.path}: parameter {p.name!r}"):
            old = container.get(key) if isinstance(container, dict) else container[key]
            value = float(old) * estimate[p.name] if p.relative and old is not None else estimate[p.name]
            item = tomlkit.item(_round(value))
            if isinstance(container, tomlkit.items.InlineTable):  # no comment inside { ... }: on the table's line
                container[key] = item
                was = container.trivia.comment.lstrip("# ").strip()
                container.comment(
                    f"{key}: {note}" + (f"; was {old}" if old is not None else "") + (f"; {was}" if was else "")
                )
                continue
            was = getattr(getattr(old, "trivia", None), "comment", "").lstrip("# ").strip()
            item.comment(note + ("" if old is None else f"; was {old}" + (f", {was}" if was else "")))
            container[key] = item
    _rebase_files(doc, cal.scenario_path.parent, folder)
    head = (
        f"# Calibrated by cjmsim calibrate from {cal.path.name} on {cal.observed.path.name} "
        f"(plan {cal.spec.calibration.plan}, weeks {int(cal.observed.weeks.min())}-{int(cal.observed.weeks.max())}):\n"
        "# the point estimate of every free parameter; posterior.parquet holds the posterior draws.\n"
    )
    return head + tomlkit.dumps(doc)


def _round(x: float) -> float:
    """Ten significant digits: the estimate's precision is far below that, and the file stays readable."""
    return float(f"{x:.10g}")


def _rebase_files(node: Any, source: Path, target: Path) -> None:
    """Rewrite every relative ``file = "..."`` under ``node`` from ``source``'s folder to ``target``'s."""
    if isinstance(node, dict):
        for key in list(node.keys()):
            value = node[key]
            if key == "file" and isinstance(value, str) and not os.path.isabs(value):
                node[key] = os.path.relpath((source / value).resolve(), target.resolve())
            else:
                _rebase_files(value, source, target)
    elif isinstance(node, list):
        for value in node:
            _rebase_files(value, source, target)
