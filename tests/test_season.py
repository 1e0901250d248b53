"""Seasonality and trend on the calendar (issue 13 item 1): the time-varying chain, the keys, prices.

Statistical checks: fixed seeds, tolerance 3 standard errors computed in each test from the closed
form (binomial SE of a stage count of independent agents; Poisson SE of delivered units).
"""

from __future__ import annotations

import datetime
import math
from pathlib import Path

import helpers
import numpy as np
import pytest

from cjmsim import parse_scenario, simulate
from cjmsim.scenario import ScenarioError, load_scenario

STAGES = ("unaware", "aware", "interest", "desire", "customer", "loyal", "lost")
UNA, AWA, INT, DES, CUS, LOY, LOS = range(7)
PEAKS = [{"week": 48, "width": 3.0, "height": 0.9}, {"week": 2, "width": 2.0, "height": -0.4}]


def peaks_multiplier(week: int, peaks: list[dict]) -> float:
    """The stated formula: 1 + sum_k height_k exp(-d_k^2 / (2 width_k^2)), d_k circular (mod 52)."""
    out = 1.0
    for p in peaks:
        d = abs(week - p["week"]) % 52
        d = min(d, 52 - d)
        out += p["height"] * math.exp(-(d**2) / (2 * p["width"] ** 2))
    return out


