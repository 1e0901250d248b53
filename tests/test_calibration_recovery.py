"""A calibration recovers parameters it was not told: data exported from a scenario under its own
parameters, eight of them freed with wide priors that are off-centre, calibrated back on another seed.

The acceptance (issue 16): the 90% posterior intervals contain the true values for at least 80% of the
parameters, and the posterior predictive of orders under a plan absent from the data (no marketing)
contains the truth. Coverage is counted over three companies, the same world's data drawn on three seeds
(42, 43, 44), 24 intervals in all, and must be at least 80% (20 of 24). Even an exactly calibrated 90%
interval misses about 1 parameter in 10: 20 or more of 24 covered happens with probability 0.91 for an
exact posterior (binomial), more for a conservative one. One company alone (7 of 8, probability 0.81)
said more about its seed than about the method: measured on seeds 42 to 46, the same calibration held
6, 8, 7, 7 and 7 of 8. Fixed seeds throughout; the truth of the predictive is the mean of eight
replications at the true parameters, and it is compared with the 90% predictive interval over the draws,
which carries the parameters' uncertainty and the simulation's noise (one replication per draw).
"""

from __future__ import annotations

import copy
from pathlib import Path

import helpers
import numpy as np
import pytest

import cjmsim
from cjmsim.analyses.calibration import calibrate, run_posterior
from cjmsim.analyses.exports import observed_table
from cjmsim.engine import make_streams, run_plan
from cjmsim.scenario import read_toml

ROOT = Path(__file__).resolve().parent.parent
PLAN = "flighted"

#: (name, path, relative, prior keys, true value): every relative parameter's truth is 1 (the scenario's own)
PARAMETERS = [
    (
        "aware_rate",
        "segments.*.base.aware",
        True,
        'prior = "lognormal"\nmedian = 1.3\nsd = 0.6\nlow = 0.1\nhigh = 10',
        1.0,
    ),
    (
        "interest_rate",
        "segments.*.base.interest",
        True,
        'prior = "lognormal"\nmedian = 0.8\nsd = 0.6\nlow = 0.1\nhigh = 8',
        1.0,
    ),
    (
        "purchase_rate",
        "segments.*.base.purchase",
        True,
        'prior = "lognormal"\nmedian = 1.2\nsd = 0.6\nlow = 0.1\nhigh = 10',
        1.0,
    ),
    (
        "drop_desire",
        "segments.*.drop.desire",
        True,
        'prior = "lognormal"\nmedian = 0.85\nsd = 0.6\nlow = 0.1\nhigh = 10',
        1.0,
    ),
    (
        "return_rate_x",
        "segments.*.return_rate",
        True,
        'prior = "lognormal"\nmedian = 1.2\nsd = 0.6\nlow = 0.1\nhigh = 10',
        1.0,
    ),
    ("search_interest", "segments.*.odds.search.interest", True, 'prior = "uniform"\nlow = 0.6\nhigh = 1.8', 1.0),
    ("email_purchase", "segments.*.odds.email.purchase", True, 'prior = "uniform"\nlow = 0.6\nhigh = 1.8', 1.0),
    ("search_half", "channels.search.saturation.half", False, 'prior = "uniform"\nlow = 0.05\nhigh = 1.5', 0.3),
]


def _scenario() -> dict:
    """minimal.toml with paid search flighted at three levels (spend that varies is what identifies a
    channel's effect and its saturation)."""
    data = read_toml(ROOT / "scenarios" / "minimal.toml")
    plan = copy.deepcopy(data["plans"]["search_and_email"])
    search, email = plan["campaigns"]
    high = {**search, "name": "Search, high", "weekly": 200_000, "flights": [[0, 3], [9, 12], [18, 21]]}
    low = {**search, "name": "Search, low", "weekly": 60_000, "flights": [[4, 7], [13, 16], [22, 25]]}
    for c in (high, low):
        c.pop("weeks", None)
    data["plans"] = {"none": data["plans"]["none"], PLAN: {**plan, "name": "Flighted", "campaigns": [high, low, email]}}
    return data


#: The companies: the seeds their data are drawn on (the first is the one the other tests read)
COMPANIES = (42, 43, 44)


def _calibrated(folder: Path, data_seed: int):
    """The world's data drawn on ``data_seed``, calibrated back on seed 7: (scenario, its TOML data, result)."""
    data = _scenario()
    (folder / "scenario.toml").write_text(helpers.to_toml(data))
    sc = cjmsim.load_scenario(folder / "scenario.toml")
    rec = run_plan(sc, PLAN, make_streams(data_seed, 0, len(sc.segments)), 20_000, sc.scenario.weeks)  # the "company"
    observed_table(rec, sc).to_csv(folder / "observed.csv", index=False)
    entries = "\n".join(
        f'[[parameters]]\nname = "{n}"\npath = "{p}"\nrelative = {str(r).lower()}\n{prior}\n'
        for n, p, r, prior, _ in PARAMETERS
    )
    (folder / "cal.toml").write_text(
        f"""[calibration]
scenario = "scenario.toml"
observed = "observed.csv"
plan = "{PLAN}"
agents = 5000
seed = 7
evaluations = 200
steps = 120
draws = 200

{entries}"""
    )
    return sc, data, calibrate(folder / "cal.toml", workers=2)


@pytest.fixture(scope="module")
def recovered(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("recovery")
    sc, data, result = _calibrated(folder, COMPANIES[0])
    return folder, sc, data, result


def _covered(res) -> list[str]:
    t = res.parameters.set_index("parameter")
    return [n for n, *_, truth in PARAMETERS if t.loc[n, "posterior_p05"] <= truth <= t.loc[n, "posterior_p95"]]


def test_the_posterior_intervals_hold_the_truth(recovered, tmp_path):
    results = {COMPANIES[0]: recovered[3]}
    for seed in COMPANIES[1:]:
        folder = tmp_path / str(seed)
        folder.mkdir()
        results[seed] = _calibrated(folder, seed)[2]
    covered = {seed: _covered(res) for seed, res in results.items()}
    total = sum(len(c) for c in covered.values())
    assert total >= 0.8 * len(PARAMETERS) * len(COMPANIES), {
        seed: sorted(set(n for n, *_ in PARAMETERS) - set(c)) for seed, c in covered.items()
    }


def test_the_data_narrow_what_they_measure(recovered):
    _, _, _, res = recovered
    t = res.parameters.set_index("parameter")
    # the need arising (unaware -> aware) is what the weekly leads follow: the data pin it down
    assert t.loc["aware_rate", "width_ratio"] < 0.5, t.width_ratio.to_string()


def test_the_predictive_of_a_plan_not_in_the_data_holds_the_truth(recovered):
    folder, sc, data, res = recovered
    truth = np.mean(
        [
            run_plan(sc, "none", make_streams(100 + r, 0, len(sc.segments)), 20_000, sc.scenario.weeks).orders.sum()
            * sc.scenario.population
            / 20_000
            for r in range(8)
        ]
    )
    post = run_posterior(
        data, res.draws, ["none", PLAN], agents=5000, weeks=None, seed=11, reference=PLAN, baseline=False,
        max_draws=60, base_dir=folder,
    )  # fmt: skip
    row = post.summary.set_index("plan").loc["none"]
    assert row["orders_p05"] <= truth <= row["orders_p95"], (row["orders_p05"], truth, row["orders_p95"])
