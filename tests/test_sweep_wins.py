"""The sweep's win count: in how many points each plan beats its reference beyond noise (the paired
95% CI of the difference wholly on the better side of zero), in the report and the terminal; paths
to keys the scenario leaves at their default; experiments/hifi_drivers.toml validates."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cjmsim import cli
from cjmsim.analyses.sweep import SweepResult, load_experiment, run_sweep
from cjmsim.presentation.reports.sweep import WIN_METRICS, render, win_counts, win_lines
from cjmsim.scenario import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "scenarios" / "minimal.toml"
# the minimal scenario's paid plan first, so it is the reference and no marketing ("none") is compared with it
BODY = """
[[parameters]]
name = "cpc"
path = "channels.search.cost.cpc"
values = [20, 40, 80]
"""


def _experiment(folder: Path, body: str = BODY, reps: int = 3, settings: str = "") -> Path:
    path = folder / "experiment.toml"
    path.write_text(
        f"""
[experiment]
scenario = {json.dumps(MINIMAL.as_posix())}
plans = ["search_and_email", "none"]
reps = {reps}
agents = 3000
weeks = 8
{settings}
{body}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    return run_sweep(_experiment(tmp_path_factory.mktemp("wins")))


def _count(d: pd.DataFrame, metric: str, better: str) -> tuple[int, int, int]:
    """Wins, losses, undecided straight from the CI columns (the rule, written out again)."""
    lo, hi = d[f"{metric}_diff_ci_low"].to_numpy(float), d[f"{metric}_diff_ci_high"].to_numpy(float)
    below, above = np.sum(hi < 0), np.sum(lo > 0)
    wins, losses = (below, above) if better == "lower" else (above, below)
    return int(wins), int(losses), len(d) - int(wins) - int(losses)


def test_counts_match_the_paired_cis(swept: SweepResult) -> None:
    counts = win_counts(swept)
    d = swept.differences
    d = d[(d.segment == "all") & (d.plan == "none")]
    assert {c.plan for c in counts} == {"none"}  # the reference is never counted against itself
    by_metric = {c.metric: c for c in counts}
    # the experiment's default first metric (inc_orders) and the counted ones that have a better side
    assert set(by_metric) == {"inc_orders", *WIN_METRICS}
    better = {"cpo": "lower", "icpo": "lower", "inc_orders": "higher"}
    for m, c in by_metric.items():
        assert (c.wins, c.losses, c.undecided) == _count(d, m, better[m]), m
        assert c.points == 3
    # no marketing adds nothing over itself: fewer incremental orders than the paid plan at every
    # point, far beyond noise at 3,000 agents; its CPO has no value (no spend), so never a win
    assert by_metric["inc_orders"].losses == 3
    assert (by_metric["cpo"].wins, by_metric["cpo"].losses) == (0, 0)


def test_counts_follow_synthetic_cis(swept: SweepResult) -> None:
    d = swept.differences.copy()
    mask = (d.segment == "all") & (d.plan == "none")
    # three points: CI below zero, above zero, across zero (lower CPO is better)
    d.loc[mask, "cpo_diff"] = [-5.0, 5.0, 0.5]
    d.loc[mask, "cpo_diff_ci_low"] = [-8.0, 2.0, -1.0]
    d.loc[mask, "cpo_diff_ci_high"] = [-1.0, 9.0, 2.0]
    d.loc[mask, "inc_orders_diff"] = [3.0, 4.0, -2.0]
    d.loc[mask, "inc_orders_diff_ci_low"] = [1.0, 0.5, -3.0]
    d.loc[mask, "inc_orders_diff_ci_high"] = [5.0, 7.0, -1.0]
    fake = dataclasses.replace(swept, differences=d)
    by_metric = {c.metric: c for c in win_counts(fake)}
    assert (by_metric["cpo"].wins, by_metric["cpo"].losses, by_metric["cpo"].undecided) == (1, 1, 1)
    assert (by_metric["inc_orders"].wins, by_metric["inc_orders"].losses) == (2, 1)
    lines = win_lines(fake)
    assert any("wins on CPO against" in line and "in 1 of 3 points" in line for line in lines)
    page = render(fake, [])
    assert "In how many points each plan wins" in page and "wins on CPO against" in page


