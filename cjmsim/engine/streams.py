"""Random streams: the seed material of one replication, and counter-based order uniforms.

Every plan of a replication runs from the same :class:`Streams`, so all plans see the same agents
and the same per-agent-week uniforms (common random numbers). Order values come from a hash of
(stream key, agent, week) instead of a generator, so an order has the same value in every plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Streams", "child_seed", "make_streams", "order_uniforms", "splitmix"]


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


def child_seed(seq: np.random.SeedSequence, j: int) -> np.random.SeedSequence:
    """The j-th child of a SeedSequence, without spawn()'s side effect on its counter."""
    return np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, j), pool_size=seq.pool_size)


_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)


def splitmix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """The SplitMix64 finaliser, elementwise: a well-mixed 64-bit hash of each counter."""
    x = x + _M1
    x = (x ^ (x >> np.uint64(30))) * _M2
    x = (x ^ (x >> np.uint64(27))) * _M3
    return x ^ (x >> np.uint64(31))


def order_uniforms(
    key: int, agent: NDArray[np.int64], week: int, sub: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two uniforms in (0, 1) per (agent, week, sub-step), from a counter-based hash of the stream key.

    ``sub`` is the journey move within the week of a segment with several a week (0 = the first, the
    only one of every other segment): it shifts the week counter by sub * 2^21, beyond any week."""
    with np.errstate(over="ignore"):
        base = np.uint64(key) ^ (agent.astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93))
        base = base + np.uint64((week + 1_000_003 + sub * (1 << 21)) * 0x2545F4914F6CDD1D % (1 << 64))
        a = splitmix(base)
        b = splitmix(a)
    scale = 1.0 / 2.0**53
    return ((a >> np.uint64(11)).astype(np.float64) + 0.5) * scale, (
        (b >> np.uint64(11)).astype(np.float64) + 0.5
    ) * scale
