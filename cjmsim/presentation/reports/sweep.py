"""The HTML report of an experiment sweep, and the writer of its charts.

:func:`write` saves every chart of :mod:`cjmsim.presentation.charts.sweep` (PNG and SVG) and a self-contained
``report.html`` rendered from ``templates/sweep.html.j2`` (which extends the reports' one base
template) with autoescaping, images as data URIs, no script and nothing fetched from the network.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cjmsim import __version__
from cjmsim.analyses import metrics
from cjmsim.presentation import format as fmt
from cjmsim.presentation import verdict as vd
from cjmsim.presentation.charts.sweep import SweepView, all_charts, level_text, sweep_view
from cjmsim.presentation.reports.html import (
    ReportImage,
    chart_images,
    difference_cell,
    figures,
    render_page,
    value_cell,
    write_html,
)
from cjmsim.presentation.reports.summary import sweep_summary
from cjmsim.scenario import metrics as registry

if TYPE_CHECKING:
    from cjmsim.analyses.sweep import Parameter, SweepResult

__all__ = ["WIN_METRICS", "WinCount", "render", "win_counts", "win_lines", "write"]

_KIND = {"path": "Scenario setting", "budget": "Budget factor", "move": "Budget moved between channels"}
#: Totals that count every order, those that would come with no marketing too: their headings say so.
_COUNTS_EVERY_ORDER = {"customers", "orders", "repeat_orders", "revenue", "margin", "cpo", "cac", "romi", "roas"}
#: The no-marketing row of each point in the results table.
_NO_MARKETING = "No marketing (the same customers, no campaign)"


#: The metrics whose wins a sweep counts after its ranking metric (the experiment's first): the total
#: cost per order, then, when no marketing was run, the incremental cost per order and orders.
WIN_METRICS: tuple[str, ...] = ("cpo", "icpo", "inc_orders")


@dataclass(frozen=True)
class WinCount:
    """At how many points a plan beats its reference on one metric, beyond noise.

    Attributes:
        plan: the plan (its key); metric: the metric's column.
        wins: points where the paired 95% CI of plan - reference lies wholly on the metric's better
            side of zero (below it for CPO); losses: wholly on the worse side; undecided: the CI
            holds zero, or there is none (one replication).
    """

    plan: str
    metric: str
    wins: int
    losses: int
    undecided: int

    @property
    def points(self) -> int:
        """The points compared."""
        return self.wins + self.losses + self.undecided


def win_counts(result: SweepResult) -> list[WinCount]:
    """Per plan other than the reference and per counted metric (the experiment's first metric, then
    :data:`WIN_METRICS` where the differences have them), the points it wins, loses and leaves
    undecided on the paired difference of all segments (:func:`cjmsim.presentation.verdict.verdict`).

    Over posterior draws the interval read is the paired difference's 90% posterior interval over the
    draws (``_diff_p05``, ``_diff_p95``), not a 95% CI over replications."""
    view = sweep_view(result)
    d = view.diffs
    if not len(d):
        return []
    low, high = ("_diff_p05", "_diff_p95") if result.posterior else ("_diff_ci_low", "_diff_ci_high")
    first = list(result.experiment.spec.experiment.metrics[:1])
    wanted = [m for m in dict.fromkeys([*first, *WIN_METRICS]) if f"{m}{high}" in d.columns]
    out = []
    for plan in (p for p in view.plans if p != view.reference):
        rows = d[d.plan == plan]
        for m in wanted:
            better = registry.metric(m).better
            if better is None or not len(rows):
                continue
            vs = [
                vd.verdict(r[f"{m}_diff"], r[f"{m}{low}"], r[f"{m}{high}"], view.reps, better)
                for _, r in rows.iterrows()
            ]
            wins, losses = sum(v.improves is True for v in vs), sum(v.improves is False for v in vs)
            out.append(WinCount(plan, m, wins, losses, len(vs) - wins - losses))
    return out


def win_lines(result: SweepResult) -> list[str]:
    """One sentence per :func:`win_counts` row, 'CJM wins on CPO against Baseline in 22 of 24 points
    (lower is better), loses in 0, undecided in 2', the first naming the rule."""
    view = sweep_view(result)
    ref = view.plain[view.reference]
    lines = []
    for c in win_counts(result):
        meta = registry.metric(c.metric)
        lines.append(
            f"{view.plain[c.plan]} wins on {meta.label} against {ref} in {c.wins} of {c.points} points "
            f"({meta.better} is better), loses in {c.losses}, undecided in {c.undecided}"
        )
    return lines