def test_one_replication_decides_nothing(tmp_path: Path) -> None:
    result = run_sweep(_experiment(tmp_path, reps=1))
    counts = win_counts(result)
    assert counts and all(c.wins == c.losses == 0 and c.undecided == 3 for c in counts)


def test_cli_prints_the_win_count(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(cli.main, ["sweep", str(_experiment(tmp_path)), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "wins on Incremental orders against" in res.output and "of 3 points" in res.output
    assert "wins on CPO against" in (out / "report.html").read_text(encoding="utf-8")


# ---- paths to keys the scenario leaves at their default


def test_a_defaulted_key_can_be_set(tmp_path: Path) -> None:
    # minimal.toml writes no targeting table: precision and premium are at their defaults (1, 0)
    assert "targeting" not in MINIMAL.read_text(encoding="utf-8")
    body = """
[[parameters]]
name = "precision"
path = "channels.*.targeting.precision"
values = [0.6]

[[parameters]]
name = "premium"
path = "channels.{search}.targeting.premium"
values = [0.4]
"""
    exp = load_experiment(_experiment(tmp_path, body))
    ch = exp.scenarios[0].channels
    assert [c.targeting.precision for c in ch.values()] == [0.6, 0.6]
    assert (ch["search"].targeting.premium, ch["email"].targeting.premium) == (0.4, 0.0)


def test_choice_of_keys_sets_each_listed_key(tmp_path: Path) -> None:
    body = """
[[parameters]]
name = "odds"
path = "segments.*.odds.search.{interest,desire}"
scale = [0.5]
"""
    exp = load_experiment(_experiment(tmp_path, body))
    base = load_experiment(_experiment(tmp_path, "")).scenarios[0]
    for seg, s in exp.scenarios[0].segments.items():
        for stage, v in s.odds["search"].items():
            factor = 0.5 if stage in ("interest", "desire") else 1.0
            assert v == pytest.approx(base.segments[seg].odds["search"][stage] * factor), (seg, stage)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("channels.search.targetting.precision", r"'channels.search.targetting' not found \(did you mean 'targeting'"),
        ("channels.search.targeting.precison", r"unknown key 'precison' \(did you mean 'precision'"),
        ("channels.{search,serch}.targeting.premium", r"key 'serch' not found \(did you mean 'search'"),
    ],
)
def test_a_path_that_does_not_exist_is_named(tmp_path: Path, path: str, message: str) -> None:
    body = f"""
[[parameters]]
name = "x"
path = "{path}"
values = [0.5]
"""
    with pytest.raises(ScenarioError, match=message):
        load_experiment(_experiment(tmp_path, body))


def test_hifi_drivers_experiment_validates() -> None:
    exp = load_experiment(ROOT / "experiments" / "hifi_drivers.toml")
    s = exp.spec.experiment
    assert s.design == "lhs" and len(exp.points) == s.samples and exp.plans == ["baseline", "cjm", "cjm_growth"]
    assert s.reference == "baseline" and s.reps >= 3
    names = [p.name for p in exp.spec.parameters]
    assert names == [
        "precision",
        "premium",
        "remarketing_odds",
        "ml_context_odds",
        "ml_context_affinity",
        "seo_carryover",
    ]
    prec = [sc.channels["context"].targeting.precision for sc in exp.scenarios]
    prem = [sc.channels["context"].targeting.premium for sc in exp.scenarios]
    assert min(prec) < 0.6 and max(prec) > 0.9 and min(prem) < 0.1 and max(prem) > 0.6  # the LHS covers the ranges
    # the premium is the auction channels' only: content, e-mail, push and aggregators keep the list price
    assert all(
        sc.channels[c].targeting.premium == 0 for sc in exp.scenarios for c in ("seo", "email", "push", "aggregator")
    )
    # every line of the file that sets something says why
    for line in (ROOT / "experiments" / "hifi_drivers.toml").read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            assert "  # " in line, line
