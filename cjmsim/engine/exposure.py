"""Exposure model: money -> units -> per-agent exposures, and Hill saturation.

Pure, vectorized functions with no SimPy and no state, so each can be tested on its own. Units:
exposures per agent per week (impressions, clicks or messages, by the channel's cost model). The
geometric adstock between them is two in-place array operations of the weekly step
(``World._expose`` in :mod:`cjmsim.engine.step`: decay, then add the week's exposures).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

from cjmsim.engine import libm
from cjmsim.engine.libm import exp_array, log_array, pow_array

__all__ = [
    "UNIFORM_LEVELS",
    "capped_poisson_mean",
    "allocate_units",
    "allocate_many",
    "exposure_thresholds",
    "exposure_counts",
    "hits_cells",
    "hits_single",
    "adstock_bound",
    "hill",
    "hill_is_plain",
]

#: Exposure uniforms are 16-bit integers: U in {0, ..., 65535}, one per agent, channel and week.
UNIFORM_LEVELS = 65536


def capped_poisson_mean(lam: NDArray[np.float64], cap: int) -> NDArray[np.float64]:
    """E[min(X, cap)] for X ~ Poisson(lam), elementwise: expected exposures an agent absorbs.

    Equals sum_{k=0}^{cap-1} P(X > k). Valid for lam >= 0 and cap >= 1.
    """
    return _capped_mean_and_slope(np.asarray(lam, dtype=np.float64), cap)[0]


def _capped_mean_and_slope(lam: NDArray[np.float64], cap: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """E[min(X, cap)] and its derivative in lam, P(X <= cap - 1), for X ~ Poisson(lam)."""
    lam = np.ascontiguousarray(lam)
    total, cdf = np.empty_like(lam), np.empty_like(lam)
    _capped_loop(lam.reshape(-1), cap, total.reshape(-1), cdf.reshape(-1))
    return total, cdf


@numba.njit(cache=True, error_model="numpy")
def _capped_loop(lam: NDArray[np.float64], cap: int, total: NDArray[np.float64],
                 cdf: NDArray[np.float64]) -> None:  # fmt: skip
    """:func:`_capped_mean_and_slope` element by element, compiled: ``pmf = exp(-lam)``
    (:func:`cjmsim.engine.libm.exp`), then the same float64 operations as numpy's whole-array ones
    (``pmf * lam / k``, ``cdf + pmf``, ``total + (1 - cdf)``, then clipped to [0, cap] and [0, 1]), one call
    instead of three per term (a large share of a small run)."""
    for i in range(lam.size):
        total[i], cdf[i] = _capped_terms(libm.exp(-lam[i]), lam[i], cap)


@numba.njit(cache=True, error_model="numpy")
def _capped_terms(pmf: float, lam: float, cap: int) -> tuple[float, float]:
    """E[min(X, cap)] and P(X <= cap - 1) for X ~ Poisson(lam) from ``pmf = P(X = 0)``, clipped to [0, cap]
    and [0, 1]: the terms :func:`_capped_mean_and_slope` sums, for one mean."""
    cdf = pmf
    total = 1.0 - cdf
    for k in range(1, cap):
        pmf = pmf * lam / k
        cdf = cdf + pmf
        total = total + (1.0 - cdf)
    return min(max(total, 0.0), float(cap)), min(max(cdf, 0.0), 1.0)


def allocate_units(
    units: float, counts: NDArray[np.float64], affinity: NDArray[np.float64], cap: int
) -> NDArray[np.float64]:
    """Mean exposures per audience agent of each group, spreading ``units`` by affinity under a cap.

    The mean of group g is ``lam_g = s * affinity_g``, with the scale ``s`` chosen so that the
    expected absorbed units, ``f(s) = sum_g counts_g * E[min(Poisson(lam_g), cap)]``, equal
    ``units``. ``f`` is increasing and concave in ``s``, so Newton's method started below the
    root (at the uncapped guess) climbs to it from below and never over-delivers. When the
    audience cannot absorb that many (every agent at the cap), ``lam`` is as large as is useful
    and fewer units are delivered: units that cannot be absorbed are not bought.

    Args:
        units: units to deliver, in agent units (real units divided by the agent weight), >= 0.
        counts: agents per group in the audience, >= 0.
        affinity: relative weight of each group, >= 0.
        cap: weekly frequency cap, >= 1.

    Returns:
        lam per group (0 where count or affinity is 0).
    """
    counts = np.asarray(counts, dtype=np.float64)
    affinity = np.asarray(affinity, dtype=np.float64)
    live = (counts > 0) & (affinity > 0)
    lam = np.zeros_like(counts)
    if units <= 0 or not live.any():
        return lam
    if live.sum() == 1:  # one group (a campaign aimed at one segment): the same solve on floats
        g = int(np.flatnonzero(live)[0])
        lam[g] = _allocate_one(units, float(counts[g]), cap)
        return lam
    a = affinity[live] / affinity[live].max()
    n = counts[live]
    lam_max = cap + 8.0 * np.sqrt(cap) + 10.0  # P(X < cap) is negligible beyond this
    capacity = float((n * capped_poisson_mean(np.minimum(lam_max / a.min() * a, lam_max), cap)).sum())
    if capacity <= units:
        lam[live] = np.minimum(lam_max / a.min() * a, lam_max)
        return lam
    s = units / float((n * a).sum())  # uncapped solution: a lower bound on the root
    for _ in range(50):
        mean, slope = _capped_mean_and_slope(s * a, cap)
        gap = units - float((n * mean).sum())
        if gap <= 1e-9 * units:
            break
        s += gap / float((n * a * slope).sum())
    lam[live] = s * a
    return lam


# the scalar solve of the many one-segment campaigns is compiled (numba, cache): the same float64
# operations, with the same exp (:func:`cjmsim.engine.libm.exp`) as the array solve, so the same lam to the last bit
@numba.njit(cache=True, error_model="numpy")
def _mean_and_slope_one(lam: float, cap: int) -> tuple[float, float]:
    """Scalar :func:`_capped_mean_and_slope` (the many one-segment campaigns of an optimizer)."""
    return _capped_terms(libm.exp(-lam), lam, cap)


@numba.njit(cache=True, error_model="numpy")
def _allocate_one(units: float, n: float, cap: int) -> float:
    """:func:`allocate_units` for a single group of n agents (affinity does not matter)."""
    lam_max = cap + 8.0 * math.sqrt(cap) + 10.0
    if n * _mean_and_slope_one(lam_max, cap)[0] <= units:
        return lam_max
    s = units / n
    for _ in range(50):
        mean, slope = _mean_and_slope_one(s, cap)
        gap = units - n * mean
        if gap <= 1e-9 * units:
            break
        s += gap / (n * slope)
    return s


#: numpy sums up to this many float64 values with eight accumulators, more in recursive halves
#: (:func:`cjmsim.engine.libm.pairwise_sum`).
_PAIRWISE_BLOCK = 128


def allocate_many(
    units: NDArray[np.float64], counts: NDArray[np.float64], affinity: NDArray[np.float64], caps: NDArray[np.int64]
) -> NDArray[np.float64]:
    """:func:`allocate_units` of many campaigns at once, bit for bit: row k of the (K, G) result is
    ``allocate_units(units[k], counts[k], affinity[k], caps[k])``.

    A week of a plan with many campaigns (an optimizer's candidate has one per channel, segment and
    period) spent most of its fixed cost in the per-campaign solve. Here the Newton iterations of every
    campaign aimed at several groups run together in one compiled call (:func:`_solve_many`), with the same
    ``exp`` (:func:`cjmsim.engine.libm.exp`) and sums that add in numpy's pairwise order
    (:func:`cjmsim.engine.libm.pairwise_sum`).
    One-group campaigns take the scalar solve, and the rare campaign aimed at more than 128 groups
    :func:`allocate_units` itself.
    """
    units = np.asarray(units, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    affinity = np.asarray(affinity, dtype=np.float64)
    caps = np.asarray(caps, dtype=np.int64)
    lam = np.zeros_like(counts)
    if lam.size == 0:
        return lam
    for k in _allocate_all(units, counts, affinity, caps, lam):  # numpy sums these in halves: one at a time
        lam[k] = allocate_units(float(units[k]), counts[k], affinity[k], int(caps[k]))
    return lam


@numba.njit(cache=True, error_model="numpy")
def _allocate_all(units: NDArray[np.float64], counts: NDArray[np.float64], affinity: NDArray[np.float64],
                  caps: NDArray[np.int64], lam: NDArray[np.float64]) -> NDArray[np.int64]:  # fmt: skip
    """:func:`allocate_many`'s compiled part, in one call: each campaign with units to place and one live
    group (agents and affinity above 0) by the scalar solve, those with 2 to 128 by the Newton steps of all
    of them together, into ``lam``; returns the campaigns with more (left to :func:`allocate_units`)."""
    K, G = counts.shape
    live = np.empty((K, G), dtype=np.bool_)
    nlive = np.zeros(K, dtype=np.int64)
    for k in range(K):
        for g in range(G):
            live[k, g] = counts[k, g] > 0 and affinity[k, g] > 0
            nlive[k] += live[k, g]
    one, many, wide = np.empty(K, dtype=np.int64), np.empty(K, dtype=np.int64), np.empty(K, dtype=np.int64)
    n1 = nm = nw = 0
    for k in range(K):
        if not units[k] > 0:
            continue
        if nlive[k] == 1:
            one[n1] = k
            n1 += 1
        elif nlive[k] > _PAIRWISE_BLOCK:
            wide[nw] = k
            nw += 1
        elif nlive[k] > 1:
            many[nm] = k
            nm += 1
    if n1:
        _allocate_ones(units, counts, live, caps, one[:n1], lam)
    if nm:
        many = many[:nm]
        # the live groups of each campaign, one after another: a (relative affinity), n (agents), x (means)
        start = np.zeros(nm + 1, dtype=np.int64)
        for i in range(nm):
            start[i + 1] = start[i] + nlive[many[i]]
        a, n, full, lam_max = _gather(units, counts, affinity, live, caps, many, start)
        s = _solve_many(units, caps, many, start, n, a, full)
        _scatter(many, start, live, a, s, full, lam)
    return wide[:nw]


@numba.njit(cache=True, error_model="numpy")
def _solve_many(units: NDArray[np.float64], caps: NDArray[np.int64], many: NDArray[np.int64],
                start: NDArray[np.int64], n: NDArray[np.float64], a: NDArray[np.float64],
                full: NDArray[np.float64]) -> NDArray[np.float64]:  # fmt: skip
    """The scale ``s`` of each campaign in ``many`` (-1 where its audience cannot absorb its units): whether
    it can at the most useful means ``full`` (:func:`_capacities`), then Newton steps (:func:`_newton`) on
    every campaign still solving, at most 50."""
    pmf = np.empty(full.size)
    for j in range(full.size):
        pmf[j] = libm.exp(-full[j])
    s = np.empty(many.size)
    left = _capacities(units, caps, many, start, n, a, full, pmf, s)  # s: the uncapped start, or -1: full
    tries = np.zeros(many.size, dtype=np.int64)
    for _ in range(50):
        if left.size == 0:
            break
        x = _means(left, start, s, a)
        pmf = np.empty(x.size)
        for j in range(x.size):
            pmf[j] = libm.exp(-x[j])
        left = _newton(units, caps, many, start, n, a, pmf, x, s, left, tries)
    return s


@numba.njit(cache=True, error_model="numpy")
def _allocate_ones(units: NDArray[np.float64], counts: NDArray[np.float64], live: NDArray[np.bool_],
                   caps: NDArray[np.int64], rows: NDArray[np.int64], lam: NDArray[np.float64]) -> None:  # fmt: skip
    """The scalar solve (:func:`_allocate_one`) of each campaign in ``rows``, aimed at one group."""
    for k in rows:
        for g in range(counts.shape[1]):
            if live[k, g]:
                lam[k, g] = _allocate_one(units[k], counts[k, g], caps[k])


@numba.njit(cache=True, error_model="numpy")
def _gather(units: NDArray[np.float64], counts: NDArray[np.float64], affinity: NDArray[np.float64],
            live: NDArray[np.bool_], caps: NDArray[np.int64], many: NDArray[np.int64],
            start: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
                                               NDArray[np.float64]]:  # fmt: skip
    """Each campaign's live groups laid end to end: affinity relative to its largest, agents, and the means
    at the most useful level, ``min(lam_max / min(a) * a, lam_max)``; and each campaign's ``lam_max``."""
    total = start[-1]
    a, n, x = np.empty(total), np.empty(total), np.empty(total)
    lam_max = np.empty(many.size)
    for i in range(many.size):
        k = many[i]
        top = -np.inf
        for g in range(counts.shape[1]):
            if live[k, g] and affinity[k, g] > top:
                top = affinity[k, g]
        j = start[i]
        for g in range(counts.shape[1]):
            if live[k, g]:
                a[j] = affinity[k, g] / top
                n[j] = counts[k, g]
                j += 1
        low = np.inf
        for j in range(start[i], start[i + 1]):
            low = min(low, a[j])
        cap = caps[k]
        lam_max[i] = cap + 8.0 * math.sqrt(cap) + 10.0
        for j in range(start[i], start[i + 1]):
            x[j] = min(lam_max[i] / low * a[j], lam_max[i])
    return a, n, x, lam_max


