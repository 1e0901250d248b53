"""Optimizing under uncertainty: every candidate evaluated over posterior draws instead of replications.

With posterior draws, replication i of the search is draw i: the candidate runs on draw i's
scenario (the draw's values applied to the search scenario, :func:`~cjmsim.analyses.calibration.apply_draw`)
and replication i's customers and random numbers. Every candidate sees the same draws on the same
random numbers (common random numbers, as over replications), so the search's objective is still a
deterministic function of the budgets:

- the expected objective (the default): the objective of the candidate's totals averaged over the
  draws, as the search averages replications. For ``max-orders``, ``max-margin`` and
  ``max-inc-margin`` that is the mean of the draws' objectives; for ``min-cpo`` and ``min-icpo`` it
  is the mean spend over the mean (incremental) orders, a ratio of expectations;
- ``robust``: the smallest worst-case regret over the draws (:mod:`.robust`).

The winner is then re-evaluated with the base plan and the compared plans over the same draws on
fresh random numbers (``run --posterior``'s :func:`~cjmsim.analyses.calibration.run_posterior`,
seed derived from the search's), paired within each draw, with 90% posterior intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cjmsim.analyses.calibration import Draws, PosteriorResult, apply_draw, read_draws, run_posterior
from cjmsim.analyses.metrics import POSTERIOR_INTERVAL, posterior_interval
from cjmsim.analyses.optimize.evaluation import Totals
from cjmsim.analyses.optimize.search import Objective, natural
from cjmsim.scenario import ScenarioError, parse_scenario

__all__ = [
    "POSTERIOR_COMPARISON_COLUMNS",
    "SearchDraws",
    "posterior_comparison",
    "reevaluate_over_draws",
    "search_draws",
    "search_draws_table",
]

#: The columns of comparison.csv over posterior draws, in order.
POSTERIOR_COMPARISON_COLUMNS = (
    "versus", "metric", "draws", "optimized", "other", "difference", "p05", "p95",
    "relative", "relative_p05", "relative_p95", "share_better",
)  # fmt: skip


@dataclass(frozen=True)
class SearchDraws:
    """The posterior draws a search runs over: the draws, the ids used, each one's search scenario."""

    draws: Draws
    ids: list[Any]  # the draws file's ``draw`` ids of the draws used (the first ones), in order
    scenarios: list[dict[str, Any]]  # per draw: the search scenario with the draw applied, as parsed TOML

    def settings(self) -> dict[str, Any]:
        """metadata.json's account of the draws."""
        d = self.draws
        return {
            "draws_used": len(self.ids),
            "draws_available": len(d),
            "all_draws": len(self.ids) == len(d),
            "draws_file": None if d.path is None else str(d.path),
            "draws_source": d.source,
            "parameters": [{"name": p.name, "path": p.path, "relative": p.relative} for p in d.parameters],
            "interval": POSTERIOR_INTERVAL,
        }


def search_draws(data: dict[str, Any], draws: Draws | Any, max_draws: int | None, source: str) -> SearchDraws:
    """Each of the first ``max_draws`` draws (default all) applied to the search scenario ``data`` (parsed
    TOML), every one validated before anything runs.

    Raises:
        ScenarioError: a draws file that is not one; a draw whose path the scenario does not have
            (naming the draws file, the draw, the parameter and the path) or whose values make it
            invalid; the same draw id twice.
    """
    if not isinstance(draws, Draws):
        draws = read_draws(draws)
    name = str(draws.path) if draws.path is not None else "<draws>"
    n = len(draws) if max_draws is None else min(max_draws, len(draws))
    ids = draws.table["draw"].iloc[:n].tolist()
    if len(set(map(repr, ids))) < len(ids):
        twice = next(d for k, d in enumerate(ids) if repr(d) in map(repr, ids[:k]))
        raise ScenarioError(f"{name}: column 'draw': draw {twice!r} appears twice; each draw must have its own id")
    scenarios = []
    for i, draw in enumerate(ids):
        changed = apply_draw(data, draws.parameters, draws.values(i), where=f"{name}: draw {draw} (on {source})")
        parse_scenario(changed, source=f"{source}: draw {draw} of {name}")
        scenarios.append(changed)
    return SearchDraws(draws, ids, scenarios)


