"""Compiled loops of the weekly step: one pass over a block's agents where numpy would make several.

The step (:mod:`cjmsim.engine.step`) keeps its order of operations and its random numbers; these
functions only fuse what it did with whole-array numpy operations into loops over agents, compiled
by numba (``nogil``, so the blocks of a week run on threads at once; ``cache``, so a process compiles
them once per machine, not once per run). Each computes exactly what the numpy code it replaces did,
bit for bit:

- float32 arithmetic in the same order, with no fused multiply-add where numpy had none;
- the logit of an agent's own stage is the dot product of its stage's coefficients with its
  saturation column, accumulated by fused multiply-adds in the order of the rows: what the BLAS
  ``sgemm`` of the whole (7, k) x (k, n) product gives each element (tests/test_kernel.py checks it
  against ``np.matmul``; for a block of a single agent numpy took a matrix-vector product, which may
  round differently in the last bit, so results of such tiny blocks can differ from the numpy step's);
- the sigmoid ``1 / (1 + exp(-x))`` in float32 uses :func:`expf`, numpy's own float32 ``exp`` (its SIMD
  kernel: a Cody-Waite range reduction and a rational minimax approximation by fused multiply-adds)
  written out, which equals ``np.exp`` on every float32 input (the C library's ``expf`` rounds
  differently; tests/test_kernel.py compares them on a dense sample, benchmarks/bench_expf.py on every
  float32).

Why numba: the step's hot loops are short numeric loops over numpy arrays, which numba compiles
from the Python source with no build step and no C toolchain on the user's machine, and ``nogil``
lets two threads step two blocks at once (numpy's many small operations hold the GIL between them).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from cjmsim.engine import libm
from cjmsim.engine.pcg import fill_outputs, float32_into
from cjmsim.engine.population import AWARE as _AWARE
from cjmsim.engine.population import CONTACT as _CONTACT
from cjmsim.engine.population import CUSTOMER as _CUSTOMER
from cjmsim.engine.population import DESIRE as _DESIRE
from cjmsim.engine.population import INTEREST as _INTEREST
from cjmsim.engine.population import LOST as _LOST
from cjmsim.engine.population import LOYAL as _LOYAL
from cjmsim.engine.population import UNAWARE as _UNAWARE
from cjmsim.engine.population import VISITED as _VISITED

__all__ = [
    "add_cell_means",
    "decide_block",
    "enter_block",
    "expf",
    "expose_block",
    "expose_messages",
    "lognormal_values",
    "logits_block",
    "message_fits",
    "move_enter_block",
    "move_fast_block",
    "order_uniforms_into",
    "movers_block",
    "sigmoid32",
    "sigmoid_array",
    "sort_moves",
    "step_block",
    "week_block",
]

#: The exposure uniforms' largest level (thresholds at it are never passed).
_TOP = 65535
#: A flag bit of ``Population.flags``: the agent got an exposure in the horizon (population.REACHED).
_REACHED = 4
#: Agents per tile of :func:`logits_block` (its accumulators stay in the first-level cache).
_TILE = 4096


@intrinsic
def _fma32_intrinsic(typingctx, a, b, c):  # type: ignore[no-untyped-def]  # numba's typing protocol
    """``a * b + c`` rounded once (LLVM's fma on float32): the accumulation of a BLAS ``sgemm``."""
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        f = ir.FloatType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f], ir.FunctionType(f, [f, f, f]))
        return builder.call(fn, args)

    return sig, codegen


#: :func:`_fma32_intrinsic` as called from compiled code (typed ``Any``: numba's intrinsic objects carry no
#: signature a type checker can read).
_fma32: Any = _fma32_intrinsic

# numpy's float32 exp (numpy/_core/src/common/simd, ``npyv_exp_FLOAT_kernel``; the same in its AVX2 and
# AVX-512 loops): the constants of its range reduction and of its rational approximation P(y) / Q(y).
_EXP_XMAX = np.float32(88.72283935546875)  # exp(x) = inf from here
_EXP_XMIN = np.float32(-103.97208404541015625)  # exp(x) = 0 from here down
_LOG2E = np.float32(1.442695040888963407359924681001892137)
_LN2_HI = np.float32(-6.93145752e-1)  # -ln 2 in two parts (Cody-Waite)
_LN2_LO = np.float32(-1.42860677e-6)
_EXP_P0 = np.float32(9.999999999980870924916e-01)
_EXP_P1 = np.float32(7.257664613233124478488e-01)
_EXP_P2 = np.float32(2.473615434895520810817e-01)
_EXP_P3 = np.float32(5.114512081637298353406e-02)
_EXP_P4 = np.float32(6.757896990527504603057e-03)
_EXP_P5 = np.float32(5.082762527590693718096e-04)
_EXP_Q0 = np.float32(1.0)
_EXP_Q1 = np.float32(-2.742335390411667452936e-01)
_EXP_Q2 = np.float32(2.159509375685829852307e-02)


