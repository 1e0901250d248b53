"""What a second thread buys on this machine: memory, compiled loops, a thread pool, and hifi's blocks and runs.

Run by hand from the repository root (about two minutes; the machine should be otherwise idle):

    python benchmarks/bench_threads.py [--agents 20000 1000000] [--repeat 3] [--write docs/performance.md]

Issue 15 asks a 20,000-agent run for half the rate of a 1M-agent run on two threads. A single thread's
20,000-agent run cannot get there (the agents' compiled pass alone is about half the run), so the question
is what two threads give a small run. Six measurements, each the best of ``--repeat`` (the round trip: a
median):

- **memory**: ``np.multiply`` over 200 MB of float32 (read and write), on one thread, then on two threads at
  once, each on arrays of its own: GB/s in total;
- **a compiled loop**: an integer loop over 32 KB (in the core's own cache), one thread, then two at once:
  seconds each (two independent cores: the same);
- **a typed list on two threads**: a compiled loop reading the items of one numba typed list, alone, then
  on two threads at once, first sharing the list, then each with a list of its own holding the same arrays;
- **a pool's round trip**: a trivial job through a ``ThreadPoolExecutor`` of two threads, median of 300;
- **two block kernels**: the two largest blocks' ``kernel.week_block`` calls of week 40 of a 20,000-agent
  hifi run (their arguments as the step passed them; every block of hifi's baseline takes the fused week, one
  call a block-week), each alone, then both at once on two threads, the
  second with scratch buffers of its own: microseconds a call (timing only: the calls go on moving the
  blocks' agents);
- **hifi's baseline**: ``run_plan(..., threads=1)`` against ``threads=2``, with the size from which a world
  steps its blocks on threads (``calendar.THREADS_MIN_AGENTS``) lowered to 0 so that 20,000 agents use
  them too. The two give identical records, which the benchmark checks.

``--write FILE`` puts the table between ``<!-- bench_threads: begin -->`` and ``<!-- bench_threads: end -->``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np
from bench_engine import machine
from bench_sweep import write_section

import cjmsim
import cjmsim.engine.calendar as calendar
import cjmsim.engine.step as step
from cjmsim.engine.calendar import run_plan
from cjmsim.engine.streams import make_streams

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- bench_threads: begin -->", "<!-- bench_threads: end -->"


def _at_once(fns: list[Callable[[], Any]]) -> list[float]:
    """Run each of ``fns`` on a thread of its own, started together; the seconds each took."""
    out = [0.0] * len(fns)
    start = threading.Barrier(len(fns))

    def one(i: int) -> None:
        start.wait()
        t = time.perf_counter()
        fns[i]()
        out[i] = time.perf_counter() - t

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(fns))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return out


def memory(repeat: int) -> tuple[float, float]:
    """GB/s of np.multiply (read + write) on one thread, and in total on two threads at once."""
    n = 50_000_000
    xs = [np.ones(n, np.float32) for _ in range(2)]
    ys = [np.empty(n, np.float32) for _ in range(2)]

    def mul(i: int) -> None:
        for _ in range(4):
            np.multiply(xs[i], np.float32(0.9), out=ys[i])

    moved = 4 * 2 * xs[0].nbytes
    mul(0)
    mul(1)
    one = min(_at_once([lambda: mul(0)])[0] for _ in range(repeat))
    two = min(max(_at_once([lambda: mul(0), lambda: mul(1)])) for _ in range(repeat))
    return moved / one / 1e9, 2 * moved / two / 1e9


@numba.njit(nogil=True, cache=False)
def _spin(a: np.ndarray, reps: int) -> int:
    s = 0
    for _ in range(reps):
        for i in range(a.size):
            s += (a[i] * 2654435761) >> 7 ^ i
    return s


def compiled_loop(repeat: int) -> tuple[float, float]:
    """Seconds of a compiled loop in the core's cache, alone, and the slower of two at once."""
    arrays = [np.arange(4096, dtype=np.int64) for _ in range(2)]
    _spin(arrays[0], 1)
    reps = 400_000
    one = min(_at_once([lambda: _spin(arrays[0], reps)])[0] for _ in range(repeat))
    two = min(max(_at_once([lambda: _spin(arrays[0], reps), lambda: _spin(arrays[1], reps)])) for _ in range(repeat))
    return one, two


@numba.njit(nogil=True, cache=False)
def _read_items(items: Any, reps: int) -> float:
    s = 0.0
    for i in range(reps):
        s += items[i % len(items)][0]
    return s


def typed_list(repeat: int) -> tuple[float, float, float]:
    """Seconds of _read_items alone, the slower of two sharing one typed list, and of two with a list each."""
    from numba.typed import List

    arrays = [np.ones(3) for _ in range(6)]
    one, other = List(arrays), List(arrays)
    _read_items(one, 1)
    reps = 10_000_000
    alone = min(_at_once([lambda: _read_items(one, reps)])[0] for _ in range(repeat))
    shared = min(max(_at_once([lambda: _read_items(one, reps), lambda: _read_items(one, reps)])) for _ in range(repeat))
    own = min(max(_at_once([lambda: _read_items(one, reps), lambda: _read_items(other, reps)])) for _ in range(repeat))
    return alone, shared, own


