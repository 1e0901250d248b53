"""The verdict rule: a winner, a ranking or a "more / less" only where the paired 95% CI excludes zero.

Unit tests of :mod:`cjmsim.presentation.verdict` against scipy (the module itself has no scipy),
then titles and the executive summary built from results whose replications are set by hand: the
same plans with overlapping paired CIs must claim nothing, with separated ones must name the winner.
The base results are small seeded simulations; only the replication values the rule reads are
replaced, so every expected verdict follows from numbers written here, not from a run's output.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cjmsim
from cjmsim.analyses.attribution import Attribution
from cjmsim.analyses.simulate import Result
from cjmsim.presentation import verdict as vd
from cjmsim.presentation.charts import attribution as ac
from cjmsim.presentation.charts import run as rc
from cjmsim.presentation.reports.summary import run_summary

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# the pure functions


def test_t_quantile_matches_scipy() -> None:
    for df in range(1, 400):
        # the table is rounded to 4 decimals; the Cornish-Fisher expansion beyond df 30 is closer still
        assert vd.t975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=6e-5), df
    with pytest.raises(ValueError):
        vd.t975(0)


def test_paired_matches_scipy() -> None:
    rng = np.random.default_rng(12)
    a, b = rng.normal(10, 2, 7), rng.normal(9, 2, 7)
    mean, lo, hi, n = vd.paired(list(a), list(b))
    d = a - b
    half = stats.t.ppf(0.975, 6) * d.std(ddof=1) / math.sqrt(7)
    assert (
        n == 7
        and mean == pytest.approx(d.mean())
        and (lo, hi) == pytest.approx((d.mean() - half, d.mean() + half), abs=1e-4)
    )
    assert vd.paired([1.0, math.nan, 3.0], [0.0, 1.0, 1.0])[3] == 2  # a pair with a NaN is dropped
    assert math.isnan(vd.paired([1.0], [0.0])[1])


def test_overlapping_ci_claims_nothing_separated_names_the_side() -> None:
    assert vd.verdict(5.0, -1.0, 11.0, 3, "higher").side is None
    assert vd.verdict(5.0, -1.0, 11.0, 3, "higher").improves is None
    up = vd.verdict(5.0, 1.0, 9.0, 3, "higher")
    assert up.side == "higher" and up.improves is True and up.undecided() == ""
    cheaper = vd.verdict(-5.0, -9.0, -1.0, 3, "lower")
    assert cheaper.side == "lower" and cheaper.improves is True
    assert vd.verdict(-5.0, -9.0, -1.0, 3, "higher").improves is False
    assert vd.verdict(-5.0, -9.0, -1.0, 3, None).improves is None  # spend: no better side
    one = vd.verdict(5.0, math.nan, math.nan, 1, "higher")
    assert one.side is None and one.undecided("A", "B") == vd.ONE_REP


def test_replications_needed_is_the_smallest_that_would_do() -> None:
    # the spread read off a 3-replication CI, then the smallest n whose CI would exclude zero (scipy)
    diff, half, reps = 2.0, 5.0, 3
    sd = half * math.sqrt(reps) / stats.t.ppf(0.975, reps - 1)
    want = next(n for n in range(2, 10_000) if stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n) < diff)
    n = vd.replications_needed(diff, diff - half, diff + half, reps)
    assert n == want and n > reps
    v = vd.verdict(diff, diff - half, diff + half, reps, "higher")
    assert v.needed == want and f"about {want:,} replications" in v.undecided("A", "B")
    assert vd.replications_needed(1e-6, -5.0, 5.0, 3) == vd.MAX_REPS + 1
    assert "more than 1,000" in vd.verdict(1e-6, -5.0, 5.0, 3, "higher").undecided()
    assert vd.replications_needed(2.0, math.nan, math.nan, 1) is None


def test_leader_needs_every_pair() -> None:
    values = {"a": 10.0, "b": 8.0, "c": 5.0}
    clear = {("a", "b"): (2.0, 0.5, 3.5), ("a", "c"): (5.0, 3.0, 7.0)}
    assert vd.leader(values, lambda x, y: vd.verdict(*clear[x, y], 3, "higher"), "higher") == "a"
    vague = {**clear, ("a", "b"): (2.0, -0.5, 4.5)}  # a over b straddles zero: no leader at all
    assert vd.leader(values, lambda x, y: vd.verdict(*vague[x, y], 3, "higher"), "higher") is None
    assert vd.clear_leader({"a": (10, 9, 11), "b": (5, 4, 6)}, "higher") == "a"
    assert vd.clear_leader({"a": (10, 5, 15), "b": (5, 4, 6)}, "higher") is None
    assert vd.clear_leader({"a": (10, math.nan, math.nan), "b": (5, math.nan, math.nan)}, "higher") is None


def test_target_status() -> None:
    cpo = dict(target=0.5, tolerance=0.1, better="lower")
    assert vd.target_status(0.48, 0.47, 0.49, **cpo).status == "met"  # type: ignore[arg-type]
    assert vd.target_status(0.30, 0.25, 0.35, **cpo).status == "met"  # type: ignore[arg-type]  # beyond: met
    assert vd.target_status(0.70, 0.65, 0.75, **cpo).status == "not met"  # type: ignore[arg-type]
    assert vd.target_status(0.60, 0.55, 0.65, **cpo).status == "undecided"  # type: ignore[arg-type]
    assert vd.target_status(0.5, math.nan, math.nan, **cpo).status == "untested"  # type: ignore[arg-type]
    revenue = vd.target_status(1.6, 1.45, 1.7, 1.5, 0.0, "higher")
    assert revenue.status == "undecided" and revenue.high == math.inf
    assert vd.target_status(1.2, 1.15, 1.25, 1.0, 0.1, None).status == "not met"  # neither side: a closed band


# --------------------------------------------------------------------------------------------
# titles and summaries from results set by hand


@pytest.fixture(scope="module")
def hifi() -> Result:
    return cjmsim.simulate(cjmsim.load_scenario(ROOT / "scenarios" / "hifi.toml"), agents=3000, weeks=12, reps=3)


def _with(result: Result, metric: str, values: dict[str, list[float]]) -> Result:
    """The result with a metric's replications (segment all) set per plan, and the summary means to match."""
    per_rep, summary = result.per_rep.copy(), result.summary.copy()
    for plan, reps in values.items():
        rows = (per_rep.plan == plan) & (per_rep.segment == "all")
        per_rep.loc[rows, metric] = per_rep.loc[rows, "rep"].map(dict(enumerate(reps))).astype(float)
        at = (summary.plan == plan) & (summary.segment == "all")
        half = stats.t.ppf(0.975, len(reps) - 1) * np.std(reps, ddof=1) / math.sqrt(len(reps))
        summary.loc[at, metric] = float(np.mean(reps))
        summary.loc[at, f"{metric}_ci_low"], summary.loc[at, f"{metric}_ci_high"] = (
            np.mean(reps) - half,
            np.mean(reps) + half,
        )
    return dataclasses.replace(result, per_rep=per_rep, summary=summary)