@intrinsic
def _pow2_64_intrinsic(typingctx, k):  # type: ignore[no-untyped-def]  # numba's typing protocol
    """``2.0 ** k`` as a float64 made from its bits, ``k`` an int64 in [-1022, 1023] (no call: vectorises)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        i64 = ir.IntType(64)
        bits = builder.shl(builder.add(args[0], ir.Constant(i64, 1023)), ir.Constant(i64, 52))
        return builder.bitcast(bits, ir.DoubleType())

    return sig, codegen


#: :func:`_pow2_64_intrinsic` as called from compiled code (typed ``Any``, as :data:`_fma32`).
_pow2_64: Any = _pow2_64_intrinsic


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def expf(x: np.float32) -> np.float32:
    """``np.exp`` of a float32, bit for bit: k = rint(x log2 e), y = x - k ln 2 (two fused multiply-adds),
    exp(y) = P(y) / Q(y) (degrees 5 and 2, Horner by fused multiply-adds), times 2^k (exact in float64, then
    rounded once, which matters only where the result is subnormal); inf from 88.72..., 0 from -103.97...
    down, NaN for NaN. Written with selects, not branches, so that a loop of it vectorises."""
    nan = x != x
    xx = np.float32(0.0) if nan else x
    over = xx >= _EXP_XMAX
    under = xx <= _EXP_XMIN
    xx = np.float32(0.0) if (over or under) else xx
    k = np.rint(xx * _LOG2E)
    y = _fma32(k, _LN2_HI, xx)
    y = _fma32(k, _LN2_LO, y)
    num = _fma32(_EXP_P5, y, _EXP_P4)
    num = _fma32(num, y, _EXP_P3)
    num = _fma32(num, y, _EXP_P2)
    num = _fma32(num, y, _EXP_P1)
    num = _fma32(num, y, _EXP_P0)
    den = _fma32(_EXP_Q2, y, _EXP_Q1)
    den = _fma32(den, y, _EXP_Q0)
    r = np.float32(np.float64(num / den) * _pow2_64(np.int64(k)))
    r = np.float32(np.nan) if nan else r
    r = np.float32(np.inf) if over else r
    return np.float32(0.0) if under else r


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def sigmoid32(x: np.float32) -> np.float32:
    """``1 / (1 + exp(-x))`` in float32 as the numpy step computed it (negate, ``np.exp``, add 1, reciprocal)."""
    one = np.float32(1.0)
    return one / (expf(-x) + one)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def sigmoid_array(x: np.ndarray, out: np.ndarray) -> None:
    """:func:`sigmoid32` of every element of float32 ``x`` into ``out`` (may be ``x``); a vectorised loop."""
    for i in range(x.size):
        out[i] = sigmoid32(x[i])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def lognormal_values(u1: np.ndarray, u2: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Lognormal draws ``exp(mu + sigma z)`` with ``z = sqrt(-2 log u1) cos(2 pi u2)`` (Box-Muller), element by
    element, by :mod:`cjmsim.engine.libm`'s functions: the same bits on every machine."""
    out = np.empty(u1.size)
    for i in range(u1.size):
        out[i] = _lognormal(u1[i], u2[i], mu[i], sigma[i])
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _lognormal(u1: float, u2: float, mu: float, sigma: float) -> float:
    """One lognormal draw of :func:`lognormal_values` (the orders' values, :func:`orders_week`'s too)."""
    z = np.sqrt(-2.0 * libm.log(u1)) * libm.cos_2pi(u2)
    return libm.exp(mu + sigma * z)


# The kernels take their arrays as separate arguments, repeated from one signature to the next: packed
# into a tuple they would be one argument, but numba types a tuple's elements at every call, which made a
# 20,000-agent run about 10% slower.
@numba.njit(cache=True, nogil=True, error_model="numpy")
def _expose_tile(
    U: np.ndarray,
    key: np.ndarray,
    thr: np.ndarray,
    ncap: np.ndarray,
    live: np.ndarray,
    decay_on: np.ndarray,
    decay: np.ndarray,
    fitw: np.ndarray,
    usefit: np.ndarray,
    A: np.ndarray,
    exposed: np.ndarray,
    units_cell: np.ndarray,
    flags: np.ndarray,
    horizon: bool,
    pa_row: np.ndarray,
    last_exp: np.ndarray,
    first: int,
    t: int,
    start: int,
    stop: int,
    th0: np.ndarray,
    idx: np.ndarray,
    cnt: np.ndarray,
) -> int:
    """:func:`expose_block` on the block's agents ``start`` to ``stop - 1`` (``th0``, ``idx``, ``cnt``: scratch of
    the cells' first thresholds, the tile's hits and the units per cell)."""
    m = stop - start
    reached = 0
    kt = key[start:stop]
    ft = flags[start:stop]
    for c in range(U.shape[0]):
        a = A[c, start:stop]
        if decay_on[c]:
            d = decay[c]
            for i in range(m):
                a[i] = a[i] * d
        if not live[c]:
            continue
        u = U[c, start:stop]
        th = thr[c]
        for z in range(th.shape[0]):
            th0[z] = th[z, 0]
        hits = 0
        for i in range(m):  # the agents with at least one exposure, without a branch
            idx[hits] = i
            hits += u[i] > th0[kt[i]]
        if hits == 0:
            continue
        exposed[c] = True
        cap = ncap[c]
        fit = fitw[c]
        weighted = usefit[c]
        row = pa_row[c]
        for z in range(cnt.size):
            cnt[z] = 0
        for q in range(hits):
            i = idx[q]
            cell = kt[i]
            ui = u[i]
            tc = th[cell]
            x = 1  # 1 + #{k in 1..cap-1: U > T_k}, without a branch (the thresholds rise with k)
            for k in range(1, cap):
                x += ui > tc[k]
            xf = np.float32(x)
            if weighted:
                a[i] = a[i] + xf * fit[cell]
            else:
                a[i] = a[i] + xf
            cnt[cell] += x
            if horizon and (ft[i] & _REACHED) == 0:
                ft[i] |= _REACHED
                reached += 1
            if row >= 0:
                last_exp[row, first + start + i] = t
        for z in range(cnt.size):  # whole units: the float64 sums are exact in any order
            if cnt[z]:
                units_cell[c, z] += cnt[z]
    return reached


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _logits_tile(
    A: np.ndarray,
    rows: np.ndarray,
    kind: np.ndarray,
    half: np.ndarray,
    exposed: np.ndarray,
    sat: np.ndarray,
    coef_t: np.ndarray,
    stage: np.ndarray,
    out: np.ndarray,
    start: int,
    stop: int,
    acc: np.ndarray,
) -> None:
    """:func:`logits_block` on the block's agents ``start`` to ``stop - 1``."""
    m = stop - start
    st = stage[start:stop]
    for j in range(rows.size):
        kd = kind[j]
        if (kd != 1 and kd != 2) or not exposed[rows[j]]:
            continue
        a = A[rows[j], start:stop]
        srow = sat[j, start:stop]
        h = half[j]
        if kd == 1:
            for i in range(m):
                x = a[i]
                srow[i] = x / (x + h)
        else:
            for i in range(m):
                x = a[i]
                x2 = x * x
                srow[i] = x2 / (x2 + h)
    for i in range(m):
        acc[i] = 0.0
    for k in range(sat.shape[0]):
        ck = coef_t[k]
        srow = sat[k, start:stop]
        for i in range(m):
            acc[i] = _fma32(ck[st[i]], srow[i], acc[i])
    o = out[start:stop]
    for i in range(m):
        o[i] = acc[i]


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _accumulate(ck: np.ndarray, st: np.ndarray, row: np.ndarray, acc: np.ndarray, m: int) -> None:
    """``acc[i] = fma(ck[st[i]], row[i], acc[i])`` for i < m, the stage's coefficient picked by a chain of
    selects (which vectorises) rather than looked up (a gather, which costs more than the rest of the row)."""
    c0, c1, c2, c3, c4, c5, c6 = ck[0], ck[1], ck[2], ck[3], ck[4], ck[5], ck[6]  # the 7 stages
    for i in range(m):
        s = st[i]
        c = c0
        c = c1 if s == 1 else c
        c = c2 if s == 2 else c
        c = c3 if s == 3 else c
        c = c4 if s == 4 else c
        c = c5 if s == 5 else c
        c = c6 if s == 6 else c
        acc[i] = _fma32(c, row[i], acc[i])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _plain_logits_tile(
    A: np.ndarray,
    rows: np.ndarray,
    kind: np.ndarray,
    half: np.ndarray,
    exposed: np.ndarray,
    sat: np.ndarray,
    store: bool,
    coef_t: np.ndarray,
    stage: np.ndarray,
    start: int,
    stop: int,
    acc: np.ndarray,
    row: np.ndarray,
) -> None:
    """:func:`_logits_tile` where every row is of kind 1 or 2, the logits left in ``acc``, row by row: a row's
    saturation goes to the tile's scratch ``row`` and into ``acc`` at once (the same fused multiply-adds in
    the same row order), and into ``sat`` only where ``store``. Without it ``sat`` keeps the rows of channels
    that never reached the block (0), the base row and the propensity row, and the others are recomputed
    where needed (:func:`move_fast_block`)."""
    m = stop - start
    st = stage[start:stop]
    for i in range(m):
        acc[i] = 0.0
    for k in range(sat.shape[0]):
        ck = coef_t[k]
        if k < rows.size and exposed[rows[k]]:
            a = A[rows[k], start:stop]
            h = half[k]
            if kind[k] == 1:
                for i in range(m):
                    x = a[i]
                    row[i] = x / (x + h)
            else:
                for i in range(m):
                    x = a[i]
                    x2 = x * x
                    row[i] = x2 / (x2 + h)
            if store:
                srow = sat[k, start:stop]
                for i in range(m):
                    srow[i] = row[i]
            _accumulate(ck, st, row, acc, m)
        else:
            _accumulate(ck, st, sat[k, start:stop], acc, m)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def expose_block(
    U: np.ndarray,
    key: np.ndarray,
    thr: np.ndarray,
    ncap: np.ndarray,
    live: np.ndarray,
    decay_on: np.ndarray,
    decay: np.ndarray,
    fitw: np.ndarray,
    usefit: np.ndarray,
    A: np.ndarray,
    exposed: np.ndarray,
    units_cell: np.ndarray,
    flags: np.ndarray,
    horizon: bool,
    pa_row: np.ndarray,
    last_exp: np.ndarray,
    first: int,
    t: int,
) -> int:
    """One block's exposures of a week, channel by channel, and the adstock; returns the agents reached
    for the first time in the horizon.

    For channel ``c``: the adstock decays (``A *= decay`` where ``decay_on``), then where ``live`` an agent
    with uniform ``U[c, i]`` in audience cell ``key[i]`` gets ``x = #{k < ncap[c]: U > thr[c, cell, k]}``
    exposures (thresholds rise with ``k``), which add ``x`` (times the message fit ``fitw[c, cell]`` where
    ``usefit``) to its adstock and ``x`` to ``units_cell[c, cell]``; an agent hit on a channel sets
    ``exposed[c]``, its REACHED flag (horizon) and, on a pay-per-action channel (``pa_row[c] >= 0``), its
    last exposed week ``last_exp[pa_row[c], first + i] = t`` (``first``: the block's first agent)."""
    n = U.shape[1]
    th0 = np.empty(thr.shape[1], dtype=thr.dtype)
    idx = np.empty(min(n, _TILE), dtype=np.int64)
    cnt = np.zeros(thr.shape[1], dtype=np.int64)
    reached = 0
    for start in range(0, n, _TILE):
        stop = min(start + _TILE, n)
        reached += _expose_tile(
            U, key, thr, ncap, live, decay_on, decay, fitw, usefit, A, exposed, units_cell, flags, horizon,
            pa_row, last_exp, first, t, start, stop, th0, idx, cnt,
        )  # fmt: skip
    return reached


