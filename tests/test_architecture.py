"""The architecture, checked like any other behaviour: layers import one way, nothing shares a
private name across modules, the command line starts without the heavy libraries, the public API
is what it says (see docs/architecture.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cjmsim"

#: Each layer and the layers it may import (besides itself). The package root ``cjmsim`` is the
#: lazy public API: lower layers may take only ``__version__`` from it.
LAYERS: dict[str, set[str]] = {
    "scenario": set(),
    "engine": {"scenario"},
    "output": {"scenario"},  # files and metadata, not results: the analyses write through it
    "analyses": {"scenario", "engine", "output"},
    "presentation": {"scenario", "analyses", "output"},  # reads results, never the engine's internals
    "cli": {"scenario", "analyses", "output", "presentation"},
}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _layer(path: Path) -> str | None:
    rel = path.relative_to(PACKAGE).parts
    return rel[0] if len(rel) > 1 else None  # None: the package root's __init__.py


def _imports(path: Path, root: Path = ROOT) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, imported names) of every cjmsim import in a file under ``root``."""
    pkg = path.relative_to(root).with_suffix("").parts[:-1]  # the package a relative import starts from
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(pkg[: len(pkg) - (node.level - 1)])
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] == "cjmsim":
                out.append((node.lineno, mod, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] == "cjmsim")
    return out


def _target_layers(mod: str, names: list[str]) -> set[str]:
    parts = mod.split(".")
    if len(parts) > 1:
        return {parts[1]}
    # `from cjmsim import x`: a layer package, or the root's __version__
    return {n for n in names if n != "__version__"}


def test_every_module_belongs_to_a_layer() -> None:
    layers = {_layer(p) for p in _modules()} - {None}
    assert layers == set(LAYERS), f"modules outside the known layers: {layers - set(LAYERS)}"


def test_layers_import_one_way() -> None:
    bad = []
    for path in _modules():
        me = _layer(path)
        if me is None:
            continue
        for line, mod, names in _imports(path):
            for target in _target_layers(mod, names):
                if target != me and target not in LAYERS[me]:
                    bad.append(f"{path.relative_to(ROOT)}:{line}: {me} imports {mod} ({target})")
    assert not bad, "\n".join(bad)


def test_the_layer_rule_catches_an_upward_import(tmp_path: Path) -> None:
    # the checker itself: absolute and relative imports of higher layers are both seen
    fake = tmp_path / "cjmsim" / "engine" / "x.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("from cjmsim.presentation.charts import save\nfrom ..analyses import metrics\nfrom . import step\n")
    found = [(mod, _target_layers(mod, names)) for _, mod, names in _imports(fake, tmp_path)]
    assert found == [
        ("cjmsim.presentation.charts", {"presentation"}),
        ("cjmsim.analyses", {"analyses"}),
        ("cjmsim.engine", {"engine"}),
    ]
    assert {"presentation", "analyses"} - LAYERS["engine"] == {"presentation", "analyses"}


