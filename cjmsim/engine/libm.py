"""Float64 ``exp``, ``log`` and ``cos(2 pi u)`` that give the same bits on every machine.

numpy picks its ``exp`` and ``log`` loops by the CPU it runs on: on a CPU with AVX-512 its float64 loops
are its own SIMD code, elsewhere the C library's, and the two round differently in the last bit of about
one value in twenty. A last bit moves an exposure threshold or a Newton solve, then an agent, so the same
seed gave different runs on, say, a Zen 3 and a Zen 4 node of one cluster. The C library is no remedy:
its results depend on its version, and glibc itself picks a variant by the CPU (with or without fused
multiply-adds).

These are the algorithms of fdlibm (Sun's freely distributable math library, as kept in FreeBSD's msun:
``e_exp.c``, ``e_log.c``, ``k_cos.c``, ``k_sin.c``), written out in numba with plain IEEE-754 operations
(no fused multiply-add: numba contracts nothing unless asked), so every machine computes every step the
same way. Their error is below one unit in the last place (tests/test_libm.py measures it against the C
library on dense samples and checks the special values). :func:`expm1` and :func:`log1p` follow from them
by Kahan's identities, :func:`pow` as exp(y log x). Compiled with ``cache`` and ``nogil``; the scalar
functions inline into the kernels.

With them, sums in numpy's order (:func:`pairwise_sum`, :func:`numpy_sum`): a compiled loop that replaces
numpy's ``sum`` of float64 values must add them as numpy does (pairwise) to give its bits.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic
from numpy.typing import NDArray

__all__ = [
    "cos_2pi",
    "exp",
    "exp_array",
    "expm1",
    "expm1_array",
    "log",
    "log1p",
    "log_array",
    "numpy_sum",
    "pairwise_sum",
    "pow",
    "pow_array",
]


@intrinsic
def _bits_intrinsic(typingctx, x):  # type: ignore[no-untyped-def]  # numba's typing protocol
    """The IEEE-754 bits of a float64 as an int64."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def _float_intrinsic(typingctx, i):  # type: ignore[no-untyped-def]  # numba's typing protocol
    """The float64 whose IEEE-754 bits are the int64 ``i``."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


#: The intrinsics as called from compiled code (typed ``Any``: numba's intrinsic objects carry no signature).
_bits: Any = _bits_intrinsic
_float: Any = _float_intrinsic

_LN2_HI = 6.93147180369123816490e-01  # 0x3fe62e42 fee00000: ln 2 in two parts, the first with 32 zero bits
_LN2_LO = 1.90821492927058770002e-10  # 0x3dea39ef 35793c76
_INV_LN2 = 1.44269504088896338700e00
_EXP_OVER = 7.09782712893383973096e02  # exp(x) = inf above
_EXP_UNDER = -7.45133219101941108420e02  # exp(x) = 0 below
_P1 = 1.66666666666666019037e-01  # exp's minimax polynomial of x (e^x + 1) / (e^x - 1)
_P2 = -2.77777777770155933842e-03
_P3 = 6.61375632143793436117e-05
_P4 = -1.65339022054652515390e-06
_P5 = 4.13813679705723846039e-08
_TWO54 = 1.80143985094819840000e16
_LG1 = 6.666666666666735130e-01  # log's minimax polynomial of s = f / (2 + f)
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_S1 = -1.66666666666666324348e-01  # sin's on [-pi/4, pi/4]
_S2 = 8.33333333332248946124e-03
_S3 = -1.98412698298579493134e-04
_S4 = 2.75573137070700676789e-06
_S5 = -2.50507602534068634195e-08
_S6 = 1.58969099521155010221e-10
_C1 = 4.16666666666666019037e-02  # cos's on [-pi/4, pi/4]
_C2 = -1.38888888888741095749e-03
_C3 = 2.48015872894767294178e-05
_C4 = -2.75573143513906633035e-07
_C5 = 2.08757232129817482790e-09
_C6 = -1.13596475577881948265e-11
_TWO_PI = 6.28318530717958647693e00


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def exp(x: float) -> float:
    """e**x (fdlibm ``e_exp.c``): x = k ln 2 + r with |r| <= ln 2 / 2 (ln 2 in two parts), exp(r) from a
    degree-5 minimax polynomial of r (e^r + 1) / (e^r - 1), times 2**k. inf above 709.78..., 0 below
    -745.13..., NaN for NaN.

    fdlibm's branches for k = 0 (below ln 2 / 2) and k = +-1 (below 3 ln 2 / 2) give the same bits as its
    general reduction there, so this takes the general one everywhere and selects 1 + x below 2**-28, the
    special values and the subnormal scaling at the end: a loop of it vectorises, with fdlibm's bits
    (tests/test_libm.py compares it with fdlibm's branches)."""
    nan = x != x
    over = x > _EXP_OVER
    under = x < _EXP_UNDER
    xx = 0.0 if (nan or over or under) else x
    k = np.int64(_INV_LN2 * xx + (0.5 if xx > 0 else -0.5))  # truncated, as C's cast
    t = float(k)
    hi = xx - t * _LN2_HI
    lo = t * _LN2_LO
    r = hi - lo
    z = r * r
    c = r - z * (_P1 + z * (_P2 + z * (_P3 + z * (_P4 + z * _P5))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    small = k < -1021  # a subnormal result: scaled by 2**(k + 1000), then 2**-1000 (rounded once)
    kk = k + np.int64(1000) if small else k
    big = kk == 1024  # 2**1024 is not a float64: 2 * 2**1023
    kk = np.int64(1023) if big else kk
    v = y * _float((kk + 1023) << 52)
    v = v * 2.0 if big else v
    v = v * _float(np.int64(23) << 52) if small else v
    v = 1.0 + x if abs(x) < 3.725290298461914e-09 else v  # |x| < 2**-28: fdlibm's 1 + x (the series rounds apart)
    v = x if nan else v
    v = np.inf if over else v
    return 0.0 if under else float(v)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def log(x: float) -> float:
    """The natural logarithm (fdlibm ``e_log.c``): x = 2**k (1 + f) with sqrt(2)/2 < 1 + f < sqrt(2),
    log(1 + f) = f - s (f - R) with s = f / (2 + f) and R a degree-14 minimax polynomial in s (even
    powers), plus k ln 2 in two parts. -inf at 0, NaN below 0 and for NaN, inf at inf.

    fdlibm's branches are all computed and selected (a subnormal x scaled by 2**54 first), so a loop of it
    vectorises; the bits are fdlibm's."""
    b = _bits(x)
    hx = b >> 32  # the high word, signed
    sub = hx < 0x00100000  # zero, negative or subnormal
    zero = ((hx & 0x7FFFFFFF) | (b & 0xFFFFFFFF)) == 0
    neg = hx < 0
    special = hx >= 0x7FF00000  # inf or NaN
    xs = x * _TWO54 if sub else x
    k = np.int64(-54) if sub else np.int64(0)
    b = _bits(xs)
    hx = b >> 32
    lx = b & 0xFFFFFFFF
    k += (hx >> 20) - 1023
    hx &= 0x000FFFFF
    i = (hx + 0x95F64) & 0x100000
    k += i >> 20
    f = _float(((hx | (i ^ 0x3FF00000)) << 32) | lx) - 1.0  # x or x / 2 normalised, minus 1
    dk = float(k)
    # -2**-20 <= f < 2**-20: a short series
    r0 = f * f * (0.5 - 0.33333333333333333 * f)
    near = f - r0 if k == 0 else dk * _LN2_HI - ((r0 - dk * _LN2_LO) - f)
    near = (0.0 if k == 0 else dk * _LN2_HI + dk * _LN2_LO) if f == 0.0 else near
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7))) + w * (_LG2 + w * (_LG4 + w * _LG6))
    hfsq = 0.5 * f * f
    wide = f - (hfsq - s * (hfsq + r)) if k == 0 else dk * _LN2_HI - ((hfsq - (s * (hfsq + r) + dk * _LN2_LO)) - f)
    mid = f - s * (f - r) if k == 0 else dk * _LN2_HI - ((s * (f - r) - dk * _LN2_LO) - f)
    v = wide if ((hx - 0x6147A) | (0x6B851 - hx)) > 0 else mid
    v = near if (0x000FFFFF & (2 + hx)) < 3 else v
    v = x + x if special else v
    v = np.nan if (neg and not zero) else v
    return -np.inf if zero else float(v)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def expm1(x: float) -> float:
    """e**x - 1, accurate where x is near 0 (Kahan: with u = exp(x) rounded, (u - 1) x / log(u) cancels
    the rounding of u), from :func:`exp` and :func:`log`."""
    u = exp(x)
    if u == 1.0:
        return x
    um1 = u - 1.0
    if um1 == -1.0:
        return -1.0
    if u == np.inf:
        return np.inf
    return um1 * x / log(u)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def log1p(x: float) -> float:
    """log(1 + x), accurate where x is near 0 (Kahan: with u = 1 + x rounded, log(u) x / (u - 1)), from
    :func:`log`."""
    u = 1.0 + x
    if u == 1.0:
        return x
    if u == np.inf:
        return np.inf
    return log(u) * x / (u - 1.0)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _sin_kernel(x: float) -> float:
    """sin(x) for |x| <= pi/4 (fdlibm ``k_sin.c`` with no tail)."""
    z = x * x
    v = z * x
    r = _S2 + z * (_S3 + z * (_S4 + z * (_S5 + z * _S6)))
    return x + v * (_S1 + z * r)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _cos_kernel(x: float) -> float:
    """cos(x) for |x| <= pi/4 (fdlibm ``k_cos.c`` with no tail)."""
    z = x * x
    w = z * z
    r = z * (_C1 + z * (_C2 + z * _C3)) + w * w * (_C4 + z * (_C5 + z * _C6))
    hz = 0.5 * z
    w = 1.0 - hz
    return w + (((1.0 - w) - hz) + z * r)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def cos_2pi(u: float) -> float:
    """cos(2 pi u) for u in [0, 1] (Box-Muller's angle): u = q/4 + r exactly, with q the nearest quarter
    and |r| <= 1/8 (both multiples of u's last bit), so the reduction makes no error; then cos or sin of
    2 pi r on [-pi/4, pi/4] by the fdlibm kernels, with the quadrant's sign (both computed and one
    selected, so a loop of it vectorises)."""
    q = np.rint(u * 4.0)
    a = (u - q * 0.25) * _TWO_PI
    quadrant = np.int64(q) & 3
    c, s = _cos_kernel(a), _sin_kernel(a)
    v = c if quadrant == 0 else -s
    v = -c if quadrant == 2 else v
    return s if quadrant == 3 else v


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def pow(x: float, y: float) -> float:  # noqa: A001  (the module's name for it, as math.pow)
    """x**y for x >= 0 as exp(y log x): 0 at x = 0 for y > 0, 1 for y = 0. Its error grows with |y log x|
    (about that many units in the last place); the tables that use it (purchase cycles, trends) need far
    less."""
    if y == 0.0:
        return 1.0
    return exp(y * log(x))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _exp_into(x: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.size):
        out[i] = exp(x[i])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _log_into(x: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.size):
        out[i] = log(x[i])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _pow_into(x: np.ndarray, y: float, out: np.ndarray) -> None:
    for i in range(x.size):
        out[i] = pow(x[i], y)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _expm1_into(x: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.size):
        out[i] = expm1(x[i])