@numba.njit(cache=True, nogil=True, error_model="numpy")
def logits_block(
    A: np.ndarray,
    rows: np.ndarray,
    kind: np.ndarray,
    half: np.ndarray,
    exposed: np.ndarray,
    sat: np.ndarray,
    coef: np.ndarray,
    stage: np.ndarray,
    out: np.ndarray,
) -> None:
    """Saturation and each agent's own-stage logit, in one pass over a block's agents.

    Row ``j`` of ``sat`` is channel ``rows[j]``'s Hill saturation: computed here where the channel has
    reached the block (``exposed``) and ``kind[j]`` is 1 (slope 1: ``A / (A + half)``) or 2 (slope 2:
    ``A^2 / (A^2 + half^2)``, ``half`` holding ``half^2``), left as it is otherwise (3: numpy computed it;
    a channel that never reached the block has saturation 0). Then
    ``out[i] = sum_k coef[stage[i], k] * sat[k, i]`` by fused multiply-adds in row order."""
    n = sat.shape[1]
    coef_t = np.ascontiguousarray(coef.T)  # (K, 7): a row's coefficient of each stage
    acc = np.empty(min(n, _TILE), dtype=np.float32)
    for start in range(0, n, _TILE):
        _logits_tile(A, rows, kind, half, exposed, sat, coef_t, stage, out, start, min(start + _TILE, n), acc)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def step_block(
    U: np.ndarray,
    key: np.ndarray,
    thr: np.ndarray,
    ncap: np.ndarray,
    live: np.ndarray,
    decay_on: np.ndarray,
    decay: np.ndarray,
    fitw: np.ndarray,
    usefit: np.ndarray,
    A: np.ndarray,
    exposed: np.ndarray,
    units_cell: np.ndarray,
    flags: np.ndarray,
    horizon: bool,
    pa_row: np.ndarray,
    last_exp: np.ndarray,
    first: int,
    t: int,
    rows: np.ndarray,
    kind: np.ndarray,
    half: np.ndarray,
    sat: np.ndarray,
    store: bool,
    coef: np.ndarray,
    stage: np.ndarray,
    cycle: np.ndarray,
    last_order: np.ndarray,
    now: int,
    unsatisfied: np.ndarray,
    offsets: np.ndarray,
    u: np.ndarray,
    drops: np.ndarray,
    mv: np.ndarray,
    pm: np.ndarray,
    um: np.ndarray,
) -> tuple[int, int]:
    """:func:`expose_block` then :func:`logits_block`, tile by tile (a tile's adstock is still in the cache
    when its saturation reads it). The same results: a tile's exposures touch its own agents only, and a
    channel that reaches the block only in a later tile has adstock 0, so saturation 0, in the earlier ones.
    For blocks whose rows are all of kind 1 or 2 and with no triggered messages. The saturations are written
    to ``sat`` only where ``store`` (:func:`_plain_logits_tile`): a block whose moves take them from the
    adstock (:func:`move_fast_block`) saves their traffic to memory. Then, still tile by tile, the movers as
    :func:`decide_block` finds them (its arguments from ``cycle`` on; ``now`` its ``t``). Returns the agents
    reached for the first time in the horizon and the movers."""
    n = U.shape[1]
    th0 = np.empty(thr.shape[1], dtype=thr.dtype)
    idx = np.empty(min(n, _TILE), dtype=np.int64)
    cnt = np.zeros(thr.shape[1], dtype=np.int64)
    coef_t = np.ascontiguousarray(coef.T)
    acc = np.empty(min(n, _TILE), dtype=np.float32)
    row = np.empty(min(n, _TILE), dtype=np.float32)
    reached = 0
    m = int(np.int64(0))  # not a literal 0: _decide_tile compiles once for both of its callers
    for start in range(0, n, _TILE):
        stop = min(start + _TILE, n)
        reached += _expose_tile(
            U, key, thr, ncap, live, decay_on, decay, fitw, usefit, A, exposed, units_cell, flags, horizon,
            pa_row, last_exp, first, t, start, stop, th0, idx, cnt,
        )  # fmt: skip
        _plain_logits_tile(A, rows, kind, half, exposed, sat, store, coef_t, stage, start, stop, acc, row)
        m = _decide_tile(acc, stage, cycle, last_order, now, unsatisfied, offsets, u, drops, mv, pm, um, start, stop, m)
    return reached, m


