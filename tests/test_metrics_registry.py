"""The metric registry: one entry per summary.csv column, and the tables and docs built from it."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

import cjmsim
from cjmsim.cli import tables
from cjmsim.scenario import metrics as registry
from cjmsim.scenario.metrics import (
    DERIVED_METRICS,
    HEADLINE_METRICS,
    KINDS,
    METRICS,
    SUMMARY_METRICS,
    UNITS,
    Metric,
    UnknownMetricError,
    metric,
    metrics_table_markdown,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny() -> cjmsim.Result:
    """Two plans of the shipped minimal scenario, small and short, with replications (so with CIs)."""
    return cjmsim.simulate(cjmsim.load_scenario(ROOT / "scenarios" / "minimal.toml"), agents=500, weeks=6, reps=2)


def _text(table: object) -> str:
    console = Console(file=io.StringIO(), width=400, color_system=None)
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined]


# ---- the registry against the results


def test_every_summary_column_has_an_entry_and_every_entry_a_column(tiny: cjmsim.Result) -> None:
    columns = [c for c in tiny.summary.columns if c not in {"plan", "segment", "reps"} and "_ci_" not in c]
    assert columns == list(METRICS)  # same names, same order
    assert SUMMARY_METRICS == tuple(METRICS)
    assert [c for c in tiny.per_rep.columns if c not in {"plan", "segment", "rep"}] == list(METRICS)  # summary_row
    assert {c.removesuffix("_ci_low") for c in tiny.summary.columns if c.endswith("_ci_low")} == set(METRICS)


def test_derived_entries_are_columns_of_the_attribution() -> None:
    from cjmsim.analyses.attribution import attribute

    sc = cjmsim.load_scenario(ROOT / "scenarios" / "minimal.toml")
    plan = next(p for p, v in sc.plans.items() if v.campaigns)
    attr = attribute(sc, plan, agents=300, weeks=4, reps=2, shapley="exact")
    attribution = [name for name in DERIVED_METRICS if name not in ("net_margin", "inc_net_margin")]  # the optimizer's
    assert set(attribution) <= set(attr.table.columns)
    assert not set(DERIVED_METRICS) & set(METRICS)


# ---- the entries


def test_names_labels_and_fields_are_sound() -> None:
    everything = [*METRICS.values(), *DERIVED_METRICS.values()]
    for m in everything:
        assert m.unit in UNITS and m.kind in KINDS and m.better in ("higher", "lower", None), m
        assert m.definition.endswith(".") and m.label and m.long_label and m.short, m
        assert "|" not in m.definition + m.label, m  # the docs table would break
    assert len({m.label for m in everything}) == len(everything), "two metrics share a label"
    assert len({m.long_label for m in everything}) == len(everything), "two metrics share a long label"
    assert all(m.money == (m.kind == "money") for m in everything)


def test_better_directions() -> None:
    assert metric("cpo").better == metric("cpl").better == metric("cac").better == "lower"
    assert metric("ttp_median_weeks").better == "lower"
    assert metric("orders").better == metric("romi").better == metric("customers").better == "higher"
    assert metric("spend").better is None and metric("agents").better is None
    assert metric("incremental_cpo").better == "lower"


def test_units_and_kinds() -> None:
    assert metric("romi").kind == "percent" and metric("romi").code == "p"
    assert metric("conversion").unit == "share"
    assert metric("cpo").unit == "money" and metric("cpo").heading("EUR") == "CPO, EUR"
    assert metric("cpo").heading("EUR", long=True) == "CPO (cost per order), EUR"
    assert metric("orders").heading("EUR") == "Orders"
    assert metric("ltv_cac").code == "r" and metric("ttp_mean_weeks").code == "w"


def test_unknown_metric_suggests_the_closest() -> None:
    with pytest.raises(UnknownMetricError, match=r"unknown metric 'cop' \(did you mean 'cpo'\?\)"):
        metric("cop")
    with pytest.raises(KeyError):
        metric("nothing like it")


def test_metrics_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        metric("cpo").label = "Cost"  # type: ignore[misc]


def test_registry_module_imports_only_the_standard_library() -> None:
    # importing the module means importing its package, cjmsim.scenario (pydantic); load the file alone
    code = (
        "import importlib.util, sys; "
        f"spec = importlib.util.spec_from_file_location('m', {str(ROOT / 'cjmsim/scenario/metrics.py')!r}); "
        "mod = importlib.util.module_from_spec(spec); sys.modules['m'] = mod; spec.loader.exec_module(mod); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cjmsim', 'pydantic', 'numpy', 'pandas')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_named_metric_lists_are_metrics() -> None:
    from cjmsim.scenario.experiment import SWEEP_METRICS, ExperimentSettings

    assert set(HEADLINE_METRICS) <= set(METRICS) and set(SWEEP_METRICS) <= set(METRICS)
    # a sweep leads with the incremental metrics; without the baseline, with the totals' headline
    assert ExperimentSettings.model_fields["metrics"].default_factory() == list(SWEEP_METRICS)  # type: ignore[misc]
    off = ExperimentSettings.model_validate({"scenario": "s.toml", "baseline": False})
    assert off.metrics == list(HEADLINE_METRICS)


# ---- what is built from it


def test_terminal_rows_come_from_the_registry() -> None:
    assert tables.ROWS, "the comparison table shows no metric"
    for col, label, code in tables.ROWS:
        assert (label, code) == (METRICS[col].label, METRICS[col].code), col


def test_terminal_tables_show_the_registry_labels(tiny: cjmsim.Result, monkeypatch: pytest.MonkeyPatch) -> None:
    cur = tiny.scenario.scenario.currency
    text = _text(tables.comparison_table(tiny))
    for col, _, _ in tables.ROWS:
        assert METRICS[col].heading(cur) in text, col
    # a relabelled metric shows in the tables that look metrics up when they are drawn
    monkeypatch.setitem(METRICS, "cpo", dataclasses.replace(METRICS["cpo"], label="Cost per order Q"))
    text = _text(tables.optimize_table(tiny.scenario, tiny, tiny.plans))
    words = text.split()  # a fitted table wraps its headings at spaces
    assert all(w in words for w in f"Cost per order Q, {cur}".split()) and "margin," in words


def test_metric_table_markdown_has_a_row_per_metric() -> None:
    table = metrics_table_markdown()
    lines = table.splitlines()
    assert len(lines) == 2 + len(METRICS)
    assert [line.split(" | ")[0].removeprefix("| `").removesuffix("`") for line in lines[2:]] == list(METRICS)
    assert "| `cpo` | CPO | money | lower | `spend / orders`; n/a when `spend = 0`. |" in lines
    one = Metric("x", "X", "ratio", "ratio", None, "An x.", "X", "x")
    assert metrics_table_markdown((one,)).splitlines()[-1] == "| `x` | X | ratio | neither | An x. |"


def test_scenario_layer_reexports_the_registry() -> None:
    import cjmsim.scenario as scenario

    assert scenario.METRICS is registry.METRICS and scenario.metric is registry.metric