@numba.njit(cache=True, error_model="numpy")
def _capacities(units: NDArray[np.float64], caps: NDArray[np.int64], many: NDArray[np.int64],
                start: NDArray[np.int64], n: NDArray[np.float64], a: NDArray[np.float64], x: NDArray[np.float64],
                pmf: NDArray[np.float64], s: NDArray[np.float64]) -> NDArray[np.int64]:  # fmt: skip
    """Whether each campaign's audience absorbs its units (then ``s`` is the uncapped start of its Newton
    solve, ``units / sum(n * a)``) or not (``s = -1``: every mean at the useful level); returns the campaigns
    left to solve."""
    prod = np.empty(n.size)
    out = np.empty(many.size, dtype=np.int64)
    m = 0
    for i in range(many.size):
        k = many[i]
        lo, hi = start[i], start[i + 1]
        for j in range(lo, hi):
            prod[j] = n[j] * _capped_terms(pmf[j], x[j], caps[k])[0]
        if libm.pairwise_sum(prod, lo, hi - lo) <= units[k]:
            s[i] = -1.0
            continue
        for j in range(lo, hi):
            prod[j] = n[j] * a[j]
        s[i] = units[k] / libm.pairwise_sum(prod, lo, hi - lo)
        out[m] = i
        m += 1
    return out[:m]


