"""What a run hands back: the weekly :class:`Records`, and the recorders that log per-agent detail.

The weekly step fills the aggregate arrays of :class:`Records` itself. Anything per agent (orders,
journey paths, the event log) is the job of a :class:`Recorder`: an observer that ``run_plan``
injects and the step calls at fixed points of every week (exposures, orders, moves). Recorders
only read what they are handed: they draw no random numbers and change no result, and a run with
no recorders does no logging work at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cjmsim.engine.population import CUSTOMER, DESIRE, LOST, LOYAL, N_STAGES
from cjmsim.engine.streams import TOUCH_TIME_BITS, touch_key, touch_ticks, touch_times
from cjmsim.scenario import STAGES

__all__ = [
    "EVENTS",
    "EventLog",
    "JOURNEYS",
    "LEAN_FIELDS",
    "PER_ACTION",
    "TRIGGER_CAP",
    "UNBOUGHT_REASONS",
    "JourneyLog",
    "Layout",
    "OrderLog",
    "Recorder",
    "Records",
    "path_bits",
    "path_channels",
    "path_touches",
    "standard_recorders",
]


#: Why planned money was not bought (``Records.campaign_unbought``'s last axis, in this order):
#: ``audience``: the campaign's target cells held too few people to take its units at the channel's
#: frequency cap (none at all, or every one of them at the cap); ``cap``: its audience could take
#: them alone, but the cap applies to the sum of every campaign of the channel on the same cells;
#: ``chance``: delivered units are random and a week that delivers less is billed less;
#: ``trigger_cap``: a trigger campaign's weekly cap (``max_messages`` / ``max_weekly``) left out
#: messages its rule would have sent (planned = every eligible message, bought = those sent);
#: ``per_action``: a campaign on a channel priced per action (cpa, cpl): its budget is a ceiling on the
#: bill, and the part no attributed action billed is this.
UNBOUGHT_REASONS = ("audience", "cap", "chance", "trigger_cap", "per_action")
#: The index of ``trigger_cap`` in :data:`UNBOUGHT_REASONS`.
TRIGGER_CAP = UNBOUGHT_REASONS.index("trigger_cap")
#: The index of ``per_action`` in :data:`UNBOUGHT_REASONS`.
PER_ACTION = UNBOUGHT_REASONS.index("per_action")


#: The records a lean run (:attr:`Records.lean`) leaves at zero: spend and units by the stage reached and
#: the per-campaign tables. Every other record is bit for bit the full run's.
LEAN_FIELDS = (
    "units_stage",
    "spend_stage",
    "campaign_planned",
    "campaign_bought",
    "campaign_unbought",
    "campaign_leaked",
)


@dataclass
class Records:
    """Weekly records of one plan and replication, in agent units (multiply by weight for people).

    Arrays are indexed [week, segment, ...] over the horizon only (warm-up weeks excluded).
    """

    weight: float
    stage: NDArray[np.float64]  # (W, G, 7) occupancy at the end of the week
    units: NDArray[np.float64]  # (W, G, C) delivered units, real units (not divided by weight)
    spend: NDArray[np.float64]  # (W, G, C) actual spend, currency
    planned: NDArray[np.float64]  # (W, C) planned spend, currency
    reached: NDArray[np.float64]  # (W, G) agents exposed for the first time in the horizon
    aware: NDArray[np.float64]  # (W, G) entries into aware (from unaware or lost)
    leads: NDArray[np.float64]  # (W, G) entries into interest
    desire: NDArray[np.float64]  # (W, G) entries into desire
    customers: NDArray[np.float64]  # (W, G) first orders (desire -> customer)
    cohort_customers: NDArray[np.float64]  # (W, G) first orders whose journey became aware in the horizon
    orders: NDArray[np.float64]  # (W, G) all orders, first and repeat
    revenue: NDArray[np.float64]  # (W, G) currency / weight
    margin: NDArray[np.float64]  # (W, G) currency / weight
    ttp: NDArray[np.float64]  # (G, W + warm-up) first orders by weeks from awareness
    ltv_margin: NDArray[np.float64]  # (W, G) margin within ltv_weeks, by acquisition week
    loyal: NDArray[np.float64]  # (W, G) entries into loyal
    units_stage: NDArray[np.float64]  # (W, G, C, 7) delivered units by the stage of the agent reached
    #: (W, G, C, 7) actual spend by the stage of the agent reached: each campaign's spend split over
    #: segments and stages in proportion to its own delivered units there (sums to ``spend``)
    spend_stage: NDArray[np.float64]
    #: per campaign k of the plan (its order in the plan; warm-up campaigns excluded), currency:
    campaign_planned: NDArray[np.float64]  # (W, K) planned spend
    campaign_bought: NDArray[np.float64]  # (W, K) spend actually bought (summed over segments: ``spend``)
    campaign_unbought: NDArray[np.float64]  # (W, K, 5) planned - bought, by reason (UNBOUGHT_REASONS)
    #: (W, K) the part of ``campaign_bought`` paid for units that landed outside the campaign's audience
    #: (targeting precision < 1; docs/model.md, Targeting precision)
    campaign_leaked: NDArray[np.float64]
    #: (W, G) the need multiplier in force for each segment: the seasonal factor of its seasonality
    #: curve, and its trend index (1 for a segment with none)
    season: NDArray[np.float64]
    trend: NDArray[np.float64]
    #: weekly order limits (``[capacity]``, ``[segments.ID.capacity]``; docs/model.md, Capacity): (W, G + 1)
    #: the limit in force, orders a week in people (the segments' own, then the business's; inf: none)
    capacity: NDArray[np.float64]
    #: (G,) whether the business limit counts each segment's orders (False: the segment's own book, `separate`)
    capacity_shared: NDArray[np.bool_]
    #: (W, G, 2) each segment's order requests refused, agents: by its own limit, by the business limit
    refused: NDArray[np.float64]
    #: (W, G) orders that left the customer satisfied / unsatisfied (both 0 without a ``satisfaction``
    #: table: docs/model.md, Satisfaction), and the customers and loyal agents at the end of the week
    #: whose latest order left them unsatisfied
    satisfied: NDArray[np.float64]
    unsatisfied: NDArray[np.float64]
    unsatisfied_customers: NDArray[np.float64]
    #: (W, G) the plan's interventions' cost booked in the week (one-off cost in the start week, running
    #: cost every week it acts), split over the segments each acts on by population share; apart from ``spend``
    #: (media), counted in every cost metric (docs/model.md, Interventions)
    intervention_spend: NDArray[np.float64]
    #: (W, I) the same per intervention of the plan (in the plan's order), currency
    intervention_booked: NDArray[np.float64]
    #: with ``export`` (:class:`OrderLog`, :class:`JourneyLog`): every order in the horizon (agent, segment,
    #: week, value), and every journey that ended in the horizon, first or repeat (path code, see
    #: :func:`path_channels`; converted; value of the order; repeat; order number; agent; week)
    order_log: pd.DataFrame | None = None
    journey_log: pd.DataFrame | None = None
    #: with ``events`` (:class:`EventLog`): every event of every agent in the horizon, sorted by
    #: (week, agent, event; exposures by ``at``): ``agent`` (int32), ``segment`` (uint8, segment
    #: index), ``week`` (int16),
    #: ``event`` (uint8, index in :data:`EVENTS`), ``channel`` (int8, channel index; -1 for none;
    #: segment and channel are 16-bit beyond 255 segments or 127 channels), ``count`` (float32,
    #: exposures that week; NaN unless an exposure), ``value`` (float64, order value; NaN unless a
    #: customer or repeat event), ``at`` (float32, the exposure's time in its week in [0, 1); NaN
    #: unless an exposure)
    event_log: pd.DataFrame | None = None
    #: whether a segment of the run has a ``satisfaction`` table (then weekly.csv has its columns)
    satisfaction: bool = False
    #: a search's records (:data:`LEAN_FIELDS` not kept: all zeros): what an optimizer candidate or an
    #: attribution coalition reads (the weekly flows, spend per segment and channel) and nothing a report reads
    lean: bool = False

    @classmethod
    def zeros(cls, weight: float, weeks: int, segments: int, channels: int, warmup: int, campaigns: int = 0) -> Records:
        """Empty records for ``weeks`` horizon weeks (and ``warmup`` warm-up weeks of ttp), ``campaigns`` campaigns."""
        W, G, C, z = weeks, segments, channels, np.zeros
        return cls(
            weight=weight,
            stage=z((W, G, N_STAGES)),
            units=z((W, G, C)),
            spend=z((W, G, C)),
            planned=z((W, C)),
            reached=z((W, G)),
            aware=z((W, G)),
            leads=z((W, G)),
            desire=z((W, G)),
            customers=z((W, G)),
            cohort_customers=z((W, G)),
            orders=z((W, G)),
            revenue=z((W, G)),
            margin=z((W, G)),
            ttp=z((G, W + warmup + 1)),
            ltv_margin=z((W, G)),
            loyal=z((W, G)),
            units_stage=z((W, G, C, N_STAGES)),
            spend_stage=z((W, G, C, N_STAGES)),
            campaign_planned=z((W, campaigns)),
            campaign_bought=z((W, campaigns)),
            campaign_unbought=z((W, campaigns, len(UNBOUGHT_REASONS))),
            campaign_leaked=z((W, campaigns)),
            season=np.ones((W, G)),
            trend=np.ones((W, G)),
            capacity=np.full((W, G + 1), np.inf),
            capacity_shared=np.ones(G, dtype=bool),
            refused=z((W, G, 2)),
            satisfied=z((W, G)),
            unsatisfied=z((W, G)),
            unsatisfied_customers=z((W, G)),
            intervention_spend=z((W, G)),
            intervention_booked=z((W, 0)),
        )


# --------------------------------------------------------------------------------------------
# the recorder interface


@dataclass(frozen=True)
class Layout:
    """How a run's agents are laid out: what a recorder needs to size and label its logs.

    Agents are numbered 0..agents-1 and stepped in blocks (one segment's agents each, in segment
    order); hooks name the block they are called for, so a recorder can keep one list per block
    and stay correct while the blocks of a week run on several threads.
    """

    agents: int
    segments: int
    channels: int
    block_segment: NDArray[np.intp]  # (B,) segment of each block
    #: (agents,) every agent's stage when the run starts (None: unknown, taken as not a customer)
    stage: NDArray[np.uint8] | None = None
    #: the replication's order key (``Streams.order_key``): recorders derive their touch times from it
    key: int = 0

    @property
    def blocks(self) -> int:
        """Number of blocks."""
        return int(self.block_segment.size)


class Recorder:
    """An observer of a run, called by the weekly step at fixed points; the hooks do nothing here.

    The step calls, for every simulated week ``week`` (negative in the warm-up) and every block:
    :meth:`on_exposures` once per channel that reached anyone, then, if anyone ordered,
    :meth:`on_orders`, then :meth:`on_moves` for the agents whose uniform let them move. The
    blocks of one week may run concurrently, each on one thread: a hook may write only state of
    its own block (or of its block's agents). Agents are global indices (int64); arrays handed to
    a hook are fresh and may be kept, but must not be written to. :meth:`start` comes before the
    first week, :meth:`finish` after the last.
    """

    def start(self, layout: Layout) -> None:
        """Get ready for a run laid out as ``layout`` (forget any earlier run)."""

    def on_exposures(
        self, block: int, week: int, channel: int, agents: NDArray[np.int64], counts: NDArray[np.float32]
    ) -> None:
        """``agents`` got ``counts`` (>= 1) exposures on ``channel`` this week."""

    def on_orders(
        self, block: int, week: int, agents: NDArray[np.int64], first: NDArray[np.bool_], value: NDArray[np.float64]
    ) -> None:
        """``agents`` ordered this week, for ``value``; ``first`` marks first orders (desire -> customer)."""

    def on_moves(
        self, block: int, week: int, agents: NDArray[np.int64], old: NDArray[np.uint8], new: NDArray[np.uint8]
    ) -> None:
        """``agents`` went from stage ``old`` to ``new`` this week (equal for those that stayed)."""

    def finish(self, records: Records) -> None:
        """Put what was logged into ``records`` (called once, after the last week)."""


def _frame_column(parts: Sequence[NDArray[Any]], dtype: Any) -> NDArray[Any]:
    """The parts end to end, or an empty array of ``dtype`` if there are none."""
    return np.concatenate(parts) if parts else np.empty(0, dtype)


class OrderLog(Recorder):
    """Every order of the horizon: ``Records.order_log`` (agent, segment, week, value), sorted by week and agent."""

    def start(self, layout: Layout) -> None:
        """One list of (agents, week, values) per block."""
        self.block_segment = layout.block_segment.copy()
        self.orders: list[list[tuple[NDArray[np.int64], int, NDArray[np.float64]]]] = [[] for _ in range(layout.blocks)]

    def on_orders(
        self, block: int, week: int, agents: NDArray[np.int64], first: NDArray[np.bool_], value: NDArray[np.float64]
    ) -> None:
        """Log the horizon's orders."""
        if week >= 0:
            self.orders[block].append((agents.copy(), week, value))

    def finish(self, records: Records) -> None:
        """Fill ``records.order_log``."""
        orders = [
            (a, np.full(a.size, t), v, np.full(a.size, self.block_segment[b]))
            for b, block in enumerate(self.orders)
            for a, t, v in block
        ]
        records.order_log = pd.DataFrame(
            {
                "agent": _frame_column([o[0] for o in orders], np.int64),
                "segment": _frame_column([o[3] for o in orders], np.intp),
                "week": _frame_column([o[1] for o in orders], np.int64),
                "value": _frame_column([o[2] for o in orders], np.float64),
            }
        ).sort_values(["week", "agent"], kind="stable", ignore_index=True)
        self.orders = []


def path_bits(channels: int) -> int:
    """Bits per touch of a journey path code for ``channels`` channels: codes 1..channels, at least 4."""
    return max(4, int(channels).bit_length())


def path_touches(channels: int) -> int:
    """Touches a journey path code keeps (the latest ones): as many as fit in 64 bits."""
    return 64 // path_bits(channels)


def path_channels(code: int, channels: int) -> list[int]:
    """The channel indices of a path code, earliest touch first (the inverse of the journey log's coding)."""
    bits = path_bits(channels)
    mask = (1 << bits) - 1
    out = []
    while code:
        out.append((code & mask) - 1)
        code >>= bits
    return out[::-1]


#: The ``journey`` codes of ``Records.journey_log`` (and the names journeys.csv gives them).
JOURNEYS = ("first", "repeat")

# one journey batch of a block: paths, converted, values, repeat, order numbers, agents, week
_Journeys = tuple[NDArray[np.uint64], bool, NDArray[np.float64], bool, NDArray[np.int32], NDArray[np.int64], int]


class JourneyLog(Recorder):
    """Every journey that ended in the horizon, as a path of channel touches ordered by their time.

    ``Records.journey_log``, one row per journey: ``path`` (uint64, :func:`path_bits` bits a touch,
    code channel + 1, the latest touch lowest, consecutive repeats collapsed, the latest
    :func:`path_touches` touches kept), ``converted`` (bool), ``value`` (of the order it ended
    at; 0 if none), ``repeat`` (bool: a repeat journey), ``order_number`` (int32: the agent's
    order the journey ends at, or would have: 1 for a first order; the run's orders of the agent,
    warm-up included, count, plus one for an agent that began the run as a customer or loyal),
    ``agent`` (int64) and ``week`` (int64, the week it ended).

    A *first* journey (as before repeat journeys existed) runs from the agent's previous first order
    or pre-purchase loss (or the run's start) to its first order (desire -> customer, a win-back
    after a churn included) or its drop to lost before one. A *repeat* journey runs from the agent's
    previous order (exclusive; or the run's start for an agent that began as a customer) to its
    next repeat order, or, not converted, to its churn (customer or loyal -> lost) or the end of
    the run (the open tail of a customer that did not order again). Paths build up in the warm-up
    too. The touches of one week go on a path in the order of their time in the week
    (:func:`~cjmsim.engine.streams.touch_times`, ties by channel), so the log buffers each block's
    exposures of a week until its orders or moves.
    """

    def start(self, layout: Layout) -> None:
        """Per agent: the first-journey path, the repeat path, orders seen and whether a customer."""
        bits = path_bits(layout.channels)
        self.shift = np.uint64(bits)
        self.touch_mask = np.uint64((1 << bits) - 1)
        kept = bits * path_touches(layout.channels)
        # the bits of whole touches; a partial touch above them would decode as a wrong channel
        self.keep = None if kept == 64 else np.uint64((1 << kept) - 1)
        self.key = touch_key(layout.key)
        self.channels = layout.channels
        self.paths = np.zeros(layout.agents, dtype=np.uint64)
        # touches since the agent's last order (its repeat journey), kept only while it is a customer
        # or loyal: any other agent's is reset at its next order before anyone reads it
        self.since = np.zeros(layout.agents, dtype=np.uint64)
        self.post = np.zeros(layout.agents, dtype=bool)  # customer or loyal: a repeat journey is open
        self.orders = np.zeros(layout.agents, dtype=np.int32)
        if layout.stage is not None:
            self.post[:] = (layout.stage == CUSTOMER) | (layout.stage == LOYAL)
            self.orders[self.post] = 1  # at least one order before the run
        self.journeys: list[list[_Journeys]] = [[] for _ in range(layout.blocks)]
        # per block, the week's exposures not yet on the paths: week, [(channel, agents)]
        self.pending: list[tuple[int, list[tuple[int, NDArray[np.int64]]]]] = [(0, []) for _ in range(layout.blocks)]

    def on_exposures(
        self, block: int, week: int, channel: int, agents: NDArray[np.int64], counts: NDArray[np.float32]
    ) -> None:
        """Keep the exposures until the block's week is over (its touches are then put in time order)."""
        if self.pending[block][0] != week:
            self.flush(block)
        self.pending[block] = (week, self.pending[block][1])
        self.pending[block][1].append((channel, agents))

    def flush(self, block: int) -> None:
        """Append the block's kept exposures to the paths, each agent's in the order of their times."""
        week, parts = self.pending[block]
        if not parts:
            return
        self.pending[block] = (week, [])
        agents = np.concatenate([a for _, a in parts])
        if agents.size == 0:
            return
        chan = np.repeat(np.array([c for c, _ in parts], dtype=np.int64), [a.size for _, a in parts])
        if len(parts) > 1:
            # one int64 key per touch: (agent in block, tick in the week, channel), sorted
            lo = int(agents.min())
            cbits = max(1, (self.channels - 1).bit_length())
            key = touch_ticks(self.key, agents, chan, week)
            key <<= cbits
            key |= chan
            key |= (agents - lo) << (TOUCH_TIME_BITS + cbits)
            key.sort()
            agents = (key >> (TOUCH_TIME_BITS + cbits)) + lo
            chan = key & ((1 << cbits) - 1)
        code = chan.astype(np.uint64) + np.uint64(1)
        # rank of each touch among its agent's touches of the week; touches of one rank go on together
        n = agents.size
        start = np.empty(n, dtype=bool)
        start[0] = True
        np.not_equal(agents[1:], agents[:-1], out=start[1:])
        pos = np.arange(n)
        rank = pos - np.maximum.accumulate(np.where(start, pos, 0))
        for r in range(int(rank.max()) + 1):
            sel = np.flatnonzero(rank == r) if r else np.flatnonzero(start)
            a, c = agents[sel], code[sel]
            self._touch(self.paths, a, c)
            post = self.post[a]
            if post.any():
                self._touch(self.since, a[post], c[post])

    def _touch(self, paths: NDArray[np.uint64], agents: NDArray[np.int64], code: NDArray[np.uint64]) -> None:
        """Append ``code`` to the paths of ``agents`` (distinct), unless it is already their latest touch."""
        path = paths[agents]
        new_touch = (path & self.touch_mask) != code
        path = (path[new_touch] << self.shift) | code[new_touch]
        if self.keep is not None:
            path &= self.keep
        paths[agents[new_touch]] = path

    def on_orders(
        self, block: int, week: int, agents: NDArray[np.int64], first: NDArray[np.bool_], value: NDArray[np.float64]
    ) -> None:
        """Log the journeys that end in an order in the horizon: first journeys at first orders, repeat at the rest."""
        self.flush(block)
        number = self.orders[agents] + 1
        if week >= 0:
            rep = ~first
            log = self.journeys[block]
            if first.any():
                log.append((self.paths[agents[first]], True, value[first], False, number[first], agents[first], week))
            if rep.any():
                log.append((self.since[agents[rep]], True, value[rep], True, number[rep], agents[rep], week))
        self.orders[agents] = number
        self.since[agents] = 0
        self.post[agents] = True

    def on_moves(
        self, block: int, week: int, agents: NDArray[np.int64], old: NDArray[np.uint8], new: NDArray[np.uint8]
    ) -> None:
        """Log the journeys lost before a first order, and the repeat journeys ended by a churn."""
        self.flush(block)
        dropped = (old <= DESIRE) & (new == LOST)
        churned = agents[((old == CUSTOMER) | (old == LOYAL)) & (new == LOST)]
        if week >= 0:
            lost = agents[dropped]
            if lost.size:
                nulls = np.zeros(lost.size)
                self.journeys[block].append((self.paths[lost], False, nulls, False, self.orders[lost] + 1, lost, week))
            if churned.size:
                nulls = np.zeros(churned.size)
                n = self.orders[churned] + 1
                self.journeys[block].append((self.since[churned], False, nulls, True, n, churned, week))
        self.paths[agents[((old == DESIRE) & (new == CUSTOMER)) | dropped]] = 0
        self.since[churned] = 0
        self.post[churned] = False

    def finish(self, records: Records) -> None:
        """Fill ``records.journey_log``; the customers' open repeat journeys end, not converted, in the last week."""
        for b in range(len(self.pending)):
            self.flush(b)
        js = [j for block in self.journeys for j in block]
        tail = np.flatnonzero(self.post)
        weeks = records.orders.shape[0]
        if tail.size and weeks:
            js.append((self.since[tail], False, np.zeros(tail.size), True, self.orders[tail] + 1, tail, weeks - 1))

        def column(i: int, dtype: Any) -> NDArray[Any]:
            return _frame_column([np.broadcast_to(np.asarray(j[i], dtype), j[0].shape) for j in js], dtype)

        log = pd.DataFrame(
            {
                "path": column(0, np.uint64),
                "converted": column(1, bool),
                "value": column(2, np.float64),
                "repeat": column(3, bool),
                "order_number": column(4, np.int32),
                "agent": column(5, np.int64),
                "week": column(6, np.int64),
            }
        )
        # a fixed order (blocks may run on threads): first journeys before repeat ones, then by week and agent
        records.journey_log = log.sort_values(["repeat", "week", "agent"], kind="stable", ignore_index=True)
        self.journeys = []
        self.pending = []


#: Event names of the event log (``Records.event_log.event`` holds their index). Within one agent
#: and week, events sort in this order (exposures by their time in the week, ``at``), which is the
#: order they happen in.
EVENTS = ("exposure", "aware", "interest", "desire", "customer", "repeat", "loyal", "lost")
_EV_EXPOSURE, _EV_CUSTOMER, _EV_REPEAT = (np.uint8(EVENTS.index(e)) for e in ("exposure", "customer", "repeat"))
#: event code of entering each stage (unaware is never entered)
_EV_STAGE = np.array([0] + [EVENTS.index(s) for s in STAGES[1:]], dtype=np.uint8)

# one entry of the event log: agents, week, event code(s), channel, counts | None, values | None, times | None
_Entry = tuple[
    NDArray[np.int32], int, Any, int, NDArray[np.float32] | None, NDArray[np.float64] | None, NDArray[np.float32] | None
]


class EventLog(Recorder):
    """Every exposure, stage change and repeat order of the horizon: ``Records.event_log``.

    The table is sorted by (week, agent, then exposures by their time in the week ``at`` (ties by
    channel), then the other events in :data:`EVENTS` order), a key unique per row, so it does not
    depend on the order the blocks ran in: it is the same for any number of threads.
    """

    def start(self, layout: Layout) -> None:
        """One list of entries per block."""
        self.layout = layout
        self.key = touch_key(layout.key)
        self.entries: list[list[_Entry]] = [[] for _ in range(layout.blocks)]

    def on_exposures(
        self, block: int, week: int, channel: int, agents: NDArray[np.int64], counts: NDArray[np.float32]
    ) -> None:
        """Log the horizon's exposures, with their counts."""
        if week >= 0:
            at = touch_times(self.key, agents, channel, week)
            self.entries[block].append((agents.astype(np.int32), week, _EV_EXPOSURE, channel, counts, None, at))

    def on_orders(
        self, block: int, week: int, agents: NDArray[np.int64], first: NDArray[np.bool_], value: NDArray[np.float64]
    ) -> None:
        """Log the horizon's repeat orders, and first orders as entries into customer, with their values."""
        if week < 0:
            return
        repeat = ~first
        if repeat.any():
            self.entries[block].append(
                (agents[repeat].astype(np.int32), week, _EV_REPEAT, -1, None, value[repeat], None)
            )
        if first.any():
            self.entries[block].append(
                (agents[first].astype(np.int32), week, _EV_CUSTOMER, -1, None, value[first], None)
            )

    def on_moves(
        self, block: int, week: int, agents: NDArray[np.int64], old: NDArray[np.uint8], new: NDArray[np.uint8]
    ) -> None:
        """Log the horizon's stage changes (entries into customer come with their order)."""
        if week < 0:
            return
        changed = (new != old) & (new != CUSTOMER)
        if changed.any():
            self.entries[block].append(
                (agents[changed].astype(np.int32), week, _EV_STAGE[new[changed]], -1, None, None, None)
            )

    def finish(self, records: Records) -> None:
        """Fill ``records.event_log``: one sorted table of the logged events."""
        records.event_log = self._table([(b, *e) for b, block in enumerate(self.entries) for e in block])
        self.entries = []

    def _table(self, entries: list[tuple[Any, ...]]) -> pd.DataFrame:
        """The entries (block first) as one table sorted by (week, agent, event, channel)."""
        lay = self.layout
        sizes = np.array([e[1].size for e in entries], dtype=np.int64)

        def column(make: Callable[[tuple[Any, ...]], NDArray[Any]], dtype: Any) -> NDArray[Any]:
            return _frame_column([make(e) for e in entries], dtype)

        seg_type = np.uint8 if lay.segments < 256 else np.uint16
        chan_type = np.int8 if lay.channels < 128 else np.int16
        agent = column(lambda e: e[1], np.int32)
        week = np.repeat(np.array([e[2] for e in entries], dtype=np.int16), sizes)
        event = column(lambda e: np.broadcast_to(np.asarray(e[3], dtype=np.uint8), e[1].shape), np.uint8)
        chan = np.repeat(np.array([e[4] for e in entries], dtype=chan_type), sizes)
        at = column(lambda e: np.full(e[1].size, np.nan, np.float32) if e[7] is None else e[7], np.float32)
        order = _event_order(week, agent, event, chan, at, lay.agents, lay.channels)
        # sort one column at a time (the log is large: keep one unsorted copy alive at most)
        seg = np.repeat(lay.block_segment[[e[0] for e in entries]].astype(seg_type), sizes)[order]
        count = column(lambda e: np.full(e[1].size, np.nan, np.float32) if e[5] is None else e[5], np.float32)[order]
        value = column(lambda e: np.full(e[1].size, np.nan) if e[6] is None else e[6], np.float64)[order]
        data = {"agent": agent[order], "segment": seg, "week": week[order], "event": event[order]}
        data.update(channel=chan[order], count=count, value=value, at=at[order])
        return pd.DataFrame(data, copy=False)


def _event_order(
    week: NDArray[np.int16],
    agent: NDArray[np.int32],
    event: NDArray[np.uint8],
    chan: NDArray[Any],
    at: NDArray[np.float32],
    agents: int,
    channels: int,
) -> NDArray[np.intp]:
    """The order of the event log's rows: week, agent, exposures by time (ties by channel), other events."""
    # within an agent's week: slot = tick * C + channel for an exposure (ticks: 2**20 a week), after
    # them 2**20 * C + event for the rest; one int64 key when it fits, else a lexsort
    ticks = 1 << TOUCH_TIME_BITS
    slots = ticks * channels + len(EVENTS)
    is_exp = event == _EV_EXPOSURE
    tick = np.where(is_exp, np.nan_to_num(at) * ticks, 0).astype(np.int64)
    slot = np.where(is_exp, tick * channels + chan, ticks * channels + event.astype(np.int64))
    del tick
    top = int(week.max(initial=0)) + 1
    if top * agents * slots < 2**63:
        key = week.astype(np.int64)
        key *= agents
        key += agent
        key *= slots
        key += slot
        return np.argsort(key, kind="stable")
    return np.lexsort((slot, agent, week))


def standard_recorders(export: bool = False, events: bool = False) -> list[Recorder]:
    """The recorders behind ``run_plan``'s flags: ``export`` -> orders and journeys, ``events`` -> events."""
    out: list[Recorder] = []
    if export:
        out += [OrderLog(), JourneyLog()]
    if events:
        out.append(EventLog())
    return out
