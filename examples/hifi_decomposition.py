"""How much of the hi-fi CJM plan's CPO cut comes from targeting and how much from message fit.

The counterfactual ``cjm_generic`` is the ``cjm`` plan of ``scenarios/hifi.toml`` with every campaign's
message replaced by the baseline's generic message on the same channel (the same budgets, segments,
stages and triggers: who and when stay, what is said goes generic). The three plans run in one
:func:`cjmsim.simulate` call, so each replication's plans share their customers and random numbers
(common random numbers) and the differences are paired:

- targeting = ``cjm_generic`` - ``baseline`` (who and when: budgets by segment x stage);
- message fit = ``cjm`` - ``cjm_generic`` (what is said to them);
- total = ``cjm`` - ``baseline`` (the two add up exactly, replication by replication).

Each row is the mean over replications with its 95% Student-t confidence interval (for a difference,
the CI of the mean of the per-replication paired differences). Run from the project root::

    python examples/hifi_decomposition.py --reps 5 --seed 2026

(docs/hifi.md quotes that run; ``--agents`` overrides the scenario's 200,000 for a quicker look.)
"""

from __future__ import annotations

import argparse
import copy
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

import cjmsim

__all__ = ["decompose", "generic_plan", "main"]

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "hifi.toml"
#: the plans compared, in order: before the CJM, the CJM targeting with generic messages, the CJM plan
PLANS = ("baseline", "cjm_generic", "cjm")
#: the metrics of the table (per_rep columns, segment "all")
METRICS = ("cpo", "icpo", "orders", "inc_orders", "spend")
#: the paired differences: (label, plan, reference)
PARTS = (("targeting", "cjm_generic", "baseline"), ("message fit", "cjm", "cjm_generic"), ("total", "cjm", "baseline"))


def generic_plan(data: dict[str, Any], plan: str = "cjm", generic_of: str = "baseline") -> dict[str, Any]:
    """``plan`` of the scenario ``data`` (parsed TOML) with each campaign's message replaced by the message
    ``generic_of`` uses on the same channel (a campaign on a channel ``generic_of`` does not buy keeps its own)."""
    by_channel = {c["channel"]: c.get("message") for c in data["plans"][generic_of]["campaigns"]}
    out: dict[str, Any] = copy.deepcopy(data["plans"][plan])
    out["name"] = f"{out.get('name', plan)}, generic messages"
    for camp in out["campaigns"]:
        generic = by_channel.get(camp["channel"])
        if generic is not None:
            camp["message"] = generic
        else:
            camp.pop("message", None)
    return out


def _mean_ci(x: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% Student-t CI of the mean (the mean twice when there is one value)."""
    m = float(np.mean(x))
    if len(x) < 2:
        return m, m, m
    h = float(stats.t.ppf(0.975, len(x) - 1) * np.std(x, ddof=1) / math.sqrt(len(x)))
    return m, m - h, m + h


def decompose(
    scenario: Path = SCENARIO, *, reps: int = 5, seed: int = 2026, agents: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run baseline, cjm_generic and cjm paired; return (levels, differences).

    levels: one row per (plan, metric) with mean, ci_low, ci_high over replications and the paired ratio to
    the baseline (``ratio``, the mean of the per-replication ratios, with its CI); differences: one
    row per (part, metric) with the mean paired difference, its CI, and ``share`` (the part's mean over
    the total's mean, for targeting and message fit).
    """
    data = tomllib.loads(scenario.read_text(encoding="utf-8"))
    data["plans"]["cjm_generic"] = generic_plan(data)
    sc = cjmsim.parse_scenario(data, source=str(scenario))
    res = cjmsim.simulate(sc, plans=list(PLANS), reps=reps, seed=seed, agents=agents)
    tot = res.per_rep[res.per_rep.segment == "all"]
    wide = {m: tot.pivot(index="rep", columns="plan", values=m) for m in METRICS}
    levels = []
    for m in METRICS:
        for p in PLANS:
            mean, lo, hi = _mean_ci(wide[m][p].to_numpy())
            ratio, rlo, rhi = _mean_ci((wide[m][p] / wide[m]["baseline"]).to_numpy())
            levels.append(
                {"plan": p, "metric": m, "mean": mean, "ci_low": lo, "ci_high": hi}
                | {"ratio": ratio, "ratio_ci_low": rlo, "ratio_ci_high": rhi}
            )
    diffs = []
    for m in METRICS:
        total = float((wide[m]["cjm"] - wide[m]["baseline"]).mean())
        for label, plan, ref in PARTS:
            d = (wide[m][plan] - wide[m][ref]).to_numpy()
            mean, lo, hi = _mean_ci(d)
            share = mean / total if label != "total" and total != 0 else float("nan")
            diffs.append({"part": label, "metric": m, "mean": mean, "ci_low": lo, "ci_high": hi, "share": share})
    return pd.DataFrame(levels), pd.DataFrame(diffs)


def main(argv: list[str] | None = None) -> None:
    """Print the decomposition table (command line: --reps, --seed, --agents, --scenario)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--agents", type=int, default=None)
    ap.add_argument("--scenario", type=Path, default=SCENARIO)
    args = ap.parse_args(argv)
    levels, diffs = decompose(args.scenario, reps=args.reps, seed=args.seed, agents=args.agents)
    pd.set_option("display.width", 120)
    print(f"{args.scenario.name}: {args.reps} paired replications, seed {args.seed}; mean [95% CI]")
    for m in ("cpo", "icpo", "orders"):
        print(f"\n{m}")
        for _, r in levels[levels.metric == m].iterrows():
            ratio = f"  x{r.ratio:.3f} [{r.ratio_ci_low:.3f}, {r.ratio_ci_high:.3f}] of baseline"
            ratio = ratio if r.plan != "baseline" else ""
            print(f"  {r.plan:<12} {r['mean']:>12,.1f} [{r.ci_low:,.1f}, {r.ci_high:,.1f}]{ratio}")
        for _, r in diffs[diffs.metric == m].iterrows():
            share = "" if math.isnan(r.share) else f"  {r.share:.0%} of the total"
            print(f"  {r.part:<12} {r['mean']:>+12,.1f} [{r.ci_low:+,.1f}, {r.ci_high:+,.1f}]{share}")


if __name__ == "__main__":
    main()
