"""The presentation layer's shape, checked like behaviour: the number formatters stay pure (the
terminal imports them), every report extends one base template. The rules of every layer (no
private imports, short functions, docstrings) are in test_architecture.py."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PRESENTATION = Path(__file__).resolve().parents[1] / "cjmsim" / "presentation"
MODULES = sorted(PRESENTATION.rglob("*.py"))
TEMPLATES = PRESENTATION / "templates"


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_the_formatters_are_pure_functions_the_terminal_can_use() -> None:
    imported = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name.split(".")[0]
        for node in ast.walk(_tree(PRESENTATION / "format.py"))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not imported & {"matplotlib", "jinja2", "markupsafe", "pandas", "numpy"}, imported


def test_every_report_extends_the_one_base_template() -> None:
    base = (TEMPLATES / "base.html.j2").read_text(encoding="utf-8")
    assert "Content-Security-Policy" in base and "<style>" in base and "<script" not in base
    for name in ("report.html.j2", "sweep.html.j2", "attribution.html.j2", "optimize.html.j2", "calibrate.html.j2"):
        text = (TEMPLATES / name).read_text(encoding="utf-8")
        assert text.startswith('{% extends "base.html.j2" %}'), name
        assert "<html" not in text and "<style" not in text and "Content-Security-Policy" not in text, name
    source = "".join(p.read_text(encoding="utf-8") for p in MODULES)
    assert not re.search(r"<style>\(\.\*\?\)</style>|base_css", source), "no stylesheet cut out of a template"