@numba.njit(cache=True, error_model="numpy")
def _means(left: NDArray[np.int64], start: NDArray[np.int64], s: NDArray[np.float64],
           a: NDArray[np.float64]) -> NDArray[np.float64]:  # fmt: skip
    """``s * a`` of the campaigns still solving, laid end to end in the order of ``left``."""
    size = 0
    for i in left:
        size += start[i + 1] - start[i]
    x = np.empty(size)
    j = 0
    for i in left:
        for q in range(start[i], start[i + 1]):
            x[j] = s[i] * a[q]
            j += 1
    return x


@numba.njit(cache=True, error_model="numpy")
def _newton(units: NDArray[np.float64], caps: NDArray[np.int64], many: NDArray[np.int64], start: NDArray[np.int64],
            n: NDArray[np.float64], a: NDArray[np.float64], pmf: NDArray[np.float64], x: NDArray[np.float64],
            s: NDArray[np.float64], left: NDArray[np.int64],
            tries: NDArray[np.int64]) -> NDArray[np.int64]:  # fmt: skip
    """One Newton step of each campaign in ``left`` from ``pmf = exp(-x)``, ``x`` its means laid end to end
    (:func:`_means`): the gap to its units, done when it is within 1e-9 of them or after 50 steps, else
    ``s += gap / sum(n * a * slope)``. Returns the campaigns still solving."""
    out = np.empty(left.size, dtype=np.int64)
    m = 0
    j0 = 0
    zero = int(np.int64(0))  # not a literal 0, which would compile pairwise_sum a second time (Literal[int])
    for i in left:
        k = many[i]
        size = start[i + 1] - start[i]
        mean = np.empty(size)
        slope = np.empty(size)
        for q in range(size):
            mean[q], slope[q] = _capped_terms(pmf[j0 + q], x[j0 + q], caps[k])
        prod = np.empty(size)
        for q in range(size):
            prod[q] = n[start[i] + q] * mean[q]
        gap = units[k] - libm.pairwise_sum(prod, zero, size)
        j0 += size
        if gap <= 1e-9 * units[k]:
            continue
        for q in range(size):
            prod[q] = n[start[i] + q] * a[start[i] + q] * slope[q]
        s[i] += gap / libm.pairwise_sum(prod, zero, size)
        tries[i] += 1
        if tries[i] < 50:
            out[m] = i
            m += 1
    return out[:m]


