"""The documentation stays true to the code: the scenario reference is current and complete."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from cjmsim.presentation.schema_doc import scenario_reference
from cjmsim.scenario import Scenario, ScenarioError, parse_scenario

DOC = Path(__file__).resolve().parents[1] / "docs" / "scenario.md"
BEGIN, END = "<!-- generated: begin -->", "<!-- generated: end -->"
REGENERATE = 'python -c "from cjmsim.presentation.schema_doc import scenario_reference; print(scenario_reference())"'


def _generated_part() -> str:
    text = DOC.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1, f"{DOC} needs one {BEGIN} and one {END}"
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    assert start < end, f"{BEGIN} must come before {END}"
    return text[start:end]


def _models(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[type[BaseModel]]:
    """Every pydantic model reachable from ``model`` through its fields' annotations."""
    seen = set() if seen is None else seen
    seen.add(model)
    stack: list[Any] = [f.annotation for f in model.model_fields.values()]
    while stack:
        tp = stack.pop()
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp not in seen:
                _models(tp, seen)
        else:
            stack.extend(get_args(tp))
    return seen


def test_scenario_reference_is_current() -> None:
    expected = "\n" + scenario_reference() + "\n"
    assert _generated_part() == expected, (
        f"docs/scenario.md is out of date: replace the text between {BEGIN} and {END} with the output of {REGENERATE}"
    )


def test_scenario_reference_names_every_field() -> None:
    part = _generated_part()
    models = _models(Scenario)
    assert len(models) >= 16  # Scenario, Settings, Segment (+6), Channel (+4), Plan, Campaign
    missing = [f"{m.__name__}.{name}" for m in models for name in m.model_fields if f"`{name}`" not in part]
    assert not missing, f"fields missing from docs/scenario.md: {missing}"
    # and each model has a section whose table lists exactly its keys
    tables = [set(re.findall(r"^\| `(\w+)` \|", body, flags=re.M)) for body in part.split("\n### ")]
    no_section = [m.__name__ for m in models if set(m.model_fields) not in tables]
    assert not no_section, f"models without a section of their own in docs/scenario.md: {no_section}"


def test_scenario_example_is_valid() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "docs/scenario.md has no TOML example"
    for block in blocks:
        parse_scenario(tomllib.loads(block), source="docs/scenario.md example")


SWEEPS = Path(__file__).resolve().parents[1] / "docs" / "sweeps.md"


def test_experiment_reference_is_current_and_complete() -> None:
    from cjmsim.analyses.sweep import Experiment
    from cjmsim.presentation.schema_doc import experiment_reference

    text = SWEEPS.read_text(encoding="utf-8")
    part = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    assert part == "\n" + experiment_reference() + "\n", "docs/sweeps.md is out of date: regenerate its reference"
    for model in _models(Experiment):
        for name in model.model_fields:
            assert f"`{name}`" in part, f"{model.__name__}.{name} missing from docs/sweeps.md"


def test_experiments_in_the_docs_are_listed_files() -> None:
    text = SWEEPS.read_text(encoding="utf-8")
    for name in re.findall(r"`(experiments/[a-z_]+\.toml)`", text):
        assert (DOC.parents[1] / name).is_file(), f"docs/sweeps.md names {name}, which does not exist"


MODEL = Path(__file__).resolve().parents[1] / "docs" / "model.md"
REGENERATE_METRICS = (
    'python -c "from cjmsim.scenario.metrics import metrics_table_markdown; print(metrics_table_markdown())"'
)


def test_model_metric_table_is_the_registry() -> None:
    from cjmsim.scenario.metrics import metrics_table_markdown

    text = MODEL.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1, f"{MODEL} needs one {BEGIN} and one {END}"
    part = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    assert part == "\n" + metrics_table_markdown() + "\n", (
        f"docs/model.md's metric table is out of date: replace the text between {BEGIN} and {END} with the "
        f"output of {REGENERATE_METRICS}"
    )


ROOT = Path(__file__).resolve().parents[1]


def _section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    return text[start : text.index("\n## ", start + 1)]


def _merge(into: dict[str, Any], part: dict[str, Any]) -> None:
    """Deep-merge a TOML fragment into a scenario dict (the fragment's values win)."""
    for k, v in part.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def _with_fragment(title: str, scenario_file: str) -> Scenario:
    blocks = _section(title).split("```")[1::2]
    assert len(blocks) == 1, f"section {title!r} should hold one example"
    data = tomllib.loads((ROOT / "scenarios" / scenario_file).read_text(encoding="utf-8"))
    _merge(data, tomllib.loads(blocks[0]))
    return parse_scenario(data, source=f"docs/scenario.md, {title}")


def test_seasonality_fragment_validates_in_hifi() -> None:
    """The seasonality section's example is valid where it says it belongs (hifi's segments and channels)."""
    sc = _with_fragment("Seasonality and trend", "hifi.toml")
    assert sc.seasonality is not None and sc.seasonality.trend == 0.05
    installer = sc.season_of("installer")
    assert installer is not None and installer.rates == ["aware", "purchase"] and len(installer.curve) == 52
    price = sc.channels["context"].price_season
    assert price is not None and price.trend == 0.08


def test_cycle_fragment_validates_in_clinic() -> None:
    """The purchase-cycle / fast-journey example is valid in scenarios/clinic.toml, as it says."""
    sc = _with_fragment("Purchase cycles and fast journeys", "clinic.toml")
    cycle = sc.segments["checkup"].repeat.cycle
    assert cycle is not None and (cycle.weeks, cycle.shape) == (26, 4)
    assert sc.segments["urgent"].steps_per_week == 7


def test_errors_example_is_the_real_message() -> None:
    """Every problem line of the "Errors" example is what validation says for that file (no stale key lists)."""
    block = _section("Errors").split("```text\n")[1].split("```")[0]
    lines = [x.strip() for x in block.splitlines()[1:] if x.strip()]
    assert len(lines) == 3
    data = tomllib.loads((ROOT / "scenarios" / "hifi.toml").read_text(encoding="utf-8"))
    seg = data["segments"]["beginner"]
    seg["base"]["purchase"] = 1.5
    seg["order_valu"] = seg.pop("order_value")
    try:
        parse_scenario(data, source="bad.toml")
    except ScenarioError as err:
        msg = str(err)
    else:
        raise AssertionError("the Errors example's file should not validate")
    for line in lines:
        assert line in msg, f"docs/scenario.md, Errors: {line!r} is not in the real message {msg!r}"


def test_known_fragment_validates_in_minimal() -> None:
    """The known-contacts example is valid in scenarios/minimal.toml, its campaign added to the plan it names."""
    blocks = _section("Known contacts at the start").split("```")[1::2]
    assert len(blocks) == 1
    part = tomllib.loads(blocks[0])
    data = tomllib.loads((ROOT / "scenarios" / "minimal.toml").read_text(encoding="utf-8"))
    data["plans"]["search_and_email"]["campaigns"] += part["plans"]["search_and_email"].pop("campaigns")
    _merge(data, part)
    sc = parse_scenario(data, source="docs/scenario.md, Known contacts at the start")
    known = sc.segments["casual"].known
    assert known.contact.lost == 0.8 and known.visited.lost == 0.9
    assert sc.plans["search_and_email"].campaigns[-1].stages == ["lost"]