@numba.njit(cache=True, nogil=True, error_model="numpy")
def expose_messages(
    u: np.ndarray,
    key: np.ndarray,
    th: np.ndarray,
    cap: int,
    live: bool,
    decay_on: bool,
    decay: np.float32,
    fit: np.ndarray,
    weighted: bool,
    a: np.ndarray,
    units: np.ndarray,
    flags: np.ndarray,
    horizon: bool,
    last: np.ndarray,
    per_action: bool,
    t: int,
    sent: np.ndarray,
    w: np.ndarray,
    acc: np.ndarray,
    mark: np.ndarray,
) -> int:
    """One channel of a block that triggered messages reach this week (``sent``: the agents, one entry per
    message, in the order of the week's trigger campaigns; ``w``: each message's fit): the bought exposures
    as :func:`expose_block` finds them, plus one exposure per message, beyond the cap. An agent's adstock
    gains ``float32(xw + w_1 + w_2 ...)`` summed in float64 in that order (``xw`` its bought exposures,
    fit-weighted): what numpy's ``bincount`` over the bought and sent lists gave. Returns the agents reached
    for the first time in the horizon; ``acc`` (float64) and ``mark`` (bool) are zeroed scratch of the
    block's size, left zeroed. ``last`` is the channel's row of last exposed weeks (``per_action``)."""
    n = u.size
    if decay_on:
        for i in range(n):
            a[i] = a[i] * decay
    if live:
        for i in range(n):
            cell = key[i]
            x = 0
            while x < cap and u[i] > th[cell, x]:
                x += 1
            if x == 0:
                continue
            xf = np.float32(x)
            acc[i] = xf * fit[cell] if weighted else xf
            mark[i] = True
            units[cell] += x
    for j in range(sent.size):
        i = sent[j]
        acc[i] += w[j]
        mark[i] = True
    reached = 0
    for i in range(n):
        if not mark[i]:
            continue
        a[i] = a[i] + np.float32(acc[i])
        if horizon and (flags[i] & _REACHED) == 0:
            flags[i] |= _REACHED
            reached += 1
        if per_action:
            last[i] = t
        acc[i] = 0.0
        mark[i] = False
    return reached


@numba.njit(cache=True, nogil=True, error_model="numpy")
def movers_block(p: np.ndarray, u: np.ndarray, drops: np.ndarray, stage: np.ndarray, out: np.ndarray) -> int:
    """The agents whose uniform says they may move, ``u < p + (1 - p) * drop[stage]`` (float32, as the
    numpy step computed it), written to ``out`` in order; returns how many."""
    m = 0
    one = np.float32(1.0)
    for i in range(p.size):
        pi = p[i]
        if u[i] < drops[stage[i]] * (one - pi) + pi:
            out[m] = i
            m += 1
    return m


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _decide_tile(q: np.ndarray, stage: np.ndarray, cycle: np.ndarray, last_order: np.ndarray, t: int,
                 unsatisfied: np.ndarray, offsets: np.ndarray, u: np.ndarray, drops: np.ndarray, mv: np.ndarray,
                 pm: np.ndarray, um: np.ndarray, start: int, stop: int, m: int) -> int:  # fmt: skip
    """:func:`decide_block` on the block's agents ``start`` to ``stop - 1``, whose logits are in ``q[:stop - start]``
    (overwritten); ``m`` movers found so far, returns the new count."""
    w = stop - start
    one = np.float32(1.0)
    if cycle.shape[0] > 0 or unsatisfied.size > 0:
        has_cycle = cycle.shape[0] > 0
        has_sat = unsatisfied.size > 0
        top = np.int32(cycle.shape[1] - 1)
        for i in range(w):
            a = start + i
            s = stage[a]
            if has_cycle and (s == _CUSTOMER or s == _LOYAL):
                d = min(max(np.int32(t) - np.int32(last_order[a]), np.int32(0)), top)
                q[i] = q[i] + cycle[1 if s == _LOYAL else 0, d]
            if has_sat and unsatisfied[a]:
                q[i] = q[i] + offsets[s]
    for i in range(w):  # vectorised
        q[i] = sigmoid32(q[i])
    for i in range(w):
        a = start + i
        pi = q[i]
        if u[a] < drops[stage[a]] * (one - pi) + pi:
            mv[m] = a
            pm[m] = pi
            um[m] = u[a]
            m += 1
    return m


