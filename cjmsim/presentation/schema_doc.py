"""The scenario reference: Markdown tables of every scenario key, generated from the pydantic models.

``docs/scenario.md`` embeds :func:`scenario_reference` between two markers and a test compares them,
so the reference cannot drift from :mod:`cjmsim.scenario`. Types are named as TOML names them; ranges
come from ``Field`` constraints and ``Literal`` choices; descriptions are the fields' own texts.
"""

from __future__ import annotations

import inspect
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from cjmsim.scenario import Scenario, toml_value

__all__ = ["experiment_reference", "scenario_reference"]

_SCALARS = {str: "string", int: "integer", float: "number"}
#: Field constraint -> (interval bracket, one-sided operator).
_BOUNDS = {"ge": ("[", ">="), "gt": ("(", ">"), "le": ("]", "<="), "lt": (")", "<")}


def _strip(tp: Any) -> tuple[Any, list[Any]]:
    """The annotation without ``Optional`` and ``Annotated`` wrappers, and the constraints met on the way."""
    found: list[Any] = []
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp, *extras = get_args(tp)
            for e in extras:
                found.extend(e.metadata if isinstance(e, FieldInfo) else [e])
        elif origin in (Union, types.UnionType) and len(get_args(tp)) == 2 and type(None) in get_args(tp):
            tp = next(a for a in get_args(tp) if a is not type(None))
        else:
            return tp, found


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _plural(name: str) -> str:
    word, _, rest = name.partition(" ")
    return name if name.startswith("[") else f"{word}s {rest}".rstrip()


def _type(tp: Any) -> str:
    """A TOML type name: string, number, array of strings, table of numbers, [integer, integer], ..."""
    tp, _ = _strip(tp)
    origin, args = get_origin(tp), get_args(tp)
    if _is_model(tp):
        return "table"
    if origin is Literal:
        return "string"
    if origin is list:
        return f"array of {_plural(_type(args[0]))}"
    if origin is tuple:
        return "[" + ", ".join(_type(a) for a in args) + "]"
    if origin is dict:
        inner = _strip(args[1])[0]
        if get_origin(inner) in (Union, types.UnionType):  # a number or a table (a fit per stage)
            return f"table of ({' or '.join(_plural(_type(a)) for a in get_args(inner))})"
        return f"table of {_plural(_type(args[1]))}"
    if origin in (Union, types.UnionType):  # a choice of strings or a number (capacity's overflow)
        return " or ".join(dict.fromkeys(_type(a) for a in args))
    return _SCALARS.get(tp, getattr(tp, "__name__", str(tp)))


def _num(v: Any) -> str:
    if float(v).is_integer():
        return f"{int(v):_}" if abs(v) >= 10_000 else str(int(v))
    return repr(v)


def _choices(tp: Any) -> str:
    return ", ".join(f"`{c}`" for c in get_args(tp))


def _interval(meta: list[Any]) -> str:
    """'[0, 1]', '(0, 10]', '>= 0' or '< 1' from ge/gt/le/lt constraints; '' when unbounded."""
    found = {k: _num(getattr(m, k)) for m in meta for k in _BOUNDS if hasattr(m, k)}
    low = next((k for k in ("ge", "gt") if k in found), None)
    high = next((k for k in ("le", "lt") if k in found), None)
    if low and high:
        return f"{_BOUNDS[low][0]}{found[low]}, {found[high]}{_BOUNDS[high][0]}"
    one = low or high
    return f"{_BOUNDS[one][1]} {found[one]}" if one else ""


def _allowed(info: FieldInfo) -> str:
    """The allowed range: interval from ge/gt/le/lt, entry count from min_length, Literal choices."""
    tp, inner = _strip(info.annotation)
    meta = [*info.metadata, *inner]
    parts = [_interval(meta)] if _interval(meta) else []
    sizes = [m.min_length for m in meta if isinstance(m, at.MinLen)]
    parts += [f"at least {k} {'entry' if k == 1 else 'entries'}" for k in sizes]
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        parts.append(f"one of {_choices(tp)}")
    elif origin in (Union, types.UnionType):
        for alt in args:
            bare, bounds = _strip(alt)
            literal = get_origin(bare) is Literal
            parts.append(f"one of {_choices(bare)}" if literal else f"a number in {_interval(bounds)}")
        parts = [" or ".join(parts)]
    elif origin is list and get_origin(args[0]) is Literal:
        parts.append(f"each one of {_choices(args[0])}")
    elif origin is dict:
        inner = _strip(args[1])[0]
        tables = [inner] if get_origin(inner) is dict else []
        if get_origin(inner) in (Union, types.UnionType):
            tables = [a for a in get_args(inner) if get_origin(a) is dict]
        for table in tables:
            key = get_args(table)[0]
            if get_origin(key) is Literal:
                parts.append(f"inner keys: {_choices(key)}")
    return "; ".join(parts)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
    if isinstance(value, BaseModel):
        return "all defaults"
    return "none" if value is None else f"`{toml_value(value)}`"


def _section(model: type[BaseModel], header: str, note: str, out: list[str]) -> None:
    """Append the section of ``model`` (a table of its keys), then the sections of its sub-tables."""
    out += [f"### {header}", "", inspect.cleandoc(model.__doc__ or "").replace("``", "`")]
    if note:
        out += ["", note]
    out += ["", "| Key | Type | Default | Allowed | Description |", "|---|---|---|---|---|"]
    path = header.strip("`[]") if header.startswith("`") else ""
    subs: list[tuple[type[BaseModel], str, str]] = []
    for name, info in model.model_fields.items():
        tp, _ = _strip(info.annotation)
        origin, args = get_origin(tp), get_args(tp)
        kind = _type(info.annotation)
        sub = f"{path}.{name}" if path else name
        if _is_model(tp):
            kind = f"table, see `[{sub}]`"
            subs.append((tp, f"`[{sub}]`", ""))
        elif origin is dict and _is_model(args[1]):
            kind = f"tables, see `[{sub}.ID]`"
            subs.append((args[1], f"`[{sub}.ID]`", f"One `[{sub}.ID]` table per entry; `ID` is an id you choose."))
        elif origin is list and _is_model(args[0]):
            kind = f"array of tables, see `[[{sub}]]`"
            subs.append((args[0], f"`[[{sub}]]`", f"An array of tables: one `[[{sub}]]` block per entry."))
        row = [f"`{name}`", kind, _default(info), _allowed(info), info.description or ""]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    out.append("")
    for sub_model, sub_header, sub_note in subs:
        _section(sub_model, sub_header, sub_note, out)


def scenario_reference() -> str:
    """The Markdown reference of every scenario key: one section and one table per TOML table."""
    out: list[str] = []
    _section(Scenario, "Top level", "The four tables of a scenario file, and its targets.", out)
    return "\n".join(out).rstrip("\n")


def experiment_reference() -> str:
    """The Markdown reference of every experiment-file key (``cjmsim sweep``)."""
    from cjmsim.scenario.experiment import Experiment

    out: list[str] = []
    _section(Experiment, "Top level", "The two parts of an experiment file.", out)
    return "\n".join(out).rstrip("\n")
