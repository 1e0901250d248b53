"""TOML in and out: reading a scenario or experiment file, writing values back, hashing a file."""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from .errors import ScenarioError

__all__ = [
    "MAX_DEPTH",
    "check_depth",
    "file_hash",
    "plan_block",
    "read_toml",
    "toml_key",
    "toml_string",
    "toml_value",
]


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file; a syntax error becomes a ScenarioError naming file, line and column."""
    p = Path(path)
    try:
        text = p.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ScenarioError(f"{p}: is a folder, not a TOML file") from None
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except RecursionError:  # the parser recurses once per level of nesting
        raise _too_deep(p) from None
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        if "line" not in msg:  # e.g. "at end of document": say which line that is
            lines = text.count(b"\n") + 1
            msg += f" (line {lines}, the end of the file)"
        raise ScenarioError(f"{p}: TOML syntax error: {msg}") from None
    check_depth(data, p)
    return data


def file_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, for run metadata."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _toml_number(v: Any) -> str:
    if float(v).is_integer():
        return f"{int(v):_}" if abs(v) >= 10_000 else str(int(v))
    return repr(v)


#: What a TOML basic string may not hold as itself: the quote, the backslash, control characters
#: (tab included, for one line) and the C1 controls, written as ``\\uXXXX``.
_TOML_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f-\x9f]')
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_string(text: str) -> str:
    """Text as a one-line TOML basic string: ``"`` and ``\\`` escaped, every control character as
    ``\\uXXXX``, so any text reads back as it was."""
    return (
        '"'
        + _TOML_ESCAPE.sub(lambda m: "\\" + m.group() if m.group() in '"\\' else f"\\u{ord(m.group()):04x}", text)
        + '"'
    )


def toml_key(key: str) -> str:
    """A TOML key: bare when it is letters, digits, ``_`` and ``-`` only, else a quoted string
    (``plans."my plan"``), so no key can open a table or end the line."""
    return key if _BARE_KEY.fullmatch(key) else toml_string(key)


def toml_value(v: Any) -> str:
    """A value as TOML writes it: dates bare, strings quoted and escaped, 10_000 for big integers."""
    if hasattr(v, "isoformat"):  # a date: TOML writes it bare
        return str(v.isoformat())
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):  # an inline table (a campaign's trigger = { event = "desire", after = 1 })
        return "{ " + ", ".join(f"{toml_key(str(k))} = {toml_value(x)}" for k, x in v.items()) + " }" if v else "{}"
    return _toml_number(v) if isinstance(v, int) or abs(v) >= 10_000 else repr(v)


def _inline_items(entry: dict[str, Any]) -> str:
    """A table's items as ``k = v, ...`` for an inline table (None values left out: TOML has no null)."""
    return ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in entry.items() if v is not None)


def plan_block(
    plan_id: str,
    name: str,
    description: str,
    campaigns: list[dict[str, Any]],
    interventions: list[dict[str, Any]] | None = None,
    comment: str = "",
) -> str:
    """A plan as a ``[plans.ID]`` TOML block to append to a scenario file: its name and description, a
    one-line ``comment`` (none when empty), one inline table per campaign, and its interventions.

    Valid TOML whatever the id, names and texts: a key that is not a bare key is quoted
    (``[plans."my plan"]``), strings are escaped (control characters as ``\\uXXXX``) and the comment
    holds no line break, so ``tomllib.loads`` gives back exactly the campaigns and the texts."""
    lines = [f"[plans.{toml_key(plan_id)}]", f"name = {toml_value(name)}", f"description = {toml_value(description)}"]
    if comment:
        lines.append("# " + " ".join(comment.splitlines()))
    lines.append("campaigns = [")
    lines.extend(f"  {{ {_inline_items(c)} }}," for c in campaigns)
    lines.append("]")
    if interventions:
        lines.append("interventions = [")
        lines.extend(f"  {{ {_inline_items(iv)} }}," for iv in interventions)
        lines.append("]")
    return "\n".join(lines) + "\n"


#: Deepest nesting of tables and arrays a scenario or experiment file may have (a scenario needs 6).
MAX_DEPTH = 32


def _too_deep(source: object) -> ScenarioError:
    return ScenarioError(
        f"{source}: tables and arrays are nested deeper than {MAX_DEPTH} levels; no cjmsim file needs that"
    )


def check_depth(data: Any, source: object) -> None:
    """Refuse a document nested deeper than :data:`MAX_DEPTH` (validating it would recurse too deep)."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep(source)
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list | tuple):
            stack.extend((v, depth + 1) for v in value)
