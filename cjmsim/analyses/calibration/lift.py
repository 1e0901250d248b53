"""Lift tests: holdout experiments on a channel, written as a company reports them and replayed in a fit.

A lift test holds a random share of the population (``holdout``) out of one channel for some weeks
and compares the outcome per person of the two groups over the test weeks and a ``window`` after
them. Its result, ``lift``, is the incremental outcome per 1,000 people: 1,000 x (outcome per treated
person - outcome per control person), with its standard error ``se``.

In the simulation the same test is the plan against the plan with the channel off in the test weeks,
on the same customers and random numbers (:func:`control_plan`): the difference per person is what
the holdout estimates. ``cjmsim run --export observed`` writes lift.csv for every ``[[lift_tests]]``
of the scenario (:func:`lift_table`), and a calibration replays each test of its lift.csv for every
candidate (:func:`read_lift`; the likelihood term is in :mod:`~cjmsim.analyses.calibration.fit`).
"""

from __future__ import annotations

import copy
import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cjmsim.scenario import ScenarioError, did_you_mean
from cjmsim.scenario.models import LIFT_METRICS, LiftTest, Scenario

__all__ = ["LIFT_COLUMNS", "Lift", "control_plan", "lift_table", "read_lift"]

#: lift.csv's columns, in order.
LIFT_COLUMNS = ("name", "plan", "channel", "start", "end", "window", "metric", "holdout", "lift", "se")
#: The Records field each lift metric counts (people = field x weight).
_FIELDS = {"leads": "leads", "new_customers": "customers", "orders": "orders"}


@dataclass(frozen=True)
class Lift:
    """One lift test's result: what it held out, when, what it measured, and what it found."""

    name: str
    channel: str
    start: int
    end: int
    window: int
    metric: str
    holdout: float
    lift: float  # incremental outcome per 1,000 people
    se: float

    @property
    def counted(self) -> tuple[int, int]:
        """The weeks [start, end + window) whose outcomes the test counts."""
        return self.start, self.end + self.window


def control_plan(
    data: dict[str, Any], plan: str, channel: str, weeks: tuple[int, int], horizon: int, name: str
) -> None:
    """Add to the parsed scenario ``data`` a plan ``name``: ``plan`` with every budgeted campaign of
    ``channel`` inactive in ``weeks`` [start, end) (its other weeks and budget per active week kept; a
    ``total`` becomes the ``weekly`` it spread). Trigger campaigns are kept: a holdout of bought media."""
    camps = copy.deepcopy(data["plans"][plan].get("campaigns", []))
    start, end = weeks
    for c in camps:
        if c.get("channel") != channel or c.get("trigger") is not None:
            continue
        windows = c.get("flights") or ([c["weeks"]] if c.get("weeks") else [[0, horizon]])
        active = sum(max(0, min(e, horizon) - s) for s, e in windows)
        if c.get("weekly") is None:
            c["weekly"] = float(c.get("total") or 0.0) / max(active, 1)
            c.pop("total", None)
        kept: list[list[int]] = []
        for s, e in windows:
            for a, b in ((s, min(e, start)), (max(s, end), e)):
                if b > a:
                    kept.append([a, b])
        c.pop("weeks", None)
        if kept:
            c["flights"] = kept
        else:  # no week left: no budget either
            c["flights"] = [[start, end]]
            c["weekly"] = 0.0
    data["plans"][name] = {**copy.deepcopy(data["plans"][plan]), "campaigns": camps}


