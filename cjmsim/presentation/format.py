"""Numbers as a reader wants them: the one formatter family of every chart and HTML report.

Pure functions of plain values (no matplotlib, no jinja2), so the terminal tables can use them too.
A value's *kind* says what it is: ``n`` a count of people or orders, ``m`` money, ``p`` a share
(0.25 is 25%), ``w`` weeks, ``r`` a ratio. Three styles, each for one kind of page:

- **chart text** (:func:`count`, :func:`compact`, :func:`money`, :func:`percent`): titles, bar
  labels and axis ticks of the run charts, e.g. ``12,300``, ``2.5M``, ``4.79M RUB``, ``23%``;
- **rounded** (:func:`rounded`, :func:`table_value`, :func:`half_width`, :func:`tick`): three
  significant digits, millions and billions as M and B, for means of samples in the sweep,
  attribution and optimizer charts and tables, e.g. ``61.5M ± 0.687M``;
- **fixed** (:func:`fixed`, :func:`fixed_half_width`): fixed decimals per kind, as the run report
  prints a run, e.g. ``1,234,567`` and ``12.34`` for small money;
- **terminal** (:func:`terminal`, :func:`terminal_ci`, :func:`terminal_diff`, :func:`terminal_ratio`,
  :func:`terminal_interval`): every table the command line prints: three significant digits from a
  million, as ``M`` and ``bn`` with a space, the CI half-width in the value's unit, e.g. ``4.79 bn
  \u00b1 0.53 bn``, ``58,200 \u00b1 1,906``, ``414% \u00b1 46%``; an interval that need not be
  symmetric (a posterior's) by its ends, e.g. ``1,575 [1,508, 1,643]``.

Changes and multiples: :func:`signed`, :func:`signed_percent`, :func:`change`,
:func:`budget_change`, :func:`multiple`. A missing or non-finite value is ``n/a`` in chart text
and a dash in tables; no function raises on one.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

__all__ = [
    "DASH",
    "MINUS",
    "finite",
    "ratio",
    "count",
    "compact",
    "money",
    "percent",
    "short_name",
    "unit_of",
    "significant",
    "rounded",
    "signed",
    "tick",
    "percent_tick",
    "change",
    "budget_change",
    "signed_percent",
    "multiple",
    "table_value",
    "half_width",
    "fixed",
    "fixed_half_width",
    "terminal",
    "terminal_ci",
    "terminal_diff",
    "terminal_ratio",
    "terminal_interval",
    "setting",
    "active_weeks",
    "duration",
    "sentence",
]

DASH = "\u2013"  # a table cell without a value
MINUS = "\u2212"  # a real minus sign, as wide as the plus


# --------------------------------------------------------------------------------------------
# values


def finite(x: object) -> bool:
    """Whether x is a finite number (a Python or numpy int or float; not None, NaN, inf or text)."""
    return isinstance(x, numbers.Real) and math.isfinite(float(x))


def ratio(a: float, b: float) -> float:
    """a / b, NaN when either is missing or b is 0."""
    return a / b if finite(a) and finite(b) and b != 0 else math.nan


def _number(v: object) -> float | None:
    """v as a finite float, None when it is not one (None, NaN, text)."""
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


# --------------------------------------------------------------------------------------------
# chart text: the run charts' titles, labels and ticks


def count(x: float) -> str:
    """A count with thousands separators, 3 significant digits from 1,000 (the runs are samples): 12,300."""
    return f"{float(f'{x:.3g}') if abs(x) >= 1000 else x:,.0f}" if finite(x) else "n/a"


def compact(x: float, _pos: object = None) -> str:
    """Axis ticks and totals: 950, 250k, 2.5M, 1.2B (a matplotlib tick formatter too)."""
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            v = x / div
            return (f"{v:.1f}".rstrip("0").rstrip(".") if abs(v) < 10 else f"{v:,.0f}") + suffix
    return f"{x:,.4g}"


def money(x: float, currency: str) -> str:
    """An amount with its currency: a count below a million, compact above: 12,300 RUB, 4.8M RUB."""
    return "n/a" if not finite(x) else f"{compact(x) if abs(x) >= 1e6 else count(x)} {currency}"


def percent(x: float, digits: int | None = None) -> str:
    """A share as a percentage: 23%, 4.5%, 0.25%; by default more digits the smaller it is."""
    if not finite(x):
        return "n/a"
    if digits is None:
        digits = 2 if abs(x) < 0.01 else 1 if abs(x) < 0.1 else 0
    return f"{100 * x:,.{digits}f}%"


def short_name(name: str) -> str:
    """A display name without its parenthesis, for titles: "SMM (VK, Telegram)" -> "SMM"."""
    return name.split(" (")[0]


# --------------------------------------------------------------------------------------------
# rounded: three significant digits, M and B


def unit_of(x: float) -> tuple[float, str]:
    """The divisor and suffix of a big number: (1e6, 'M') for 61.5 million, (1, '') below a million."""
    return next(((d, u) for d, u in ((1e9, "B"), (1e6, "M")) if abs(x) >= d), (1.0, ""))


def significant(x: float) -> str:
    """3 significant digits, trailing zeros kept: 4.00, 59.2, 124."""
    return f"{x:#.3g}".rstrip(".")


def rounded(v: float, kind: str) -> str:
    """A number on a chart: 3 significant digits, compact from a million, whole percent for shares."""
    if not finite(v):
        return "n/a"
    if kind == "p":
        return f"{100 * v:,.0f}%"
    if kind in ("w", "r"):
        return f"{v:,.1f}" if kind == "w" else f"{v:,.2f}"
    div, suffix = unit_of(v)
    return significant(v / div) + suffix if suffix else count(v) if abs(v) >= 100 else f"{v:,.3g}"


def signed(v: float, kind: str) -> str:
    """A difference as :func:`rounded` writes it, with its sign: +1.2M, \u221240%, 0."""
    text = rounded(abs(v), kind)
    return text if not finite(v) else ("+" if v > 0 else MINUS if v < 0 else "") + text


def tick(x: float, _pos: object = None) -> str:
    """Axis ticks with up to 3 significant digits: 1.25k, 40k, 2.5M (no two ticks alike)."""
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:,.3g}".replace("-", MINUS)


def percent_tick(x: float, _pos: object = None) -> str:
    """Axis ticks of a share, in whole percent: 25%, \u22125%."""
    return f"{100 * x:,.0f}%".replace("-", MINUS)


def table_value(v: object, kind: str, scale: tuple[float, str] | None = None) -> str:
    """A table cell: 3 significant digits (means of samples), millions and billions as M and B, a dash for n/a.

    ``scale`` writes the number in another number's unit, so a CI half-width reads as its value: 61.5M ± 0.687M.
    """
    if not finite(v):
        return DASH
    x = float(v)  # type: ignore[arg-type]
    if kind == "p":
        return f"{100 * x:,.{1 if abs(x) < 1 else 0}f}%"
    if kind in ("w", "r"):
        return rounded(x, kind)
    div, suffix = scale or unit_of(x)
    return significant(x / div) + suffix if suffix else rounded(x, kind)


def half_width(value: object, lo: object, hi: object, kind: str) -> str:
    """'± half-width' of a 95% CI as :func:`table_value` writes it, in the value's unit; empty without a CI."""
    if not (finite(lo) and finite(hi)) or hi <= lo:  # type: ignore[operator]
        return ""
    half = (float(hi) - float(lo)) / 2  # type: ignore[arg-type]
    # in the value's unit (61.5M ± 0.687M), unless the half-width outgrows it (743M ± 1.57B, not 1.57e+03M)
    scale = unit_of(float(value)) if finite(value) and abs(half) <= abs(float(value)) else None  # type: ignore[arg-type]
    return f"\u00b1 {table_value(half, kind, scale)}"


