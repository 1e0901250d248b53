"""Benchmark: what the calendar (issue 13) costs on hifi, as ratios to the engine before it.

Run by hand from the repository root:

    python benchmarks/bench_calendar.py [--agents 1000000] [--repeat 5] [--write docs/performance.md]

It times ``cjmsim.engine.run_plan`` on two scenarios, plan by plan, in one process:

- ``before``: tests/data/golden_hifi.toml, the frozen copy of scenarios/hifi.toml from before the
  calendar (no seasonality, no triggers; the golden digests run it);
- ``now``: scenarios/hifi.toml as shipped (the retailer's seasonality, seasonal context prices, and
  whatever triggered campaigns its plans have).

Each (scenario, plan) is run ``--repeat`` times, interleaved (before, now, before, now, ...) so a
change in the machine's load hits both alike, with one thread (``threads=1``: CPU time then
measures the work, not the scheduling) and the best CPU time (``time.process_time``) and best wall
time kept. The ratio now / before is the figure: the issue's goal is within 10% (ratio <= 1.10).
The load average at the start and at the end is printed and written beside the table: the
machine may be shared, so read the ratios, not the seconds.

``--write FILE`` puts the table between ``<!-- bench_calendar: begin -->`` and
``<!-- bench_calendar: end -->`` of FILE (appended when the markers are absent).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import platform
import time
from pathlib import Path

import numpy as np
from bench_sweep import best_interleaved, commit, write_section

from cjmsim.engine import run_plan
from cjmsim.engine.streams import make_streams
from cjmsim.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]
BEFORE = ROOT / "tests" / "data" / "golden_hifi.toml"
NOW = ROOT / "scenarios" / "hifi.toml"
BEGIN, END = "<!-- bench_calendar: begin -->", "<!-- bench_calendar: end -->"


def _once(sc: Scenario, plan: str, agents: int) -> tuple[float, float]:
    """CPU and wall seconds of one run of ``plan`` at ``agents`` agents, one thread."""
    streams = make_streams(sc.scenario.seed, 0, len(sc.segments))
    c0, w0 = time.process_time(), time.perf_counter()
    run_plan(sc, plan, streams, agents, sc.scenario.weeks, threads=1)
    return time.process_time() - c0, time.perf_counter() - w0


def measure(agents: int, repeat: int, plans: list[str]) -> list[dict[str, float | str]]:
    """Best CPU and wall time of each plan on the frozen and the shipped hifi, interleaved."""
    before, now = load_scenario(BEFORE), load_scenario(NOW)
    rows: list[dict[str, float | str]] = []
    for plan in plans:
        runs = {name: functools.partial(_once, sc, plan, agents) for name, sc in (("before", before), ("now", now))}
        rows.append({"plan": plan, **best_interleaved(runs, repeat)})
    return rows


def render(rows: list[dict[str, float | str]], agents: int, repeat: int, loads: tuple[str, str]) -> str:
    """The markdown section: the table of ratios and how it was measured."""
    sc = load_scenario(NOW)
    weeks = sc.scenario.weeks + sc.scenario.warmup_weeks
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## The calendar's cost on hifi (issue 13)",
        "",
        f"Measured {when} on {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}; "
        f"code {commit()}; load average at start {loads[0]}, at end {loads[1]}.",
        "",
        f"`benchmarks/bench_calendar.py`: `run_plan` at {agents:,} agents, one thread, {weeks} simulated weeks, "
        f"best of {repeat} interleaved runs. *before* = tests/data/golden_hifi.toml (hifi before the calendar), "
        "*now* = scenarios/hifi.toml (seasonality on needs and purchases, seasonal context prices, and its "
        "plans' triggered e-mails). Goal: now / before <= 1.10.",
        "",
        "| plan | CPU before (s) | CPU now (s) | CPU now / before "
        "| wall before (s) | wall now (s) | wall now / before |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cb, cn, wb, wn = (float(r[k]) for k in ("cpu_before", "cpu_now", "wall_before", "wall_now"))
        lines.append(f"| {r['plan']} | {cb:.3f} | {cn:.3f} | **{cn / cb:.2f}** | {wb:.3f} | {wn:.3f} | {wn / wb:.2f} |")
    return "\n".join(lines)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    """Parse the arguments, measure, print the section and optionally write it."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--plans", nargs="+", default=["baseline", "cjm"])
    ap.add_argument("--write", metavar="FILE")
    args = ap.parse_args()
    start = _load()
    rows = measure(args.agents, args.repeat, args.plans)
    section = render(rows, args.agents, args.repeat, (start, _load()))
    print(section)
    if args.write:
        write_section(args.write, BEGIN, END, section)


if __name__ == "__main__":
    main()
