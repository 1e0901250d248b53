"""The synthetic population: numpy arrays, one entry per agent, agents stored in segment blocks.

Storing agents by segment makes every per-segment quantity (affinity, base rates, odds) one number
per block instead of a per-agent lookup, which is what keeps the weekly step fast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cjmsim.engine.libm import exp_array, pow_array
from cjmsim.scenario import STAGES, Scenario

__all__ = [
    "AGE_CAP",
    "Population",
    "cycle_survival",
    "segment_sizes",
    "build_population",
    "VISITED",
    "CONTACT",
    "REACHED",
    "NEVER",
    "UNAWARE",
    "AWARE",
    "INTEREST",
    "DESIRE",
    "CUSTOMER",
    "LOYAL",
    "LOST",
    "N_STAGES",
    "N_CELLS",
]

#: Stage indices held in ``Population.stage`` (positions in ``scenario.STAGES``).
UNAWARE, AWARE, INTEREST, DESIRE, CUSTOMER, LOYAL, LOST = range(7)
N_STAGES = len(STAGES)
assert STAGES[LOST] == "lost" and N_STAGES == 7
#: Audience cells: stage x visited bit x contact bit; an agent's cell is ``stage * 4 + (flags & 3)``.
N_CELLS = N_STAGES * 4

#: Flag bits kept per agent (uint8).
VISITED = 1  # ever reached interest: remarketing can reach it
CONTACT = 2  # ever reached desire or bought: e-mail and push can reach it
REACHED = 4  # got at least one exposure in the horizon


def segment_sizes(shares: list[float], agents: int) -> NDArray[np.int64]:
    """Agents per segment: shares x agents, rounded by largest remainder so they sum to ``agents``."""
    raw = np.asarray(shares, dtype=np.float64) * agents
    sizes = np.floor(raw).astype(np.int64)
    short = agents - int(sizes.sum())
    order = np.argsort(-(raw - sizes), kind="stable")
    sizes[order[:short]] += 1
    return sizes


@dataclass
class Population:
    """Per-agent state, struct of arrays. Segment g owns agents ``bounds[g]:bounds[g+1]``.

    Attributes:
        bounds: block boundaries, length G + 1.
        stage: stage index (see ``scenario.STAGES``), uint8.
        flags: VISITED | CONTACT | REACHED bits, uint8.
        propensity: persistent individual propensity u_i on the logit scale, float32.
        first_aware: week the current journey became aware (-32768 = unknown), int16.
        acquired: week of the latest first order (-32768 = none), int16.
        last_order: week of the latest order, first or repeat (-32768 = none), int16.
        entered: week the agent entered its current stage (-32768 = before the run), int16.
        unsatisfied: whether the agent's latest order left it unsatisfied, bool; None unless a segment has
            a ``satisfaction`` table (allocated and drawn by the step: docs/model.md, Satisfaction).
    """

    bounds: NDArray[np.int64]
    stage: NDArray[np.uint8]
    flags: NDArray[np.uint8]
    propensity: NDArray[np.float32]
    first_aware: NDArray[np.int16]
    acquired: NDArray[np.int16]
    last_order: NDArray[np.int16]
    entered: NDArray[np.int16]
    unsatisfied: NDArray[np.bool_] | None = None

    @property
    def size(self) -> int:
        """Number of agents."""
        return int(self.stage.size)


#: ``first_aware`` / ``acquired`` / ``last_order`` / ``entered`` of an agent with no such week.
NEVER = np.int16(-32768)


#: Largest age (weeks since the last order, before the start) drawn for an agent starting as a
#: customer or loyal in a segment with a purchase cycle: the equilibrium distribution is cut here and
#: renormalised (it matters only for shapes well below 1, whose tails are ever longer).
AGE_CAP = 10_000


def cycle_survival(weeks: float, shape: float, d: NDArray[np.float64]) -> NDArray[np.float64]:
    """S(d) = P(T > d) of the discrete Weibull purchase cycle: exp(-(d / lam)^shape), lam = weeks /
    Gamma(1 + 1/shape)."""
    lam = weeks / math.gamma(1.0 + 1.0 / shape)
    return exp_array(-pow_array(np.maximum(d, 0.0) / lam, shape))


def _last_orders(weeks: float, shape: float, n: int, start: int, seed: np.random.SeedSequence) -> NDArray[np.int16]:
    """Weeks of the last order of ``n`` agents starting as customers or loyal: their ages a (weeks from
    the last order to the week before the first simulated week ``start``) are drawn from the renewal
    process's equilibrium P(A = a) proportional to S(a), a = 0..AGE_CAP, so last_order = start - 1 - a
    and the first step sees D = a + 1 weeks since the last order."""
    cdf = np.cumsum(cycle_survival(weeks, shape, np.arange(AGE_CAP + 1, dtype=np.float64)))
    u = np.random.default_rng(seed).random(n) * cdf[-1]
    a = np.minimum(np.searchsorted(cdf, u, side="right"), AGE_CAP)
    out: NDArray[np.int16] = (start - 1 - a).astype(np.int16)
    return out


#: Fewest agents for which a world uses threads: its population's segments drawn at once
#: (:func:`build_population`) and its blocks stepped at once (:func:`cjmsim.engine.calendar.run_plan`);
#: below, the threads' overhead outweighs them.
THREADS_MIN_AGENTS = 50_000


def build_population(
    scenario: Scenario,
    agents: int,
    rngs: list[np.random.Generator],
    flag_seeds: Sequence[np.random.SeedSequence] | None = None,
    cycle_seeds: Sequence[np.random.SeedSequence] | None = None,
    threads: int = 1,
) -> Population:
    """Draw the initial population: stage mix, propensities and flags, one generator per segment.

    Args:
        scenario: the validated scenario.
        agents: number of agents.
        rngs: one population generator per segment (segment order of the scenario).
        flag_seeds: one seed per segment for the draws of its ``known`` shares, used only by a segment
            with a share strictly between 0 and 1 (so no other draw depends on them). Required then.
        cycle_seeds: one seed per segment for the last orders of the agents starting as customers or loyal
            in a segment with a purchase cycle (:func:`_last_orders`), used only by such a segment.
            Required then.
        threads: segments drawn at once (from :data:`THREADS_MIN_AGENTS` agents): each draws from its own
            generators into its own slice, so the population does not depend on it.
    """
    segs = list(scenario.segments.values())
    sizes = segment_sizes([s.share for s in segs], agents)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    stage = np.empty(agents, dtype=np.uint8)
    flags = np.zeros(agents, dtype=np.uint8)
    propensity = np.zeros(agents, dtype=np.float32)
    last_order = np.full(agents, NEVER, dtype=np.int16)
    start = -scenario.scenario.warmup_weeks

    def draw(g: int) -> None:
        seg, lo, hi = segs[g], int(bounds[g]), int(bounds[g + 1])
        n = hi - lo
        if n == 0:
            return
        rng = rngs[g]
        mix = np.array([getattr(seg.initial, s) for s in STAGES], dtype=np.float64)
        counts = segment_sizes(list(mix / mix.sum()), n)
        block = np.repeat(np.arange(len(STAGES), dtype=np.uint8), counts)
        rng.shuffle(block)
        stage[lo:hi] = block
        if seg.heterogeneity > 0:
            propensity[lo:hi] = rng.normal(0.0, seg.heterogeneity, n).astype(np.float32)
        flags[lo:hi] = _known_flags(seg.known.shares(), block, None if flag_seeds is None else flag_seeds[g])
        cyc = seg.repeat.cycle
        if cyc is None:
            return
        if cycle_seeds is None:
            raise ValueError("build_population needs cycle_seeds for a segment with a purchase cycle")
        post = lo + np.flatnonzero((block == CUSTOMER) | (block == LOYAL))
        last_order[post] = _last_orders(cyc.weeks, cyc.shape, post.size, start, cycle_seeds[g])

    if threads > 1 and agents >= THREADS_MIN_AGENTS and len(segs) > 1:
        with ThreadPoolExecutor(max_workers=min(threads, len(segs))) as pool:
            for job in [pool.submit(draw, g) for g in range(len(segs))]:
                job.result()
    else:
        for g in range(len(segs)):
            draw(g)
    first_aware = np.full(agents, NEVER, dtype=np.int16)
    acquired = np.full(agents, NEVER, dtype=np.int16)
    entered = np.full(agents, NEVER, dtype=np.int16)
    return Population(bounds, stage, flags, propensity, first_aware, acquired, last_order, entered)


def _known_flags(
    shares: tuple[tuple[float, ...], tuple[float, ...]],
    block: NDArray[np.uint8],
    seed: np.random.SeedSequence | None,
) -> NDArray[np.uint8]:
    """VISITED / CONTACT bits of one segment's agents from their starting stages and ``known`` shares.

    One uniform per agent: contact if it is below the stage's contact share, visited if below its
    visited share, so contacts are among the visitors. With every share 0 or 1 nothing is drawn.
    """
    contact = np.asarray(shares[0], dtype=np.float64)[block]
    visited = np.asarray(shares[1], dtype=np.float64)[block]
    if np.all((contact == 0) | (contact == 1)) and np.all((visited == 0) | (visited == 1)):
        u = np.full(block.size, 0.5)
    else:
        if seed is None:
            raise ValueError("build_population needs flag_seeds for a segment with fractional known shares")
        u = np.random.default_rng(seed).random(block.size)
    return ((u < visited) * VISITED | (u < contact) * CONTACT).astype(np.uint8)