# --------------------------------------------------------------------------------------------
# changes and multiples


def change(a: float, b: float) -> str:
    """From a to b: '\u00d72.6' from double up, '+12%' or '\u221240%' below; n/a from 0."""
    if not (finite(a) and finite(b)) or a == 0:
        return "n/a"
    r = b / a
    return f"\u00d7{r:.2g}" if r >= 2 else f"{100 * (r - 1):+.0f}%".replace("-", MINUS)


def signed_percent(x: float) -> str:
    """A relative change with its sign, as :func:`percent` writes it: '+3.1%', '\u221252%', '\u00b10%' (tiny)."""
    if finite(x) and abs(x) < 5e-5:
        return "\u00b10%"
    return "n/a" if not finite(x) else ("+" if x > 0 else "") + percent(x).replace("-", MINUS)


def budget_change(a: float, b: float) -> str:
    """From budget a to b: 'cut to 0', 'new', '\u00d72.6' from double up, else '+12%', '\u22120.4%'."""
    if not (finite(a) and finite(b)):
        return "n/a"
    if a <= 0:
        return "new" if b > 0 else "none"
    if b <= 0:
        return "cut to 0"
    if b < 2 * a:
        return signed_percent(b / a - 1)
    r = b / a
    return f"\u00d7{r:.2g}" if r < 100 else f"\u00d7{r:,.0f}"  # x2.6, x15, x240: never 2.4e+02