@numba.njit(cache=True, error_model="numpy")
def _scatter(many: NDArray[np.int64], start: NDArray[np.int64], live: NDArray[np.bool_], a: NDArray[np.float64],
             s: NDArray[np.float64], full: NDArray[np.float64], lam: NDArray[np.float64]) -> None:  # fmt: skip
    """Each solved campaign's means into its row of ``lam``: ``s * a``, or the useful level where full."""
    for i in range(many.size):
        k = many[i]
        j = start[i]
        for g in range(live.shape[1]):
            if live[k, g]:
                lam[k, g] = full[j] if s[i] < 0 else s[i] * a[j]
                j += 1


def exposure_thresholds(lam: NDArray[np.float64], cap: int) -> NDArray[np.uint16]:
    """Inverse-CDF thresholds for capped Poisson exposures from 16-bit uniforms.

    For an agent with uniform U in {0..65535} and mean ``lam``, its exposures are
    ``x = sum_k [U > T_k]`` for k = 0..cap-1, with ``T_k = ceil(F(k) * 65536) - 1`` clipped to
    [0, 65535] and F the Poisson CDF. So P(x >= 1) = 1 - F(0) up to 1/65536, x <= cap, x = 0
    exactly when lam = 0, and x never falls when lam rises (monotone coupling: the same U with a
    larger budget gives at least as many exposures).

    Args:
        lam: means, any shape, >= 0.
        cap: weekly frequency cap, >= 1.

    Returns:
        uint16 array of shape ``lam.shape + (cap,)``.
    """
    lam = np.asarray(lam, dtype=np.float64)
    out = np.empty(lam.shape + (cap,), dtype=np.uint16)
    _threshold_loop(np.ascontiguousarray(lam).reshape(-1), out.reshape(-1, cap))
    return out


