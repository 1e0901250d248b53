"""The scenario compiled for the step: per-segment model tables and campaigns as arrays.

Done once per run, before the first week: the step then reads only numbers (logit coefficients,
bounds, audience-cell masks), never the scenario's models.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from cjmsim.engine import libm
from cjmsim.engine.libm import exp_array, expm1_array, log_array, pow_array
from cjmsim.engine.population import (
    AGE_CAP,
    AWARE,
    CONTACT,
    CUSTOMER,
    DESIRE,
    INTEREST,
    LOST,
    LOYAL,
    N_CELLS,
    N_STAGES,
    VISITED,
)
from cjmsim.scenario import (
    STAGES,
    TRANSITIONS,
    TRIGGER_EVENTS,
    WEEKS_PER_YEAR,
    Scenario,
    week_of_year,
)

__all__ = [
    "CYCLE_TABLE",
    "Capacities",
    "LOGIT_CLIP",
    "clipped_logit",
    "SEASON_CAP",
    "Calendar",
    "SatisfactionModel",
    "CompiledCampaign",
    "PlanInterventions",
    "SegmentModel",
    "calendar",
    "capacities",
    "compile_campaigns",
    "compile_interventions",
    "cycle_logits",
    "message_fit",
    "satisfaction_model",
    "segment_models",
]

#: Base probabilities of exactly 0 or 1 become logits of -/+ this: exp(100) overflows float32 to
#: inf, so the probability is exactly 0 or 1 and a rate of 0 never fires (odds times 0 stay 0).
LOGIT_CLIP = 100.0
# the transition each stage's main uniform decides: unaware->aware, ..., customer/loyal: repeat order
_PRIMARY = ("aware", "interest", "desire", "purchase", "repeat", "repeat", "return")
_T = {t: i for i, t in enumerate(TRANSITIONS)}
#: The stages whose drop-out each drop odds key shapes (barriers; ``loyal`` shapes customer -> loyal).
_DROP_STAGES = {
    "drop": (AWARE, INTEREST, DESIRE),
    "drop_aware": (AWARE,),
    "drop_interest": (INTEREST,),
    "drop_desire": (DESIRE,),
}


def _ln(x: float) -> float:
    """The natural logarithm by :func:`cjmsim.engine.libm.log` (the same bits on every machine)."""
    return float(libm.log(float(x)))


def _ln1p(x: float) -> float:
    """log(1 + x) by :func:`cjmsim.engine.libm.log1p`."""
    return float(libm.log1p(float(x)))


def _exp(x: float) -> float:
    """e**x by :func:`cjmsim.engine.libm.exp`."""
    return float(libm.exp(float(x)))


def clipped_logit(p: float) -> float:
    """log(p / (1 - p)), clipped to +-LOGIT_CLIP (0 and 1 included): how every base rate is compiled."""
    if p <= 0:
        return -LOGIT_CLIP
    if p >= 1:
        return LOGIT_CLIP
    return max(-LOGIT_CLIP, min(LOGIT_CLIP, _ln(p / (1 - p))))


_logit = clipped_logit


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + _exp(-x))


def _bound(p: float) -> float:
    """A probability bound as the float32 step sees it: below float32 resolution it is 0."""
    return 0.0 if p < 1e-30 else p


#: Length of a purchase cycle's logit table over the weeks D since the last order: the oldest initial
#: age, the longest horizon and warm-up, and one; larger D read the last entry.
CYCLE_TABLE = AGE_CAP + 1040 + 520 + 2


def cycle_logits(weeks: float, shape: float, constant: float, size: int = CYCLE_TABLE) -> NDArray[np.float32]:
    """logit p(D) for D = 0..size-1: p = 1 - (1 - constant)(1 - h(D)), h(D) = 1 - S(D)/S(D-1) the
    discrete Weibull hazard (h(0) = 0), clipped to +/- LOGIT_CLIP like every base rate."""
    d = np.arange(size, dtype=np.float64)
    lam = weeks / math.gamma(1.0 + 1.0 / shape)
    x = pow_array(d / lam, shape)
    step = np.concatenate([[0.0], np.diff(x)])  # -log(1 - h(D)) = x(D) - x(D - 1), exact for large D
    log_q = step * -1.0 + (_ln1p(-constant) if constant < 1 else -np.inf)  # log(1 - p)
    with np.errstate(divide="ignore"):
        log_p = log_array(-expm1_array(log_q))
    z = np.clip(log_p - log_q, -LOGIT_CLIP, LOGIT_CLIP)
    return np.nan_to_num(z, nan=-LOGIT_CLIP).astype(np.float32)


def _pow_of(base: float, exponents: NDArray[np.float64]) -> NDArray[np.float64]:
    """``base ** exponents`` for a base > 0, as exp(exponent * log(base)) (:mod:`cjmsim.engine.libm`)."""
    return exp_array(np.asarray(exponents, dtype=np.float64) * _ln(base))


@dataclass
class SatisfactionModel:
    """A segment's satisfaction as the step reads it (docs/model.md, Satisfaction): the logit of the
    share of orders that leave the customer satisfied, and the log odds multipliers while the latest
    order left them unsatisfied."""

    logit: float  # logit of the rate of satisfied orders (LOGIT_CLIP at 0 and 1)
    churn: float  # log odds multiplier on churn (customer and loyal)
    loyal: float  # the customer -> loyal probability while unsatisfied (the odds applied to ``loyal``)
    repeat: float  # log odds multiplier on the repeat order's logit
    back: float  # log odds multiplier on the return (lost -> aware)
    wom: float  # weight of the unsatisfied customers' share in the word-of-mouth driver
    loyal_odds: float = 0.0  # log odds multiplier on customer -> loyal (with channels' loyal odds: on their logit)
    offsets: NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, dtype=np.float32))  # (7,) by stage


def satisfaction_model(sc: Scenario, g: int) -> SatisfactionModel | None:
    """Segment ``g``'s satisfaction compiled (None: the segment has none)."""
    seg = list(sc.segments.values())[g]
    sat = seg.satisfaction
    if sat is None:
        return None
    odds = {k: _ln(v) for k, v in sat.unsatisfied.items()}
    loyal = seg.loyal if "loyal" not in odds else _sigmoid(_logit(seg.loyal) + odds["loyal"])
    out = SatisfactionModel(
        logit=_logit(sat.rate),
        churn=odds.get("churn", 0.0),
        loyal=_bound(loyal) if 0 < seg.loyal < 1 else seg.loyal,
        repeat=odds.get("repeat", 0.0),
        back=odds.get("return", 0.0),
        wom=sat.word_of_mouth,
        loyal_odds=odds.get("loyal", 0.0),
    )
    # the unsatisfied agent's offset on its primary logit, by stage: repeat (customer, loyal), return (lost)
    out.offsets = np.zeros(N_STAGES, dtype=np.float32)
    out.offsets[CUSTOMER] = out.offsets[LOYAL] = out.repeat
    out.offsets[LOST] = out.back
    return out


