"""Warm-up reuse (issue 15 item 4, the optimizer's part): every candidate of an optimizer search runs the
same warm-up (the warm-up plan, the same random numbers), so a process simulates it once per replication and
each candidate forks the world at week 0 (``cjmsim.engine.warm_up`` / ``run_forked``). The results must be
bit for bit those of a run from the start: checked here on the shipped hi-fi scenario (seasonality, messages,
lifecycle triggers, a warm-up of 26 weeks) for candidates holding each plan's campaigns and for no marketing.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from cjmsim import parse_scenario
from cjmsim.analyses.metrics import summary_row
from cjmsim.analyses.optimize import evaluation
from cjmsim.analyses.optimize.evaluation import CANDIDATE, TOTALS, Candidate, evaluate
from cjmsim.engine import make_streams, run_forked, run_plan, warm_up
from cjmsim.scenario.files import read_toml

HIFI = Path(__file__).resolve().parents[1] / "scenarios" / "hifi.toml"


def _data(agents: int = 4_000) -> dict:
    data = copy.deepcopy(read_toml(HIFI))
    data["scenario"]["agents"] = agents
    return data


def _from_start(data: dict, campaigns: list | None, seed: int, rep: int) -> dict[str, float]:
    """The candidate's totals with a run from the warm-up's first week (no reuse)."""
    d = copy.deepcopy(data)
    plan = None
    if campaigns is not None:
        d["plans"][CANDIDATE] = {"campaigns": campaigns}
        plan = CANDIDATE
    sc = parse_scenario(d)
    s = sc.scenario
    rec = run_plan(sc, plan, make_streams(seed, rep, len(sc.segments)), s.agents, s.weeks, threads=1)
    row = summary_row(rec, slice(None), s.ltv_weeks)
    return {k: float(row[k]) for k in TOTALS}


def test_candidates_forked_from_one_warm_up_equal_runs_from_the_start() -> None:
    evaluation._WARM.clear()
    data = _data()
    for rep in (0, 1):
        for plan in ("cjm", "baseline", "cjm_growth", None):
            camps = None if plan is None else data["plans"][plan]["campaigns"]
            got = evaluate(Candidate(data, 2026, rep, camps, f"{plan}-r{rep}"))
            assert got == _from_start(data, camps, 2026, rep), (plan, rep)
    assert len(evaluation._WARM) == 2  # one warm-up per replication, whatever the number of candidates


def test_a_changed_scenario_gets_its_own_warm_up() -> None:
    """The key is the search scenario without the candidate plan: a change elsewhere (here a base rate) must
    not reuse the old warm-up."""
    evaluation._WARM.clear()
    data = _data()
    camps = data["plans"]["cjm"]["campaigns"]
    first = evaluate(Candidate(data, 5, 0, camps, "a"))
    changed = _data()
    changed["segments"]["beginner"]["base"]["purchase"] *= 1.5
    second = evaluate(Candidate(changed, 5, 0, camps, "b"))
    assert len(evaluation._WARM) == 2
    assert second == _from_start(changed, camps, 5, 0) and second != first


def test_run_forked_leaves_the_warm_world_as_it_was() -> None:
    """Two forks of one warm world give the same records: the first run changed nothing of it."""
    sc = parse_scenario(_data(3_000))
    s = sc.scenario
    warm = warm_up(sc, make_streams(9, 0, len(sc.segments)), s.agents, s.weeks)
    a, b = run_forked(warm, "cjm", s.weeks), run_forked(warm, "cjm", s.weeks)
    for name in ("stage", "orders", "revenue", "spend"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("keep", [1])
def test_the_cache_is_bounded(keep: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """At most WARM_KEEP warm worlds per process (the oldest used goes first)."""
    monkeypatch.setattr(evaluation, "WARM_KEEP", keep)
    evaluation._WARM.clear()
    data = _data(2_000)
    for rep in range(3):
        evaluate(Candidate(data, 1, rep, None, f"r{rep}"))
    assert len(evaluation._WARM) == keep
    assert next(iter(evaluation._WARM))[2] == 2  # the latest replication is the one kept
