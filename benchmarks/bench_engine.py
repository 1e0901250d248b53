"""Benchmark of the journey engine: throughput, memory per agent, and a naive SimPy reference.

Run by hand from the repository root:

    python benchmarks/bench_engine.py [--agents 100000 1000000] [--weeks 52]
                                      [--naive-agents 2000] [--write docs/performance.md]

What it measures, on ``scenarios/hifi.toml`` and its first plan (one plan, one replication):

- Engine throughput. ``cjmsim.engine.run_plan(scenario, plan, make_streams(seed, 0, G), N, weeks)``
  is timed for each agent count N, each in a fresh subprocess (this script with a hidden flag), so
  one size's memory never inflates another's; the time is the best of up to ``--repeat`` runs in
  that process (further runs only while the runs so far took under 3 s). Throughput =
  N * (weeks + warmup_weeks) / seconds, in agent-weeks per second: the scenario's warm-up weeks
  are simulated like any other week, so they are counted as simulated weeks. ``run_plan`` runs
  with its default threads (a thread pool from 50,000 agents on a multi-core machine).
- The "check" figure: (N_max - 10k) * (weeks + warmup_weeks) / (t_N_max - t_10k): differencing
  against a 10,000-agent run (always run for this purpose) cancels the costs that do not grow
  with N (per-week calendar, unit allocation and threshold tables, per-block Python overhead).
- Peak memory per agent, two figures. RSS: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` after the
  run minus the same reading after imports and scenario load, divided by N. tracemalloc: numpy
  reports its buffers to tracemalloc, so a second, untimed run of the same size under tracemalloc
  gives the peak of traced allocations (numpy buffers plus Python objects made during the run).
- A naive reference, :func:`naive_run`: the same journey model written the straightforward way,
  one SimPy process per agent drawing its own exposures and transitions with Python's ``random``,
  at a small N, timed once with its population set-up (agent-weeks per second, warm-up included).
  It draws separate uniforms for advance / drop and order / churn where the engine reuses one
  (same distribution), and sets the "visited" flag as docs describe (interest or later, not lost).
  The engine / naive
  ratio uses the engine's throughput at the largest N. As a loose sanity check of the engine (not
  an assertion), customers per agent (first orders in the horizon) are printed for both models.

``--speed`` measures instead what issue 15 (a fused weekly kernel) is judged on, with the code of
``--before`` (default ``e2c0f0b``, main before the issue; exported with ``git archive``) and the
current code side by side, each run in its own child process, interleaved (before, now, before, ...):

- the engine through the public API as ``../shared/checks/speed-engine`` times it:
  ``cjmsim.simulate(scenario, plans=[plan], agents=N, reps=1, baseline=False)``, warm-up weeks
  counted, after one 20,000-agent call (imports, compilation), best of 2 runs at 1M agents and of 5
  at 20,000, for hifi's ``baseline`` and ``cjm``, on the machine's threads (2 here) and on one;
- the peak memory per agent of the 1M-agent run: ``ru_maxrss`` after the runs minus before, / N;
- with ``--attribute``, exact Shapley attribution of ``cjm`` at 200,000 agents and one replication on
  two workers against one run of ``cjm`` (the difference of a 5- and a 1-replication run / 4), as
  ``../shared/checks/speed-attribute`` does, from the command line.

The section written is ``<!-- bench_speed: begin -->`` ... ``<!-- bench_speed: end -->``: ratios
now / before first, seconds beside them, and the load average at the start and the end.

``--write FILE`` puts the table and the goals (>= 20 M agent-weeks/s at 1M agents, >= 100x the
naive reference, <= 200 bytes of peak memory per agent) between the markers
``<!-- bench_engine: begin -->`` and ``<!-- bench_engine: end -->`` of FILE, creating it with a
short introduction when it does not exist. Nothing else is written. The machine is shared: run
the full benchmark sparingly, and read its figures together with the load average it prints.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = ROOT / "scenarios" / "hifi.toml"
CHECK_AGENTS = 10_000
RUN_BUDGET = 3.0  # seconds: no further timed run of a size once its runs took this long
BEGIN = "<!-- bench_engine: begin -->"
END = "<!-- bench_engine: end -->"
GOAL_THROUGHPUT = 20e6  # agent-weeks per second at 1M agents
GOAL_RATIO = 100.0  # engine / naive
GOAL_BYTES = 200.0  # peak bytes per agent

# stage indices, as in cjmsim.scenario.STAGES
UNAWARE, AWARE, INTEREST, DESIRE, CUSTOMER, LOYAL, LOST = range(7)
STAGE_NAMES = ("unaware", "aware", "interest", "desire", "customer", "loyal", "lost")
# the transition each stage's weekly draw decides first (customer and loyal: a repeat order)
PRIMARY = ("aware", "interest", "desire", "purchase", "repeat", "repeat", "return")


# --------------------------------------------------------------------------------------------
# the engine, one size per subprocess


def _child(args: argparse.Namespace, sc: Any) -> None:
    """Time one engine run of ``args._child`` agents of scenario ``sc`` and print its figures as one
    JSON line. Called after imports and scenario load, which the memory baseline includes."""
    import gc
    import resource
    import tracemalloc

    from cjmsim.engine import make_streams, run_plan

    plan = next(iter(sc.plans))
    agents, weeks = args._child, args.weeks
    make_streams(args.seed, 0, len(sc.segments))
    gc.collect()
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    # the best of a few timed runs (while they stay under RUN_BUDGET seconds in all): on a shared
    # machine one run can be slowed by a neighbour, and the small check run is the most exposed
    times: list[float] = []
    while not times or (len(times) < args.repeat and sum(times) < RUN_BUDGET):
        t0 = time.perf_counter()
        rec = run_plan(sc, plan, make_streams(args.seed, 0, len(sc.segments)), agents, weeks)
        times.append(time.perf_counter() - t0)
        customers = float(rec.customers.sum())
        orders = float(rec.orders.sum())
        del rec
        gc.collect()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # second run, untimed: tracemalloc slows allocation-heavy code, so it never touches the timing
    tracemalloc.start()
    t1 = time.perf_counter()
    run_plan(sc, plan, make_streams(args.seed, 0, len(sc.segments)), agents, weeks)
    traced_seconds = time.perf_counter() - t1
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out = {
        "agents": agents,
        "weeks": weeks,
        "warmup": sc.scenario.warmup_weeks,
        "plan": plan,
        "seconds": min(times),
        "times": times,
        "rss_base_kib": base_kb,
        "rss_peak_kib": peak_kb,
        "traced_peak_bytes": traced_peak,
        "traced_seconds": traced_seconds,
        "customers": customers,
        "orders": orders,
    }
    print(json.dumps(out), flush=True)


def engine_size(args: argparse.Namespace, agents: int) -> dict[str, Any]:
    """Run :func:`_child` for ``agents`` in a fresh interpreter and return its figures."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--_child",
        str(agents),
        "--weeks",
        str(args.weeks),
        "--seed",
        str(args.seed),
        "--scenario",
        str(args.scenario),
        "--repeat",
        str(args.repeat),
    ]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"engine run with {agents} agents failed (exit status {proc.returncode})")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    sim_weeks = r["weeks"] + r["warmup"]
    r["agent_weeks_per_s"] = agents * sim_weeks / r["seconds"]
    r["rss_bytes_per_agent"] = (r["rss_peak_kib"] - r["rss_base_kib"]) * 1024 / agents
    r["traced_bytes_per_agent"] = r["traced_peak_bytes"] / agents
    return r


