"""Variants stepped together against one by one (issue 15, item 3), in CPU time of one process.

Run by hand from the repository root (about a minute; the machine should be otherwise idle):

    python benchmarks/bench_together.py [--agents 20000 50000 100000 200000] [--variants 4]

K optimizer candidates of hifi (the baseline plan's campaigns, one budget 10% up in each) on one
replication, forked from one warm-up: ``evaluate_many`` steps them together (the week's random numbers
drawn once), against ``evaluate`` one after the other. CPU time (``time.process_time``: what the process
ran, not what the shared machine took from it), best of 4 interleaved pairs, and the ratio one by one /
together (above 1: together is faster). The size threshold ``calendar.TOGETHER_MIN_AGENTS`` is lowered so
that every size steps together; the two give identical totals, which the benchmark checks.
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

import cjmsim
import cjmsim.engine.calendar as calendar
from cjmsim.analyses.optimize import evaluation as ev

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    """Print one line per agent count: CPU seconds one by one, together, and their ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, nargs="+", default=[20_000, 50_000, 100_000, 200_000])
    ap.add_argument("--variants", type=int, default=4, help="candidates stepped together")
    ap.add_argument("--repeat", type=int, default=4, help="interleaved pairs, best taken")
    args = ap.parse_args()
    calendar.TOGETHER_MIN_AGENTS = 0
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for agents in args.agents:
        sc = cjmsim.load_scenario(ROOT / "scenarios" / "hifi.toml").with_settings(agents=agents)
        data = sc.model_dump(mode="json", exclude_none=True)
        cands = []
        for j in range(args.variants):
            camps = copy.deepcopy(data["plans"]["baseline"]["campaigns"])
            camp = camps[j % len(camps)]
            if camp.get("weekly"):
                camp["weekly"] *= 1.1
            cands.append(camps)
        seed = sc.scenario.seed
        ev.evaluate_many(ev.Candidates(data, seed, 0, cands[:2], "warm"))  # the warm-up and the kernels
        alone, together = [], []
        for _ in range(args.repeat):
            t = time.process_time()
            one = [ev.evaluate(ev.Candidate(data, seed, 0, c, "one")) for c in cands]
            alone.append(time.process_time() - t)
            t = time.process_time()
            many = ev.evaluate_many(ev.Candidates(data, seed, 0, cands, "many"))
            together.append(time.process_time() - t)
            assert one == many, "stepping together changed a result"
        a, b = min(alone), min(together)
        line = f"{agents:>9,} agents, {args.variants} candidates: one by one {a:.3f} s, together {b:.3f} s"
        print(f"{line}, x{a / b:.2f}")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
