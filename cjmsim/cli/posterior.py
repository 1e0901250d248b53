"""``cjmsim run FILE --posterior DRAWS``: every plan over posterior draws, paired within a draw."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.text import Text

from .common import library_errors, out_folder, printable, tracked
from .tables import posterior_tables

__all__ = ["check_posterior_options", "run_posterior_command"]


def check_posterior_options(
    posterior: str | None,
    *,
    reps: int,
    exports: str | None,
    by_segment: bool,
    draws: int | None,
    workers: int | None,
    scheduler: str | None,
) -> None:
    """Refuse, with one message and exit 2, the options of ``run`` that do not go with ``--posterior``
    (``--reps`` above 1, ``--export``, ``--segments``), and those that need it (``--draws``,
    ``--workers``, ``--scheduler``)."""
    from cjmsim.scenario import ArgumentError

    with library_errors():
        if posterior is None:
            for name, given in (("draws", draws), ("workers", workers), ("scheduler", scheduler)):
                if given is not None:
                    raise ArgumentError(name, lambda f: f" is an option of {f('posterior')}; give the draws file too")
            return
        if reps > 1:
            raise ArgumentError(
                "reps",
                lambda f: (
                    f" {reps}: not with {f('posterior')}: each posterior draw is one replication "
                    f"(its own customers and random numbers); use {f('draws')} to choose how many"
                ),
            )
        if exports:
            raise ArgumentError(
                "exports",
                lambda f: (
                    f" not with {f('posterior')}: an export is one world's data; run without "
                    f"{f('posterior')} (on the scenario, or a draw's) to export"
                ),
            )
        if by_segment:
            raise ArgumentError(
                "segments", lambda f: f" not with {f('posterior')}: the posterior tables are of all segments"
            )


def run_posterior_command(
    file: str,
    posterior: str,
    *,
    plans: tuple[str, ...],
    agents: int | None,
    weeks: int | None,
    seed: int | None,
    reference: str | None,
    no_baseline: bool,
    draws: int | None,
    workers: int | None,
    scheduler: str | None,
    out: str | None,
    quiet: bool,
    force: bool,
) -> None:
    """Run every plan of FILE over the draws of POSTERIOR and write posterior_*.csv and metadata.json
    into the output folder (default out/<file name>-posterior), atomically; print the tables."""
    from cjmsim.analyses.calibration import read_draws, run_posterior, write_posterior
    from cjmsim.analyses.calibration.posterior import MAX_DRAWS
    from cjmsim.analyses.tasks import check_scheduler
    from cjmsim.scenario import read_toml

    with library_errors():
        data = read_toml(file)
    target = out_folder(out, Path("out") / f"{Path(file).stem}-posterior", "run", force)
    t0 = time.perf_counter()
    with library_errors():
        check_scheduler(scheduler)
        posterior_draws = read_draws(posterior)
        result = tracked(
            "posterior draws",
            "draws",
            quiet,
            lambda tick: run_posterior(
                data,
                posterior_draws,
                list(plans) or None,
                agents=agents,
                weeks=weeks,
                seed=seed,
                reference=reference,
                baseline=not no_baseline,
                max_draws=draws or MAX_DRAWS,
                workers=workers,
                scheduler=scheduler,
                progress=tick,
                source=file,
                base_dir=Path(file).parent,
            ),
        )
    elapsed = time.perf_counter() - t0
    write_posterior(result, target, scenario_path=file, elapsed_s=elapsed)
    if quiet:
        return
    console = Console()
    console.print(posterior_tables(result, console.width))
    s, settings = result.scenario.scenario, result.settings
    used, available = settings["draws_used"], settings["draws_available"]
    of = "" if used == available else f" (the first of {available:,} in the file)"
    console.print(
        Text(
            f"{s.agents:,} agents x {s.weeks} weeks x {len(result.plans)} plans x {used:,} draws{of} in "
            f"{elapsed:.1f} s; results in {printable(target)}/"
        )
    )