# --------------------------------------------------------------------------------------------
# the naive reference: one SimPy process per agent


def _logit(p: float) -> float:
    if p <= 0:
        return -30.0
    if p >= 1:
        return 30.0
    return math.log(p / (1 - p))


def _capped_poisson_mean(lam: float, cap: int) -> float:
    """E[min(X, cap)] for X ~ Poisson(lam)."""
    pmf = cdf = math.exp(-lam)
    total = 1.0 - cdf
    for k in range(1, cap):
        pmf *= lam / k
        cdf += pmf
        total += 1.0 - cdf
    return total


def _allocate(units: float, counts: list[int], affinity: list[float], cap: int) -> list[float]:
    """Mean exposures per audience agent of each segment: lam_g = s * affinity_g, with the scale s
    such that the expected absorbed (capped) exposures equal ``units``; when the audience cannot
    absorb them all, every lam is at the level where the cap is reached almost surely."""
    live = [g for g, (n, a) in enumerate(zip(counts, affinity, strict=True)) if n > 0 and a > 0]
    lam = [0.0] * len(counts)
    if units <= 0 or not live:
        return lam

    def absorbed(s: float) -> float:
        return sum(counts[g] * _capped_poisson_mean(s * affinity[g], cap) for g in live)

    lam_max = cap + 8.0 * math.sqrt(cap) + 10.0
    hi = lam_max / min(affinity[g] for g in live)
    if absorbed(hi) <= units:
        for g in live:
            lam[g] = min(hi * affinity[g], lam_max)
        return lam
    lo = min(units / sum(counts[g] * affinity[g] for g in live), hi)  # no cap: a lower bound on s
    while hi - lo > 1e-9 * hi:
        mid = 0.5 * (lo + hi)
        if absorbed(mid) < units:
            lo = mid
        else:
            hi = mid
    for g in live:
        lam[g] = lo * affinity[g]
    return lam


