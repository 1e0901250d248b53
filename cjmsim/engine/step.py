"""The journey engine: a SimPy calendar driving one vectorized population step per week.

SimPy keeps time: one process steps the weeks, one process per campaign flight switches the
campaign on and off. The population is a set of numpy arrays (see :mod:`cjmsim.population`)
updated once per week, one segment block at a time, with no Python loop over agents. The order
of operations in a week is fixed: spend -> audiences -> exposures (all channels at once) ->
adstock -> transitions -> orders -> records. ``docs/model.md`` gives every formula.

The engine takes a validated scenario and seeds and returns raw weekly records; it never reads
files, prints, or draws.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import simpy
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from cjmsim.engine.exposure import UNIFORM_LEVELS, allocate_units, exposure_thresholds, hill
from cjmsim.engine.population import CONTACT, NEVER, REACHED, VISITED, Population, build_population
from cjmsim.scenario import STAGES, TRANSITIONS, Scenario

__all__ = ["EVENTS", "LOGIT_CLIP", "Records", "Streams", "make_streams", "order_uniforms", "run_plan"]

UNAWARE, AWARE, INTEREST, DESIRE, CUSTOMER, LOYAL, LOST = range(7)
N_STAGES = len(STAGES)
#: Audience cells: stage x visited bit x contact bit.
N_CELLS = N_STAGES * 4
#: Largest block of agents stepped as one. Blocks bound the per-thread scratch buffers and keep the
#: two threads evenly loaded; between 2^17 and whole segments the speed on hifi is within noise.
CHUNK = 1 << 18
# weekly per-block counters, in this order (names of Records fields)
_ACC = ("reached", "aware", "leads", "desire", "customers", "cohort_customers", "orders", "revenue", "margin", "loyal")
_REACHED, _AWARE, _LEADS, _DESIRE, _CUSTOMERS, _COHORT, _ORDERS, _REVENUE, _MARGIN, _LOYAL = range(len(_ACC))
#: Base probabilities of exactly 0 or 1 become logits of -/+ this: exp(100) overflows float32 to
#: inf, so the probability is exactly 0 or 1 and a rate of 0 never fires (odds times 0 stay 0).
LOGIT_CLIP = 100.0
# the transition each stage's main uniform decides: unaware->aware, ..., customer/loyal: repeat order
_PRIMARY = ("aware", "interest", "desire", "purchase", "repeat", "repeat", "return")
_T = {t: i for i, t in enumerate(TRANSITIONS)}
#: Event names of the event log (``Records.event_log.event`` holds their index). Within one agent
#: and week, events sort in this order (exposures by channel), which is the order they happen in.
EVENTS = ("exposure", "aware", "interest", "desire", "customer", "repeat", "loyal", "lost")
_EV_EXPOSURE, _EV_REPEAT = np.uint8(EVENTS.index("exposure")), np.uint8(EVENTS.index("repeat"))
#: event code of entering each stage (unaware is never entered)
_EV_STAGE = np.array([0] + [EVENTS.index(s) for s in STAGES[1:]], dtype=np.uint8)


def _logit(p: float) -> float:
    if p <= 0:
        return -LOGIT_CLIP
    if p >= 1:
        return LOGIT_CLIP
    return max(-LOGIT_CLIP, min(LOGIT_CLIP, math.log(p / (1 - p))))


def _child(seq: np.random.SeedSequence, j: int) -> np.random.SeedSequence:
    """The j-th child of a SeedSequence, without spawn()'s side effect on its counter."""
    return np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, j), pool_size=seq.pool_size)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _bound(p: float) -> float:
    """A probability bound as the float32 step sees it: below float32 resolution it is 0."""
    return 0.0 if p < 1e-30 else p


@dataclass
class Streams:
    """Seed material of one replication: one SeedSequence per random stream and segment.

    Every plan of a replication is run from the same Streams, so all plans see the same agents
    and the same per-agent-week uniforms (common random numbers).
    """

    population: list[np.random.SeedSequence]
    exposure: list[np.random.SeedSequence]
    transition: list[np.random.SeedSequence]
    order_key: int


