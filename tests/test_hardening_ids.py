"""Hardening (issue 11): ids at the boundary and input semantics.

Segment, channel and plan ids have one grammar (letters of any script, digits, '_' and '-', starting
with a letter or digit, at most 64 characters); reserved and colliding ids are refused; a sweep keeps
plans apart whatever their ids; a total budget needs a week to be spent in; a file nested too deep is
one message, never a traceback. Every refusal is a ScenarioError naming the key path and the value,
and exit status 2 from the command line.
"""

from __future__ import annotations

import copy
import datetime
import json
import random
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from cjmsim import ScenarioError, load_scenario, parse_scenario
from cjmsim.analyses.sweep import Task, run_sweep
from cjmsim.cli import main
from cjmsim.scenario import read_toml

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "scenarios" / "minimal.toml"
GRAMMAR = "ids are letters (of any script), digits, '_' and '-'"


def invoke(*args: object):  # noqa: ANN201
    return CliRunner().invoke(main, [str(a) for a in args])


def base() -> dict[str, Any]:
    """scenarios/minimal.toml as TOML parses it, 1,000 agents over 8 weeks (a fresh dict)."""
    data = read_toml(MINIMAL)
    data["scenario"].update(agents=1000, weeks=8, ltv_weeks=8)
    for plan in data["plans"].values():
        for camp in plan.get("campaigns", []):
            camp["weeks"] = [min(w, 8) for w in camp["weeks"]]
    return data