def _unary(fn: Any, x: Any, out: NDArray[np.float64] | None) -> NDArray[np.float64]:
    """``fn`` over float64 ``x`` element by element into ``out`` (a new array by default; may be ``x``)."""
    xs = np.ascontiguousarray(x, dtype=np.float64)
    res = np.empty_like(xs) if out is None else out
    if res.flags.c_contiguous and res.dtype == np.float64:
        fn(xs.reshape(-1), res.reshape(-1))
    else:  # a strided ``out``: through a contiguous copy
        tmp = np.empty_like(xs)
        fn(xs.reshape(-1), tmp.reshape(-1))
        res[...] = tmp
    return res


def exp_array(x: Any, out: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """:func:`exp` of every element of ``x`` (as float64): numpy's ``np.exp(x, out=out)`` on any machine's bits."""
    return _unary(_exp_into, x, out)


def log_array(x: Any, out: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """:func:`log` of every element of ``x`` (as float64): numpy's ``np.log(x, out=out)`` on any machine's bits."""
    return _unary(_log_into, x, out)


def pow_array(x: Any, y: float, out: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """:func:`pow` of every element of ``x`` (as float64, >= 0) to the scalar ``y``."""
    return _unary(lambda a, b: _pow_into(a, float(y), b), x, out)


def expm1_array(x: Any, out: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """:func:`expm1` of every element of ``x`` (as float64)."""
    return _unary(_expm1_into, x, out)


# ---- sums in numpy's order


@numba.njit(cache=True, nogil=True, error_model="numpy")
def pairwise_sum(v: NDArray[np.float64], lo: int, n: int) -> float:
    """``v[lo:lo + n].sum()`` for n <= 128, added as numpy adds a contiguous float64 array (its pairwise
    summation: one accumulator below 8 values, eight up to 128), so the compiled solve sums bit for bit as
    the per-campaign one did. (Beyond 128 numpy halves the range recursively; :func:`numpy_sum` sums any
    length.)"""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += v[i]
        return res
    r0, r1, r2, r3 = v[lo], v[lo + 1], v[lo + 2], v[lo + 3]
    r4, r5, r6, r7 = v[lo + 4], v[lo + 5], v[lo + 6], v[lo + 7]
    i = 8
    while i < n - n % 8:
        r0 += v[lo + i]
        r1 += v[lo + i + 1]
        r2 += v[lo + i + 2]
        r3 += v[lo + i + 3]
        r4 += v[lo + i + 4]
        r5 += v[lo + i + 5]
        r6 += v[lo + i + 6]
        r7 += v[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += v[lo + i]
        i += 1
    return float(res)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def numpy_sum(v: np.ndarray, lo: int, n: int) -> float:
    """``v[lo:lo + n].sum()`` of a contiguous float64 row, any length, bit for bit as numpy adds it: up to 128
    values :func:`pairwise_sum`, beyond that the sum of numpy's two halves (the first a
    multiple of 8), each summed the same way. The halving is walked with a stack, not recursion (numba's
    cache reloads a recursive function into a crash)."""
    if n <= 128:
        return pairwise_sum(v, lo, n)
    start = np.empty(64, dtype=np.int64)  # a frame per range being summed: depth <= log2(n)
    size = np.empty(64, dtype=np.int64)
    right = np.zeros(64, dtype=np.bool_)  # whether the frame's left half is done (its sum in ``left``)
    left = np.empty(64)
    top = 0
    start[0], size[0], right[0] = lo, n, False
    while True:
        if size[top] > 128:  # descend into the left half
            h = size[top] // 2
            h -= h % 8
            start[top + 1], size[top + 1], right[top + 1] = start[top], h, False
            top += 1
            continue
        r = pairwise_sum(v, start[top], size[top])
        top -= 1
        while top >= 0:  # hand the sum up: a left half waits for its right one, a right half completes
            h = size[top] // 2
            h -= h % 8
            if not right[top]:
                left[top], right[top] = r, True
                start[top + 1], size[top + 1], right[top + 1] = start[top] + h, size[top] - h, False
                top += 1
                break
            r = left[top] + r
            top -= 1
        if top < 0:
            return r