@numba.njit(cache=True, error_model="numpy")
def _threshold_loop(lam: NDArray[np.float64], out: NDArray[np.uint16]) -> None:
    """:func:`exposure_thresholds` element by element, compiled: ``pmf = exp(-lam)``
    (:func:`cjmsim.engine.libm.exp`), the CDF by the same float64 operations as numpy's whole-array ones,
    ``T_k = ceil(min(F(k), 1) * 65536) - 1`` clipped to [0, 65535], and 65535 throughout where ``lam <= 0``
    (one call, not five a term)."""
    cap = out.shape[1]
    for i in range(lam.size):
        row = out[i]
        if lam[i] <= 0:
            for k in range(cap):
                row[k] = UNIFORM_LEVELS - 1
            continue
        p = libm.exp(-lam[i])
        c = p
        for k in range(cap):
            if k > 0:
                p = p * lam[i] / k
                c = c + p
            t = math.ceil(min(c, 1.0) * UNIFORM_LEVELS) - 1
            row[k] = min(max(t, 0), UNIFORM_LEVELS - 1)


#: The plain Hill formula is used while A^slope and half^slope stay within [2^-100, 2^126] in float32
#: (normal numbers, with room to add them); outside it, :func:`hill` switches to the stable form.
_PLAIN_LOG2 = (-100.0, 126.0)


def adstock_bound(cap: int, decay: float, weeks: int) -> float:
    """An upper bound of the adstock ``A[t] = decay * A[t-1] + x[t]`` with ``0 <= x <= cap`` over ``weeks`` weeks.

    ``cap * min(1 / (1 - decay), weeks)``, with a margin for float32 rounding (a decay that rounds
    to 1 in float32 is not applied at all, so the adstock then only adds up).
    """
    reach = float(weeks) if decay >= 1 else min(1.0 / (1.0 - decay), float(weeks))
    return cap * max(reach, 1.0) * 1.01


def hill_is_plain(half: float, slope: float, amax: float) -> bool:
    """Whether the plain formula ``A^slope / (A^slope + half^slope)`` is exact in float32 for A <= amax.

    It is when ``half^slope`` is a normal float32 well above the underflow (so A = 0 gives 0, not
    0/0, and A^slope underflowing means a saturation below 2^-26) and ``amax^slope + half^slope``
    cannot overflow (nor ``slope`` round to 0 in float32, which would make 0^slope = 1).
    """
    lo, hi = _PLAIN_LOG2
    if slope < 1e-6:
        return False
    kh = slope * math.log2(half)
    top = slope * math.log2(amax) if amax > 0 else -math.inf
    return lo <= kh <= hi and top <= hi