def _wins(view: SweepView) -> dict[str, Any]:
    """The win-count table of the report: rows per plan and metric, and the rule in words."""
    counts = win_counts(view.result)
    if not counts:
        return {}
    rows = [
        {
            "plan": view.plain[c.plan],
            "metric": registry.metric(c.metric).label,
            "better": registry.metric(c.metric).better,
            "wins": c.wins,
            "losses": c.losses,
            "undecided": c.undecided,
            "points": c.points,
        }
        for c in counts
    ]
    rule = (
        f"A plan wins at a point where the 95% CI of its paired difference from {view.plain[view.reference]} "
        f"(over {view.reps} replications on the same customers and random numbers) lies wholly on the metric's "
        "better side of zero, loses where it lies wholly on the worse side, and is undecided where the CI holds "
        "zero" + (" (one replication: no CI, so every point is undecided)." if view.reps < 2 else ".")
    )
    return {"rows": rows, "lines": win_lines(view.result), "rule": rule}


def _describe(view: SweepView, p: Parameter) -> dict[str, Any]:
    """A parameter for "What was varied": its kind, what it changes, and its levels."""
    sc = view.result.experiment.scenarios[0]
    plain = view.plain
    levels: list[str]
    if p.levels is not None:
        kind = "Named assumption sets"
        what = "each level multiplies some settings of the scenario"
        levels = [
            f"{name}: "
            + (
                "; ".join(f"{path} \u00d7{factor:g}" for path, factor in changes.items())
                if changes
                else "the base scenario"
            )
            for name, changes in p.levels.items()
        ]
    else:
        kind = _KIND["path" if p.path is not None else "budget" if p.budget is not None else "move"]
        if p.path is not None:
            what = f"{p.path}: " + ("multiplied by each level" if p.multiplies else "set to each level")
        elif p.budget is not None:
            who = "every plan" if "*" in p.budget else ", ".join(plain.get(b, b) for b in p.budget)
            what = f"campaign budgets of {who} multiplied by each level (\u00d71 = as in the scenario)"
        else:
            assert p.move is not None
            src, tgt = ((sc.channels[c].name or c) if c in sc.channels else c for c in (p.move.source, p.move.target))
            what = f"in {plain.get(p.move.plan, p.move.plan)}: this share of the {src} budget moved to {tgt}"
        if view.grid or p.low is None:
            levels = [level_text(p, v) for v in p.grid()]
        else:
            rel = " \u00d7 the scenario's value" if p.relative else ""
            levels = [f"drawn between {level_text(p, p.low)} and {level_text(p, p.high)}{rel}"]
    return {"name": p.name, "kind": kind, "what": what, "levels": levels, "named": p.levels is not None}


def _tables(view: SweepView) -> dict[str, Any]:
    """The summary and differences tables (segment all), grouped by point, as text."""
    shown = list(view.result.experiment.spec.experiment.metrics) or ["orders", "spend", "cpo", "romi"]
    currency = view.result.experiment.scenarios[0].scenario.currency
    heads = []
    for m in shown:
        label, kind = (registry.metric(m).long_label, registry.metric(m).code)
        heads.append({"label": label, "unit": currency if kind == "m" else "", "total": m in _COUNTS_EVERY_ORDER})
    plain = view.plain
    nm = view.result.no_marketing
    without = nm[nm.segment == "all"].set_index("point") if nm is not None else None
    params = [p.name for p in view.params]

    def levels(row: pd.Series) -> list[str]:
        return [level_text(p, row[p.name]) for p in view.params]

    summary: list[dict[str, Any]] = []
    for _, grp in view.tot.groupby("point", sort=False):
        plans = [
            {
                "name": plain[str(r.plan)],
                "cells": [value_cell(r, m, registry.metric(m).code) for m in shown],
                "counterfactual": False,
            }
            for _, r in grp.set_index("plan").reindex(view.plans).dropna(how="all").reset_index().iterrows()
        ]
        point = grp.point.iloc[0]
        if without is not None and point in without.index:  # what comes anyway, at this point
            r = without.loc[point]
            cells = [value_cell(r, m, registry.metric(m).code) for m in shown]
            plans.append({"name": _NO_MARKETING, "cells": cells, "counterfactual": True})
        summary.append({"levels": levels(grp.iloc[0]), "plans": plans})
    diffs: list[dict[str, Any]] = []
    if len(view.diffs):
        for _, grp in view.diffs.groupby("point", sort=False):
            plans = [
                {
                    "name": plain[str(r.plan)],
                    "cells": [{**difference_cell(r, m, registry.metric(m).code), **_ratio(r, m)} for m in shown],
                }
                for _, r in grp.iterrows()
            ]
            diffs.append({"levels": levels(grp.iloc[0]), "plans": plans})
    clear = sum(1 for g in diffs for p in g["plans"] for c in p["cells"] if c["state"])
    total = sum(len(p["cells"]) for g in diffs for p in g["plans"])
    return {
        "incremental": view.incremental,
        "any_total": any(h["total"] for h in heads),
        "params": params,
        "metrics": heads,
        "summary": summary,
        "differences": diffs,
        "n_clear": clear,
        "n_compared": total,
    }


