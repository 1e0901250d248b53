"""The presentation layer's shape, checked like behaviour: modules share public helpers only,
functions stay short enough to hold, the number formatters stay pure, every report extends one base."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PRESENTATION = Path(__file__).resolve().parents[1] / "cjmsim" / "presentation"
MODULES = sorted(PRESENTATION.rglob("*.py"))
TEMPLATES = PRESENTATION / "templates"


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PRESENTATION)))
def test_no_module_imports_another_modules_private_name(path: Path) -> None:
    private = [
        f"line {node.lineno}: {alias.name} from {node.module}"
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cjmsim")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert not private, private


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PRESENTATION)))
def test_functions_are_short_enough_to_read_and_public_ones_say_what_they_do(path: Path) -> None:
    tree = _tree(path)
    assert ast.get_docstring(tree), "a module opens with a sentence on its role"
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            assert node.end_lineno - node.lineno < 150, f"{node.name} is {node.end_lineno - node.lineno + 1} lines"
    for node in tree.body:  # module-level public functions and classes
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
            assert ast.get_docstring(node), f"{node.name} has no docstring"


def test_the_formatters_are_pure_functions_the_terminal_can_use() -> None:
    imported = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name.split(".")[0]
        for node in ast.walk(_tree(PRESENTATION / "format.py"))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not imported & {"matplotlib", "jinja2", "markupsafe", "pandas"}, imported


def test_every_report_extends_the_one_base_template() -> None:
    base = (TEMPLATES / "base.html.j2").read_text(encoding="utf-8")
    assert "Content-Security-Policy" in base and "<style>" in base and "<script" not in base
    for name in ("report.html.j2", "sweep.html.j2", "attribution.html.j2", "optimize.html.j2"):
        text = (TEMPLATES / name).read_text(encoding="utf-8")
        assert text.startswith('{% extends "base.html.j2" %}'), name
        assert "<html" not in text and "<style" not in text and "Content-Security-Policy" not in text, name
    source = "".join(p.read_text(encoding="utf-8") for p in MODULES)
    assert not re.search(r"<style>\(\.\*\?\)</style>|base_css", source), "no stylesheet cut out of a template"