def naive_run(scenario: Any, plan: str, agents: int, weeks: int, seed: int) -> dict[str, float]:
    """The journey model written the straightforward way: one SimPy process per agent.

    Same segments, channels, base rates, odds, adstock, Hill saturation, frequency caps, budgets,
    spend carryover, warm-up and word of mouth as the engine; per agent and week: Poisson
    exposures per channel by inverse CDF, capped; adstock; Hill; the odds of the stage's move;
    then the move itself, with Python's ``random``. A market process recounts the audiences at the
    start of each week and spreads each active campaign's units over them by affinity. Returns
    the wall time, agent-weeks simulated (warm-up included) and first / all orders in the horizon.
    """
    import simpy

    t_start = time.perf_counter()
    rng = random.Random(seed)
    rnd = rng.random
    settings = scenario.scenario
    warm = settings.warmup_weeks
    weight = settings.population / agents
    segs = list(scenario.segments.values())
    ch_ids = list(scenario.channels)
    chans = [scenario.channels[c] for c in ch_ids]
    G, C = len(segs), len(chans)
    decay = [ch.adstock.decay for ch in chans]
    half = [ch.saturation.half for ch in chans]
    slope = [ch.saturation.slope for ch in chans]
    cap = [ch.frequency_cap for ch in chans]
    price = [ch.cost.unit_price for ch in chans]
    carry_rate = [ch.carryover.rate for ch in chans]

    # per segment: base logit and betas of each stage's primary move, churn, drops, word of mouth
    base_logit, beta, churn_logit, churn_beta, drop, affinity = [], [], [], [], [], []
    for seg in segs:
        rates = {
            "aware": seg.base.aware,
            "interest": seg.base.interest,
            "desire": seg.base.desire,
            "purchase": seg.base.purchase,
            "return": seg.return_rate,
        }
        bl = []
        for s, tr in enumerate(PRIMARY):
            p = seg.repeat.customer if s == CUSTOMER else seg.repeat.loyal if s == LOYAL else rates[tr]
            bl.append(_logit(p))
        base_logit.append(bl)
        beta.append([[math.log(seg.odds.get(c, {}).get(tr, 1.0)) for c in ch_ids] for tr in PRIMARY])
        churn_logit.append({CUSTOMER: _logit(seg.churn.customer), LOYAL: _logit(seg.churn.loyal)})
        churn_beta.append([math.log(seg.odds.get(c, {}).get("churn", 1.0)) for c in ch_ids])
        drop.append([0.0, seg.drop.aware, seg.drop.interest, seg.drop.desire])
        affinity.append([seg.affinity.get(c, 1.0) for c in ch_ids])

    # campaigns: channel, weekly money, audience (segments, stages, reach rule), active weeks
    def campaigns(plan_id: str | None, warmup: bool) -> list[dict[str, Any]]:
        if plan_id is None:
            return []
        out = []
        for camp in scenario.plans[plan_id].campaigns:
            ch = scenario.channels[camp.channel]
            windows = camp.windows_or_empty or [(0, settings.weeks)]
            weekly = camp.weekly if camp.weekly is not None else camp.total / sum(e - s for s, e in windows)
            if warmup:
                windows = [(-warm, 0)]
            out.append(
                {
                    "c": ch_ids.index(camp.channel),
                    "weekly": weekly,
                    "segments": {
                        g for g, sid in enumerate(scenario.segments) if camp.segments is None or sid in camp.segments
                    },
                    "stages": {STAGE_NAMES.index(s) for s in set(camp.stages or ch.stages) & set(ch.stages)},
                    "requires": ch.requires,
                    "windows": windows,
                    "carry": 0.0,
                }
            )
        return out

    plan_camps = campaigns(plan, warmup=False)
    warm_camps = campaigns(settings.warmup_plan, warmup=True) if warm else []

    def in_audience(camp: dict[str, Any], g: int, stage: int, visited: bool, contact: bool) -> bool:
        if g not in camp["segments"] or stage not in camp["stages"]:
            return False
        if camp["requires"] == "visited":
            return visited
        if camp["requires"] == "contact":
            return contact
        return True

    # the population: segments by share, initial stage mix, persistent propensity
    sizes = [int(round(seg.share * agents)) for seg in segs]
    sizes[max(range(G), key=lambda g: sizes[g])] += agents - sum(sizes)
    pop = []
    for g, seg in enumerate(segs):
        mix = [getattr(seg.initial, s) for s in STAGE_NAMES]
        for _ in range(sizes[g]):
            stage = rng.choices(range(7), weights=mix)[0]
            pop.append(
                {
                    "g": g,
                    "stage": stage,
                    "visited": stage in (INTEREST, DESIRE, CUSTOMER, LOYAL),
                    "contact": stage in (DESIRE, CUSTOMER, LOYAL),
                    "u": rng.gauss(0.0, seg.heterogeneity) if seg.heterogeneity > 0 else 0.0,
                    "adstock": [0.0] * C,
                }
            )

    env = simpy.Environment(initial_time=-warm)
    market: dict[str, Any] = {"t": -warm, "lam": {}, "delivered": {}, "loyal_share": [0.0] * G, "camps": []}
    totals = {"customers": 0, "orders": 0}

    def market_process():  # type: ignore[no-untyped-def]
        """At the start of each week: carryover, audience recount, lambda per audience cell."""
        for t in range(-warm, weeks):
            # last week's delivered units, split among campaigns by their share of lambda
            for camp in market["camps"]:
                got = 0.0
                for (g, cell, c), x in market["delivered"].items():
                    if c == camp["c"] and (g, cell) in camp["cells"]:
                        got += x * camp["lam"][g] / market["lam"][g, cell][c]
                camp["carry"] = carry_rate[camp["c"]] * got * weight  # real units
            camps = warm_camps if t < 0 else plan_camps
            active = [k for k in camps if any(s <= t < e for s, e in k["windows"])]
            cells: dict[tuple[int, int, bool, bool], int] = {}
            for a in pop:
                key = (a["g"], a["stage"], a["visited"], a["contact"])
                cells[key] = cells.get(key, 0) + 1
            for g in range(G):
                n_g = sum(n for (h, *_), n in cells.items() if h == g)
                loyal = sum(n for (h, s, *_), n in cells.items() if h == g and s == LOYAL)
                market["loyal_share"][g] = loyal / max(n_g, 1)
            lam: dict[tuple[int, tuple[int, bool, bool]], list[float]] = {}
            for g, s, v, ct in cells:
                lam[g, (s, v, ct)] = [0.0] * C
            for camp in active:
                c = camp["c"]
                counts = [0] * G
                camp["cells"] = set()
                for (g, s, v, ct), n in cells.items():
                    if in_audience(camp, g, s, v, ct):
                        counts[g] += n
                        camp["cells"].add((g, (s, v, ct)))
                units = (camp["weekly"] / price[c] + camp["carry"]) / weight
                camp["lam"] = _allocate(units, counts, [affinity[g][c] for g in range(G)], cap[c])
                for g, cell in camp["cells"]:
                    lam[g, cell][c] += camp["lam"][g]
            market.update(t=t, lam=lam, delivered={}, camps=active)
            yield env.timeout(1)

    def agent_process(a: dict[str, Any]):  # type: ignore[no-untyped-def]
        """One agent: every week (at mid-week, after the market) exposures, odds, a move."""
        g = a["g"]
        A = a["adstock"]
        yield env.timeout(0.5)
        while True:
            t = market["t"]
            stage = a["stage"]
            cell = (stage, a["visited"], a["contact"])
            lams = market["lam"][g, cell]
            sat = [0.0] * C
            for c in range(C):
                A[c] *= decay[c]
                lam = lams[c]
                if lam > 0:  # inverse CDF of Poisson(lam), capped
                    u = rnd()
                    pmf = F = math.exp(-lam)
                    x = 0
                    while u > F and x < cap[c]:
                        x += 1
                        pmf *= lam / x
                        F += pmf
                    if x:
                        A[c] += x
                        key = (g, cell, c)
                        market["delivered"][key] = market["delivered"].get(key, 0) + x
                if A[c] > 0:
                    h = A[c] ** slope[c]
                    sat[c] = h / (h + half[c] ** slope[c])
            b = beta[g][stage]
            z = base_logit[g][stage] + sum(b[c] * sat[c] for c in range(C))
            if stage == UNAWARE and segs[g].word_of_mouth != 1.0:
                z += math.log(segs[g].word_of_mouth) * market["loyal_share"][g]
            if stage != LOST:
                z += a["u"]
            p = 1.0 / (1.0 + math.exp(-z))
            horizon = t >= 0
            if stage <= DESIRE:
                if rnd() < p:
                    stage += 1
                    if stage == CUSTOMER and horizon:
                        totals["customers"] += 1
                        totals["orders"] += 1
                elif stage > UNAWARE and rnd() < drop[g][stage]:
                    stage = LOST
            elif stage == LOST:
                if rnd() < p:
                    stage = AWARE
            else:  # customer or loyal: a repeat order, then churn or (customers) loyalty
                if rnd() < p and horizon:
                    totals["orders"] += 1
                zc = churn_logit[g][stage] + sum(churn_beta[g][c] * sat[c] for c in range(C))
                pc = 1.0 / (1.0 + math.exp(-zc))
                v = rnd()
                if v < pc:
                    stage = LOST
                elif stage == CUSTOMER and v < pc + segs[g].loyal:
                    stage = LOYAL
            if stage in (INTEREST, DESIRE, CUSTOMER, LOYAL):
                a["visited"] = True
            if stage in (DESIRE, CUSTOMER, LOYAL):
                a["contact"] = True
            a["stage"] = stage
            yield env.timeout(1)

    env.process(market_process())
    for a in pop:
        env.process(agent_process(a))
    env.run(until=weeks)
    seconds = time.perf_counter() - t_start
    return {
        "agents": agents,
        "seconds": seconds,
        "agent_weeks": agents * (weeks + warm),
        "agent_weeks_per_s": agents * (weeks + warm) / seconds,
        "customers": totals["customers"],
        "orders": totals["orders"],
    }


