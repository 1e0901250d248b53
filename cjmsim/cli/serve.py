"""``cjmsim serve``: the live what-if page, a local web server that re-simulates the same customers as
budgets move (the server is :mod:`cjmsim.presentation.serve`, the session :mod:`cjmsim.analyses.whatif`)."""

from __future__ import annotations

import click

from cjmsim.analyses.choices import SERVE_AGENTS, SERVE_PREVIEW_AGENTS, SERVE_REPS

from .common import err_console, guarded, library_errors, load, printable

__all__ = ["serve_command"]


@click.command("serve")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port (0: a free one).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. The default answers this computer only; 0.0.0.0 answers the whole network.",
)
@click.option(
    "--agents",
    type=click.IntRange(min=100, max=5_000_000),
    default=SERVE_AGENTS,
    show_default=True,
    help="Agents of the full-size run of every edit.",
)
@click.option(
    "--reps",
    type=click.IntRange(min=1, max=100),
    default=SERVE_REPS,
    show_default=True,
    help="Replications of the full-size run (paired CIs need 2 or more).",
)
@click.option(
    "--preview-agents",
    type=click.IntRange(min=100, max=5_000_000),
    default=SERVE_PREVIEW_AGENTS,
    show_default=True,
    help="Agents of the preview shown first (one replication); none when not below --agents.",
)
@click.option("--seed", type=click.IntRange(min=0), help="Random seed (overrides the scenario).")
@click.option("--reference", help="Plan the edited plan is compared with. Default: the first plan.")
@click.option("--plan", "plan", help="Plan edited first. Default: the first plan after the reference.")
@click.option("--open", "open_page", is_flag=True, help="Open the page in the default web browser.")
@guarded
def serve_command(
    file: str,
    port: int,
    host: str,
    agents: int,
    reps: int,
    preview_agents: int,
    seed: int | None,
    reference: str | None,
    plan: str | None,
    open_page: bool,
) -> None:
    """Serve a live what-if page for a scenario FILE on this computer (http://127.0.0.1:8000/).

    The page shows each plan's campaigns as budget controls (by channel or by segment). When a control
    is released, the edited plan is simulated on the same customers and random numbers as the
    reference plan, first as a preview (--preview-agents, one replication), then at the full size
    (--agents, --reps), and the page shows the headline KPIs of the edited plan against the
    reference as paired differences with 95% CIs, the funnel, cumulative orders against spend and
    the spend by segment x stage. The edited plan can be saved as a [plans.NAME] block, whose
    `cjmsim run` gives the same numbers, and the comparison as the run report (HTML).

    Safe by default: it listens on 127.0.0.1 only, serves its own page and nothing from the file
    system, refuses a bad request with one message (422), and runs one simulation at a time.
    Ctrl-C stops it.
    """
    sc = load(file)
    from cjmsim.analyses.simulate import check_reference
    from cjmsim.analyses.whatif import WhatIf
    from cjmsim.presentation.serve import server
    from cjmsim.presentation.serve.app import ServeSettings

    names = list(sc.plans)
    with library_errors():
        ref = reference if reference is not None else names[0]
        check_reference(ref, names)
        first = plan if plan is not None else next((p for p in names if p != ref), ref)
        if first not in names:
            from cjmsim.scenario import ArgumentError, did_you_mean

            raise ArgumentError(
                "plan", f" {first!r}: no such plan{did_you_mean(first, names)}; plans: {', '.join(names)}"
            )
        whatif = WhatIf(sc, agents=agents, reps=reps, preview_agents=preview_agents, seed=seed)
        sock = server.listen(host, port)
    url = server.url_of(sock)
    sizes = ", then ".join(f"{z.agents:,} agents x {z.reps} rep{'s' if z.reps != 1 else ''}" for z in whatif.sizes)
    err_console.print(
        f"cjmsim serve: {printable(file)} on {url} ({sizes}); Ctrl-C stops it", markup=False, soft_wrap=True
    )
    if host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(
            f"warning: listening on {printable(host)}: other computers can reach this page",
            markup=False,
            soft_wrap=True,
        )
    if open_page:
        import webbrowser

        webbrowser.open(url)
    settings = ServeSettings(whatif, file, ref, first, server.hosts_for(host))
    server.run(settings, sock)
    err_console.print("cjmsim serve: stopped", markup=False)
