"""The decision variables: the base plan's campaigns cut into audience cells and flight periods.

Every variable is the weekly budget of one cell (a campaign's segments x stages) in one period,
in units that cost the same money for every variable, so that a gradient compares returns per
unit of money and a step moves the same amount in every cell. A point ``x`` of the search turns
back into a plan's campaigns with :func:`candidate_campaigns`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cjmsim.engine import make_streams, run_plan
from cjmsim.scenario import Campaign, Scenario

__all__ = ["Variable", "campaign_levels", "candidate_campaigns", "cell_budgets", "decision_variables"]


@dataclass(frozen=True)
class Variable:
    """One decision variable: a cell of a base campaign (channel x audience) in one period."""

    campaign: int  # index of the base campaign
    campaign_name: str
    channel: str
    segments: tuple[str, ...]
    stages: tuple[str, ...]
    period: int
    windows: tuple[tuple[int, int], ...]  # active weeks [start, end)
    scale: float  # currency per week for x = 1 (x = 1: the mean planned spend of a variable)
    x0: float  # the base plan's budget of the cell, in units of scale

    @property
    def weeks(self) -> int:
        """Active weeks of the variable."""
        return sum(e - s for s, e in self.windows)

    @property
    def name(self) -> str:
        """Readable label: campaign, audience, period."""
        aud = "+".join(self.segments) + " / " + "+".join(self.stages)
        return f"{self.campaign_name}: {aud}" + (f" (period {self.period + 1})" if self.period >= 0 else "")


Cell = tuple[tuple[str, ...], tuple[str, ...], float]  # segments, stages, share of the campaign


def _cells(sc: Scenario, camp: Campaign, split: str, shares: dict[tuple[str, str], float]) -> list[Cell]:
    """A campaign's audience cells with their share of its base budget."""
    segs = tuple(camp.segments or sc.segments)
    stages = tuple(camp.stages or sc.channels[camp.channel].stages)
    if split == "none":
        parts: list[tuple[tuple[str, ...], tuple[str, ...]]] = [(segs, stages)]
    elif split == "segment":
        parts = [((g,), stages) for g in segs]
    elif split == "stage":
        parts = [(segs, (st,)) for st in stages]
    else:
        parts = [((g,), (st,)) for g in segs for st in stages]
    w = np.array([sum(shares.get((g, st), 0.0) for g in p[0] for st in p[1]) for p in parts])
    if w.sum() <= 0:
        w = np.ones(len(parts))
    w = w / w.sum()
    return [(p[0], p[1], float(wi)) for p, wi in zip(parts, w, strict=True)]


def decision_variables(sc: Scenario, plan: str, split: str, periods: int, seed: int) -> list[Variable]:
    """Split the base plan's campaigns into cells (by the units the base plan delivered to each
    segment x stage on replication 0) and periods.

    Every variable is scaled to the same money: x = 1 is the mean planned spend of a variable
    over the horizon, so a gradient compares returns per unit of money and a step moves the same
    amount in every cell."""
    W = sc.scenario.weeks
    rec = run_plan(sc, plan, make_streams(seed, 0, len(sc.segments)), sc.scenario.agents, W, threads=1)
    chans = list(sc.channels)
    segs = list(sc.segments)
    stages_all = ["unaware", "aware", "interest", "desire", "customer", "loyal", "lost"]
    bounds = [round(W * k / periods) for k in range(periods + 1)]
    out: list[Variable] = []
    specs: list[tuple[int, str, str, tuple[str, ...], tuple[str, ...], int, tuple[tuple[int, int], ...], float]] = []
    for i, camp in enumerate(sc.plans[plan].campaigns):
        if camp.trigger is not None:  # priced per message by its rule: a fixed part of the plan, no variable
            continue
        c = chans.index(camp.channel)
        units = rec.units_stage[:, :, c, :].sum(axis=0)  # (G, 7)
        shares = {(g, st): float(units[segs.index(g), stages_all.index(st)]) for g in segs for st in stages_all}
        windows = list(camp.windows_or_empty or [(0, W)])
        weeks = sum(e - s for s, e in windows)
        weekly = camp.weekly if camp.weekly is not None else (camp.total or 0.0) / max(weeks, 1)
        cells = _cells(sc, camp, split, shares)
        label = camp.name or f"{camp.channel} #{i + 1}"
        for p in range(periods):
            lo, hi = bounds[p], bounds[p + 1]
            win = tuple((max(s, lo), min(e, hi)) for s, e in windows if min(e, hi) > max(s, lo))
            if not win:
                continue
            for g, st, share in cells:
                specs.append((i, label, camp.channel, g, st, p if periods > 1 else -1, win, weekly * share))
    planned = sum(wk * sum(e - s for s, e in win) for *_, win, wk in specs)
    unit = planned / len(specs) if planned > 0 else 1.0  # planned money of one x unit
    for i, label, ch, g, st, p, win, wk in specs:
        weeks_v = sum(e - s for s, e in win)
        scale = unit / weeks_v
        out.append(Variable(i, label, ch, g, st, p, win, scale=scale, x0=wk / scale))
    return out


