"""The executive summary at the top of every report: what to do, how sure, and why.

Every claim goes through :mod:`cjmsim.presentation.verdict`: a plan is recommended, and a segment
or a channel said to drive a difference, only where the 95% CI of the paired difference (same
replications, customers and random numbers) excludes zero. The functions return plain data (text
and pre-formatted numbers) for ``templates/summary.html.j2``; the templates escape it.

- :func:`run_summary`: the recommended plan (the highest incremental margin less spend whose paired
  difference from the reference excludes zero), its paired effects, the segments and channels
  behind them, and the scenario's targets beside the simulated ratios;
- :func:`sweep_summary`: at how many points each plan beats the reference beyond noise;
- :func:`attribution_summary`: the plan's effect over no marketing, the channels that add to it
  beyond noise, and where extra budget repays beyond noise.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from cjmsim.analyses.metrics import paired_ratio
from cjmsim.presentation import format as fmt
from cjmsim.presentation import verdict as vd
from cjmsim.scenario import metrics as registry

if TYPE_CHECKING:
    import pandas as pd

    from cjmsim.analyses.attribution import Attribution
    from cjmsim.analyses.simulate import Result
    from cjmsim.presentation.charts.sweep import SweepView

__all__ = ["NET", "attribution_summary", "effect_cell", "net_verdict", "ratio_text", "run_summary", "sweep_summary"]

#: What the recommendation maximizes, in words: ``inc_margin - spend`` (the same paired difference
#: as ``margin - spend``: the no-marketing run is shared by every plan of a replication).
NET = "incremental margin less spend"


# --------------------------------------------------------------------------------------------
# numbers in words


def _amount(x: float, kind: str, currency: str, signed: bool = False) -> str:
    """A value as the summary writes it: 3 significant digits, the currency after money."""
    text = fmt.signed(x, kind) if signed else fmt.rounded(x, kind)
    return f"{text} {currency}" if kind == "m" and currency and fmt.finite(x) else text


def _ci(low: float, high: float, kind: str, currency: str = "") -> str:
    """'95% CI +1.2k to +1.9k RUB', or '' without an interval."""
    if not (fmt.finite(low) and fmt.finite(high)):
        return ""
    unit = f" {currency}" if kind == "m" and currency else ""
    return f"95% CI {fmt.signed(low, kind)} to {fmt.signed(high, kind)}{unit}"


def ratio_text(ratio: float, low: float, high: float) -> str:
    """A paired ratio of means with its 95% CI: '\u00d71.131 [1.124, 1.137]', 'n/a' without a ratio."""
    if not fmt.finite(ratio):
        return "n/a"
    text = f"\u00d7{ratio:.3f}"
    return text + (f" [{low:.3f}, {high:.3f}]" if fmt.finite(low) and fmt.finite(high) else "")


def _better(name: str) -> Any:
    return registry.metric(name).better


def _empty(kind: str, reference: str, targets: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A summary with every key the template reads, empty."""
    return {
        "kind": kind,
        "reference": reference,
        "headline": "",
        "sure": "",
        "recommended": "",
        "plans": [],
        "effects": [],
        "focus": "",
        "drivers": [],
        "targets": targets or [],
        "notes": [],
    }


# --------------------------------------------------------------------------------------------
# the run


def _values(result: Result, plan: str, metric: str, segment: str = "all") -> list[float]:
    """One metric of one plan and segment, replication by replication (in replication order)."""
    r = result.per_rep
    d = r[(r.plan == plan) & (r.segment == segment)].sort_values("rep")
    return [float(x) for x in d[metric]] if metric in d.columns else []


def _net(result: Result, plan: str) -> list[float]:
    return [m - s for m, s in zip(_values(result, plan, "margin"), _values(result, plan, "spend"), strict=True)]


def net_verdict(result: Result, plan: str, other: str) -> vd.Verdict:
    """The verdict of ``plan``'s paired difference from ``other`` in margin less spend (:data:`NET`)."""
    d, lo, hi, n = vd.paired(_net(result, plan), _net(result, other))
    return vd.verdict(d, lo, hi, n, "higher")


def _difference(result: Result, plan: str, metric: str, segment: str = "all") -> pd.Series | None:
    d = result.differences
    if not len(d):
        return None
    row = d[(d.plan == plan) & (d.segment == segment) & (d.metric == metric)]
    return row.iloc[0] if len(row) else None


