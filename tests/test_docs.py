"""The documentation stays true to the code: the scenario reference is current and complete."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from cjmsim.presentation.schema_doc import scenario_reference
from cjmsim.scenario import Scenario, parse_scenario

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
