"""Unit tests of the exposure model: capped Poisson means, unit allocation, inverse-CDF thresholds, Hill."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy import stats

from cjmsim.engine.exposure import (
    UNIFORM_LEVELS,
    allocate_many,
    allocate_units,
    capped_poisson_mean,
    exposure_thresholds,
    hill,
)

LAMS = np.array([0.0, 1e-6, 0.01, 0.3, 1.0, 2.5, 7.0, 20.0, 60.0])


def direct_capped_mean(lam: float, cap: int) -> float:
    """E[min(X, cap)] summed directly over the Poisson pmf."""
    k = np.arange(cap)
    return float((k * stats.poisson.pmf(k, lam)).sum() + cap * stats.poisson.sf(cap - 1, lam))


def implied_exposures(lam: float, cap: int) -> np.ndarray:
    """Exposures every 16-bit uniform gets: x(U) = sum_k [U > T_k], for U = 0..65535."""
    T = exposure_thresholds(np.array([lam]), cap)[0].astype(np.int64)
    U = np.arange(UNIFORM_LEVELS)[:, None]
    return (U > T[None, :]).sum(axis=1)


# ---- capped_poisson_mean


@pytest.mark.parametrize("cap", [1, 2, 3, 5, 15])
def test_capped_poisson_mean_matches_direct_sum(cap):
    got = capped_poisson_mean(LAMS, cap)
    want = np.array([direct_capped_mean(x, cap) for x in LAMS])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert got.shape == LAMS.shape
    assert (got <= np.minimum(LAMS, cap) + 1e-12).all()  # never above lam, never above the cap


def test_capped_poisson_mean_limits():
    assert capped_poisson_mean(np.array([0.0]), 4)[0] == 0.0
    assert capped_poisson_mean(np.array([1e4]), 4)[0] == pytest.approx(4.0)
    small = 1e-5
    assert capped_poisson_mean(np.array([small]), 3)[0] == pytest.approx(small, rel=1e-4)
    grid = np.linspace(0, 30, 301)
    assert (np.diff(capped_poisson_mean(grid, 6)) > 0).all()


# ---- allocate_units


def absorbed(lam: np.ndarray, counts: np.ndarray, cap: int) -> float:
    return float((counts * capped_poisson_mean(lam, cap)).sum())


@pytest.mark.parametrize("cap", [1, 3, 10])
@pytest.mark.parametrize("fill", [0.01, 0.3, 0.9, 0.99])
def test_allocate_units_delivers_when_absorbable(cap, fill):
    counts = np.array([1000.0, 250.0, 0.0, 40.0])
    affinity = np.array([1.0, 0.4, 2.0, 3.0])
    capacity = float(counts.sum() * cap)
    units = fill * capacity * 0.5  # half the capacity times fill: absorbable at any affinity mix
    lam = allocate_units(units, counts, affinity, cap)
    assert absorbed(lam, counts, cap) == pytest.approx(units, rel=1e-6)
    assert absorbed(lam, counts, cap) <= units * (1 + 1e-9)
    assert lam[2] == 0.0  # no agents in that group
    live = counts > 0
    ratio = lam[live] / affinity[live]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)  # spread in proportion to affinity


def test_allocate_units_not_absorbable_delivers_capacity_only():
    counts = np.array([100.0, 50.0])
    affinity = np.array([1.0, 0.5])
    cap = 3
    units = 10 * counts.sum() * cap  # ten times what the audience can take
    lam = allocate_units(units, counts, affinity, cap)
    got = absorbed(lam, counts, cap)
    assert got <= units
    assert got == pytest.approx(counts.sum() * cap, rel=1e-6)  # everyone at the cap


@pytest.mark.parametrize("seed", range(4))
def test_allocate_many_is_each_allocate_units_bit_for_bit(seed):
    # many campaigns solved together equal each solved alone to the last bit: one group, several, none,
    # zero units, full audiences, affinities over 4 decades, and wider than numpy's 128-value sum block
    rng = np.random.default_rng(seed)
    for _ in range(60):
        K = int(rng.integers(1, 30))
        G = int(rng.choice([1, 2, 6, 11, 160]))
        dense = 0.95 if G > 128 else 0.75  # most of 160 groups live: more than 128 in most campaigns
        counts = rng.integers(0, 5000, (K, G)).astype(float) * (rng.random((K, G)) < dense)
        affinity = rng.random((K, G)) * (rng.random((K, G)) < dense) * rng.choice([1.0, 1e-3, 10.0], (K, G))
        caps = rng.integers(1, 15, K)
        scale = rng.choice([0.01, 0.3, 1.0, 3.0, 30.0, 1e4], K) * rng.random(K)
        units = np.where(rng.random(K) < 0.1, 0.0, counts.sum(axis=1) * scale)
        lam = allocate_many(units, counts, affinity, caps)
        for k in range(K):
            alone = allocate_units(float(units[k]), counts[k], affinity[k], int(caps[k]))
            assert alone.tobytes() == lam[k].tobytes(), (seed, k)


def test_allocate_many_of_no_campaigns():
    assert allocate_many(np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, dtype=np.int64)).shape == (0, 3)


def test_allocate_units_zero_cases():
    counts = np.array([10.0, 20.0])
    assert (allocate_units(0.0, counts, np.array([1.0, 1.0]), 3) == 0).all()
    assert (allocate_units(100.0, np.zeros(2), np.array([1.0, 1.0]), 3) == 0).all()
    assert (allocate_units(100.0, counts, np.zeros(2), 3) == 0).all()
    lam = allocate_units(10.0, counts, np.array([0.0, 1.0]), 3)
    assert lam[0] == 0.0 and lam[1] > 0


@given(
    units=st.floats(min_value=0.0, max_value=1e7, allow_nan=False),
    counts=st.lists(st.floats(min_value=0.0, max_value=1e5), min_size=1, max_size=6),
    affinity_seed=st.integers(min_value=0, max_value=2**32 - 1),
    cap=st.integers(min_value=1, max_value=20),
)
def test_allocate_units_never_exceeds_units(units, counts, affinity_seed, cap):
    counts = np.array(counts)
    affinity = np.random.default_rng(affinity_seed).uniform(0.0, 3.0, counts.size)
    lam = allocate_units(units, counts, affinity, cap)
    assert (lam >= 0).all() and np.isfinite(lam).all()
    got = absorbed(lam, counts, cap)
    assert got <= units * (1 + 1e-9) + 1e-9
    capacity = float((counts * (affinity > 0)).sum() * cap)
    assert got == pytest.approx(min(units, capacity), rel=1e-5, abs=1e-6)


@given(
    u1=st.floats(min_value=0.0, max_value=1e5),
    u2=st.floats(min_value=0.0, max_value=1e5),
    cap=st.integers(min_value=1, max_value=10),
)
def test_allocate_units_monotone_in_units(u1, u2, cap):
    counts = np.array([500.0, 80.0, 10.0])
    affinity = np.array([1.0, 0.25, 4.0])
    lo, hi = sorted((u1, u2))
    a, b = allocate_units(lo, counts, affinity, cap), allocate_units(hi, counts, affinity, cap)
    # more units never give less exposure: the thresholds of the larger budget are never higher
    assert (exposure_thresholds(b, cap) <= exposure_thresholds(a, cap)).all()


# ---- exposure_thresholds


@pytest.mark.parametrize("cap", [1, 2, 3, 6])
@pytest.mark.parametrize("lam", [1e-5, 0.05, 0.4, 1.0, 2.0, 4.5, 12.0, 40.0])
def test_thresholds_give_capped_poisson_distribution(lam, cap):
    x = implied_exposures(lam, cap)
    got = np.bincount(x, minlength=cap + 1) / UNIFORM_LEVELS
    k = np.arange(cap)
    want = np.append(stats.poisson.pmf(k, lam), stats.poisson.sf(cap - 1, lam))  # P(min(X, cap) = k)
    assert got.size == cap + 1  # never above the cap
    np.testing.assert_allclose(got, want, atol=2 / UNIFORM_LEVELS, rtol=0)
    assert x.mean() == pytest.approx(direct_capped_mean(lam, cap), abs=cap * 2 / UNIFORM_LEVELS)


def test_thresholds_zero_lam_no_exposures():
    for cap in (1, 4, 50):
        assert implied_exposures(0.0, cap).max() == 0
        assert (exposure_thresholds(np.zeros((2, 3)), cap) == UNIFORM_LEVELS - 1).all()


def test_thresholds_shape_and_dtype():
    t = exposure_thresholds(np.full((4, 28), 0.7), 5)
    assert t.shape == (4, 28, 5)
    assert t.dtype == np.uint16
    assert (np.diff(t.astype(int), axis=-1) >= 0).all()  # T_0 <= T_1 <= ...: x counts thresholds passed


def test_thresholds_monotone_on_a_grid():
    lam = np.linspace(0.0, 30.0, 3001)
    t = exposure_thresholds(lam, 7).astype(int)
    assert (np.diff(t, axis=0) <= 0).all()


@given(
    l1=st.floats(min_value=0.0, max_value=200.0, allow_nan=False),
    l2=st.floats(min_value=0.0, max_value=200.0, allow_nan=False),
    cap=st.integers(min_value=1, max_value=50),
    u=st.integers(min_value=0, max_value=UNIFORM_LEVELS - 1),
)
def test_thresholds_monotone_in_lam(l1, l2, cap, u):
    """Monotone coupling: the same uniform with a larger mean never gives fewer exposures."""
    lo, hi = sorted((l1, l2))
    t_lo, t_hi = exposure_thresholds(np.array([lo, hi]), cap).astype(int)
    assert (t_hi <= t_lo).all()
    assert (u > t_hi).sum() >= (u > t_lo).sum()
    assert (u > t_hi).sum() <= cap


# ---- hill


@pytest.mark.parametrize("slope", [1.0, 2.0, 1.5, 0.7, 3.0])
@pytest.mark.parametrize("half", [0.2, 1.0, 4.0])
def test_hill(slope, half):
    A = np.array([0.0, half / 10, half / 2, half, 2 * half, 10 * half, 1e4 * half], dtype=np.float32)
    out = np.empty_like(A)
    got = hill(A, half, slope, out=out)
    assert got is out
    assert out.dtype == np.float32
    assert out[0] == 0.0
    assert out[3] == pytest.approx(0.5, abs=1e-6)
    assert (np.diff(out) > 0).all()
    assert (out < 1).all() or out[-1] == pytest.approx(1.0, abs=1e-6)
    a64 = A.astype(np.float64)
    want = a64**slope / (a64**slope + half**slope)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-7)
    # symmetric around the half point on the log scale: sat(h*r) = 1 - sat(h/r)
    r = np.float32(3.0)
    pair = hill(np.array([half * r, half / r], dtype=np.float32), half, slope, out=np.empty(2, np.float32))
    assert pair[0] + pair[1] == pytest.approx(1.0, abs=1e-6)


def test_hill_steeper_slope_is_s_shaped():
    A = np.array([0.25, 4.0], dtype=np.float32)
    s1 = hill(A, 1.0, 1.0, np.empty(2, np.float32))
    s2 = hill(A, 1.0, 2.0, np.empty(2, np.float32))
    assert s2[0] < s1[0]  # below the half point a steeper curve is lower
    assert s2[1] > s1[1]  # above it, higher


@given(
    units=st.floats(min_value=0.0, max_value=1e6),
    n=st.floats(min_value=1.0, max_value=1e5),
    cap=st.integers(min_value=1, max_value=50),
)
def test_one_group_allocation_is_the_many_group_solution(units: float, n: float, cap: int) -> None:
    # the scalar fast path (one live group) and the vectorized path (a second group with a
    # negligible affinity forces it) solve the same equation below the audience's capacity
    assume(units <= 0.9 * n * cap)
    one = allocate_units(units, np.array([n, 0.0]), np.array([1.0, 1.0]), cap)[0]
    many = allocate_units(units, np.array([n, n]), np.array([1.0, 1e-300]), cap)[0]
    assert one == pytest.approx(many, rel=1e-9, abs=1e-12)
    assert n * float(capped_poisson_mean(np.array([one]), cap)[0]) <= units * (1 + 1e-9) + 1e-9
