"""journeys.csv with repeat-order journeys, and touches ordered by their time in the week (issue 13 item 8).

Exact identities on fixed seeds (every order ends exactly one journey; each repeat journey's path is
the touches of the event log since the agent's previous order), one statistical check (the later
of two touches in a week is the higher channel index half the time: 3 binomial standard errors),
and the first journeys against the definition before repeat journeys, computed here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

import cjmsim
from cjmsim.analyses.exports import JOURNEY_COLUMNS, journeys_table, markov_paths
from cjmsim.engine import EVENTS, JourneyLog, Layout, Records, make_streams, path_channels, run_plan
from cjmsim.engine.population import CUSTOMER, DESIRE, LOST, LOYAL
from cjmsim.engine.records import Recorder, _frame_column
from cjmsim.engine.streams import order_uniforms, touch_key, touch_times

HIFI = Path(__file__).resolve().parents[1] / "scenarios" / "hifi.toml"


def hifi(**settings: Any) -> cjmsim.Scenario:
    """hifi.toml at 20,000 agents with ``settings`` over its [scenario] table."""
    data = cjmsim.load_scenario(HIFI).model_dump(mode="json", exclude_none=True)
    data["scenario"].update(agents=20_000, **settings)
    return cjmsim.parse_scenario(data)


@pytest.fixture(scope="module")
def cold() -> tuple[cjmsim.Scenario, Records]:
    """hifi's cjm plan with no warm-up (the event log then sees every touch of every journey), both logs."""
    sc = hifi(warmup_weeks=0, weeks=30)
    rec = run_plan(sc, "cjm", make_streams(5, 0, len(sc.segments)), 20_000, 30, export=True, events=True)
    return sc, rec


@pytest.fixture(scope="module")
def warm() -> tuple[cjmsim.Scenario, Records]:
    """hifi's cjm plan with its warm-up, the export logs only."""
    sc = hifi()
    return sc, cjmsim.simulate(sc, ["cjm"], export=True, baseline=False).records["cjm"][0]


def test_repeat_journeys_are_flagged_and_end_at_orders(warm: tuple[cjmsim.Scenario, Records]) -> None:
    sc, rec = warm
    log, orders = rec.journey_log, rec.order_log
    assert log is not None and orders is not None
    rep = log[log.repeat & log.converted]
    assert len(rep) > 100 and (rep.order_number >= 2).all()
    # each converted repeat journey ends at an order of its agent in its week, with that order's value
    ended = rep.merge(orders, on=["agent", "week"], how="left", suffixes=("", "_order"), validate="one_to_one")
    np.testing.assert_array_equal(ended.value.to_numpy(), ended.value_order.to_numpy())
    # the table: flagged rows, the first ones as before
    j = journeys_table(rec, list(sc.channels))
    assert list(j.columns) == JOURNEY_COLUMNS
    assert list(dict.fromkeys(j.journey)) == ["first", "repeat"]
    assert j[j.journey == "repeat"].total_conversions.sum() == pytest.approx(len(rep) * rec.weight, abs=0.5 * len(j))


def test_every_order_ends_exactly_one_journey(warm: tuple[cjmsim.Scenario, Records]) -> None:
    sc, rec = warm
    log, orders = rec.journey_log, rec.order_log
    assert log is not None and orders is not None
    conv = log[log.converted]
    both = orders.merge(conv, on=["agent", "week"], how="outer", indicator=True, suffixes=("", "_j"))
    assert (both._merge == "both").all(), both._merge.value_counts()
    assert len(conv) == len(orders) and not conv.duplicated(["agent", "week"]).any()
    np.testing.assert_array_equal(both.value.to_numpy(), both.value_j.to_numpy())
    # first journeys end at first orders (desire -> customer), repeat journeys at the others
    first = conv[~conv.repeat]
    np.testing.assert_array_equal(np.bincount(first.week, minlength=rec.orders.shape[0]), rec.customers.sum(axis=1))
    # an agent's orders are numbered 1, 2, ... (from 2 if it began as a customer): consecutive
    steps = conv.sort_values(["agent", "week"]).groupby("agent").order_number.diff().dropna()
    assert len(steps) > 0 and (steps == 1).all()
    # and in journeys.csv: whole people, so the conversions are the run's orders up to the rounding
    j = journeys_table(rec, list(sc.channels))
    assert abs(j.total_conversions.sum() - rec.orders.sum() * rec.weight) <= 0.5 * len(j)
    m = markov_paths(j)
    assert m.path.is_unique and m.total_conversions.sum() == j.total_conversions.sum()
    assert markov_paths(j, repeat=False).total_conversions.sum() == j[j.journey == "first"].total_conversions.sum()


