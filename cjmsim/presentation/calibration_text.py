"""A calibration's sentences: what the data narrow, what they cannot, the correlations, the sampler, the fit.

Every title and the headline of a calibration (its report and its charts) take their claims from
here, so they cannot disagree. The claims are about the posterior against the prior and the fit
against the data, never about the truth, which a calibration does not know: a narrow posterior
says the data leave few values plausible under the model, not that those values are right.

- :func:`band_shares`: per fitted series, the share of observed weeks inside the 90% predictive band;
- :func:`narrowed`, :func:`loose`: the parameters whose posterior 90% interval is under half
  (:data:`NARROW`) or over 80% (:data:`LOOSE`) of the prior's;
- :func:`strongest_correlation`: the pair of parameters most correlated in the posterior;
- :func:`headline`: the report's opening paragraph, all of these in plain words.

Pure text from the tables of a :class:`~cjmsim.analyses.calibration.Calibrated`: no matplotlib, no
jinja2. Plain text: matplotlib needs any '$' escaped.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from cjmsim.presentation import format as fmt

if TYPE_CHECKING:
    import pandas as pd

    from cjmsim.analyses.calibration import Calibrated

__all__ = [
    "LOOSE",
    "NARROW",
    "STRONG",
    "band_finding",
    "band_shares",
    "convergence_finding",
    "correlation",
    "correlation_finding",
    "headline",
    "loose",
    "narrowed",
    "narrowing_finding",
    "series_label",
    "strongest_correlation",
]

#: A posterior 90% interval under this share of the prior's: the data narrow the parameter down.
NARROW = 0.5
#: Over this share: the data say little about it.
LOOSE = 0.8
#: A correlation at least this strong (either sign): the data know a combination better than each.
STRONG = 0.5
#: How each count of observed.csv reads in a sentence.
_COUNTS = {"leads": "Leads", "new_customers": "New customers", "orders": "Orders", "revenue": "Revenue"}


def series_label(result: Calibrated, name: str) -> str:
    """A fitted column as a reader names it: ``orders:casual`` -> 'Orders, Casual buyer' (the segment's name)."""
    count, _, segment = name.partition(":")
    label = _COUNTS.get(count, count)
    if not segment:
        return label
    segs = result.cal.scenario.segments
    return f"{label}, {segs[segment].name or segment if segment in segs else segment}"


def band_shares(fit: pd.DataFrame) -> dict[str, float]:
    """Per series (in fit.csv's order): the share of its observed weeks with band_p05 <= observed <= band_p95.

    Weeks without a band (no valid draw) are not counted; a series without any has NaN."""
    out: dict[str, float] = {}
    for name, part in fit.groupby("series", sort=False):
        has = part.band_p05.notna() & part.band_p95.notna()
        inside = (part.observed >= part.band_p05) & (part.observed <= part.band_p95)
        out[str(name)] = float(inside[has].mean()) if has.any() else math.nan
    return out


def _quoted(name: str) -> str:
    return f"\u201c{name}\u201d"


def _widths(parameters: pd.DataFrame, keep: pd.Series) -> list[str]:
    return [f"{_quoted(str(r.parameter))} ({fmt.percent(r.width_ratio)})" for r in parameters[keep].itertuples()]


def _listed(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def narrowed(parameters: pd.DataFrame) -> list[str]:
    """The parameters the data narrow down (width ratio under :data:`NARROW`), with their ratios: '“a” (23%)'."""
    return _widths(parameters, parameters.width_ratio < NARROW)


def loose(parameters: pd.DataFrame) -> list[str]:
    """The parameters the data say little about (width ratio over :data:`LOOSE`), with their ratios."""
    return _widths(parameters, parameters.width_ratio > LOOSE)


def narrowing_finding(parameters: pd.DataFrame) -> str:
    """What the data narrow and what they cannot, in one sentence (a chart's title)."""
    tight, wide = narrowed(parameters), loose(parameters)
    parts = []
    if tight:
        parts.append(f"The data narrow {_listed(tight)} to under half of the prior's 90% interval")
    if wide:
        verb = "stays" if len(wide) == 1 else "stay"
        parts.append(f"{_listed(wide)} {verb} over 80% as wide as the prior")
    if not parts:
        return "The data narrow every parameter to between half and 80% of its prior's 90% interval"
    return "; ".join(parts)


def correlation(r: float) -> str:
    """A correlation with two decimals and a real minus sign: 0.83, \u22120.41."""
    return fmt.rounded(r, "r").replace("-", fmt.MINUS) if fmt.finite(r) else "n/a"


def strongest_correlation(correlations: pd.DataFrame) -> tuple[str, str, float] | None:
    """The two parameters most correlated in the posterior (largest absolute correlation), or None with one."""
    names = [str(n) for n in correlations.index]
    best: tuple[str, str, float] | None = None
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            r = float(correlations.iat[i, j])
            if fmt.finite(r) and (best is None or abs(r) > abs(best[2])):
                best = (a, names[j], r)
    return best


def correlation_finding(correlations: pd.DataFrame) -> str:
    """The strongest correlation in one sentence; whether it is strong (:data:`STRONG`)."""
    pair = strongest_correlation(correlations)
    if pair is None:
        return "One free parameter: no correlations"
    a, b, r = pair
    if abs(r) >= STRONG:
        way = "the higher the one, the higher the other" if r > 0 else "the higher the one, the lower the other"
        return (
            f"The strongest correlation is between {_quoted(a)} and {_quoted(b)} ({correlation(r)}: {way}): "
            "the data know a combination of the two better than each"
        )
    return f"No two parameters are strongly correlated; the strongest: {_quoted(a)} and {_quoted(b)} ({correlation(r)})"


def convergence_finding(result: Calibrated) -> str:
    """Whether the sampler meets emcee's rule of thumb (kept steps at least 50 x the autocorrelation time)."""
    c = result.convergence
    kept, tau = c["steps_kept"], c["tau_max"]
    times = fmt.multiple(kept / tau) if tau > 0 else "n/a"
    if c["converged"]:
        return (
            f"The sampler meets emcee's rule of thumb: {kept} kept steps per walker, {times} times the longest "
            f"autocorrelation time ({fmt.rounded(tau, 'w')} steps; the rule asks 50 times)"
        )
    said = next((w for w in result.warnings if w.startswith("the sampler may not have converged")), None)
    if said is not None:
        return fmt.sentence(said)
    return (
        f"The sampler may not have converged: {kept} kept steps per walker are {times} times the longest "
        f"autocorrelation time ({fmt.rounded(tau, 'w')} steps); emcee's rule asks 50 times"
    )


def band_finding(result: Calibrated) -> str:
    """The share of observed weeks inside the band, per series."""
    shares = band_shares(result.fit)
    parts = [f"{series_label(result, name)} {fmt.percent(s, 0)}" for name, s in shares.items()]
    return (
        "The share of observed weeks inside the 90% predictive band, per series (a well-calibrated fit holds "
        f"about 90%): {'; '.join(parts)}"
    )


def headline(result: Calibrated) -> str:
    """The report's opening paragraph: what the data narrow and cannot, the strongest correlation, the
    sampler's convergence, the likelihood's seed noise when it is too large to trust the intervals, and
    the fit's band shares, in plain words."""
    p = result.parameters
    tight, wide = narrowed(p), loose(p)
    said = []
    if tight:
        said.append(f"The data narrow {_listed(tight)} down: the posterior 90% interval is under half the prior's.")
    else:
        said.append("No parameter's posterior 90% interval is under half its prior's: the data narrow none down.")
    if wide:
        said.append(
            f"They say little about {_listed(wide)}: the posterior 90% interval is still over 80% as wide as "
            "the prior's."
        )
    if result.cal.dim > 1:
        said.append(correlation_finding(result.correlations) + ".")
    said.append(convergence_finding(result) + ".")
    noise = next((w for w in result.warnings if w.startswith("the simulation's own noise moves")), None)
    if noise is not None:  # the intervals' trust, said where it is read first
        said.append(fmt.sentence(noise))
    said.append(band_finding(result) + ".")
    return " ".join(said)