@dataclass
class SegmentModel:
    """One segment's transition model as the step reads it (logit coefficients over its channels)."""

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
    # purchase cycle: (2, CYCLE_TABLE) logit p(D) of customers, loyal (their base column is then 0)
    cycle: NDArray[np.float32] | None = None
    steps: int = 1  # journey moves per week
    # barriers (channels' drop and loyal odds; docs/model.md, Barriers): None when no channel shapes them
    drop_coef: NDArray[np.float32] | None = None  # (7, k): per stage, drop betas over the rows' channels
    drop_base: NDArray[np.float32] | None = None  # (7,) the base weekly drop-out per stage (0: no drop)
    drop_raise: NDArray[np.float64] | None = None  # (7,) per stage, the sum of the drop betas above 0
    loyal_coef: NDArray[np.float32] | None = None  # (k,) customer -> loyal betas over the rows' channels
    loyal_logit: float = 0.0  # logit(loyal), with loyal_coef
    satisfaction: SatisfactionModel | None = None  # None: every order satisfies (docs/model.md, Satisfaction)


def segment_models(sc: Scenario, channels: list[str]) -> list[SegmentModel]:
    """The model table of every segment, in segment order, over ``channels``."""
    C = len(channels)
    out: list[SegmentModel] = []
    for seg in sc.segments.values():
        beta = np.zeros((len(TRANSITIONS), C), dtype=np.float64)
        dbeta = np.zeros((N_STAGES, C), dtype=np.float64)  # barriers: drop betas per stage
        lbeta = np.zeros(C, dtype=np.float64)  # barriers: customer -> loyal betas
        for c, ch in enumerate(channels):
            for tr, mult in seg.odds.get(ch, {}).items():
                if tr == "loyal":
                    lbeta[c] = _ln(mult)
                elif tr in _DROP_STAGES:  # drop and drop_STAGE multiply: their logs add
                    for st in _DROP_STAGES[tr]:
                        dbeta[st, c] += _ln(mult)
                else:
                    beta[_T[tr], c] = _ln(mult)
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
        rows = [c for c in range(C) if (beta[:, c] != 0).any() or (dbeta[:, c] != 0).any() or lbeta[c] != 0]
        cols = rows + [C] + ([C + 1] if seg.heterogeneity > 0 else [])
        cycle = None
        if seg.repeat.cycle is not None:  # the logit of p(D) is gathered per agent and added in the step
            cyc = seg.repeat.cycle
            cycle = np.stack(
                [
                    cycle_logits(cyc.weeks, cyc.shape, seg.repeat.customer),
                    cycle_logits(cyc.weeks, cyc.shape, seg.repeat.loyal),
                ]
            )
            coef[CUSTOMER, C] = coef[LOYAL, C] = 0.0
        coef = np.ascontiguousarray(coef[:, cols])
        churn = np.ascontiguousarray(churn[:, rows + [C]])
        drop = np.zeros(N_STAGES, dtype=np.float32)
        drop[AWARE], drop[INTEREST], drop[DESIRE] = seg.drop.aware, seg.drop.interest, seg.drop.desire
        base_drop = drop.copy()
        raise_drop = dbeta.clip(min=0).sum(axis=1)  # (7,) the most drop odds > 1 can add, per stage
        for st in (AWARE, INTEREST, DESIRE):  # with drop odds > 1 the bound is the worst case, like churn's
            if raise_drop[st] > 0:
                worst_drop = _sigmoid(_logit(float(base_drop[st])) + float(raise_drop[st]))
                drop[st] = min(1.0, _bound(worst_drop) * (1 + 1e-6))  # a float32 rounding above the real one
        # customers and loyal agents who do not order move only if their uniform falls below the
        # largest churn probability the channels can produce (+ loyalty): examine just those
        worst = beta[_T["churn"]].clip(min=0).sum()
        sat = satisfaction_model(sc, len(out))
        most_loyal = seg.loyal
        if sat is not None:  # an unsatisfied customer's churn and loyalty odds can be higher: widen the bound
            worst += max(sat.churn, 0.0)
            most_loyal = max(most_loyal, sat.loyal)
        if (lbeta > 0).any():  # loyal odds > 1: the worst case, a float32 rounding above
            most_loyal = min(1.0, _sigmoid(_logit(most_loyal) + lbeta.clip(min=0).sum()) * (1 + 1e-6))
        drop[CUSTOMER] = min(1.0, _bound(_sigmoid(_logit(seg.churn.customer) + worst) + most_loyal))
        drop[LOYAL] = _bound(_sigmoid(_logit(seg.churn.loyal) + worst))
        cv = seg.order_value.cv
        sigma = math.sqrt(_ln1p(cv * cv))
        out.append(
            SegmentModel(
                rows=rows,
                coef=coef,
                churn_coef=churn,
                drop=drop,
                loyal=seg.loyal,
                affinity=np.array([seg.affinity.get(ch, 1.0) for ch in channels], dtype=np.float64),
                wom_beta=_ln(seg.word_of_mouth),
                base_aware_logit=_logit(seg.base.aware),
                mu=_ln(seg.order_value.mean) - sigma * sigma / 2,
                sigma=sigma,
                margin=seg.margin,
                cycle=cycle,
                steps=seg.steps_per_week,
                # only a segment with drop (loyal) odds computes each agent's drop (loyalty) probability
                drop_coef=np.ascontiguousarray(dbeta[:, rows], dtype=np.float32) if dbeta.any() else None,
                drop_base=base_drop if dbeta.any() else None,
                drop_raise=raise_drop if dbeta.any() else None,
                loyal_coef=np.ascontiguousarray(lbeta[rows], dtype=np.float32) if lbeta.any() else None,
                loyal_logit=_logit(seg.loyal),
                satisfaction=sat,
            )
        )
    return out