def multiple(x: float) -> str:
    """A ROAS or a multiple: 61, 9.5, 0.43, \u22124.9."""
    if not finite(x):
        return "n/a"
    a = abs(x)
    text = f"{a:,.0f}" if a >= 10 else f"{a:.1f}" if a >= 1 else f"{a:.2f}"
    return (MINUS if x < 0 and text.strip("0.") else "") + text


# --------------------------------------------------------------------------------------------
# fixed: the run report and the terminal table


def fixed(v: object, kind: str, missing: str = DASH) -> str:
    """A number as the terminal table prints it: thousands separators, percent, 2 decimals for small money."""
    x = _number(v)
    if x is None:
        return missing
    if kind == "p":
        return f"{100 * x:,.1f}%"
    if kind == "w":
        return f"{x:,.1f}"
    if kind == "r":
        return f"{x:,.2f}"
    if kind == "m" and 0 < abs(x) < 100:
        return f"{x:,.2f}"
    return f"{x:,.0f}"


def fixed_half_width(lo: object, hi: object, kind: str) -> str:
    """'± half-width' of a 95% CI as :func:`fixed` writes it; empty when there is no interval."""
    low, high = _number(lo), _number(hi)
    if low is None or high is None or high <= low:
        return ""
    return f"\u00b1 {fixed((high - low) / 2, kind)}"


# --------------------------------------------------------------------------------------------
# terminal: every table the command line prints


def _terminal_scale(x: float, kind: str) -> tuple[float, int, str]:
    """The divisor, decimals and suffix the terminal writes a number of this size and kind with.

    Counts and money: below a million with thousands separators (money under 100 with 2 decimals),
    from a million 3 significant digits in M or bn. Percent: 2 decimals under 1%, 1 under 100%, none
    from 100%. Weeks: 1 decimal. Ratios: 2 decimals under 10, 1 under 100, none from 100.
    """
    a = abs(x)
    if kind == "p":
        return 0.01, 2 if a < 0.01 else 1 if a < 1 else 0, "%"
    if kind == "w":
        return 1.0, 1, ""
    if kind == "r":
        return 1.0, 2 if a < 9.995 else 1 if a < 99.95 else 0, ""
    for div, suffix in ((1e9, " bn"), (1e6, " M")):
        if a >= div:
            v = a / div
            return div, 2 if v < 9.995 else 1 if v < 99.95 else 0, suffix
    return 1.0, 2 if kind == "m" and 0 < a < 99.995 else 0, ""


def _terminal_text(x: float, div: float, decimals: int, suffix: str, sign: bool = False) -> str:
    """x / div with the decimals, thousands separators and suffix; an ASCII sign, ``+`` too when ``sign``
    (a difference that rounds to zero has none: 0, not +0 or -0)."""
    v = round(x / div, decimals)
    if v == 0:
        v = 0.0  # no -0
    return f"{v:{'+' if sign and v != 0 else ''},.{decimals}f}{suffix}"


def terminal(v: object, kind: str, missing: str = DASH) -> str:
    """A number as every terminal table writes it: 58,200, 12.34, 248 M, 4.79 bn, 414%, 11.5, 2.20."""
    x = _number(v)
    if x is None:
        return missing
    return _terminal_text(x, *_terminal_scale(x, kind))


def _half_decimals(half: float, div: float, decimals: int) -> int:
    """The value's decimals, or more (up to 3 more) when the half-width would round to 0."""
    if half <= 0 or round(half / div, decimals) != 0:
        return decimals
    return min(decimals + 3, max(decimals, -math.floor(math.log10(half / div))))