@numba.njit(cache=True, nogil=True, error_model="numpy")
def decide_block(p: np.ndarray, stage: np.ndarray, cycle: np.ndarray, last_order: np.ndarray, t: int,
                 unsatisfied: np.ndarray, offsets: np.ndarray, u: np.ndarray, drops: np.ndarray, mv: np.ndarray,
                 pm: np.ndarray, um: np.ndarray) -> int:  # fmt: skip
    """From each agent's own logit ``p`` to the movers of a journey move, tile by tile (the numpy step's
    operations in its order, bit for bit): a customer's or loyal agent's purchase-cycle logit
    ``cycle[loyal, clip(t - last_order, 0, D - 1)]`` added (``cycle`` of shape (2, D); (0, 0): no cycle),
    then an unsatisfied agent's offset ``offsets[stage]`` (``unsatisfied`` empty: no satisfaction), the
    probability :func:`sigmoid32`, and the mover test of :func:`movers_block`. The movers' indices go to
    ``mv``, their probabilities and uniforms to ``pm`` and ``um``; returns how many. ``p`` is not changed."""
    n = p.size
    q = np.empty(min(n, _TILE), dtype=np.float32)
    m = int(np.int64(0))  # not a literal 0 (see step_block)
    for start in range(0, n, _TILE):
        stop = min(start + _TILE, n)
        q[: stop - start] = p[start:stop]
        m = _decide_tile(q, stage, cycle, last_order, t, unsatisfied, offsets, u, drops, mv, pm, um, start, stop, m)
    return m


@numba.njit(cache=True, nogil=True)
def enter_block(ci: np.ndarray, new_s: np.ndarray, fi: np.ndarray, t: int, horizon: bool, stage: np.ndarray,
                entered: np.ndarray, first_aware: np.ndarray, acquired: np.ndarray, flags: np.ndarray, key: np.ndarray,
                flat: np.ndarray, cells: np.ndarray, ttp: np.ndarray, acc: np.ndarray, lo: int, n: int,
                slots: np.ndarray) -> None:  # fmt: skip
    """The bookkeeping of agents ``ci`` entering stages ``new_s`` in week ``t`` (``fi``: the first buyers
    among them), as ``World._enter``'s numpy did it, in one pass: integer updates only, so the same numbers.
    ``cells``, ``ttp`` and ``acc`` are the block's rows; ``slots`` the counters' places in ``acc``
    (customers, cohort customers, aware, leads, desire, loyal)."""
    for i in range(ci.size):
        if new_s[i] == _AWARE:
            first_aware[ci[i]] = t
    never = np.int16(-32768)
    cohort = 0
    for i in range(fi.size):
        fa = first_aware[fi[i]]
        acquired[fi[i]] = t
        if horizon and fa != never:
            ttp[t - np.int64(fa)] += 1.0
        if fa >= 0:
            cohort += 1
    if horizon and fi.size:
        acc[slots[0]] += fi.size
        acc[slots[1]] += cohort
    aware = leads = desire = loyal = 0
    for i in range(ci.size):
        a, s = ci[i], new_s[i]
        old = key[a]
        if s >= _INTEREST and s != _LOST:
            flags[a] |= _VISITED
        if s >= _DESIRE and s != _LOST:
            flags[a] |= _CONTACT
        aware += s == _AWARE
        leads += s == _INTEREST
        desire += s == _DESIRE
        loyal += s == _LOYAL
        stage[a] = s
        entered[a] = t
        k = s * 4 + (flags[a] & 3)
        key[a] = k
        flat[a] = np.int32(s) * n + (a - lo)
        cells[k] += 1.0
        cells[old] -= 1.0
    if horizon:
        acc[slots[2]] += aware
        acc[slots[3]] += leads
        acc[slots[4]] += desire
        acc[slots[5]] += loyal


@numba.njit(cache=True, nogil=True, error_model="numpy")
def move_fast_block(mv: np.ndarray, p: np.ndarray, u: np.ndarray, stage: np.ndarray, lo: int, churn_coef: np.ndarray,
                    sat: np.ndarray, stored: bool, A: np.ndarray, rows: np.ndarray, kind: np.ndarray, half: np.ndarray,
                    exposed: np.ndarray, churn_shift: float, loyal: float, new: np.ndarray, buyers: np.ndarray,
                    first: np.ndarray, changed: np.ndarray, firsts: np.ndarray) -> tuple[int, int, int]:  # fmt: skip
    """:meth:`World._move`'s moves where no barrier, loyalty driver or satisfaction applies, then
    :func:`sort_moves`, in one call, bit for bit the numpy step's: each mover's next stage into ``new`` (a
    pre-purchase agent advances when ``u < p``, else drops to lost; a lost agent's need returns); a
    customer or loyal mover's churn uniform is ``v = u / p`` after a repeat order, ``(u - p) / (1 - p)``
    otherwise (float64), its churn logit ``z`` the churn betas times the saturations (read from ``sat``
    where ``stored``, else recomputed from the adstock ``A`` as :func:`_plain_logits_tile` computed them),
    added in numpy's pairwise order (float32), plus the base logit; its churn probability is
    ``sigmoid32(z + churn_shift)`` (``churn_shift``: an intervention's churn log odds, float32 like numpy's;
    0: none), compared in float64 with its churn uniform, then with ``probability + loyal``. Returns
    :func:`sort_moves`' three counts."""
    k = churn_coef.shape[1] - 1
    tmp = np.empty(max(k, 8), dtype=np.float32)
    shift = np.float32(churn_shift)
    for j in range(mv.size):
        s = stage[lo + mv[j]]
        adv = u[j] < p[j]
        ns = s
        if s <= _DESIRE:
            if adv:
                ns = s + 1
            elif s > _UNAWARE:
                ns = _LOST
        elif s == _LOST:
            if adv:
                ns = _AWARE
        else:  # customer or loyal: churn, or a customer becomes loyal
            pp = np.float64(p[j])
            uu = np.float64(u[j])
            v = uu / max(pp, 1e-300) if adv else (uu - pp) / max(1.0 - pp, 1e-300)
            row = 1 if s == _LOYAL else 0
            i = mv[j]
            for q in range(k):
                if stored or not exposed[rows[q]]:
                    sq = sat[q, i]
                elif kind[q] == 1:  # what _plain_logits_tile computed this week
                    x = A[rows[q], i]
                    sq = x / (x + half[q])
                else:
                    x = A[rows[q], i]
                    x2 = x * x
                    sq = x2 / (x2 + half[q])
                tmp[q] = churn_coef[row, q] * sq
            z = _pairwise32(tmp, k) + churn_coef[row, k]
            if churn_shift != 0.0:
                z = z + shift
            pc = np.float64(sigmoid32(z))
            if v < pc:
                ns = _LOST
            elif s != _LOYAL and v < pc + loyal:
                ns = _LOYAL
        new[j] = ns
    return sort_moves(mv, p, u, stage, lo, new, buyers, first, changed, firsts)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def move_enter_block(mv: np.ndarray, p: np.ndarray, u: np.ndarray, stage: np.ndarray, lo: int, churn_coef: np.ndarray,
                     sat: np.ndarray, stored: bool, A: np.ndarray, rows: np.ndarray, kind: np.ndarray, half: np.ndarray,
                     exposed: np.ndarray, churn_shift: float, loyal: float, buyers: np.ndarray, first: np.ndarray,
                     t: int, horizon: bool, entered: np.ndarray, first_aware: np.ndarray, acquired: np.ndarray,
                     flags: np.ndarray, key: np.ndarray, flat: np.ndarray, cells: np.ndarray, ttp: np.ndarray,
                     acc: np.ndarray, n: int, slots: np.ndarray) -> int:  # fmt: skip
    """:func:`move_fast_block` then :func:`enter_block` of the movers whose stage changed, in one call; the
    buyers and whether each is a first go to ``buyers`` and ``first`` (their count is returned) for the
    orders, which the caller values next (the stage bookkeeping does not read what the orders write, nor
    the orders what it writes: a first buyer's acquisition week is the week itself either way)."""
    size = mv.size
    new = np.empty(size, dtype=np.uint8)
    changed = np.empty(size, dtype=np.intp)
    firsts = np.empty(size, dtype=np.intp)
    nb, nc, nf = move_fast_block(mv, p, u, stage, lo, churn_coef, sat, stored, A, rows, kind, half, exposed,
                                 churn_shift, loyal, new, buyers, first, changed, firsts)  # fmt: skip
    if nc:
        ci = np.empty(nc, dtype=np.intp)
        new_s = np.empty(nc, dtype=np.uint8)
        for q in range(nc):
            ci[q] = mv[changed[q]] + lo
            new_s[q] = new[changed[q]]
        enter_block(ci, new_s, firsts[:nf], t, horizon, stage, entered, first_aware, acquired, flags, key, flat,
                    cells, ttp, acc, lo, n, slots)  # fmt: skip
    return nb