@dataclass
class CompiledCampaign:
    """One campaign of a plan as the step reads it: channel, weekly budget, targets and flights.

    A trigger campaign (``event >= 0``) has no budget (``weekly = 0``): in an active week it sends
    one message to each agent of its segments, with the channel's flag (``requires``: ``need``),
    whose ``event`` (an index in :data:`~cjmsim.scenario.TRIGGER_EVENTS`) happened ``after`` weeks
    earlier, at most ``cap`` real messages and ``cap_money`` a week (``inf``: no cap). ``cells`` are then the cells
    its audience is counted in (the event's stage). ``fit``: its message's fit per (segment, stage),
    None when it has no message or the message fits everyone 1 (exposures unweighted). ``gate``: the
    audience in real people that opens the campaign's windows (``start_when``; None: open from the
    start), ``run_for``: the most weeks it runs from then (None: its windows as they are).
    """

    channel: int
    weekly: float  # currency per active week
    segments: NDArray[np.bool_]  # (G,)
    cells: NDArray[np.bool_]  # (28,) audience cells (stage x visited x contact)
    windows: list[tuple[int, int]]
    carry: float = 0.0  # real units still delivering from earlier weeks
    event: int = -1
    after: int = 0
    cap: float = math.inf  # most real messages a week
    cap_money: float = math.inf  # most money a week (messages: cap_money / the week's unit price)
    need: int = 0  # flag bits every recipient must have (VISITED, CONTACT or 0)
    gate: float | None = None
    run_for: int | None = None
    precision: float = 1.0  # share of its units that land on its audience (targeting)
    premium: float = 0.0  # narrow-audience price premium: price x (1 + premium x (1 - audience share))
    #: (28,) the channel's eligible cells (its stages x requires), all segments: where leaked units go
    #: and what the audience share is counted against; None with perfect targeting at the list price
    eligible: NDArray[np.bool_] | None = None
    price: float = 0.0  # this week's effective unit price (set by World._lambdas)
    leak: NDArray[np.bool_] | None = None  # (G, 28) this week's cells outside the audience that got units
    fit: NDArray[np.float64] | None = None  # (G, 7) its message's fit per segment and stage; None: 1 everywhere

    @property
    def imperfect(self) -> bool:
        """Whether the campaign leaks units or pays a premium (imperfect targeting)."""
        return self.eligible is not None

    @property
    def triggered(self) -> bool:
        """Whether this is a lifecycle-trigger campaign (priced per message, no budget)."""
        return self.event >= 0


