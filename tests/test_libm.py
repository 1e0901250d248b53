"""The engine's float64 ``exp``, ``log`` and ``cos(2 pi u)`` (cjmsim.engine.libm): accurate, and the same on
every machine, so that one seed gives one run whatever CPU numpy finds.

The accuracy references are the C library's functions (compiled loops of ``math.exp`` and the like, which
call it), not numpy's, whose float64 loops depend on the CPU; fdlibm's algorithms are within one unit in the
last place of the true value, so within 1 ulp of a correctly rounded reference (glibc's are within 0.52 ulp:
bounds below leave that room, and fail on any wrong constant or branch, which costs many ulps).
"""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

from cjmsim.engine import libm

ROOT = Path(__file__).resolve().parent.parent


@numba.njit
def _ours(kind: int, x: np.ndarray) -> np.ndarray:  # pragma: no cover (compiled)
    out = np.empty_like(x)
    for i in range(x.size):
        if kind == 0:
            out[i] = libm.exp(x[i])
        elif kind == 1:
            out[i] = libm.log(x[i])
        elif kind == 2:
            out[i] = libm.cos_2pi(x[i])
        elif kind == 3:
            out[i] = libm.expm1(x[i])
        else:
            out[i] = libm.log1p(x[i])
    return out


@numba.njit
def _clib(kind: int, x: np.ndarray) -> np.ndarray:  # pragma: no cover (compiled)
    out = np.empty_like(x)
    for i in range(x.size):
        if kind == 0:
            out[i] = math.exp(x[i])
        elif kind == 1:
            out[i] = math.log(x[i])
        elif kind == 2:
            out[i] = math.cos(2.0 * math.pi * x[i])
        elif kind == 3:
            out[i] = math.expm1(x[i])
        else:
            out[i] = math.log1p(x[i])
    return out


