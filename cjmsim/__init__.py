"""cjmsim: test marketing strategies on synthetic customers before spending money on them.

A scenario (TOML) describes segments (personas), the AIDA+Loyalty funnel, channels and budget
plans; :func:`simulate` grows a synthetic population and moves it through the funnel week by
week under each plan, and returns tidy pandas tables of what each plan buys.

    >>> import cjmsim
    >>> sc = cjmsim.load_scenario("scenarios/minimal.toml")
    >>> result = cjmsim.simulate(sc, reps=3)
    >>> result.totals()[["orders", "cpo", "romi"]]
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cjmsim")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"

from .engine import Result, simulate  # noqa: E402
from .scenario import Scenario, ScenarioError, load_scenario, parse_scenario  # noqa: E402
from .sweep import sweep  # noqa: E402  (the function; import from the module with `from cjmsim.sweep import ...`)

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
