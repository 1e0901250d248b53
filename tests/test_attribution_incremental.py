"""The attribution's whole plan against no marketing in the registry's terms (issue 12), and the
agents it reports at (item 7): the scenario's by default, or a statement of how far fewer agents
put the plan's totals from the run's. Exact equalities: the attribution's runs are the run's runs.
"""

from __future__ import annotations

import copy
import json
import re

import helpers
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import cjmsim
from cjmsim import cli
from cjmsim.analyses.attribution import attribute
from cjmsim.analyses.reconcile import fewer_agents, reconcile
from cjmsim.presentation.reconciliation import agents_statement
from cjmsim.presentation.reports.attribution import render
from cjmsim.scenario import INCREMENTAL_METRICS


@pytest.fixture(scope="module")
def attr(scenario):
    return attribute(scenario, "base", reps=3, shapley="none")


def test_whole_plan_has_the_registrys_incremental_metrics(scenario, attr):
    """The ``total`` row's inc_orders ... iromi are a run's summary figures for the plan, the same runs."""
    total = attr.table[(attr.table.channel == "total")].set_index("segment")
    res = cjmsim.simulate(scenario, ["base"], reps=3)
    run = res.summary.set_index("segment")
    for seg in run.index:
        for m in ("orders", *INCREMENTAL_METRICS):
            for s in ("", "_ci_low", "_ci_high"):
                assert total.loc[seg, f"{m}{s}"] == pytest.approx(run.loc[seg, f"{m}{s}"], rel=1e-12, nan_ok=True), (
                    seg,
                    m + s,
                )
    assert (total.inc_orders == total.incremental_orders).all()  # the older column, the same number
    assert attr.scenario_agents == scenario.scenario.agents


def test_the_page_leads_with_the_whole_plan(scenario, attr):
    html = render(attr, scenario, [])
    body = html.split("<main", 1)[1]
    assert body.index('id="whole"') < body.index('id="reading"') < body.index('id="channels"')
    whole = body.split('id="whole"')[1].split("</section>")[0]
    for label in ("Incremental orders", "iCPO (spend per incremental order)", "iROMI"):
        assert label in whole
    assert "would come with no marketing at all" in whole
    assert "agents per run (the scenario" not in html  # the run's agents: nothing to state


def _scenario_file(tmp_path, scenario):
    path = tmp_path / "s.toml"
    path.write_text(helpers.to_toml(copy.deepcopy(scenario.model_dump(mode="json", exclude_none=True))) + "\n")
    return path


def test_cli_defaults_to_the_scenarios_agents(tmp_path, scenario):
    path = _scenario_file(tmp_path, scenario)
    out = tmp_path / "o"
    res = CliRunner().invoke(cli.main, ["attribute", str(path), "--plan", "base", "--reps", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["agents"] == scenario.scenario.agents == 4000
    assert "note:" not in res.output and "reconciliation" not in meta["settings"]
    assert "against no marketing: Incremental orders" in " ".join(res.output.split())


def test_cli_with_fewer_agents_says_so_and_compares_with_the_run(tmp_path, scenario):
    path = _scenario_file(tmp_path, scenario)
    out = tmp_path / "few"
    args = ["attribute", str(path), "--plan", "base", "--reps", "2", "--agents", "1000", "--out", str(out)]
    res = CliRunner().invoke(cli.main, args)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "note: 1,000 agents per run (the scenario's run uses 4,000)" in text
    meta = json.loads((out / "metadata.json").read_text())
    rec = meta["settings"]["reconciliation"]
    assert rec["agents"] == 1000 and rec["full_agents"] == 4000
    # the full-size figure is the run's: `cjmsim run --reps 1 --plan base` on the same scenario
    run = cjmsim.simulate(scenario, ["base"], reps=1, baseline=False).totals().loc["base"]
    assert rec["full"]["orders"] == run.orders and rec["full"]["spend"] == run.spend
    # and the small one is the attribution's own plan at 1,000 agents, replication 0
    runs = pd.read_csv(out / "attribution_runs.csv")
    full = runs.variant.str.extract(r"only_(\d+)")[0].dropna().astype(int).max()
    mine = runs[(runs.variant == f"only_{full}") & (runs.rep == 0) & (runs.segment == "all")].iloc[0]
    assert rec["small"]["orders"] == pytest.approx(mine.orders, rel=1e-12)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "1,000 agents per run (the scenario&#39;s run uses 4,000)" in html
    assert re.search(r"orders [\d,.]+ here vs [\d,.]+ at 4,000 agents", html)


def test_reconcile_and_its_statement(scenario):
    assert fewer_agents(scenario, 1000) and not fewer_agents(scenario, 4000) and not fewer_agents(scenario, None)
    rec = reconcile(scenario, "base", 1000)
    run = cjmsim.simulate(scenario, ["base"], reps=1, baseline=False).totals().loc["base"]
    assert rec.full["orders"] == run.orders and rec.full_agents == 4000 and rec.agents == 1000
    small = cjmsim.simulate(scenario, ["base"], reps=1, agents=1000, baseline=False).totals().loc["base"]
    assert rec.small["orders"] == small.orders
    assert rec.change("orders") == pytest.approx(small.orders / run.orders - 1)
    text = agents_statement(1000, 4000, rec, plan_name="Base", currency="EUR")
    assert text.startswith("1,000 agents per run (the scenario's run uses 4,000)")
    assert "The base plan \u201cBase\u201d" in text and " EUR here vs " in text
    assert agents_statement(4000, 4000, rec) == ""
    hint = agents_statement(1000, 4000, None, how="set agents = 4000")
    assert hint.endswith("Set agents = 4000 to report at the run's size.")
    assert np.isfinite(rec.change("spend"))