def toml_text(data: dict[str, Any]) -> str:
    """Any scenario dict as TOML, every key quoted (the tests' ids need not be bare keys)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, datetime.date):
            return v.isoformat()
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return "{ " + ", ".join(f"{value(str(k))} = {value(x)}" for k, x in v.items() if x is not None) + " }"

    return "\n".join(f"{value(k)} = {value(v)}" for k, v in data.items()) + "\n"


def write(tmp_path: Path, data: dict[str, Any], name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(toml_text(data), encoding="utf-8")
    return path


def rename(data: dict[str, Any], kind: str, old: str, new: str) -> dict[str, Any]:
    """Rename one segment, channel or plan id, and every reference to it."""
    data[kind] = {new if k == old else k: v for k, v in data[kind].items()}
    for seg in data["segments"].values():
        for table in ("affinity", "odds"):
            if kind == "channels" and old in seg.get(table, {}):
                seg[table] = {new if k == old else k: v for k, v in seg[table].items()}
    for plan in data["plans"].values():
        for camp in plan.get("campaigns", []):
            if kind == "channels" and camp["channel"] == old:
                camp["channel"] = new
            if kind == "segments" and camp.get("segments"):
                camp["segments"] = [new if s == old else s for s in camp["segments"]]
    return data


def test_the_shipped_scenario_validates_and_the_writer_round_trips(tmp_path):
    assert load_scenario(write(tmp_path, base())) == parse_scenario(base())


# ---- the id grammar


BAD_IDS = {
    "traversal": "../x",
    "absolute": "/abs",
    "backslash": "a\\b",
    "dot": "a.b",
    "nul": "nul\x00here",
    "escape": "x\x1b[2J",
    "space": "a b",
    "bidi": "evil\u202egnp",
    "empty": "",
    "leading-dash": "-x",
    "leading-underscore": "_x",
    "too-long": "x" * 65,
}
KINDS = {"segments": "enthusiast", "channels": "email", "plans": "search_and_email"}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_bad_ids_are_refused_with_key_path_value_and_grammar(kind, bad):
    data = rename(base(), kind, KINDS[kind], bad)
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data, source="s.toml")
    msg = str(err.value)
    assert msg.startswith(f"s.toml: {kind}."), msg
    assert f"id {bad!r} is not allowed" in msg and GRAMMAR in msg
    assert "\x00" not in msg and "\x1b" not in msg and "\u202e" not in msg  # the key path is escaped too
    assert msg.count("\n") == 0  # one line: the one bad id


def test_bad_id_through_the_cli_writes_nothing(tmp_path):
    path = write(tmp_path, rename(base(), "plans", "search_and_email", "../../ESCAPED"))
    for args in (["validate", path], ["run", path, "--no-report", "--quiet", "--out", tmp_path / "o" / "run"]):
        res = invoke(*args)
        assert res.exit_code == 2, res.output
        assert "plans.\"../../ESCAPED\": plan id '../../ESCAPED' is not allowed" in res.output
        assert "Traceback" not in res.output
    assert not (tmp_path / "o").exists() and not list(tmp_path.parent.glob("**/ESCAPED*"))


@pytest.mark.parametrize("good", ["план-2", "數據", "हिंदी", "café", "x" * 64, "2026q1", "a_-b"])
def test_ids_of_any_script_are_ids(good):
    for kind in KINDS:
        sc = parse_scenario(rename(base(), kind, KINDS[kind], good))
        assert good in getattr(sc, kind)


# ---- reserved ids and collisions


@pytest.mark.parametrize("seg", ["all", "ALL", "All"])
def test_segment_all_is_reserved(seg):
    with pytest.raises(ScenarioError, match=rf"^<scenario>: segments\.{seg}: segment id '{seg}' is reserved"):
        parse_scenario(rename(base(), "segments", "enthusiast", seg))


def test_a_scenario_file_may_not_use_an_internal_plan_id(tmp_path):
    data = rename(base(), "plans", "none", "__warmup__")
    msg = r"plans\.__warmup__: plan id '__warmup__' is reserved: ids starting with '__'"
    with pytest.raises(ScenarioError, match=msg):
        load_scenario(write(tmp_path, data))
    parse_scenario(data)  # the analyses add such plans to a validated scenario themselves
    res = invoke("validate", write(tmp_path, data))
    assert res.exit_code == 2 and "plans.__warmup__" in res.output, res.output


def test_a_sweep_refuses_a_base_scenario_with_an_internal_plan(tmp_path):
    data = rename(base(), "plans", "none", "__warmup__")
    data["scenario"].update(warmup_weeks=2, warmup_plan="search_and_email")
    write(tmp_path, data)
    exp = tmp_path / "exp.toml"
    exp.write_text('[experiment]\nscenario = "scenario.toml"\nplans = ["__warmup__", "search_and_email"]\nreps = 1\n')
    res = invoke("sweep", exp, "--quiet", "--no-report", "--out", tmp_path / "o")
    assert res.exit_code == 2, res.output
    assert "plans.__warmup__: plan id '__warmup__' is reserved" in res.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("kind", "old", "new"),
    [
        ("segments", "enthusiast", "Casual"),
        ("segments", "enthusiast", "ｃａｓｕａｌ"),  # fullwidth: the same id after NFKC
        ("channels", "email", "SEARCH"),
        ("plans", "none", "search-and-email"),
        ("plans", "none", "Search_And-Email"),
    ],
)
def test_ids_the_same_once_normalised_collide(kind, old, new):
    other = {"segments": "casual", "channels": "search", "plans": "search_and_email"}[kind]
    with pytest.raises(ScenarioError) as err:
        parse_scenario(rename(base(), kind, old, new))
    msg = str(err.value)
    assert msg.startswith(f"<scenario>: {kind}: ") and "are the same id" in msg, msg
    assert repr(other) in msg and repr(new) in msg


# ---- the sweep: plans whose ids once slugged alike


def _slug_experiment(folder: Path, one: str, two: str) -> Path:
    """Plans ``one`` and ``two`` (search + e-mail, and the same at a tenth of the budget) and none."""
    folder.mkdir()
    data = rename(base(), "plans", "search_and_email", one)
    data["plans"][two] = copy.deepcopy(data["plans"][one])
    for camp in data["plans"][two]["campaigns"]:
        camp["weekly"] /= 10
    write(folder, data, "slug.toml")
    exp = folder / "exp.toml"
    exp.write_text(
        f'[experiment]\nscenario = "slug.toml"\nplans = ["none", "{one}", "{two}"]\nreps = 2\nseed = 3\n'
        '[[parameters]]\nname = "budget"\nbudget = ["*"]\nvalues = [1.0, 2.0]\n',
        encoding="utf-8",
    )
    return exp


def test_sweep_keeps_plans_that_once_slugged_alike_apart_and_resumes(tmp_path):
    exp = _slug_experiment(tmp_path / "cyrillic", "план", "цены")
    out = tmp_path / "o"
    res = invoke("sweep", exp, "--quiet", "--no-report", "--out", out)
    assert res.exit_code == 0, res.output
    parts = sorted(p.name for p in (out / "results").glob("*.parquet"))
    # points x (plans + no marketing) x reps, no two alike
    assert len(parts) == 2 * (3 + 1) * 2 and all(p.isascii() for p in parts)
    summary = pd.read_csv(out / "summary.csv")
    totals = summary[summary.segment == "all"]
    assert sorted(totals.plan) == sorted(["none", "план", "цены"] * 2)
    spend = totals.groupby("plan").spend.max()
    assert spend["план"] > 5 * spend["цены"] > 0 and spend["none"] == 0
    results = pd.concat(pd.read_parquet(out / "results" / p) for p in parts)
    assert (results.groupby("plan").size() == 2 * 2 * 3).all()  # points x reps x (2 segments + all)
    calls: list[tuple[int, int]] = []
    again = run_sweep(exp, out=out, resume=True, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(16, 16)]  # every part found again: nothing runs
    # each plan has its own numbers: the same as the same sweep with ASCII ids
    ascii_ = run_sweep(_slug_experiment(tmp_path / "ascii", "plan_a", "plan_b")).summary
    ascii_["plan"] = ascii_.plan.replace({"plan_a": "план", "plan_b": "цены"})
    pd.testing.assert_frame_equal(again.summary, ascii_)


def test_task_keys_are_unique_and_ascii_ids_keep_their_old_names():
    sc = parse_scenario(base())
    keys = [Task(0, plan, 1, sc, 7, True).key for plan in ["none", "план", "цены", "plan", "____"]]
    assert keys[0] == "p00000-none-r0001" and keys[3] == "p00000-plan-r0001" and keys[4] == "p00000-____-r0001"
    assert len(set(keys)) == len(keys) and all(k.isascii() for k in keys)


# ---- semantics: a total budget needs a week; nesting


@pytest.mark.parametrize("budget", ["total", "weekly"])
def test_empty_flights_are_refused(tmp_path, budget):
    data = base()
    camp = data["plans"]["search_and_email"]["campaigns"][0]
    camp.pop("weekly"), camp.pop("weeks")
    camp.update({budget: 1_000_000, "flights": []})
    path = write(tmp_path, data)
    res = invoke("validate", path)
    assert res.exit_code == 2, res.output
    assert "plans.search_and_email.campaigns[0]: flights = []: the campaign has no active week" in res.output
    assert ("total budget cannot be spent" in res.output) == (budget == "total")


def test_a_total_budget_past_the_horizon_is_refused():
    data = base()
    camp = data["plans"]["search_and_email"]["campaigns"][0]
    camp.pop("weekly")
    camp.update(total=1_000_000, flights=[[8, 12]])
    camp.pop("weeks")
    with pytest.raises(ScenarioError, match=r"plans\.search_and_email\.campaigns\[0\]: week window \[8, 12\)"):
        parse_scenario(data)


@pytest.mark.parametrize("depth", [40, 600])
def test_deep_nesting_is_one_message(tmp_path, depth):
    text = MINIMAL.read_text(encoding="utf-8").replace("[scenario]", "[scenario]\nx = " + "[" * depth + "]" * depth, 1)
    path = tmp_path / "deep.toml"
    path.write_text(text, encoding="utf-8")
    for args in (["validate", path], ["run", path, "--no-report", "--quiet", "--out", tmp_path / "o"]):
        res = invoke(*args)
        assert res.exit_code == 2, res.output
        assert f"{path}: tables and arrays are nested deeper than 32 levels" in res.output
        assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)


def test_deep_nesting_through_the_api():
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    data = base()
    data["scenario"]["name"] = deep
    with pytest.raises(ScenarioError, match="^here: tables and arrays are nested deeper than 32 levels"):
        parse_scenario(data, source="here")


# ---- a bounded mutation fuzz: every mutant validates or is one ScenarioError

HOSTILE = [
    "../x", "/abs", "a.b", "nul\x00", " ", "x" * 200, "\u202e", "=1+2", "all", "__warmup__", "", "ＡＢ",
    "\x1b[2J", "[red]x[/red]", "$\\frac{$", "план", "-", "\ud7ff", "a\nb",
]  # fmt: skip
ODD_VALUES: list[Any] = [
    None, "text", 0, -1, 1, 1.5, -0.5, 2, 10**30, -(10**30), 1e308, float("nan"), float("inf"), True, [],
    {}, [1, 2], [[0, 1]], {"a": 1}, datetime.date(2026, 1, 5),
]  # fmt: skip


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(data: dict[str, Any], rng: random.Random) -> None:
    path = rng.choice(_paths(data))
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    op = rng.randrange(5)
    if op == 0:  # delete a key (or a list item)
        del parent[last]
    elif op == 1:  # another type
        parent[last] = copy.deepcopy(rng.choice(ODD_VALUES))
    elif op == 2 and isinstance(parent[last], int | float) and not isinstance(parent[last], bool):
        parent[last] = parent[last] * rng.choice([-1, 1e6, -1e6, 1e-9, 0])  # out of range
    elif op == 3 and isinstance(parent, dict) and path[0] in ("segments", "channels", "plans") and len(path) == 2:
        rename(data, str(path[0]), str(last), rng.choice(HOSTILE))  # a hostile id
    else:  # a hostile string where text (a name, a reference) was
        parent[last] = rng.choice(HOSTILE)


def test_mutants_validate_or_raise_scenario_error():
    rng = random.Random(20260511)
    outcomes = {"valid": 0, "refused": 0}
    original = base()
    for i in range(200):
        data = copy.deepcopy(original)
        for _ in range(rng.randint(1, 3)):
            _mutate(data, rng)
        try:
            parse_scenario(data, source="mutant")
        except ScenarioError as e:
            outcomes["refused"] += 1
            assert str(e).startswith("mutant: "), (i, str(e))
        except Exception as e:  # noqa: BLE001 - the point: nothing else may escape
            pytest.fail(f"mutant {i} raised {type(e).__name__}: {e}\n{data!r}")
        else:
            outcomes["valid"] += 1
    assert outcomes["valid"] >= 10 and outcomes["refused"] >= 100, outcomes