# --------------------------------------------------------------------------------------------
# machine, report, docs


def machine() -> dict[str, str]:
    """What the figures were measured on (and with which engine source)."""
    import numpy

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    engine = hashlib.sha256()  # the engine package: its modules in name order
    for path in sorted((ROOT / "cjmsim" / "engine").glob("*.py")):
        engine.update(path.read_bytes())
    git = "unknown"
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "cjmsim"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        git = head + (" + uncommitted changes in cjmsim/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "git": git,
        "engine_sha256": engine.hexdigest()[:12],
        "load": " ".join(f"{x:.2f}" for x in load),
    }


def _m(x: float) -> str:
    return f"{x / 1e6:.2f} M"


def report(
    args: argparse.Namespace,
    mach: dict[str, str],
    sizes: list[dict[str, Any]],
    naive: dict[str, float],
    plan: str,
    warm: int,
) -> str:
    """The results as markdown: settings, the per-size table, derived figures and the goals."""
    sim_weeks = args.weeks + warm
    largest = max(sizes, key=lambda r: r["agents"])
    ref = next(r for r in sizes if r["agents"] == CHECK_AGENTS)
    lines = [
        f"Measured {mach['date']} on {mach['nproc']} cores ({mach['cpu']}), Python {mach['python']}, "
        f"numpy {mach['numpy']}; code {mach['git']} (cjmsim/engine/*.py sha256 {mach['engine_sha256']}); "
        f"load average at start {mach['load']}.",
        "",
        f"Scenario `{Path(args.scenario).name}`, plan `{plan}` (its first), seed {args.seed}, one replication, "
        f"{args.weeks} weeks + {warm} warm-up weeks = {sim_weeks} simulated weeks (warm-up weeks are counted as "
        "simulated weeks in every throughput figure). `run_plan` with its default threads; each size in a "
        "fresh process.",
        "",
        "| agents | wall time (s) | runs | agent-weeks/s | peak RSS (MB) | bytes/agent (RSS) "
        "| bytes/agent (tracemalloc) | customers/agent |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(sizes, key=lambda r: r["agents"]):
        extra = " (check reference)" if r["agents"] == CHECK_AGENTS and r["agents"] not in args.agents else ""
        lines.append(
            f"| {r['agents']:,}{extra} | {r['seconds']:.3f} | {len(r['times'])} | {_m(r['agent_weeks_per_s'])} "
            f"| {(r['rss_peak_kib'] - r['rss_base_kib']) / 1024:.1f} | {r['rss_bytes_per_agent']:.0f} "
            f"| {r['traced_bytes_per_agent']:.0f} | {r['customers'] / r['agents']:.4f} |"
        )
    lines.append("")
    check = None
    if largest["agents"] > CHECK_AGENTS:
        dt = largest["seconds"] - ref["seconds"]
        check = (largest["agents"] - CHECK_AGENTS) * sim_weeks / dt if dt > 0 else float("nan")
        lines.append(
            f"- Check (fixed costs cancelled): ({largest['agents']:,} - {CHECK_AGENTS:,}) x {sim_weeks} weeks / "
            f"({largest['seconds']:.3f} s - {ref['seconds']:.3f} s) = **{_m(check)} agent-weeks/s**."
        )
    ratio = largest["agent_weeks_per_s"] / naive["agent_weeks_per_s"]
    lines += [
        f"- Naive reference (one SimPy process per agent, Python `random`): {naive['agents']:,} agents, "
        f"{naive['seconds']:.2f} s, **{_m(naive['agent_weeks_per_s'])} agent-weeks/s**; "
        f"engine at {largest['agents']:,} agents / naive = **{ratio:.0f}x**.",
        f"- Sanity check (loose, not an assertion): customers per agent in the horizon, engine "
        f"{largest['customers'] / largest['agents']:.4f} ({largest['agents']:,} agents) vs naive "
        f"{naive['customers'] / naive['agents']:.4f} ({naive['agents']:,} agents): "
        f"{_rel(naive['customers'] / naive['agents'], largest['customers'] / largest['agents'])}; "
        f"orders per agent {largest['orders'] / largest['agents']:.4f} vs {naive['orders'] / naive['agents']:.4f}.",
        "",
        "| goal | target | measured | |",
        "|---|---:|---:|---|",
    ]
    at = "" if largest["agents"] == 1_000_000 else f" (measured at {largest['agents']:,}, not 1M)"
    goals = [
        (
            f"throughput at 1M agents{at}",
            f">= {_m(GOAL_THROUGHPUT)}",
            _m(largest["agent_weeks_per_s"]),
            largest["agent_weeks_per_s"] >= GOAL_THROUGHPUT,
        ),
        ("engine / naive reference", f">= {GOAL_RATIO:.0f}x", f"{ratio:.0f}x", ratio >= GOAL_RATIO),
        (
            f"peak memory per agent (RSS){at}",
            f"<= {GOAL_BYTES:.0f} B",
            f"{largest['rss_bytes_per_agent']:.0f} B",
            largest["rss_bytes_per_agent"] <= GOAL_BYTES,
        ),
    ]
    for name, target, measured, ok in goals:
        lines.append(f"| {name} | {target} | {measured} | {'met' if ok else 'NOT met'} |")
    lines += [
        "",
        "Throughput = agents x simulated weeks / wall time, the best of `runs` timed runs in one process "
        "(further runs only while they take under 3 s in all). The check differences a run with the "
        "engine's thread pool against a 10k-agent run without one (`run_plan` uses threads from 50k agents). "
        "Peak RSS = `ru_maxrss` after the run minus "
        "`ru_maxrss` after imports and scenario load. tracemalloc = peak of traced allocations (numpy "
        "buffers and Python objects) in a second, untimed run of the same size.",
    ]
    return "\n".join(lines)


def _rel(a: float, b: float) -> str:
    if b == 0:
        return "engine gives none"
    d = a / b - 1
    return f"naive {d:+.1%} vs engine ({'within' if abs(d) <= 0.30 else 'OUTSIDE'} ~30%)"


INTRO = """# Performance

How fast the journey engine (`cjmsim/engine/`) simulates, and how much memory it takes per agent.
`benchmarks/bench_engine.py` measures it on `scenarios/hifi.toml` (its first plan, one replication):
wall time and throughput in agent-weeks per second (warm-up weeks counted as simulated weeks) at each
agent count, a fixed-cost-free "check" throughput from differencing against a 10,000-agent run, peak
memory per agent (RSS and tracemalloc, each size in a fresh process), and the ratio to a naive
reference written the straightforward way (one SimPy process per agent, Python `random`).

Run it from the repository root (the full run takes a few minutes; the machine may be shared, so
note the load average it prints):

    python benchmarks/bench_engine.py --agents 100000 1000000 --weeks 52 --naive-agents 2000 \\
        --write docs/performance.md

Goals: >= 20 M agent-weeks/s at 1M agents, >= 100x the naive reference, <= 200 bytes of peak
memory per agent.

Machine when this file was created: {nproc} cores (`nproc`), CPU {cpu}, numpy {numpy}, {date}. Each
section below records the machine and code version it was measured with.

"""


def write_section(path: Path, body: str, mach: dict[str, str]) -> None:
    """Replace (or append) the bench_engine section of ``path``, creating the file if missing."""
    section = f"{BEGIN}\n## Engine benchmark\n\n{body}\n{END}"
    if path.exists():
        text = path.read_text()
        if BEGIN in text and END in text and text.index(BEGIN) < text.index(END):
            head, rest = text.split(BEGIN, 1)
            tail = rest.split(END, 1)[1]
            text = head + section + tail
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = INTRO.format(**mach) + section + "\n"
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


# --------------------------------------------------------------------------------------------
# issue 15: the check's figures with the code before the issue and now, side by side (--speed)

SPEED_BEGIN, SPEED_END = "<!-- bench_speed: begin -->", "<!-- bench_speed: end -->"
SPEED_BEFORE = "e2c0f0b"  # main before issue 15's first engine change
SPEED_GOAL = 80e6  # agent-weeks per second at 1M agents on 2 cores (issue 15)

#: The child: the check's timing of cjmsim.simulate, one plan and one replication, and the peak memory.
_SPEED_CHILD = """
import json, resource, sys, time
import cjmsim
from cjmsim.engine import make_streams, run_plan
sc = cjmsim.load_scenario(sys.argv[1])
plan, agents, tries, threads = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
kw = {"baseline": False}  # as the check: no no-marketing run
weeks = sc.scenario.weeks + sc.scenario.warmup_weeks
cjmsim.simulate(sc, plans=[plan], agents=20_000, reps=1, **kw)  # imports, caches, compilation
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
best = 9e9
for _ in range(tries):
    t = time.perf_counter()
    if threads:
        streams = make_streams(sc.scenario.seed, 0, len(sc.segments))
        run_plan(sc, plan, streams, agents, sc.scenario.weeks, threads=threads)
    else:
        cjmsim.simulate(sc, plans=[plan], agents=agents, reps=1, **kw)
    best = min(best, time.perf_counter() - t)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
traced = float("nan")
if agents >= 1_000_000:  # one more run, untimed, under tracemalloc (numpy reports its buffers to it)
    import tracemalloc
    tracemalloc.start()
    cjmsim.simulate(sc, plans=[plan], agents=agents, reps=1, **kw)
    traced = tracemalloc.get_traced_memory()[1] / agents
    tracemalloc.stop()
print(json.dumps({"seconds": best, "rate": agents * weeks / best, "bytes_per_agent": (peak - base) * 1024 / agents,
                  "traced_per_agent": traced}))
"""


def _speed_once(tree: Path, plan: str, agents: int, tries: int, threads: int) -> dict[str, float]:
    """One child process with the code of ``tree``: the check's figure (threads 0: ``cjmsim.simulate``
    on its default threads; otherwise ``run_plan`` on that many threads)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", _SPEED_CHILD, str(tree / "scenarios" / "hifi.toml"), plan, str(agents), str(tries),
         str(threads)],
        env=env, capture_output=True, text=True, check=True, cwd=tree,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _attribute_ratio(tree: Path, cli: str, tmp: Path) -> dict[str, float]:
    """Exact Shapley attribution of hifi ``cjm`` at 200,000 agents against one run, as the check times it."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    common = ["scenarios/hifi.toml", "--plan", "cjm", "--agents", "200000", "--no-report", "--quiet"]

    def timed(args: list[str], name: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([cli, *args, "--out", str(tmp / name)], env=env, cwd=tree, check=True, capture_output=True)
        return time.perf_counter() - t0

    r1 = timed(["run", *common, "--reps", "1", "--no-baseline"], "r1")
    r5 = timed(["run", *common, "--reps", "5", "--no-baseline"], "r5")
    at = timed(["attribute", *common, "--reps", "1", "--shapley", "exact", "--workers", "2"], "attr")
    one = (r5 - r1) / 4
    fixed = max(r1 - one, 0.0)
    return {"run": one, "fixed": fixed, "attribute": at, "ratio": (at - fixed) / one}


def _traced(r: dict[str, float]) -> str:
    """The tracemalloc peak per agent of a 1M-agent child, blank for the small runs (not measured)."""
    x = r.get("traced_per_agent", float("nan"))
    return "" if math.isnan(x) else f"{x:.0f}"


def speed(args: argparse.Namespace) -> None:
    """The ``--speed`` benchmark: before / now, interleaved; prints the section and writes it with ``--write``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_levers import export_tree
    from bench_sweep import measured
    from bench_sweep import write_section as write_marked

    start = measured()
    cli = str(Path(sys.executable).with_name("cjmsim"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_speed_") as tmp:
        before = Path(tmp) / "before"
        before.mkdir()
        export_tree(args.before, before)
        trees = {"before": before, "now": ROOT}
        cases = [(plan, n, tries, threads) for plan in ("baseline", "cjm") for n, tries in ((1_000_000, 2), (20_000, 5))
                 for threads in (0, 1)]  # fmt: skip
        for plan, n, tries, threads in cases:
            got = {name: _speed_once(tree, plan, n, tries, threads) for name, tree in trees.items()}
            rows.append((plan, n, threads, got))
            print(f"  {plan:>8} {n:>9,} agents, {'default threads' if not threads else 'one thread'}: "
                  f"{got['before']['rate'] / 1e6:6.1f}M -> {got['now']['rate'] / 1e6:6.1f}M agent-weeks/s "
                  f"(x{got['now']['rate'] / got['before']['rate']:.2f})", flush=True)  # fmt: skip
        attribution = None
        if args.attribute:
            attribution = {name: _attribute_ratio(tree, cli, Path(tmp) / name) for name, tree in trees.items()}
            print(f"  attribute / run: {attribution['before']['ratio']:.1f}x -> {attribution['now']['ratio']:.1f}x")
    end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        "## The fused kernel (issue 15)",
        "",
        f"{start} Load average at the end {end}. Before = {args.before} (main before the issue), "
        "now = the working tree.",
        "",
        "`benchmarks/bench_engine.py --speed`: hifi, one replication, warm-up weeks counted, each figure in its own "
        "process, before and now interleaved. *default threads*: `cjmsim.simulate(..., baseline=False)` as "
        "`../shared/checks/speed-engine` times it (best of 2 at 1M agents, of 5 at 20,000; threads from 50,000 "
        "agents); *one thread*: `run_plan(..., threads=1)`. Memory per agent: the peak RSS growth during the timed "
        "runs (the allocator's reuse makes it noisy), and the tracemalloc peak of one more 1M-agent run.",
        "",
        "| plan | agents | threads | before (M agent-weeks/s) | now | now / before | now: share of 1M rate "
        "| RSS B/agent before | now | traced B/agent before | now |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    big = {(plan, threads): got["now"]["rate"] for plan, n, threads, got in rows if n == 1_000_000}
    for plan, n, threads, got in rows:
        b, w = got["before"], got["now"]
        share = w["rate"] / big[plan, threads]
        lines.append(
            f"| {plan} | {n:,} | {'default' if not threads else 'one'} | {b['rate'] / 1e6:.1f} "
            f"| {w['rate'] / 1e6:.1f} | **{w['rate'] / b['rate']:.2f}** | {share:.0%} | {b['bytes_per_agent']:.0f} "
            f"| {w['bytes_per_agent']:.0f} | {_traced(b)} | {_traced(w)} |"
        )
    lines += ["", f"Goals: >= {SPEED_GOAL / 1e6:.0f}M agent-weeks/s at 1M agents (default threads), 20,000 agents "
              "at >= 50% of that, <= 150 B/agent."]  # fmt: skip
    if attribution is not None:
        b, w = attribution["before"], attribution["now"]
        lines += [
            "",
            "Exact Shapley attribution of `cjm`, 200,000 agents, one replication, two workers, against one run of "
            "`cjm` (fixed costs taken out as the check does; goal <= 30x):",
            "",
            "| code | one run (s) | fixed (s) | attribute (s) | ratio |",
            "|---|---:|---:|---:|---:|",
            f"| before | {b['run']:.2f} | {b['fixed']:.1f} | {b['attribute']:.1f} | {b['ratio']:.1f}x |",
            f"| now | {w['run']:.2f} | {w['fixed']:.1f} | {w['attribute']:.1f} | {w['ratio']:.1f}x |",
        ]
    section = "\n".join(lines)
    print()
    print(section)
    if args.write:
        write_marked(args.write, SPEED_BEGIN, SPEED_END, section)


# --------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, nargs="+", default=[100_000, 1_000_000], help="engine agent counts")
    ap.add_argument("--weeks", type=int, default=52, help="horizon in weeks (the warm-up comes on top)")
    ap.add_argument("--naive-agents", type=int, default=2000, help="agents of the naive SimPy reference")
    ap.add_argument(
        "--repeat", type=int, default=3, help="timed runs per size at most, best taken (stops after 3 s of runs)"
    )
    ap.add_argument("--seed", type=int, default=None, help="seed (default: the scenario's)")
    ap.add_argument("--scenario", default=str(DEFAULT_SCENARIO), help=argparse.SUPPRESS)
    ap.add_argument("--write", metavar="FILE", help="write the results section into this markdown file")
    ap.add_argument("--_child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--speed", action="store_true", help="issue 15's figures, the code before the issue against now")
    ap.add_argument("--before", default=SPEED_BEFORE, help="with --speed: the git ref of the code before")
    ap.add_argument("--attribute", action="store_true", help="with --speed: also attribute against run")
    args = ap.parse_args()
    if args.speed:
        speed(args)
        return

    import cjmsim
    import cjmsim.engine  # noqa: F401  (imported before the child's memory baseline)

    sc = cjmsim.load_scenario(args.scenario)
    if args.seed is None:
        args.seed = sc.scenario.seed
    if args._child is not None:
        _child(args, sc)
        return

    mach = machine()
    plan = next(iter(sc.plans))
    warm = sc.scenario.warmup_weeks
    print(
        f"{mach['date']}: {mach['nproc']} cores, {mach['cpu']}, numpy {mach['numpy']}, code {mach['git']}, "
        f"load average {mach['load']}",
        flush=True,
    )
    print(
        f"scenario {Path(args.scenario).name}, plan {plan!r}, {args.weeks} weeks + {warm} warm-up weeks "
        f"(warm-up weeks are counted as simulated weeks)",
        flush=True,
    )

    sizes = []
    for n in sorted(set(args.agents) | {CHECK_AGENTS}):
        r = engine_size(args, n)
        sizes.append(r)
        print(
            f"  engine {n:>10,} agents: {r['seconds']:8.3f} s (best of {len(r['times'])})  "
            f"{_m(r['agent_weeks_per_s'])} agent-weeks/s  "
            f"{r['rss_bytes_per_agent']:.0f} B/agent (RSS), {r['traced_bytes_per_agent']:.0f} B/agent "
            f"(tracemalloc)",
            flush=True,
        )
    naive = naive_run(sc, plan, args.naive_agents, args.weeks, args.seed)
    print(
        f"  naive  {args.naive_agents:>10,} agents: {naive['seconds']:8.3f} s  "
        f"{_m(naive['agent_weeks_per_s'])} agent-weeks/s",
        flush=True,
    )

    body = report(args, mach, sizes, naive, plan, warm)
    print()
    print(body)
    if args.write:
        write_section(Path(args.write), body, mach)
        print(f"\nwrote the bench_engine section of {args.write}")


if __name__ == "__main__":
    main()