#: The stages a trigger event's audience is counted in (``start_when``): the event's stage; an order's
#: audience is the customers and loyal customers (people who bought and are still buying).
_EVENT_STAGES = {"interest": ("interest",), "desire": ("desire",), "order": ("customer", "loyal"), "lost": ("lost",)}


def _cells(stages: Collection[str], requires: str) -> NDArray[np.bool_]:
    """The audience cells of ``stages`` whose flags meet the channel's requirement."""
    cells = np.zeros(N_CELLS, dtype=bool)
    for st in stages:
        s = STAGES.index(st)
        for bits in range(4):
            if requires == "visited" and not bits & VISITED:
                continue
            if requires == "contact" and not bits & CONTACT:
                continue
            cells[s * 4 + bits] = True
    return cells


def compile_campaigns(sc: Scenario, plan: str | None, channels: list[str], warmup: bool) -> list[CompiledCampaign]:
    """The campaigns of ``plan`` (none for None); with ``warmup``, flighted over the warm-up weeks
    (and open from the start: ``start_when`` counts in the horizon only)."""
    if plan is None:
        return []
    segs = list(sc.segments)
    W = sc.scenario.weeks
    out = []
    for camp in sc.plans[plan].campaigns:
        ch = sc.channels[camp.channel]
        windows = camp.windows_or_empty or [(0, W)]
        active = sum(e - s for s, e in windows)
        if camp.trigger is not None:
            weekly = 0.0
        else:
            weekly = camp.weekly if camp.weekly is not None else (camp.total or 0.0) / active
        if warmup:  # the warm-up runs the plan's weekly spend every warm-up week
            windows = [(-sc.scenario.warmup_weeks, 0)]
        targets = np.array([camp.segments is None or s in camp.segments for s in segs])
        if camp.trigger is None:
            cells = _cells(set(camp.stages or ch.stages) & set(ch.stages), ch.requires)
            compiled = CompiledCampaign(channels.index(camp.channel), weekly, targets, cells, windows)
            precision, premium = ch.targeting.precision, ch.targeting.premium
            if precision < 1.0 or premium > 0.0:
                compiled.precision, compiled.premium = precision, premium
                compiled.eligible = _cells(ch.stages, ch.requires)
        else:
            need = {"none": 0, "visited": VISITED, "contact": CONTACT}[ch.requires]
            cells = _cells(set(_EVENT_STAGES[camp.trigger.event]), ch.requires)
            compiled = CompiledCampaign(
                channels.index(camp.channel),
                weekly,
                targets,
                cells,
                windows,
                event=TRIGGER_EVENTS.index(camp.trigger.event),
                after=camp.trigger.after,
                cap=math.inf if camp.max_messages is None else camp.max_messages,
                cap_money=math.inf if camp.max_weekly is None else camp.max_weekly,
                need=need,
            )
        compiled.fit = message_fit(sc, camp.message)
        if camp.start_when is not None and not warmup:
            compiled.gate = camp.start_when.audience
            compiled.run_for = camp.run_for
        out.append(compiled)
    return out


