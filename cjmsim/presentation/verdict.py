"""Verdicts: the one rule by which every title, caption and summary may claim a winner.

A winner, a ranking or a "more / less" is claimed only where the 95% confidence interval of the
*paired* difference (the same replications, customers and random numbers) excludes zero. Otherwise
the text says the plans are not distinguishable at this number of replications and how many would
be needed, estimated from the observed spread; with one replication there is no interval and no
claim at all. Targets (a scenario's ``[[targets]]``) are judged the same way on a ratio's CI.

Pure functions of plain floats: no numpy, no pandas. The Student-t quantile is exact to four
decimals for up to 30 degrees of freedom (a table) and a Cornish-Fisher expansion beyond (error
below 1e-5 there), so no scipy is needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal, TypeVar

__all__ = [
    "MAX_REPS",
    "ONE_REP",
    "TargetCheck",
    "Verdict",
    "beyond",
    "clear_leader",
    "leader",
    "needed_text",
    "paired",
    "replications_needed",
    "t975",
    "target_status",
    "verdict",
]

K = TypeVar("K", bound=Hashable)

#: The most replications :func:`replications_needed` counts to; beyond, "more than 1,000".
MAX_REPS = 1000
#: What any comparison says with a single replication.
ONE_REP = "one replication: run --reps 3 or more to compare"

# t_{0.975, df} for df = 1..30 (scipy.stats.t.ppf(0.975, df), rounded to 4 decimals; tested)
_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip
_Z975 = NormalDist().inv_cdf(0.975)


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (``df >= 1``).

    A table to df 30, then the Cornish-Fisher expansion in 1/df to the third order."""
    if df < 1:
        raise ValueError("df must be >= 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z, v = _Z975, float(df)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def replications_needed(diff: float, low: float, high: float, reps: int, cap: int = MAX_REPS) -> int | None:
    """How many replications would make a paired difference of this size distinguishable from zero.

    The spread is read off the interval: ``sd = half_width * sqrt(reps) / t(reps - 1)``; the answer
    is the smallest n with ``t(n - 1) * sd / sqrt(n) < |diff|``. ``cap + 1`` when even ``cap`` would
    not do; None when it cannot be told (one replication, no interval, a zero difference)."""
    if reps < 2 or not (_finite(diff) and _finite(low) and _finite(high)) or diff == 0:
        return None
    sd = (high - low) / 2 * math.sqrt(reps) / t975(reps - 1)
    if sd <= 0:
        return reps
    for n in range(2, cap + 1):
        if t975(n - 1) * sd / math.sqrt(n) < abs(diff):
            return n
    return cap + 1


def needed_text(needed: int | None, cap: int = MAX_REPS) -> str:
    """'about 12 replications would tell them apart', 'more than 1,000 replications ...', or ''."""
    if needed is None:
        return ""
    if needed > cap:
        return f"more than {cap:,} replications would be needed (the difference is small against the noise)"
    return f"about {needed:,} replications would tell them apart"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a paired difference (a plan minus its reference) lets a page claim.

    Attributes:
        diff, low, high: the mean paired difference and its 95% CI (NaN without an interval).
        reps: the replications it comes from.
        better: which way is better for the metric (``"higher"``, ``"lower"`` or None).
        side: ``"higher"`` or ``"lower"`` (the plan against the reference) where the CI excludes
            zero; None where it does not, or there is no CI.
        needed: replications estimated to tell them apart when not distinguishable (see
            :func:`replications_needed`), else None.
    """

    diff: float
    low: float
    high: float
    reps: int
    better: Literal["higher", "lower"] | None
    side: Literal["higher", "lower"] | None
    needed: int | None

    @property
    def distinguishable(self) -> bool:
        """Whether the CI excludes zero, so a direction may be claimed."""
        return self.side is not None

    @property
    def improves(self) -> bool | None:
        """True: the plan is better than the reference beyond noise; False: worse beyond noise;
        None: not distinguishable, or the metric has no better direction."""
        if self.side is None or self.better is None:
            return None
        return self.side == self.better

    def undecided(self, a: str = "the plans", b: str = "", on: str = "") -> str:
        """Why no claim is made: '<a> and <b> are not distinguishable [on <on>] at 3 replications;
        about 12 replications would tell them apart'.

        With one replication: :data:`ONE_REP`. Empty when the verdict is distinguishable."""
        if self.distinguishable:
            return ""
        if self.reps < 2 or not (_finite(self.low) and _finite(self.high)):
            return ONE_REP
        who = f"{a} and {b} are" if b else f"{a} are"
        where = f" on {on}" if on else ""
        if self.diff == 0:
            return f"{who} identical{where} in all {self.reps} replications"
        more = needed_text(self.needed)
        return f"{who} not distinguishable{where} at {self.reps} replications" + (f"; {more}" if more else "")


def verdict(
    diff: float, low: float, high: float, reps: int, better: Literal["higher", "lower"] | None = None
) -> Verdict:
    """The verdict of a paired difference: a side only where its 95% CI excludes zero."""
    ok = reps >= 2 and _finite(low) and _finite(high) and _finite(diff)
    side: Literal["higher", "lower"] | None = None
    if ok and low > 0:
        side = "higher"
    elif ok and high < 0:
        side = "lower"
    needed = None if side is not None else replications_needed(diff, low, high, reps)
    return Verdict(float(diff), float(low), float(high), int(reps), better, side, needed)


def paired(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float, int]:
    """Mean paired difference ``a - b`` of replication values with its Student-t 95% CI, and the
    number of pairs; pairs with a non-finite value are dropped; NaN CI with fewer than two pairs."""
    d = [float(x) - float(y) for x, y in zip(a, b, strict=True) if _finite(float(x)) and _finite(float(y))]
    n = len(d)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = math.fsum(d) / n
    if n < 2:
        return mean, math.nan, math.nan, n
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in d) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half, n


def leader(
    values: Mapping[K, float],
    compare: Callable[[K, K], Verdict],
    better: Literal["higher", "lower"],
) -> K | None:
    """The plan that leads on a metric beyond noise, or None.

    ``values``: the metric's mean per plan; ``compare(a, b)``: the verdict of a's paired difference
    from b. The best plan by mean leads only where its verdict against every other plan with a
    value says it is better (the CI excludes zero on the better side)."""
    known = {p: v for p, v in values.items() if _finite(v)}
    if len(known) < 2:
        return None
    sign = 1.0 if better == "higher" else -1.0
    best = max(known, key=lambda p: sign * known[p])
    if all(compare(best, p).improves for p in known if p != best):
        return best
    return None


def clear_leader(estimates: Mapping[K, tuple[float, float, float]], better: Literal["higher", "lower"]) -> K | None:
    """The key whose 95% CI lies wholly beyond every other key's CI on the better side, or None.

    ``estimates``: key -> (mean, CI low, CI high), each over the same replications. For a table
    that keeps only intervals (the attribution's channels), this stands in for the paired rule and
    is stricter: when two intervals of the same replications do not overlap, the paired interval of
    their difference excludes zero (its half-width is at most the sum of theirs, since
    ``sd(a - b) <= sd(a) + sd(b)``). Never a leader without intervals (one replication)."""
    known = {k: e for k, e in estimates.items() if all(_finite(x) for x in e)}
    if len(known) < 2 or len(known) < len([e for e in estimates.values() if _finite(e[0])]):
        return None
    sign = 1.0 if better == "higher" else -1.0
    best = max(known, key=lambda k: sign * known[k][0])
    _, lo, hi = known[best]
    if better == "higher" and all(lo > e[2] for k, e in known.items() if k != best):
        return best
    if better == "lower" and all(hi < e[1] for k, e in known.items() if k != best):
        return best
    return None


def beyond(low: float, high: float, level: float) -> Literal["above", "below"] | None:
    """Whether a 95% CI lies wholly above or below a level (a break-even, a share); None if it
    straddles it or there is no interval."""
    if not (_finite(low) and _finite(high)):
        return None
    return "above" if low > level else "below" if high < level else None


# --------------------------------------------------------------------------------------------
# targets


@dataclass(frozen=True, slots=True)
class TargetCheck:
    """A target judged on a paired ratio: met, not met or undecided.

    Attributes:
        status: ``"met"`` (the ratio's CI lies inside the acceptable region), ``"not met"`` (it
            lies outside), ``"undecided"`` (it straddles an edge) or ``"untested"`` (no CI: one
            replication).
        low, high: the acceptable region of the ratio (infinite on the better side).
        text: the status in words.
    """

    status: Literal["met", "not met", "undecided", "untested"]
    low: float
    high: float
    text: str


def target_status(
    ratio: float,
    ci_low: float,
    ci_high: float,
    target: float,
    tolerance: float = 0.0,
    better: Literal["higher", "lower"] | None = None,
) -> TargetCheck:
    """Judge a simulated paired ratio (with its 95% CI) against a target ratio.

    The acceptable region is ``[target - tolerance, target + tolerance]``, open on the metric's
    better side (a CPO below a CPO target meets it; revenue above a revenue target too): met when
    the whole CI lies in it, not met when the whole CI lies outside, undecided when it straddles,
    untested without a CI (one replication)."""
    lo = -math.inf if better == "lower" else target - tolerance
    hi = math.inf if better == "higher" else target + tolerance
    if not (_finite(ci_low) and _finite(ci_high)):
        return TargetCheck("untested", lo, hi, "untested: " + ONE_REP if _finite(ratio) else "n/a")
    if lo <= ci_low and ci_high <= hi:
        return TargetCheck("met", lo, hi, "met: the whole 95% CI is on target")
    if ci_high < lo or ci_low > hi:
        return TargetCheck("not met", lo, hi, "not met: the whole 95% CI misses the target")
    return TargetCheck("undecided", lo, hi, "undecided: the 95% CI straddles the target's edge")