def hill(
    adstock: NDArray[np.float32], half: float, slope: float, out: NDArray[np.float32], amax: float | None = None
) -> NDArray[np.float32]:
    """Hill saturation ``A^slope / (A^slope + half^slope)`` into ``out``; in [0, 1], 0 at A = 0.

    ``amax`` bounds the adstock (its maximum is taken when not given). Where the plain formula is
    exact in float32 (:func:`hill_is_plain`), it is used as is; slopes 1 and 2 take a fast path
    without ``power``. Otherwise (a tiny ``half`` or a steep slope, where ``half^slope`` underflows
    to 0 and A = 0 would give 0/0 = NaN, or ``A^slope`` would overflow) the stable form
    ``1 / (1 + exp(slope * (ln half - ln A)))``: no NaN, exactly 0 at A = 0, 1 once A^slope
    dwarfs half^slope.
    """
    if amax is None:
        amax = float(adstock.max()) if adstock.size else 0.0
    if not hill_is_plain(half, slope, amax):
        return _hill_stable(adstock, half, slope, out)
    if slope == 1.0:
        np.add(adstock, np.float32(half), out=out)
        np.divide(adstock, out, out=out)
    elif slope == 2.0:
        np.multiply(adstock, adstock, out=out)
        denom = out + np.float32(half * half)
        np.divide(out, denom, out=out)
    else:
        # A^slope in float64 by libm (numpy's power depends on the CPU), rounded once to float32
        out[...] = pow_array(adstock, float(slope))
        denom = out + np.float32(libm.pow(float(half), float(slope)))
        np.divide(out, denom, out=out)
    return out


def _hill_stable(
    adstock: NDArray[np.float32], half: float, slope: float, out: NDArray[np.float32]
) -> NDArray[np.float32]:
    """``1 / (1 + (half / A)^slope)`` with ``(half / A)^slope = exp(slope * (ln half - ln A))``, in float64.

    Only the channels whose plain formula would under- or overflow come here, so the float64
    scratch array (float32 logs of a ``half`` like 1e30 would cost 1e-5 of precision) is rare.
    A = 0 gives ln A = -inf, exp(+inf) = inf and sat = 0 exactly; an exponent beyond exp's range
    also gives inf, so sat 0 (the true value is below 1e-300); the exponent is clipped below at
    -700 so exp never underflows (sat is then 1). Those infinities are the intended limits, so
    the warnings that would report them are off.
    """
    with np.errstate(divide="ignore", over="ignore"):
        z = log_array(adstock)
        np.subtract(libm.log(half), z, out=z)
        z *= slope
        np.maximum(z, -700.0, out=z)
        exp_array(z, out=z)
    z += 1.0
    np.reciprocal(z, out=z)
    out[...] = z
    return out


# --------------------------------------------------------------------------------------------
# exposures from the week's 16-bit uniforms: agent i gets k exposures on a channel if its uniform
# passes the first k thresholds of its audience cell (thresholds rise with k)


def hits_single(
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


def hits_cells(u: NDArray[np.uint16], t0: NDArray[np.uint16], key: NDArray[np.uint8]) -> NDArray[np.intp]:
    """Agents with at least one exposure, thresholds per audience cell."""
    low = int(t0.min())
    if low >= UNIFORM_LEVELS - 1:
        return np.empty(0, dtype=np.intp)
    cand = np.flatnonzero(u > low)
    if int(t0.max()) == low:
        return cand
    return cand[u[cand] > t0[key[cand]]]


def exposure_counts(
    u: NDArray[np.uint16], key: NDArray[np.uint8], tab: NDArray[np.uint16], single: bool
) -> NDArray[np.float32]:
    """Exposures of agents already hit (>= 1 each), from their uniforms ``u`` and cells ``key``.

    ``tab`` holds the thresholds, one row (``single``: the same for every cell) or one row per cell.
    """
    x = np.ones(u.size, dtype=np.float32)
    if single:
        for k in range(1, tab.size):  # x = 1 + #{k >= 1: U > T_k}; thresholds rise with k
            if tab[k] >= UNIFORM_LEVELS - 1:
                break
            x += u > tab[k]
    else:
        cur = np.arange(u.size)
        for k in range(1, tab.shape[1]):
            cur = cur[u[cur] > tab[key[cur], k]]
            if cur.size == 0:
                break
            x[cur] += 1
    return x