def test_open_tails_end_the_customers_last_journeys(cold: tuple[cjmsim.Scenario, Records]) -> None:
    _, rec = cold
    log, ev = rec.journey_log, rec.event_log
    assert log is not None and ev is not None
    W = rec.orders.shape[0]
    tails = log[log.repeat & ~log.converted]
    lost = ev[ev.event == EVENTS.index("lost")][["agent", "week"]].assign(lost=True)
    tails = tails.merge(lost, on=["agent", "week"], how="left")
    churn = tails.lost.fillna(False).astype(bool).to_numpy()
    # an unconverted repeat journey ends at a churn (customer or loyal -> lost) or at the run's end
    assert churn.any() and ((tails.week == W - 1).to_numpy() | churn).all()
    # and every customer and loyal agent at the end has exactly one open journey ending then
    open_tails = tails[~churn]
    assert not open_tails.agent.duplicated().any()
    assert len(open_tails) == rec.stage[-1][:, [CUSTOMER, LOYAL]].sum() > 0
    # whose order number is the one after its last order
    last = log[log.converted].groupby("agent").order_number.max()
    seen = open_tails[open_tails.agent.isin(last.index)]
    np.testing.assert_array_equal(seen.order_number.to_numpy(), last.reindex(seen.agent).to_numpy() + 1)


def test_repeat_paths_are_the_event_logs_touches_since_the_previous_order(
    cold: tuple[cjmsim.Scenario, Records],
) -> None:
    sc, rec = cold
    log, ev = rec.journey_log, rec.event_log
    assert log is not None and ev is not None
    C = len(sc.channels)
    exp = ev[ev.event == EVENTS.index("exposure")]  # sorted by week, agent and time in the week
    orders = ev[np.isin(ev.event, [EVENTS.index("customer"), EVENTS.index("repeat")])]
    rep = log[log.repeat]  # to an order, a churn or the end of the run
    assert rep.converted.sum() > 100 and (~rep.converted).sum() > 100
    by_agent = dict(tuple(exp.groupby("agent")))
    for row in rep.itertuples():
        # the previous order: before this one, or, for a churn or the end, up to its week (a churn
        # comes after an order of the same week, and a week's touches before both)
        before = orders.week < row.week if row.converted else orders.week <= row.week
        prev = orders[(orders.agent == row.agent) & before].week.max()
        since = -1 if math.isnan(prev) else int(prev)
        mine = by_agent.get(row.agent)
        touches: list[int] = []
        if mine is not None:
            for c in mine[(mine.week > since) & (mine.week <= row.week)].channel:
                if not touches or touches[-1] != c:
                    touches.append(int(c))
        assert path_channels(int(row.path), C) == touches[-16:], row


def test_touches_of_a_week_are_in_time_order_not_channel_order(cold: tuple[cjmsim.Scenario, Records]) -> None:
    sc, rec = cold
    ev = rec.event_log
    assert ev is not None
    exp = ev[ev.event == EVENTS.index("exposure")]
    # within an agent's week the rows follow their times
    same = (exp.agent.to_numpy()[1:] == exp.agent.to_numpy()[:-1]) & (
        exp.week.to_numpy()[1:] == exp.week.to_numpy()[:-1]
    )
    at = exp["at"].to_numpy()
    assert (at[1:][same] >= at[:-1][same]).all()
    # agent-weeks with exactly two touches: the later is the higher channel half the time (times are
    # independent uniforms); 3 binomial SEs
    size = exp.groupby(["week", "agent"]).channel.transform("size").to_numpy()
    two = exp[size == 2]
    ch = two.channel.to_numpy().reshape(-1, 2)
    n = len(ch)
    share = float((ch[:, 1] > ch[:, 0]).mean())
    assert n > 1000 and abs(share - 0.5) < 3 * math.sqrt(0.25 / n), (share, n)
    # the last touch of a week is spread over the channels, not always the highest one touched
    last = exp.groupby(["week", "agent"]).channel.last()
    assert last.nunique() >= min(4, len(sc.channels))


def test_a_weeks_touches_go_on_the_path_in_time_order() -> None:
    log = JourneyLog()
    log.start(Layout(50, 1, 6, np.zeros(1, dtype=np.intp), key=123))
    agents = np.arange(50, dtype=np.int64)
    for c in range(6):  # every agent touched by every channel in week 3, called in channel order
        log.on_exposures(0, 3, c, agents, np.ones(50, np.float32))
    log.flush(0)
    key = touch_key(123)
    times = np.stack([touch_times(key, agents, c, 3) for c in range(6)], axis=1)
    for a in range(50):
        assert path_channels(int(log.paths[a]), 6) == list(np.argsort(times[a], kind="stable")), a
    assert len({int(p) for p in log.paths}) > 40  # the orders differ from agent to agent


