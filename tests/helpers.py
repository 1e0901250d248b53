"""Shared scenario builders for the test suite: small scenarios as plain dicts, and a TOML writer.

Every builder returns a fresh dict, so a test may mutate it freely. The fixtures in conftest.py
wrap these; test modules that need them at collection time (parametrize) import this module.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any


def segment(name: str = "Segment", share: float = 1.0, **over: Any) -> dict[str, Any]:
    """A plain segment: slow organic funnel, no heterogeneity, lognormal orders."""
    seg: dict[str, Any] = {
        "name": name,
        "share": share,
        "base": {"aware": 0.05, "interest": 0.2, "desire": 0.2, "purchase": 0.15},
        "drop": {"aware": 0.05, "interest": 0.05, "desire": 0.05},
        "repeat": {"customer": 0.02, "loyal": 0.05},
        "loyal": 0.02,
        "churn": {"customer": 0.01, "loyal": 0.005},
        "order_value": {"mean": 1000.0, "cv": 0.5},
        "margin": 0.3,
    }
    seg.update(over)
    return seg


def minimal_scenario() -> dict[str, Any]:
    """One segment, no channels, one empty plan."""
    return {
        "scenario": {"name": "Minimal", "weeks": 8, "population": 10_000, "agents": 2_000, "seed": 1},
        "segments": {"a": segment("A")},
        "plans": {"none": {"campaigns": []}},
    }


def funnel_scenario() -> dict[str, Any]:
    """Two segments, three channels whose odds multipliers are all > 1, one plan ``base``.

    ``ads`` (cpm) reaches everyone before purchase, ``search`` (cpc) reaches aware..desire, and
    ``retarget`` (cpm, visited agents only) has a small audience, so part of its budget cannot be
    absorbed. ``plans.base.campaigns[0]`` is the ads campaign.
    """
    start = {"unaware": 0.6, "aware": 0.1, "interest": 0.1, "desire": 0.1, "customer": 0.05, "lost": 0.05}
    a = segment(
        "A",
        0.6,
        initial=start,
        affinity={"ads": 1.0, "search": 0.5, "retarget": 1.0},
        odds={
            "ads": {"aware": 3.0, "interest": 1.5},
            "search": {"interest": 2.0, "desire": 2.0},
            "retarget": {"desire": 2.0, "purchase": 2.0},
        },
    )
    b = segment(
        "B",
        0.4,
        initial=start,
        base={"aware": 0.02, "interest": 0.1, "desire": 0.15, "purchase": 0.1},
        affinity={"ads": 0.4, "search": 1.0, "retarget": 0.7},
        odds={
            "ads": {"aware": 2.0},
            "search": {"interest": 3.0, "desire": 1.5, "purchase": 1.5},
            "retarget": {"purchase": 3.0},
        },
    )
    return {
        "scenario": {"name": "Funnel", "weeks": 8, "population": 100_000, "agents": 5_000, "seed": 7},
        "segments": {"a": a, "b": b},
        "channels": {
            "ads": {
                "cost": {"cpm": 200.0},
                "adstock": {"decay": 0.5},
                "saturation": {"half": 1.0, "slope": 1.0},
                "frequency_cap": 3,
            },
            "search": {
                "cost": {"cpc": 2.0},
                "stages": ["aware", "interest", "desire"],
                "saturation": {"half": 0.5, "slope": 2.0},
                "frequency_cap": 2,
            },
            "retarget": {
                "cost": {"cpm": 100.0},
                "stages": ["interest", "desire", "lost"],
                "requires": "visited",
                "saturation": {"half": 2.0, "slope": 1.5},
                "frequency_cap": 5,
            },
        },
        "plans": {
            "base": {
                "campaigns": [
                    {"channel": "ads", "weekly": 5_000.0},
                    {"channel": "search", "weekly": 4_000.0, "segments": ["a", "b"]},
                    {"channel": "retarget", "weekly": 50_000.0},
                ]
            }
        },
    }


def scaled_plan(data: dict[str, Any], plan: str, factor: float, new_name: str) -> dict[str, Any]:
    """Add a copy of ``plan`` to ``data`` with every budget multiplied by ``factor``."""
    camps = copy.deepcopy(data["plans"][plan]["campaigns"])
    for c in camps:
        for key in ("weekly", "total"):
            if c.get(key) is not None:
                c[key] = c[key] * factor
    data["plans"][new_name] = {"campaigns": camps}
    return data


# --------------------------------------------------------------------------------------------
# a small TOML writer (the standard library only reads TOML)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise ValueError("no NaN or inf in test scenarios")
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items() if x is not None) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _key(k: str) -> str:
    return k if k and all(ch.isalnum() or ch in "_-" for ch in k) else _value(k)


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and len(v) > 0 and all(isinstance(x, dict) for x in v)


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Serialise nested dicts: scalars and inline values first, then sub-tables and arrays of tables."""
    lines: list[str] = []
    for k, v in data.items():
        if v is None or isinstance(v, dict) or _is_table_array(v):
            continue
        lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in data.items():
        name = f"{prefix}.{_key(k)}" if prefix else _key(k)
        if isinstance(v, dict):
            lines.append(f"\n[{name}]")
            lines.append(to_toml(v, name))
        elif _is_table_array(v):
            for item in v:
                lines.append(f"\n[[{name}]]")
                lines.append(to_toml(item, name))
    return "\n".join(x for x in lines if x != "")


