"""Known contacts and visitors at week 0 (issue 13, item 4): a segment's ``known`` shares by starting stage."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import helpers
import numpy as np
import pytest
from click.testing import CliRunner

from cjmsim import parse_scenario, simulate
from cjmsim.cli import main
from cjmsim.engine import make_streams, run_plan
from cjmsim.engine.population import CONTACT, LOST, VISITED, build_population
from cjmsim.engine.streams import child_seed
from cjmsim.scenario import STAGES, ScenarioError

LAPSED = 0.3  # share of agents starting lost
X = 0.6  # share of them in the database (contactable)


def _crm(known: dict[str, Any] | None) -> dict[str, Any]:
    """One segment, 30% starting lost, and an e-mail channel: contacts only, lost only, cap 1, ample budget."""
    data = helpers.minimal_scenario()
    data["scenario"].update(agents=20_000, population=20_000, weeks=2, seed=3)
    seg = data["segments"]["a"]
    seg["initial"] = {"unaware": 0.5, "aware": 0.1, "interest": 0.05, "desire": 0.05, "lost": LAPSED}
    if known is not None:
        seg["known"] = known
    data["channels"] = {
        "email": {
            "cost": {"per_message": 1.0},
            "stages": ["lost"],
            "requires": "contact",
            "frequency_cap": 1,
        }
    }
    data["plans"] = {"winback": {"campaigns": [{"channel": "email", "weekly": 1e7}]}}
    return data


def _week0_units_to_lost(known: dict[str, Any] | None) -> tuple[float, int]:
    """Messages delivered in week 0 to lost agents, in agents, and the number of agents starting lost."""
    sc = parse_scenario(_crm(known))
    agents = sc.scenario.agents
    rec = run_plan(sc, "winback", make_streams(sc.scenario.seed, 0, 1), agents, sc.scenario.weeks, threads=1)
    email = list(sc.channels).index("email")
    assert rec.units[0].sum() == pytest.approx(rec.units_stage[0, :, email, LOST].sum())  # lost agents only
    return float(rec.units_stage[0, 0, email, LOST]) / sc.weight, round(agents * LAPSED)


def test_lapsed_contacts_are_messaged_in_week_0():
    got, n_lost = _week0_units_to_lost({"contact": {"lost": X}})
    # contacts among the lost ~ Bin(n_lost, X) (fixed seed); with cap 1 and a budget far above the
    # audience each gets one message but with chance 1/65536 (the 16-bit exposure uniform)
    se = math.sqrt(n_lost * X * (1 - X))
    assert abs(got - n_lost * X) <= 3 * se, (got, n_lost * X, se)
    assert got > 0.5 * n_lost  # not a vacuous pass


def test_without_the_key_no_lost_agent_is_a_contact():
    got, _ = _week0_units_to_lost(None)
    assert got == 0.0


def _population(known: dict[str, Any], agents: int = 40_000, seed: int = 11) -> tuple[Any, Any]:
    data = helpers.minimal_scenario()
    data["segments"]["a"]["initial"] = {s: 1 / 7 for s in STAGES}
    data["segments"]["a"]["heterogeneity"] = 0.5
    data["segments"]["a"]["known"] = known
    sc = parse_scenario(data)
    streams = make_streams(seed, 0, 1)
    rngs = [np.random.default_rng(s) for s in streams.population]
    pop = build_population(sc, agents, rngs, [child_seed(s, 0) for s in streams.population])
    return sc, pop


KNOWN = {
    "contact": {"aware": 0.2, "desire": 0.5, "lost": 0.3},
    "visited": {"unaware": 0.1, "desire": 0.7, "lost": 0.6},
}


def test_flag_shares_per_stage_match():
    sc, pop = _population(KNOWN)
    contact, visited = sc.segments["a"].known.shares()
    assert contact == (0.0, 0.2, 0.0, 0.5, 1.0, 1.0, 0.3)
    assert visited == (0.1, 0.2, 1.0, 0.7, 1.0, 1.0, 0.6)  # aware: visited follows its contact share up
    is_c, is_v = (pop.flags & CONTACT) > 0, (pop.flags & VISITED) > 0
    assert not (is_c & ~is_v).any()  # every contact has visited
    for s, name in enumerate(STAGES):
        at = pop.stage == s
        n = int(at.sum())
        for flag, share in ((is_c, contact[s]), (is_v, visited[s])):
            got = flag[at].mean()
            if share in (0.0, 1.0):
                assert got == share, (name, got, share)  # exact: nothing drawn
            else:  # binomial share, fixed seed, 3 SE
                assert abs(got - share) <= 3 * math.sqrt(share * (1 - share) / n), (name, got, share)


def test_known_draws_change_no_other_draw():
    data = helpers.minimal_scenario()
    data["segments"]["a"]["initial"] = {s: 1 / 7 for s in STAGES}
    data["segments"]["a"]["heterogeneity"] = 0.5
    sc = parse_scenario(data)
    streams = make_streams(11, 0, 1)
    plain = build_population(sc, 40_000, [np.random.default_rng(s) for s in streams.population])
    _, known = _population(KNOWN)
    assert np.array_equal(plain.stage, known.stage)
    assert np.array_equal(plain.propensity, known.propensity)
    assert not np.array_equal(plain.flags, known.flags)


#: Today's rule written out: every share equal to its default.
DEFAULTS = {
    "contact": {"unaware": 0, "aware": 0, "interest": 0, "desire": 1, "customer": 1, "loyal": 1, "lost": 0},
    "visited": {"unaware": 0, "aware": 0, "interest": 1, "desire": 1, "customer": 1, "loyal": 1, "lost": 0},
}


def test_the_rule_of_today_is_the_default():
    data = helpers.minimal_scenario()
    data["segments"]["a"]["initial"] = {s: 1 / 7 for s in STAGES}
    sc = parse_scenario(data)
    pop = build_population(sc, 7_000, [np.random.default_rng(s) for s in make_streams(1, 0, 1).population])
    stage = pop.stage
    visited = (stage >= STAGES.index("interest")) & (stage != LOST)
    contact = (stage >= STAGES.index("desire")) & (stage != LOST)
    assert np.array_equal(pop.flags, visited * VISITED | contact * CONTACT)


def test_explicit_defaults_leave_every_result_unchanged():
    plain = helpers.funnel_scenario()
    plain["scenario"]["warmup_weeks"] = 2
    explicit = helpers.funnel_scenario()
    explicit["scenario"]["warmup_weeks"] = 2
    for seg in explicit["segments"].values():
        seg["known"] = DEFAULTS
    a = simulate(parse_scenario(plain), reps=2)
    b = simulate(parse_scenario(explicit), reps=2)
    assert a.summary.equals(b.summary)
    assert a.weekly.equals(b.weekly)
    assert a.no_marketing is not None and b.no_marketing is not None and a.no_marketing.equals(b.no_marketing)
    assert list(a.records) == list(b.records)
    pairs = [pair for plan in a.records for pair in zip(a.records[plan], b.records[plan], strict=True)]
    for ra, rb in pairs:
        for f in fields(ra):
            va, vb = getattr(ra, f.name), getattr(rb, f.name)
            if isinstance(va, np.ndarray):
                assert np.array_equal(va, vb), f.name


def test_a_dumped_scenario_keeps_its_shares():
    data = _crm({"contact": {"lost": X}, "visited": {"desire": 0.5}})
    sc = parse_scenario(data)
    again = sc.with_settings(weeks=1)
    assert again.segments["a"].known.shares() == sc.segments["a"].known.shares()
    assert sc.segments["a"].known.shares()[1][LOST] == X  # visited follows contact up
    assert sc.segments["a"].known.shares()[0][STAGES.index("desire")] == 0.5  # contact follows visited down


BAD = [
    ({"contact": {"lost": 1.5}}, "segments.a.known.contact.lost = 1.5"),
    ({"visited": {"lost": -0.1}}, "segments.a.known.visited.lost = -0.1"),
    ({"contact": {"lapsed": 0.5}}, "segments.a.known.contact.lapsed: unknown key 'lapsed'"),
    ({"contacts": {"lost": 0.5}}, "segments.a.known.contacts: unknown key 'contacts'"),
    (
        {"contact": {"lost": 0.8}, "visited": {"lost": 0.5}},
        "segments.a.known: contact.lost = 0.8 is above visited.lost",
    ),
]


@pytest.mark.parametrize(("known", "expected"), BAD, ids=[b[1].split(":")[0].split(" ")[0] for b in BAD])
def test_bad_known_values_exit_2_with_the_key_path(known, expected, tmp_path):
    with pytest.raises(ScenarioError, match="known"):
        parse_scenario(_crm(known))
    path = tmp_path / "crm.toml"
    path.write_text(helpers.to_toml(_crm(known)), encoding="utf-8")
    res = CliRunner().invoke(main, ["validate", str(path)])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert expected in res.output, res.output