def _effects(result: Result, plans: list[str]) -> list[dict[str, Any]]:
    """The paired effects table: one row per metric, one cell per plan against the reference."""
    cur = result.scenario.scenario.currency
    inc = result.incremental
    names = ("inc_orders", "icpo", "revenue", "inc_margin") if inc else ("orders", "cpo", "revenue", "margin")
    rows = []
    for m in names:
        meta = registry.metric(m)
        cells = []
        for p in plans:
            r = _difference(result, p, m)
            if r is None:
                cells.append({"value": "n/a", "ci": "", "ratio": "", "state": ""})
                continue
            v = vd.verdict(r["diff"], r.diff_ci_low, r.diff_ci_high, int(r.reps), meta.better)
            cells.append(effect_cell(v, meta.code, ratio_text(r.ratio, r.ratio_ci_low, r.ratio_ci_high)))
        rows.append({"label": meta.long_label, "unit": cur if meta.money else "", "cells": cells})
    cells = [effect_cell(net_verdict(result, p, result.reference), "m", "") for p in plans]
    rows.append({"label": NET[0].upper() + NET[1:], "unit": cur, "cells": cells})
    return rows


def effect_cell(v: vd.Verdict, kind: str, ratio: str) -> dict[str, Any]:
    """A paired effect as the summary shows it: the signed difference, its 95% CI in words, the ratio, and its
    state (better, worse, clear: distinguishable on a metric without a better side, or '')."""
    state = {True: "better", False: "worse", None: "clear" if v.distinguishable else ""}[v.improves]
    return {
        "value": _amount(v.diff, kind, "", signed=True),
        "ci": _ci(v.low, v.high, kind),
        "ratio": ratio,
        "state": state,
    }


def _recommend(result: Result, others: list[str]) -> tuple[str | None, str | None, dict[str, vd.Verdict]]:
    """(the recommended plan or None, the best plan by mean, each plan's verdict of NET vs the reference)."""
    verdicts = {p: net_verdict(result, p, result.reference) for p in others}
    known = {p: v for p, v in verdicts.items() if fmt.finite(v.diff)}
    best = max(known, key=lambda p: known[p].diff) if known else None
    winners = [p for p, v in known.items() if v.improves]
    return (max(winners, key=lambda p: known[p].diff) if winners else None), best, verdicts


def _with_effects(result: Result, plan: str) -> str:
    """', with +21,900 incremental orders (95% CI ...), iCPO ×0.557 [...], revenue ×1.615 [...]': the
    recommended plan's other paired effects, each with its CI; only those whose CI excludes zero
    (for ratios: excludes 1) are said."""
    cur = result.scenario.scenario.currency
    inc = result.incremental
    parts = []
    for m in (
        "inc_orders" if inc else "orders",
        "icpo" if inc else "cpo",
        "revenue",
        "inc_margin" if inc else "margin",
    ):
        r = _difference(result, plan, m)
        if r is None or not vd.verdict(r["diff"], r.diff_ci_low, r.diff_ci_high, int(r.reps)).distinguishable:
            continue
        meta = registry.metric(m)
        if m in ("inc_orders", "orders"):
            parts.append(
                f"{_amount(r['diff'], 'n', cur, True)} {meta.short} ({_ci(r.diff_ci_low, r.diff_ci_high, 'n')})"
            )
        else:
            parts.append(f"{meta.short} {ratio_text(r.ratio, r.ratio_ci_low, r.ratio_ci_high)}")
    return ", with " + ", ".join(parts) if parts else ""


def _headline(
    result: Result, names: dict[str, str], rec: str | None, best: str | None, verdicts: dict[str, vd.Verdict]
) -> tuple[str, str]:
    """The one-sentence recommendation and the "how sure" sentence."""
    cur, ref, n = result.scenario.scenario.currency, result.reference, result.reps
    if rec is not None:
        v = verdicts[rec]
        head = (
            f"Recommended: {names[rec]}. Against {names[ref]} it earns {_amount(v.diff, 'm', cur, True)} more "
            f"{NET} ({_ci(v.low, v.high, 'm', cur)}){_with_effects(result, rec)}."
        )
        sure = (
            f"Sure beyond simulation noise: the 95% CI of the paired difference excludes zero over {n} "
            "replications on the same customers and random numbers. It measures simulation noise only, not the "
            "uncertainty of the scenario's assumptions."
        )
        return head, sure
    if n < 2:
        return (
            f"No recommendation: {vd.ONE_REP}.",
            "A single replication has no confidence interval, so no difference below is known to be more than "
            "simulation noise; the summary claims no winner and no ranking.",
        )
    worse = [p for p, v in verdicts.items() if v.improves is False]
    if best is None:
        return f"No recommendation: {NET} is not known for every plan.", ""
    if len(worse) == len(verdicts):
        return (
            f"Keep {names[ref]}: every other plan earns less {NET} (beyond noise).",
            f"Each paired 95% CI lies below zero over {n} replications.",
        )
    v = verdicts[best]
    return (
        f"No plan is recommended over {names[ref]}: none earns distinguishably more {NET}.",
        f"The largest mean difference, {names[best]}'s ({_amount(v.diff, 'm', cur, True)}, "
        f"{_ci(v.low, v.high, 'm', cur)}), is within noise: {v.undecided(names[best], names[ref])}.",
    )