def _ulps(ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.abs(ours - ref) / np.spacing(np.abs(ref))


@pytest.mark.parametrize(
    ("kind", "low", "high", "bound"),
    [
        (0, -745.0, 709.7, 1.0),  # exp over its whole range (subnormal results included)
        (0, -2.0, 2.0, 1.0),  # and where the reduction takes k = 0, +-1
        (1, -700.0, 700.0, 1.0),  # log of e**-700 .. e**700 (drawn as exp of the uniform)
        (3, -40.0, 5.0, 4.0),  # expm1 (Kahan's identity: a few ulps)
        (3, -1e-6, 1e-6, 4.0),
        (4, -0.999, 10.0, 4.0),  # log1p
        (4, -1e-9, 1e-9, 4.0),
    ],
)
def test_within_a_unit_of_the_c_library(kind: int, low: float, high: float, bound: float) -> None:
    x = np.random.default_rng(kind).uniform(low, high, 400_000)
    if kind == 1:
        x = np.exp(x)
    ours, ref = _ours(kind, x), _clib(kind, x)
    keep = ref != 0
    assert _ulps(ours[keep], ref[keep]).max() <= bound


def test_cos_of_a_turn_is_within_a_few_units_of_one() -> None:
    """cos(2 pi u) for u in [0, 1]: the C library's reference rounds 2 pi u first (an error of up to half an ulp
    of the angle, 4e-16), so the comparison is absolute."""
    u = np.random.default_rng(7).random(400_000)
    assert np.abs(_ours(2, u) - _clib(2, u)).max() <= 1e-15
    # the quarter turns exactly (the reduction is exact): 1, 0, -1, 0, 1
    assert _ours(2, np.array([0.0, 0.25, 0.5, 0.75, 1.0])).tolist() == [1.0, 0.0, -1.0, 0.0, 1.0]


def test_special_values() -> None:
    inf, nan = np.inf, np.nan
    e = _ours(0, np.array([0.0, -0.0, inf, -inf, nan, 710.0, -746.0, 1.0, -745.1332191019411]))
    assert e[:4].tolist() == [1.0, 1.0, inf, 0.0] and np.isnan(e[4])
    assert e[5] == inf and e[6] == 0.0 and abs(e[7] - math.e) <= np.spacing(math.e) and e[8] == 5e-324
    lg = _ours(1, np.array([0.0, -0.0, inf, nan, -1.0, 1.0, 5e-324, math.e]))
    assert lg[:3].tolist() == [-inf, -inf, inf] and np.isnan(lg[3]) and np.isnan(lg[4])
    assert lg[5] == 0.0 and lg[6] == math.log(5e-324) and abs(lg[7] - 1.0) <= 2.3e-16
    assert libm.pow(0.0, 2.5) == 0.0 and libm.pow(7.0, 0.0) == 1.0 and libm.expm1(0.0) == 0.0


def test_the_array_forms_equal_the_scalar_ones_on_any_layout() -> None:
    x = np.random.default_rng(3).uniform(-5, 5, (40, 30))
    strided = x[:, ::3]
    assert np.array_equal(libm.exp_array(strided), _ours(0, np.ascontiguousarray(strided).ravel()).reshape(40, 10))
    out = np.empty((40, 30))
    libm.log_array(np.abs(x), out=out)
    assert np.array_equal(out, _ours(1, np.abs(x).ravel()).reshape(40, 30))
    assert np.array_equal(libm.pow_array(np.abs(x), 1.5), libm.exp_array(1.5 * libm.log_array(np.abs(x))))


@numba.njit
def _fdlibm_exp(x: float) -> float:  # pragma: no cover (compiled)
    """fdlibm's ``e_exp.c`` with its branches, as written there: the reference the select form must equal."""
    if x != x:
        return x
    if x > 7.09782712893383973096e02:
        return np.inf
    if x < -7.45133219101941108420e02:
        return 0.0
    ax, k, hi, lo = abs(x), 0, 0.0, 0.0
    if ax > 0.34657359027997264:
        if ax < 1.0397207708399179:
            hi, lo, k = (x - libm._LN2_HI, libm._LN2_LO, 1) if x > 0 else (x + libm._LN2_HI, -libm._LN2_LO, -1)
        else:
            k = int(libm._INV_LN2 * x + (0.5 if x > 0 else -0.5))
            hi, lo = x - k * libm._LN2_HI, k * libm._LN2_LO
        x = hi - lo
    elif ax < 3.725290298461914e-09:
        return 1.0 + x
    t = x * x
    c = x - t * (libm._P1 + t * (libm._P2 + t * (libm._P3 + t * (libm._P4 + t * libm._P5))))
    if k == 0:
        return 1.0 - ((x * c) / (c - 2.0) - x)
    y = 1.0 - ((lo - (x * c) / (2.0 - c)) - hi)
    if k >= -1021:
        return y * 2.0 * 2.0**1023 if k == 1024 else y * 2.0**k
    return y * 2.0 ** (k + 1000) * 2.0**-1000


@numba.njit
def _fdlibm_exps(x: np.ndarray) -> np.ndarray:  # pragma: no cover (compiled)
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = _fdlibm_exp(x[i])
    return out


def test_exp_selects_give_fdlibms_bits_in_every_branch() -> None:
    """:func:`libm.exp` computes fdlibm's general reduction everywhere and selects the special cases (so that its
    loops vectorise): in each of fdlibm's branches, and at their edges, it must give fdlibm's bits."""
    rng = np.random.default_rng(11)
    edges = np.array([0.34657359027997264, 1.0397207708399179, 3.725290298461914e-09, 709.78, -708.39, -745.13])
    x = np.concatenate(
        [
            rng.uniform(-4e-9, 4e-9, 200_000),  # 1 + x below 2**-28, the series just above
            rng.uniform(-0.35, 0.35, 200_000),  # k = 0
            rng.uniform(-1.04, 1.04, 200_000),  # k = +-1
            rng.uniform(-745.2, 709.8, 400_000),  # the general reduction, subnormal results, both ends
            np.concatenate([edges, -edges]),
            np.nextafter(np.concatenate([edges, -edges]), -np.inf),
            np.nextafter(np.concatenate([edges, -edges]), np.inf),
        ]
    )
    ours = libm.exp_array(x)
    ref = _fdlibm_exps(x)
    assert np.array_equal(ours, ref)


_RUN = """
import hashlib, numpy as np, cjmsim
from cjmsim.engine.exposure import hill
h = hashlib.sha256()
for name in ("hifi", "clv", "clinic"):
    r = cjmsim.simulate(cjmsim.load_scenario(f"scenarios/{name}.toml"), agents=3000, reps=1, weeks=30)
    for df in (r.summary, r.weekly):
        h.update(df.to_csv(index=False, float_format="%.17g").encode())
# Hill's power form (no shipped scenario has a slope other than 1 or 2; a small run would rarely feel a last bit)
adstock = np.random.default_rng(1).random(100_000).astype(np.float32) * 10
h.update(hill(adstock, 0.5, 1.5, np.empty_like(adstock)).tobytes())
print(h.hexdigest())
"""


@pytest.mark.slow
def test_one_seed_gives_one_run_whatever_simd_numpy_finds() -> None:
    """The same runs, once with numpy's CPU-specific loops (AVX2, AVX-512 where the machine has them) and once
    with all of them switched off (``NPY_DISABLE_CPU_FEATURES``): numpy's float64 exp and log differ in the last
    bit between the two, so before the engine took its own, hifi, clv and clinic all gave other numbers, and
    numpy's power gave Hill's power form (a slope other than 1 and 2) other saturations."""
    from numpy._core import _multiarray_umath as umath

    found = [f for f in umath.__cpu_dispatch__ if umath.__cpu_features__.get(f)]
    if not found:
        pytest.skip("numpy finds no CPU feature beyond its baseline here: nothing to switch off")
    digests = []
    for disable in ("", " ".join(found)):
        env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": disable}
        res = subprocess.run([sys.executable, "-c", _RUN], cwd=ROOT, env=env, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr[-2000:]
        digests.append(res.stdout.strip())
    assert len(digests[0]) == 64 and digests[0] == digests[1]
    assert hashlib.sha256(b"").hexdigest() not in digests


def test_numpy_sum_adds_in_numpys_order_at_any_length():
    """libm.numpy_sum (and pairwise_sum up to 128 values) give numpy's float64 sum bit for bit: one
    accumulator below 8 values, eight up to 128, numpy's halves beyond (a plain running sum differs)."""
    from cjmsim.engine.libm import numpy_sum, pairwise_sum

    rng = np.random.default_rng(8)
    plain_differs = 0
    for n in [*range(1, 140), 255, 256, 257, 1000, 1025, 4099]:
        for _ in range(5):
            v = rng.standard_normal(n + 5) * rng.uniform(0, 1e6, n + 5)  # magnitudes over six decades
            want = v[3 : 3 + n].sum()
            assert numpy_sum(v, 3, n) == want, n
            if n <= 128:
                assert pairwise_sum(v, 3, n) == want, n
            plain_differs += float(np.cumsum(v[3 : 3 + n])[-1]) != want
    assert plain_differs > 0  # the order matters for these values: the test can tell one from another