# --------------------------------------------------------------------------------------------
# bad inputs: (id, change to funnel_scenario(), substrings the error message must contain)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    keys = path.split(".")

    def apply(d: dict[str, Any]) -> None:
        cur: Any = d
        for k in keys[:-1]:
            cur = cur[int(k)] if isinstance(cur, list) else cur.setdefault(k, {})
        cur[keys[-1]] = value

    return apply


def _both(*fns: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def apply(d: dict[str, Any]) -> None:
        for f in fns:
            f(d)

    return apply


BAD_CASES: list[tuple[str, Callable[[dict[str, Any]], None], tuple[str, ...]]] = [
    ("unknown-key", _set("scenario.seeed", 3), ("scenario.seeed", "did you mean 'seed'")),
    ("wrong-type", _set("scenario.weeks", "ten"), ("scenario.weeks",)),
    ("rate-above-1", _set("segments.a.base.purchase", 1.5), ("segments.a.base.purchase",)),
    ("negative-money", _set("plans.base.campaigns.0.weekly", -5.0), ("plans.base.campaigns[0].weekly",)),
    ("zero-agents", _set("scenario.agents", 0), ("scenario.agents",)),
    (
        "shares-not-1",
        _both(_set("segments.a.share", 0.7), _set("segments.b.share", 0.7)),
        ("segments", "sum"),
    ),
    ("initial-not-1", _set("segments.b.initial", {"unaware": 0.5, "aware": 0.2}), ("segments.b.initial", "sum")),
    (
        "unknown-channel",
        _set("plans.base.campaigns.0.channel", "adz"),
        ("plans.base.campaigns[0].channel", "did you mean 'ads'"),
    ),
    (
        "unknown-segment",
        _set("plans.base.campaigns.1.segments", ["a", "zz"]),
        ("plans.base.campaigns[1].segments", "'zz'"),
    ),
    ("window-after-horizon", _set("plans.base.campaigns.0.weeks", [2, 99]), ("plans.base.campaigns[0]", "horizon")),
    ("weekly-and-total", _set("plans.base.campaigns.0.total", 100.0), ("plans.base.campaigns[0]", "weekly or total")),
    ("two-cost-models", _set("channels.ads.cost", {"cpm": 200.0, "cpc": 1.0}), ("channels.ads.cost", "cpm", "cpc")),
]


def bad_scenario(case_id: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The funnel scenario broken as ``case_id`` says, and what the message must name."""
    for cid, change, expect in BAD_CASES:
        if cid == case_id:
            data = funnel_scenario()
            change(data)
            return data, expect
    raise KeyError(case_id)


BAD_IDS = [c[0] for c in BAD_CASES]