def _segment_drivers(result: Result, plan: str, names: dict[str, str]) -> str:
    """Which segments carry the plan's paired difference in incremental margin (where their CI excludes 0)."""
    cur, ref = result.scenario.scenario.currency, result.reference
    metric = "inc_margin" if result.incremental else "margin"
    seg_names = {s: seg.name or s for s, seg in result.scenario.segments.items()}
    found = []
    for s in seg_names:
        r = _difference(result, plan, metric, s)
        if r is not None:
            found.append((s, vd.verdict(r["diff"], r.diff_ci_low, r.diff_ci_high, int(r.reps), "higher")))
    if not found:
        return ""
    what = registry.metric(metric).short
    if result.reps < 2:
        return f"Segments: {vd.ONE_REP}."
    up = sorted((x for x in found if x[1].side == "higher"), key=lambda x: -x[1].diff)
    down = sorted((x for x in found if x[1].side == "lower"), key=lambda x: x[1].diff)
    if not up and not down:
        return f"Segments: no segment's {what} differs from {names[ref]}'s beyond noise at {result.reps} replications."

    def said(found: list[tuple[str, vd.Verdict]]) -> str:  # names may hold commas: semicolons between
        return "; ".join(f"{seg_names[s]} ({_amount(v.diff, 'm', cur, True)})" for s, v in found)

    parts = ([f"more from {said(up[:3])}"] if up else []) + ([f"less from {said(down[:2])}"] if down else [])
    return f"Segments ({what} against {names[ref]}, where the 95% CI excludes zero): " + ". Then ".join(parts) + "."


def _channel_drivers(result: Result, plan: str, names: dict[str, str]) -> str:
    """Where the money moved: each channel's spend in the plan against the reference, the biggest moves."""
    w = result.weekly[result.weekly.segment == "all"]
    chans = {c: ch.name or c for c, ch in result.scenario.channels.items() if f"spend_{c}" in w.columns}
    if not chans:
        return ""
    cur = result.scenario.scenario.currency
    by = w.groupby("plan")[[f"spend_{c}" for c in chans]].sum()
    moves = {c: float(by.at[plan, f"spend_{c}"] - by.at[result.reference, f"spend_{c}"]) for c in chans}
    total = sum(moves.values())
    big = sorted(
        (c for c in moves if abs(moves[c]) > 0.005 * max(abs(v) for v in moves.values())), key=lambda c: -abs(moves[c])
    )[:4]
    if not big:
        return f"Channels: {names[plan]} spends as {names[result.reference]} does on every channel."
    said = "; ".join(f"{fmt.short_name(chans[c])} {_amount(moves[c], 'm', cur, True)}" for c in big)
    against = f"spend against {names[result.reference]}, {_amount(total, 'm', cur, True)} in all"
    if "intervention_spend" in w.columns:  # non-media: apart from the channels' media spend
        iv = w.groupby("plan").intervention_spend.sum()
        moved = float(iv[plan] - iv[result.reference])
        if moved:
            against = f"media {against}"
            said += f"; besides, interventions {_amount(moved, 'm', cur, True)}"
    return f"Channels of {names[plan]} ({against}): {said}."


def _band(goal: float, tolerance: float, better: Any) -> str:
    """A target in words: '×0.50, at most ×0.60', '×1.50 or more', '×0.90 to ×1.10'."""
    if better == "lower":
        return f"×{goal:.2f}" + (f", at most ×{goal + tolerance:.2f}" if tolerance else " or less")
    if better == "higher":
        return f"×{goal:.2f}" + (f", at least ×{goal - tolerance:.2f}" if tolerance else " or more")
    return f"×{goal - tolerance:.2f} to ×{goal + tolerance:.2f}" if tolerance else f"×{goal:.2f}"