def lift_table(sc: Scenario, plan: str, tests: list[LiftTest], seed: int, agents: int, weeks: int) -> pd.DataFrame:
    """lift.csv for ``plan``: each of ``tests`` that runs in it and ends within ``weeks``, replayed on
    replication 0 of ``seed`` (the run's first replication: the data of observed.csv). ``lift`` is the
    simulated difference per 1,000 people plus the holdout's sampling noise, a normal draw with the
    design's ``se`` (a Poisson count per person in each group: ``se = 1000 sqrt(p1 / n1 + p0 / n0)``)."""
    from cjmsim.engine import make_streams, run_plan
    from cjmsim.scenario import parse_scenario

    rows = []
    data = sc.model_dump(mode="json", exclude_none=True)
    # the tests of this plan that end within the horizon (a shorter --weeks leaves the others out)
    mine = [t for t in tests if (t.plans is None or plan in t.plans) and t.weeks[1] <= weeks]
    for i, t in enumerate(mine):
        control_plan(data, plan, t.channel, t.weeks, weeks, f"__lift_{i}")
    variants = parse_scenario(data, source="lift tests")
    G = len(sc.segments)
    full = run_plan(variants, plan, make_streams(seed, 0, G), agents, weeks) if mine else None
    population = sc.scenario.population
    for i, t in enumerate(mine):
        assert full is not None
        off = run_plan(variants, f"__lift_{i}", make_streams(seed, 0, G), agents, weeks)
        a, b = t.weeks[0], min(t.weeks[1] + t.window, weeks)
        field = _FIELDS[t.metric]
        with_p = float(getattr(full, field)[a:b].sum() * full.weight)
        without_p = float(getattr(off, field)[a:b].sum() * off.weight)
        p1, p0 = with_p / population, without_p / population
        se = 1000.0 * math.sqrt(p1 / ((1 - t.holdout) * population) + p0 / (t.holdout * population))
        noise = float(np.random.default_rng([seed, 7919, i]).normal()) * se
        rows.append(
            {
                "name": t.name,
                "plan": plan,
                "channel": t.channel,
                "start": t.weeks[0],
                "end": t.weeks[1],
                "window": t.window,
                "metric": t.metric,
                "holdout": t.holdout,
                "lift": round(1000.0 * (with_p - without_p) / population + noise, 6),
                "se": round(se, 6),
            }
        )
    return pd.DataFrame(rows, columns=list(LIFT_COLUMNS))


def read_lift(path: Path, scenario: Scenario, plan: str) -> list[Lift]:
    """The lift tests of a lift.csv that ran in ``plan`` (an empty ``plan`` cell: every plan). ScenarioError
    naming the file, the line and the column for: a missing column, an unknown channel or metric, weeks
    outside the horizon, a holdout outside (0, 1), a value that is not a number, an ``se`` not above 0."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
            header = list(rows[0].keys()) if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ScenarioError(f"{path}: cannot read it as a CSV ({e})") from None
    if not rows:
        raise ScenarioError(f"{path}: no lift tests (a header and one row per test: {', '.join(LIFT_COLUMNS)})")
    missing = [c for c in LIFT_COLUMNS if c not in header]
    if missing:
        raise ScenarioError(f"{path}: line 1: column {missing[0]!r} missing; lift.csv has {', '.join(LIFT_COLUMNS)}")
    out = []
    W = scenario.scenario.weeks
    for n, row in enumerate(rows, start=2):
        where = f"{path}: line {n}"
        if row["plan"] and row["plan"] != plan:
            continue
        if row["channel"] not in scenario.channels:
            raise ScenarioError(
                f"{where}: channel {row['channel']!r} is not a channel of the scenario"
                f"{did_you_mean(row['channel'], list(scenario.channels))}; channels: {', '.join(scenario.channels)}"
            )
        if row["metric"] not in LIFT_METRICS:
            raise ScenarioError(
                f"{where}: metric {row['metric']!r}{did_you_mean(row['metric'], list(LIFT_METRICS))}; "
                f"metrics: {', '.join(LIFT_METRICS)}"
            )
        v = {k: _number(where, k, row[k]) for k in ("start", "end", "window", "holdout", "lift", "se")}
        start, end, window = int(v["start"]), int(v["end"]), int(v["window"])
        if not (0 <= start < end <= W and window >= 0 and start == v["start"] and end == v["end"]):
            raise ScenarioError(
                f"{where}: start, end = {row['start']}, {row['end']}: whole weeks [start, end) within the horizon "
                f"0..{W}, start < end"
            )
        if not 0 < v["holdout"] < 1:
            raise ScenarioError(f"{where}: holdout = {row['holdout']}: a share in (0, 1)")
        if not v["se"] > 0:
            raise ScenarioError(f"{where}: se = {row['se']}: a standard error above 0")
        out.append(
            Lift(row["name"], row["channel"], start, end, window, row["metric"], v["holdout"], v["lift"], v["se"])
        )
    return out


def _number(where: str, column: str, cell: str | None) -> float:
    try:
        x = float(cell or "")
    except ValueError:
        raise ScenarioError(f"{where}: column {column!r}: {cell!r} is not a number") from None
    if not math.isfinite(x):
        raise ScenarioError(f"{where}: column {column!r}: {cell!r} is not a finite number")
    return x