def campaign_levels(variables: list[Variable], x: np.ndarray, x0: np.ndarray, campaigns: int) -> np.ndarray:
    """How much of each base campaign a point keeps as it is: ``m_c = min x_i / x0_i`` over its cells.

    At the base allocation every ``m_c`` is exactly 1.0 (``x0_i / x0_i``); a cell cut to 0 makes
    its campaign's ``m_c`` 0. Cells the base plan gave nothing (``x0_i = 0``) do not count."""
    m = np.full(campaigns, np.inf)
    for i, v in enumerate(variables):
        if x0[i] > 0:
            m[v.campaign] = min(m[v.campaign], float(x[i]) / float(x0[i]))
    m[~np.isfinite(m)] = 0.0
    out: np.ndarray = np.maximum(m, 0.0)
    return out


def _weekly(camp: dict[str, Any], weeks: int) -> float:
    """A base campaign's budget per active week, as the engine reads it (``total`` spread evenly)."""
    if camp.get("weekly") is not None:
        return float(camp["weekly"])
    return float(camp.get("total") or 0.0) / max(weeks, 1)


def candidate_campaigns(
    variables: list[Variable], x: np.ndarray, W: int, base: list[dict[str, Any]], x0: np.ndarray
) -> list[dict[str, Any]]:
    """The candidate plan's campaigns: each base campaign kept at its level, then one top-up per cell.

    A point is written as ``m_c`` x the base campaign ``c`` as it is (its audience, flights and
    the engine's week-by-week spread of its money over the people in its audience; see
    :func:`campaign_levels`) plus, for every cell, a campaign of the rest of its budget,
    ``(x_i - m_c x0_i) scale_i`` a week (kept when at least 1 a week). The planned money is then
    ``cost @ x`` for any point, and at the base allocation the candidate is the base plan itself:
    every base campaign verbatim (``m_c`` is exactly 1) and no top-up, so the first evaluation of a
    search reproduces the base plan's results to the last digit. Cells with fixed budgets could not:
    a campaign spreads its money every week over whoever is in its audience then, and a fixed
    share per cell underspends where a cell's people are few (the frequency cap binds) and
    overspends nowhere. Budgets other than the base's are rounded to whole currency a week.
    """
    m = campaign_levels(variables, x, x0, len(base))
    out: list[dict[str, Any]] = []
    for c, camp in enumerate(base):
        if m[c] == 1.0 or camp.get("trigger") is not None:  # a trigger campaign is kept as it is, always
            out.append(dict(camp))  # the base campaign as it is, to the last digit
            continue
        weeks = sum(e - s for s, e in _windows(camp, W))
        weekly = round(float(m[c]) * _weekly(camp, weeks))
        if weekly >= 1:
            kept = {k: v for k, v in camp.items() if k not in ("weekly", "total")}
            out.append({**kept, "weekly": weekly})
    for i, (v, xi) in enumerate(zip(variables, x, strict=True)):
        weekly = round((float(xi) - float(m[v.campaign]) * float(x0[i])) * v.scale)
        if weekly < 1:
            continue
        cell: dict[str, Any] = {"name": v.name, "channel": v.channel, "weekly": weekly}
        cell["segments"] = list(v.segments)
        cell["stages"] = list(v.stages)
        if v.windows != ((0, W),):
            cell["flights"] = [list(w) for w in v.windows]
        out.append(cell)
    return out


def cell_budgets(
    variables: list[Variable], x: np.ndarray, W: int, base: list[dict[str, Any]], x0: np.ndarray
) -> np.ndarray:
    """Each cell's budget per active week in the candidate plan of :func:`candidate_campaigns`.

    Its top-up as written, plus its base share of its campaign kept as it is (the base campaign's
    budget as written, times ``x0_i scale_i`` over the campaign's base weekly budget), so the
    cells' totals add up to the candidate plan's planned money exactly (up to float rounding)."""
    m = campaign_levels(variables, x, x0, len(base))
    kept = np.zeros(len(base))  # the weekly budget each base campaign keeps, as written
    base_weekly = np.zeros(len(base))
    for c, camp in enumerate(base):
        weeks = sum(e - s for s, e in _windows(camp, W))
        base_weekly[c] = _weekly(camp, weeks)
        written = round(float(m[c]) * base_weekly[c])
        kept[c] = base_weekly[c] if m[c] == 1.0 else (written if written >= 1 else 0.0)
    out = np.zeros(len(variables))
    for i, (v, xi) in enumerate(zip(variables, x, strict=True)):
        top = round((float(xi) - float(m[v.campaign]) * float(x0[i])) * v.scale)
        share = x0[i] * v.scale / base_weekly[v.campaign] if base_weekly[v.campaign] > 0 else 0.0
        out[i] = (top if top >= 1 else 0.0) + kept[v.campaign] * share
    return out


def _windows(camp: dict[str, Any], W: int) -> list[tuple[int, int]]:
    """A campaign's active windows from its TOML form (flights, weeks or the whole horizon)."""
    if camp.get("flights"):
        return [(int(s), int(e)) for s, e in camp["flights"]]
    if camp.get("weeks"):
        s, e = camp["weeks"]
        return [(int(s), int(e))]
    return [(0, W)]