def test_kpi_title_claims_a_cut_only_with_separated_cis(hifi: Result) -> None:
    names = {p: hifi.scenario.plans[p].name for p in hifi.plans}
    # the chart compares the spend per incremental order (the run has its no-marketing baseline)
    separated = _with(hifi, "icpo", {"baseline": [100, 102, 98], "cjm": [50, 51, 49], "cjm_growth": [70, 72, 68]})
    assert (
        rc.kpi_comparison(separated).get_suptitle().replace("\n", " ")
        == f"{names['cjm']} cuts iCPO by 50% vs {names['baseline']}"
    )
    # the same means' order, but the paired differences (-10, -70, +50) straddle zero
    overlapping = _with(hifi, "icpo", {"baseline": [100, 130, 70], "cjm": [90, 60, 120], "cjm_growth": [95, 95, 95]})
    title = rc.kpi_comparison(overlapping).get_suptitle().replace("\n", " ")
    assert "cuts" not in title and "not distinguishable on iCPO at 3 replications" in title
    assert names["cjm"] in title and "replications would tell them apart" in title


def test_funnel_title_and_one_replication(hifi: Result) -> None:
    more = _with(
        hifi, "customers", {"baseline": [1000, 1010, 990], "cjm": [900, 905, 895], "cjm_growth": [1500, 1490, 1510]}
    )
    assert " wins 50% more new customers than " in rc.funnel(more).get_suptitle().replace("\n", " ")
    one = cjmsim.simulate(hifi.scenario, agents=3000, weeks=12, reps=1)
    for make in (rc.funnel, rc.stage_occupancy, rc.kpi_comparison):
        title = make(one).get_suptitle().replace("\n", " ")
        assert title.endswith(f"({vd.ONE_REP})"), title
        assert not any(w in title for w in (" wins ", " cuts ", " ends with ")), title


def _attribution(lo: float, hi: float) -> Attribution:
    """Two channels' marginal ROAS, 84 and -9.3 as in the issue, with the CIs given for both (2 replications)."""
    rows = [
        {"plan": "p", "channel": "remarketing", "segment": "all", "marginal_roas": 84.0,
         "marginal_roas_ci_low": 84.0 + lo, "marginal_roas_ci_high": 84.0 + hi},
        {"plan": "p", "channel": "smm", "segment": "all", "marginal_roas": -9.3,
         "marginal_roas_ci_low": -9.3 + lo, "marginal_roas_ci_high": -9.3 + hi},
        {"plan": "p", "channel": "total", "segment": "all", "incremental_revenue": 1e6, "incremental_margin": 3e5},
    ]  # fmt: skip
    runs = pd.DataFrame({"rep": [0, 1]})
    return Attribution("p", ["remarketing", "smm"], pd.DataFrame(rows), runs, "exact")


