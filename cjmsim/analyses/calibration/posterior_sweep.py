"""Sweeps under uncertainty: every point and plan of an experiment run over posterior draws.

:func:`load_posterior_experiment` turns an experiment into one whose replications are posterior
draws: for point p and draw i, draw i's parameter values are applied to the base scenario first
(:func:`~.draws.apply_draw`), then the point's changes on top of them
(:func:`cjmsim.analyses.sweep.apply_point`), and the task runs on replication i. So a sweep
parameter that *sets* a path a posterior parameter also sets wins (the point's value replaces the
draw's), and one that *multiplies* (a relative parameter, a budget factor, a named level) scales the
draw's value. Within a draw every point and plan shares replication i's customers and random
numbers (common random numbers, as within a replication of a plain sweep); across draws both the
parameters and the random numbers change.

The experiment's own ``reps`` are not used (each draw is one replication); everything else of the
sweep is unchanged: :func:`cjmsim.analyses.sweep.run_sweep` runs it, one task per (point, plan,
draw), resumable, on the same executors, and its summaries give 90% posterior intervals over the
draws instead of 95% confidence intervals over replications.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd

from cjmsim.analyses.sweep import (
    LoadedExperiment,
    SweepDraws,
    apply_point,
    check_sweep_memory,
    load_experiment,
    sweep_size,
)
from cjmsim.scenario import SUMMARY_METRICS, ArgumentError, ScenarioError, parse_scenario

from .draws import Draws, apply_draw, read_draws

__all__ = ["RESERVED_COLUMNS", "draws_table", "load_posterior_experiment"]

#: Column names of a sweep's tables a posterior parameter may not take (nor a sweep parameter's name).
RESERVED_COLUMNS = frozenset(
    {"point", "plan", "rep", "reps", "draw", "draws", "reference", "segment", *SUMMARY_METRICS}
)


def load_posterior_experiment(
    path: str | Path, draws: Draws | str | Path, max_draws: int | None = None
) -> LoadedExperiment:
    """Read an experiment (:func:`cjmsim.analyses.sweep.load_experiment`) and build, for every point
    and each of the first ``max_draws`` draws (default all), the point's scenario on the draw's.

    The result runs with :func:`cjmsim.analyses.sweep.run_sweep` like any loaded experiment; its
    ``posterior`` holds the draws, and its digest covers them, so a sweep folder of other draws is
    not resumed with these (more draws of the same file resume it: draw i is always replication i).

    Raises:
        ScenarioError: a bad experiment; a draws file that is not one; a draw whose path the scenario
            does not have (naming the draws file, the draw, the parameter and the path) or whose values,
            with a point's changes, make the scenario invalid (naming the point and the draw); a posterior
            parameter named like a sweep parameter or a column of the tables; the same draw id twice.
            All before anything runs.
        ArgumentError: ``max_draws`` below 1.
    """
    if not isinstance(draws, Draws):
        draws = read_draws(draws)
    if max_draws is not None and max_draws < 1:
        raise ArgumentError("max_draws", f" {max_draws}: use at least one draw")
    name = str(draws.path) if draws.path is not None else "<draws>"
    exp = load_experiment(path)
    own = [p.name for p in exp.spec.parameters if p.name in ("draw", "draws")]
    if own:
        raise ScenarioError(
            f"{exp.path}: parameter {own[0]!r}: a sweep over posterior draws has a column of that name; rename it"
        )
    taken = RESERVED_COLUMNS | {p.name for p in exp.spec.parameters}
    clash = [p.name for p in draws.parameters if p.name in taken]
    if clash:
        raise ScenarioError(
            f"{name}: parameter {clash[0]!r} is named like a sweep parameter or a column of the sweep's tables; "
            "rename it"
        )
    n = len(draws) if max_draws is None else min(max_draws, len(draws))
    base_sc = exp.scenarios[0] if exp.scenarios else parse_scenario(exp.base, source=str(exp.scenario_path))
    check_sweep_memory(sweep_size(exp.spec, base_sc, exp.plans, draws=n), exp.path)
    ids = draws.table["draw"].iloc[:n].tolist()
    if len(set(map(repr, ids))) < len(ids):
        twice = next(d for k, d in enumerate(ids) if repr(d) in map(repr, ids[:k]))
        raise ScenarioError(f"{name}: column 'draw': draw {twice!r} appears twice; each draw must have its own id")
    scenarios: list[list[Any]] = [[] for _ in exp.points]
    for i, draw in enumerate(ids):
        where = f"{name}: draw {draw} (on {exp.scenario_path})"
        data = apply_draw(exp.base, draws.parameters, draws.values(i), where=where)
        for p, point in enumerate(exp.points):
            label = ", ".join(f"{k} = {v}" for k, v in point.items()) or "the base scenario"
            changed = apply_point(data, exp.spec.parameters, point, where=f"{exp.path}")
            source = f"{exp.path}: point {p} ({label}), draw {draw} of {name}"
            scenarios[p].append(parse_scenario(changed, source=source))
    post = SweepDraws(draws, ids, scenarios, exp.spec.experiment.reps)
    return dataclasses.replace(exp, posterior=post, digest=_digest(exp.digest, draws))


def _digest(experiment: str, draws: Draws) -> str:
    """The experiment's digest with every draw of the file and its parameters (not how many are used)."""
    params = json.dumps([[p.name, p.path, p.relative] for p in draws.parameters]).encode("utf-8")
    values = pd.util.hash_pandas_object(draws.table.reset_index(drop=True), index=True).to_numpy().tobytes()
    return hashlib.sha256(experiment.encode("utf-8") + b"\0posterior\0" + params + b"\0" + values).hexdigest()


def draws_table(exp: LoadedExperiment) -> pd.DataFrame:
    """The draws a sweep ran over (draws.csv): ``rep`` (the replication each ran on), ``draw`` (the
    draws file's id) and every parameter's value in it (a factor for a relative parameter)."""
    post = exp.posterior
    if post is None:
        raise ValueError("the sweep did not run over posterior draws")
    n = len(post.ids)
    frame = pd.DataFrame({"rep": range(n), "draw": post.ids})
    for p in post.draws.parameters:
        frame[p.name] = post.draws.table[p.name].iloc[:n].to_numpy(dtype=float)
    return frame