def message_fit(sc: Scenario, message: str | None) -> NDArray[np.float64] | None:
    """The fit of ``message`` per (segment, stage), (G, 7) in segment and :data:`STAGES` order; None
    for no message or a message whose fit is 1 everywhere (the step then weights nothing)."""
    if message is None:
        return None
    msg = sc.messages[message]
    fit = np.array([[msg.fit_of(sid, st) for st in STAGES] for sid in sc.segments], dtype=np.float64)
    return None if (fit == 1.0).all() else fit


@dataclass
class Calendar:
    """Seasonality and trend compiled for one run: row ``t + warm-up`` holds simulated week ``t``.

    ``logits[g]``: segment g's base logits of the 7 stages' primary transitions week by week (the
    ``base`` column of its ``coef``), None for a segment with no seasonality; ``season`` and
    ``trend``: (weeks, G) the factors in force (1 where none); ``price``: (weeks, C) unit prices, None
    when no channel has a ``price_season``.
    """

    logits: list[NDArray[np.float32] | None]
    season: NDArray[np.float64]
    trend: NDArray[np.float64]
    price: NDArray[np.float64] | None

    @property
    def seasonal(self) -> bool:
        """Whether any segment's base rates vary with the calendar."""
        return any(x is not None for x in self.logits)


#: Highest base probability a seasonal multiplier can raise a rate to.
SEASON_CAP = 1.0 - 1e-6


