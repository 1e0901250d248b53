"""The weekly step: the state of one plan x replication run, updated one week at a time.

The population is a set of numpy arrays (see :mod:`cjmsim.engine.population`) cut into blocks,
each one segment's agents, stepped with no Python loop over agents. The order of operations in a
week is fixed: spend -> audiences -> exposures (all channels at once) -> adstock -> transitions
-> orders -> records. ``docs/model.md`` gives every formula. Recorders (see
:mod:`cjmsim.engine.records`) are called at the exposures, the orders and the moves.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cjmsim.engine import libm
from cjmsim.engine.compiled import (
    LOGIT_CLIP,
    CompiledCampaign,
    PlanInterventions,
    SatisfactionModel,
    calendar,
    capacities,
    clipped_logit,
    compile_campaigns,
    compile_interventions,
    segment_models,
)
from cjmsim.engine.exposure import (
    adstock_bound,
    allocate_many,
    allocate_units,
    capped_poisson_mean,
    exposure_counts,
    exposure_thresholds,
    hill,
    hill_is_plain,
    hits_cells,
)
from cjmsim.engine.kernel import (
    add_cell_means,
    buy_units,
    decide_block,
    enter_block,
    expose_block,
    expose_messages,
    logits_block,
    lognormal_values,
    message_fits,
    move_enter_block,
    movers_block,
    orders_week,
    sigmoid_array,
    step_block,
    week_block,
)
from cjmsim.engine.libm import log_array
from cjmsim.engine.pcg import PCGStream
from cjmsim.engine.population import (
    AWARE,
    CONTACT,
    CUSTOMER,
    DESIRE,
    INTEREST,
    LOST,
    LOYAL,
    N_CELLS,
    N_STAGES,
    NEVER,
    REACHED,
    UNAWARE,
    VISITED,
    Population,
    build_population,
)
from cjmsim.engine.records import LEAN_FIELDS, PER_ACTION, TRIGGER_CAP, Layout, Recorder, Records
from cjmsim.engine.streams import (
    Streams,
    child_seed,
    order_counter,
    order_uniforms,
    satisfaction_key,
    satisfaction_uniforms,
    splitmix,
)
from cjmsim.scenario import Scenario

__all__ = ["CAPACITY_CHILD", "CHUNK", "COMPILED", "TRIGGER_CHILD", "SharedDraws", "World"]

#: Whether blocks step through the compiled kernels where they can (:meth:`World._fast`); False steps every
#: block the numpy way, with the same results (tests/test_kernel.py compares the two).
COMPILED = True
#: Largest block of agents stepped as one. Blocks bound the per-thread scratch buffers and keep the
#: two threads evenly loaded; between 2^17 and whole segments the speed on hifi is within noise.
CHUNK = 1 << 18
# weekly per-block counters, in this order (names of Records fields)
_ACC = (
    "reached", "aware", "leads", "desire", "customers", "cohort_customers", "orders", "revenue", "margin", "loyal",
    "satisfied", "unsatisfied",
)  # fmt: skip
_REACHED, _AWARE, _LEADS, _DESIRE, _CUSTOMERS, _COHORT, _ORDERS, _REVENUE, _MARGIN, _LOYAL = range(10)
_SATISFIED, _UNSATISFIED = 10, 11
#: The counters kernel.enter_block adds to, in its order.
_ENTER_SLOTS = np.array([_CUSTOMERS, _COHORT, _AWARE, _LEADS, _DESIRE, _LOYAL], dtype=np.int64)

# one delivering campaign of a week: index in the week's list, mean exposures per (segment, cell),
# budget this week, mean per segment, audience agents per segment
_Part = tuple[int, NDArray[np.float64], float, NDArray[np.float64], NDArray[np.float64]]


@dataclass(frozen=True)
class _CampaignTable:
    """The fixed part of a run's campaigns as arrays (:meth:`World._campaign_table`): channel, audience cells
    and segments of each, and which of the distinct cell masks it aims at; the channels' frequency caps."""

    camps: list[CompiledCampaign]  # the list these rows describe (the step's, for the whole run)
    channel: NDArray[np.intp]  # (K,)
    cells: NDArray[np.bool_]  # (K, 28)
    segments: NDArray[np.bool_]  # (K, G)
    mask_id: NDArray[np.intp]  # (K,) index into the masks
    caps: NDArray[np.int64]  # (C,)
    mask_matrix: NDArray[np.float64]  # (28, number of masks): the distinct cell masks as columns of 0 and 1
    fit_stack: NDArray[np.float64]  # (K, G, 28) each campaign's fit (G, 7) repeated to (G, 28), 1 without one
    imperfect: NDArray[np.bool_]  # (K,) targeting precision < 1 or a narrow-audience premium (World._leaky)


#: Relative gap below which an expected delivery counts as the units asked for (Newton stops at 1e-9).
_FULL = 1e-6
#: Child of the first segment's transition seed that keys the trigger caps' random sample (blocks use
#: children 0, 1, ...; this one is used by nothing else).
TRIGGER_CHILD = 1 << 20
#: Child of the first segment's transition seed that keys the capacity's random ranking of the week's order
#: requests (used by nothing else).
CAPACITY_CHILD = TRIGGER_CHILD + 1
# one block's movers of a journey move held for the capacity pass: indices in block, p, u, the movers
# refused (positions), the refused first orders that go to lost (positions)
_Held = tuple[NDArray[np.intp], NDArray[np.float32], NDArray[np.float32], NDArray[np.intp], NDArray[np.intp]]
# one trigger campaign's sending of a week: index in the week's list, channel, the agents chosen
# (sorted), agents eligible before the caps
_Send = tuple[int, int, NDArray[np.intp], int]
# the stage a trigger event requires now (order: any), by event index (TRIGGER_EVENTS)
_EVENT_STAGE = (INTEREST, DESIRE, -1, LOST)


def _order_values(
    u1: NDArray[np.float64],
    u2: NDArray[np.float64],
    mu: float | NDArray[np.float64],
    sigma: float | NDArray[np.float64],
) -> NDArray[np.float64]:
    """Lognormal order values from two uniforms each (Box-Muller): ``exp(mu + sigma * z)``, compiled
    (:func:`~cjmsim.engine.kernel.lognormal_values`: the same bits on every machine). One function for a
    block's orders (:meth:`World._orders`) and the week's together (:meth:`World._orders_together`), so both
    round alike."""
    u1 = np.ascontiguousarray(u1, dtype=np.float64)
    u2 = np.ascontiguousarray(u2, dtype=np.float64)
    mus = np.full(u1.shape, mu, dtype=np.float64) if np.ndim(mu) == 0 else np.ascontiguousarray(mu, dtype=np.float64)
    sigmas = (
        np.full(u1.shape, sigma, dtype=np.float64)
        if np.ndim(sigma) == 0
        else np.ascontiguousarray(sigma, dtype=np.float64)
    )
    return lognormal_values(u1, u2, mus, sigmas)


