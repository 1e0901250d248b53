"""Persona check: the segments whose simulated time to purchase contradicts the persona's stated one.

A segment may state ``time_before_purchase_weeks = [low, high]``, the weeks its persona takes from
first awareness to first order. :func:`warnings` gives one :class:`PersonaWarning` per segment
whose simulated median (:func:`~cjmsim.analyses.metrics.ttp_against_stated`) falls outside that
range under some plan, naming the segment and the plans. The terminal (``cjmsim run`` and
``cjmsim validate``) prints :meth:`PersonaWarning.text`; the run report's journey section says
:attr:`PersonaWarning.finding`, the same words. Plain text: the terminal escapes it, the report's
templates autoescape it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from cjmsim.analyses.metrics import ttp_against_stated
from cjmsim.presentation import format as fmt

if TYPE_CHECKING:
    from cjmsim.analyses.simulate import Result

__all__ = ["CONFIDENCE", "PersonaWarning", "basis", "median_interval", "warnings"]


#: The confidence of the median's interval: a pair is warned about when all of it is outside the range.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class PersonaWarning:
    """One segment whose simulated median weeks to first order fall outside its stated range.

    ``finding`` names the segment, each plan where the median is outside with that median, its
    interval and the first orders it is of, and the stated range; ``basis`` says what the median is
    of (the horizon, the runs and agents); ``plans`` are those plans' ids."""

    segment: str
    plans: list[str]
    finding: str
    basis: str

    def text(self) -> str:
        """The warning as one line of text (without the ``warning:`` prefix)."""
        return f"{self.finding}; {self.basis}."


def _weeks(x: float) -> str:
    return f"{x:.0f} week{'s' if x != 1 else ''}"


def _orders(n: int) -> str:
    return f"{n:,} first order{'s' if n != 1 else ''}"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def basis(result: Result) -> str:
    """What a simulated median time to purchase is of: the first orders within the horizon, from
    how many runs at how many agents (a median of a single run is noisy, and longer waits cannot show)."""
    runs = "one run" if result.reps == 1 else f"{result.reps} runs pooled"
    return (
        f"a median of the first orders within the {result.weeks}-week horizon (longer waits cannot show), "
        f"from {runs} at {result.agents:,} agents"
    )


def median_interval(hist: np.ndarray) -> tuple[float, float]:
    """A distribution-free :data:`CONFIDENCE` interval for the median week of a histogram of
    simulated first orders (``hist[w]`` agents at w weeks): the order statistics whose ranks a
    Binomial(n, 1/2) brackets (coverage at least the confidence, less ties); -inf or inf where
    the sample is too small to bound that side."""
    n = int(round(float(hist.sum())))
    if n <= 0:
        return -math.inf, math.inf
    r = int(stats.binom.ppf((1 - CONFIDENCE) / 2, n, 0.5))  # P(fewer than r below the median) <= 2.5%
    cum = np.cumsum(hist)
    low = float(np.searchsorted(cum, r - 0.5, side="left")) if r >= 1 else -math.inf
    high = float(np.searchsorted(cum, n - r + 0.5, side="left")) if n - r + 1 <= n else math.inf
    return low, high


def _interval(low: float, high: float) -> str:
    if math.isinf(low) and math.isinf(high):
        return "unbounded"
    if math.isinf(high):
        return f"{low:.0f} weeks or more"
    if math.isinf(low):
        return f"up to {_weeks(high)}"
    return _weeks(low) if low == high else f"{low:.0f}{fmt.DASH}{_weeks(high)}"


def warnings(result: Result, *, clear: bool = True) -> list[PersonaWarning]:
    """One warning per segment whose simulated median weeks from first awareness to first order
    fall outside its ``time_before_purchase_weeks`` under at least one plan of the run (segments
    in scenario order, plans in the run's).

    With ``clear`` (the terminal's warnings) only the plans whose whole :func:`median_interval`
    lies outside the range count, so a median of a few first orders is no alarm; without it (the
    report, which shows the intervals) every plan whose median is outside does."""
    sc = result.scenario
    facts = ttp_against_stated(result.ttp, sc.segments, result.plans)
    out = facts[facts.outside.fillna(False).astype(bool)]
    why = basis(result)
    t = result.ttp[result.ttp.customers > 0]
    per_agent = result.reps / sc.weight  # ttp holds people, mean over replications: back to simulated agents
    found = []
    for sid, seg in sc.segments.items():
        band = seg.time_before_purchase_weeks
        if band is None:
            continue
        lo, hi = band
        plans, medians = [], []
        for r in out[out.segment == sid].itertuples():
            d = t[(t.plan == r.plan) & (t.segment == sid)]
            hist = np.bincount(d.weeks.to_numpy(dtype=np.int64), weights=d.customers.to_numpy(dtype=float) * per_agent)
            low, high = median_interval(hist)
            if clear and lo <= high and low <= hi:
                continue  # the interval overlaps the stated range: too few first orders to tell
            plan = str(r.plan)
            plans.append(plan)
            medians.append(
                f"{_weeks(float(r.median_weeks))} in plan \u201c{sc.plans[plan].name or plan}\u201d "
                f"({100 * CONFIDENCE:.0f}% interval {_interval(low, high)}, {_orders(round(hist.sum()))})"
            )
        if not plans:
            continue
        stated = _weeks(lo) if lo == hi else f"{lo:g}{fmt.DASH}{hi:g} weeks"
        finding = (
            f"segment \u201c{seg.name or sid}\u201d takes a simulated median of {_and(medians)} from first "
            f"awareness to first order, outside its persona's stated {stated} (time_before_purchase_weeks)"
        )
        found.append(PersonaWarning(sid, plans, finding, why))
    return found
