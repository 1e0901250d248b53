"""The ``cjmsim`` command: a thin shell over the library, and the only layer that imports click and rich.

Each command parses its arguments, calls the library, prints tables and progress, and turns the
library's input errors into one clear message and exit status 2. Commands import the library
inside their bodies, so ``cjmsim --version`` and every ``--help`` start without numpy, pandas,
scipy or matplotlib.
"""

from __future__ import annotations

import click

from cjmsim import __version__

from .attribute import attribute_command
from .calibrate import calibrate_command
from .optimize import optimize_command
from .run import run, schema, validate
from .serve import serve_command
from .sweep import sweep_command

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cjmsim")
def main() -> None:
    """Test marketing strategies on synthetic customers.

    Write a customer journey map as a TOML scenario (segments, the AIDA+Loyalty funnel, channels,
    budget plans); cjmsim simulates it week by week and reports what each plan buys.
    """


for _command in (
    validate,
    schema,
    run,
    sweep_command,
    attribute_command,
    optimize_command,
    calibrate_command,
    serve_command,
):
    main.add_command(_command)
