"""cjmsim: test marketing strategies on synthetic customers before spending money on them.

A scenario (TOML) describes segments (personas), the AIDA+Loyalty funnel, channels and budget
plans; :func:`simulate` grows a synthetic population and moves it through the funnel week by
week under each plan, and returns tidy pandas tables of what each plan buys.

    >>> import cjmsim
    >>> sc = cjmsim.load_scenario("scenarios/minimal.toml")
    >>> result = cjmsim.simulate(sc, reps=3)
    >>> result.totals()[["orders", "cpo", "romi"]]

The package is layered (docs/architecture.md): ``cjmsim.scenario`` (the models, at the bottom),
``cjmsim.engine``, ``cjmsim.analyses``, ``cjmsim.output``, ``cjmsim.presentation`` and
``cjmsim.cli``. Importing ``cjmsim`` loads none of them: each public name below is imported on
first use, so ``cjmsim --version`` and ``--help`` start without numpy, pandas or matplotlib.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("cjmsim")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"

if TYPE_CHECKING:
    from cjmsim.analyses.simulate import Result, simulate
    from cjmsim.analyses.sweep import sweep
    from cjmsim.scenario import Scenario, ScenarioError, load_scenario, parse_scenario

__all__ = [
    "Result",
    "Scenario",
    "ScenarioError",
    "__version__",
    "load_scenario",
    "parse_scenario",
    "simulate",
    "sweep",
]

#: Where each public name lives (imported on first use).
_PUBLIC = {
    "Result": "cjmsim.analyses.simulate",
    "simulate": "cjmsim.analyses.simulate",
    "sweep": "cjmsim.analyses.sweep",
    "Scenario": "cjmsim.scenario",
    "ScenarioError": "cjmsim.scenario",
    "load_scenario": "cjmsim.scenario",
    "parse_scenario": "cjmsim.scenario",
}


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562), so ``import cjmsim`` stays light."""
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cjmsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


# --------------------------------------------------------------------------------------------
# module paths of cjmsim 0.1, before the layers: ``cjmsim.charts`` stays a public name of the run
# charts; the others still import, with a DeprecationWarning naming the new path

#: old module path -> (new module path, deprecated)
MOVED: dict[str, tuple[str, bool]] = {
    "cjmsim.charts": ("cjmsim.presentation.charts", False),
    "cjmsim.report": ("cjmsim.presentation.reports.run", True),
    "cjmsim.sweep_charts": ("cjmsim.presentation.charts.sweep", True),
    "cjmsim.sweep_report": ("cjmsim.presentation.reports.sweep", True),
    "cjmsim.attribution_charts": ("cjmsim.presentation.charts.attribution", True),
    "cjmsim.attribution_report": ("cjmsim.presentation.reports.attribution", True),
    "cjmsim.optimize_charts": ("cjmsim.presentation.charts.optimize", True),
    "cjmsim.optimize_report": ("cjmsim.presentation.reports.optimize", True),
    "cjmsim.schema_doc": ("cjmsim.presentation.schema_doc", True),
    "cjmsim.attribution": ("cjmsim.analyses.attribution", True),
    "cjmsim.optimize": ("cjmsim.analyses.optimize", True),
    "cjmsim.exports": ("cjmsim.analyses.exports", True),
    "cjmsim.metrics": ("cjmsim.analyses.metrics", True),
    "cjmsim.population": ("cjmsim.engine.population", True),
    "cjmsim.exposure": ("cjmsim.engine.exposure", True),
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module path and hands back the module that now holds its code."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new, deprecated = MOVED[spec.name]
        if deprecated:
            warnings.warn(f"{spec.name} is now {new}; import it from there", DeprecationWarning, stacklevel=2)
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        """The module is already executed under its new name."""


if not any(isinstance(f, _Alias) for f in sys.meta_path):
    sys.meta_path.append(_Alias())