def _steps(view: SweepView) -> dict[str, Any]:
    """For a grid over one budget factor, what each step up in budget returns, per plan: the extra
    spend, the extra incremental orders, and the marginal iCPO and iROMI of the step
    (extra spend / extra incremental orders; extra incremental margin / extra spend - 1), paired
    replication by replication between the two levels (delta-method 95% CIs).

    Average returns fall as a budget grows (diminishing returns); whether more budget pays is the
    return of the last money, which this shows. Empty for other designs or without the baseline.
    """
    params = view.params
    if not view.incremental or len(params) != 1 or params[0].budget is None or not view.grid:
        return {}
    p = params[0]
    r = view.result.results
    r = r[r.segment == "all"]
    currency = view.result.experiment.scenarios[0].scenario.currency
    levels = sorted(float(v) for v in r[p.name].unique())
    rows = []
    for plan in view.plans:
        d = r[r.plan == plan]
        cells = []
        for a, b in itertools.pairwise(levels):
            lo = d[np.isclose(d[p.name].astype(float), a)].set_index("rep").sort_index()
            hi = d[np.isclose(d[p.name].astype(float), b)].set_index("rep").sort_index()
            spend = (hi.spend - lo.spend).to_numpy(float)
            orders = (hi.inc_orders - lo.inc_orders).to_numpy(float)
            margin = (hi.inc_margin - lo.inc_margin).to_numpy(float)
            cpo = metrics.paired_ratio(spend, orders)
            roi = metrics.paired_ratio(margin, spend)
            row = pd.Series(
                {
                    "spend": spend.mean() if spend.size else math.nan,
                    "icpo": cpo[0], "icpo_ci_low": cpo[1], "icpo_ci_high": cpo[2],
                    "iromi": roi[0] - 1, "iromi_ci_low": roi[1] - 1, "iromi_ci_high": roi[2] - 1,
                }
            )  # fmt: skip
            cells.append(
                {
                    "spend": fmt.table_value(row.spend, "m"),
                    "icpo": value_cell(row, "icpo", "m"),
                    "iromi": value_cell(row, "iromi", "p"),
                    "pays": fmt.finite(row.iromi_ci_low) and row.iromi_ci_low > 0,
                    "loses": fmt.finite(row.iromi_ci_high) and row.iromi_ci_high < 0,
                }
            )
        if (d.spend > 0).any():  # a plan that never spends has no return to show
            rows.append({"name": view.plain[plan], "cells": cells})
    steps = [f"{level_text(p, a)} → {level_text(p, b)}" for a, b in itertools.pairwise(levels)]
    return {"steps": steps, "rows": rows, "currency": currency} if rows and steps else {}


def _ratio(row: pd.Series, metric: str) -> dict[str, str]:
    """The paired ratio to the reference, '×1.131 [1.124, 1.137]' (its 95% CI), or nothing."""
    r, lo, hi = (row.get(f"{metric}_ratio{s}") for s in ("", "_ci_low", "_ci_high"))
    if not fmt.finite(r):
        return {"ratio": ""}
    ci = f" [{float(lo):.3f}, {float(hi):.3f}]" if fmt.finite(lo) and fmt.finite(hi) else ""
    return {"ratio": f"\u00d7{float(r):.3f}{ci}"}


