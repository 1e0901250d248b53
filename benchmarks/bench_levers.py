"""Benchmark: what the levers of issue 14 cost on hifi, as ratios to the code before the issue.

Run by hand from the repository root:

    python benchmarks/bench_levers.py [--before 0a3d959] [--agents 1000000] [--repeat 5]
                                      [--write docs/performance.md]

Issue 14 (messages, barriers, interventions, satisfaction, pay per action, capacity, imperfect
targeting) changed the engine's step. Its goal: the hifi benchmark within 10% of the speed before
the issue. This script checks out ``--before`` (default ``0a3d959``, main just before the issue's
first merge) into a temporary folder with ``git archive`` and times ``cjmsim.engine.run_plan`` with
both codes, each in its own child process (``PYTHONPATH`` set to the tree), on two scenarios:

- ``golden``: tests/data/golden_hifi.toml, the frozen hifi both trees hold: the same work, so the
  ratio is the engine's overhead for features the scenario does not use;
- ``hifi``: each tree's own scenarios/hifi.toml, the hi-fi case as shipped then and now (now with
  its messages and whatever levers it uses).

Runs are interleaved (before, now, before, now, ...) so a change in the machine's load hits both
alike, with one thread; each child reports the CPU time (``time.process_time``) and wall time of
``run_plan`` alone, import and scenario loading excluded. The best of ``--repeat`` is kept, and the
ratio now / before is the figure. The load average at the start and the end is written beside the
table: read the ratios, not the seconds.

``--write FILE`` puts the table between ``<!-- bench_levers: begin -->`` and
``<!-- bench_levers: end -->`` of FILE (appended when the markers are absent).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from bench_sweep import best_interleaved, commit, write_section

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- bench_levers: begin -->", "<!-- bench_levers: end -->"
BEFORE = "0a3d959"

#: The child: loads the scenario, then times run_plan alone and prints CPU and wall seconds as JSON.
_CHILD = """
import json, sys, time
from cjmsim.engine import run_plan
from cjmsim.engine.streams import make_streams
from cjmsim.scenario import load_scenario
sc = load_scenario(sys.argv[1])
streams = make_streams(sc.scenario.seed, 0, len(sc.segments))
c0, w0 = time.process_time(), time.perf_counter()
run_plan(sc, sys.argv[2], streams, int(sys.argv[3]), sc.scenario.weeks, threads=1)
print(json.dumps([time.process_time() - c0, time.perf_counter() - w0]))
"""


def export_tree(ref: str, dest: Path) -> None:
    """The tree of ``ref`` written into ``dest`` (git archive; no worktree is left behind)."""
    tar = dest / "tree.tar"
    with tar.open("wb") as fh:
        subprocess.run(["git", "archive", ref], cwd=ROOT, stdout=fh, check=True)
    with tarfile.open(tar) as tf:
        tf.extractall(dest, filter="data")
    tar.unlink()


def _once(tree: Path, scenario: Path, plan: str, agents: int) -> tuple[float, float]:
    """CPU and wall seconds of one ``run_plan`` with the code of ``tree``, in a child process."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(scenario), plan, str(agents)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    cpu, wall = json.loads(out.stdout.strip().splitlines()[-1])
    return float(cpu), float(wall)


def measure(before: Path, agents: int, repeat: int, plans: list[str]) -> list[dict[str, float | str]]:
    """Best CPU and wall time per (scenario, plan) with the old and the current code, interleaved."""
    trees = {"before": before, "now": ROOT}
    rows: list[dict[str, float | str]] = []
    for scen in ("golden", "hifi"):
        path = "tests/data/golden_hifi.toml" if scen == "golden" else "scenarios/hifi.toml"
        for plan in plans:
            runs = {name: functools.partial(_once, tree, tree / path, plan, agents) for name, tree in trees.items()}
            rows.append({"scenario": scen, "plan": plan, **best_interleaved(runs, repeat)})
    return rows


def render(rows: list[dict[str, float | str]], ref: str, agents: int, repeat: int, loads: tuple[str, str]) -> str:
    """The markdown section: the table of ratios and how it was measured."""
    import numpy as np

    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## The levers' cost on hifi (issue 14)",
        "",
        f"Measured {when} on {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}; "
        f"code {commit()} against {ref} (before issue 14); load average at start {loads[0]}, at end {loads[1]}.",
        "",
        f"`benchmarks/bench_levers.py`: `run_plan` at {agents:,} agents, one thread, best of {repeat} interleaved "
        "runs, each in its own process. *golden* = tests/data/golden_hifi.toml in both (the same work: the "
        "engine's overhead for levers it does not use); *hifi* = each code's own scenarios/hifi.toml (now with "
        "its messages). Goal: now / before <= 1.10.",
        "",
        "| scenario | plan | CPU before (s) | CPU now (s) | CPU now / before "
        "| wall before (s) | wall now (s) | wall now / before |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cb, cn, wb, wn = (float(r[k]) for k in ("cpu_before", "cpu_now", "wall_before", "wall_now"))
        lines.append(
            f"| {r['scenario']} | {r['plan']} | {cb:.3f} | {cn:.3f} | **{cn / cb:.2f}** | {wb:.3f} | {wn:.3f} "
            f"| {wn / wb:.2f} |"
        )
    return "\n".join(lines)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    """Parse the arguments, export the old tree, measure, print the section and optionally write it."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--before", default=BEFORE, help="git ref of the code before issue 14")
    ap.add_argument("--agents", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--plans", nargs="+", default=["baseline", "cjm"])
    ap.add_argument("--write", metavar="FILE")
    args = ap.parse_args()
    start = _load()
    with tempfile.TemporaryDirectory(prefix="bench_levers_") as tmp:
        export_tree(args.before, Path(tmp))
        rows = measure(Path(tmp), args.agents, args.repeat, args.plans)
    section = render(rows, args.before, args.agents, args.repeat, (start, _load()))
    print(section)
    if args.write:
        write_section(args.write, BEGIN, END, section)


if __name__ == "__main__":
    main()