def make_streams(seed: int, rep: int, segments: int) -> Streams:
    """Streams for replication ``rep`` of ``seed``: independent children of one SeedSequence."""
    root = np.random.SeedSequence(seed)
    child = root.spawn(rep + 1)[rep]
    pop, exp, tr, orders = child.spawn(4)
    return Streams(
        population=pop.spawn(segments),
        exposure=exp.spawn(segments),
        transition=tr.spawn(segments),
        order_key=int(orders.generate_state(1, dtype=np.uint64)[0]),
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
    extra: dict[str, float] = field(default_factory=dict)
    #: with ``export``: every order in the horizon (agent, week, value), and every pre-purchase
    #: journey that ended in the horizon (path code, converted, value of the first order)
    order_log: pd.DataFrame | None = None
    journey_log: pd.DataFrame | None = None
    #: with ``events``: every event of every agent in the horizon, sorted by (week, agent, event):
    #: ``agent`` (int32), ``segment`` (uint8, segment index), ``week`` (int16), ``event`` (uint8,
    #: index in :data:`EVENTS`), ``channel`` (int8, channel index; -1 for none; segment and channel
    #: are 16-bit beyond 255 segments or 127 channels), ``count``
    #: (float32, exposures that week; NaN unless an exposure), ``value`` (float64, order value;
    #: NaN unless a customer or repeat event)
    event_log: pd.DataFrame | None = None


# --------------------------------------------------------------------------------------------
# per-segment constants


@dataclass
class _SegmentModel:
    rows: list[int]  # the channels this segment responds to (k of them), in channel order
    coef: NDArray[np.float32]  # (7, k + 1 [+ 1]): per stage, betas of its primary transition, base logit[, u]
    churn_coef: NDArray[np.float32]  # (2, k + 1): customer, loyal: churn betas, base logit
    drop: NDArray[np.float32]  # (7,) bound on the non-primary move probability per stage
    loyal: float
    affinity: NDArray[np.float64]  # (C,)
    wom_beta: float
    base_aware_logit: float
    mu: float
    sigma: float
    margin: float


def _segment_models(sc: Scenario, channels: list[str]) -> list[_SegmentModel]:
    C = len(channels)
    out = []
    for seg in sc.segments.values():
        beta = np.zeros((len(TRANSITIONS), C), dtype=np.float64)
        for c, ch in enumerate(channels):
            for tr, mult in seg.odds.get(ch, {}).items():
                beta[_T[tr], c] = math.log(mult)
        base: dict[str, float] = {
            "aware": seg.base.aware,
            "interest": seg.base.interest,
            "desire": seg.base.desire,
            "purchase": seg.base.purchase,
            "return": seg.return_rate,
        }
        coef = np.zeros((N_STAGES, C + 2), dtype=np.float32)
        for s, primary in enumerate(_PRIMARY):
            coef[s, :C] = beta[_T[primary]]
            if s == CUSTOMER:
                p = seg.repeat.customer
            elif s == LOYAL:
                p = seg.repeat.loyal
            else:
                p = base[primary]
            coef[s, C] = _logit(p)
            coef[s, C + 1] = 0.0 if s == LOST else 1.0  # propensity shifts every move but the return
        churn = np.zeros((2, C + 1), dtype=np.float32)
        churn[:, :C] = beta[_T["churn"]]
        churn[0, C] = _logit(seg.churn.customer)
        churn[1, C] = _logit(seg.churn.loyal)
        # keep only the channels that move this segment (and the propensity row when it varies):
        # the logit matmul then reads and writes no more than it needs
        rows = [c for c in range(C) if (beta[:, c] != 0).any()]
        cols = rows + [C] + ([C + 1] if seg.heterogeneity > 0 else [])
        coef = np.ascontiguousarray(coef[:, cols])
        churn = np.ascontiguousarray(churn[:, rows + [C]])
        drop = np.zeros(N_STAGES, dtype=np.float32)
        drop[AWARE], drop[INTEREST], drop[DESIRE] = seg.drop.aware, seg.drop.interest, seg.drop.desire
        # customers and loyal agents who do not order move only if their uniform falls below the
        # largest churn probability the channels can produce (+ loyalty): examine just those
        worst = beta[_T["churn"]].clip(min=0).sum()
        drop[CUSTOMER] = min(1.0, _bound(_sigmoid(_logit(seg.churn.customer) + worst) + seg.loyal))
        drop[LOYAL] = _bound(_sigmoid(_logit(seg.churn.loyal) + worst))
        cv = seg.order_value.cv
        sigma = math.sqrt(math.log1p(cv * cv))
        out.append(
            _SegmentModel(
                rows=rows,
                coef=coef,
                churn_coef=churn,
                drop=drop,
                loyal=seg.loyal,
                affinity=np.array([seg.affinity.get(ch, 1.0) for ch in channels], dtype=np.float64),
                wom_beta=math.log(seg.word_of_mouth),
                base_aware_logit=_logit(seg.base.aware),
                mu=math.log(seg.order_value.mean) - sigma * sigma / 2,
                sigma=sigma,
                margin=seg.margin,
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# campaigns and the calendar


@dataclass
class _Campaign:
    channel: int
    weekly: float  # currency per active week
    segments: NDArray[np.bool_]  # (G,)
    cells: NDArray[np.bool_]  # (28,) audience cells (stage x visited x contact)
    windows: list[tuple[int, int]]
    carry: float = 0.0  # real units still delivering from earlier weeks


def _campaigns(sc: Scenario, plan: str | None, channels: list[str], warmup: bool) -> list[_Campaign]:
    if plan is None:
        return []
    segs = list(sc.segments)
    W = sc.scenario.weeks
    out = []
    for camp in sc.plans[plan].campaigns:
        ch = sc.channels[camp.channel]
        windows = camp.windows_or_empty or [(0, W)]
        active = sum(e - s for s, e in windows)
        weekly = camp.weekly if camp.weekly is not None else (camp.total or 0.0) / active
        if warmup:  # the warm-up runs the plan's weekly spend every warm-up week
            windows = [(-sc.scenario.warmup_weeks, 0)]
        targets = np.array([camp.segments is None or s in camp.segments for s in segs])
        stages = set(camp.stages or ch.stages) & set(ch.stages)
        cells = np.zeros(N_CELLS, dtype=bool)
        for st in stages:
            s = STAGES.index(st)
            for bits in range(4):
                if ch.requires == "visited" and not bits & VISITED:
                    continue
                if ch.requires == "contact" and not bits & CONTACT:
                    continue
                cells[s * 4 + bits] = True
        out.append(_Campaign(channels.index(camp.channel), weekly, targets, cells, windows))
    return out


def _calendar(env: simpy.Environment, campaigns: list[_Campaign], active: set[int]) -> None:
    """One SimPy process per campaign flight: switch it on at its start, off at its end."""

    def flight(k: int, start: int, end: int):  # type: ignore[no-untyped-def]
        yield env.timeout(start - env.now)
        active.add(k)
        yield env.timeout(end - start)
        active.discard(k)

    for k, camp in enumerate(campaigns):
        for s, e in camp.windows:
            env.process(flight(k, s, e))


# --------------------------------------------------------------------------------------------
# order values: counter-based, so the same agent and week give the same value in every plan

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)


def _splitmix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    x = x + _M1
    x = (x ^ (x >> np.uint64(30))) * _M2
    x = (x ^ (x >> np.uint64(27))) * _M3
    return x ^ (x >> np.uint64(31))


def order_uniforms(key: int, agent: NDArray[np.int64], week: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two uniforms in (0, 1) per (agent, week), from a counter-based hash of the stream key."""
    with np.errstate(over="ignore"):
        base = np.uint64(key) ^ (agent.astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93))
        base = base + np.uint64((week + 1_000_003) * 0x2545F4914F6CDD1D % (1 << 64))
        a = _splitmix(base)
        b = _splitmix(a)
    scale = 1.0 / 2.0**53
    return ((a >> np.uint64(11)).astype(np.float64) + 0.5) * scale, (
        (b >> np.uint64(11)).astype(np.float64) + 0.5
    ) * scale


# --------------------------------------------------------------------------------------------
# the weekly step


class _World:
    """The state of one plan x replication run and its weekly step."""

    def __init__(
        self,
        sc: Scenario,
        streams: Streams,
        plan: str | None,
        agents: int,
        weeks: int,
        export: bool = False,
        events: bool = False,
    ):
        self.sc = sc
        self.channels = list(sc.channels)
        self.chan = [sc.channels[c] for c in self.channels]
        C = self.C = len(self.channels)
        G = self.G = len(sc.segments)
        self.W = weeks
        self.warm = sc.scenario.warmup_weeks
        self.weight = sc.scenario.population / agents
        self.models = _segment_models(sc, self.channels)
        self.affinity = np.array([m.affinity for m in self.models]).reshape(G, C)
        self.pop: Population = build_population(sc, agents, [np.random.default_rng(s) for s in streams.population])
        self.order_key = streams.order_key
        N = agents
        pop = self.pop
        # blocks: each segment's agents cut into chunks of at most CHUNK (bounded scratch memory, even
        # load on the threads); each block has its own random streams
        self.blocks: list[tuple[int, int, int]] = []  # (segment, lo, hi)
        self.exp_rng, self.tr_rng = [], []
        for g in range(G):
            lo, hi = int(pop.bounds[g]), int(pop.bounds[g + 1])
            pieces = max(1, -(-(hi - lo) // CHUNK))
            cuts = np.linspace(lo, hi, pieces + 1).round().astype(int)
            for j in range(pieces):
                self.blocks.append((g, int(cuts[j]), int(cuts[j + 1])))
                self.exp_rng.append(np.random.default_rng(_child(streams.exposure[g], j)))
                self.tr_rng.append(np.random.default_rng(_child(streams.transition[g], j)))
        B = self.B = len(self.blocks)
        self.block_seg = np.array([g for g, _, _ in self.blocks], dtype=np.intp)
        self.seg_start = np.searchsorted(self.block_seg, np.arange(G))  # blocks are in segment order
        # persistent buffers, allocated once: adstock and the saturation matrix (+ constant, propensity)
        self.adstock = [np.zeros((C, hi - lo), dtype=np.float32) for _, lo, hi in self.blocks]
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
        self.key = (pop.stage * 4 + (pop.flags & 3)).astype(np.uint8)  # audience cell
        # index of each agent's own stage row in its block's (7, n) logit matrix
        self.flat = np.empty(N, dtype=np.int32)
        self.cells = np.zeros((B, N_CELLS), dtype=np.float64)  # agents per audience cell, per block
        for b, (_, lo, hi) in enumerate(self.blocks):
            self.flat[lo:hi] = pop.stage[lo:hi].astype(np.int32) * (hi - lo) + np.arange(hi - lo, dtype=np.int32)
            self.cells[b] = np.bincount(self.key[lo:hi], minlength=N_CELLS)
        self.exposed = np.zeros((B, C), dtype=bool)
        self.nmax = max((hi - lo for _, lo, hi in self.blocks), default=0)
        self.local = threading.local()  # scratch buffers, one set per worker thread
        # largest blocks first, so two threads finish together
        self.order = sorted(range(B), key=lambda b: -(self.blocks[b][2] - self.blocks[b][1]))
        # per-block accumulators, summed into segments after each week in a fixed order
        self.acc = np.zeros((B, len(_ACC)))
        self.units_cell = np.zeros((B, C, N_CELLS))
        self.ttp = np.zeros((B, weeks + self.warm + 1))
        self.ltv = np.zeros((B, weeks))
        # exports: each agent's path of channel touches in its current journey, 4 bits a channel
        # (code c + 1), consecutive repeats collapsed, the latest 16 touches kept
        self.paths = np.zeros(N, dtype=np.uint64) if export else None
        self.orders_out: list[list[tuple[Any, ...]]] = [[] for _ in range(B)]
        self.journeys_out: list[list[tuple[Any, ...]]] = [[] for _ in range(B)]
        # event log, per block: (agents, week, event code(s), channel code, counts | None, values | None)
        self.events_out: list[list[tuple[Any, ...]]] | None = [[] for _ in range(B)] if events else None
        self.pool: ThreadPoolExecutor | None = None
        self.decay = np.array([np.float32(ch.adstock.decay) for ch in self.chan], dtype=np.float32)
        self.price = np.array([ch.cost.unit_price for ch in self.chan])
        self.cap = [ch.frequency_cap for ch in self.chan]
        self.carry_rate = np.array([ch.carryover.rate for ch in self.chan])
        self.ltv_weeks = sc.scenario.ltv_weeks
        # records
        W = weeks
        z = np.zeros
        self.rec = Records(
            weight=self.weight,
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
            ttp=z((G, W + self.warm + 1)),
            ltv_margin=z((W, G)),
            loyal=z((W, G)),
            units_stage=z((W, G, C, N_STAGES)),
        )
        self.plan_campaigns = _campaigns(sc, plan, self.channels, warmup=False)
        warm_plan = sc.scenario.warmup_plan
        self.warm_campaigns = _campaigns(sc, warm_plan, self.channels, warmup=True) if self.warm else []

    # ---- spend -> audiences -> mean exposures per cell

    def _lambdas(
        self, camps: list[_Campaign], active: set[int]
    ) -> tuple[NDArray[np.float64], list[tuple[int, NDArray[np.float64], float]]]:
        """Mean exposures per (segment, channel, cell), and each active campaign's share table."""
        G, C = self.G, self.C
        lam = np.zeros((G, C, N_CELLS))
        parts = []
        cells = self.seg_cells()
        for k, camp in enumerate(camps):
            # a campaign delivers while it is on, and afterwards while its carried units last
            if k not in active and camp.carry <= 0:
                continue
            c = camp.channel
            budget = camp.weekly if k in active else 0.0
            units_real = budget / self.price[c] + camp.carry
            counts = (cells[:, camp.cells].sum(axis=1)) * camp.segments  # (G,)
            lam_g = allocate_units(units_real / self.weight, counts, self.affinity[:, c], self.cap[c])
            cell_lam = lam_g[:, None] * camp.cells[None, :]  # (G, 28)
            lam[:, c, :] += cell_lam
            parts.append((k, cell_lam, budget))
        return lam, parts

    def week(self, t: int, camps: list[_Campaign], active: set[int]) -> None:
        """Simulate week ``t`` (negative during the warm-up) for every segment block."""
        horizon = t >= 0
        lam, parts = self._lambdas(camps, active)
        cap = self.cap
        tables: dict[tuple[int, int], tuple[NDArray[np.uint16], NDArray[np.bool_], bool]] = {}
        for g in range(self.G):
            for c in range(self.C):
                row = lam[g, c]
                if not row.any():
                    continue
                live = row > 0
                values = np.unique(row[live])
                if values.size == 1:  # one mean for every reachable cell: scalar thresholds
                    tables[g, c] = (exposure_thresholds(values, cap[c])[0], live, True)
                else:
                    tables[g, c] = (exposure_thresholds(row, cap[c]), live, False)
        loyal_share = self.seg_cells().reshape(self.G, N_STAGES, 4).sum(axis=2)
        loyal_share = loyal_share[:, LOYAL] / np.maximum(loyal_share.sum(axis=1), 1)
        shares = [float(x) for x in loyal_share]
        self.acc[:] = 0.0
        self.units_cell[:] = 0.0
        if self.pool is None:
            for b in self.order:
                self._step_block(b, t, horizon, tables, shares)
        else:  # blocks are independent within a week: same result whatever the thread timing
            jobs = [self.pool.submit(self._step_block, b, t, horizon, tables, shares) for b in self.order]
            for job in jobs:
                job.result()
        units_cell = self._by_segment(self.units_cell)  # (G, C, 28)
        # spend actually bought: delivered units priced, never above plan; carryover units are free
        W = t
        for k, cell_lam, budget in parts:
            camp = camps[k]
            c = camp.channel
            share = np.divide(cell_lam, lam[:, c, :], out=np.zeros_like(cell_lam), where=lam[:, c, :] > 0)
            delivered_g = (units_cell[:, c, :] * share).sum(axis=1) * self.weight  # real units per segment
            delivered = float(delivered_g.sum())
            paid_units = min(max(delivered - camp.carry, 0.0), budget / self.price[c])
            spend = paid_units * self.price[c]
            camp.carry = self.carry_rate[c] * delivered
            if camp.carry * self.price[c] < 1e-6:  # nothing worth a kopeck is left
                camp.carry = 0.0
            if horizon:
                self.rec.planned[W, c] += budget
                if delivered > 0:
                    self.rec.spend[W, :, c] += spend * delivered_g / delivered
        if horizon:
            self.rec.units[W] += units_cell.sum(axis=2) * self.weight
            self.rec.units_stage[W] = units_cell.reshape(self.G, self.C, N_STAGES, 4).sum(axis=3) * self.weight
            self.rec.stage[W] = self.seg_cells().reshape(self.G, N_STAGES, 4).sum(axis=2)
            acc = self._by_segment(self.acc)  # (G, len(_ACC))
            for j, name in enumerate(_ACC):
                getattr(self.rec, name)[W] = acc[:, j]

    def _by_segment(self, per_block: NDArray[np.float64]) -> NDArray[np.float64]:
        """Sum per-block arrays into segments (blocks are stored in segment order)."""
        return np.add.reduceat(per_block, self.seg_start, axis=0)

    def seg_cells(self) -> NDArray[np.float64]:
        """Agents per (segment, audience cell) at this moment."""
        return self._by_segment(self.cells)

    def finish(self) -> Records:
        """Fold the per-block run-long accumulators into the records and return them."""
        self.rec.ttp[:] = self._by_segment(self.ttp)
        self.rec.ltv_margin[:] = self._by_segment(self.ltv).T
        if self.paths is not None:
            orders = [(a, np.full(a.size, t), v) for block in self.orders_out for a, t, v in block]
            self.rec.order_log = pd.DataFrame(
                {
                    "agent": np.concatenate([o[0] for o in orders]) if orders else np.empty(0, np.int64),
                    "week": np.concatenate([o[1] for o in orders]) if orders else np.empty(0, np.int64),
                    "value": np.concatenate([o[2] for o in orders]) if orders else np.empty(0),
                }
            ).sort_values(["week", "agent"], kind="stable", ignore_index=True)
            js = [j for block in self.journeys_out for j in block]
            self.rec.journey_log = pd.DataFrame(
                {
                    "path": np.concatenate([j[0] for j in js]) if js else np.empty(0, np.uint64),
                    "converted": np.concatenate([np.full(j[0].size, j[1]) for j in js]) if js else np.empty(0, bool),
                    "value": np.concatenate([j[2] for j in js]) if js else np.empty(0),
                }
            )
        if self.events_out is not None:
            self.rec.event_log = self._event_log(self.events_out)
            self.events_out = [[] for _ in range(self.B)]
        return self.rec

    def _event_log(self, per_block: list[list[tuple[Any, ...]]]) -> pd.DataFrame:
        """One table of the logged events, sorted by (week, agent, event, channel): the same for any threads."""
        entries = [(b, *e) for b, block in enumerate(per_block) for e in block]
        sizes = np.array([e[1].size for e in entries], dtype=np.int64)

        def column(make: Callable[[tuple[Any, ...]], NDArray[Any]], dtype: Any) -> NDArray[Any]:
            return np.concatenate([make(e) for e in entries]) if entries else np.empty(0, dtype)

        seg_type, chan_type = (np.uint8 if self.G < 256 else np.uint16), (np.int8 if self.C < 128 else np.int16)
        agent = column(lambda e: e[1], np.int32)
        week = np.repeat(np.array([e[2] for e in entries], dtype=np.int16), sizes)
        event = column(lambda e: np.broadcast_to(np.asarray(e[3], dtype=np.uint8), e[1].shape), np.uint8)
        chan = np.repeat(np.array([e[4] for e in entries], dtype=chan_type), sizes)
        # unique per row: week, agent, then exposures by channel, then the other events in EVENTS order
        key = week.astype(np.int64)
        key *= len(self.pop.stage)
        key += agent
        key *= self.C + len(EVENTS)
        key += np.where(event == _EV_EXPOSURE, chan, self.C + event.astype(np.int64))
        order = np.argsort(key, kind="stable")
        del key
        # sort one column at a time (the log is large: keep one unsorted copy alive at most)
        seg = np.repeat(self.block_seg[[e[0] for e in entries]].astype(seg_type), sizes)[order]
        count = column(lambda e: np.full(e[1].size, np.nan, np.float32) if e[5] is None else e[5], np.float32)[order]
        value = column(lambda e: np.full(e[1].size, np.nan) if e[6] is None else e[6], np.float64)[order]
        data = {"agent": agent[order], "segment": seg, "week": week[order], "event": event[order]}
        data.update(channel=chan[order], count=count, value=value)
        return pd.DataFrame(data, copy=False)

    @staticmethod
    def _hits_single(
        u: NDArray[np.uint16], t0: int, live: NDArray[np.bool_], key: NDArray[np.uint8], n: int
    ) -> NDArray[np.intp]:
        """Agents with at least one exposure when every live cell has the same threshold t0."""
        if t0 >= UNIFORM_LEVELS - 1:
            return np.empty(0, dtype=np.intp)
        if live.all():
            return np.flatnonzero(u > t0)
        if t0 < UNIFORM_LEVELS // 3:  # most agents pass: one dense lookup beats filtering
            thr = np.take(np.where(live, t0, UNIFORM_LEVELS - 1).astype(np.uint16), key)
            return np.flatnonzero(u > thr)
        cand = np.flatnonzero(u > t0)
        return cand[live[key[cand]]]

    @staticmethod
    def _hits_cells(u: NDArray[np.uint16], t0: NDArray[np.uint16], key: NDArray[np.uint8]) -> NDArray[np.intp]:
        """Agents with at least one exposure, thresholds per audience cell."""
        low = int(t0.min())
        if low >= UNIFORM_LEVELS - 1:
            return np.empty(0, dtype=np.intp)
        cand = np.flatnonzero(u > low)
        if int(t0.max()) == low:
            return cand
        return cand[u[cand] > t0[key[cand]]]

    def _buffers(self) -> dict[str, NDArray[np.float32]]:
        b = getattr(self.local, "b", None)
        if b is None:
            nmax = self.nmax
            b = self.local.b = {
                "logits": np.empty(N_STAGES * nmax, dtype=np.float32),
                "p": np.empty(nmax, dtype=np.float32),
                "tmp": np.empty(nmax, dtype=np.float32),
                "u": np.empty(nmax, dtype=np.float32),
            }
        return b

    def _step_block(self, b: int, t: int, horizon: bool, tables: dict, loyal_shares: list[float]) -> None:
        g, lo, hi = self.blocks[b]
        n = hi - lo
        if n == 0:
            return
        loyal_share = loyal_shares[g]
        acc = self.acc[b]
        m = self.models[g]
        pop = self.pop
        C = self.C
        buf = self._buffers()
        key = self.key[lo:hi]
        flags = pop.flags[lo:hi]
        # ---- exposures for all channels at once, from one 16-bit uniform per agent and channel
        raw = self.exp_rng[b].bit_generator.random_raw((C * n + 3) // 4)
        U = raw.view(np.uint16)[: C * n].reshape(C, n)
        for c in range(C):
            A = self.adstock[b][c]
            if self.exposed[b, c] and self.decay[c] != 1:
                np.multiply(A, self.decay[c], out=A)
            spec = tables.get((g, c))
            if spec is None:
                continue
            tab, live, single = spec
            if single:
                hit = self._hits_single(U[c], tab[0], live, key, n)
            else:
                hit = self._hits_cells(U[c], tab[:, 0], key)
            if hit.size == 0:
                continue
            self.exposed[b, c] = True
            uh = U[c][hit]
            kh = key[hit]
            x = np.ones(hit.size, dtype=np.float32)
            if single:
                for k in range(1, tab.size):  # x = 1 + #{k >= 1: U > T_k}; thresholds rise with k
                    if tab[k] >= UNIFORM_LEVELS - 1:
                        break
                    x += uh > tab[k]
            else:
                cur = np.arange(hit.size)
                for k in range(1, tab.shape[1]):
                    cur = cur[uh[cur] > tab[kh[cur], k]]
                    if cur.size == 0:
                        break
                    x[cur] += 1
            A[hit] += x
            if horizon and self.events_out is not None:
                self.events_out[b].append(((hit + lo).astype(np.int32), t, _EV_EXPOSURE, c, x, None))
            if self.paths is not None:
                code = np.uint64(c + 1)
                path = self.paths[lo:hi]
                ph = path[hit]
                new_touch = (ph & np.uint64(15)) != code
                path[hit[new_touch]] = (ph[new_touch] << np.uint64(4)) | code
            self.units_cell[b, c] += np.bincount(kh, weights=x, minlength=N_CELLS)
            if horizon:
                fresh = hit[(flags[hit] & REACHED) == 0]
                flags[fresh] |= REACHED
                acc[_REACHED] += fresh.size
        # ---- adstock -> Hill saturation -> logits of every agent's primary transition
        sat = self.sat[b]
        for j, c in enumerate(m.rows):
            if self.exposed[b, c]:
                ch = self.chan[c]
                hill(self.adstock[b][c], ch.saturation.half, ch.saturation.slope, out=sat[j])
        coef = m.coef
        if m.wom_beta != 0.0:
            coef = coef.copy()
            coef[UNAWARE, len(m.rows)] = m.base_aware_logit + m.wom_beta * loyal_share
        flat_logits = buf["logits"][: N_STAGES * n]
        np.matmul(coef, sat, out=flat_logits.reshape(N_STAGES, n))
        p = buf["p"][:n]
        np.take(flat_logits, self.flat[lo:hi], out=p)
        # p = 1 / (1 + exp(-logit))
        np.negative(p, out=p)
        with np.errstate(over="ignore"):
            np.exp(p, out=p)
        p += 1.0
        np.reciprocal(p, out=p)
        # ---- who moves: u < p (primary) or u < p + (1 - p) * d (drop / churn / loyalty)
        u = buf["u"][:n]
        self.tr_rng[b].random(n, dtype=np.float32, out=u)
        stage = pop.stage[lo:hi]
        hi_p = buf["tmp"][:n]
        np.take(m.drop, stage, out=hi_p)
        hi_p *= 1.0 - p
        hi_p += p
        mv = np.flatnonzero(u < hi_p)
        if mv.size:
            self._move(b, mv, p[mv], u[mv], t, horizon)

    def _move(
        self,
        b: int,
        mv: NDArray[np.int64],
        p: NDArray[np.float32],
        u: NDArray[np.float32],
        t: int,
        horizon: bool,
    ) -> None:
        """Transitions and orders for the agents whose uniform says they may move (indices in block)."""
        g, lo, hi = self.blocks[b]
        n = hi - lo
        acc = self.acc[b]
        m = self.models[g]
        pop = self.pop
        idx = mv + lo
        st = pop.stage[idx]
        adv = u < p
        new = st.copy()
        pre = st <= DESIRE
        # pre-purchase: advance, or (not advancing but in the subset) drop to lost
        new[pre & adv] += 1
        new[pre & ~adv & (st > UNAWARE)] = LOST
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
            with np.errstate(over="ignore"):  # float32 like the main step: a churn rate of 0 gives exactly 0
                pc = (1.0 / (1.0 + np.exp(-z.astype(np.float32)))).astype(np.float64)
            churn = v < pc
            loyal = (~is_loyal) & ~churn & (v < pc + m.loyal)
            sub = new[pi]
            sub[churn] = LOST
            sub[loyal] = LOYAL
            new[pi] = sub
        changed = new != st
        first = (st == DESIRE) & (new == CUSTOMER)
        # ---- orders: first orders and repeat orders, values from counter-based uniforms
        buyers = first | repeat
        if buyers.any():
            bi = idx[buyers]
            u1, u2 = order_uniforms(self.order_key, bi, t)
            z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
            value = np.exp(m.mu + m.sigma * z)
            if horizon:
                acc[_ORDERS] += bi.size
                acc[_REVENUE] += value.sum()
                acc[_MARGIN] += value.sum() * m.margin
                # margin inside each buyer's LTV window, by acquisition week (first orders count too)
                acq = np.where(first[buyers], t, pop.acquired[bi].astype(np.int64))
                ok = (acq >= 0) & (t - acq < self.ltv_weeks)
                if ok.any():
                    self.ltv[b] += np.bincount(acq[ok], weights=value[ok] * m.margin, minlength=self.W)
                if self.paths is not None:
                    self.orders_out[b].append((bi.copy(), t, value))
                    fb = first[buyers]
                    self.journeys_out[b].append((self.paths[bi[fb]].copy(), True, value[fb]))
        if self.paths is not None:
            if horizon:  # a journey lost before its first order: a path without conversion
                dropped = idx[pre & (new == LOST)]
                if dropped.size:
                    self.journeys_out[b].append((self.paths[dropped].copy(), False, np.zeros(dropped.size)))
            self.paths[idx[first | (pre & (new == LOST))]] = 0  # the next journey starts untouched
        if horizon and self.events_out is not None:  # repeat orders, then every stage entered
            val = np.full(idx.size, np.nan)
            if buyers.any():
                val[buyers] = value
            if repeat.any():
                self.events_out[b].append((idx[repeat].astype(np.int32), t, _EV_REPEAT, -1, None, val[repeat]))
            if changed.any():  # only a first order ("customer") carries a value among stage changes
                codes = _EV_STAGE[new[changed]]
                vals = np.where(first[changed], val[changed], np.nan)
                self.events_out[b].append((idx[changed].astype(np.int32), t, codes, -1, None, vals))
        # ---- bookkeeping for agents whose stage changed
        if not changed.any():
            return
        ci = idx[changed]
        new_s = new[changed]
        flags = pop.flags
        old_key = self.key[ci]
        became_aware = new_s == AWARE
        pop.first_aware[ci[became_aware]] = t
        if first.any():
            fi = idx[first]
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
        new_key = (new_s * 4 + (flags[ci] & 3)).astype(np.uint8)
        self.key[ci] = new_key
        local = ci - lo
        self.flat[ci] = new_s.astype(np.int32) * n + local
        self.cells[b] += np.bincount(new_key, minlength=N_CELLS) - np.bincount(old_key, minlength=N_CELLS)


def run_plan(
    scenario: Scenario,
    plan: str | None,
    streams: Streams,
    agents: int,
    weeks: int,
    on_week: Callable[[int], None] | None = None,
    threads: int | None = None,
    export: bool = False,
    events: bool = False,
) -> Records:
    """Simulate one plan (None = no marketing) for one replication and return its weekly records.

    SimPy drives the calendar: the warm-up plan's flight runs over the warm-up weeks, the plan's
    campaign flights switch on and off at their windows, and the week clock steps the population
    at mid-week, after the week's switches. ``threads`` (default: the machine's cores, at most
    4) step segment blocks concurrently; results do not depend on it. ``export`` logs orders and
    journey paths (``Records.order_log``, ``journey_log``), ``events`` every exposure, stage change
    and repeat order of the horizon (``Records.event_log``); neither changes any result.
    """
    if threads is None:
        threads = min(os.cpu_count() or 1, 4)
    world = _World(scenario, streams, plan, agents, weeks, export=export, events=events)
    if threads > 1 and agents >= 50_000 and world.B > 1:
        world.pool = ThreadPoolExecutor(max_workers=threads)
    try:
        with threadpool_limits(limits=1, user_api="blas"):  # small matmuls: BLAS threads only contend
            _run_calendar(world, weeks, on_week)
    finally:
        if world.pool is not None:
            world.pool.shutdown()
    return world.finish()


def _run_calendar(world: _World, weeks: int, on_week: Callable[[int], None] | None) -> None:
    warm = world.warm
    env = simpy.Environment(initial_time=-warm)
    active: set[int] = set()
    # warm-up and plan campaigns share one list, so carryover bought in the warm-up keeps working
    campaigns = world.warm_campaigns + world.plan_campaigns
    _calendar(env, campaigns, active)

    def clock():  # type: ignore[no-untyped-def]
        yield env.timeout(0.5)
        for t in range(-warm, weeks):
            if t == 0:
                world.pop.flags &= np.uint8(~REACHED & 0xFF)
            world.week(t, campaigns, active)
            if on_week is not None:
                on_week(t)
            yield env.timeout(1)

    env.process(clock())
    env.run()