@lru_cache(maxsize=1024)
def _season_logits(p: float, factor: bytes) -> tuple[float, ...]:
    """The logits of ``min(p x f, SEASON_CAP)`` for every factor ``f`` (float64 bytes), remembered: runs of
    one scenario (an optimizer's candidates, attribution's coalitions, a live page's edits) ask again."""
    return tuple(_logit(min(p * float(f), SEASON_CAP)) for f in np.frombuffer(factor, dtype=np.float64))


def calendar(sc: Scenario, models: list[SegmentModel], weeks: int, warm: int) -> Calendar:
    """The run's :class:`Calendar`: p_t = min(p x season_t x trend_t, 1 - 1e-6) for the rates a segment's
    seasonality lists (a base of 0 stays 0), the others' base logits unchanged; prices x season x trend."""
    start = sc.scenario.start_date
    woy = np.array([week_of_year(start, t) for t in range(-warm, weeks)]) - 1  # index into a 52-week curve
    years = np.arange(-warm, weeks) / WEEKS_PER_YEAR
    G = len(sc.segments)
    season = np.ones((warm + weeks, G))
    trend = np.ones((warm + weeks, G))
    logits: list[NDArray[np.float32] | None] = []
    for g, (sid, seg) in enumerate(sc.segments.items()):
        curve = sc.season_of(sid)
        if curve is None:
            logits.append(None)
            continue
        season[:, g] = np.array(curve.curve)[woy]
        trend[:, g] = _pow_of(1.0 + curve.trend, years)
        base = {
            "aware": seg.base.aware,
            "interest": seg.base.interest,
            "desire": seg.base.desire,
            "purchase": seg.base.purchase,
            "return": seg.return_rate,
        }
        k = len(models[g].rows)
        table = np.repeat(models[g].coef[None, :, k], warm + weeks, axis=0)  # (weeks, 7)
        factor = season[:, g] * trend[:, g]
        for s, primary in enumerate(_PRIMARY):
            if primary not in curve.rates:
                continue
            p = seg.repeat.customer if s == CUSTOMER else seg.repeat.loyal if s == LOYAL else base[primary]
            if p <= 0:
                continue  # a base of 0 stays 0
            # the base logit's own formula, so a flat curve (all 1, no trend) gives exactly the base logits
            table[:, s] = _season_logits(p, factor.tobytes())
        logits.append(np.ascontiguousarray(table, dtype=np.float32))
    price = None
    if any(ch.price_season is not None for ch in sc.channels.values()):
        price = np.empty((warm + weeks, len(sc.channels)))
        for c, ch in enumerate(sc.channels.values()):
            ps = ch.price_season
            price[:, c] = ch.cost.unit_price
            if ps is not None:
                price[:, c] *= np.array(ps.curve)[woy] * _pow_of(1.0 + ps.trend, years)
    return Calendar(logits, season, trend, price)


@dataclass
class Capacities:
    """The scenario's weekly order limits as the step reads them (docs/model.md, Capacity): entries
    0 .. G-1 are the segments' own limits, entry G the business's."""

    limit: NDArray[np.float64]  # (G + 1,) orders a week, people; inf: no limit
    agents: NDArray[np.int64]  # (G + 1,) floor(limit / weight): the limit in agents; -1: no limit
    lost: NDArray[np.float64]  # (G + 1,) share of the refused first orders that go to lost (0: all wait)
    shared: NDArray[np.bool_]  # (G,) the segments whose orders the business limit counts (not `separate`)


