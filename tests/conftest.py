"""Shared fixtures: small scenarios built as dicts (see helpers.py), TOML files in tmp folders."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import helpers
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

from cjmsim import Scenario, parse_scenario

# Property tests: no example database, and hypothesis's own files in a temporary folder, so the
# suite writes nothing into the repository; no deadline (timing never decides a test).
set_hypothesis_home_dir(tempfile.mkdtemp(prefix="cjmsim-tests-hypothesis-"))
settings.register_profile(
    "cjmsim", database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.load_profile("cjmsim")


@pytest.fixture(autouse=True)
def _run_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own tmp folder, so a default output folder never lands in the repo."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def minimal() -> dict[str, Any]:
    """One segment, no channels, one empty plan ``none`` (a fresh dict per test)."""
    return helpers.minimal_scenario()


@pytest.fixture
def funnel() -> dict[str, Any]:
    """Two segments, three channels, plan ``base`` (a fresh dict per test)."""
    return helpers.funnel_scenario()


@pytest.fixture
def write_toml(tmp_path: Path) -> Callable[[dict[str, Any], str], Path]:
    """Write a scenario dict as a TOML file in the test's tmp folder; returns its path."""

    def write(data: dict[str, Any], name: str = "scenario.toml") -> Path:
        path = tmp_path / name
        path.write_text(helpers.to_toml(data) + "\n", encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    """The funnel scenario, validated, with 4,000 agents over 12 weeks (shared by a test module)."""
    d = helpers.funnel_scenario()
    d["scenario"].update(agents=4000, weeks=12)
    return parse_scenario(d)