def round_trip() -> float:
    """Median microseconds of a trivial job's round trip through a two-thread ThreadPoolExecutor."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        for _ in range(50):
            pool.submit(int).result()
        times = []
        for _ in range(300):
            t = time.perf_counter()
            pool.submit(int).result()
            times.append(time.perf_counter() - t)
    return sorted(times)[150] * 1e6


def block_kernels(repeat: int) -> tuple[float, float, float, float]:
    """Microseconds a call of the two largest blocks' week_block, alone and at once (see the module's text)."""
    import inspect

    sc = cjmsim.load_scenario(ROOT / "scenarios" / "hifi.toml")
    s = sc.scenario
    calls: list[tuple[Any, ...]] = []
    kernel = step.week_block

    def record(*args: Any) -> Any:
        calls.append(args)
        return kernel(*args)

    step.week_block = record
    try:
        run_plan(sc, "baseline", make_streams(s.seed, 0, len(sc.segments)), 20_000, s.weeks, threads=1)
    finally:
        step.week_block = kernel
    names = list(inspect.signature(kernel.py_func).parameters)
    lo, hi = names.index("lo"), names.index("hi")
    blocks = len(sc.segments)
    week = sorted(calls[blocks * 40 : blocks * 41], key=lambda a: a[lo] - a[hi])  # largest first
    first, second = week[0], list(week[1])
    for name in ("u", "mv", "pm", "um", "buyers", "first", "msg_acc", "msg_mark"):  # the step's per-thread scratch
        second[names.index(name)] = second[names.index(name)].copy()
    pair = (first, tuple(second))
    n = 50

    def calls_of(args: tuple[Any, ...]) -> None:
        for _ in range(n):
            kernel(*args)

    alone = [min(_at_once([lambda a=a: calls_of(a)])[0] for _ in range(repeat)) for a in pair]
    both = [
        min(x)
        for x in zip(
            *(_at_once([lambda: calls_of(pair[0]), lambda: calls_of(pair[1])]) for _ in range(repeat)), strict=True
        )
    ]
    return alone[0] / n * 1e6, alone[1] / n * 1e6, both[0] / n * 1e6, both[1] / n * 1e6


def _digest(rec: Any) -> str:
    d = hashlib.sha256()
    for f in dataclasses.fields(rec):
        v = getattr(rec, f.name)
        if isinstance(v, np.ndarray):
            d.update(np.ascontiguousarray(v).tobytes())
    return d.hexdigest()


def engine(agents: int, repeat: int) -> tuple[float, float]:
    """Best seconds of hifi baseline's run (one replication, warm-up included) on one thread and on two."""
    sc = cjmsim.load_scenario(ROOT / "scenarios" / "hifi.toml")
    s = sc.scenario
    streams = make_streams(s.seed, 0, len(sc.segments))
    calendar.THREADS_MIN_AGENTS = 0
    best = {1: float("inf"), 2: float("inf")}
    digests = {}
    for threads in (1, 2):  # the kernels, and each size's first-run costs
        digests[threads] = _digest(run_plan(sc, "baseline", streams, agents, s.weeks, threads=threads))
    assert digests[1] == digests[2], "two threads changed the records"
    for _ in range(repeat):
        for threads in (1, 2):
            t = time.perf_counter()
            run_plan(sc, "baseline", streams, agents, s.weeks, threads=threads)
            best[threads] = min(best[threads], time.perf_counter() - t)
    return best[1], best[2]


def main() -> None:
    """Print the table (and write it with --write)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, nargs="+", default=[20_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write", metavar="FILE", help="write the section into this markdown file")
    args = ap.parse_args()
    mach = machine()
    sc = cjmsim.load_scenario(ROOT / "scenarios" / "hifi.toml")
    weeks = sc.scenario.weeks + sc.scenario.warmup_weeks
    rows = []
    m1, m2 = memory(args.repeat)
    rows.append(f"| memory: np.multiply over 200 MB | {m1:.1f} GB/s | {m2:.1f} GB/s in total | x{m2 / m1:.2f} |")
    c1, c2 = compiled_loop(args.repeat)
    rows.append(f"| a compiled loop in the core's cache | {c1:.3f} s | {c2:.3f} s each | x{c1 / c2 * 2:.2f} |")
    l1, l2, l3 = typed_list(args.repeat)
    rows.append(
        f"| reading one typed list's items (10M reads) | {l1:.3f} s | {l2:.3f} s each sharing it, {l3:.3f} s "
        f"with a list each | x{2 * l1 / l2:.2f} and x{2 * l1 / l3:.2f} |"
    )
    rows.append(f"| a trivial job's round trip through a thread pool | | {round_trip():.0f} us (median of 300) | |")
    a1, a2, b1, b2 = block_kernels(args.repeat)
    rows.append(
        f"| two block kernels of a 20,000-agent week | {a1:.0f} and {a2:.0f} us | {b1:.0f} and {b2:.0f} us "
        f"| x{(a1 + a2) / max(b1, b2):.2f} |"
    )
    for agents in args.agents:
        t1, t2 = engine(agents, args.repeat)
        r1, r2 = agents * weeks / t1 / 1e6, agents * weeks / t2 / 1e6
        rows.append(
            f"| hifi baseline, {agents:,} agents | {t1 * 1e3:.1f} ms ({r1:.1f}M agent-weeks/s) "
            f"| {t2 * 1e3:.1f} ms ({r2:.1f}M) | x{t1 / t2:.2f} |"
        )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = "\n".join(
        [
            f"Measured {mach['date']} on {mach['nproc']} cores ({mach['cpu']}), Python {mach['python']}, "
            f"numpy {mach['numpy']}; code {mach['git']}; load average at start {mach['load']}, "
            f"at the end {load}. `python benchmarks/bench_threads.py`, best of {args.repeat}.",
            "",
            "| work | one thread | two threads at once | throughput two / one |",
            "|---|---:|---:|---:|",
            *rows,
        ]
    )
    print(text)
    if args.write:
        write_section(args.write, BEGIN, END, text)
        print(f"\nwrote the bench_threads section of {args.write}")


if __name__ == "__main__":
    main()
