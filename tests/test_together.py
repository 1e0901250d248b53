"""Many variants in one pass (issue 15 item 3): the plans of a replication, an attribution's coalitions and an
optimizer's candidates step together week by week, the week's random numbers drawn once for all of them
(``cjmsim.engine.run_together``, ``SharedDraws``). Every variant's records must be bit for bit those of its run
alone: checked on every shipped scenario (seasonality, messages, triggers, capacity, barriers, satisfaction,
interventions, several journey moves a week) with the size threshold lowered so small runs step together.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from test_engine import ARRAYS, assert_records_equal

import cjmsim.engine.calendar as calendar
from cjmsim import load_scenario
from cjmsim.analyses import metrics
from cjmsim.analyses.optimize import evaluation
from cjmsim.analyses.optimize.evaluation import Candidate, Candidates, evaluate, evaluate_many
from cjmsim.engine import make_streams, run_forked, run_forked_together, run_plan, run_plans, warm_up
from cjmsim.engine.calendar import batches
from cjmsim.engine.records import LEAN_FIELDS
from cjmsim.engine.step import SharedDraws
from cjmsim.scenario.files import read_toml

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.stem for p in (ROOT / "scenarios").glob("*.toml"))


@pytest.fixture
def together(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Small runs step together (whatever the threshold); returns the sizes of the groups stepped together."""
    monkeypatch.setattr(calendar, "TOGETHER_MIN_AGENTS", 0)
    sizes: list[int] = []
    real = calendar.run_together

    def spy(worlds, *args, **kwargs):  # type: ignore[no-untyped-def]
        sizes.append(len(worlds))
        return real(worlds, *args, **kwargs)

    monkeypatch.setattr(calendar, "run_together", spy)
    return sizes


@pytest.mark.parametrize("name", SHIPPED)
def test_plans_stepped_together_equal_runs_alone(together: list[int], name: str) -> None:
    sc = load_scenario(ROOT / "scenarios" / f"{name}.toml")
    plans = [*sc.plans, None]
    weeks = min(sc.scenario.weeks, 30)
    streams = make_streams(11, 1, len(sc.segments))
    shared = run_plans(sc, plans, streams, 3_000, weeks, threads=1)
    assert together == [len(plans)]  # one group: every plan and no marketing at once
    for plan, rec in zip(plans, shared, strict=True):
        assert_records_equal(rec, run_plan(sc, plan, streams, 3_000, weeks, threads=1))
    assert any(rec.orders.sum() != shared[0].orders.sum() for rec in shared[1:])  # the plans really differ


def test_forked_together_equal_forked_alone_and_leave_the_warm_world(together: list[int]) -> None:
    sc = load_scenario(ROOT / "scenarios" / "hifi.toml")
    s = sc.scenario
    warm = warm_up(sc, make_streams(3, 0, len(sc.segments)), 4_000, s.weeks)
    stage = warm.pop.stage.copy()
    plans = ["cjm", None, "baseline", "cjm"]  # a plan twice: two worlds, the same records
    recs = run_forked_together(warm, plans, s.weeks)
    np.testing.assert_array_equal(warm.pop.stage, stage)
    for plan, rec in zip(plans, recs, strict=True):
        assert_records_equal(rec, run_forked(warm, plan, s.weeks))
    assert_records_equal(recs[0], recs[3])


@pytest.mark.parametrize("name", ["hifi", "clinic"])
def test_lean_records_are_the_full_ones_but_the_tables_a_search_does_not_read(name: str) -> None:
    sc = load_scenario(ROOT / "scenarios" / f"{name}.toml")
    s = sc.scenario
    warm = warm_up(sc, make_streams(5, 0, len(sc.segments)), 3_000, s.weeks)
    plans = [*sc.plans, None]
    full = run_forked_together(warm, plans, s.weeks)
    lean = run_forked_together(warm, plans, s.weeks, lean=True)
    for plan, a, b in zip(plans, full, lean, strict=True):
        assert b.lean and not a.lean
        for field in ARRAYS:
            if field in LEAN_FIELDS:
                assert not getattr(b, field).any(), field
            else:
                np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=f"{plan}: {field}")
        if plan is not None:  # the left-out tables are real in the full run, so the test can fail
            assert a.spend_stage.any() and a.campaign_bought.any() and a.units_stage.any()
    with pytest.raises(ValueError, match="lean records"):
        metrics.campaign_table({next(iter(sc.plans)): [lean[0]]}, sc)
    with pytest.raises(ValueError, match="lean records"):
        metrics.journey_rows(lean[0], slice(None))


def test_candidates_stepped_together_equal_each_alone(together: list[int]) -> None:
    evaluation._WARM.clear()
    data = copy.deepcopy(read_toml(ROOT / "scenarios" / "hifi.toml"))
    data["scenario"]["agents"] = 4_000
    cands = [data["plans"][p]["campaigns"] for p in ("cjm", "baseline", "cjm_growth")] + [None]
    got = evaluate_many(Candidates(data, 2026, 1, cands, "all"))
    assert together == [len(cands)]
    for camps, totals in zip(cands, got, strict=True):
        assert totals == evaluate(Candidate(data, 2026, 1, camps, "one"))


def test_shared_draws_are_the_streams_numbers_and_no_world_writes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = load_scenario(ROOT / "scenarios" / "hifi.toml")
    a = warm_up(sc, make_streams(3, 0, len(sc.segments)), 4_000, sc.scenario.weeks)
    b = warm_up(sc, make_streams(3, 0, len(sc.segments)), 4_000, sc.scenario.weeks)
    draws = SharedDraws(a)
    draws.draw()
    for blk, (_, lo, hi) in enumerate(b.blocks):
        if hi == lo:
            continue
        np.testing.assert_array_equal(draws.exposure[blk], b._uniforms(blk))  # what the world would draw itself
        np.testing.assert_array_equal(draws.journey[0][blk], b.tr_rng[blk].random_float32(hi - lo))
    # the arrays are not flagged read-only (numba would compile every kernel again for them): a week of
    # several worlds stepped together must leave every array as drawn
    kept: list[tuple[np.ndarray, np.ndarray]] = []
    real = SharedDraws.draw

    def draw(self):  # type: ignore[no-untyped-def]
        for x, copy_ in kept:
            np.testing.assert_array_equal(x, copy_)
        kept.clear()
        real(self)
        kept.extend((x, x.copy()) for x in [*self.exposure, *(u for row in self.journey for u in row)])

    monkeypatch.setattr(SharedDraws, "draw", draw)
    monkeypatch.setattr(calendar, "TOGETHER_MIN_AGENTS", 0)
    recs = run_forked_together(a, ["cjm", "baseline", None], 6)
    for x, copy_ in kept:
        np.testing.assert_array_equal(x, copy_)
    assert len(kept) > 0 and recs[0].orders.sum() > 0


def test_batches_bound_the_memory_and_can_skip_small_worlds(monkeypatch: pytest.MonkeyPatch) -> None:
    assert batches(5, 200_000) == [range(0, 5)]
    monkeypatch.setattr(calendar, "TOGETHER_MIN_AGENTS", 50_000)
    assert batches(5, 20_000) == [range(i, i + 1) for i in range(5)]  # below the threshold: one at a time
    monkeypatch.setattr(calendar, "TOGETHER_BYTES", 2 * 200_000 * 150)  # room for two such worlds
    assert batches(5, 200_000) == [range(0, 2), range(2, 4), range(4, 5)]
    assert batches(0, 200_000) == []