def test_no_module_imports_another_modules_private_name() -> None:
    bad = []
    for path in _modules():
        me = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for line, mod, names in _imports(path):
            for n in names:
                if not n.startswith("_") or n.startswith("__"):
                    continue
                target = Path(ROOT, *mod.split("."), n)
                if target.with_suffix(".py").exists() or (target / "__init__.py").exists():
                    continue  # a private module, not a private name
                if mod != me:
                    bad.append(f"{path.relative_to(ROOT)}:{line}: imports {n} from {mod}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_functions_fit_in_a_readers_head_and_public_names_say_what_they_do(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    assert ast.get_docstring(tree), "a module opens with a sentence on its role"
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            assert length <= 150, f"{node.name} is {length} lines"
    for node in tree.body:  # module-level public functions and classes
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
            assert ast.get_docstring(node), f"{node.name} has no docstring"


#: Libraries only one layer may import: the CLI's terminal, the presentation's drawing and pages.
OWNED = {
    "click": "cli",
    "rich": "cli",
    "matplotlib": "presentation",
    "jinja2": "presentation",
    "markupsafe": "presentation",
    "starlette": "presentation",  # the live what-if page's web application and server (cjmsim serve)
    "uvicorn": "presentation",
}


def test_only_the_cli_imports_the_terminal_and_only_presentation_draws() -> None:
    bad = []
    for path in _modules():
        me = _layer(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            for name in names:
                owner = OWNED.get(name.split(".")[0])
                if owner is not None and owner != me:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name} belongs to the {owner} layer")
    assert not bad, "\n".join(bad)


def test_no_two_classes_share_a_name() -> None:
    seen: dict[str, list[str]] = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                seen.setdefault(node.name, []).append(str(path.relative_to(PACKAGE)))
    assert {n: p for n, p in seen.items() if len(p) > 1} == {}


def _run(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return res.stdout.strip()


HEAVY = ("numpy", "pandas", "scipy", "matplotlib")


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["--help"],
        *([cmd, "--help"] for cmd in ("run", "validate", "sweep", "attribute", "optimize", "calibrate", "serve")),
    ],
    ids=lambda a: " ".join(a),
)
def test_help_and_version_import_no_heavy_library(args: list[str]) -> None:
    code = (
        "import sys\nfrom cjmsim.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    last = _run(code).splitlines()[-1] if _run(code) else ""
    assert set(last.split(",")) & set(HEAVY) == set(), f"cjmsim {' '.join(args)} imported {last}"


def test_simulating_loads_no_presentation_or_cli_library() -> None:
    code = (
        "import sys, cjmsim\n"
        "sc = cjmsim.load_scenario('scenarios/minimal.toml')\n"
        "cjmsim.simulate(sc, agents=500, weeks=3)\n"
        "print(','.join(m for m in ('matplotlib', 'jinja2', 'click', 'rich') if m in sys.modules))"
    )
    assert _run(code) == ""


def test_import_cjmsim_is_light() -> None:
    assert (
        _run("import sys, cjmsim; print(','.join(m for m in ('numpy', 'pandas', 'pydantic') if m in sys.modules))")
        == ""
    )


def test_public_api_resolves_lazily() -> None:
    import cjmsim
    from cjmsim.analyses.simulate import Result, simulate
    from cjmsim.analyses.sweep import sweep
    from cjmsim.scenario import Scenario, ScenarioError, load_scenario, parse_scenario

    assert (cjmsim.simulate, cjmsim.Result, cjmsim.sweep) == (simulate, Result, sweep)
    assert (cjmsim.Scenario, cjmsim.ScenarioError, cjmsim.load_scenario) == (Scenario, ScenarioError, load_scenario)
    assert cjmsim.parse_scenario is parse_scenario
    assert callable(cjmsim.sweep)  # the function, not a module of the same name
    with pytest.raises(AttributeError):
        _ = cjmsim.no_such_name  # type: ignore[attr-defined]


def test_run_charts_keep_their_public_path() -> None:
    import cjmsim.charts
    from cjmsim.charts import all_charts, kpi_comparison

    from cjmsim.presentation.charts import run

    assert (all_charts, kpi_comparison) == (run.all_charts, run.kpi_comparison)
    assert cjmsim.charts.all_charts is run.all_charts


def test_old_module_paths_import_with_a_deprecation_warning() -> None:
    code = (
        "import warnings\nwarnings.simplefilter('error')\n"
        "try:\n    import cjmsim.optimize\nexcept DeprecationWarning as w:\n    print(w)\n"
    )
    assert _run(code) == "cjmsim.optimize is now cjmsim.analyses.optimize; import it from there"
    code = (
        "import warnings\nwarnings.simplefilter('ignore')\n"
        "from cjmsim.exports import journeys_table\nprint(journeys_table.__module__)"
    )
    assert _run(code) == "cjmsim.analyses.exports"
