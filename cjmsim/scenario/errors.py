"""Input errors: one exception for every bad scenario or experiment, and the words of its message.

Every failure of user input becomes one :class:`ScenarioError` whose message names the file, the
key path (or line and column), what is wrong and what is allowed; the CLI prints it and exits 2.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = ["ArgumentError", "ScenarioError", "did_you_mean", "key_text", "validation_messages"]


class ScenarioError(ValueError):
    """A scenario (or experiment) file is wrong; the message says where, what and what is allowed."""


class ArgumentError(ScenarioError):
    """A bad argument of a library call, said in the library's words.

    ``str(error)`` names the Python parameters (``objective 'fast': choose from min-cpo, ...``);
    :meth:`said` writes every argument the message names another way: the command line passes its
    flag spelling and prints ``--objective 'fast': ...``. ``detail`` follows the argument's name;
    when it names other arguments too, give it as a function of a namer::

        ArgumentError("min_orders", lambda name: f" with {name('keep_orders')}: give one floor, not both")
    """

    def __init__(self, argument: str, detail: str | Callable[[Callable[[str], str]], str]) -> None:
        self.argument = argument
        self._detail = detail
        super().__init__(self.said(str))

    def said(self, name: Callable[[str], str]) -> str:
        """The message with each argument it names written as ``name(argument)``."""
        detail = self._detail(name) if callable(self._detail) else self._detail
        return name(self.argument) + detail

    def __reduce__(self) -> tuple[Any, ...]:
        # a message function may not pickle (errors cross process boundaries): keep its words
        return (ArgumentError, (self.argument, self.said(str)[len(self.argument) :]))


def did_you_mean(word: str, options: list[str]) -> str:
    """' (did you mean 'X'?)' for the option closest to ``word``, or '' when none is close."""
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names allowed at ``loc`` (the parent of an unknown key), walking the models."""
    cur: Any = model
    for part in loc:
        if isinstance(part, int):
            continue  # a list index: same model
        if isinstance(cur, tuple):  # ("dict", value model): part is a user key
            cur = cur[1]
            continue
        if not (isinstance(cur, type) and issubclass(cur, BaseModel)):
            return []
        field = cur.model_fields.get(str(part))
        if field is None:
            return []
        cur = _unwrap(field.annotation)
    if isinstance(cur, type) and issubclass(cur, BaseModel):
        return list(cur.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """The model inside an annotation: a model class, ("dict", inner) for dicts of models, or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = getattr(annotation, "__origin__", None)
    args: tuple[Any, ...] = getattr(annotation, "__args__", ())
    if origin is dict and len(args) == 2:
        return ("dict", _unwrap(args[-1]))
    for a in args:
        inner = _unwrap(a)
        if inner is not None:
            return inner
    return None


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def key_text(key: str) -> str:
    """A key as TOML writes it in a key path: bare when it can be, else quoted with escapes.

    Control characters are escaped (``\\u0000``), so a hostile key cannot act on a terminal.
    """
    if _BARE_KEY.fullmatch(key):
        return key
    out = []
    for ch in key:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or unicodedata.category(ch) in ("Cf", "Zl", "Zp"):
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "[key]":  # pydantic's marker of an error in a dict's key, not its value
            out += ("." if out else "") + key_text(str(part))
    return out or "(top level)"


def _lookup(data: Any, loc: tuple[Any, ...]) -> tuple[bool, Any]:
    cur = data
    for part in loc:
        try:
            cur = cur[part]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, cur


def validation_messages(err: ValidationError, data: Any, model: type[BaseModel]) -> list[str]:
    """One line per pydantic error: the key path, the value, what is wrong and what is allowed."""
    lines = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if p not in ("function-after",) and not str(p).startswith("function-"))
        # pydantic inserts the union/constraint branch name into some locations; drop non-keys
        loc = tuple(p for p in loc if isinstance(p, int) or not str(p).startswith(("tuple[", "list[", "dict[")))
        path = _format_loc(loc)
        kind = e["type"]
        if kind == "extra_forbidden":
            allowed = _allowed_keys(model, loc[:-1])
            key = str(loc[-1])
            hint = did_you_mean(key, allowed)
            lines.append(
                f"{path}: unknown key {key!r}{hint}; allowed here: {', '.join(allowed)}"
                if allowed
                else f"{path}: unknown key {key!r}"
            )
            continue
        found, value = _lookup(data, loc)
        msg = e["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if not loc:  # cross-field checks: each line already names its key path
            lines.extend(msg.splitlines())
        elif kind == "missing":
            lines.append(f"{path}: required key is missing")
        elif kind == "model_type" and found and _allowed_keys(model, loc):  # a value where a table belongs
            keys = ", ".join(_allowed_keys(model, loc))
            if isinstance(loc[-1], int):  # an entry of an array of tables
                lines.append(f"{path} = {value!r}: each entry is a table, {{ ... }}, with the keys {keys}")
            else:
                name = key_text(str(loc[-1]))
                lines.append(f"{path} = {value!r}: this is a table, {name} = {{ ... }}, with the keys {keys}")
        elif found and not isinstance(value, dict):
            lines.append(f"{path} = {value!r}: {msg}")
        else:
            lines.append(f"{path}: {msg}")
    return lines