def reevaluate_over_draws(
    data: dict[str, Any],
    post: SearchDraws,
    plans: list[str],
    *,
    agents: int | None,
    weeks: int | None,
    seed: int,
    workers: int | None,
    scheduler: Any,
) -> PosteriorResult:
    """The base, optimized and compared plans over the search's draws on fresh random numbers (draw i on
    replication i of ``seed``), paired within each draw against the base plan (``plans[0]``)."""
    return run_posterior(
        data,
        post.draws,
        plans,
        agents=agents,
        weeks=weeks,
        seed=seed,
        reference=plans[0],
        max_draws=len(post.ids),
        workers=workers,
        scheduler=scheduler,
        source="optimized plan",
    )


def _net(per_draw: pd.DataFrame) -> pd.DataFrame:
    out = per_draw.copy()
    out["net_margin"] = out.margin - out.spend
    if "inc_margin" in out:
        out["inc_net_margin"] = out.inc_margin - out.spend
    return out


def posterior_comparison(
    final: PosteriorResult, plan: str, others: list[str], compared: tuple[str, ...]
) -> pd.DataFrame:
    """The optimized ``plan`` against each other plan, per metric of ``compared``, paired draw by draw.

    ``optimized`` and ``other`` are the means over draws; ``difference`` the mean of the paired
    differences (plan minus other in the same draw), ``p05`` and ``p95`` their 90% posterior interval;
    ``relative`` the ratio of the means less 1 (``difference / other``), ``relative_p05`` and
    ``relative_p95`` the 90% posterior interval of the per-draw relative differences (draws where the
    other plan's value is above zero); ``share_better`` the share of draws where the optimized plan is
    better by the metric's direction (empty for a metric without one, e.g. spend).
    Columns :data:`POSTERIOR_COMPARISON_COLUMNS`."""
    from cjmsim.scenario import METRICS

    by = _net(final.per_draw).set_index(["plan", "draw"])
    rows = []
    for other in others:
        mine = by.loc[plan]
        theirs = by.loc[other].loc[mine.index]
        for m in (m for m in compared if m in by.columns):
            a, b = mine[m].to_numpy(dtype=float), theirs[m].to_numpy(dtype=float)
            ok = np.isfinite(a) & np.isfinite(b)
            a, b = a[ok], b[ok]
            mean, low, high = posterior_interval(a - b)
            pos = b > 0
            _, rlow, rhigh = posterior_interval(a[pos] / b[pos] - 1.0)
            relative = float(a.mean() / b.mean() - 1.0) if b.size and b.mean() > 0 else math.nan
            better = METRICS[m].better if m in METRICS else ("higher" if m.endswith("net_margin") else None)
            share = math.nan
            if better is not None and a.size:
                share = float(((a > b) if better == "higher" else (a < b)).mean())
            means = (float(a.mean()), float(b.mean())) if a.size else (math.nan, math.nan)
            rows.append((other, m, int(a.size), *means, mean, low, high, relative, rlow, rhigh, share))
    return pd.DataFrame(rows, columns=list(POSTERIOR_COMPARISON_COLUMNS))


def search_draws_table(
    post: SearchDraws,
    objective: Objective,
    base: list[Totals],
    optimized: list[Totals],
    best: list[float] | None = None,
) -> pd.DataFrame:
    """The search's draws (draws.csv): ``rep`` and ``draw``, the objective's metric in natural units for
    the base plan and the optimized plan on the search's draws and random numbers; with ``best`` (the
    robust search's best value in each draw among the candidates evaluated, natural units), also
    ``best`` and ``regret``: how far the optimized plan is from it (the worse side counted positive)."""
    metric = objective.metric
    rows = []
    for i, draw in enumerate(post.ids):
        b, o = natural(base[i])[metric], natural(optimized[i])[metric]
        row: dict[str, Any] = {"rep": i, "draw": draw, "metric": metric, "base": b, "optimized": o}
        if best is not None:
            row["best"] = best[i]
            row["regret"] = (best[i] - o) if objective.higher else (o - best[i])
        rows.append(row)
    return pd.DataFrame(rows)