def capacities(sc: Scenario, weight: float) -> Capacities | None:
    """The weekly order limits of ``sc`` at ``weight`` people per agent, None when it has none. An agent's
    order is ``weight`` orders, so the limit in agents is ``floor(limit / weight)``: served orders, in
    people, never exceed the limit (they fall short of it by less than one agent's weight)."""
    rules = [seg.capacity for seg in sc.segments.values()] + [sc.capacity]
    if all(r is None for r in rules):
        return None
    limit = np.array([np.inf if r is None else r.weekly for r in rules])
    # the 1e-9: 0.3 / 0.1 is 2.9999999999999996 in floating point, and 3 agents serve 0.3 orders
    agents = np.array([-1 if r is None else math.floor(r.weekly / weight + 1e-9) for r in rules], dtype=np.int64)
    lost = np.array([0.0 if r is None else r.lost_share for r in rules])
    shared = np.array([r is None or not r.separate for r in rules[:-1]], dtype=bool)
    return Capacities(limit, agents, lost, shared)


@dataclass
class PlanInterventions:
    """A plan's interventions compiled for the step (docs/model.md, Interventions): per horizon week ``t``
    and segment ``g``, what the week's base rates become. Weeks and segments no intervention acts on hold
    the segment's own values, so the step can read them whenever ``on[t, g]``.

    ``logit[t, g, s]``: offset added to the base logit of stage ``s``'s primary transition (sum of the
    ln odds multipliers in force); ``churn[t, g]``: offset on the churn logit; ``drop[t, g]``: the
    week's mover bound per stage (:attr:`SegmentModel.drop` with each pre-purchase drop times its
    multipliers, at most 1, and the churn + loyalty bound of customers and loyal agents with the
    intervention's churn odds and loyalty); ``loyal[t, g]``: the customer -> loyal probability;
    ``spend[t, g]``: the interventions' cost booked in the week, split over the segments each acts on
    by population share; ``booked[t, i]``: the same per intervention, in the plan's order.
    ``satisfaction[t, g]``: the offset on the logit of the satisfied share of orders (sum of the ln odds
    multipliers in force; None when no intervention of the plan changes satisfaction).
    """

    on: NDArray[np.bool_]  # (W, G)
    logit: NDArray[np.float32]  # (W, G, 7)
    churn: NDArray[np.float32]  # (W, G)
    drop: NDArray[np.float32]  # (W, G, 7)
    loyal: NDArray[np.float64]  # (W, G)
    spend: NDArray[np.float64]  # (W, G)
    booked: NDArray[np.float64]  # (W, I)
    satisfaction: NDArray[np.float64] | None = None  # (W, G) logit offset on the satisfied share
    drop_base: NDArray[np.float32] | None = None  # (W, G, 7) base drop of segments with channels' drop odds