def test_touch_times_change_no_existing_stream() -> None:
    agents = np.arange(1000, dtype=np.int64)
    u1, _ = order_uniforms(99, agents, 4)
    t = touch_times(touch_key(99), agents, 0, 4)
    assert not np.allclose(u1, t, atol=1e-3)
    assert t.dtype == np.float32 and (t >= 0).all() and (t < 1).all()
    # quantised to 2**-20 of a week: exact in float32, and the same for the same counter
    np.testing.assert_array_equal(t * 2**20, np.round(t * 2**20))
    np.testing.assert_array_equal(t, touch_times(touch_key(99), agents, 0, 4))
    assert not np.array_equal(t, touch_times(touch_key(99), agents, 1, 4))
    assert not np.array_equal(t, touch_times(touch_key(98), agents, 0, 4))


# ---- first journeys: the definition before repeat journeys, computed here in channel order


class FirstJourneysBefore(Recorder):
    """main's JourneyLog before repeat journeys (touches of a week in channel order), keeping agent and week."""

    def start(self, layout: Layout) -> None:
        """A path per agent."""
        self.C = layout.channels
        self.paths = np.zeros(layout.agents, dtype=np.uint64)
        self.rows: list[tuple[NDArray[np.int64], int, bool, NDArray[np.float64], NDArray[np.uint64]]] = []

    def on_exposures(
        self, block: int, week: int, channel: int, agents: NDArray[np.int64], counts: NDArray[np.float32]
    ) -> None:
        """Append the channel (4 bits a touch, collapsed repeats, latest 16)."""
        code = np.uint64(channel + 1)
        path = self.paths[agents]
        new = (path & np.uint64(15)) != code
        self.paths[agents[new]] = (path[new] << np.uint64(4)) | code

    def on_orders(
        self, block: int, week: int, agents: NDArray[np.int64], first: NDArray[np.bool_], value: NDArray[np.float64]
    ) -> None:
        """First orders end a journey."""
        if week >= 0:
            self.rows.append((agents[first], week, True, value[first], self.paths[agents[first]].copy()))

    def on_moves(
        self, block: int, week: int, agents: NDArray[np.int64], old: NDArray[np.uint8], new: NDArray[np.uint8]
    ) -> None:
        """Drops to lost before a first order end one too; both restart the path."""
        dropped = (old <= DESIRE) & (new == LOST)
        if week >= 0:
            lost = agents[dropped]
            self.rows.append((lost, week, False, np.zeros(lost.size), self.paths[lost].copy()))
        self.paths[agents[((old == DESIRE) & (new == CUSTOMER)) | dropped]] = 0

    def finish(self, records: Records) -> None:
        """Keep the rows as a frame."""
        r = self.rows
        self.frame = pd.DataFrame(
            {
                "agent": _frame_column([x[0] for x in r], np.int64),
                "week": _frame_column([np.full(x[0].size, x[1]) for x in r], np.int64),
                "converted": _frame_column([np.full(x[0].size, x[2]) for x in r], bool),
                "value": _frame_column([x[3] for x in r], np.float64),
                "path": _frame_column([x[4] for x in r], np.uint64),
            }
        )


def test_first_journeys_are_unchanged_but_for_the_order_within_a_week() -> None:
    sc = hifi()
    before = FirstJourneysBefore()
    rec = run_plan(sc, "cjm", make_streams(11, 0, len(sc.segments)), 20_000, 52, recorders=[before], export=True)
    assert rec.journey_log is not None
    new = rec.journey_log[~rec.journey_log.repeat].sort_values(["week", "agent"], ignore_index=True)
    old = before.frame.sort_values(["week", "agent"], ignore_index=True)
    assert len(new) == len(old) > 1000
    for col in ("agent", "week", "converted", "value"):
        np.testing.assert_array_equal(new[col].to_numpy(), old[col].to_numpy(), err_msg=col)
    C = len(sc.channels)
    new_sets = [set(path_channels(int(p), C)) for p in new.path]
    old_sets = [set(path_channels(int(p), C)) for p in old.path]
    short = [len(path_channels(int(p), C)) < 12 for p in old.path]  # far from the 16 kept: no touch dropped
    assert all(a == b for a, b, s in zip(new_sets, old_sets, short, strict=True) if s)
    # the time order moves touches within weeks only: many paths differ, the empty ones do not
    assert (new.path.to_numpy() != old.path.to_numpy()).mean() > 0.05
    np.testing.assert_array_equal(new.path.to_numpy() == 0, old.path.to_numpy() == 0)
