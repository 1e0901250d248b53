"""The scenario compiled for the step: per-segment model tables and campaigns as arrays.

Done once per run, before the first week: the step then reads only numbers (logit coefficients,
bounds, audience-cell masks), never the scenario's models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cjmsim.engine.population import AWARE, CONTACT, CUSTOMER, DESIRE, INTEREST, LOST, LOYAL, N_CELLS, N_STAGES, VISITED
from cjmsim.scenario import STAGES, TRANSITIONS, WEEKS_PER_YEAR, Scenario, week_of_year

__all__ = [
    "LOGIT_CLIP",
    "SEASON_CAP",
    "Calendar",
    "CompiledCampaign",
    "SegmentModel",
    "calendar",
    "compile_campaigns",
    "segment_models",
]

#: Base probabilities of exactly 0 or 1 become logits of -/+ this: exp(100) overflows float32 to
#: inf, so the probability is exactly 0 or 1 and a rate of 0 never fires (odds times 0 stay 0).
LOGIT_CLIP = 100.0
# the transition each stage's main uniform decides: unaware->aware, ..., customer/loyal: repeat order
_PRIMARY = ("aware", "interest", "desire", "purchase", "repeat", "repeat", "return")
_T = {t: i for i, t in enumerate(TRANSITIONS)}


def _logit(p: float) -> float:
    if p <= 0:
        return -LOGIT_CLIP
    if p >= 1:
        return LOGIT_CLIP
    return max(-LOGIT_CLIP, min(LOGIT_CLIP, math.log(p / (1 - p))))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _bound(p: float) -> float:
    """A probability bound as the float32 step sees it: below float32 resolution it is 0."""
    return 0.0 if p < 1e-30 else p


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


def segment_models(sc: Scenario, channels: list[str]) -> list[SegmentModel]:
    """The model table of every segment, in segment order, over ``channels``."""
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
            SegmentModel(
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


@dataclass
class CompiledCampaign:
    """One campaign of a plan as the step reads it: channel, weekly budget, targets and flights."""

    channel: int
    weekly: float  # currency per active week
    segments: NDArray[np.bool_]  # (G,)
    cells: NDArray[np.bool_]  # (28,) audience cells (stage x visited x contact)
    windows: list[tuple[int, int]]
    carry: float = 0.0  # real units still delivering from earlier weeks


def compile_campaigns(sc: Scenario, plan: str | None, channels: list[str], warmup: bool) -> list[CompiledCampaign]:
    """The campaigns of ``plan`` (none for None); with ``warmup``, flighted over the warm-up weeks."""
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
        out.append(CompiledCampaign(channels.index(camp.channel), weekly, targets, cells, windows))
    return out


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
        trend[:, g] = (1.0 + curve.trend) ** years
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
            table[:, s] = [_logit(min(p * float(f), SEASON_CAP)) for f in factor]
        logits.append(np.ascontiguousarray(table, dtype=np.float32))
    price = None
    if any(ch.price_season is not None for ch in sc.channels.values()):
        price = np.empty((warm + weeks, len(sc.channels)))
        for c, ch in enumerate(sc.channels.values()):
            ps = ch.price_season
            price[:, c] = ch.cost.unit_price
            if ps is not None:
                price[:, c] *= np.array(ps.curve)[woy] * (1.0 + ps.trend) ** years
    return Calendar(logits, season, trend, price)
