"""The optimizer's done-when run on hifi: wall time, evaluations, and the result on fresh seeds.

Run by hand from the repository root (about 4 minutes; the machine should be otherwise idle):

    python benchmarks/bench_optimize.py [--objective max-inc-margin] [--workers 2] [--scheduler tcp://HOST:8786]
                                        [--write docs/performance.md]

It runs ``optimize(hifi, "baseline", objective, keep_orders=True for min-cpo, compare=["cjm"])``
with the command's defaults (162 variables, 20,000 agents x 1 replication per evaluation, 1,000
evaluations, 8 fresh replications of 200,000 agents) and reports the time, the seconds per
evaluation, the peak memory of this process, and the paired differences against the baseline
and the hand-made ``cjm`` plan, and the incremental margin less spend in money (issue 12's
done-when: more than ``cjm``'s, paired CI above 0).
"""

from __future__ import annotations

import argparse
import resource
import time

from bench_sweep import measured, write_section

from cjmsim import load_scenario
from cjmsim.analyses.optimize import OBJECTIVES, optimize

BEGIN, END = "<!-- bench_optimize: begin -->", "<!-- bench_optimize: end -->"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objective", default="max-inc-margin", choices=list(OBJECTIVES))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scheduler", help="Dask scheduler address: run the search's simulations on that cluster.")
    ap.add_argument("--write", help="Markdown file whose bench_optimize section is replaced with the figures.")
    args = ap.parse_args()
    head = measured()
    sc = load_scenario("scenarios/hifi.toml")
    t0 = time.perf_counter()
    opt = optimize(
        sc,
        "baseline",
        args.objective,
        keep_orders=args.objective == "min-cpo",
        compare=["cjm"],
        workers=args.workers,
        scheduler=args.scheduler,
    )
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    s = opt.settings
    cmp = opt.comparison.set_index(["versus", "metric"])

    def cell(other: str, m: str) -> str:
        r = cmp.loc[(other, m)]
        return f"{r.relative:+.1%} [{r.relative_ci_low:+.1%}, {r.relative_ci_high:+.1%}]"

    def money(other: str, m: str) -> str:
        r = cmp.loc[(other, m)]
        return f"{r.difference / 1e6:+,.1f}M [{r.ci_low / 1e6:+,.1f}M, {r.ci_high / 1e6:+,.1f}M]"

    lines = [
        "## Optimizer benchmark",
        "",
        head,
        "",
        f"`optimize(hifi, 'baseline', '{args.objective}'"
        + (", keep_orders=True" if args.objective == "min-cpo" else "")
        + ", compare=['cjm'], "
        + (f"scheduler={args.scheduler!r}" if args.scheduler else f"workers={args.workers}")
        + f")`: {s['variables']} variables, {s['agents']:,} agents x "
        f"{s['reps']} replication per evaluation, {s['evaluations_used']} of {s['evaluations']} evaluations "
        f"({opt.message}; better allocation found: {opt.found}); fresh check on {s['final_reps']} x "
        f"{s['final_agents']:,} agents.",
        "",
        f"- Wall time, search + response curves + fresh re-evaluation: **{wall:.0f} s** "
        f"({wall / max(s['evaluations_used'], 1):.2f} s per search evaluation, everything included); "
        f"peak memory of the main process {rss:.0f} MB.",
        "",
        "| optimized plan against | orders | spend | CPO | gross margin | incremental margin less spend |",
        "|---|---|---|---|---|---|",
        *(
            f"| `{o}` | {cell(o, 'orders')} | {cell(o, 'spend')} | {cell(o, 'cpo')} | {cell(o, 'margin')} | "
            f"{money(o, 'inc_net_margin')} |"
            for o in ("baseline", "cjm")
        ),
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(args.write, BEGIN, END, text)
        print(f"wrote the bench_optimize section of {args.write}")


if __name__ == "__main__":
    main()
