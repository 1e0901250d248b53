"""The command line: exit status 2 and one clear message on bad input, atomic run folders, stable output."""

from __future__ import annotations

import json
from pathlib import Path

import helpers
import pandas as pd
import pytest
from click.testing import CliRunner

import cjmsim.analyses.simulate
from cjmsim.cli import main
from cjmsim.output import atomic_folder

SUMMARY_COLUMNS = [
    "plan", "segment", "agents", "reached", "aware", "leads", "customers", "orders", "conversion",
    "ttp_median_weeks", "ttp_mean_weeks", "spend", "cpl", "cpo", "cac", "revenue", "margin", "romi",
    "ltv", "ltv_cac",
]  # fmt: skip
RUN_FILES = ["summary.csv", "weekly.csv", "metadata.json", "scenario.toml"]


def invoke(*args: object):  # noqa: ANN201
    return CliRunner().invoke(main, [str(a) for a in args])


def leftovers(folder: Path) -> list[str]:
    """Temporary or backup folders atomic_folder may have left next to its target."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ---- validate and schema


def test_validate_ok(funnel, write_toml):
    path = write_toml(funnel)
    res = invoke("validate", path)
    assert res.exit_code == 0, res.output
    assert "ok" in res.output
    assert "2 segments" in res.output and "3 channels" in res.output


def test_schema_prints_json():
    res = invoke("schema")
    assert res.exit_code == 0
    schema = json.loads(res.output)
    assert "segments" in schema["properties"]
    assert "plans" in schema["properties"]


def test_version():
    res = invoke("--version")
    assert res.exit_code == 0
    assert "cjmsim" in res.output


# ---- bad input: exit 2, the field named, no traceback


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", helpers.BAD_IDS)
def test_bad_input_exits_2(case, command, write_toml, tmp_path):
    data, expected = helpers.bad_scenario(case)
    path = write_toml(data, f"{case}.toml")
    args = [command, path] + (["--out", tmp_path / "out"] if command == "run" else [])
    res = invoke(*args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert f"{case}.toml" in res.output
    for part in expected:
        assert part in res.output, f"{part!r} not in {res.output!r}"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["validate", "run"])
def test_toml_syntax_error_exits_2(command, tmp_path):
    path = tmp_path / "syntax.toml"
    path.write_text('[scenario]\nweeks = [1,\nname = "x"\n', encoding="utf-8")
    res = invoke(command, path)
    assert res.exit_code == 2
    assert "syntax.toml" in res.output and "line 3" in res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize("command", ["validate", "run"])
def test_missing_file_exits_2(command, tmp_path):
    res = invoke(command, tmp_path / "nosuch.toml")
    assert res.exit_code == 2
    assert "nosuch.toml" in res.output
    assert "Traceback" not in res.output


def test_run_unknown_plan_exits_2(funnel, write_toml, tmp_path):
    res = invoke("run", write_toml(funnel), "--plan", "nosuch", "--out", tmp_path / "out")
    assert res.exit_code == 2
    assert "--plan 'nosuch': no such plan" in res.output  # the library's argument, named as the CLI's flag
    assert "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


def test_run_zero_agents_exits_2(funnel, write_toml, tmp_path):
    res = invoke("run", write_toml(funnel), "--agents", "0", "--out", tmp_path / "out")
    assert res.exit_code == 2
    assert "--agents" in res.output
    assert not (tmp_path / "out").exists()


def test_run_shorter_weeks_cuts_campaign_windows(funnel, write_toml, tmp_path):
    """--weeks shorter than a campaign's window cuts the window to the horizon instead of failing."""
    camps = funnel["plans"]["base"]["campaigns"]
    camps[:] = [{**camps[0], "weeks": [2, 8]}]
    res = invoke("run", write_toml(funnel), "--weeks", "4", "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    weekly = pd.read_csv(tmp_path / "out" / "weekly.csv")
    planned = weekly[weekly.segment == "all"].filter(like="planned_").sum(axis=1).to_numpy()
    assert len(planned) == 4
    assert (planned[:2] == 0).all() and (planned[2:] > 0).all()


def test_error_message_brackets_survive(minimal, write_toml):
    """Regression: the message was printed as rich markup, and '[low, high]' vanished as a style tag."""
    minimal["segments"]["a"]["time_before_purchase_weeks"] = [5, 3]
    res = invoke("validate", write_toml(minimal))
    assert res.exit_code == 2
    assert "time_before_purchase_weeks" in res.output
    assert "[low, high]" in res.output  # what is allowed


def test_error_message_with_markup_like_value_exits_2(minimal, write_toml):
    """Regression: a value like '[/x]' made rich raise MarkupError: a traceback and exit status 1."""
    minimal["segments"]["a"]["name"] = ["[/x]"]  # wrong type: a list, not a string
    res = invoke("validate", write_toml(minimal))
    assert res.exit_code == 2
    assert "segments.a.name" in res.output
    assert "[/x]" in res.output
    assert "Traceback" not in res.output


# ---- run: the output folder


def run_ok(path: Path, out: Path, *extra: str) -> pd.DataFrame:
    res = invoke("run", path, "--out", out, "--quiet", *extra)
    assert res.exit_code == 0, res.output
    return pd.read_csv(out / "summary.csv")


def test_run_writes_folder(funnel, write_toml, tmp_path):
    funnel["plans"]["more"] = {"campaigns": [{"channel": "search", "weekly": 9_000.0}]}
    path = write_toml(funnel)
    out = tmp_path / "out"
    summary = run_ok(path, out)
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    assert (out / "scenario.toml").read_bytes() == path.read_bytes()
    for col in SUMMARY_COLUMNS:
        assert col in summary.columns, col
    assert not [c for c in summary.columns if c.endswith("_ci_low")]  # one replication: no CIs
    # one row per plan x segment, plus an `all` row per plan
    assert sorted(summary.plan.unique()) == ["base", "more"]
    for plan in ("base", "more"):
        assert sorted(summary[summary.plan == plan].segment) == ["a", "all", "b"]
    # agents are people: agents x weight, per plan
    tot = summary[summary.segment == "all"].set_index("plan")
    assert (tot.agents == funnel["scenario"]["population"]).all()
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["seed"] == funnel["scenario"]["seed"]
    assert meta["plans"] == ["base", "more"]
    weekly = pd.read_csv(out / "weekly.csv")
    assert set(weekly.week) == set(range(funnel["scenario"]["weeks"]))
    assert leftovers(tmp_path) == []


def test_run_prints_table(funnel, write_toml, tmp_path):
    res = invoke("run", write_toml(funnel), "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    assert "CPO" in res.output and "ROMI" in res.output


def test_run_with_reps_has_confidence_intervals(funnel, write_toml, tmp_path):
    out = tmp_path / "out"
    summary = run_ok(write_toml(funnel), out, "--reps", "3", "--agents", "1000")
    for col in SUMMARY_COLUMNS[2:]:
        assert f"{col}_ci_low" in summary.columns, col
        assert f"{col}_ci_high" in summary.columns, col
    assert (summary.reps == 3).all()
    row = summary[(summary.plan == "base") & (summary.segment == "all")].iloc[0]
    assert row.orders_ci_low <= row.orders <= row.orders_ci_high
    assert row.orders_ci_low < row.orders_ci_high
    by_rep = pd.read_csv(out / "summary_by_rep.csv")
    assert sorted(by_rep.rep.unique()) == [0, 1, 2]


def test_run_replaces_existing_folder(funnel, write_toml, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    run_ok(write_toml(funnel), out, "--force")  # a folder cjmsim did not write: only with --force (issue 11)
    assert not (out / "stale.txt").exists()
    assert (out / "summary.csv").is_file()
    assert leftovers(tmp_path) == []


def test_same_seed_same_bytes_other_seed_differs(funnel, write_toml, tmp_path):
    path = write_toml(funnel)
    one, two, other = tmp_path / "one", tmp_path / "two", tmp_path / "other"
    run_ok(path, one, "--seed", "11")
    run_ok(path, two, "--seed", "11")
    run_ok(path, other, "--seed", "12")
    for name in ("summary.csv", "weekly.csv"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert (one / "summary.csv").read_bytes() != (other / "summary.csv").read_bytes()


def test_failing_run_leaves_no_folder(funnel, write_toml, tmp_path, monkeypatch):
    """The writer fails after summary.csv and weekly.csv are written: nothing may be left behind."""
    calls = []

    def boom(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("disk full")

    monkeypatch.setattr(cjmsim.analyses.simulate, "metadata", boom)
    out = tmp_path / "out"
    res = invoke("run", write_toml(funnel), "--out", out, "--quiet")
    assert calls == [1]
    assert res.exit_code != 0
    assert isinstance(res.exception, RuntimeError)
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_failing_run_keeps_previous_folder(funnel, write_toml, tmp_path, monkeypatch):
    path = write_toml(funnel)
    out = tmp_path / "out"
    run_ok(path, out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(cjmsim.analyses.simulate, "metadata", boom)
    res = invoke("run", path, "--out", out, "--quiet", "--seed", "99")
    assert isinstance(res.exception, RuntimeError)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert leftovers(tmp_path) == []


def test_atomic_folder_failure(tmp_path):
    target = tmp_path / "target"
    with pytest.raises(KeyError):
        with atomic_folder(target) as tmp:
            (tmp / "half.csv").write_text("a,b\n")
            assert tmp.parent == tmp_path and tmp != target
            raise KeyError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_folder_success_replaces(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_folder(target) as tmp:
        (tmp / "new.txt").write_text("new")
        assert not (target / "new.txt").exists()  # nothing visible before the block ends
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert leftovers(tmp_path) == []


def test_run_default_out_folder_and_segment_tables(funnel, write_toml, tmp_path):
    path = write_toml(funnel, "shop.toml")
    res = invoke("run", path, "--segments")  # the autouse fixture runs each test in tmp_path
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "shop" / "summary.csv").is_file()
    rows = [line.split(",")[0] for line in res.output.splitlines()]
    assert rows.count("CPO") == 3 and rows.count("iCPO") == 3  # totals and incremental: all segments, a, b
    assert "Funnel: A," in res.output and "Funnel: B," in res.output


def test_run_plan_option_runs_only_that_plan(funnel, write_toml, tmp_path):
    funnel["plans"]["more"] = {"campaigns": [{"channel": "search", "weekly": 9_000.0}]}
    summary = run_ok(write_toml(funnel), tmp_path / "out", "--plan", "more")
    assert set(summary.plan) == {"more"}
