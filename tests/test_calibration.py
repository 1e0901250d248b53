"""`cjmsim calibrate`: the calibration file checked, the priors, the fit, resume, workers, the calibrated scenario.

The fits here are tiny (a few hundred agents, a few dozen candidates): they check the machinery, not the
statistics; tests/test_calibration_recovery.py checks that a calibration recovers known parameters.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

import cjmsim
from cjmsim import cli
from cjmsim.analyses.calibration import PriorMap, calibrate, calibrated_toml, load_calibration, read_draws
from cjmsim.analyses.calibration.fit import NOISE_LIMIT, NOISE_POINTS, NOISE_SEEDS, likelihood_noise
from cjmsim.analyses.choices import OBSERVED_COUNTS
from cjmsim.analyses.exports import observed_table
from cjmsim.engine import make_streams, run_plan
from cjmsim.scenario import ScenarioError
from cjmsim.scenario.calibration import CALIBRATION_COUNTS, Prior

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = ROOT / "scenarios" / "minimal.toml"
PLAN = "search_and_email"
WEEKS = 12


def calibration_text(name: str | None = None, first: str = "purchase") -> str:
    """A tiny calibration of minimal's plan (600 agents, a few dozen candidates): two parameters, the first
    named ``first``; ``name``, the report's title, when given."""
    title = "" if name is None else f'name = "{name}"\n'
    return f"""
[calibration]
{title}scenario = "{MINIMAL.as_posix()}"
observed = "observed.csv"
plan = "{PLAN}"
agents = 600
seed = 7
evaluations = 12
walkers = 6
steps = 6
draws = 12

[[parameters]]
name = "{first}"
path = "segments.*.base.purchase"
relative = true
prior = "lognormal"
median = 1.0
sd = 0.4
low = 0.3
high = 3

[[parameters]]
name = "search_interest"
path = "segments.*.odds.search.interest"
prior = "uniform"
low = 1.0
high = 3.0
"""


def write_tiny_calibration(folder: Path, name: str | None = None, first: str = "purchase") -> Path:
    """observed.csv of minimal's plan at the scenario's own parameters (5,000 agents, seed 42) and the tiny
    calibration of :func:`calibration_text` (cal.toml), in ``folder``; returns the folder."""
    sc = cjmsim.load_scenario(MINIMAL).with_settings(weeks=WEEKS)
    rec = run_plan(sc, PLAN, make_streams(42, 0, len(sc.segments)), 5000, WEEKS)
    observed_table(rec, sc).to_csv(folder / "observed.csv", index=False)
    (folder / "cal.toml").write_text(calibration_text(name, first), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """observed.csv of minimal's plan and the tiny calibration (:func:`write_tiny_calibration`)."""
    return write_tiny_calibration(tmp_path_factory.mktemp("calibration"))


def _variant(folder: Path, name: str, old: str, new: str) -> Path:
    text = (folder / "cal.toml").read_text()
    assert old in text, old
    path = folder / name
    path.write_text(text.replace(old, new, 1))
    return path


def test_the_counts_are_one_list():
    assert CALIBRATION_COUNTS == OBSERVED_COUNTS  # the calibration file fits what observed.csv holds


@pytest.mark.parametrize(
    ("spec", "check"),
    [
        ({"prior": "uniform", "low": 2.0, "high": 5.0}, lambda u: 2.0 + 3.0 * u),
        ({"prior": "loguniform", "low": 0.1, "high": 10.0}, lambda u: 0.1 * 100.0**u),
        ({"prior": "normal", "mean": 1.0, "sd": 0.5}, lambda u: stats.norm(1.0, 0.5).ppf(u)),
        ({"prior": "lognormal", "median": 2.0, "sd": 0.3}, lambda u: 2.0 * np.exp(0.3 * stats.norm.ppf(u))),
    ],
)
def test_a_prior_is_its_quantile_function(spec, check):
    u = np.array([0.01, 0.2, 0.5, 0.9, 0.999])
    pm = PriorMap(Prior(name="x", path="a.b", **spec))
    np.testing.assert_allclose(pm.values(u), check(u), rtol=1e-12)


def test_a_cut_prior_stays_in_its_bounds_and_keeps_its_shape():
    pm = PriorMap(Prior(name="x", path="a.b", prior="normal", mean=0.0, sd=1.0, low=-0.5, high=2.0))
    u = np.linspace(0.001, 0.999, 50)
    x = pm.values(u)
    assert x.min() >= -0.5 and x.max() <= 2.0 and np.all(np.diff(x) > 0)
    # the normal's CDF, renormalised to the cut, is u again
    F = stats.norm.cdf
    np.testing.assert_allclose((F(x) - F(-0.5)) / (F(2.0) - F(-0.5)), u, rtol=1e-9)


def test_a_valid_calibration_loads(data_dir):
    cal = load_calibration(data_dir / "cal.toml")
    assert cal.weeks == WEEKS and cal.agents == 600 and cal.dim == 2
    # by default every count per segment (the file has them per segment)
    assert cal.series == tuple(f"{c}:{g}" for c in ("leads", "new_customers") for g in ("casual", "enthusiast"))


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ("evaluations = 12", "evaluatons = 12", ["calibration.evaluatons", "did you mean 'evaluations'"]),
        (f'plan = "{PLAN}"', 'plan = "search_and_emial"', ["calibration.plan", "did you mean 'search_and_email'"]),
        ('observed = "observed.csv"', 'observed = "nothere.csv"', ["calibration.observed", "no such file"]),
        (f'scenario = "{MINIMAL.as_posix()}"', 'scenario = "nothere.toml"', ["calibration.scenario", "no such file"]),
        ("segments.*.base.purchase", "segments.*.base.purchse", ["'purchase'", "purchse", "not found"]),
        ("segments.*.odds.search.interest", "channels.serch.adstock.decay", ["'search_interest'", "serch"]),
        ("low = 1.0\nhigh = 3.0", "low = 3.0\nhigh = 1.0", ["parameters[1]", "must be below"]),
        ('prior = "uniform"', 'prior = "beta"', ["parameters[1].prior", "uniform"]),
        (
            'prior = "lognormal"\nmedian = 1.0\nsd = 0.4\nlow = 0.3\nhigh = 3',
            'prior = "uniform"\nlow = 0.3\nhigh = 40',
            ["impossible prior", "'purchase'", "base.purchase", "less than or equal to 1"],
        ),
        ("draws = 12", 'draws = 12\n[[series]]\nname = "orderz"', ["series[0].name", "'orderz'", "did you mean"]),
        ("draws = 12", "draws = 12\n[observation]\nseen = { lead = 0.5 }", ["unknown count 'lead'", "leads"]),
    ],
)
def test_bad_calibration_files_are_named(data_dir, old, new, said):
    path = _variant(data_dir, "bad.toml", old, new)
    with pytest.raises(ScenarioError) as err:
        load_calibration(path)
    message = str(err.value)
    assert str(path) in message
    for part in said:
        assert part in message, (part, message)


