"""Hardening (issue 11): numerics that never silently give wrong numbers.

Hill saturation stays finite and monotone over the whole validated range of ``half`` and
``slope`` (a tiny ``half`` with a steep slope used to underflow to 0/0 = NaN in float32), and
journey path codes name the right channels for any number of channels (4-bit codes overflowed
at 16 channels and named channels that were never bought).
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import numpy as np
import pytest
from helpers import segment
from hypothesis import given
from hypothesis import strategies as st

from cjmsim.analyses.exports import journeys_table
from cjmsim.engine import JourneyLog, Layout, libm, make_streams, path_channels, path_touches, run_plan
from cjmsim.engine.exposure import adstock_bound, hill, hill_is_plain
from cjmsim.scenario import parse_scenario

#: adstocks from 0 through every float32 magnitude an adstock can take
A_GRID = np.concatenate([[0.0], np.logspace(-44, 30, 3000)]).astype(np.float32)
HALVES = [1e-300, 1e-40, 1e-12, 1e-5, 1e-4, 0.3, 1.0, 7.0, 1e4, 1e12, 1e30, 1e300]
ULP = 2.0**-23  # float32 spacing just below 1
SLOPES = [1e-9, 0.01, 0.3, 1.0, 1.5, 2.0, 3.0, 7.0, 10.0]


def reference(A: np.ndarray, half: float, slope: float) -> np.ndarray:
    """sat in float64 from logs: exact to float64 wherever it is defined; 0 at A = 0."""
    a = A.astype(np.float64)
    with np.errstate(divide="ignore", over="ignore"):
        return 1.0 / (1.0 + np.exp(slope * (math.log(half) - np.log(a))))


# ---- Hill saturation


@pytest.mark.parametrize("slope", SLOPES)
@pytest.mark.parametrize("half", HALVES)
def test_hill_is_finite_monotone_and_accurate_over_the_validated_range(half: float, slope: float) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for amax in (None, 1e300):  # the plain formula where it is exact, and the stable form everywhere
            out = np.full_like(A_GRID, np.nan)
            got = hill(A_GRID, half, slope, out=out, amax=amax)
            assert got is out and out.dtype == np.float32
            assert np.isfinite(out).all()
            assert out[0] == 0.0
            assert (out >= 0).all() and (out <= 1).all()
            # the stable form is monotone; the plain formula's float32 division may step back one ulp near 1
            assert (np.diff(out) >= (0 if amax else -ULP)).all()
            np.testing.assert_allclose(out, reference(A_GRID, half, slope), rtol=0, atol=2e-6)


@pytest.mark.parametrize("slope", [0.5, 1.0, 1.5, 2.0, 3.0, 7.0, 10.0])
@pytest.mark.parametrize("half", [0.01, 0.3, 1.0, 4.0, 50.0])
def test_stable_form_matches_the_plain_formula_where_it_is_finite(half: float, slope: float) -> None:
    A = np.concatenate([[0.0], np.logspace(-3, 2.5, 500)]).astype(np.float32)
    with np.errstate(all="ignore"):
        a = A.astype(np.float32)
        plain = a ** np.float32(slope) / (a ** np.float32(slope) + np.float32(half**slope))
    finite = np.isfinite(plain)
    assert finite.sum() > 400
    stable = hill(A, half, slope, out=np.empty_like(A), amax=1e300)
    np.testing.assert_allclose(stable[finite], plain[finite], rtol=0, atol=1e-6)
    # and the dispatcher keeps the plain formula, bit for bit, where it is safe: A^slope in float64 by the
    # engine's libm (numpy's power depends on the CPU), rounded once to float32, as is half^slope
    if hill_is_plain(half, slope, float(A.max())):
        direct = hill(A, half, slope, out=np.empty_like(A), amax=float(A.max()))
        if slope not in (1.0, 2.0):
            power = libm.pow_array(A, slope).astype(np.float32)
            np.testing.assert_array_equal(direct, power / (power + np.float32(libm.pow(half, slope))))
            np.testing.assert_allclose(direct[finite], plain[finite], rtol=0, atol=1e-6)  # numpy's float32 formula


def test_the_plain_formula_is_kept_for_the_shipped_curves() -> None:
    # every curve of the shipped scenarios (slope 1, half 0.3..3, caps <= 10): the golden digests hold
    for half in (0.3, 0.5, 1.0, 1.5, 3.0):
        assert hill_is_plain(half, 1.0, adstock_bound(10, 0.5, 60))
    # the curves that used to underflow or overflow go the stable way
    assert not hill_is_plain(1e-5, 10.0, adstock_bound(3, 0.4, 8))
    assert not hill_is_plain(1.0, 10.0, 1e13)
    assert not hill_is_plain(1.0, 1e-9, 10.0)


@given(
    half=st.floats(min_value=1e-300, max_value=1e300),
    slope=st.floats(min_value=1e-12, max_value=10.0),
    a=st.floats(min_value=0.0, max_value=2.0**100, width=32),
    b=st.floats(min_value=0.0, max_value=2.0**100, width=32),
)
def test_hill_is_monotone_in_adstock_and_sharpness(half: float, slope: float, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    A = np.array([lo, hi], dtype=np.float32)
    s = hill(A, half, slope, out=np.empty(2, np.float32))
    assert np.isfinite(s).all() and 0 <= s[0] <= s[1] + ULP and s[1] <= 1
    # sharper (a smaller half) can only saturate sooner: sat never falls as half shrinks
    sharper = hill(A, half / 10, slope, out=np.empty(2, np.float32))
    assert (sharper >= s - ULP).all()


def test_adstock_bound_bounds_the_adstock() -> None:
    rng = np.random.default_rng(3)
    for cap, decay, weeks in [(3, 0.4, 30), (50, 0.999, 200), (5, np.float32(0.99999999), 80), (1, 0.0, 10)]:
        A = np.zeros(1000, dtype=np.float32)
        d = np.float32(decay)
        for _ in range(weeks):
            if d != 1:
                A *= d
            A += rng.integers(0, cap + 1, A.size).astype(np.float32)
        assert A.max() <= adstock_bound(cap, float(d), weeks)


# ---- the attack: a sharper saturation must not give fewer leads


def attack_scenario(half: float) -> dict[str, Any]:
    """A search channel with saturation half ``half`` and slope 10 (the half_1e-5 attack's curve)."""
    return {
        "scenario": {"name": "Sharp", "weeks": 8, "population": 100_000, "agents": 4_000, "seed": 42},
        "segments": {
            "a": segment(
                "A",
                initial={"unaware": 0.6, "aware": 0.15, "interest": 0.15, "desire": 0.1},
                affinity={"search": 1.0},
                odds={"search": {"interest": 1.5, "desire": 1.5, "purchase": 1.3}},
            )
        },
        "channels": {
            "search": {
                "cost": {"cpc": 30.0},
                "stages": ["aware", "interest", "desire"],
                "adstock": {"decay": 0.4},
                "saturation": {"half": half, "slope": 10.0},
                "frequency_cap": 3,
            }
        },
        "plans": {
            "none": {"campaigns": []},
            "search": {"campaigns": [{"channel": "search", "weekly": 150_000.0, "stages": ["interest", "desire"]}]},
        },
    }


def run(data: dict[str, Any], plan: str, agents: int = 4_000, weeks: int = 8, export: bool = False) -> Any:
    sc = parse_scenario(copy.deepcopy(data), source="test")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow, underflow or invalid in the engine is an error
        return run_plan(sc, plan, make_streams(42, 0, len(sc.segments)), agents, weeks, export=export)


def test_a_sharper_saturation_gives_at_least_the_leads_of_a_softer_one() -> None:
    leads = {}
    for half in (1e-4, 1e-5, 1e-12, 1e-200):
        rec = run(attack_scenario(half), "search")
        for name in ("leads", "orders", "desire", "customers"):
            assert np.isfinite(getattr(rec, name)).all()
        leads[half] = rec.leads.sum()
        assert rec.leads.sum() > 0
    none = run(attack_scenario(1e-5), "none")
    assert leads[1e-5] >= 0.9 * leads[1e-4]
    assert leads[1e-200] >= 0.9 * leads[1e-4]
    # the channel can only help (odds > 1): more orders than no marketing, not fewer
    assert run(attack_scenario(1e-5), "search").orders.sum() >= none.orders.sum()


def test_a_huge_adstock_with_a_steep_slope_does_not_overflow() -> None:
    data = attack_scenario(1.0)
    data["channels"]["search"].update(adstock={"decay": 0.999}, frequency_cap=50)
    data["plans"]["search"]["campaigns"][0]["weekly"] = 1e9
    rec = run(data, "search", agents=1_000, weeks=30)
    assert np.isfinite(rec.leads).all() and rec.leads.sum() > 0


# ---- journey path codes for any number of channels


def many_channels(C: int, bought: list[int]) -> dict[str, Any]:
    """C channels reaching everyone before purchase; the plan buys only the channels in ``bought``."""
    chans = {f"c{i}": {"cost": {"cpc": 1.0}, "frequency_cap": 2} for i in range(C)}
    odds = {f"c{i}": {"interest": 1.5, "desire": 1.5} for i in range(C)}
    return {
        "scenario": {"name": "Many", "weeks": 8, "population": 10_000, "agents": 3_000, "seed": 1},
        "segments": {
            "s": segment(
                "S",
                initial={"unaware": 0.5, "aware": 0.2, "interest": 0.2, "desire": 0.1},
                affinity={f"c{i}": 1.0 for i in range(C)},
                odds=odds,
            )
        },
        "channels": chans,
        "plans": {"p": {"campaigns": [{"channel": f"c{i}", "weekly": 400.0} for i in bought]}},
    }


@pytest.mark.parametrize("C, bought", [(17, [15]), (17, [16, 3, 0]), (40, [39, 31, 16, 2]), (300, [299, 256, 1])])
def test_journeys_name_only_the_channels_bought(C: int, bought: list[int]) -> None:
    data = many_channels(C, bought)
    rec = run(data, "p", weeks=8, export=True)
    names = list(data["channels"])
    j = journeys_table(rec, names)
    named = {t.strip() for p in j.path for t in p.split(">")} - {"direct"}
    assert named, "some journey was touched"
    assert named <= {names[i] for i in bought}
    # every logged code decodes to channels bought, no longer than the touches a code keeps
    for code in rec.journey_log.path.unique():
        chans = path_channels(int(code), C)
        assert set(chans) <= set(bought) and len(chans) <= path_touches(C)


@pytest.mark.parametrize("C", [1, 2, 15, 16, 17, 31, 32, 40, 63, 64, 1000])
def test_a_path_code_round_trips(C: int) -> None:
    rng = np.random.default_rng(C)
    log = JourneyLog()
    log.start(Layout(5, 1, C, np.zeros(1, dtype=np.intp)))
    touches: list[list[int]] = [[] for _ in range(5)]
    for week in range(60):  # one touch a week: within a week touches go in time order, not call order
        c = int(rng.integers(C))
        agents = np.flatnonzero(rng.random(5) < 0.7).astype(np.int64)
        log.on_exposures(0, week, c, agents, np.ones(agents.size, np.float32))
        for a in agents:
            if not touches[a] or touches[a][-1] != c:
                touches[a].append(c)
    log.flush(0)
    keep = path_touches(C)
    assert keep == 64 // max(4, C.bit_length())
    for a in range(5):
        assert path_channels(int(log.paths[a]), C) == touches[a][-keep:]
    assert path_channels(0, C) == []  # no touch: "direct"


def test_path_codes_keep_16_touches_up_to_15_channels() -> None:
    # the shipped scenarios' journeys.csv stay byte-identical: 4 bits a touch up to 15 channels
    assert [path_touches(C) for C in (1, 7, 15, 16, 31, 32, 63, 64)] == [16, 16, 16, 12, 12, 10, 10, 9]