def compile_interventions(
    sc: Scenario, plan: str | None, models: list[SegmentModel], weeks: int
) -> PlanInterventions | None:
    """The interventions of ``plan`` over ``weeks`` horizon weeks; None when it has none (the step then
    reads nothing of them, so a plan without interventions runs exactly as before)."""
    if plan is None or not sc.plans[plan].interventions:
        return None
    items = sc.plans[plan].interventions
    segs = list(sc.segments)
    G = len(segs)
    on = np.zeros((weeks, G), dtype=bool)
    lor = np.zeros((weeks, G, N_STAGES))
    churn = np.zeros((weeks, G))
    drop_f = np.ones((weeks, G, N_STAGES))
    loyal_f = np.ones((weeks, G))
    spend = np.zeros((weeks, G))
    booked = np.zeros((weeks, len(items)))
    sat_shift = np.zeros((weeks, G))
    shares = np.array([seg.share for seg in sc.segments.values()])
    stage_of = {"aware": AWARE, "interest": INTEREST, "desire": DESIRE}
    for i, iv in enumerate(items):
        mask = np.array([iv.segments is None or sid in iv.segments for sid in segs])
        lo, hi = iv.start, min(iv.last_week(weeks), weeks)
        if lo >= weeks:
            continue
        on[lo:hi, mask] = True
        for s, primary in enumerate(_PRIMARY):
            if primary in iv.odds:
                lor[lo:hi, mask, s] += _ln(iv.odds[primary])
        if "churn" in iv.odds:
            churn[lo:hi, mask] += _ln(iv.odds["churn"])
        for st, f in iv.drop.items():
            drop_f[lo:hi, mask, stage_of[st]] *= f
        loyal_f[lo:hi, mask] *= iv.loyal
        if iv.satisfaction != 1:
            sat_shift[lo:hi, mask] += _ln(iv.satisfaction)
        booked[lo, i] += iv.cost
        booked[lo:hi, i] += iv.weekly_cost
        split = shares * mask / float((shares * mask).sum())
        spend += booked[:, i : i + 1] * split[None, :]
    drop = np.empty((weeks, G, N_STAGES), dtype=np.float32)
    barriers = any(m.drop_base is not None for m in models)
    # segments with channels' drop odds: the week's base drop, on which those odds act (None: no such segment)
    drop_base = np.zeros((weeks, G, N_STAGES), dtype=np.float32) if barriers else None
    loyal = np.empty((weeks, G))
    for g, (m, seg) in enumerate(zip(models, sc.segments.values(), strict=True)):
        drop[:, g] = m.drop
        if drop_base is not None and m.drop_base is not None:
            drop_base[:, g] = m.drop_base
        loyal[:, g] = m.loyal
        live = on[:, g]
        if not live.any():
            continue
        for s in (AWARE, INTEREST, DESIRE):
            if m.drop_base is None:  # the bound is the drop itself
                drop[live, g, s] = np.minimum(float(m.drop[s]) * drop_f[live, g, s], 1.0)
                continue
            # barriers: the week's base drop, and the bound with the channels' drop odds on it (segment_models)
            assert m.drop_raise is not None and drop_base is not None
            d = np.minimum(float(m.drop_base[s]) * drop_f[live, g, s], 1.0)
            drop_base[live, g, s] = d
            if m.drop_raise[s] > 0:
                d = np.array(
                    [min(1.0, _bound(_sigmoid(_logit(float(x)) + float(m.drop_raise[s]))) * (1 + 1e-6)) for x in d]
                )
            drop[live, g, s] = d
        loyal[live, g] = np.minimum(m.loyal * loyal_f[live, g], 1.0)
        # customers and loyal: the churn bound with the week's churn odds (+ its loyalty), as segment_models
        # (with satisfaction's and the channels' loyal odds widening it the same way)
        k = len(m.rows)
        worst = float(m.churn_coef[0, :k].astype(np.float64).clip(min=0).sum())
        sat = m.satisfaction
        if sat is not None:
            worst += max(sat.churn, 0.0)
        raise_loyal = 0.0 if m.loyal_coef is None else float(m.loyal_coef.astype(np.float64).clip(min=0).sum())
        # only weeks whose churn odds or loyalty change: the others keep the segment's own bound, bit for bit
        for t in np.flatnonzero(live & ((churn[:, g] != 0.0) | (loyal_f[:, g] != 1.0))):
            c_cust = _logit(seg.churn.customer) + worst + float(churn[t, g])
            c_loyal = _logit(seg.churn.loyal) + worst + float(churn[t, g])
            most = float(loyal[t, g])
            if sat is not None and sat.loyal_odds > 0:
                most = _sigmoid(_logit(most) + sat.loyal_odds)
            if raise_loyal > 0:
                most = min(1.0, _sigmoid(_logit(most) + raise_loyal) * (1 + 1e-6))
            drop[t, g, CUSTOMER] = min(1.0, _bound(_sigmoid(c_cust) + most))
            drop[t, g, LOYAL] = _bound(_sigmoid(c_loyal))
    return PlanInterventions(
        on=on,
        logit=lor.astype(np.float32),
        churn=churn.astype(np.float32),
        drop=drop,
        loyal=loyal,
        spend=spend,
        booked=booked,
        drop_base=drop_base,
        satisfaction=sat_shift if sat_shift.any() else None,
    )