def _assumptions(view: SweepView) -> list[str]:
    exp = view.result.experiment
    s = exp.spec.experiment
    sc = exp.scenarios[0].scenario
    ref = view.plain[view.reference]
    text = [
        f"Each point is the base scenario \u201c{sc.name}\u201d with the changes listed under \u201cWhat was "
        "varied\u201d; everything else is as in the scenario. Every run simulates "
        f"{sc.agents:,} synthetic people standing for {sc.population:,.0f} real ones over {sc.weeks} weeks: "
        "a what-if built from the personas and channel assumptions, not a forecast.",
    ]
    if s.common_random_numbers:
        text.append(
            "Common random numbers: in each replication every point and every plan runs on the same synthetic "
            "people with the same luck, so differences between plans, and between points, come from the "
            f"changes, not from noise. The differences from {ref} are paired: each replication's {ref} value is "
            "subtracted before averaging, which makes their intervals narrower than the summary's."
        )
    else:
        text.append(
            "Common random numbers were switched off between points: each point has its own random numbers, so "
            "differences between points include simulation noise. Plans at one point still share theirs, so the "
            f"differences from {ref} are paired (each replication's {ref} value subtracted before averaging)."
        )
    if s.reps > 1:
        text.append(
            f"Each number is the mean of {s.reps} replications; \u00b1 is the half-width of its 95% confidence "
            "interval (Student's t over replications). It measures simulation noise only, not the uncertainty "
            "of the scenario's assumptions. A difference is highlighted when its interval excludes zero; with "
            "many comparisons, about one in twenty can be highlighted by chance where there is no real "
            "difference, so read a lone highlight with care."
        )
    else:
        text.append(
            "Each number comes from a single replication, so there are no confidence intervals; set reps to 3 "
            "or more in the experiment to see how much of a difference is simulation noise."
        )
    if view.incremental:
        text.append(
            "At every point and in every replication no marketing was run too, on the same synthetic people "
            "with the same random numbers: the orders that come anyway (word of mouth, habit, the funnel as it "
            "stands). Incremental orders, revenue and margin are each plan's minus those; iCPO is spend per "
            "incremental order and iROMI is (incremental margin − spend) / spend, computed replication by "
            "replication, as in every cjmsim command (docs/model.md defines them)."
        )
    else:
        text.append(
            "The experiment has baseline = false: no marketing was not run, so there are no incremental "
            "figures, and every order, CPO and ROMI here includes the orders that would come anyway."
        )
    text.append(
        "Spend is what was actually bought: a channel cannot deliver more than its audience absorbs, so spend "
        "can be below the planned budget. Cost per order and ROMI are undefined (a dash) for a plan that "
        "spends nothing. Orders, revenue, CPO and ROMI count every order in the period, repeat orders included, "
        "and the orders that would come with no marketing too: a total ROMI that climbs as the budget falls "
        "spreads those over less money, it is no reason to cut the budget; iROMI is the return to compare."
    )
    text.append(
        "docs/sweeps.md in the cjmsim project explains experiments, designs and these tables; docs/model.md "
        "defines every formula and metric."
    )
    return text


def _agents_note(result: SweepResult) -> str:
    """What fewer agents than the base scenario's run mean, and how far its reference plan then is (or nothing)."""
    from cjmsim.presentation.reconciliation import agents_statement

    exp = result.experiment
    sc = exp.scenarios[0]
    full = exp.scenario_agents or sc.scenario.agents
    rec = result.reconciliation
    return agents_statement(
        sc.scenario.agents,
        full,
        rec,
        plan_name=(sc.plans[rec.plan].name or rec.plan) if rec is not None and rec.plan in sc.plans else "",
        currency=sc.scenario.currency,
        how=f"set agents = {full} in the experiment (or leave it out)",
    )


def _design(view: SweepView) -> str:
    s = view.result.experiment.spec.experiment
    if s.design == "grid":
        return "grid (every combination)" if len(view.params) > 1 else "grid"
    return f"{'random' if s.design == 'random' else 'Latin hypercube'}, {s.samples} samples"


def render(result: SweepResult, images: Sequence[ReportImage], *, generated: date | None = None) -> str:
    """Render the sweep report as one self-contained HTML page (inline CSS, data-URI images, no script)."""
    view = sweep_view(result)
    exp = result.experiment
    s = exp.spec.experiment
    sc = exp.scenarios[0]
    plain = view.plain
    full = exp.scenario_agents or sc.scenario.agents
    context = {
        "agents_note": _agents_note(result),
        "title": s.name,
        "description": s.description,
        "facts": [
            ("Base scenario", sc.scenario.name),
            ("Design", _design(view)),
            ("Points", str(len(exp.points))),
            ("Plans", str(len(exp.plans))),
            ("Replications", str(s.reps)),
            ("Seed", str(s.seed)),
            ("Agents per run", f"{sc.scenario.agents:,}" + (f" (run: {full:,})" if full > sc.scenario.agents else "")),
            ("Horizon", f"{sc.scenario.weeks} weeks"),
            ("Date", (generated or date.today()).isoformat()),
            ("cjmsim", __version__),
        ],
        "summary": sweep_summary(view, (s.metrics or ["cpo"])[0]),
        "parameters": [_describe(view, p) for p in view.params],
        "plans": [
            {"name": plain[p], "description": sc.plans[p].description, "reference": p == view.reference}
            for p in view.plans
        ],
        "reference": plain[view.reference],
        "reps": s.reps,
        "weeks": sc.scenario.weeks,
        "tables": _tables(view),
        "wins": _wins(view),
        "steps": _steps(view),
        "images": figures(images),
        "assumptions": _assumptions(view),
        "version": __version__,
    }
    return render_page("sweep.html.j2", context)


def write(result: SweepResult, folder: str | os.PathLike[str]) -> Path:
    """Write folder/charts/<slug>.png and .svg for every chart, and folder/report.html; returns the report's path.

    The report is written whole (a temporary file renamed), so a failed write leaves no partial page.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    images = chart_images(all_charts(result), out / "charts")
    return write_html(render(result, images), out / "report.html")
