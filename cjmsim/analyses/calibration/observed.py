"""The company's observed weekly data: observed.csv (the data contract) read and checked against a scenario.

The contract (docs/calibration.md): one row per week, ``week`` (0 = the scenario's first horizon
week) or ``date`` (the week's first day, ``start_date`` + 7 x week), and any of
``spend_<channel>``, ``units_<channel>``, the counts :data:`OBSERVED_COUNTS` and
``<count>:<segment>``. A series the file leaves out is not fitted. ``cjmsim run FILE --export
observed`` writes such a file (:func:`cjmsim.analyses.exports.observed_table`), and
:func:`read_observed` reads exactly what it writes. Every problem is one :class:`ScenarioError`
naming the file, the line (the header is line 1), the column and what is allowed.
"""

from __future__ import annotations

import csv
import datetime
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from cjmsim.analyses.choices import OBSERVED_COUNTS
from cjmsim.scenario import Scenario, ScenarioError, did_you_mean

__all__ = ["OBSERVED_COUNTS", "Observed", "read_observed"]

#: The prefixes of a channel's columns: its actual spend (currency) and its delivered units.
_CHANNEL_COLUMNS = ("spend_", "units_")


@dataclass(frozen=True)
class Observed:
    """A company's observed weekly data, checked against a scenario; every array is in ``weeks`` order."""

    #: the file read
    path: Path
    #: the horizon weeks the file has a row for (0 = the first horizon week), sorted, each once
    weeks: NDArray[np.int64]
    #: every channel of the scenario (its order): the weekly spend (currency), None when the file has no column
    spend: dict[str, NDArray[np.float64] | None]
    #: the count columns the file has, in its order: totals (``orders``) and per segment (``orders:home``)
    series: dict[str, NDArray[np.float64]]
    #: the file's columns, in its order
    columns: list[str]
    #: every channel of the scenario: the weekly delivered units, None when the file has no column
    units: dict[str, NDArray[np.float64] | None] = field(default_factory=dict)


def read_observed(path: str | Path, scenario: Scenario) -> Observed:
    """Read an observed.csv and check it against ``scenario``: its weeks, channels and segments.

    A ``week`` column gives each row's horizon week; without one, a ``date`` column does (the first
    day of a scenario week, ``start_date`` + 7 x week); with both, each date must be its week's.
    ScenarioError, naming the file, the column and the line, for: a file that is not a CSV or has
    no rows; no ``week`` and no ``date``; a week outside the horizon or given twice; an unknown
    column (a channel or segment the scenario does not have, a count not in
    :data:`OBSERVED_COUNTS`); a value that is not a finite number >= 0 (empty cells included).
    """
    path = Path(path)
    header_line, header, rows = _read_rows(path)
    kinds = [_column_kind(f"{path}: line {header_line}, column {name!r}", name, scenario) for name in header]
    if "week" not in header and "date" not in header:
        raise ScenarioError(
            f"{path}: no 'week' and no 'date' column: say which week each row is, with week (0 = the first "
            f"horizon week) or date (YYYY-MM-DD, the first day of the week: start_date + 7 x week)"
        )
    weeks = _row_weeks(path, header, rows, scenario)
    order = np.argsort(weeks, kind="stable")
    values: dict[str, NDArray[np.float64]] = {}
    for j, (name, kind) in enumerate(zip(header, kinds, strict=True)):
        if kind != "when":
            column = np.array([_number(path, line, name, cells[j]) for line, cells in rows], dtype=np.float64)
            values[name] = column[order]
    return Observed(
        path=path,
        weeks=weeks[order],
        spend={c: values.get(f"spend_{c}") for c in scenario.channels},
        series={name: values[name] for name, kind in zip(header, kinds, strict=True) if kind == "count"},
        columns=header,
        units={c: values.get(f"units_{c}") for c in scenario.channels},
    )


