"""Fast journeys (issue 13, item 5): `steps_per_week` journey moves a week, on the week's exposures.

Statistical checks: fixed seeds, tolerance 3 binomial standard errors per stage and week, from the
closed form (agents are independent with no marketing and no heterogeneity).
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import helpers
import numpy as np
import pytest
from click.testing import CliRunner

from cjmsim import load_scenario, parse_scenario, simulate
from cjmsim.cli import main
from cjmsim.engine.records import Records

# per-step (per-day) rates of a segment with seven moves a week
BASE = {"aware": 0.03, "interest": 0.25, "desire": 0.2, "purchase": 0.3}
DROP = {"aware": 0.02, "interest": 0.03, "desire": 0.05}
REPEAT, LOYAL, CHURN, RETURN = {"customer": 0.05, "loyal": 0.1}, 0.02, {"customer": 0.01, "loyal": 0.004}, 0.01


def _daily(n: int, weeks: int, steps: int, seed: int = 23, **over: Any) -> dict[str, Any]:
    rates: dict[str, Any] = {
        "base": BASE,
        "drop": DROP,
        "repeat": REPEAT,
        "loyal": LOYAL,
        "churn": CHURN,
        "return_rate": RETURN,
        "steps_per_week": steps,
    }
    seg = helpers.segment("Urgent", **{**rates, **over})
    return {
        "scenario": {"weeks": weeks, "population": n, "agents": n, "seed": seed},
        "segments": {"a": seg},
        "plans": {"none": {"campaigns": []}},
    }


def _step_matrix() -> np.ndarray:
    """The per-step transition matrix of the stages (unaware .. lost), from the numbers above."""
    M = np.zeros((7, 7))
    M[0, 1] = BASE["aware"]
    for s, (adv, drop) in enumerate(
        [(BASE["interest"], DROP["aware"]), (BASE["desire"], DROP["interest"]), (BASE["purchase"], DROP["desire"])],
        start=1,
    ):
        M[s, s + 1] = adv
        M[s, 6] = (1 - adv) * drop
    M[4, 6], M[4, 5] = CHURN["customer"], LOYAL  # a repeat order does not change the stage
    M[5, 6] = CHURN["loyal"]
    M[6, 1] = RETURN
    M[np.arange(7), np.arange(7)] = 1 - M.sum(axis=1)
    return M


def test_stage_mix_after_T_weeks_is_M_to_the_7T() -> None:
    """Stage shares at the end of week t: initial @ M^(7 (t + 1))."""
    n, W, k = 50_000, 8, 7
    rec = simulate(parse_scenario(_daily(n, W, k))).records["none"][0]
    M = _step_matrix()
    x0 = np.eye(7)[0]
    for t in range(W):
        dist = x0 @ np.linalg.matrix_power(M, k * (t + 1))
        got = rec.stage[t, 0]
        for s in range(7):
            se = math.sqrt(n * dist[s] * (1 - dist[s]))
            assert abs(got[s] - n * dist[s]) <= 3 * se + 1e-9, (t, s, got[s], n * dist[s])
    # one move a week would be far off: the closed form can tell the two apart
    one = x0 @ np.linalg.matrix_power(M, W)
    assert abs(rec.stage[W - 1, 0, 4] - n * one[4]) > 10 * math.sqrt(n * one[4])


def test_entries_sum_over_the_moves_of_a_week() -> None:
    """Week 0 from all unaware: new aware = n (1 - (1 - a)^7) within 3 SE (each agent enters at most once)."""
    n = 50_000
    rec = simulate(parse_scenario(_daily(n, 1, 7))).records["none"][0]
    p = 1 - (1 - BASE["aware"]) ** 7
    assert abs(rec.aware[0, 0] - n * p) <= 3 * math.sqrt(n * p * (1 - p))


def test_urgent_need_buys_within_the_week() -> None:
    """Daily rates of an urgent need: median time to purchase 0 or 1 week; one move a week needs 3."""
    rates = {"aware": 0.05, "interest": 0.7, "desire": 0.7, "purchase": 0.7}
    fast = simulate(parse_scenario(_daily(20_000, 10, 7, base=rates))).records["none"][0]
    slow = simulate(parse_scenario(_daily(20_000, 10, 1, base=rates))).records["none"][0]

    def median(ttp: np.ndarray) -> int:
        c = np.cumsum(ttp)
        return int(np.searchsorted(c, c[-1] / 2))

    assert median(fast.ttp[0]) <= 1
    assert fast.ttp[0, 0] > 0  # bought in the week the need arose
    assert median(slow.ttp[0]) >= 3 and slow.ttp[0, :3].sum() == 0


@pytest.mark.parametrize("bad", [0, 8, 1.5])
def test_steps_per_week_is_checked(bad: float) -> None:
    from cjmsim.scenario import ScenarioError

    with pytest.raises(ScenarioError, match="steps_per_week"):
        parse_scenario(_daily(10, 1, bad))  # type: ignore[arg-type]


def test_one_move_a_week_is_bit_identical() -> None:
    """steps_per_week = 1 written out is the default; a fast segment leaves the others bit for bit."""
    data = helpers.minimal_scenario()
    data["segments"] = {"a": helpers.segment("A", 0.5), "b": helpers.segment("B", 0.5)}
    plain = simulate(parse_scenario(data)).records["none"][0]
    data["segments"]["b"]["steps_per_week"] = 1
    same = simulate(parse_scenario(data)).records["none"][0]
    data["segments"]["b"]["steps_per_week"] = 7
    fast = simulate(parse_scenario(data)).records["none"][0]
    for f in fields(Records):
        x = getattr(plain, f.name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, getattr(same, f.name), err_msg=f.name)
            if x.ndim >= 2 and x.shape[1] == 2 and f.name in ("stage", "orders", "aware"):
                np.testing.assert_array_equal(x[:, 0], getattr(fast, f.name)[:, 0], err_msg=f.name)
    assert (plain.orders[:, 1] != fast.orders[:, 1]).any()


def test_orders_of_later_moves_get_their_own_values() -> None:
    """An agent ordering twice in a week (move 0 and a later move) gets two different order values."""
    data = _daily(5_000, 3, 7, repeat={"customer": 0.9, "loyal": 0.9}, initial={"customer": 1.0})
    log = simulate(parse_scenario(data), export=True).records["none"][0].order_log
    per = log.groupby(["agent", "week"])["value"]
    assert (per.size() > 1).any()
    assert (per.nunique() == per.size()).all()


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["clinic", "minimal", "clv", "mmm"])
def test_shipped_scenarios_give_no_persona_warning(name: str) -> None:
    """`cjmsim validate` (its quick persona check) passes these scenarios without a warning."""
    res = CliRunner().invoke(main, ["validate", str(ROOT / "scenarios" / f"{name}.toml")])
    assert res.exit_code == 0, res.output
    assert "warning" not in res.output.lower(), res.output


def test_clinic_urgent_segment_buys_within_a_week() -> None:
    """scenarios/clinic.toml: the urgent segment's median time to purchase is at most 1 week."""
    res = simulate(load_scenario(ROOT / "scenarios" / "clinic.toml"), ["current"], agents=20_000, baseline=False)
    s = res.summary
    urgent = s[(s.segment == "urgent")].ttp_median_weeks.iloc[0]
    assert urgent <= 1
    assert s[s.segment == "checkup"].ttp_median_weeks.iloc[0] > 1  # the others take weeks