def _targets(result: Result, names: dict[str, str]) -> list[dict[str, Any]]:
    """Each scenario target beside the simulated paired ratio and its CI: met, not met, undecided or untested."""
    rows = []
    for t in result.scenario.targets:
        meta = registry.metric(t.metric)
        goal = t.target_ratio
        band = _band(goal, t.tolerance, meta.better)
        row: dict[str, Any] = {
            "plan": names.get(t.plan, t.plan),
            "versus": names.get(t.versus, t.versus),
            "metric": meta.long_label,
            "target": band,
            "note": t.note,
            "source": t.source,
        }
        if t.plan not in result.plans or t.versus not in result.plans:
            row.update(simulated="n/a", status="untested", text="not in this run (a plan was left out)")
        else:
            ratio, lo, hi = paired_ratio(
                np.asarray(_values(result, t.plan, t.metric)), np.asarray(_values(result, t.versus, t.metric))
            )
            judged = vd.target_status(ratio, lo, hi, goal, t.tolerance, meta.better)
            row.update(simulated=ratio_text(ratio, lo, hi), status=judged.status, text=judged.text)
        rows.append(row)
    return rows


def run_summary(result: Result) -> dict[str, Any]:
    """The run report's executive summary (see the module docstring), as data for ``summary.html.j2``."""
    names = {p: result.scenario.plans[p].name or p for p in result.plans}
    ref = result.reference or result.plans[0]
    others = [p for p in result.plans if p != ref]
    out = _empty("run", names.get(ref, ref), _targets(result, names))
    out["plans"] = [names[p] for p in others]
    if not others:
        tot = result.totals().loc[ref]
        cur = result.scenario.scenario.currency
        out["headline"] = (
            f"One plan, {names[ref]}: {fmt.count(tot.orders)} orders for {_amount(tot.spend, 'm', cur)}; "
            "there is nothing to compare it with."
        )
        out["sure"] = ""
        return out
    rec, best, verdicts = _recommend(result, others)
    out["headline"], out["sure"] = _headline(result, names, rec, best, verdicts)
    out["recommended"] = names[rec] if rec else ""
    out["effects"] = _effects(result, others)
    if result.reps < 2:  # no ranking: where the money moved, plan by plan (spend is a fact, not an estimate)
        out["drivers"] = [x for x in (_channel_drivers(result, p, names) for p in others) if x]
    elif (focus := rec or best) is not None:
        out["focus"] = names[focus] if rec else f"{names[focus]} against {names[ref]} (not a recommendation)"
        out["drivers"] = [
            x for x in (_segment_drivers(result, focus, names), _channel_drivers(result, focus, names)) if x
        ]
    if result.reps < 3:
        out["notes"].append(
            f"This run has {result.reps} replication{'s' if result.reps != 1 else ''}: run with --reps 5 (3 at "
            "least) for confidence intervals that can tell the plans apart."
        )
    if not result.incremental:
        out["notes"].append(
            "Run without the no-marketing baseline: totals shown, including orders that would come anyway."
        )
    return out


# --------------------------------------------------------------------------------------------
# the sweep and the attribution


def sweep_summary(view: SweepView, metric: str) -> dict[str, Any]:
    """A sweep's summary: for the ranking metric, at how many points each plan beats (or trails) the
    reference beyond noise; the replications needed where none does."""
    ref = view.reference
    others = [p for p in view.plans if p != ref]
    meta = registry.metric(metric)
    out = _empty("sweep", view.plain[ref])
    if not others or not len(view.diffs) or f"{metric}_diff" not in view.diffs.columns:
        out["headline"] = f"One plan, {view.plain[ref]}: the sweep shows what the varied settings do to it."
        out["sure"] = ""
        return out
    if view.reps < 2:
        out["headline"] = f"No plan is ranked: {vd.ONE_REP}."
        out["sure"] = "A single replication per point has no confidence interval."
        return out
    lines, needs = [], []
    for p in others:
        d = view.diffs[view.diffs.plan == p]
        vs = [
            vd.verdict(
                r[f"{metric}_diff"], r[f"{metric}_diff_ci_low"], r[f"{metric}_diff_ci_high"], view.reps, meta.better
            )
            for _, r in d.iterrows()
        ]
        good, bad = sum(v.improves is True for v in vs), sum(v.improves is False for v in vs)
        needs += [v.needed for v in vs if not v.distinguishable and v.needed]
        lines.append(
            f"{view.plain[p]} beats {view.plain[ref]} on {meta.short} beyond noise at {good} of {len(vs)} "
            f"points and trails it at {bad}"
        )
    out["headline"] = "; ".join(lines) + "."
    span = (
        f"{min(needs):,}" if needs and min(needs) == max(needs) else f"{min(needs or [0]):,} to {max(needs or [0]):,}"
    )
    undecided = f"; where not, about {span} replications would be needed" if needs else ""
    out["sure"] = (
        f"Paired 95% CIs over {view.reps} replications (same customers and random numbers at each point); "
        f"a point counts only where its CI excludes zero{undecided}. With many points, about one in twenty "
        "can pass by chance."
    )
    return out