def test_marginal_roas_title_follows_the_cis() -> None:
    wide = ac.marginal_roas(_attribution(-1000.0, 1000.0)).get_suptitle().replace("\n", " ")
    assert "pays most" not in wide and "least" not in wide and "do not repay" not in wide
    assert "No channel's marginal ROAS stands out beyond noise at 2 replications" in wide
    narrow = ac.marginal_roas(_attribution(-2.0, 2.0)).get_suptitle().replace("\n", " ")
    assert narrow.startswith("Extra budget pays most on remarketing (84) and least on smm")
    assert "1 of 2 channels do not repay it in margin, beyond noise" in narrow  # smm's CI lies below 3.33


def _net_reps(result: Result, plan: str, extra: list[float]) -> Result:
    """Margin of a plan set to the reference's plus ``extra``, replication by replication (and spend equal)."""
    per_rep = result.per_rep.copy()
    all_rows = per_rep.segment == "all"
    ref = per_rep[all_rows & (per_rep.plan == result.reference)].sort_values("rep")
    rows = all_rows & (per_rep.plan == plan)
    per_rep.loc[rows, "spend"] = per_rep.loc[rows, "rep"].map(dict(enumerate(ref.spend))).astype(float)
    per_rep.loc[rows, "margin"] = per_rep.loc[rows, "rep"].map(
        dict(enumerate(ref.margin.to_numpy() + np.asarray(extra)))
    )
    others = [p for p in result.plans if p not in (plan, result.reference)]
    for p in others:  # the other plan: exactly the reference, so it can never be recommended
        r = all_rows & (per_rep.plan == p)
        for c in ("spend", "margin"):
            per_rep.loc[r, c] = per_rep.loc[r, "rep"].map(dict(enumerate(ref[c]))).astype(float)
    return dataclasses.replace(result, per_rep=per_rep)


def test_summary_recommends_only_with_a_separated_ci(hifi: Result) -> None:
    names = {p: hifi.scenario.plans[p].name for p in hifi.plans}
    clear = run_summary(_net_reps(hifi, "cjm_growth", [1e6, 1.1e6, 0.9e6]))
    assert clear["headline"].startswith(f"Recommended: {names['cjm_growth']}.")
    assert "+1.00M RUB more incremental margin less spend (95% CI +752,000 to +1.25M RUB)" in clear["headline"]
    vague = run_summary(_net_reps(hifi, "cjm_growth", [1e6, -0.9e6, 2e6]))
    assert "Recommended" not in vague["headline"] and vague["recommended"] == ""
    none = "none earns distinguishably more incremental margin less spend"
    assert vague["headline"] == f"No plan is recommended over {names['baseline']}: {none}."
    assert (
        "not distinguishable at 3 replications" in vague["sure"]
        and "replications would tell them apart" in vague["sure"]
    )


def test_summary_with_one_replication_ranks_nothing(hifi: Result) -> None:
    one = run_summary(cjmsim.simulate(hifi.scenario, agents=3000, weeks=12, reps=1))
    assert one["headline"] == f"No recommendation: {vd.ONE_REP}."
    assert one["focus"] == "" and all(line.startswith("Channels of ") for line in one["drivers"])
    assert any("--reps 5" in n for n in one["notes"])
    assert {t["status"] for t in one["targets"]} == {"untested"}  # no CI: no target is met or missed
    assert all(cell["state"] == "" for row in one["effects"] for cell in row["cells"])


def test_summary_targets_beside_the_paired_ratio(hifi: Result) -> None:
    s = run_summary(hifi)
    assert [t["metric"] for t in s["targets"]] == ["CPO (cost per order)", "Orders", "Revenue"]
    r = hifi.per_rep[hifi.per_rep.segment == "all"].sort_values("rep")
    a, b = r[r.plan == "cjm"].cpo.to_numpy(), r[r.plan == "baseline"].cpo.to_numpy()
    ratio = a.mean() / b.mean()
    resid = a - ratio * b  # the delta-method interval, computed here with scipy
    half = stats.t.ppf(0.975, 2) * resid.std(ddof=1) / math.sqrt(3) / b.mean()
    cpo = s["targets"][0]
    assert cpo["simulated"] == f"\u00d7{ratio:.3f} [{ratio - half:.3f}, {ratio + half:.3f}]"
    assert cpo["target"] == "\u00d70.50, at most \u00d70.60"
    want = "met" if ratio + half <= 0.6 else "not met" if ratio - half > 0.6 else "undecided"
    assert cpo["status"] == want


def test_report_opens_with_the_summary(hifi: Result) -> None:
    from cjmsim.presentation.reports.run import render_report

    html = render_report(hifi, [])
    top = html.index('id="executive"')
    assert top < html.index('id="plans"') and top < html.index('id="results"')
    assert "Targets of the scenario" in html and "CPO halved" in html
    assert "<b>untested</b>" not in html  # 3 replications: every target has a CI to judge