@numba.njit(cache=True, nogil=True, error_model="numpy")
def week_block(draw: bool, es: np.ndarray, el: np.ndarray, eraw: np.ndarray, U: np.ndarray, ts: np.ndarray,
               tl: np.ndarray, traw: np.ndarray, u: np.ndarray, key: np.ndarray, thr: np.ndarray, ncap: np.ndarray,
               live: np.ndarray, decay_on: np.ndarray, decay: np.ndarray, fitw: np.ndarray, usefit: np.ndarray,
               A: np.ndarray, exposed: np.ndarray, units_cell: np.ndarray, flags: np.ndarray, horizon: bool,
               pa_row: np.ndarray, last_exp: np.ndarray, lo: int, hi: int, t: int, rows: np.ndarray,
               kind: np.ndarray, half: np.ndarray, sat: np.ndarray, coef: np.ndarray, stage: np.ndarray,
               cycle: np.ndarray, last_order: np.ndarray, unsatisfied: np.ndarray, offsets: np.ndarray,
               drops: np.ndarray, mv: np.ndarray, pm: np.ndarray, um: np.ndarray, churn_coef: np.ndarray,
               churn_shift: float, loyal: float, entered: np.ndarray, first_aware: np.ndarray, acquired: np.ndarray,
               flat: np.ndarray, cells: np.ndarray, ttp: np.ndarray, acc: np.ndarray, slots: np.ndarray,
               reached_slot: int, buyers: np.ndarray, first: np.ndarray, msg_c: np.ndarray, msg_start: np.ndarray,
               msg_sent: np.ndarray, msg_w: np.ndarray, msg_live: np.ndarray, msg_decay: np.ndarray,
               msg_acc: np.ndarray, msg_mark: np.ndarray) -> int:  # fmt: skip
    """A block's whole week in one call, for blocks that :func:`step_block` and :func:`move_enter_block` take
    (plain saturations, compiled moves): the week's exposure and journey uniforms drawn from the block's
    streams when ``draw`` (``es``/``el``/``eraw`` and ``ts``/``tl``/``traw``: :mod:`cjmsim.engine.pcg`'s
    state, lanes and buffers; ``U`` the view of ``eraw`` the exposures read, ``u`` the journey's floats; else
    ``U`` and ``u`` already hold them); then each channel ``msg_c[j]`` with triggered messages to the block
    this week (in channel order) through :func:`expose_messages` (the agents ``msg_sent`` and fits ``msg_w``
    of ``msg_start[j]:msg_start[j + 1]``; ``msg_live`` and ``msg_decay``: the channel's live and decay flags,
    which ``live`` and ``decay_on`` have cleared for the fused pass; ``msg_acc`` and ``msg_mark``: its zeroed
    scratch), its agents reached added to ``acc[reached_slot]`` and the channel marked exposed; then
    :func:`step_block` (its saturations not stored: the moves take them from the adstock), its agents reached
    added, then :func:`move_enter_block` of its movers. The same calls the step made one by one, in its
    order, so the same numbers (the exposure and journey streams are separate, so drawing both first changes
    nothing). Arrays indexed by agent are the whole population's (``lo:hi`` the block). Returns the buyers,
    in ``buyers`` and ``first``, for the orders."""
    if draw:
        fill_outputs(es, el, eraw, eraw.size)
        float32_into(ts, tl, u, traw)
    # not stored, as a plain bool: a literal False would type the callees anew (Literal[bool]), compiling each a
    # second time beside the version the step calls from Python (seconds of a fresh install's first run)
    no = lo > hi
    n = hi - lo
    for j in range(msg_c.size):  # no per-action channel on this path (the fused week needs none)
        c = msg_c[j]
        a, z = msg_start[j], msg_start[j + 1]
        acc[reached_slot] += expose_messages(
            U[c], key[lo:hi], thr[c], ncap[c], msg_live[j], msg_decay[j], decay[c], fitw[c], usefit[c], A[c],
            units_cell[c], flags[lo:hi], horizon, last_exp[0], no, t, msg_sent[a:z], msg_w[a:z], msg_acc[:n],
            msg_mark[:n],
        )  # fmt: skip
        exposed[c] = True
    reached, k = step_block(
        U, key[lo:hi], thr, ncap, live, decay_on, decay, fitw, usefit, A, exposed, units_cell, flags[lo:hi], horizon,
        pa_row, last_exp, lo, t, rows, kind, half, sat, no, coef, stage[lo:hi], cycle, last_order[lo:hi], t,
        unsatisfied, offsets, u, drops, mv, pm, um,
    )  # fmt: skip
    acc[reached_slot] += reached
    return move_enter_block(mv[:k], pm[:k], um[:k], stage, lo, churn_coef, sat, no, A, rows, kind, half, exposed,
                            churn_shift, loyal, buyers, first, t, horizon, entered, first_aware, acquired, flags, key,
                            flat, cells, ttp, acc, hi - lo, slots)  # fmt: skip