def attribution_summary(attr: Attribution, currency: str, names: dict[str, str]) -> dict[str, Any]:
    """An attribution's summary: the plan's effect over no marketing, the channels whose contribution and
    whose marginal ROAS are known beyond noise."""
    t = attr.table[attr.table.segment == "all"].drop_duplicates("channel").set_index("channel")
    reps = int(attr.runs["rep"].nunique()) if "rep" in attr.runs else 1
    out = _empty("attribution", "no marketing")

    def get(col: str, ch: str) -> float:
        v = t.at[ch, col] if col in t.columns and ch in t.index else math.nan
        return float(v) if fmt.finite(v) else math.nan

    def judged(col: str, ch: str, better: Any, zero: float = 0.0) -> vd.Verdict:
        return vd.verdict(
            get(col, ch) - zero, get(f"{col}_ci_low", ch) - zero, get(f"{col}_ci_high", ch) - zero, reps, better
        )

    total = judged("incremental_orders", "total", "higher")
    margin = judged("incremental_margin", "total", "higher")
    orders, money = fmt.rounded(total.diff, "n"), _amount(margin.diff, "m", currency)
    if reps < 2:
        head = f"The plan against no marketing, one replication: {orders} orders and {money} of gross margin (no CI)."
    elif total.improves and margin.improves:
        head = (
            f"The plan adds {orders} orders over no marketing ({_ci(total.low, total.high, 'n')}) and {money} of "
            f"gross margin ({_ci(margin.low, margin.high, 'm', currency)})."
        )
    else:
        said = [
            f"on {what}, the plan adds {amount} ({ci})"
            if v.improves
            else f"on {what}, {v.undecided('the plan', 'no marketing')}"
            for what, v, amount, ci in (
                ("orders", total, orders, _ci(total.low, total.high, "n")),
                ("gross margin", margin, money, _ci(margin.low, margin.high, "m", currency)),
            )
        ]
        head = "Against no marketing: " + "; ".join(said) + "."
    out["headline"] = head
    if reps < 2:
        out["sure"] = f"Channels are not ranked: {vd.ONE_REP}."
        return out
    col = (
        "shapley_orders"
        if "shapley_orders" in t.columns and t["shapley_orders"].notna().any()
        else "incremental_orders"
    )
    adds = [c for c in attr.channels if judged(col, c, "higher").improves]
    none_clear = [c for c in attr.channels if not judged(col, c, "higher").distinguishable]
    out["drivers"].append(
        (
            "Channels that add orders beyond noise: " + "; ".join(names.get(c, c) for c in adds) + "."
            if adds
            else "No channel's contribution to orders is distinguishable from zero beyond noise."
        )
        + (
            f" Not distinguishable from zero at {reps} replications: {'; '.join(names.get(c, c) for c in none_clear)}."
            if adds and none_clear
            else ""
        )
    )
    repays = [c for c in attr.channels if judged("marginal_roas", c, "higher", 1.0).improves]
    short = [c for c in attr.channels if judged("marginal_roas", c, "higher", 1.0).improves is False]
    out["drivers"].append(
        "Extra 10% budget repays its cost in revenue beyond noise on: "
        + ("; ".join(names.get(c, c) for c in repays) or "no channel")
        + (f". It falls short beyond noise on: {'; '.join(names.get(c, c) for c in short)}" if short else "")
        + "."
    )
    out["sure"] = (
        f"95% CIs over {reps} replications; a channel is named only where its CI excludes zero (for marginal "
        "ROAS: excludes 1, the break-even on revenue)."
    )
    return out