def _read_rows(path: Path) -> tuple[int, list[str], list[tuple[int, list[str]]]]:
    """The header's line number, the header (names stripped) and the rows as (line number, cells
    stripped); blank lines are skipped."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header: list[str] | None = None
            header_line = 0
            rows: list[tuple[int, list[str]]] = []
            for cells in reader:
                if not any(c.strip() for c in cells):
                    continue
                if header is None:
                    header = [c.strip() for c in cells]
                    header_line = reader.line_num
                    continue
                if len(cells) != len(header):
                    why = "a comma inside a number? write 1234.5, not 1,234.5" if len(cells) > len(header) else ""
                    raise ScenarioError(
                        f"{path}: line {reader.line_num} has {_fields(len(cells))}, the header (line {header_line}) "
                        f"{_fields(len(header))}: one cell a column{why and '; ' + why}"
                    )
                rows.append((reader.line_num, [c.strip() for c in cells]))
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ScenarioError(f"{path}: a folder, not a CSV file") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a CSV file (not UTF-8 text)") from None
    except csv.Error as e:
        raise ScenarioError(f"{path}: not a CSV file ({e})") from None
    except OSError as e:
        raise ScenarioError(f"{path}: cannot be read ({e.strerror or type(e).__name__})") from None
    if header is None:
        raise ScenarioError(f"{path}: empty: expected a header line (week or date, then the series) and one row a week")
    for i, name in enumerate(header):
        if not name:
            raise ScenarioError(f"{path}: line {header_line}: column {i + 1} has no name")
        if name in header[:i]:
            raise ScenarioError(
                f"{path}: line {header_line}, column {name!r}: given twice (columns {header.index(name) + 1} and "
                f"{i + 1}); give each column once"
            )
    if not rows:
        raise ScenarioError(f"{path}: a header but no rows: expected one row a week")
    return header_line, header, rows


def _fields(n: int) -> str:
    return f"{n} field" if n == 1 else f"{n} fields"


def _column_kind(where: str, name: str, sc: Scenario) -> str:
    """What a column is: ``when`` (week, date), ``channel`` (spend, units) or ``count``; else ScenarioError
    (its message starts with ``where``: the file, the header's line and the column)."""
    channels, segments = list(sc.channels), list(sc.segments)
    if name in ("week", "date"):
        return "when"
    if name in OBSERVED_COUNTS:
        return "count"
    for prefix in _CHANNEL_COLUMNS:
        if name.startswith(prefix):
            cid = name[len(prefix) :]
            if cid in sc.channels:
                return "channel"
            known = f"its channels: {', '.join(channels)}" if channels else "it has no channels"
            raise ScenarioError(
                f"{where}: {cid!r} is not a channel of the scenario{did_you_mean(cid, channels)}; {known}"
            )
    if ":" in name:
        count, seg = name.split(":", 1)
        if count not in OBSERVED_COUNTS:
            raise ScenarioError(
                f"{where}: {count!r} is not a count{did_you_mean(count, list(OBSERVED_COUNTS))}; "
                f"<count>:<segment> takes one of {', '.join(OBSERVED_COUNTS)}"
            )
        if seg not in sc.segments:
            raise ScenarioError(
                f"{where}: {seg!r} is not a segment of the scenario{did_you_mean(seg, segments)}; "
                f"its segments: {', '.join(segments)}"
            )
        return "count"
    raise ScenarioError(f"{where}: unknown column{_suggestion(name, sc)}; {_allowed(sc)}")


def _suggestion(name: str, sc: Scenario) -> str:
    """' (did you mean ...?)' for an unknown column: mmm.csv's ``<unit>_<channel>``, or the closest name."""
    for cid, ch in sc.channels.items():
        if name == f"{ch.cost.unit}_{cid}":
            return f" (did you mean 'units_{cid}'? observed.csv calls every channel's delivered units units_<channel>)"
    names = ["week", "date", *OBSERVED_COUNTS]
    names += [f"{p}{c}" for c in sc.channels for p in _CHANNEL_COLUMNS]
    names += [f"{n}:{g}" for g in sc.segments for n in OBSERVED_COUNTS]
    return did_you_mean(name, names)


def _allowed(sc: Scenario) -> str:
    """The columns observed.csv may have, in the words of a message."""
    channels = ", ".join(sc.channels) or "none"
    return (
        f"allowed: week, date, spend_<channel> and units_<channel> (channels: {channels}), "
        f"{', '.join(OBSERVED_COUNTS)}, and <count>:<segment> (segments: {', '.join(sc.segments)})"
    )


def _row_weeks(path: Path, header: list[str], rows: list[tuple[int, list[str]]], sc: Scenario) -> NDArray[np.int64]:
    """Each row's horizon week, from ``week`` (checked against ``date`` when both are there) or ``date``."""
    s = sc.scenario
    horizon = f"the scenario's horizon, weeks 0 .. {s.weeks - 1}"
    iw = header.index("week") if "week" in header else None
    id_ = header.index("date") if "date" in header else None
    seen: dict[int, int] = {}
    out = np.empty(len(rows), dtype=np.int64)
    for i, (line, cells) in enumerate(rows):
        date = None if id_ is None else _date(path, line, cells[id_])
        if iw is not None:
            week = _week(path, line, cells[iw])
            if not 0 <= week < s.weeks:
                raise ScenarioError(f"{path}: line {line}, column 'week': week {week} is outside {horizon}")
            first = s.start_date + datetime.timedelta(weeks=week)
            if date is not None and date != first:
                raise ScenarioError(
                    f"{path}: line {line}, column 'date': {date} is not week {week}'s first day, {first} "
                    f"(start_date {s.start_date} + 7 x {week}); leave the date column out to go by week alone"
                )
            where = "week"
        else:
            assert date is not None  # no week column: a date column
            days = (date - s.start_date).days
            if days % 7:
                before = date - datetime.timedelta(days=days % 7)
                raise ScenarioError(
                    f"{path}: line {line}, column 'date': {date} is not the first day of a scenario week: weeks "
                    f"start on start_date {s.start_date} + 7 x week (the nearest: {before}, "
                    f"{before + datetime.timedelta(weeks=1)})"
                )
            week = days // 7
            if not 0 <= week < s.weeks:
                last = s.start_date + datetime.timedelta(weeks=s.weeks - 1)
                raise ScenarioError(
                    f"{path}: line {line}, column 'date': {date} is week {week}, outside {horizon} "
                    f"({s.start_date} .. {last})"
                )
            where = "date"
        if week in seen:
            raise ScenarioError(
                f"{path}: line {line}, column {where!r}: week {week} again (line {seen[week]} has it); one row a week"
            )
        seen[week] = line
        out[i] = week
    return out


def _week(path: Path, line: int, cell: str) -> int:
    """A ``week`` cell as an integer; ScenarioError unless it is a whole number."""
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not value.is_integer():
        raise ScenarioError(
            f"{path}: line {line}, column 'week': {cell!r} is not a week: a whole number, 0 = the first horizon week"
        )
    return int(value)


def _date(path: Path, line: int, cell: str) -> datetime.date:
    """A ``date`` cell as a date; ScenarioError unless it is YYYY-MM-DD."""
    try:
        return datetime.date.fromisoformat(cell)
    except ValueError:
        raise ScenarioError(
            f"{path}: line {line}, column 'date': {cell!r} is not a date: write YYYY-MM-DD, the first day of the week"
        ) from None


def _number(path: Path, line: int, name: str, cell: str) -> float:
    """A series cell as a float; ScenarioError unless it is a finite number >= 0."""
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        if not cell:
            what = "an empty cell"
        elif math.isfinite(value):
            what = f"{cell!r} is negative"
        else:
            what = f"{cell!r} is not a finite number"
        raise ScenarioError(
            f"{path}: line {line}, column {name!r}: {what}; every value must be a finite number >= 0 "
            f"(leave a column out of the file to not fit it)"
        )
    return value