def week_of_year(start: datetime.date, t: int) -> int:
    """The stated rule: the date start + 7 t days, min(52, (day_of_year - 1) // 7 + 1)."""
    return min(52, ((start + datetime.timedelta(days=7 * t)).timetuple().tm_yday - 1) // 7 + 1)


def chain_scenario(agents: int, weeks: int, start: str, season: dict | None) -> dict:
    """One segment, no marketing, every kind of move; ``season`` the scenario-wide [seasonality]."""
    seg = helpers.segment(
        "A",
        1.0,
        base={"aware": 0.04, "interest": 0.12, "desire": 0.2, "purchase": 0.15},
        drop={"aware": 0.05, "interest": 0.04, "desire": 0.1},
        repeat={"customer": 0.05, "loyal": 0.1},
        loyal=0.02,
        churn={"customer": 0.03, "loyal": 0.01},
        return_rate=0.06,
        initial={
            "unaware": 0.6,
            "aware": 0.1,
            "interest": 0.08,
            "desire": 0.05,
            "customer": 0.1,
            "loyal": 0.04,
            "lost": 0.03,
        },
    )
    data = {
        "scenario": {"weeks": weeks, "population": agents, "agents": agents, "seed": 913, "start_date": start},
        "segments": {"a": seg},
        "channels": {},
        "plans": {"none": {"campaigns": []}},
    }
    if season is not None:
        data["seasonality"] = season
    return data


def transition_matrix(seg: dict, factor: dict[str, float]) -> np.ndarray:
    """One week's 7 x 7 matrix of the documented rules, the rates in ``factor`` multiplied (p capped)."""

    def rate(name: str, p: float) -> float:
        return min(p * factor.get(name, 1.0), 1 - 1e-6) if p > 0 else 0.0

    b, d = seg["base"], seg["drop"]
    M = np.zeros((7, 7))
    for s, nxt, name in ((UNA, AWA, "aware"), (AWA, INT, "interest"), (INT, DES, "desire"), (DES, CUS, "purchase")):
        p = rate(name, b[name])
        drop = d.get(STAGES[s], 0.0) if s != UNA else 0.0
        M[s, nxt] = p
        M[s, LOS] = (1 - p) * drop
        M[s, s] = 1 - p - (1 - p) * drop
    # customers: churn and loyalty from the same draw, whatever the repeat order (repeat keeps the stage)
    M[CUS, LOS], M[CUS, LOY] = seg["churn"]["customer"], seg["loyal"]
    M[CUS, CUS] = 1 - M[CUS, LOS] - M[CUS, LOY]
    M[LOY, LOS] = seg["churn"]["loyal"]
    M[LOY, LOY] = 1 - M[LOY, LOS]
    r = rate("return", seg["return_rate"])
    M[LOS, AWA], M[LOS, LOS] = r, 1 - r
    return M


def expected_occupancy(data: dict, rates: list[str], curve, trend: float) -> np.ndarray:
    """(weeks, 7): the initial mix times the product of the weekly matrices, end of each week."""
    seg = data["segments"]["a"]
    start = datetime.date.fromisoformat(data["scenario"]["start_date"])
    pi = np.array([seg["initial"].get(s, 0.0) for s in STAGES])
    out = []
    for t in range(data["scenario"]["weeks"]):
        f = curve(week_of_year(start, t)) * (1 + trend) ** (t / 52)
        pi = pi @ transition_matrix(seg, {r: f for r in rates})
        out.append(pi)
    return np.array(out)


@pytest.mark.slow
def test_time_varying_chain_is_the_product_of_weekly_matrices():
    """Stage counts after T weeks = n x pi_0 x M_0 ... M_{T-1}, each stage within 3 binomial SE (seed 913)."""
    n, weeks, trend = 200_000, 40, 0.3
    rates = ["aware", "interest", "return"]
    season = {"peaks": PEAKS, "trend": trend, "rates": rates}
    data = chain_scenario(n, weeks, "2026-09-07", season)
    rec = simulate(parse_scenario(data)).records["none"][0]

    expected = expected_occupancy(data, rates, lambda w: peaks_multiplier(w, PEAKS), trend)
    flat = expected_occupancy(data, rates, lambda w: 1.0, 0.0)
    for t in (12, 25, weeks - 1):  # through the Q4 peak, the January trough and after
        got = rec.stage[t, 0] / n
        se = np.sqrt(expected[t] * (1 - expected[t]) / n)
        assert (np.abs(got - expected[t]) < 3 * se).all(), (t, got, expected[t], se)
        # the test can tell: without seasonality some stage would be far outside the band
        assert (np.abs(flat[t] - expected[t]) > 6 * se).any()
    # the records carry the factors in force: season from the curve, trend (1 + g) ** (t / 52)
    start = datetime.date(2026, 9, 7)
    np.testing.assert_allclose(
        rec.season[:, 0], [peaks_multiplier(week_of_year(start, t), PEAKS) for t in range(weeks)]
    )
    np.testing.assert_allclose(rec.trend[:, 0], (1 + trend) ** (np.arange(weeks) / 52))


def test_warm_up_weeks_use_their_own_calendar_weeks():
    """The warm-up's negative weeks fall on the dates before start_date, with the trend below 1."""
    data = chain_scenario(2_000, 4, "2027-01-04", {"weekly": [1.0] * 51 + [3.0], "trend": 0.1})
    base = parse_scenario(data)
    assert week_of_year(datetime.date(2027, 1, 4), -1) == 52  # 28 December
    from cjmsim.engine.compiled import calendar, segment_models

    cal = calendar(base, segment_models(base, []), 4, 2)
    # t = -2: 21 December, day 355, week 51; t = -1: 28 December, week 52 (the 52nd holds the year's end)
    np.testing.assert_allclose(cal.season[:, 0], [1.0, 3.0, 1.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(cal.trend[:, 0], 1.1 ** (np.arange(-2, 4) / 52))


def test_peaks_weekly_and_file_give_the_same_curve(tmp_path: Path, write_toml):
    curve = [peaks_multiplier(w, PEAKS) for w in range(1, 53)]
    by_peaks = parse_scenario(chain_scenario(1000, 3, "2026-01-05", {"peaks": PEAKS}))
    by_weekly = parse_scenario(chain_scenario(1000, 3, "2026-01-05", {"weekly": curve}))
    (tmp_path / "season.csv").write_text(
        "week,multiplier\n" + "".join(f"{w},{v!r}\n" for w, v in enumerate(curve, start=1)), encoding="utf-8"
    )
    path = write_toml(chain_scenario(1000, 3, "2026-01-05", {"file": "season.csv"}))
    by_file = load_scenario(path)
    assert by_peaks.seasonality is not None and by_weekly.seasonality is not None
    assert by_file.seasonality is not None
    np.testing.assert_allclose(by_peaks.seasonality.curve, curve, rtol=1e-15)
    assert by_weekly.seasonality.curve == by_file.seasonality.curve == tuple(curve)
    # the validated scenario carries the file's numbers: a copy re-validates anywhere
    again = parse_scenario(by_file.model_dump())
    assert again.seasonality is not None and again.seasonality.curve == tuple(curve)
    # and the engine sees one curve: identical runs
    recs = [simulate(sc).records["none"][0] for sc in (by_peaks, by_weekly, by_file)]
    for r in recs[1:]:
        np.testing.assert_array_equal(r.stage, recs[0].stage)


def test_a_flat_curve_changes_nothing():
    """Multiplier 1 every week and no trend: the same run, bit for bit, as no [seasonality]."""
    plain = simulate(parse_scenario(chain_scenario(5_000, 10, "2026-01-05", None))).records["none"][0]
    flat = simulate(parse_scenario(chain_scenario(5_000, 10, "2026-01-05", {"weekly": [1.0] * 52}))).records
    for name in ("stage", "aware", "orders", "revenue"):
        np.testing.assert_array_equal(getattr(flat["none"][0], name), getattr(plain, name), err_msg=name)
    assert (plain.season == 1).all() and (plain.trend == 1).all()


def test_segment_seasonality_replaces_the_scenario_wide_one():
    data = chain_scenario(1000, 6, "2026-11-23", {"weekly": [2.0] * 52})
    data["segments"]["b"] = {**data["segments"]["a"], "name": "B", "share": 0.5, "seasonality": {"trend": 1.0}}
    data["segments"]["a"]["share"] = 0.5
    rec = simulate(parse_scenario(data)).records["none"][0]
    assert (rec.season[:, 0] == 2.0).all() and (rec.trend[:, 0] == 1.0).all()
    assert (rec.season[:, 1] == 1.0).all()
    np.testing.assert_allclose(rec.trend[:, 1], 2.0 ** (np.arange(6) / 52))


# ---- validation


def _error(data: dict) -> str:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data, source="s.toml")
    return str(err.value)


@pytest.mark.parametrize(
    ("season", "words"),
    [
        ({"peaks": [{"week": 2, "width": 2, "height": -1.5}]}, ["seasonality", "week 1 of the year", "negative"]),
        ({"peaks": [{"week": 53, "width": 1, "height": 1}]}, ["seasonality.peaks[0].week", "52"]),
        ({"peaks": [{"week": 5, "width": 0, "height": 1}]}, ["seasonality.peaks[0].width", "greater than 0"]),
        ({"weekly": [1.0] * 51}, ["seasonality", "51 values", "52"]),
        ({"weekly": [1.0] * 51 + [-0.1]}, ["week 52 of the year", "negative"]),
        ({"weekly": [1.0] * 52, "peaks": PEAKS}, ["at most one of peaks, weekly, file"]),
        ({"rates": ["churn"]}, ["seasonality.rates[0]", "'aware'", "'return'"]),
        ({"trend": -1.0}, ["seasonality.trend", "greater than or equal to -0.9"]),
        ({"trend": 1e300}, ["seasonality.trend", "less than or equal to 10"]),
        ({"weekly": [1.0] * 51 + [1e308]}, ["week 52 of the year", "above 1000"]),
        ({"peaks": [{"week": 5, "width": 1e-300, "height": 1}]}, None),  # a needle: valid, week 5 is 2
        ({"file": "nowhere.csv"}, ["seasonality", "nowhere.csv", "no such file"]),
    ],
)
def test_bad_seasonality_is_named(season: dict, words: list[str] | None):
    if words is None:
        sc = parse_scenario(chain_scenario(100, 2, "2026-01-05", season))
        assert sc.seasonality is not None and sc.seasonality.curve[4] == 2.0 and sum(sc.seasonality.curve) == 53
        return
    msg = _error(chain_scenario(100, 2, "2026-01-05", season))
    for w in words:
        assert w in msg, msg


def test_a_bad_file_names_the_file_and_row(tmp_path: Path, write_toml):
    rows = [f"{w},1.0" for w in range(1, 53)]
    rows[6] = "7,lots"
    (tmp_path / "bad.csv").write_text("week,multiplier\n" + "\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "short.csv").write_text("week,multiplier\n" + "\n".join(rows[:6]) + "\n", encoding="utf-8")
    for name, words in (("bad.csv", ["'bad.csv', row 8", "'7,lots'"]), ("short.csv", ["'short.csv'", "missing"])):
        path = write_toml(chain_scenario(100, 2, "2026-01-05", {"file": name}), name + ".toml")
        with pytest.raises(ScenarioError) as err:
            load_scenario(path)
        for w in words:
            assert w in str(err.value), str(err.value)


def test_price_season_refuses_rates_and_free_weeks():
    data = helpers.funnel_scenario()
    data["channels"]["search"]["price_season"] = {"weekly": [1.0] * 52, "rates": ["aware"]}
    assert "channels.search.price_season.rates: unknown key 'rates'" in _error(data)
    data["channels"]["search"]["price_season"] = {"weekly": [1.0] * 51 + [0.0]}
    assert "week 52 of the year is 0, below 0.001" in _error(data)


# ---- prices


@pytest.mark.slow
def test_a_doubled_price_halves_the_units_a_budget_buys():
    """price_season x2: the same budget buys half the units at twice the price per unit (audience not full)."""
    n = 100_000
    seg = helpers.segment("A", 1.0, base={"aware": 0.01, "interest": 0.0, "desire": 0.0, "purchase": 0.0})
    data = {
        "scenario": {"weeks": 6, "population": n, "agents": n, "seed": 5},
        "segments": {"a": seg},
        "channels": {"ads": {"cost": {"cpm": 1000.0}, "frequency_cap": 20}},  # 1 per impression
        "plans": {"p": {"campaigns": [{"channel": "ads", "weekly": 0.2 * n}]}},  # mean 0.2 per agent: far below cap
    }
    plain = simulate(parse_scenario(data)).records["p"][0]
    data["channels"]["ads"]["price_season"] = {"weekly": [2.0] * 52}
    dear = simulate(parse_scenario(data)).records["p"][0]
    u1, u2 = plain.units[:, 0, 0], dear.units[:, 0, 0]
    # delivered units are Poisson sums: SE of u2 - u1 / 2 is sqrt(u2 + u1 / 4)
    assert (np.abs(u2 - u1 / 2) < 3 * np.sqrt(u2 + u1 / 4)).all(), (u1, u2)
    # every unit delivered is billed at twice the price, never more than the budget (the billing rule)
    budget = 0.2 * n
    np.testing.assert_allclose(dear.spend[:, 0, 0], np.minimum(u2 * 2.0, budget), rtol=1e-9)
    np.testing.assert_allclose(plain.spend[:, 0, 0], np.minimum(u1 * 1.0, budget), rtol=1e-9)
    np.testing.assert_array_equal(dear.planned, plain.planned)


def test_price_index_and_controls_in_mmm(funnel):
    from cjmsim.analyses.exports import mmm_table

    funnel["scenario"].update(agents=2_000, weeks=8, start_date="2026-11-30")
    funnel["channels"]["search"]["price_season"] = {"peaks": [{"week": 51, "width": 1, "height": 1.0}], "trend": 0.1}
    funnel["seasonality"] = {"weekly": [1.0] * 47 + [1.5] * 5}
    sc = parse_scenario(funnel)
    rec = simulate(sc).records["base"][0]
    m = mmm_table(rec, sc)
    start = datetime.date(2026, 11, 30)
    weeks = [week_of_year(start, t) for t in range(8)]
    np.testing.assert_allclose(m.season, [1.5 if w >= 48 else 1.0 for w in weeks])
    np.testing.assert_allclose(
        m.price_index_search,
        [peaks_multiplier(w, [{"week": 51, "width": 1, "height": 1.0}]) * 1.1 ** (t / 52) for t, w in enumerate(weeks)],
    )
    assert not any(c.startswith("price_index_") and c != "price_index_search" for c in m.columns)


def test_a_purchase_cycle_refuses_seasonality_on_repeat() -> None:
    """A cycle segment's repeat base logit is the cycle's table (its base column 0): a seasonal repeat rate
    would add a second base on top, so the combination is refused, naming both keys."""
    import tomllib

    data = tomllib.loads((Path(__file__).resolve().parents[1] / "scenarios" / "clinic.toml").read_text())
    sid = next(s for s, seg in data["segments"].items() if "cycle" in seg.get("repeat", {}))
    data["seasonality"] = {"peaks": [{"week": 48, "width": 3, "height": 0.5}], "rates": ["aware", "repeat"]}
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data)
    assert f"segments.{sid}.repeat.cycle" in str(err.value) and "seasonality.rates" in str(err.value)
    data["seasonality"]["rates"] = ["aware"]
    parse_scenario(data)  # without repeat it is fine