@numba.njit(cache=True, nogil=True)
def add_cell_means(lam: np.ndarray, channel: np.ndarray, stack: np.ndarray) -> None:
    """``lam[:, channel[p], :] += stack[p]`` for each campaign ``p`` in order: a week's mean exposures per
    (segment, channel, cell), the campaigns' added one after another as numpy's one at a time did."""
    for p in range(channel.size):
        c = channel[p]
        for g in range(stack.shape[1]):
            for q in range(stack.shape[2]):
                lam[g, c, q] += stack[p, g, q]


@numba.njit(cache=True, nogil=True)
def message_fits(stack: np.ndarray, fit_stack: np.ndarray, ks: np.ndarray, part_channel: np.ndarray,
                 chans: np.ndarray, row: np.ndarray, lam: np.ndarray) -> np.ndarray:  # fmt: skip
    """The week's exposure fits of the messaged channels ``chans`` (:meth:`cjmsim.engine.step.World._fits`),
    (len(chans), G, 28) float32: each campaign's cell means ``stack[p]`` (campaign ``ks[p]`` on channel
    ``part_channel[p]``) times its fit ``fit_stack[ks[p]]`` (1 without one: exact), added into its channel's
    sum (row ``row[channel]``, -1: not messaged) in campaign order, then divided by the channel's means
    ``lam[:, c]`` where they are above 0 (else 1). The same float64 operations as numpy's, element by
    element, and the same rounding to float32."""
    G, L = stack.shape[1], stack.shape[2]
    num = np.zeros((chans.size, G, L))
    for p in range(ks.size):
        r = row[part_channel[p]]
        if r < 0:
            continue
        k = ks[p]
        for g in range(G):
            for c in range(L):
                num[r, g, c] += stack[p, g, c] * fit_stack[k, g, c]
    out = np.empty((chans.size, G, L), dtype=np.float32)
    for r in range(chans.size):
        for g in range(G):
            for c in range(L):
                total = lam[g, chans[r], c]
                out[r, g, c] = np.float32(num[r, g, c] / total) if total > 0 else np.float32(1.0)
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def buy_units(lam: np.ndarray, cell_lams: np.ndarray, units_cell: np.ndarray, chans: np.ndarray, weight: float,
              budget: np.ndarray, carried: np.ndarray, price: np.ndarray, carry_rate: np.ndarray, record: bool,
              lean: bool, planned: np.ndarray, spend_rec: np.ndarray,
              stage_rec: np.ndarray) -> tuple[np.ndarray, ...]:  # fmt: skip
    """The week's bill of every campaign (:meth:`cjmsim.engine.step.World._buy`), in one pass: campaign ``p``
    on channel ``chans[p]`` takes its share ``cell_lams[p] / lam[:, c]`` (0 where the channel's mean is 0)
    of the channel's delivered units ``units_cell[:, c]``; its delivered units per segment (times
    ``weight``), their total, the units paid (the delivered beyond the carried ones, at most the budget's),
    their spend and the units carried to next week (none worth under 1e-6 of money). With ``record``, the
    week's records: ``planned[c]`` += budget, ``spend_rec[g, c]`` += the spend split over segments by
    delivered units, and (unless ``lean``) ``stage_rec[g, c, s]`` += it split by the stage of the agents
    reached, campaign after campaign. The float64 operations of numpy's version, in its order (its sums
    pairwise, :func:`cjmsim.engine.libm.numpy_sum`). Returns the shares and units taken (P, G, 28), the
    delivered units per segment and in all, the spend, the carry, and whether each campaign shares a cell it
    reaches with another of its channel (a share below 1 where its mean is above 0)."""
    P, G, N = cell_lams.shape
    shares = np.zeros((P, G, N))
    taken = np.empty((P, G, N))
    delivered_gs = np.empty((P, G))
    delivereds = np.empty(P)
    spend = np.empty(P)
    carry = np.empty(P)
    partial = np.zeros(P, dtype=np.bool_)
    for p in range(P):
        c = chans[p]
        for g in range(G):
            for q in range(N):
                m = lam[g, c, q]
                if m > 0.0:
                    shares[p, g, q] = cell_lams[p, g, q] / m
                taken[p, g, q] = units_cell[g, c, q] * shares[p, g, q]
                if cell_lams[p, g, q] > 0.0 and shares[p, g, q] < 1.0:
                    partial[p] = True
            delivered_gs[p, g] = libm.numpy_sum(taken[p, g], 0, N) * weight
        d = libm.numpy_sum(delivered_gs[p], 0, G)
        delivereds[p] = d
        beyond = d - carried[p]
        if beyond < 0.0:  # np.maximum(beyond, 0.0)
            beyond = 0.0
        most = budget[p] / price[p]
        paid = beyond if beyond <= most or beyond != beyond else most  # np.minimum
        spend[p] = paid * price[p]
        left = carry_rate[c] * d
        carry[p] = 0.0 if left * price[p] < 1e-6 else left
    if not record:
        return shares, taken, delivered_gs, delivereds, spend, carry, partial
    for p in range(P):
        planned[chans[p]] += budget[p]
    for p in range(P):  # each record gets the campaigns' money in campaign order
        d = delivereds[p]
        if not d > 0.0:
            continue
        c = chans[p]
        for g in range(G):
            spend_rec[g, c] += spend[p] * delivered_gs[p, g] / d
        if lean:
            continue
        for g in range(G):
            for s in range(N // 4):
                by_stage = 0.0
                for q in range(4 * s, 4 * s + 4):
                    by_stage += taken[p, g, q]
                stage_rec[g, c, s] += spend[p] * by_stage * weight / d
    return shares, taken, delivered_gs, delivereds, spend, carry, partial


@numba.njit(cache=True, nogil=True, error_model="numpy")
def orders_week(key: np.uint64, counter: np.uint64, buyers: np.ndarray, first: np.ndarray, start: np.ndarray,
                block: np.ndarray, mu: np.ndarray, sigma: np.ndarray, margin: np.ndarray, t: int, horizon: bool,
                ltv_weeks: int, last_order: np.ndarray, acquired: np.ndarray, acc: np.ndarray, ltv: np.ndarray,
                orders_slot: int, revenue_slot: int, margin_slot: int) -> np.ndarray:  # fmt: skip
    """The week's orders of every block at once (:meth:`cjmsim.engine.step.World._orders_together` without
    satisfaction or recorders): block ``block[j]``'s buyers are ``buyers[start[j]:start[j + 1]]`` (``first``:
    whether each is a first order). Each order's value from its counter-based uniforms
    (:func:`order_uniforms_into`, :func:`_lognormal`), then, block after block: the buyers'
    last order is week ``t``; in the horizon the block's order count, revenue and margin in ``acc`` and the
    margin in each buyer's LTV window (acquired this week or in the ``ltv_weeks`` before) in ``ltv`` by
    acquisition week. The same float64 operations as numpy's, in its order: the revenue summed pairwise
    (:func:`cjmsim.engine.libm.numpy_sum`), the LTV margin added up per week from 0, then into ``ltv``.
    Returns the values."""
    n = buyers.size
    u1, u2 = np.empty(n), np.empty(n)
    order_uniforms_into(key, buyers, counter, u1, u2)
    value = np.empty(n)
    for j in range(block.size):
        m, s = mu[block[j]], sigma[block[j]]
        for i in range(start[j], start[j + 1]):
            value[i] = _lognormal(u1[i], u2[i], m, s)
    weeks = ltv.shape[1]
    by_week = np.zeros(weeks)
    for j in range(block.size):
        b, lo, hi = block[j], start[j], start[j + 1]
        for i in range(lo, hi):
            last_order[buyers[i]] = t
        if not horizon:
            continue
        total = libm.numpy_sum(value, lo, hi - lo)
        acc[b, orders_slot] += hi - lo
        acc[b, revenue_slot] += total
        acc[b, margin_slot] += total * margin[b]
        any_ok = False
        for i in range(lo, hi):
            acq = np.int64(t) if first[i] else np.int64(acquired[buyers[i]])
            if acq >= 0 and t - acq < ltv_weeks:
                by_week[acq] += value[i] * margin[b]
                any_ok = True
        if any_ok:
            for w in range(weeks):
                ltv[b, w] += by_week[w]
                by_week[w] = 0.0
    return value


_SM1 = np.uint64(0x9E3779B97F4A7C15)  # streams.splitmix's constants
_SM2 = np.uint64(0xBF58476D1CE4E5B9)
_SM3 = np.uint64(0x94D049BB133111EB)
_AGENT_MUL = np.uint64(0xD6E8FEB86659FD93)  # streams.order_uniforms' odd multiplier of the agent index


@numba.njit(cache=True, nogil=True, inline="always")
def _splitmix64(x: np.uint64) -> np.uint64:
    """:func:`cjmsim.engine.streams.splitmix` of one counter (uint64 arithmetic wraps as numpy's does)."""
    x = x + _SM1
    x = (x ^ (x >> np.uint64(30))) * _SM2
    x = (x ^ (x >> np.uint64(27))) * _SM3
    return np.uint64(x ^ (x >> np.uint64(31)))


@numba.njit(cache=True, nogil=True)
def order_uniforms_into(key: np.uint64, agents: np.ndarray, counter: np.uint64, u1: np.ndarray, u2: np.ndarray) -> None:
    """:func:`cjmsim.engine.streams.order_uniforms` of ``agents`` into ``u1`` and ``u2``, in one pass (integer
    hashing, then the same two float64 operations per uniform): ``counter`` is its week and sub-step term."""
    scale = 1.0 / 2.0**53
    for i in range(agents.size):
        a = _splitmix64((key ^ (np.uint64(agents[i]) * _AGENT_MUL)) + counter)
        b = _splitmix64(a)
        u1[i] = (np.float64(a >> np.uint64(11)) + 0.5) * scale
        u2[i] = (np.float64(b >> np.uint64(11)) + 0.5) * scale


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _pairwise32(v: np.ndarray, n: int) -> np.float32:
    """``v[:n].sum()`` of float32 values as numpy adds a contiguous row of at most 128 (one accumulator
    below 8 values, eight up to 128), in float32."""
    if n < 8:
        r = np.float32(0.0)
        for i in range(n):
            r += v[i]
        return r
    r0, r1, r2, r3, r4, r5, r6, r7 = v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
    i = 8
    while i < n - n % 8:
        r0 += v[i]
        r1 += v[i + 1]
        r2 += v[i + 2]
        r3 += v[i + 3]
        r4 += v[i + 4]
        r5 += v[i + 5]
        r6 += v[i + 6]
        r7 += v[i + 7]
        i += 8
    r = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        r += v[i]
        i += 1
    return r  # type: ignore[no-any-return]


@numba.njit(cache=True, nogil=True)
def sort_moves(mv: np.ndarray, p: np.ndarray, u: np.ndarray, stage: np.ndarray, lo: int, new: np.ndarray,
               buyers: np.ndarray, first: np.ndarray, changed: np.ndarray,
               firsts: np.ndarray) -> tuple[int, int, int]:  # fmt: skip
    """The movers' orders and stage changes in mover order: the buyers (a first order, desire -> customer, or
    a repeat order, a customer or loyal with ``u < p``) with whether each is a first, the agents whose stage
    changed, and the first buyers; agent indices in the population. Returns the three counts."""
    nb = nc = nf = 0
    for j in range(mv.size):
        a = lo + mv[j]
        s = stage[a]
        is_first = s == _DESIRE and new[j] == _CUSTOMER
        if is_first or ((s == _CUSTOMER or s == _LOYAL) and u[j] < p[j]):
            buyers[nb] = a
            first[nb] = is_first
            nb += 1
        if is_first:
            firsts[nf] = a
            nf += 1
        if new[j] != s:
            changed[nc] = j
            nc += 1
    return nb, nc, nf
