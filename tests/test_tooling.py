"""The project's own habits, checked like any other behaviour: ruff lint and mypy --strict on the package."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_lint_is_clean():
    res = _run("ruff", "check", "cjmsim", "tests", "benchmarks")
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.slow
def test_mypy_strict_is_clean():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["strict"] is True  # the package is checked with --strict
    res = _run("mypy", "cjmsim")
    assert res.returncode == 0, res.stdout + res.stderr
