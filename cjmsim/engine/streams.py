"""Random streams: the seed material of one replication, and counter-based order uniforms.

Every plan of a replication runs from the same :class:`Streams`, so all plans see the same agents
and the same per-agent-week uniforms (common random numbers). Order values come from a hash of
(stream key, agent, week) instead of a generator, so an order has the same value in every plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cjmsim.engine.kernel import order_uniforms_into

__all__ = [
    "TOUCH_TIME_BITS",
    "Streams",
    "child_seed",
    "make_streams",
    "order_counter",
    "order_uniforms",
    "satisfaction_key",
    "satisfaction_uniforms",
    "splitmix",
    "touch_key",
    "touch_ticks",
    "touch_times",
]


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


def order_counter(week: int, sub: int = 0) -> np.uint64:
    """The counter term of :func:`order_uniforms` for (week, sub-step): (week + 1,000,003 + sub x 2^21) x
    0x2545F4914F6CDD1D mod 2^64."""
    return np.uint64((week + 1_000_003 + sub * (1 << 21)) * 0x2545F4914F6CDD1D % (1 << 64))


def order_uniforms(
    key: int, agent: NDArray[np.int64], week: int, sub: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two uniforms in (0, 1) per (agent, week, sub-step), from a counter-based hash of the stream key.

    ``sub`` is the journey move within the week of a segment with several a week (0 = the first, the
    only one of every other segment): it shifts the week counter by sub * 2^21, beyond any week."""
    # u = (splitmix(base) >> 11 + 0.5) / 2^53 and the same of splitmix of that, where base = key ^ (agent x
    # 0xD6E8FEB86659FD93) + (week + 1,000,003 + sub x 2^21) x 0x2545F4914F6CDD1D, all mod 2^64: compiled
    agents = np.ascontiguousarray(agent, dtype=np.int64)
    u1, u2 = np.empty(agents.size), np.empty(agents.size)
    order_uniforms_into(np.uint64(key), agents, order_counter(week, sub), u1, u2)
    return u1.reshape(np.shape(agent)), u2.reshape(np.shape(agent))


#: Resolution of :func:`touch_times`: a week is cut into 2**20 instants (about 0.6 s each).
TOUCH_TIME_BITS = 20
_TOUCH_SALT = np.uint64(0x7F4A7C159E3779B9)  # the touch times' own key derivation (no other stream uses it)
_C_CHANNEL, _C_WEEK = 0x9FB21C651E98DF25, 0xC13FA9A902A6328F  # odd multipliers of the channel and week counters


def touch_key(key: int) -> int:
    """The touch-time key of a replication, derived from its order key (order values do not change)."""
    return int(splitmix(np.array([key], dtype=np.uint64) ^ _TOUCH_SALT)[0])


def touch_ticks(key: int, agent: NDArray[np.int64], channel: int | NDArray[np.int64], week: int) -> NDArray[np.int64]:
    """When in its week each (agent, channel, week) exposure happened, in ticks: 0 .. 2**20 - 1.

    A counter-based hash of (``key``, agent, channel, week), like :func:`order_uniforms`, so the
    same exposure has the same time in every plan of a replication; only the recorders use it.
    ``channel`` is one channel index or one per agent.
    """
    x = agent.astype(np.uint64)  # a copy, then in place: the splitmix finaliser of the counter
    with np.errstate(over="ignore"):
        x *= np.uint64(0xA24BAED4963EE407)
        x ^= np.uint64(key)
        if isinstance(channel, int):
            x += np.uint64(((channel + 1) * _C_CHANNEL + (week + 1_000_003) * _C_WEEK) % (1 << 64))
        else:
            c = channel.astype(np.uint64)
            c += np.uint64(1)
            c *= np.uint64(_C_CHANNEL)
            c += np.uint64((week + 1_000_003) * _C_WEEK % (1 << 64))
            x += c
        x += _M1
        x ^= x >> np.uint64(30)
        x *= _M2
        x ^= x >> np.uint64(27)
        x *= _M3
        x ^= x >> np.uint64(31)
    x >>= np.uint64(64 - TOUCH_TIME_BITS)
    return x.view(np.int64)


def touch_times(key: int, agent: NDArray[np.int64], channel: int, week: int) -> NDArray[np.float32]:
    """:func:`touch_ticks` as a time in the week: in [0, 1), a multiple of 2**-20 (exact in float32)."""
    return touch_ticks(key, agent, channel, week).astype(np.float32) * np.float32(2.0**-TOUCH_TIME_BITS)


_SATISFACTION_SALT = np.uint64(0x3C6EF372FE94F82B)  # the satisfaction draws' own key (no other stream uses it)


def satisfaction_key(key: int) -> int:
    """The satisfaction key of a replication, derived from its order key (no existing stream moves)."""
    return int(splitmix(np.array([key], dtype=np.uint64) ^ _SATISFACTION_SALT)[0])


def satisfaction_uniforms(key: int, agent: NDArray[np.int64], week: int, sub: int = 0) -> NDArray[np.float64]:
    """One uniform in (0, 1) per (agent, week, journey move): whether that order satisfied, counter-based
    like :func:`order_uniforms` (the same draw in every plan and on any threads); ``key`` from
    :func:`satisfaction_key`."""
    with np.errstate(over="ignore"):
        x = np.uint64(key) ^ (agent.astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93))
        x = x + np.uint64((week + 1_000_003 + sub * (1 << 21)) * 0x2545F4914F6CDD1D % (1 << 64))
        x = splitmix(splitmix(x))
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
