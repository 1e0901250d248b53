"""Sweep throughput with 1 and 2 worker processes, and the scaling efficiency at 2 workers.

Run by hand from the repository root (it takes a few minutes; the machine should be otherwise idle):

    python benchmarks/bench_sweep.py [--experiment experiments/budget_level.toml] [--write docs/performance.md]

Each task runs the engine single-threaded (``threads=1``), so one worker is one core and the
efficiency measures what the process pool adds: efficiency = throughput(2) / (2 x throughput(1)).
The 1-worker run is in-process (no pool), the 2-worker run includes the pool's start-up (spawned
workers import cjmsim), as a user's sweep does. Both runs must give identical tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from cjmsim.analyses.sweep import load_experiment, run_sweep

BEGIN, END = "<!-- bench_sweep: begin -->", "<!-- bench_sweep: end -->"


def timed(exp_path: str, workers: int) -> tuple[float, pd.DataFrame, int]:
    """Wall time of a whole sweep (fresh output folder), its long table and its task count."""
    exp = load_experiment(exp_path)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_sweep(exp, workers=workers, out=Path(tmp) / "out", threads=1)
        wall = time.perf_counter() - t0
    tasks = len(exp.points) * len(exp.plans) * exp.spec.experiment.reps
    return wall, res.results, tasks


def measured() -> str:
    """One line: when, on what machine, which code, and the load average (benchmark sections start with it)."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        head = "?"
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    return (
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores ({cpu}), Python "
        f"{platform.python_version()}, numpy {np.__version__}; code {head}; load average at start {load}."
    )


def commit() -> str:
    """The short hash of HEAD ("unknown" outside a git checkout)."""
    try:
        root = Path(__file__).resolve().parents[1]
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def best_interleaved(runs: dict[str, Callable[[], tuple[float, float]]], repeat: int) -> dict[str, float]:
    """The best CPU and wall seconds of each named run over ``repeat`` rounds, the runs interleaved in each
    round (before, now, before, now, ...) so a change in the machine's load hits them alike; as
    ``{"cpu_NAME": ..., "wall_NAME": ...}`` keys of one row."""
    best = {name: [math.inf, math.inf] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            cpu, wall = run()
            best[name] = [min(best[name][0], cpu), min(best[name][1], wall)]
    row: dict[str, float] = {}
    for name, (cpu, wall) in best.items():
        row[f"cpu_{name}"], row[f"wall_{name}"] = cpu, wall
    return row


def write_section(path: str, begin: str, end: str, text: str) -> None:
    """Replace the marked section of a Markdown file with text (appended when the markers are absent)."""
    p = Path(path)
    doc = p.read_text() if p.exists() else "# Performance\n"
    block = f"{begin}\n{text}\n{end}"
    doc = (
        re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, doc, flags=re.S)
        if begin in doc
        else (doc.rstrip() + "\n\n" + block + "\n")
    )
    p.write_text(doc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiment", default="experiments/budget_level.toml")
    ap.add_argument("--write", help="Markdown file whose bench_sweep section is replaced with the figures.")
    args = ap.parse_args()
    w1, r1, tasks = timed(args.experiment, 1)
    w2, r2, _ = timed(args.experiment, 2)
    same = (
        r1.sort_values(["point", "plan", "rep", "segment"])
        .reset_index(drop=True)
        .equals(r2.sort_values(["point", "plan", "rep", "segment"]).reset_index(drop=True))
    )
    eff = w1 / (2 * w2)
    lines = [
        "## Sweep benchmark",
        "",
        measured(),
        "",
        f"`{args.experiment}`: {tasks} tasks (points x plans x replications), engine single-threaded per task.",
        "",
        "| workers | wall time (s) | tasks/s |",
        "|---:|---:|---:|",
        f"| 1 (in-process) | {w1:.1f} | {tasks / w1:.2f} |",
        f"| 2 (process pool, start-up included) | {w2:.1f} | {tasks / w2:.2f} |",
        "",
        f"- Scaling efficiency at 2 workers: throughput(2) / (2 x throughput(1)) = **{100 * eff:.0f}%** "
        "(goal: at least 80%).",
        f"- Identical long tables with 1 and 2 workers: **{'yes' if same else 'NO'}**.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(args.write, BEGIN, END, text)
        print(f"wrote the bench_sweep section of {args.write}")


if __name__ == "__main__":
    main()