def terminal_ci(
    v: object, lo: object, hi: object, kind: str, sign: bool = False, zero: bool = False
) -> tuple[str, str]:
    """A value and its 95% CI half-width as the terminal writes them: ('4.79 bn', '\u00b1 0.53 bn').

    The half-width is in the unit of the larger of the two (500,000 \u00b1 2.1 M is written
    '0.50 M', '\u00b1 2.10 M'), with the value's decimals, or more when it would round to 0. The
    half-width is '' without an interval (a missing end, or a zero-width one unless ``zero``);
    ``sign`` writes a difference (+1.20 M). A missing value is a dash and no half-width.
    """
    x = _number(v)
    if x is None:
        return DASH, ""
    low, high = _number(lo), _number(hi)
    if low is None or high is None or high < low or (high == low and not zero):
        return _terminal_text(x, *_terminal_scale(x, kind), sign=sign), ""
    half = (high - low) / 2
    div, decimals, suffix = _terminal_scale(max(abs(x), half), kind)
    value = _terminal_text(x, div, decimals, suffix, sign=sign)
    return value, f"\u00b1 {_terminal_text(half, div, _half_decimals(half, div, decimals), suffix)}"


def terminal_diff(d: object, lo: object, hi: object, kind: str) -> tuple[str, str]:
    """A paired difference and its 95% CI half-width: ('+1.20 M', '\u00b1 0.05 M'); a zero-width CI is '\u00b1 0'."""
    return terminal_ci(d, lo, hi, kind, sign=True, zero=True)


def terminal_ratio(r: object, lo: object, hi: object) -> tuple[str, str]:
    """A ratio of means and its 95% CI: ('\u00d71.131', '[1.124, 1.137]'); 3 decimals below 10, else 1."""
    x = _number(r)
    if x is None:
        return DASH, ""
    decimals = 3 if abs(x) < 10 else 1
    low, high = _number(lo), _number(hi)
    ci = f"[{low:,.{decimals}f}, {high:,.{decimals}f}]" if low is not None and high is not None else ""
    return f"\u00d7{x:,.{decimals}f}", ci


def terminal_interval(v: object, lo: object, hi: object, kind: str, sign: bool = False) -> tuple[str, str]:
    """A value and an interval by its ends, as the terminal writes them: ('1,575', '[1,508, 1,643]').

    For intervals that need not be symmetric around the value (a posterior's percentiles). The three
    numbers are in the unit of the largest (``0.50 M [0.21 M, 2.10 M]``); ``sign`` writes differences
    (``+262 [+208, +335]``). The interval is '' when an end is missing; a missing value is a dash."""
    x = _number(v)
    if x is None:
        return DASH, ""
    low, high = _number(lo), _number(hi)
    if low is None or high is None:
        return _terminal_text(x, *_terminal_scale(x, kind), sign=sign), ""
    div, decimals, suffix = _terminal_scale(max(abs(x), abs(low), abs(high)), kind)
    ends = ", ".join(_terminal_text(e, div, decimals, suffix, sign=sign) for e in (low, high))
    return _terminal_text(x, div, decimals, suffix, sign=sign), f"[{ends}]"


def setting(x: float) -> str:
    """A setting as written: 0.4, 1.5, 30 (no trailing zeros)."""
    return f"{x:,.6g}" if abs(x) < 1e6 else f"{x:,.0f}"


def active_weeks(windows: Sequence[tuple[int, int]], horizon: int) -> str:
    """Active weeks as text: 'all 26 weeks', 'weeks 4\u201325', 'weeks 0\u20133, 8\u201311'."""
    active = sorted({w for s, e in windows for w in range(s, min(e, horizon))})
    if not active:
        return "none"
    if len(active) == horizon:
        return f"all {horizon} weeks"
    runs: list[list[int]] = []
    for w in active:
        if runs and w == runs[-1][1] + 1:
            runs[-1][1] = w
        else:
            runs.append([w, w])
    parts = [str(a) if a == b else f"{a}{DASH}{b}" for a, b in runs]
    return ("week " if len(active) == 1 else "weeks ") + ", ".join(parts)


def duration(seconds: float) -> str:
    """A run time: 12.3 s, 4 min 5 s, 1 h 2 min."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def sentence(text: str) -> str:
    """``text`` starting a sentence: its first letter in upper case, unless it begins a word that mixes
    cases on purpose (``iCPO``, ``iROMI``: "iCPO by plan", not "ICPO by plan")."""
    if not text or (len(text) > 1 and text[0].islower() and text[1].isupper()):
        return text
    return text[0].upper() + text[1:]