class World:
    """The state of one plan x replication run and its weekly step.

    ``run_plan`` (:mod:`cjmsim.engine.calendar`) builds it, calls :meth:`week` for every week in
    order, then :meth:`finish`. ``pool``, when set, steps the blocks of a week on threads.
    """

    def __init__(
        self,
        sc: Scenario,
        streams: Streams,
        plan: str | None,
        agents: int,
        weeks: int,
        recorders: Sequence[Recorder] = (),
        threads: int = 1,
    ):
        self.sc = sc
        self.channels = list(sc.channels)
        self.chan = [sc.channels[c] for c in self.channels]
        C = self.C = len(self.channels)
        G = self.G = len(sc.segments)
        self.W = weeks
        self.warm = sc.scenario.warmup_weeks
        self.weight = sc.scenario.population / agents
        self.models = segment_models(sc, self.channels)
        self.cal = calendar(sc, self.models, weeks, self.warm)  # seasonality, trend and seasonal prices
        self.affinity = np.array([m.affinity for m in self.models]).reshape(G, C)
        self.pop: Population = build_population(
            sc,
            agents,
            [np.random.default_rng(s) for s in streams.population],
            [child_seed(s, 0) for s in streams.population],
            [child_seed(s, 1) for s in streams.population],
            threads=threads,
        )
        self.order_key = streams.order_key
        pop = self.pop
        self._cut_blocks(streams)
        B = self.B
        self._allocate()
        self.key = (pop.stage * 4 + (pop.flags & 3)).astype(np.uint8)  # audience cell
        # index of each agent's own stage row in its block's (7, n) logit matrix
        self.flat = np.empty(agents, dtype=np.int32)
        self.cells = np.zeros((B, N_CELLS), dtype=np.float64)  # agents per audience cell, per block
        for b, (_, lo, hi) in enumerate(self.blocks):
            self.flat[lo:hi] = pop.stage[lo:hi].astype(np.int32) * (hi - lo) + np.arange(hi - lo, dtype=np.int32)
            self.cells[b] = np.bincount(self.key[lo:hi], minlength=N_CELLS)
        self.exposed = np.zeros((B, C), dtype=bool)
        # the compiled exposure kernel's arguments when no message weights and no per-action channel
        self._no_fit = (np.ones((C, N_CELLS), dtype=np.float32), np.zeros(C, dtype=bool))
        self._no_last = np.zeros((1, 1), dtype=np.int16)
        #: week_block's "no triggered message": channels, offsets, agents, fits, live and decay flags
        self._no_messages = (
            np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.intp),
            np.zeros(0, dtype=np.float32), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool),
        )  # fmt: skip
        # kernel.week_block's stream arguments when the week's numbers are shared (a state and the lanes)
        self._no_state = (np.zeros(0, dtype=np.uint64), np.zeros((0, 4), dtype=np.uint64))
        # decide_block's "none" arguments: no purchase cycle, no satisfaction
        self._no_cycle = np.zeros((0, 0), dtype=np.float32)
        self._no_unsat = np.zeros(0, dtype=bool)
        self._no_offsets = np.zeros(N_STAGES, dtype=np.float32)
        self._camp_table: _CampaignTable | None = None  # made on the first week of a run (_campaign_table)
        #: the week's random numbers when this world steps together with others (calendar.run_together)
        self.shared: SharedDraws | None = None
        self.local = threading.local()  # scratch buffers, one set per worker thread
        # largest blocks first, so two threads finish together
        self.order = sorted(range(B), key=lambda b: -(self.blocks[b][2] - self.blocks[b][1]))
        # per-block accumulators, summed into segments after each week in a fixed order
        self.acc = np.zeros((B, len(_ACC)))
        self.units_cell = np.zeros((B, C, N_CELLS))
        self.ttp = np.zeros((B, weeks + self.warm + 1))
        self.ltv = np.zeros((B, weeks))
        # each block's order value parameters and margin (kernel.orders_week)
        self.block_mu = np.array([self.models[g].mu for g, _, _ in self.blocks], dtype=np.float64)
        self.block_sigma = np.array([self.models[g].sigma for g, _, _ in self.blocks], dtype=np.float64)
        self.block_margin = np.array([self.models[g].margin for g, _, _ in self.blocks], dtype=np.float64)
        self.pool: ThreadPoolExecutor | None = None
        #: keep lean records (:attr:`~cjmsim.engine.records.Records.lean`): a search's, set by the caller on a fork
        self.lean = False
        self.decay = np.array([np.float32(ch.adstock.decay) for ch in self.chan], dtype=np.float32)
        self.price = np.array([ch.cost.unit_price for ch in self.chan])
        self.cap = [ch.frequency_cap for ch in self.chan]
        self.cap_max = max(self.cap, default=1)
        self.ncap = np.array(self.cap, dtype=np.int64)
        self.carry_rate = np.array([ch.carryover.rate for ch in self.chan])
        self.ltv_weeks = sc.scenario.ltv_weeks
        self.plan_campaigns = compile_campaigns(sc, plan, self.channels, warmup=False)
        warm_plan = sc.scenario.warmup_plan
        self.warm_campaigns = compile_campaigns(sc, warm_plan, self.channels, warmup=True) if self.warm else []
        self.rec = Records.zeros(self.weight, weeks, G, C, self.warm, len(self.plan_campaigns))
        self._interventions(plan)
        # lifecycle triggers: the key of their cap's random sample (a child seed no other stream uses)
        self.trigger_key = int(child_seed(streams.transition[0], TRIGGER_CHILD).generate_state(1, np.uint64)[0])
        self._sends: list[_Send] = []
        #: the week's buyers that _week_fused left for _orders_together: (block, agents, first orders)
        self.pending: list[tuple[int, NDArray[np.intp], NDArray[np.bool_]]] = []
        self._send_fit: list[NDArray[np.float32] | None] = []  # per send: its message's fit (G, 7), or None
        self.fits: dict[int, NDArray[np.float32]] | None = None  # this week's exposure fits (_fits)
        self.fit_rows: list[tuple[NDArray[np.float32], NDArray[np.bool_]]] | None = None  # per segment, _fit_rows
        self._per_action()
        self._capacity(streams)
        self._satisfaction_init()
        self._bounds()
        self.recorders = tuple(recorders)
        for r in self.recorders:
            r.start(Layout(agents, G, C, self.block_seg.copy(), pop.stage.copy(), self.order_key))

    def _interventions(self, plan: str | None) -> None:
        """The plan's interventions (docs/model.md, Interventions): their weekly base-rate modifiers, None
        without any (nothing of them is read then), and their cost booked into the records at once (it
        depends on the schedule only)."""
        self.iv: PlanInterventions | None = compile_interventions(self.sc, plan, self.models, self.W)
        # the satisfied logit's offsets by (segment, warm-up + week): the warm-up has none
        self.sat_offset: NDArray[np.float64] | None = None
        if self.iv is not None:
            self.rec.intervention_spend[:] = self.iv.spend
            self.rec.intervention_booked = self.iv.booked.copy()
            if self.iv.satisfaction is not None:
                self.sat_offset = np.zeros((self.G, self.warm + self.W))
                self.sat_offset[:, self.warm :] = self.iv.satisfaction.T

    def _base_shift(self, g: int, t: int) -> NDArray[np.float32] | None:
        """The week's intervention offsets on segment ``g``'s base logits (7,), or None if none acts."""
        iv = self.iv
        if iv is None or t < 0 or not iv.on[t, g]:
            return None
        shift: NDArray[np.float32] = iv.logit[t, g]
        return shift

    def _drops(self, g: int, t: int) -> NDArray[np.float32]:
        """Segment ``g``'s mover bound per stage in week ``t``: the weekly drop probability of the pre-purchase
        stages (with the interventions in force) and the churn (+ loyalty) bound of customers and loyal agents."""
        iv = self.iv
        if iv is None or t < 0 or not iv.on[t, g]:
            return self.models[g].drop
        drop: NDArray[np.float32] = iv.drop[t, g]
        return drop

    def _post_rates(self, g: int, t: int) -> tuple[float, float]:
        """Segment ``g``'s churn-logit offset and customer -> loyal probability in week ``t`` (interventions)."""
        iv = self.iv
        if iv is None or t < 0 or not iv.on[t, g]:
            return 0.0, self.models[g].loyal
        return float(iv.churn[t, g]), float(iv.loyal[t, g])

    def _per_action(self) -> None:
        """Pay per action (docs/model.md, Pay per action): the channels priced per order or lead, and, only
        when there are some, each agent's last week exposed by each of them and per-block action counters."""
        self.pa = [c for c, ch in enumerate(self.chan) if ch.cost.per_action]
        self.pa_row = np.full(self.C, -1, dtype=np.intp)
        self.pa_row[self.pa] = np.arange(len(self.pa))
        self.pa_lead = [self.chan[c].cost.model_kind == "cpl" for c in self.pa]
        self.pa_window = [self.chan[c].cost.attribution_window for c in self.pa]
        self.pa_volume = [float(self.chan[c].cost.impressions or 0.0) for c in self.pa]
        self.last_exp = np.full((len(self.pa), self.pop.stage.size), NEVER, dtype=np.int16) if self.pa else None
        # actions attributed this week per (block, per-action channel, stage the agent acted from), in agents
        self.pa_acc = np.zeros((self.B, len(self.pa), N_STAGES))

    def _capacity(self, streams: Streams) -> None:
        """Weekly order limits (docs/model.md, Capacity): only when the scenario has some, the key of the
        requests' random ranking, per-block logits kept between the phases and the held movers."""
        self.capacity = capacities(self.sc, self.weight)
        if self.capacity is None:
            return
        self.cap_key = int(child_seed(streams.transition[0], CAPACITY_CHILD).generate_state(1, np.uint64)[0])
        self.cap_logits = [np.empty(N_STAGES * (hi - lo), dtype=np.float32) for _, lo, hi in self.blocks]
        empty = np.empty(0, dtype=np.intp)
        self.held: list[_Held | None] = [None] * self.B
        self.held_ok = [hi > lo for _, lo, hi in self.blocks]
        # this week's refused orders per segment, agents: by the segment's own limit, by the business limit
        self.cap_refused = np.zeros((self.G, 2))
        self._none = empty

    # ---- satisfaction (docs/model.md, Satisfaction)

    def _satisfaction_init(self) -> None:
        """Only when a segment has a ``satisfaction`` table: each agent's "latest order unsatisfied" state,
        drawn at the rate for the agents who start as customers or loyal (their order before the run: a
        counter-based uniform of week ``-warm-up - 1``); everyone else starts with no unsatisfying order.
        The plan's interventions set ``sat_offset`` (:meth:`_interventions`): a per-week, per-segment shift
        of the satisfied logit (None: none), read by :meth:`satisfied_logit`."""
        self.sat_key = satisfaction_key(self.order_key)
        self.satisfying = any(m.satisfaction is not None for m in self.models)
        pop = self.pop
        if not self.satisfying:
            return
        pop.unsatisfied = np.zeros(pop.size, dtype=bool)
        start = -self.warm
        for g, m in enumerate(self.models):
            lo, hi = int(pop.bounds[g]), int(pop.bounds[g + 1])
            if m.satisfaction is None or hi == lo:
                continue
            post = lo + np.flatnonzero((pop.stage[lo:hi] == CUSTOMER) | (pop.stage[lo:hi] == LOYAL))
            u = satisfaction_uniforms(self.sat_key, post, start - 1)
            pop.unsatisfied[post] = u >= _sigmoid(self.satisfied_logit(g, start))

    def satisfied_logit(self, g: int, t: int) -> float:
        """Logit of the share of segment ``g``'s orders in week ``t`` (negative in the warm-up) that leave
        the customer satisfied: the segment's rate, plus this week's offset when one is set."""
        sat = self.models[g].satisfaction
        assert sat is not None
        if self.sat_offset is None:
            return sat.logit
        return sat.logit + float(self.sat_offset[g, t + self.warm])

    def unsatisfied_customers(self) -> NDArray[np.float64]:
        """Agents per segment now customers or loyal whose latest order left them unsatisfied (zeros without
        satisfaction)."""
        out = np.zeros(self.G)
        pop = self.pop
        if pop.unsatisfied is None:
            return out
        post = (pop.stage == CUSTOMER) | (pop.stage == LOYAL)
        post &= pop.unsatisfied
        for g in range(self.G):
            out[g] = np.count_nonzero(post[pop.bounds[g] : pop.bounds[g + 1]])
        return out

    def _wom_drivers(self, shares: list[float]) -> list[float]:
        """The word-of-mouth driver of each segment: its loyal share, plus, with satisfaction, ``word_of_mouth``
        x its share of unsatisfied customers (customers and loyal), clipped to [-1, 1]."""
        if not any(m.satisfaction is not None and m.satisfaction.wom != 0.0 for m in self.models):
            return shares
        agents = np.diff(self.pop.bounds).astype(np.float64)
        unsat = self.unsatisfied_customers() / np.maximum(agents, 1.0)
        out = list(shares)
        for g, m in enumerate(self.models):
            if m.satisfaction is not None and m.satisfaction.wom != 0.0:
                out[g] = min(1.0, max(-1.0, shares[g] + m.satisfaction.wom * float(unsat[g])))
        return out

    def _bounds(self) -> None:
        """Adstock bounds per channel: the frequency cap a week, plus one message a week per trigger
        campaign of the channel (a triggered message comes on top of the cap), times the largest
        message fit of the channel's campaigns when it is above 1."""
        extra = np.zeros(self.C, dtype=int)
        most = np.ones(self.C)  # the largest message fit on each channel, when above 1
        for camp in self.warm_campaigns + self.plan_campaigns:
            if camp.triggered:
                extra[camp.channel] += 1
            if camp.fit is not None:
                most[camp.channel] = max(most[camp.channel], float(camp.fit.max()))
        self.triggers = bool(extra.any())  # a plan without triggers does not look for them
        # a plan whose campaigns carry no message (or messages of fit 1) weights no exposure
        self.messaged = any(camp.fit is not None for camp in self.warm_campaigns + self.plan_campaigns)
        self.amax = [
            adstock_bound(cap + int(x), float(d), self.W + self.warm + 1) * float(f)
            for cap, d, x, f in zip(self.cap, self.decay, extra, most, strict=True)
        ]
        # the compiled step's Hill rows per segment (kernel.logits_block): the channel of each row, how its
        # saturation is computed (1: slope 1, 2: slope 2, 3: numpy's stable or power form) and its half (or half^2)
        self.hill_rows: list[tuple[NDArray[np.intp], NDArray[np.int8], NDArray[np.float32]]] = []
        for m in self.models:
            rows = np.array(m.rows, dtype=np.intp)
            kind = np.full(rows.size, 3, dtype=np.int8)
            half = np.zeros(rows.size, dtype=np.float32)
            for j, c in enumerate(m.rows):
                sat = self.chan[c].saturation
                if hill_is_plain(sat.half, sat.slope, self.amax[c]) and sat.slope in (1.0, 2.0):
                    kind[j] = int(sat.slope)
                    half[j] = np.float32(sat.half) if sat.slope == 1.0 else np.float32(sat.half * sat.half)
            self.hill_rows.append((rows, kind, half))
        self.plain_hill = [bool((kind != 3).all()) for _, kind, _ in self.hill_rows]
        # segments whose moves the compiled kernels take (_move_fast): no barrier, loyalty driver or satisfaction
        self.plain_move = [
            m.drop_coef is None and m.loyal_coef is None and m.satisfaction is None and len(m.rows) <= 128
            for m in self.models
        ]

    def _cut_blocks(self, streams: Streams) -> None:
        """Cut each segment into blocks of at most CHUNK agents, each with its own random streams."""
        pop = self.pop
        # blocks bound the scratch memory and even out the load on the threads
        self.blocks: list[tuple[int, int, int]] = []  # (segment, lo, hi)
        self.exp_rng: list[PCGStream] = []  # numpy's PCG64 streams, drawn by compiled loops (engine.pcg)
        self.tr_rng: list[PCGStream] = []
        # uniforms of the second and later journey moves of a week (segments with steps_per_week > 1)
        self.sub_rng: list[PCGStream | None] = []
        for g in range(self.G):
            lo, hi = int(pop.bounds[g]), int(pop.bounds[g + 1])
            pieces = max(1, -(-(hi - lo) // CHUNK))
            cuts = np.linspace(lo, hi, pieces + 1).round().astype(int)
            for j in range(pieces):
                self.blocks.append((g, int(cuts[j]), int(cuts[j + 1])))
                self.exp_rng.append(PCGStream(child_seed(streams.exposure[g], j)))
                self.tr_rng.append(PCGStream(child_seed(streams.transition[g], j)))
                sub = child_seed(child_seed(streams.transition[g], j), 0) if self.models[g].steps > 1 else None
                self.sub_rng.append(None if sub is None else PCGStream(sub))
        self.B = len(self.blocks)
        self.block_seg = np.array([g for g, _, _ in self.blocks], dtype=np.intp)
        self.seg_start = np.searchsorted(self.block_seg, np.arange(self.G))  # blocks are in segment order
        self.nmax = max((hi - lo for _, lo, hi in self.blocks), default=0)

    def _allocate(self) -> None:
        """Persistent per-block buffers, allocated once: adstock and the saturation matrix."""
        pop = self.pop
        self.adstock = [np.zeros((self.C, hi - lo), dtype=np.float32) for _, lo, hi in self.blocks]
        self.sat = []
        for g, lo, hi in self.blocks:
            m = self.models[g]
            # rows: saturation of each channel the segment responds to, 1 (base), propensity u_i;
            # contiguous per block so the matmul runs in BLAS
            k = len(m.rows)
            sat = np.zeros((m.coef.shape[1], hi - lo), dtype=np.float32)
            sat[k] = 1.0
            if sat.shape[0] > k + 1:
                sat[k + 1] = pop.propensity[lo:hi]
            self.sat.append(sat)
        #: per block, whether this week's saturations are in ``sat`` (kernel.step_block may keep them in its tiles)
        self.sat_stored = np.ones(len(self.blocks), dtype=bool)

    # ---- spend -> audiences -> mean exposures per cell

    def _lambdas(
        self, camps: list[CompiledCampaign], active: set[int]
    ) -> tuple[NDArray[np.float64], list[_Part], NDArray[np.float64]]:
        """Mean exposures per (segment, channel, cell), each active campaign's share table, and their cell
        means stacked, (parts, G, 28).

        The campaigns aimed without leaks are solved together (:func:`~cjmsim.engine.exposure.allocate_many`,
        bit for bit each one's :func:`~cjmsim.engine.exposure.allocate_units`), and their means added into
        ``lam`` in campaign order, as one at a time did (:func:`~cjmsim.engine.kernel.add_cell_means`)."""
        G, C = self.G, self.C
        lam = np.zeros((G, C, N_CELLS))
        cells = self.week_cells = self.seg_cells()  # the audiences this week's units were spread over
        # a campaign delivers while it is on, and afterwards while its carried units last; triggers: _trigger_sends
        on = [k for k, camp in enumerate(camps) if (k in active or camp.carry > 0) and not camp.triggered]
        if not on:
            return lam, [], np.zeros((0, G, N_CELLS))
        tab = self._campaign_table(camps)
        budgets = [camps[k].weekly if k in active else 0.0 for k in on]
        plain = [i for i, k in enumerate(on) if not camps[k].imperfect]
        stack = np.empty((len(on), G, N_CELLS))  # each campaign's mean exposures per (segment, cell)
        solved: dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
        if plain:
            idx = np.array([on[i] for i in plain], dtype=np.intp)
            ch = tab.channel[idx]
            units = np.array([budgets[i] for i in plain]) / self.price[ch] + np.array([camps[k].carry for k in idx])
            # agents per (mask, segment): whole numbers, so the product's sums are exact in any order
            by_mask = (cells @ tab.mask_matrix).T
            counts = by_mask[tab.mask_id[idx]] * tab.segments[idx]  # (K, G)
            lam_g = allocate_many(units / self.weight, counts, self.affinity.T[ch], tab.caps[ch])
            stack[plain] = lam_g[:, :, None] * tab.cells[idx][:, None, :]  # (K, G, 28)
            solved = {i: (lam_g[j], counts[j]) for j, i in enumerate(plain)}
        parts: list[_Part] = []
        for i, k in enumerate(on):  # the rest: targeting precision < 1 or a narrow-audience premium
            if i in solved:
                lam_g1, counts1 = solved[i]
            else:
                stack[i], lam_g1, counts1 = self._leaky(camps[k], budgets[i], cells)
            parts.append((k, stack[i], budgets[i], lam_g1, counts1))
        # lam[:, c, :] += each campaign's cell means, in campaign order
        add_cell_means(lam, tab.channel[on], stack)
        return lam, parts, stack

    def _campaign_table(self, camps: list[CompiledCampaign]) -> _CampaignTable:
        """The fixed part of ``camps`` as arrays (made once per list of a run's campaigns)."""
        tab = self._camp_table
        if tab is None or tab.camps is not camps:
            masks: dict[bytes, int] = {}
            ids = [masks.setdefault(camp.cells.tobytes(), len(masks)) for camp in camps]
            by_id = {i: camp.cells for camp, i in zip(camps, ids, strict=True)}
            fit_cells = [None if camp.fit is None else np.repeat(camp.fit, 4, axis=1) for camp in camps]
            tab = self._camp_table = _CampaignTable(
                camps=camps,
                channel=np.array([camp.channel for camp in camps], dtype=np.intp),
                cells=np.array([camp.cells for camp in camps], dtype=bool).reshape(len(camps), N_CELLS),
                segments=np.array([camp.segments for camp in camps], dtype=bool).reshape(len(camps), self.G),
                mask_id=np.array(ids, dtype=np.intp),
                caps=np.array(self.cap, dtype=np.int64),
                mask_matrix=np.array([by_id[i] for i in range(len(masks))], dtype=np.float64).reshape(-1, N_CELLS).T,
                fit_stack=np.array(
                    [np.ones((self.G, N_CELLS)) if f is None else f for f in fit_cells], dtype=np.float64
                ).reshape(len(camps), self.G, N_CELLS),
                imperfect=np.array([camp.imperfect for camp in camps], dtype=bool),
            )
        return tab

    def _leaky(
        self, camp: CompiledCampaign, budget: float, cells: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Mean exposures per (segment, cell) of an imperfectly targeted campaign (docs/model.md, Targeting
        precision), with its means and agents per group: its audience's segments, then the segments'
        eligible agents outside it (``lam_g`` and ``counts`` have 2G entries). Sets the campaign's
        effective price this week (``camp.price``) and the cells its leaked units reach (``camp.leak``)."""
        assert camp.eligible is not None
        c, cap, aff = camp.channel, self.cap[camp.channel], self.affinity[:, camp.channel]
        inside = camp.segments[:, None] & camp.cells[None, :]  # (G, 28) the campaign's audience
        outside = camp.eligible[None, :] & ~inside  # the channel's other eligible cells, every segment
        n_in = (cells * inside).sum(axis=1)
        n_out = (cells * outside).sum(axis=1)
        total = float(n_in.sum() + n_out.sum())
        share = float(n_in.sum()) / total if total > 0 else 1.0  # audience share of the eligible audience
        camp.price = float(self.price[c]) * (1.0 + camp.premium * (1.0 - share))
        units = (budget / camp.price + camp.carry) / self.weight
        p = camp.precision if n_out.any() else 1.0  # no one outside the audience: nothing to leak to
        lam_in = allocate_units(p * units, n_in, aff, cap)
        lam_out = allocate_units((1.0 - p) * units, n_out, aff, cap) if p < 1.0 else np.zeros(self.G)
        camp.leak = outside
        cell_lam = lam_in[:, None] * inside + lam_out[:, None] * outside
        return cell_lam, np.concatenate([lam_in, lam_out]), np.concatenate([n_in, n_out])

    def _fit_rows(self, fits: dict[int, NDArray[np.float32]]) -> list[tuple[NDArray[np.float32], NDArray[np.bool_]]]:
        """This week's message fits as the exposure kernel reads them, per segment: a (C, 28) table (1 on
        channels without a messaged campaign) and which channels weight their exposures."""
        fitw = np.ones((self.G, self.C, N_CELLS), dtype=np.float32)
        usefit = np.zeros(self.C, dtype=bool)
        for c, f in fits.items():
            fitw[:, c], usefit[c] = f, True
        return [(fitw[g], usefit) for g in range(self.G)]

    def _thresholds(self, lam: NDArray[np.float64]) -> tuple[NDArray[np.uint16], NDArray[np.bool_]]:
        """Exposure thresholds of every (segment, channel, cell) at once, for the compiled step: shape
        (G, C, 28, largest cap), of which channel c reads its first ``cap`` (the thresholds of a capped
        Poisson do not depend on the cap beyond it); 65535 (never passed) where a cell's mean is 0. And
        which (segment, channel) have a nonzero mean somewhere."""
        return exposure_thresholds(lam, self.cap_max), np.asarray(lam.any(axis=2), dtype=bool)

    def _thresholds_of(self, g: int, c: int) -> NDArray[np.uint16] | None:
        """The exposure thresholds of (segment ``g``, channel ``c``) this week as :meth:`_expose` reads them,
        one row per audience cell (65535 where the cell's mean is 0); None where the channel reaches none of
        the segment."""
        if not self.live[g, c]:
            return None
        return self.thr[g, c, :, : self.cap[c]]

    def _fast(self, g: int) -> bool:
        """Whether segment ``g``'s blocks step through the compiled kernels (:mod:`cjmsim.engine.kernel`): one
        journey move a week, no capacity pass (it holds the whole logit matrix) and no recorder (they get
        every exposure's agents). The numpy path gives the same results; it remains for these cases."""
        return COMPILED and self.capacity is None and not self.recorders and self.models[g].steps == 1

    def _fits(
        self, camps: list[CompiledCampaign], lam: NDArray[np.float64], parts: list[_Part], stack: NDArray[np.float64]
    ) -> dict[int, NDArray[np.float32]] | None:
        """Fit of the exposures per (segment, cell), for each channel with a messaged campaign this week:
        the campaigns' fits weighted by their means, fit[g, c, cell] = sum_k lam_k fit_k[g, stage] / lam.
        ``stack``: the parts' cell means, (parts, G, 28). Every channel at once: each campaign's means times
        its fit (times 1 where it has none: exact), added into its channel's sum in campaign order, then divided:
        one compiled pass (:func:`~cjmsim.engine.kernel.message_fits`), the same operations as numpy's."""
        tab = self._campaign_table(camps)
        ks = np.array([k for k, *_ in parts], dtype=np.intp)
        chans = sorted({camps[k].channel for k in ks if camps[k].fit is not None})
        if not chans:
            return None
        row = np.full(self.C, -1, dtype=np.intp)
        row[chans] = np.arange(len(chans))
        fit = message_fits(stack, tab.fit_stack, ks, tab.channel[ks], np.array(chans, dtype=np.intp), row, lam)
        return {c: fit[i] for i, c in enumerate(chans)}

    def week(self, t: int, camps: list[CompiledCampaign], active: set[int]) -> None:
        """Simulate week ``t`` (negative during the warm-up) for every segment block."""
        horizon = t >= 0
        if self.cal.price is not None:  # this week's unit prices (CPM / CPC / per message by season)
            self.price = self.cal.price[t + self.warm]
        bill_price = self.price
        if self.pa:  # per-action channels: units at the nominal price that buys their weekly volume
            self.price = self._volume_prices(camps, active)
        lam, parts, stack = self._lambdas(camps, active)
        self.price = bill_price
        self._sends = self._trigger_sends(t, camps, active) if self.triggers else []
        self.thr, self.live = self._thresholds(lam)
        self.fits = self._fits(camps, lam, parts, stack) if self.messaged and parts else None
        self.fit_rows = None if self.fits is None else self._fit_rows(self.fits)
        loyal_share = self.seg_cells().reshape(self.G, N_STAGES, 4).sum(axis=2)
        loyal_share = loyal_share[:, LOYAL] / np.maximum(loyal_share.sum(axis=1), 1)
        shares = [float(x) for x in loyal_share]
        if self.satisfying:  # unsatisfied customers weigh on word of mouth
            shares = self._wom_drivers(shares)
        self.acc[:] = 0.0
        self.units_cell[:] = 0.0
        self.pa_acc[:] = 0.0
        if self.pool is None:
            for b in self.order:
                self._step_block(b, t, horizon, shares)
        else:  # blocks are independent within a week: same result whatever the thread timing
            jobs = [self.pool.submit(self._step_block, b, t, horizon, shares) for b in self.order]
            for job in jobs:
                job.result()
        self._orders_together(t, horizon)
        if self.capacity is not None:
            self._capacity_week(t, horizon)
        units_cell = self._by_segment(self.units_cell)  # (G, C, 28)
        if self.pa:  # per-action channels bill their actions, not their units
            self._bill(t, camps, parts)
            bought = [i for i, part in enumerate(parts) if self.pa_row[camps[part[0]].channel] < 0]
            parts, stack = [parts[i] for i in bought], stack[bought]
        self._buy(t, camps, lam, parts, stack, units_cell)
        if self._sends:
            units_cell = units_cell + self._trigger_records(t, camps)
        if horizon:
            self.rec.units[t] += units_cell.sum(axis=2) * self.weight
            if not self.lean:
                self.rec.units_stage[t] = units_cell.reshape(self.G, self.C, N_STAGES, 4).sum(axis=3) * self.weight
            self.rec.stage[t] = self.seg_cells().reshape(self.G, N_STAGES, 4).sum(axis=2)
            acc = self._by_segment(self.acc)  # (G, len(_ACC))
            for j, name in enumerate(_ACC):
                getattr(self.rec, name)[t] = acc[:, j]
            if self.capacity is not None:
                self._capacity_records(t)
            if self.satisfying:
                self.rec.unsatisfied_customers[t] = self.unsatisfied_customers()
            if self.cal.seasonal:
                self.rec.season[t] = self.cal.season[t + self.warm]
                self.rec.trend[t] = self.cal.trend[t + self.warm]

    def _buy(
        self,
        t: int,
        camps: list[CompiledCampaign],
        lam: NDArray[np.float64],
        parts: list[_Part],
        cell_lams: NDArray[np.float64],
        units_cell: NDArray[np.float64],
    ) -> None:
        """Spend actually bought: delivered units priced, never above plan; carryover units are free.
        ``cell_lams``: the parts' cell means stacked, (parts, G, 28)."""
        expected: dict[int, NDArray[np.float64]] = {}  # channel -> expected units per (segment, cell)
        if not parts:
            return
        # every campaign's share of its channel's units per (segment, cell), its bill and the week's records of
        # money, in one compiled pass (kernel.buy_units: the float64 operations and sums of numpy's version,
        # the records added in campaign order as one campaign at a time did); a search (lean) keeps neither the
        # money by stage nor the campaigns' tables
        tab = self._campaign_table(camps)
        ks = [k for k, *_ in parts]
        kk = np.array(ks, dtype=np.intp)
        chans = tab.channel[kk]
        budget = np.array([part[2] for part in parts])
        carried = np.array([camps[k].carry for k in ks])
        imperfect = tab.imperfect[kk]
        price = self.price[chans]  # the channel's unit price, or an imperfectly aimed campaign's own this week
        if imperfect.any():
            for i in np.flatnonzero(imperfect):
                price[i] = camps[ks[i]].price
        w = max(t, 0)
        shares, taken, delivered_gs, delivereds, spend, carry, partial = buy_units(
            lam,
            cell_lams,
            np.ascontiguousarray(units_cell),
            chans,
            self.weight,
            budget,
            carried,
            price,
            self.carry_rate,
            t >= 0,
            self.lean,
            self.rec.planned[w],
            self.rec.spend[w],
            self.rec.spend_stage[w],
        )
        for k, left in zip(ks, carry.tolist(), strict=True):
            camps[k].carry = left
        if t < 0 or self.lean:
            return
        j_of = kk - len(self.warm_campaigns)  # the plan's campaigns follow the warm-up's
        mine = np.flatnonzero((j_of >= 0) & (budget > 0))
        if mine.size == 0:
            return
        self.rec.campaign_planned[t, j_of[mine]] += budget[mine]  # one row per campaign: no repeats
        self.rec.campaign_bought[t, j_of[mine]] += spend[mine]
        # those short of their budget, and those aimed imperfectly (only they leak: World._leaky sets camp.leak)
        for i in mine[(spend[mine] < budget[mine]) | imperfect[mine]]:
            k, cell_lam, _, lam_g, counts = parts[i]
            camp, j, c = camps[k], int(j_of[i]), int(chans[i])
            delivered = float(delivereds[i])
            if camp.leak is not None and delivered > 0:  # the units paid that landed outside
                leaked = float((taken[i] * camp.leak).sum()) * self.weight
                self.rec.campaign_leaked[t, j] += float(spend[i]) * leaked / delivered
            if spend[i] < budget[i]:
                asked = float(budget[i] / price[i] + carried[i])
                # at means below the cap the allocation took every unit (its audience is not full)
                top = lam_g.max()  # means are >= 0: none above 0 is none at all
                if not top > 0:
                    own = 0.0
                elif top <= self.cap[c]:
                    own = asked
                else:
                    own = float((counts * capped_poisson_mean(lam_g, self.cap[c])).sum()) * self.weight
                shared = own  # unless another campaign of the channel reaches the same cells (partial: buy_units)
                if own > 0 and partial[i]:
                    if c not in expected:
                        expected[c] = self.week_cells * capped_poisson_mean(lam[:, c, :], self.cap[c])
                    shared = float((expected[c] * shares[i]).sum()) * self.weight
                self.rec.campaign_unbought[t, j, :3] = self._unbought(
                    c, float(budget[i]), float(spend[i]), float(carried[i]), own, shared, price=float(price[i])
                )

    def _unbought(
        self,
        c: int,
        budget: float,
        spend: float,
        carried: float,
        own: float,
        shared: float,
        price: float | None = None,
    ) -> tuple[float, float, float]:
        """Money of ``budget`` not bought, by reason (:data:`~cjmsim.engine.records.UNBOUGHT_REASONS`).

        ``own``: real units the campaign's audience takes, in expectation, at its own means under the
        cap; ``shared``: its part of what the cells take under the cap applied to the channel's summed
        means. The expected shortfalls are charged to the audience, then the shared cap, at most the
        money actually left; the rest is chance. ``carried``: the units carried over into this week
        (delivered first, free), as in the bill. ``price``: the campaign's effective unit price (with a
        narrow-audience premium; default the channel's this week).
        """
        price = self.price[c] if price is None else price
        units = budget / price
        asked = units + carried
        paid_own = units if own >= asked * (1.0 - _FULL) else min(max(own - carried, 0.0), units)
        paid_shared = paid_own if shared >= own * (1.0 - _FULL) else min(max(shared - carried, 0.0), units)
        left = max(budget - spend, 0.0)
        audience = 0.0 if paid_own >= units else min(left, max(budget - paid_own * price, 0.0))
        cap = 0.0 if paid_shared >= paid_own else min(left - audience, max((paid_own - paid_shared) * price, 0.0))
        return audience, cap, left - audience - cap

    # ---- capacity (docs/model.md, Capacity)

    def _each(self, fn: Any, blocks: list[int]) -> None:
        """``fn(b)`` for each block, on the thread pool when there is one (blocks are independent)."""
        if self.pool is None:
            for b in blocks:
                fn(b)
        else:
            for job in [self.pool.submit(fn, b) for b in blocks]:
                job.result()

    def _capacity_week(self, t: int, horizon: bool) -> None:
        """The week's journey moves under the order limits, move by move (move 0 first): every block draws
        who moves (:meth:`_journey`, held), one global pass rations the order requests (:meth:`_ration`),
        then every block moves its served and refused agents (:meth:`_serve`)."""
        assert self.capacity is not None
        left = self.capacity.agents.copy()  # orders the week can still serve, agents (-1: no limit)
        self.cap_refused[:] = 0.0
        for j in range(max(m.steps for m in self.models)):
            # the blocks of segments with a move j this week (empty blocks never move)
            blocks = [b for b in self.order if self.models[self.blocks[b][0]].steps > j and self.held_ok[b]]

            def draw(b: int, j: int = j) -> None:
                self._journey(b, t, horizon, self.cap_logits[b], self._buffers(), j)

            self._each(draw, blocks)
            self._ration(t, j, sorted(blocks), left)

            def serve(b: int, j: int = j) -> None:
                self._serve(b, t, horizon, j)

            self._each(serve, blocks)

    def _ration(self, t: int, j: int, blocks: list[int], left: NDArray[np.int64]) -> None:
        """Ration move ``j``'s order requests (a first order: desire advancing; a repeat order) of ``blocks``
        under the limits ``left`` (updated): each limit serves exactly min(left, requests) of them, those with
        the lowest counter-based uniform of (agent, week, move), a uniform random sample the same on any
        threads; segment limits first, then the business limit over the requests they served (of segments
        not ``separate``). A refused
        first order goes to lost when a second uniform is below its limit's lost share."""
        assert self.capacity is not None
        G = self.G
        agents, seg, where = [], [], []
        for b in blocks:
            held = self.held[b]
            assert held is not None
            mv, p, u = held[0], held[1], held[2]
            lo = self.blocks[b][1]
            st = self.pop.stage[mv + lo]
            req = np.flatnonzero((u < p) & ((st == DESIRE) | (st == CUSTOMER) | (st == LOYAL)))
            agents.append(mv[req] + lo)
            seg.append(np.full(req.size, self.blocks[b][0], dtype=np.intp))
            where.append(np.full(req.size, b, dtype=np.intp))
        idx = np.concatenate(agents) if agents else self._none
        if idx.size == 0:
            return
        sg, bl = np.concatenate(seg), np.concatenate(where)
        rank, coin = order_uniforms(self.cap_key, idx, t, j)
        why = np.full(idx.size, -1, dtype=np.intp)  # the limit that refused each request (-1: served)
        for r in range(G + 1):
            if left[r] < 0:
                continue
            # the business limit: the requests the segments' limits served, of the segments it counts
            cand = np.flatnonzero(sg == r) if r < G else np.flatnonzero((why < 0) & self.capacity.shared[sg])
            if cand.size > left[r]:
                out = cand[np.argsort(rank[cand], kind="stable")[int(left[r]) :]]
                why[out] = r
                left[r] = 0
            else:
                left[r] -= cand.size
        refused = np.flatnonzero(why >= 0)
        if refused.size == 0:
            return
        by_business = why[refused] == G
        self.cap_refused[:, 0] += np.bincount(sg[refused[~by_business]], minlength=G)
        self.cap_refused[:, 1] += np.bincount(sg[refused[by_business]], minlength=G)
        first = self.pop.stage[idx[refused]] == DESIRE
        lost = refused[first & (coin[refused] < self.capacity.lost[why[refused]])]
        for b in np.unique(bl[refused]):
            mv, p, u, _, _ = self.held[b]
            lo = self.blocks[b][1]
            out_b = np.searchsorted(mv, idx[refused[bl[refused] == b]] - lo)
            lost_b = np.searchsorted(mv, idx[lost[bl[lost] == b]] - lo)
            self.held[b] = (mv, p, u, out_b, lost_b)

    def _serve(self, b: int, t: int, horizon: bool, j: int) -> None:
        """Block ``b``'s held movers of move ``j``: the refused stay (a refused first order that waits, a
        refused repeat order) or go to lost; the others move as they would with no limit."""
        held = self.held[b]
        assert held is not None
        self.held[b] = None
        mv, p, u, out, lost = held
        if out.size:
            keep = np.ones(mv.size, dtype=bool)
            keep[out] = False
            mv, p, u = mv[keep], p[keep], u[keep]
        if mv.size:
            self._move(b, mv, p, u, t, horizon, j)
        if lost.size:  # refused and gone elsewhere: desire -> lost
            idx = held[0][lost] + self.blocks[b][1]
            st = self.pop.stage[idx]
            new = np.full(idx.size, LOST, dtype=np.uint8)
            if self.recorders:
                for r in self.recorders:
                    r.on_moves(b, t, idx, st, new)
            self._enter(b, idx, new, self._none, t, horizon)

    def _capacity_records(self, t: int) -> None:
        """Week ``t``'s capacity records: the limits (people) and the refused orders (agents)."""
        assert self.capacity is not None
        self.rec.capacity[t] = self.capacity.limit
        self.rec.capacity_shared = self.capacity.shared
        self.rec.refused[t] = self.cap_refused

    # ---- pay per action (docs/model.md, Pay per action)

    def _volume_prices(self, camps: list[CompiledCampaign], active: set[int]) -> NDArray[np.float64]:
        """This week's unit prices with each per-action channel's replaced by the nominal price of one
        impression, ``sum of its active campaigns' budgets / impressions``: each campaign then gets
        ``impressions x its budget / that sum`` units (1 when none is active: nothing is delivered)."""
        price = np.array(self.price, dtype=np.float64)
        for r, c in enumerate(self.pa):
            total = sum(camps[k].weekly for k in active if camps[k].channel == c and not camps[k].triggered)
            price[c] = total / self.pa_volume[r] if total > 0 else 1.0
        return price

    def _bill(self, t: int, camps: list[CompiledCampaign], parts: list[_Part]) -> None:
        """Spend of the per-action channels: price x the week's attributed actions, at most the week's
        budget of the channel's campaigns, split over them by budget (records only)."""
        if t < 0:
            return
        acts = self._by_segment(self.pa_acc) * self.weight  # (G, P, stages) real actions
        warm = len(self.warm_campaigns)
        for r, c in enumerate(self.pa):
            mine = [(k, budget) for k, _, budget, _, _ in parts if camps[k].channel == c and budget > 0]
            total = sum(budget for _, budget in mine)
            n = float(acts[:, r].sum())
            bill = min(n * float(self.price[c]), total)
            self.rec.planned[t, c] += total
            if bill > 0:
                self.rec.spend[t, :, c] += bill * acts[:, r].sum(axis=1) / n
                self.rec.spend_stage[t, :, c, :] += bill * acts[:, r] / n
            for k, budget in mine:
                if k >= warm:
                    own = bill * budget / total
                    self.rec.campaign_planned[t, k - warm] += budget
                    self.rec.campaign_bought[t, k - warm] += own
                    self.rec.campaign_unbought[t, k - warm, PER_ACTION] += budget - own

    def _actions(
        self,
        b: int,
        idx: NDArray[np.intp],
        st: NDArray[np.uint8],
        new: NDArray[np.uint8],
        buyers: NDArray[np.bool_],
        t: int,
    ) -> None:
        """Count block ``b``'s orders (cpa) or leads (cpl: aware -> interest) of this move whose agent the
        channel exposed within its window (``t - last exposed < window``), by the stage acted from."""
        assert self.last_exp is not None
        leads = (new == INTEREST) & (st != INTEREST)
        for r in range(len(self.pa)):
            who = np.flatnonzero(leads if self.pa_lead[r] else buyers)
            if who.size == 0:
                continue
            ok = who[t - self.last_exp[r, idx[who]].astype(np.int32) < self.pa_window[r]]
            if ok.size:
                self.pa_acc[b, r] += np.bincount(st[ok], minlength=N_STAGES)

    # ---- lifecycle triggers (docs/model.md, Lifecycle triggers)

    def trigger_price(self, c: int, t: int) -> float:
        """The price of one triggered message of channel ``c`` in week ``t``: the channel's unit price that
        week (seasonal with a ``price_season``, set by :meth:`week` before it is called)."""
        return float(self.price[c])

    def _trigger_sends(self, t: int, camps: list[CompiledCampaign], active: set[int]) -> list[_Send]:
        """Who each active trigger campaign messages in week ``t``: one vectorized pass over the population.

        Eligible: the campaign's segments, the channel's flag, and the event ``after`` weeks ago (for the
        stage events, still in that stage). Over a cap, a simple random sample of ``floor(cap / weight)``
        agents (each eligible agent is chosen with probability cap / eligible), ranked by a counter-based
        uniform of (agent, week, campaign) keyed by :data:`TRIGGER_CHILD`: the same for any threads."""
        out: list[_Send] = []
        pop = self.pop
        for k in sorted(active):
            camp = camps[k]
            if not camp.triggered:
                continue
            w = t - camp.after
            if _EVENT_STAGE[camp.event] < 0:
                m = pop.last_order == w
            else:
                m = (pop.entered == w) & (pop.stage == _EVENT_STAGE[camp.event])
            if camp.need:
                m &= (pop.flags & camp.need) != 0
            for g in np.flatnonzero(~camp.segments):
                m[pop.bounds[g] : pop.bounds[g + 1]] = False
            idx = np.flatnonzero(m)
            cap = min(camp.cap, camp.cap_money / self.trigger_price(camp.channel, t)) / self.weight  # agents
            chosen = idx
            if idx.size > cap:
                keep = int(math.floor(cap * (1.0 + 1e-12)))
                u = trigger_uniforms(self.trigger_key, idx, t, k)
                chosen = np.sort(idx[np.argpartition(u, keep - 1)[:keep]]) if keep > 0 else idx[:0]
            out.append((k, camp.channel, chosen, int(idx.size)))
        fits = [camps[k].fit for k, *_ in out]
        self._send_fit = [None if f is None else f.astype(np.float32) for f in fits]
        if out:
            self.trig_cell = np.zeros((self.B, len(out), N_CELLS))
        return out

    def _block_messages(self, b: int) -> dict[int, tuple[NDArray[np.intp], NDArray[np.float32] | None]]:
        """This week's triggered messages to block ``b``'s agents (indices in the block), by channel, with
        their messages' fits for the agents' segment and stage (None: all 1); counts them by audience
        cell (per-block state only)."""
        g, lo, hi = self.blocks[b]
        by_channel: dict[int, list[NDArray[np.intp]]] = {}
        weights: dict[int, list[NDArray[np.float32]]] = {}
        for i, (_, c, chosen, _) in enumerate(self._sends):
            a, z = np.searchsorted(chosen, [lo, hi])
            if z > a:
                part = chosen[a:z]
                self.trig_cell[b, i] = np.bincount(self.key[part], minlength=N_CELLS)
                by_channel.setdefault(c, []).append(part - lo)
                fit = self._send_fit[i]
                weights.setdefault(c, []).append(
                    np.ones(part.size, dtype=np.float32) if fit is None else fit[g][self.pop.stage[part]]
                )
        out: dict[int, tuple[NDArray[np.intp], NDArray[np.float32] | None]] = {}
        for c, parts in by_channel.items():
            w = None
            if any(self._send_fit[i] is not None for i, s in enumerate(self._sends) if s[1] == c):
                w = np.concatenate(weights[c])
            out[c] = (np.concatenate(parts), w)
        return out

    def _trigger_records(self, t: int, camps: list[CompiledCampaign]) -> NDArray[np.float64]:
        """Spend and campaign records of the week's triggered messages (messages x price; planned: every
        eligible agent before the caps); returns their units per (segment, channel, cell), in agents."""
        G = self.G
        extra = np.zeros((G, self.C, N_CELLS))
        for i, (k, c, _, eligible) in enumerate(self._sends):
            cell = self._by_segment(self.trig_cell[:, i])  # (G, 28) messages, agents
            extra[:, c] += cell
            if t < 0:
                continue
            price = self.trigger_price(c, t)
            spend_g = cell.sum(axis=1) * self.weight * price
            planned = eligible * self.weight * price
            self.rec.planned[t, c] += planned
            self.rec.spend[t, :, c] += spend_g
            self.rec.spend_stage[t, :, c, :] += cell.reshape(G, N_STAGES, 4).sum(axis=2) * self.weight * price
            j = k - len(self.warm_campaigns)
            if j >= 0:
                bought = float(spend_g.sum())
                self.rec.campaign_planned[t, j] += planned
                self.rec.campaign_bought[t, j] += bought
                self.rec.campaign_unbought[t, j, TRIGGER_CAP] += max(planned - bought, 0.0)
        return extra

    def audience(self, camp: CompiledCampaign) -> float:
        """Real people in ``camp``'s target segments x audience cells now (what ``start_when`` counts)."""
        cells = self.seg_cells()[:, camp.cells].sum(axis=1)
        return float((cells * camp.segments).sum() * self.weight)

    def _by_segment(self, per_block: NDArray[np.float64]) -> NDArray[np.float64]:
        """Sum per-block arrays into segments (blocks are stored in segment order)."""
        return np.add.reduceat(per_block, self.seg_start, axis=0)

    def seg_cells(self) -> NDArray[np.float64]:
        """Agents per (segment, audience cell) at this moment."""
        return self._by_segment(self.cells)

    def fork(self, plan: str | None, scenario: Scenario | None = None) -> World:
        """A copy of this world at the week it has reached, that goes on with ``plan``'s campaigns
        (``plan`` of ``scenario``, when given: a scenario that differs from this world's in its plans only,
        such as an optimizer's candidate plan added; the copy then reads it).

        The warm-up runs the warm-up plan with the same random numbers whatever plan follows it, so
        the plans of a replication can share it: a world of no plan stepped through the warm-up forks
        into one world per plan, each bit for bit the world of that plan stepped through the same
        weeks (:func:`cjmsim.engine.calendar.run_plans`; tests/test_engine.py). Only a world without
        a thread pool and without recorders forks (recorders hold logs of their own)."""
        if self.pool is not None or self.recorders:
            raise ValueError("only a world without a thread pool or recorders can fork")
        shared = (self.sc, self.models, self.chan, self.order_key)  # read-only: not copied
        local = self.local
        memo: dict[int, Any] = {id(x): x for x in shared}
        memo[id(local)] = None  # the scratch buffers of the threads stay with this world
        memo[id(self._camp_table)] = None  # describes this world's list of campaigns: the copy makes its own
        memo[id(self.shared)] = None
        other = copy.deepcopy(self, memo)
        other.local = threading.local()
        if scenario is not None:
            other.sc = scenario
        other.plan_campaigns = compile_campaigns(other.sc, plan, self.channels, warmup=False)
        other.rec = Records.zeros(self.weight, self.W, self.G, self.C, self.warm, len(other.plan_campaigns))
        other._interventions(plan)
        other._bounds()
        return other

    def fork_last(self, plan: str | None) -> World:
        """This world itself, going on with ``plan``'s campaigns: :meth:`fork` without the copy, for
        the last plan that shares the warm-up (this world cannot fork again after it)."""
        self.plan_campaigns = compile_campaigns(self.sc, plan, self.channels, warmup=False)
        self.rec = Records.zeros(self.weight, self.W, self.G, self.C, self.warm, len(self.plan_campaigns))
        self._interventions(plan)
        self._bounds()
        return self

    def finish(self) -> Records:
        """Fold the per-block run-long accumulators and the recorders' logs into the records."""
        self.rec.ttp[:] = self._by_segment(self.ttp)
        self.rec.ltv_margin[:] = self._by_segment(self.ltv).T
        self.rec.satisfaction = self.satisfying
        self.rec.lean = self.lean
        if self.lean:  # what the week skipped, and the little the bills of actions and triggers wrote
            for name in LEAN_FIELDS:
                getattr(self.rec, name)[:] = 0.0
        for r in self.recorders:
            r.finish(self.rec)
        return self.rec

    # ---- one block's week

    def _buffers(self) -> dict[str, NDArray[Any]]:
        """This thread's scratch buffers, sized for the largest block."""
        b: dict[str, NDArray[Any]] | None = getattr(self.local, "b", None)
        if b is None:
            nmax = self.nmax
            b = self.local.b = {
                "p": np.empty(nmax, dtype=np.float32),
                "tmp": np.empty(nmax, dtype=np.float32),
                "u": np.empty(nmax, dtype=np.float32),
                "mv": np.empty(nmax, dtype=np.intp),
                "pm": np.empty(nmax, dtype=np.float32),  # the movers' probabilities and uniforms (decide_block)
                "um": np.empty(nmax, dtype=np.float32),
                "buyers": np.empty(nmax, dtype=np.intp),  # the week's buyers and first orders (_week_fused)
                "first": np.empty(nmax, dtype=np.bool_),
                "acc": np.zeros(nmax, dtype=np.float64),  # expose_messages' scratch, kept zeroed
                "mark": np.zeros(nmax, dtype=bool),
            }
        return b

    def _step_block(self, b: int, t: int, horizon: bool, loyal_shares: list[float]) -> None:
        """Week ``t`` of block ``b``: exposures, adstock, saturation, then who moves."""
        g, lo, hi = self.blocks[b]
        n = hi - lo
        if n == 0:
            return
        m = self.models[g]
        buf = self._buffers()
        coef = self._coef(g, t, loyal_shares)
        if self._fast(g):
            self._step_fast(b, t, horizon, coef, buf)
            return
        self._expose(b, t, horizon)
        # ---- adstock -> Hill saturation -> logits of every agent's primary transition
        sat = self.sat[b]
        for j, c in enumerate(m.rows):
            if self.exposed[b, c]:
                ch = self.chan[c]
                hill(self.adstock[b][c], ch.saturation.half, ch.saturation.slope, out=sat[j], amax=self.amax[c])
        if self.capacity is None:  # every stage's logits: the numpy path only (made on its first use)
            if "logits" not in buf:
                buf["logits"] = np.empty(N_STAGES * self.nmax, dtype=np.float32)
            flat_logits = buf["logits"][: N_STAGES * n]
        else:
            flat_logits = self.cap_logits[b]
        np.matmul(coef, sat, out=flat_logits.reshape(N_STAGES, n))
        if self.capacity is not None:  # the moves of every block at once, rationed: _capacity_week
            return
        # the week's journey moves (one, or steps_per_week) on the week's exposures
        for j in range(m.steps):
            self._journey(b, t, horizon, flat_logits, buf, j)

    def _coef(self, g: int, t: int, loyal_shares: list[float]) -> NDArray[np.float32]:
        """Segment ``g``'s logit coefficients in week ``t`` (7, k + 1 [+ 1]): the base logits of the week's
        seasonality and trend, word of mouth and the interventions in force."""
        m = self.models[g]
        coef = m.coef
        season = self.cal.logits[g]
        shift = self._base_shift(g, t)
        if season is not None or m.wom_beta != 0.0 or shift is not None:
            coef = coef.copy()
            k = len(m.rows)
            base_aware = m.base_aware_logit
            if season is not None:  # this week's base logits (seasonality and trend)
                coef[:, k] = season[t + self.warm]
                base_aware = float(season[t + self.warm, UNAWARE])
            if m.wom_beta != 0.0:  # word of mouth multiplies the odds of the (seasonal) base rate
                coef[UNAWARE, k] = base_aware + m.wom_beta * loyal_shares[g]
            if shift is not None:  # interventions multiply the odds of the week's base rates
                coef[:, k] += shift
        return coef

    def _step_fast(
        self,
        b: int,
        t: int,
        horizon: bool,
        coef: NDArray[np.float32],
        buf: dict[str, NDArray[Any]],
    ) -> None:
        """The week of block ``b`` through the compiled kernels (:mod:`cjmsim.engine.kernel`), bit for bit
        the numpy path's: exposures, adstock, saturation and each agent's own logit in one pass over the
        block (:func:`~cjmsim.engine.kernel.step_block`), then the move. A channel with triggered messages
        for the block this week goes first through :meth:`_expose_messages` (bought exposures and messages
        together; the fused pass then leaves the channel's exposures alone, and the channels' exposures are
        independent, so the order changes nothing), and saturation other than the plain slopes 1 and 2
        through :func:`~cjmsim.engine.exposure.hill`, between the kernels' exposure and logit passes."""
        g, lo, hi = self.blocks[b]
        messages = self._block_messages(b) if self._sends else {}
        live = self.live[g].copy()
        decay_on = self.exposed[b] & (self.decay != 1)
        for c in messages:
            live[c] = decay_on[c] = False
        fitw, usefit = self._no_fit if self.fit_rows is None else self.fit_rows[g]
        if self.plain_hill[g] and self._moves_fast(g):
            self._week_fused(b, t, horizon, coef, buf, live, decay_on, fitw, usefit, messages)
            return
        U = self._uniforms(b)
        last = self.last_exp if self.last_exp is not None else self._no_last
        expose = (
            U, self.key[lo:hi], self.thr[g], self.ncap, live, decay_on, self.decay, fitw, usefit, self.adstock[b],
            self.exposed[b], self.units_cell[b], self.pop.flags[lo:hi], horizon, self.pa_row, last, lo, t,
        )  # fmt: skip
        rows, kinds, halves = self.hill_rows[g]
        sat, stage, p = self.sat[b], self.pop.stage[lo:hi], buf["p"][: hi - lo]
        if self.plain_hill[g]:
            # a channel with triggered messages first (bought exposures and messages together): the channels'
            # exposures are independent, so doing it before the fused pass changes nothing
            for c in sorted(messages):
                self._expose_messages(b, t, horizon, U, c, messages[c], fitw[c], bool(usefit[c]), buf)
            # the saturations stay in the tiles where only the compiled moves read them (recomputed there)
            store = not self._moves_fast(g)
            self.sat_stored[b] = store
            u = self._journey_uniforms(b, 0, buf)
            decide = self._decide_args(b, t, u, buf)
            reached, k = step_block(*expose, rows, kinds, halves, sat, store, coef, stage, *decide)
            self.acc[b, _REACHED] += reached
            self._movers(b, t, horizon, 0, k, buf)
            return
        else:
            self.sat_stored[b] = True
            self.acc[b, _REACHED] += expose_block(*expose)
            for c in sorted(messages):  # bought exposures and triggered messages together
                self._expose_messages(b, t, horizon, U, c, messages[c], fitw[c], bool(usefit[c]), buf)
            for j, c in enumerate(rows):
                if self.exposed[b, c] and kinds[j] == 3:  # the stable or power form: numpy
                    ch = self.chan[c]
                    hill(self.adstock[b][c], ch.saturation.half, ch.saturation.slope, out=sat[j], amax=self.amax[c])
            logits_block(self.adstock[b], rows, kinds, halves, self.exposed[b], sat, coef, stage, p)
        self._decide(b, t, horizon, p, buf, 0)

    def _week_fused(
        self,
        b: int,
        t: int,
        horizon: bool,
        coef: NDArray[np.float32],
        buf: dict[str, NDArray[Any]],
        live: NDArray[np.bool_],
        decay_on: NDArray[np.bool_],
        fitw: NDArray[np.float32],
        usefit: NDArray[np.bool_],
        messages: dict[int, tuple[NDArray[np.intp], NDArray[np.float32] | None]],
    ) -> None:
        """:meth:`_step_fast` of a block whose moves are compiled too (:meth:`_moves_fast`), in one compiled
        call (:func:`~cjmsim.engine.kernel.week_block`: the week's uniforms, the channels with triggered
        ``messages`` to the block, exposures, logits, movers, moves and stage bookkeeping), then the orders.
        The same calls as one at a time, so the same numbers; a small run's week no longer pays for a dozen
        calls from Python per block."""
        g, lo, hi = self.blocks[b]
        n = hi - lo
        m = self.models[g]
        pop = self.pop
        u = buf["u"][:n]
        if self.shared is None:  # drawn by the kernel from the block's streams
            es, ts = self.exp_rng[b], self.tr_rng[b]
            eraw, U = es.uint16_buffers(self.C, n)
            draws = (True, es.state, es.lanes, eraw, U, ts.state, ts.lanes, ts.float32_scratch(n), u)
        else:  # drawn once for every world stepped together
            none, lanes = self._no_state
            draws = (False, none, lanes, none, self.shared.exposure[b], none, lanes, none, self.shared.journey[0][b])
        self.sat_stored[b] = False  # the moves take the saturations from the adstock
        rows, kinds, halves = self.hill_rows[g]
        churn_shift, loyal_w = self._post_rates(g, t)  # the week's, with interventions
        cycle = self._no_cycle if m.cycle is None else m.cycle
        buyers, first = buf["buyers"], buf["first"]
        msg = self._no_messages
        if messages:  # the channels' live and decay flags as the step had them, before _step_fast cleared them
            chans = sorted(messages)
            sent = [messages[c][0] for c in chans]
            fits: list[NDArray[np.float32]] = []
            for c, x in zip(chans, sent, strict=True):
                w = messages[c][1]
                fits.append(np.ones(x.size, dtype=np.float32) if w is None else w)
            msg = (
                np.array(chans, dtype=np.int64),
                np.concatenate([[0], np.cumsum([x.size for x in sent])]).astype(np.int64),
                np.concatenate(sent).astype(np.intp, copy=False),
                np.concatenate(fits).astype(np.float32, copy=False),
                self.live[g, chans],
                self.exposed[b, chans] & (self.decay[chans] != 1),
            )
        nb = week_block(
            *draws, self.key, self.thr[g], self.ncap, live, decay_on, self.decay, fitw, usefit, self.adstock[b],
            self.exposed[b], self.units_cell[b], pop.flags, horizon, self.pa_row, self._no_last, lo, hi, t, rows,
            kinds, halves, self.sat[b], coef, pop.stage, cycle, pop.last_order, self._no_unsat, self._no_offsets,
            self._drops(g, t), buf["mv"], buf["pm"], buf["um"], m.churn_coef, float(churn_shift), float(loyal_w),
            pop.entered, pop.first_aware, pop.acquired, self.flat, self.cells[b], self.ttp[b], self.acc[b],
            _ENTER_SLOTS, _REACHED, buyers, first, *msg, buf["acc"], buf["mark"],
        )  # fmt: skip
        if nb:  # valued with every block's at the end of the week (_orders_together)
            self.pending.append((b, buyers[:nb].copy(), first[:nb].copy()))

    def _journey(
        self,
        b: int,
        t: int,
        horizon: bool,
        flat_logits: NDArray[np.float32],
        buf: dict[str, NDArray[Any]],
        j: int,
    ) -> None:
        """Journey move ``j`` of week ``t`` in block ``b``: each agent's own logit -> probability, one
        uniform per agent, then who moves (the uniforms of j > 0 come from the block's sub-step stream)."""
        _, lo, hi = self.blocks[b]
        p = buf["p"][: hi - lo]
        np.take(flat_logits, self.flat[lo:hi], out=p)
        self._decide(b, t, horizon, p, buf, j)

    def _journey_uniforms(self, b: int, j: int, buf: dict[str, NDArray[Any]]) -> NDArray[np.float32]:
        """Block ``b``'s uniforms of journey move ``j`` this week, one float32 per agent (from the block's
        transition stream, or its sub-step stream for j > 0; shared when worlds step together)."""
        if self.shared is not None:  # drawn once for every world stepped together
            return self.shared.journey[j][b]
        _, lo, hi = self.blocks[b]
        u = buf["u"][: hi - lo]
        rng = self.tr_rng[b] if j == 0 else self.sub_rng[b]
        assert rng is not None
        rng.random_float32(hi - lo, u)
        return u

    def _decide_args(self, b: int, t: int, u: NDArray[np.float32], buf: dict[str, NDArray[Any]]) -> tuple[Any, ...]:
        """The arguments of :func:`~cjmsim.engine.kernel.decide_block` after the logits and stages: block ``b``'s
        purchase cycle, satisfaction, uniforms ``u`` and base drops in week ``t``, and the movers' buffers."""
        g, lo, hi = self.blocks[b]
        m = self.models[g]
        if m.satisfaction is not None:
            assert self.pop.unsatisfied is not None
            unsat, offsets = self.pop.unsatisfied[lo:hi], m.satisfaction.offsets
        else:
            unsat, offsets = self._no_unsat, self._no_offsets
        cycle = self._no_cycle if m.cycle is None else m.cycle
        return (
            cycle, self.pop.last_order[lo:hi], t, unsat, offsets, u, self._drops(g, t), buf["mv"], buf["pm"], buf["um"]
        )  # fmt: skip

    def _movers(self, b: int, t: int, horizon: bool, j: int, k: int, buf: dict[str, NDArray[Any]]) -> None:
        """Journey move ``j`` of the ``k`` movers that :func:`~cjmsim.engine.kernel.decide_block` left in
        ``buf`` (indices, probabilities, uniforms): moved now, or held for the capacity pass."""
        mv, pmv, umv = buf["mv"][:k].copy(), buf["pm"][:k].copy(), buf["um"][:k].copy()
        if self.capacity is not None:  # held for the capacity pass (_capacity_week)
            self.held[b] = (mv, pmv, umv, self._none, self._none)
        elif k:
            self._move(b, mv, pmv, umv, t, horizon, j)

    def _decide(
        self, b: int, t: int, horizon: bool, p: NDArray[np.float32], buf: dict[str, NDArray[Any]], j: int
    ) -> None:
        """The rest of journey move ``j`` of week ``t`` in block ``b`` from each agent's own logit ``p``
        (overwritten): the purchase cycle and satisfaction offsets, the probability, one uniform per
        agent, then who moves."""
        g, lo, hi = self.blocks[b]
        n = hi - lo
        m = self.models[g]
        stage = self.pop.stage[lo:hi]
        u = self._journey_uniforms(b, j, buf)
        if COMPILED:  # the offsets, the probability and the movers in one compiled pass (kernel.decide_block)
            k = decide_block(p, stage, *self._decide_args(b, t, u, buf))
            self._movers(b, t, horizon, j, k, buf)
            return
        if m.cycle is not None:  # customers and loyal: logit p(weeks since the last order), gathered
            post = np.flatnonzero((stage == CUSTOMER) | (stage == LOYAL))
            if post.size:
                d = t - self.pop.last_order[lo + post].astype(np.int32)
                np.clip(d, 0, m.cycle.shape[1] - 1, out=d)
                p[post] += m.cycle[(stage[post] == LOYAL).astype(np.intp), d]
        if m.satisfaction is not None:  # unsatisfied: repeat (customers, loyal) and return (lost) odds
            assert self.pop.unsatisfied is not None
            un = np.flatnonzero(self.pop.unsatisfied[lo:hi])
            if un.size:
                p[un] += m.satisfaction.offsets[stage[un]]
        sigmoid_array(p, p)  # p = 1 / (1 + exp(-logit)), float32
        # ---- who moves: u < p (primary) or u < p + (1 - p) * d (drop / churn / loyalty)
        out = buf["mv"][:n]
        # the week's base drop (interventions), one place
        mv = out[: movers_block(p, u, self._drops(g, t), stage, out)].copy()
        if self.capacity is not None:  # held for the capacity pass (_capacity_week)
            self.held[b] = (mv, p[mv], u[mv], self._none, self._none)
        elif mv.size:
            self._move(b, mv, p[mv], u[mv], t, horizon, j)

    def _uniforms(self, b: int) -> NDArray[np.uint16]:
        """Block ``b``'s exposure uniforms of the week: one 16-bit integer per channel and agent, (C, n)."""
        if self.shared is not None:  # drawn once for every world stepped together
            return self.shared.exposure[b]
        _, lo, hi = self.blocks[b]
        return self.exp_rng[b].uint16(self.C, hi - lo)

    def _expose_messages(
        self,
        b: int,
        t: int,
        horizon: bool,
        U: NDArray[np.uint16],
        c: int,
        message: tuple[NDArray[np.intp], NDArray[np.float32] | None],
        fit: NDArray[np.float32],
        weighted: bool,
        buf: dict[str, NDArray[Any]],
    ) -> None:
        """Channel ``c`` of block ``b`` with this week's triggered messages to the block, compiled
        (:func:`~cjmsim.engine.kernel.expose_messages`): what :meth:`_expose`'s loop does for it."""
        g, lo, hi = self.blocks[b]
        n = hi - lo
        sent, w = message
        if w is None:
            w = np.ones(sent.size, dtype=np.float32)
        row = int(self.pa_row[c])
        last = self.last_exp[row, lo:hi] if self.last_exp is not None and row >= 0 else self._no_last[0]
        tab = self.thr[g, c]
        self.acc[b, _REACHED] += expose_messages(
            U[c], self.key[lo:hi], tab, self.cap[c], bool(self.live[g, c]),
            bool(self.exposed[b, c] and self.decay[c] != 1), self.decay[c], fit, weighted, self.adstock[b][c],
            self.units_cell[b, c], self.pop.flags[lo:hi], horizon, last, row >= 0, t, sent, w,
            buf["acc"][:n], buf["mark"][:n],
        )  # fmt: skip
        self.exposed[b, c] = True

    def _expose(
        self,
        b: int,
        t: int,
        horizon: bool,
        U: NDArray[np.uint16] | None = None,
        messages: dict[int, tuple[NDArray[np.intp], NDArray[np.float32] | None]] | None = None,
        channels: Sequence[int] | None = None,
    ) -> None:
        """Exposures for all channels at once, from one 16-bit uniform per agent and channel; adstock.
        ``U``, ``messages``, ``channels``: the week's uniforms and triggered messages of the block, when
        drawn already, and the channels to step (default all)."""
        g, lo, hi = self.blocks[b]
        key = self.key[lo:hi]
        flags = self.pop.flags[lo:hi]
        if U is None:
            U = self._uniforms(b)
        if messages is None:
            messages = self._block_messages(b) if self._sends else {}
        fits = self.fits
        for c in range(self.C) if channels is None else channels:
            A = self.adstock[b][c]
            if self.exposed[b, c] and self.decay[c] != 1:
                np.multiply(A, self.decay[c], out=A)
            tab = self._thresholds_of(g, c)
            if tab is None:
                if c not in messages:
                    continue
                hit, x = np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float32)
                kh = key[hit]
            else:
                hit = hits_cells(U[c], tab[:, 0], key)
                if hit.size == 0 and c not in messages:
                    continue
                kh = key[hit]
                x = exposure_counts(U[c][hit], kh, tab, False)
                self.units_cell[b, c] += np.bincount(kh, weights=x, minlength=N_CELLS)
            fit = None if fits is None else fits.get(c)
            xw = x if fit is None else x * fit[g][kh]  # fit-weighted exposures enter the adstock
            if c in messages:  # triggered messages come on top of the bought exposures (beyond the cap)
                sent, w = messages[c]
                if w is None and fit is None:
                    hit, x = _merge(hit, x, sent)
                    xw = x
                else:  # the same agents in the same order, counted and weighted
                    _, xw = _merge(hit, xw, sent, w)
                    hit, x = _merge(hit, x, sent)
            self.exposed[b, c] = True
            A[hit] += xw
            if self.recorders:
                agents = hit + lo
                for r in self.recorders:
                    r.on_exposures(b, t, c, agents, x)
            if self.last_exp is not None and self.pa_row[c] >= 0:  # pay per action: who it exposed, when
                self.last_exp[self.pa_row[c], hit + lo] = t
            if horizon:
                fresh = hit[(flags[hit] & REACHED) == 0]
                flags[fresh] |= REACHED
                self.acc[b, _REACHED] += fresh.size

    def _move(
        self,
        b: int,
        mv: NDArray[np.intp],
        p: NDArray[np.float32],
        u: NDArray[np.float32],
        t: int,
        horizon: bool,
        move: int = 0,
    ) -> None:
        """Transitions and orders for the agents whose uniform says they may move (indices in block);
        ``move``: the journey move within the week."""
        g, lo, _ = self.blocks[b]
        m = self.models[g]
        if self._moves_fast(g):
            self._move_fast(b, mv, p, u, t, horizon, move)
            return
        idx = mv + lo
        st = self.pop.stage[idx]
        adv = u < p
        new = st.copy()
        pre = st <= DESIRE
        # pre-purchase: advance, or (not advancing but in the subset) drop to lost
        new[pre & adv] += 1
        drops = pre & ~adv & (st > UNAWARE)
        if m.drop_coef is not None and drops.any():  # barriers: channels shape each agent's drop
            drops = self._barrier_drops(b, mv, drops, st, p, u, t)
        new[drops] = LOST
        # lost: the need comes back
        new[(st == LOST) & adv] = AWARE
        # customers and loyal: a repeat order (adv), then churn / loyalty from the same uniform
        post = (st == CUSTOMER) | (st == LOYAL)
        repeat = post & adv
        if post.any():
            pi = np.flatnonzero(post)
            pp = p[pi].astype(np.float64)
            v = np.where(adv[pi], u[pi] / np.maximum(pp, 1e-300), (u[pi] - pp) / np.maximum(1.0 - pp, 1e-300))
            is_loyal = st[pi] == LOYAL
            k = len(m.rows)
            coef = m.churn_coef[is_loyal.astype(np.intp)]  # (movers, k + 1)
            satp = self.sat[b][:k, mv[pi]]  # (k, movers)
            z = (coef[:, :k] * satp.T).sum(axis=1) + coef[:, k]
            churn_shift, loyal_w = self._post_rates(g, t)  # the week's, with interventions
            if churn_shift != 0.0:  # an intervention's churn odds
                z = z + churn_shift
            loyal_p: float | NDArray[np.float64] = loyal_w
            if m.satisfaction is not None:  # unsatisfied: churn and loyalty odds (docs/model.md, Satisfaction)
                loyal_p, z = self._unsatisfied_odds(m.satisfaction, loyal_w, m.loyal, idx[pi], z)
            pc = _sigmoid32_of(z)  # float32 like the main step: a churn rate of 0 gives exactly 0
            churn = v < pc
            if m.loyal_coef is not None:  # barriers: channels shape customer -> loyal (on the week's rate)
                zl0 = m.loyal_logit if loyal_w == m.loyal else clipped_logit(loyal_w)
                zl = (m.loyal_coef[None, :] * satp.T).sum(axis=1) + np.float32(zl0)
                if m.satisfaction is not None and m.satisfaction.loyal_odds != 0.0:
                    assert self.pop.unsatisfied is not None  # and an unsatisfied customer's loyal odds on top
                    zl = zl + np.where(self.pop.unsatisfied[idx[pi]], m.satisfaction.loyal_odds, 0.0)
                loyal_p = _sigmoid32_of(zl)
            loyal = (~is_loyal) & ~churn & (v < pc + loyal_p)
            sub = new[pi]
            sub[churn] = LOST
            sub[loyal] = LOYAL
            new[pi] = sub
        first = (st == DESIRE) & (new == CUSTOMER)
        buyers = first | repeat
        if self.last_exp is not None:
            self._actions(b, idx, st, new, buyers, t)
        if buyers.any():
            self._orders(b, idx[buyers], first[buyers], t, horizon, move)
        if self.recorders:
            for r in self.recorders:
                r.on_moves(b, t, idx, st, new)
        changed = new != st
        if changed.any():
            self._enter(b, idx[changed], new[changed], idx[first], t, horizon)

    def _moves_fast(self, g: int) -> bool:
        """Whether segment ``g``'s moves go through the compiled kernel (:meth:`_move_fast`)."""
        return COMPILED and self.plain_move[g] and self.last_exp is None and not self.recorders

    def _move_fast(
        self,
        b: int,
        mv: NDArray[np.intp],
        p: NDArray[np.float32],
        u: NDArray[np.float32],
        t: int,
        horizon: bool,
        move: int,
    ) -> None:
        """:meth:`_move` through the compiled kernels where no barrier, loyalty driver, satisfaction, action
        counter or recorder applies (``plain_move``): the same numbers, the moves and the stage bookkeeping in
        one call (:func:`~cjmsim.engine.kernel.move_enter_block`), then the orders."""
        g, lo, hi = self.blocks[b]
        m = self.models[g]
        n = mv.size
        stage = self.pop.stage
        buyers = np.empty(n, dtype=np.intp)
        first = np.empty(n, dtype=np.bool_)
        churn_shift, loyal_w = self._post_rates(g, t)  # the week's, with interventions
        rows, kinds, halves = self.hill_rows[g]
        pop = self.pop
        nb = move_enter_block(
            mv, p, u, stage, lo, m.churn_coef, self.sat[b], bool(self.sat_stored[b]), self.adstock[b], rows, kinds,
            halves, self.exposed[b], float(churn_shift), float(loyal_w), buyers, first, t, horizon, pop.entered,
            pop.first_aware, pop.acquired, pop.flags, self.key, self.flat, self.cells[b], self.ttp[b], self.acc[b],
            hi - lo, _ENTER_SLOTS,
        )  # fmt: skip
        if nb:
            self._orders(b, buyers[:nb], first[:nb], t, horizon, move)

    def _barrier_drops(
        self,
        b: int,
        mv: NDArray[np.intp],
        drops: NDArray[np.bool_],
        st: NDArray[np.uint8],
        p: NDArray[np.float32],
        u: NDArray[np.float32],
        t: int,
    ) -> NDArray[np.bool_]:
        """Which of the movers ``drops`` (pre-purchase agents that did not advance, in the bound) drop when
        channels shape drop-outs (docs/model.md, Barriers): ``V' = (V - p) / (1 - p) < p_drop`` with
        ``logit(p_drop) = logit(d_s) + sum_c ln(odds_c) sat_c``, ``d_s`` the stage's base drop in week ``t``
        (an intervention's drop factors included)."""
        g = self.blocks[b][0]
        m = self.models[g]
        assert m.drop_coef is not None and m.drop_base is not None
        base = m.drop_base  # the base weekly drop-out per stage, or this week's with interventions
        if self.iv is not None and self.iv.drop_base is not None and t >= 0 and self.iv.on[t, g]:
            base = self.iv.drop_base[t, g]
        di = np.flatnonzero(drops)
        s = st[di]
        pp = p[di].astype(np.float64)
        v = (u[di] - pp) / np.maximum(1.0 - pp, 1e-300)
        k = len(m.rows)
        d0 = base[s].astype(np.float64)
        with np.errstate(divide="ignore"):  # a drop of 0 or 1 stays 0 or 1: logits clipped like the base rates
            z0 = np.clip(log_array(d0) - log_array(1.0 - d0), -LOGIT_CLIP, LOGIT_CLIP)
        z = (m.drop_coef[s] * self.sat[b][:k, mv[di]].T).sum(axis=1) + z0
        pd = _sigmoid32_of(z)  # float32 like the main step: exp(100) is inf, so p_drop is exactly 0
        out = drops.copy()
        out[di[v >= pd]] = False
        return out

    def _unsatisfied_odds(
        self, sat: SatisfactionModel, loyal: float, own: float, agents: NDArray[np.intp], z: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The loyalty probability and churn logit ``z`` of post-purchase movers ``agents``: an unsatisfied
        agent's churn logit + log(churn odds) and loyalty ``sat.loyal`` (the loyal odds applied to ``loyal``);
        a satisfied agent's unchanged."""
        assert self.pop.unsatisfied is not None
        un = self.pop.unsatisfied[agents]
        return np.where(un, sat.loyal, loyal), np.where(un, z + sat.churn, z)

    def _orders(
        self, b: int, bi: NDArray[np.intp], first: NDArray[np.bool_], t: int, horizon: bool, sub: int = 0
    ) -> None:
        """First and repeat orders of agents ``bi`` in journey move ``sub`` of week ``t``; values from
        counter-based uniforms."""
        m = self.models[self.blocks[b][0]]
        u1, u2 = order_uniforms(self.order_key, bi, t, sub)
        value = _order_values(u1, u2, m.mu, m.sigma)
        self._book_orders(b, bi, first, value, t, horizon, sub)

    def _orders_together(self, t: int, horizon: bool) -> None:
        """The orders that :meth:`_week_fused` left this week (``self.pending``), every block's at once: the
        values of all of them in one pass (numpy's elementwise functions give each element what they give it
        in a block's own array), then each block's bookkeeping (:meth:`_book_orders`) in block order, on its
        own slice. The same numbers as block by block: a block's orders touch only its agents and counters."""
        pending = sorted(self.pending, key=lambda x: x[0])
        self.pending = []
        if not pending:
            return
        bi = np.concatenate([x[1] for x in pending])
        if not self.recorders and not any(self.models[self.blocks[b][0]].satisfaction is not None for b, *_ in pending):
            # values and bookkeeping of every block in one compiled pass (kernel.orders_week), the same numbers
            sizes = np.array([x[1].size for x in pending])
            orders_week(
                np.uint64(self.order_key), order_counter(t, 0), bi, np.concatenate([x[2] for x in pending]),
                np.concatenate([[0], np.cumsum(sizes)]), np.array([b for b, *_ in pending], dtype=np.intp),
                self.block_mu, self.block_sigma, self.block_margin, t, horizon, self.ltv_weeks, self.pop.last_order,
                self.pop.acquired, self.acc, self.ltv, _ORDERS, _REVENUE, _MARGIN,
            )  # fmt: skip
            return
        u1, u2 = order_uniforms(self.order_key, bi, t, 0)
        mu = np.concatenate([np.full(x[1].size, self.models[self.blocks[x[0]][0]].mu) for x in pending])
        sigma = np.concatenate([np.full(x[1].size, self.models[self.blocks[x[0]][0]].sigma) for x in pending])
        value = _order_values(u1, u2, mu, sigma)
        at = 0
        for b, buyers, first in pending:
            self._book_orders(b, buyers, first, value[at : at + buyers.size], t, horizon, 0)
            at += buyers.size

    def _book_orders(
        self,
        b: int,
        bi: NDArray[np.intp],
        first: NDArray[np.bool_],
        value: NDArray[np.float64],
        t: int,
        horizon: bool,
        sub: int,
    ) -> None:
        """The orders of agents ``bi`` of block ``b`` worth ``value`` in journey move ``sub`` of week ``t``:
        their last order, satisfaction, the week's counters and the LTV windows, and the recorders."""
        m = self.models[self.blocks[b][0]]
        self.pop.last_order[bi] = t
        if m.satisfaction is not None:  # each order satisfies or not, from its own counter-based uniform
            assert self.pop.unsatisfied is not None
            g = self.blocks[b][0]
            p = _sigmoid(self.satisfied_logit(g, t))
            unsat = satisfaction_uniforms(self.sat_key, bi, t, sub) >= p
            self.pop.unsatisfied[bi] = unsat
            if horizon:
                n_un = int(np.count_nonzero(unsat))
                self.acc[b, _SATISFIED] += bi.size - n_un
                self.acc[b, _UNSATISFIED] += n_un
        if horizon:
            acc = self.acc[b]
            acc[_ORDERS] += bi.size
            acc[_REVENUE] += value.sum()
            acc[_MARGIN] += value.sum() * m.margin
            # margin inside each buyer's LTV window, by acquisition week (first orders count too)
            acq = np.where(first, t, self.pop.acquired[bi].astype(np.int64))
            ok = (acq >= 0) & (t - acq < self.ltv_weeks)
            if ok.any():
                self.ltv[b] += np.bincount(acq[ok], weights=value[ok] * m.margin, minlength=self.W)
        if self.recorders:
            for r in self.recorders:
                r.on_orders(b, t, bi, first, value)

    def _enter(
        self, b: int, ci: NDArray[np.intp], new_s: NDArray[np.uint8], fi: NDArray[np.intp], t: int, horizon: bool
    ) -> None:
        """Bookkeeping for agents ``ci`` entering stages ``new_s``; ``fi`` are the first buyers."""
        _, lo, hi = self.blocks[b]
        pop = self.pop
        if COMPILED:  # the same integer updates in one compiled pass (kernel.enter_block)
            enter_block(
                ci, new_s, fi, t, horizon, pop.stage, pop.entered, pop.first_aware, pop.acquired, pop.flags, self.key,
                self.flat, self.cells[b], self.ttp[b], self.acc[b], lo, hi - lo, _ENTER_SLOTS,
            )  # fmt: skip
            return
        acc = self.acc[b]
        flags = pop.flags
        old_key = self.key[ci]
        became_aware = new_s == AWARE
        pop.first_aware[ci[became_aware]] = t
        if fi.size:
            fa = pop.first_aware[fi].astype(np.int64)
            pop.acquired[fi] = t
            known = fa != NEVER
            if horizon:
                self.ttp[b] += np.bincount(t - fa[known], minlength=self.ttp.shape[1])
                acc[_CUSTOMERS] += fi.size
                acc[_COHORT] += int((fa >= 0).sum())
        flags[ci[(new_s >= INTEREST) & (new_s != LOST)]] |= VISITED
        flags[ci[(new_s >= DESIRE) & (new_s != LOST)]] |= CONTACT
        if horizon:
            acc[_AWARE] += int(became_aware.sum())
            acc[_LEADS] += int((new_s == INTEREST).sum())
            acc[_DESIRE] += int((new_s == DESIRE).sum())
            acc[_LOYAL] += int((new_s == LOYAL).sum())
        pop.stage[ci] = new_s
        pop.entered[ci] = t
        new_key = (new_s * 4 + (flags[ci] & 3)).astype(np.uint8)
        self.key[ci] = new_key
        self.flat[ci] = new_s.astype(np.int32) * (hi - lo) + (ci - lo)
        self.cells[b] += np.bincount(new_key, minlength=N_CELLS) - np.bincount(old_key, minlength=N_CELLS)


def _merge(
    hit: NDArray[np.intp],
    x: NDArray[np.float32],
    sent: NDArray[np.intp],
    weights: NDArray[np.float32] | None = None,
) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
    """Bought exposures ``x`` of agents ``hit`` plus one message to each of ``sent`` (indices may repeat:
    one message per trigger campaign; ``weights``: each message's fit, default 1), as sorted unique
    agents and their counts."""
    agents, inv = np.unique(np.concatenate([hit, sent]), return_inverse=True)
    ones = np.ones(sent.size, dtype=np.float32) if weights is None else weights
    counts = np.bincount(inv, weights=np.concatenate([x, ones]))
    return agents, counts.astype(np.float32)


def trigger_uniforms(key: int, agents: NDArray[np.intp], week: int, campaign: int) -> NDArray[np.float64]:
    """A uniform in [0, 1) per agent for the trigger cap's sample of ``campaign`` in ``week``
    (counter-based: independent of blocks and threads)."""
    with np.errstate(over="ignore"):
        x = np.uint64(key) ^ (agents.astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93))
        x = x + np.uint64(((week + 1_000_003) * 0x2545F4914F6CDD1D + campaign * 0x9E3779B97F4A7C15) % (1 << 64))
        x = splitmix(splitmix(x))
    return (x >> np.uint64(11)).astype(np.float64) / 2.0**53


def _sigmoid(x: float) -> float:
    """1 / (1 + exp(-x)), exact 0 and 1 at the clipped logits."""
    return 1.0 / (1.0 + libm.exp(-x)) if x > -700 else 0.0


def _sigmoid32_of(z: NDArray[Any]) -> NDArray[np.float64]:
    """``1 / (1 + exp(-z))`` computed in float32 (:func:`~cjmsim.engine.kernel.sigmoid32`, as the main step),
    returned as float64."""
    p = np.ascontiguousarray(z, dtype=np.float32).reshape(-1).copy()
    sigmoid_array(p, p)
    return p.reshape(np.shape(z)).astype(np.float64)


class SharedDraws:
    """The random numbers of one week for every block, drawn once from one world's streams and read by every
    world stepped together with it (:func:`cjmsim.engine.calendar.run_together`).

    The worlds of one replication's plans (forks of one warm-up) hold the same streams in the same state, and
    a week consumes a fixed amount of each (per block with agents: C x n exposure uniforms, and n journey
    uniforms per journey move), whatever the plan. So the numbers one world draws are those every other
    would draw: drawn once, a week costs each further plan none of them, and each plan's records stay bit
    for bit its own run's. No world writes into them (tests/test_together.py checks it); they are not
    flagged read-only, which would make numba compile every kernel a second time for read-only arrays."""

    def __init__(self, world: World) -> None:
        self.world = world
        steps = max((m.steps for m in world.models), default=1)
        self.exposure: list[NDArray[np.uint16]] = [np.zeros((world.C, 0), dtype=np.uint16)] * world.B
        self.journey: list[list[NDArray[np.float32]]] = [
            [np.zeros(0, dtype=np.float32)] * world.B for _ in range(steps)
        ]

    def draw(self) -> None:
        """Draw the next week's numbers from the world's streams (the world itself then reads them too), on
        its thread pool when it has one (each block has streams of its own: the same numbers either way)."""
        blocks = [b for b, (_, lo, hi) in enumerate(self.world.blocks) if hi > lo]  # an empty block draws nothing
        self.world._each(self._draw, blocks)

    def _draw(self, b: int) -> None:
        """Block ``b``'s numbers of the week."""
        w = self.world
        g, lo, hi = w.blocks[b]
        n = hi - lo
        self.exposure[b] = w.exp_rng[b].uint16(w.C, n)
        for j in range(w.models[g].steps):
            rng = w.tr_rng[b] if j == 0 else w.sub_rng[b]
            assert rng is not None
            self.journey[j][b] = rng.random_float32(n)