def test_the_command_says_bad_input_in_one_line_and_exits_2(data_dir, tmp_path):
    path = _variant(data_dir, "bad_cli.toml", "segments.*.base.purchase", "segments.*.base.purchse")
    res = CliRunner().invoke(cli.main, ["calibrate", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "Traceback" not in res.output and res.output.count("\n") == 1
    assert "purchse" in res.output
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def fitted(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("fit") / "out"
    return calibrate(data_dir / "cal.toml", out=out), out


def test_a_fit_has_what_it_promises(fitted):
    res, out = fitted
    s = res.cal.spec.calibration
    checks = NOISE_SEEDS * (NOISE_POINTS + 1)
    assert res.evaluations <= s.evaluations + s.chains * s.walkers * (s.steps + 1) + checks
    # the likelihood's noise check: the estimate and kept draws on seeds no chain used, said when too large
    assert (res.trace.phase == "noise check").sum() == checks
    noise = res.convergence["likelihood_noise"]
    assert math.isfinite(noise) and noise >= 0
    assert (noise > NOISE_LIMIT) == any(w.startswith("the simulation's own noise moves") for w in res.warnings)
    assert list(res.draws.table.columns) == ["draw", "purchase", "search_interest", "log_likelihood"]
    assert len(res.draws) == s.draws
    t = res.parameters.set_index("parameter")
    for name in ("purchase", "search_interest"):
        row = t.loc[name]
        assert row.posterior_p05 <= row.posterior_p50 <= row.posterior_p95
        assert row.prior_p05 < row.prior_p95
        assert 0 <= row.width_ratio
    # the estimate is the best candidate the search simulated
    search = res.trace[res.trace.phase == "search"]
    assert math.isfinite(search.log_likelihood.max())  # the search found valid candidates
    best = search.loc[search.log_likelihood.idxmax()]
    assert res.estimate == pytest.approx({"purchase": best.purchase, "search_interest": best.search_interest})
    # the fit table: every series, every observed week, a band around its median
    assert set(res.fit.series) == set(res.cal.series)
    assert (res.fit.band_p05 <= res.fit.band_p50).all() and (res.fit.band_p50 <= res.fit.band_p95).all()
    assert sorted((out / "evaluations").glob("*.npz"))


def test_the_likelihood_noise_is_the_median_spread_of_differences_from_the_estimate():
    # columns: the estimate, then two draws; rows: seeds. Differences [1, 3, 2] (sd 1) and [5, 5, 8] (sd 3 ** 0.5)
    lp = np.array([[0.0, 1.0, 5.0], [0.0, 3.0, 5.0], [0.0, 2.0, 8.0]]) - 100.0
    assert likelihood_noise(lp) == pytest.approx((1.0 + 3**0.5) / 2)
    assert likelihood_noise(lp[:, [0, 1, 1]]) == pytest.approx(1.0)
    # an invalid candidate on one seed counts with the seeds it has; a draw valid on one seed only, not at all
    lp[1, 2] = -math.inf
    assert likelihood_noise(lp) == pytest.approx((1.0 + np.std([5.0, 8.0], ddof=1)) / 2)
    lp[:2, 1] = -math.inf
    assert likelihood_noise(lp) == pytest.approx(np.std([5.0, 8.0], ddof=1))
    assert math.isnan(likelihood_noise(np.full((3, 2), -math.inf)))
    assert likelihood_noise(np.zeros((4, 3))) == 0.0


def test_a_resumed_calibration_ends_as_an_uninterrupted_one(fitted, data_dir, tmp_path):
    res, out = fitted
    copy = tmp_path / "out"
    import shutil

    shutil.copytree(out, copy)
    parts = sorted((copy / "evaluations").glob("*.npz"))
    for p in parts[len(parts) // 2 :]:  # killed half way: the later batches were never written
        p.unlink()
    again = calibrate(data_dir / "cal.toml", out=copy, resume=True)
    assert again.reused == sum(int(np.load(p)["U"].shape[0]) for p in parts[: len(parts) // 2])
    assert 0 < again.reused < again.evaluations
    pd.testing.assert_frame_equal(again.draws.table, res.draws.table)
    pd.testing.assert_frame_equal(again.parameters, res.parameters)
    pd.testing.assert_frame_equal(again.trace, res.trace)


def test_a_folder_with_candidates_is_refused_without_resume(fitted, data_dir):
    _, out = fitted
    with pytest.raises(ScenarioError, match="--resume|resume"):
        calibrate(data_dir / "cal.toml", out=out)


def test_workers_do_not_change_the_result(fitted, data_dir):
    res, _ = fitted
    two = calibrate(data_dir / "cal.toml", workers=2)
    pd.testing.assert_frame_equal(two.draws.table, res.draws.table)
    pd.testing.assert_frame_equal(two.trace, res.trace)


def test_the_calibrated_scenario_is_the_scenario_with_the_estimate(fitted, tmp_path):
    res, _ = fitted
    text = calibrated_toml(res.cal, res.estimate, res.parameters, tmp_path)
    path = tmp_path / "calibrated.toml"
    path.write_text(text)
    sc = cjmsim.load_scenario(path)  # it validates
    data, base = tomllib.loads(text), tomllib.loads(MINIMAL.read_text())
    for g in ("casual", "enthusiast"):
        want = base["segments"][g]["base"]["purchase"] * res.estimate["purchase"]
        assert data["segments"][g]["base"]["purchase"] == pytest.approx(want, rel=1e-9)
        assert data["segments"][g]["odds"]["search"]["interest"] == pytest.approx(res.estimate["search_interest"])
    assert sc.segments["casual"].base.purchase == pytest.approx(data["segments"]["casual"]["base"]["purchase"])
    # the author's comments stay; the calibrated lines say so and keep the old value's note
    lines = text.splitlines()
    assert sum("calibrated: cjmsim calibrate" in line for line in lines) == 4
    original = MINIMAL.read_text().splitlines()
    changed = [line for line in original if line not in lines]
    assert len(changed) == 4 and all("purchase" in line or "odds.search" in line for line in changed)
    assert any("was 0.05, desire -> customer per week" in line for line in lines)


def test_the_command_writes_a_complete_folder(data_dir, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(cli.main, ["calibrate", str(data_dir / "cal.toml"), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    for name in ("calibrated.toml", "posterior.parquet", "parameters.csv", "correlations.csv", "fit.csv"):
        assert (out / name).is_file(), name
    draws = read_draws(out / "posterior.parquet")
    assert [p.name for p in draws.parameters] == ["purchase", "search_interest"]
    assert [p.path for p in draws.parameters] == ["segments.*.base.purchase", "segments.*.odds.search.interest"]
    cjmsim.load_scenario(out / "calibrated.toml")
    before = pd.read_csv(out / "parameters.csv")
    again = CliRunner().invoke(
        cli.main, ["calibrate", str(data_dir / "cal.toml"), "--out", str(out), "--quiet", "--resume"]
    )
    assert again.exit_code == 0, again.output
    assert "0 read back" not in again.output
    pd.testing.assert_frame_equal(pd.read_csv(out / "parameters.csv"), before)
