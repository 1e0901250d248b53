"""Scenario files: the TOML a strategist writes, validated once into pydantic models.

Everything downstream (population, exposure, engine) trusts a :class:`Scenario`; every check of
user input lives here, and every failure becomes one :class:`ScenarioError` whose message names
the file, the key path (or line and column), what is wrong and what is allowed.
"""

from __future__ import annotations

import datetime
import math
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .errors import ArgumentError, ScenarioError, did_you_mean, key_text, validation_messages
from .files import check_depth, read_toml

__all__ = [
    "COST_MODELS",
    "Capacity",
    "DROP_STAGES",
    "PER_ACTION",
    "ID_MAX_LENGTH",
    "INTERNAL_PREFIX",
    "STAGES",
    "PRE_PURCHASE",
    "SEASON_RATES",
    "BARRIERS",
    "ODDS_KEYS",
    "TRANSITIONS",
    "TRIGGER_EVENTS",
    "WEEKS_PER_YEAR",
    "Intervention",
    "LIFT_METRICS",
    "LiftTest",
    "PriceSeason",
    "Seasonality",
    "Scenario",
    "ScenarioError",
    "check_id",
    "load_scenario",
    "normal_id",
    "parse_scenario",
    "trigger_rule",
    "week_of_year",
]

#: Every stage an agent can be in, in funnel order. "Action" is the purchase event that moves an
#: agent from ``desire`` to ``customer``.
STAGES: tuple[str, ...] = ("unaware", "aware", "interest", "desire", "customer", "loyal", "lost")
#: Stages before the first purchase.
PRE_PURCHASE: tuple[str, ...] = ("unaware", "aware", "interest", "desire")
#: Transitions a channel can shape, keyed as in ``base`` and ``odds``: ``aware`` is
#: unaware -> aware, ``interest`` aware -> interest, ``desire`` interest -> desire, ``purchase``
#: desire -> customer (the first order), ``repeat`` a repeat order by a customer or loyal agent,
#: ``churn`` customer/loyal -> lost, ``return`` lost -> aware.
TRANSITIONS: tuple[str, ...] = ("aware", "interest", "desire", "purchase", "repeat", "churn", "return")

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Money = Annotated[float, Field(ge=0.0)]
StageName = Literal["unaware", "aware", "interest", "desire", "customer", "loyal", "lost"]
TransitionName = Literal["aware", "interest", "desire", "purchase", "repeat", "churn", "return"]
#: Odds keys that shape a move other than a stage's primary transition (barriers): ``drop`` the
#: weekly drop-out of every pre-purchase stage (aware, interest, desire -> lost), ``drop_aware``,
#: ``drop_interest``, ``drop_desire`` one stage's drop-out (on top of ``drop``: the multipliers
#: multiply), ``loyal`` customer -> loyal.
BARRIERS: tuple[str, ...] = ("drop", "drop_aware", "drop_interest", "drop_desire", "loyal")
#: Every key of ``segments.ID.odds.CHANNEL``: the transitions, then the barriers.
ODDS_KEYS: tuple[str, ...] = TRANSITIONS + BARRIERS
OddsKey = Literal[
    "aware",
    "interest",
    "desire",
    "purchase",
    "repeat",
    "churn",
    "return",
    "drop",
    "drop_aware",
    "drop_interest",
    "drop_desire",
    "loyal",
]


# --------------------------------------------------------------------------------------------
# ids: the keys of [segments], [channels], [plans] and [messages]

#: Longest id of a segment, channel, plan or message, in characters.
ID_MAX_LENGTH = 64
#: Plan ids starting with this are the analyses' own plans (``__warmup__``, ``__candidate__``):
#: a scenario file may not use them.
INTERNAL_PREFIX = "__"
#: What an id may be, in the words of every message that refuses one.
ID_GRAMMAR = (
    f"ids are letters (of any script), digits, '_' and '-', start with a letter or digit and have at most "
    f"{ID_MAX_LENGTH} characters"
)


def _id_char(ch: str, first: bool) -> bool:
    cat = unicodedata.category(ch)
    if cat[0] == "L" or cat == "Nd":
        return True
    return not first and (cat[0] == "M" or ch in "_-")  # marks: scripts that write vowels with them


def check_id(value: str, max_length: int = ID_MAX_LENGTH) -> str | None:
    """Why ``value`` is not a valid segment, channel, plan or message id, or None when it is one."""
    if not value:
        return "an id cannot be empty"
    if len(value) > max_length:
        return f"it has {len(value)} characters"
    for i, ch in enumerate(value):
        if not _id_char(ch, first=i == 0):
            where = "starts with" if i == 0 else "contains"
            return f"it {where} {ch!r}"
    return None


def normal_id(value: str) -> str:
    """The form two ids are compared in: Unicode NFKC, case folded, '-' read as '_'."""
    return unicodedata.normalize("NFKC", value).casefold().replace("-", "_")


def _refuse_id(value: str, kind: str, why: str) -> ValueError:
    return ValueError(f"{kind} id {value!r} is not allowed: {why}; {ID_GRAMMAR}")


def _segment_id(value: str) -> str:
    why = check_id(value)
    if why is not None:
        raise _refuse_id(value, "segment", why)
    if normal_id(value) == "all":
        raise ValueError(f"segment id {value!r} is reserved: 'all' is the totals row of every table; choose another")
    return value


def _channel_id(value: str) -> str:
    why = check_id(value)
    if why is not None:
        raise _refuse_id(value, "channel", why)
    return value


def _plan_id(value: str, info: ValidationInfo) -> str:
    internal = value.startswith(INTERNAL_PREFIX)
    if internal and not (info.context or {}).get("internal_plans", True):
        raise ValueError(
            f"plan id {value!r} is reserved: ids starting with {INTERNAL_PREFIX!r} name the analyses' own plans "
            "(such as '__warmup__'); choose another"
        )
    # an internal plan may name a user id after its prefix (the attribution's __without_<channel>)
    why = check_id(value[len(INTERNAL_PREFIX) :], 2 * ID_MAX_LENGTH) if internal else check_id(value)
    if why is not None:
        raise _refuse_id(value, "plan", why)
    return value


def _message_id(value: str) -> str:
    why = check_id(value)
    if why is not None:
        raise _refuse_id(value, "message", why)
    return value


SegmentId = Annotated[str, AfterValidator(_segment_id)]
ChannelId = Annotated[str, AfterValidator(_channel_id)]
MessageId = Annotated[str, AfterValidator(_message_id)]
PlanId = Annotated[str, AfterValidator(_plan_id)]


def _distinct_ids(ids: dict[str, Any], kind: str) -> None:
    """Refuse two ids of one kind that are the same id once normalised (see :func:`normal_id`)."""
    seen: dict[str, str] = {}
    for key in ids:
        other = seen.setdefault(normal_id(key), key)
        if other != key:
            raise ValueError(
                f"{kind} ids {other!r} and {key!r} are the same id once case, Unicode form and '-' or '_' are "
                "ignored; rename one"
            )


class _ScenarioModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)


# --------------------------------------------------------------------------------------------
# scenario settings


class Settings(_ScenarioModel):
    """The ``[scenario]`` table: horizon, population and randomness."""

    name: str = Field("Untitled scenario", description="Title shown in tables, charts and reports.")
    description: str = Field("", description="Free text: what the scenario is about.")
    currency: str = Field("RUB", description="Currency code of every money amount (budgets, prices, order values).")
    weeks: int = Field(52, ge=1, le=1040, description="Simulation horizon in weeks (week 0 is the first).")
    population: float = Field(
        1_000_000,
        gt=0,
        description="Addressable people. Each agent stands for population / agents of them (its weight).",
    )
    agents: int = Field(
        100_000, ge=1, le=50_000_000, description="Synthetic agents simulated. More agents, less noise, more time."
    )
    seed: int = Field(42, ge=0, description="Seed of every random stream; one seed gives identical results.")
    ltv_weeks: int = Field(
        52, ge=1, description="LTV window: margin a customer brings in this many weeks from its first order."
    )
    warmup_weeks: int = Field(
        0,
        ge=0,
        le=520,
        description="Weeks simulated before week 0 under `warmup_plan`, so the funnel is not empty at the start. "
        "Metrics exclude them.",
    )
    warmup_plan: str | None = Field(None, description="Plan run during the warm-up; none (no marketing) when omitted.")
    start_date: datetime.date = Field(
        datetime.date(2026, 1, 5), description="Calendar date of week 0's first day (exports use dates)."
    )


# --------------------------------------------------------------------------------------------
# the calendar: seasonality and trend

#: Weeks in the calendar year of a seasonality curve (the 52nd also holds the year's last day or two).
WEEKS_PER_YEAR = 52
#: Base rates a ``[seasonality]`` table may multiply (keys of ``base``, and ``repeat`` and ``return``).
SEASON_RATES: tuple[str, ...] = ("aware", "interest", "desire", "purchase", "repeat", "return")
SeasonRate = Literal["aware", "interest", "desire", "purchase", "repeat", "return"]


def week_of_year(start: datetime.date, t: int) -> int:
    """Week of the year (1..52) of simulated week ``t`` (negative in the warm-up): the date
    ``start + 7 t`` days, ``min(52, (day_of_year - 1) // 7 + 1)``."""
    day = (start + datetime.timedelta(days=7 * t)).timetuple().tm_yday
    return min(WEEKS_PER_YEAR, (day - 1) // 7 + 1)


class Peak(_ScenarioModel):
    """One named peak (or trough) of a seasonality curve: a Gaussian bump around a week of the year."""

    week: int = Field(ge=1, le=WEEKS_PER_YEAR, description="Week of the year at the peak's centre, 1..52.")
    width: float = Field(gt=0, description="Width (sd) of the bump in weeks, > 0.")
    height: float = Field(description="Height of the bump: +0.9 adds 90% at its centre, -0.4 takes 40% off (a trough).")


#: Largest multiplier a seasonality curve may give a week (a thousandfold rate or price).
CURVE_MAX = 1000.0


@lru_cache(maxsize=256)
def _peaks_curve(peaks: tuple[tuple[int, float, float], ...]) -> tuple[float, ...]:
    """1 + sum_k height_k exp(-d_k^2 / (2 width_k^2)), d_k the circular distance (mod 52) to week_k, for
    peaks given as (week, width, height); remembered, as every run asks for its curves again."""
    out = []
    for w in range(1, WEEKS_PER_YEAR + 1):
        value = 1.0
        for week, width, height in peaks:
            d = abs(w - week) % WEEKS_PER_YEAR
            d = min(d, WEEKS_PER_YEAR - d)
            z = d / width  # not d^2 / width^2: a width of 1e-200 squares to 0
            value += height * math.exp(-0.5 * z * z)
        out.append(value)
    return tuple(out)


def _read_curve_file(name: str, base: Path) -> list[float]:
    """The 52 multipliers of a CSV with columns week,multiplier (one row per week of the year)."""
    path = Path(name) if Path(name).is_absolute() else base / name
    shown = repr(name)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ValueError(
            f"file {shown}: no such file (looked for {str(path)!r}; the path is relative to the scenario file)"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"file {shown}: cannot be read as UTF-8 text ({type(e).__name__})") from None
    rows = [line.strip() for line in text.splitlines()]
    rows = [r for r in rows if r]
    if not rows or [h.strip().lower() for h in rows[0].split(",")] != ["week", "multiplier"]:
        raise ValueError(f"file {shown}, row 1: the header must be 'week,multiplier'")
    values: dict[int, float] = {}
    for i, row in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in row.split(",")]
        try:
            if len(cells) != 2:
                raise ValueError
            week, value = int(cells[0]), float(cells[1])
        except ValueError:
            raise ValueError(
                f"file {shown}, row {i}: {row[:40]!r} is not 'week,multiplier' (an integer week and a number)"
            ) from None
        if not 1 <= week <= WEEKS_PER_YEAR:
            raise ValueError(f"file {shown}, row {i}: week {week} is outside 1..{WEEKS_PER_YEAR}")
        if week in values:
            raise ValueError(f"file {shown}, row {i}: week {week} appears twice")
        if not math.isfinite(value):
            raise ValueError(f"file {shown}, row {i}: multiplier {value} is not a finite number")
        values[week] = value
    if len(values) != WEEKS_PER_YEAR:
        missing = [w for w in range(1, WEEKS_PER_YEAR + 1) if w not in values]
        raise ValueError(
            f"file {shown}: {len(values)} weeks; it needs one row for each week 1..{WEEKS_PER_YEAR} "
            f"(missing: {', '.join(map(str, missing[:5]))}{'...' if len(missing) > 5 else ''})"
        )
    return [values[w] for w in range(1, WEEKS_PER_YEAR + 1)]


class _Curve(_ScenarioModel):
    """A weekly multiplier over the calendar year and a trend: the keys seasonality and price_season share."""

    peaks: list[Peak] | None = Field(
        None,
        description="Named peaks: the multiplier of week w is 1 + sum of height * exp(-d^2 / (2 width^2)), "
        "d the distance in weeks (around the year) from w to the peak's week.",
    )
    weekly: list[float] | None = Field(None, description="52 multipliers, weeks of the year 1..52 (instead of peaks).")
    file: str | None = Field(
        None,
        description="A CSV with columns week,multiplier and 52 rows, relative to the scenario file (instead of "
        "peaks); read when the scenario is loaded.",
    )
    trend: float = Field(
        0.0,
        ge=-0.9,
        le=10,
        description="Growth per year: the index (1 + trend) ** (t / 52) at simulated week t (0 at start_date); "
        "from -0.9 to 10.",
    )

    @model_validator(mode="before")
    @classmethod
    def _read_file(cls, data: Any, info: ValidationInfo) -> Any:
        """A ``file`` is read into ``weekly`` (so the validated scenario carries its numbers)."""
        if not isinstance(data, dict) or not isinstance(data.get("file"), str):
            return data
        given = [k for k in ("peaks", "weekly") if data.get(k) is not None]
        if given:
            return data  # the one-of check names the clash
        base = Path((info.context or {}).get("base_dir") or ".")
        return {**{k: v for k, v in data.items() if k != "file"}, "weekly": _read_curve_file(data["file"], base)}

    @model_validator(mode="after")
    def _one_curve(self) -> _Curve:
        given = [k for k in ("peaks", "weekly", "file") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of peaks, weekly, file (got {', '.join(given)})")
        if self.weekly is not None and len(self.weekly) != WEEKS_PER_YEAR:
            raise ValueError(
                f"weekly has {len(self.weekly)} values; it needs {WEEKS_PER_YEAR}, weeks of the year 1..52"
            )
        low = self.LOWEST
        for w, v in enumerate(self.curve, start=1):
            if not v >= low:
                what = "negative" if low == 0 and v < 0 else f"below {low:g}"
                raise ValueError(
                    f"the multiplier of week {w} of the year is {v:.4g}, {what}; every week's multiplier must be "
                    f"between {low:g} and {CURVE_MAX:g} (with peaks: make the troughs shallower or narrower)"
                )
            if not v <= CURVE_MAX:
                raise ValueError(
                    f"the multiplier of week {w} of the year is {v:.4g}, above {CURVE_MAX:g}; every week's multiplier "
                    f"must be between {low:g} and {CURVE_MAX:g}"
                )
        return self

    #: The smallest multiplier allowed (0 for rates; prices must stay above 0).
    LOWEST: ClassVar[float] = 0.0

    @property
    def curve(self) -> tuple[float, ...]:
        """The 52 multipliers of the weeks of the year (1 each with neither peaks nor weekly)."""
        if self.peaks is not None:
            return _peaks_curve(tuple((p.week, p.width, p.height) for p in self.peaks))
        if self.weekly is not None:
            return tuple(float(v) for v in self.weekly)
        return (1.0,) * WEEKS_PER_YEAR

    def index(self, start: datetime.date, t: int) -> tuple[float, float]:
        """(seasonal factor, trend index) in force at simulated week ``t``."""
        return self.curve[week_of_year(start, t) - 1], (1.0 + self.trend) ** (t / WEEKS_PER_YEAR)


def _need_rates() -> list[SeasonRate]:
    return ["aware", "return"]


class Seasonality(_Curve):
    """``[seasonality]`` (scenario-wide) or ``[segments.ID.seasonality]`` (that segment's, replacing it): a
    multiplier on the base probability of the rates listed, p_t = min(p x season x trend, 1 - 1e-6)."""

    rates: list[SeasonRate] = Field(
        default_factory=_need_rates,
        min_length=1,
        description="Base rates it multiplies: aware (unaware -> aware), interest, desire, purchase, repeat "
        "(customers' and loyal repeat orders), return (lost -> aware). Default: the arising of needs, aware and "
        "return.",
    )


class PriceSeason(_Curve):
    """``[channels.ID.price_season]``: a multiplier on the channel's unit price (CPM, CPC or per message) by
    week of the year; its ``trend`` is price inflation per year. Every multiplier must be at least
    0.001 (a price cannot fall to nothing)."""

    LOWEST: ClassVar[float] = 1e-3


# --------------------------------------------------------------------------------------------
# segments


class Persona(_ScenarioModel):
    """The persona card: the seed article's five questions about a segment, as text."""

    wants: str = Field("", description="What the customer wants.")
    where: list[str] = Field(default_factory=list, description="Where the customer looks for information.")
    how: list[str] = Field(default_factory=list, description="How the customer finds it (the channels that reach it).")
    say: str = Field("", description="What to say to the customer, and to whom.")
    time_before_purchase: str = Field(
        "", description="Time from first contact to purchase, as the strategist states it."
    )


class StageMix(_ScenarioModel):
    """Share of a segment's agents in each stage at the start (week 0, or the start of the warm-up)."""

    unaware: Probability = Field(
        None,  # type: ignore[assignment]  # filled in by _unaware_is_the_rest before validation
        description="Share starting unaware. Omitted: the rest, 1 minus the other shares (1 when none is given).",
    )
    aware: Probability = Field(0.0, description="Share starting aware.")
    interest: Probability = Field(0.0, description="Share starting interested (leads).")
    desire: Probability = Field(0.0, description="Share starting at desire.")
    customer: Probability = Field(0.0, description="Share starting as customers (one order behind them).")
    loyal: Probability = Field(0.0, description="Share starting loyal.")
    lost: Probability = Field(0.0, description="Share starting lost.")

    @model_validator(mode="before")
    @classmethod
    def _unaware_is_the_rest(cls, data: Any) -> Any:
        """An omitted ``unaware`` is what the other shares leave (0 if they sum to over 1: the sum
        check then names their total)."""
        if not isinstance(data, dict) or "unaware" in data:
            return data
        others = [data.get(s, 0.0) for s in STAGES if s != "unaware"]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in others):
            return {**data, "unaware": 0.0}  # a bad share is named by its own check
        return {**data, "unaware": max(0.0, 1.0 - math.fsum(others))}

    @model_validator(mode="after")
    def _sums_to_one(self) -> StageMix:
        total = sum(getattr(self, s) for s in STAGES)
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"the stage shares sum to {total:g}; they must sum to 1")
        return self


#: Flags of an agent starting in each stage when ``known`` does not say otherwise: the share that
#: starts contactable (``CONTACT``) and the share that starts having visited (``VISITED``). Stages
#: from interest on have visited, from desire on (not lost) are contacts; lost agents are assumed
#: unknown. Every contact has visited: reaching desire sets both flags.
KNOWN_CONTACT_DEFAULT: dict[str, float] = {
    "unaware": 0.0,
    "aware": 0.0,
    "interest": 0.0,
    "desire": 1.0,
    "customer": 1.0,
    "loyal": 1.0,
    "lost": 0.0,
}
KNOWN_VISITED_DEFAULT: dict[str, float] = {**KNOWN_CONTACT_DEFAULT, "interest": 1.0}


def _known_share(flag: str, stage: str, defaults: dict[str, float], other: str, bound: str) -> Any:
    return Field(
        None,
        description=f"Share of the agents starting in `{stage}` who start {flag}. Omitted: {defaults[stage]:g}, "
        f"or the {bound} of that and `{other}.{stage}` when that is given.",
    )


def _contact(stage: str) -> Any:
    return _known_share("contactable", stage, KNOWN_CONTACT_DEFAULT, "visited", "smaller")


def _visited(stage: str) -> Any:
    return _known_share("having visited", stage, KNOWN_VISITED_DEFAULT, "contact", "larger")


class KnownContact(_ScenarioModel):
    """Share of a segment's agents starting in each stage who start contactable: e-mail, push and every
    channel with `requires = "contact"` can reach them from the first week (a CRM database)."""

    unaware: Probability | None = _contact("unaware")
    aware: Probability | None = _contact("aware")
    interest: Probability | None = _contact("interest")
    desire: Probability | None = _contact("desire")
    customer: Probability | None = _contact("customer")
    loyal: Probability | None = _contact("loyal")
    lost: Probability | None = _contact("lost")


class KnownVisited(_ScenarioModel):
    """Share of a segment's agents starting in each stage who start having visited: remarketing and every
    channel with `requires = "visited"` can reach them from the first week."""

    unaware: Probability | None = _visited("unaware")
    aware: Probability | None = _visited("aware")
    interest: Probability | None = _visited("interest")
    desire: Probability | None = _visited("desire")
    customer: Probability | None = _visited("customer")
    loyal: Probability | None = _visited("loyal")
    lost: Probability | None = _visited("lost")


class KnownAtStart(_ScenarioModel):
    """Who is known at the start (week 0, or the start of the warm-up), per starting stage: the share of
    agents who start contactable and the share who start having visited, e.g.
    `known = { contact = { lost = 0.8 }, visited = { lost = 0.9 } }` for a database of lapsed customers.
    Without `known`, agents starting in interest, desire, customer or loyal have visited, those in
    desire, customer or loyal are contacts, and unaware, aware and lost agents are neither.

    Every contact has visited (as in the simulation, where reaching desire sets both flags): the agents
    flagged are nested, a stage's contacts are among its visitors. A stage whose `contact` is given but
    not its `visited` has visited = the larger of its default and its contact share; a stage whose
    `visited` is given but not its `contact` has contact = the smaller of its default and its visited
    share; giving both with contact above visited is an error."""

    contact: KnownContact = Field(
        default_factory=KnownContact, description="Per starting stage, the share who start contactable."
    )
    visited: KnownVisited = Field(
        default_factory=KnownVisited, description="Per starting stage, the share who start having visited."
    )

    @model_validator(mode="after")
    def _contacts_have_visited(self) -> KnownAtStart:
        bad = []
        for s in STAGES:
            c, v = getattr(self.contact, s), getattr(self.visited, s)
            if c is not None and v is not None and c > v:
                bad.append(f"contact.{s} = {c:g} is above visited.{s} = {v:g}")
        if bad:
            raise ValueError(
                "; ".join(bad) + ": every contact has visited, so a stage's contact share must be at most its "
                "visited share"
            )
        return self

    def shares(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The (contact, visited) shares in force per starting stage, in ``STAGES`` order (rules above)."""
        contact, visited = [], []
        for s in STAGES:
            c, v = getattr(self.contact, s), getattr(self.visited, s)
            if c is None:
                c = KNOWN_CONTACT_DEFAULT[s] if v is None else min(KNOWN_CONTACT_DEFAULT[s], v)
            if v is None:
                v = max(KNOWN_VISITED_DEFAULT[s], c)
            contact.append(float(c))
            visited.append(float(v))
        return tuple(contact), tuple(visited)


class BaseRates(_ScenarioModel):
    """Weekly probability of each forward transition with no marketing at all."""

    aware: Probability = Field(description="unaware -> aware (organic awareness), per week.")
    interest: Probability = Field(description="aware -> interest (becomes a lead), per week.")
    desire: Probability = Field(description="interest -> desire, per week.")
    purchase: Probability = Field(description="desire -> customer: the first order, per week.")


class DropRates(_ScenarioModel):
    """Weekly probability that an agent who did not advance leaves the funnel (to ``lost``)."""

    aware: Probability = Field(0.0, description="Drop from aware, per week.")
    interest: Probability = Field(0.0, description="Drop from interest, per week.")
    desire: Probability = Field(0.0, description="Drop from desire, per week.")


class PerCustomerStage(_ScenarioModel):
    """A weekly rate for customers and for loyal customers."""

    customer: Probability = Field(0.0, description="Rate for agents in the customer stage, per week.")
    loyal: Probability = Field(0.0, description="Rate for loyal agents, per week.")


class Cycle(_ScenarioModel):
    """A purchase cycle: the weeks between one order and the next follow a discrete Weibull with this
    mean and shape (docs/model.md, "Purchase cycles"); e.g. `cycle = { weeks = 26, shape = 4 }` for
    check-ups about every six months."""

    weeks: float = Field(ge=1, le=520, description="Mean weeks from one order to the next (1 to 520).")
    shape: float = Field(
        gt=0,
        le=20,
        description="Weibull shape (0 < shape <= 20): 1 = a constant weekly rate (no memory), larger = more "
        "regular (4: most orders within about a third of `weeks` of the mean), below 1 = ever less likely "
        "the longer since the last order.",
    )


class RepeatRates(PerCustomerStage):
    """The weekly chance of a repeat order for customers and loyal agents: a constant rate, and optionally
    a purchase cycle besides it (a hazard of the weeks since the agent's last order)."""

    customer: Probability = Field(0.0, description="Constant weekly repeat probability of customers.")
    loyal: Probability = Field(0.0, description="Constant weekly repeat probability of loyal agents.")
    cycle: Cycle | None = Field(
        None,
        description="Purchase cycle besides the constant rates: p = 1 - (1 - constant)(1 - h(weeks since the last "
        "order)), h the discrete Weibull hazard; `cycle = { weeks = 26, shape = 4 }`. Omitted: none.",
    )


class OrderValue(_ScenarioModel):
    """Order value: lognormal with this mean and coefficient of variation."""

    mean: float = Field(gt=0, description="Mean order value, currency.")
    cv: float = Field(0.5, ge=0, le=10, description="Coefficient of variation (sd / mean); 0 = every order the same.")


def _check_weekly(v: Any) -> Any:
    if isinstance(v, int | float) and not isinstance(v, bool) and not v > 0:
        raise ValueError(
            "give the orders a week that can be served, in people, > 0 (e.g. weekly = 400 "
            "appointment slots); leave the capacity table out for no limit"
        )
    return v


def _check_overflow(v: Any) -> Any:
    allowed = '"wait" (refused first orders stay in desire), "lost" (they go to lost) or a share in [0, 1] of them lost'
    if isinstance(v, bool) or (not isinstance(v, int | float | str)):
        raise ValueError(f"give {allowed}")
    if isinstance(v, str) and v not in ("wait", "lost"):
        raise ValueError(f"give {allowed}{did_you_mean(v, ['wait', 'lost'])}")
    if isinstance(v, int | float) and not 0 <= v <= 1:
        raise ValueError(f"give {allowed}")
    return v


class Capacity(_ScenarioModel):
    """A weekly limit on orders (``[capacity]`` for the business, ``[segments.ID.capacity]`` for a segment):
    appointment slots, installation crews. docs/model.md, Capacity."""

    weekly: float = Field(
        gt=0,
        description="Orders a week that can be served, in people (first and repeat orders alike), > 0. Beyond "
        "it a uniform random sample of the week's requests is served (docs/model.md, Capacity).",
    )
    overflow: Literal["wait", "lost"] | Annotated[float, Field(ge=0, le=1)] = Field(
        "wait",
        description='What a refused first order does: "wait" (stays in desire and tries again next week with the '
        'usual odds), "lost" (goes to lost), or a share in [0, 1] of them that is lost (the rest wait). A refused '
        "repeat order is not placed that week; the customer stays.",
    )
    separate: bool = Field(
        False,
        description="A segment's limit only: true = its own book, outside the business `[capacity]` (its orders "
        "neither take the business's slots nor are refused by it), like emergency slots a clinic keeps apart; "
        "false (default) = both limits apply.",
    )

    @field_validator("weekly", mode="before")
    @classmethod
    def _weekly_positive(cls, v: Any) -> Any:
        return _check_weekly(v)

    @field_validator("overflow", mode="before")
    @classmethod
    def _overflow_allowed(cls, v: Any) -> Any:
        return _check_overflow(v)

    @property
    def lost_share(self) -> float:
        """The share of refused first orders that go to lost (0 for "wait", 1 for "lost")."""
        if self.overflow == "wait":
            return 0.0
        if self.overflow == "lost":
            return 1.0
        return float(self.overflow)


#: The odds a customer's unsatisfying latest order multiplies (``satisfaction.unsatisfied`` keys).
UnsatisfiedOdds = Literal["churn", "loyal", "repeat", "return"]


class Satisfaction(_ScenarioModel):
    """A segment's ``satisfaction``: each order leaves the customer satisfied or not (docs/model.md,
    Satisfaction); while the latest order left them unsatisfied their churn, loyalty, repeat and return
    odds are multiplied and they weigh on word of mouth."""

    rate: Probability = Field(description="Share of orders that leave the customer satisfied, in [0, 1].")
    unsatisfied: dict[UnsatisfiedOdds, float] = Field(
        default_factory=dict,
        description="Odds multipliers (> 0) while the customer's latest order left them unsatisfied: churn "
        "(customer and loyal -> lost), loyal (customer -> loyal), repeat (a repeat order), return (lost -> aware); "
        "e.g. `{ churn = 3.0, loyal = 0.2, repeat = 0.6, return = 0.5 }`. Not listed: 1.",
    )
    word_of_mouth: float = Field(
        0.0,
        ge=-10,
        le=10,
        description="Weight of the unsatisfied customers' share in the segment's word-of-mouth driver: "
        "loyal share + word_of_mouth x unsatisfied share, clipped to [-1, 1] (negative dampens; -10 to 10; "
        "acts only with a segment `word_of_mouth` other than 1).",
    )

    @field_validator("unsatisfied")
    @classmethod
    def _odds_positive(cls, v: dict[str, float]) -> dict[str, float]:
        for key, m in v.items():
            if not (m > 0 and math.isfinite(m)):
                raise ValueError(f"unsatisfied.{key} is {m}; an odds multiplier must be a finite number > 0")
        return v


class Segment(_ScenarioModel):
    """One ``[segments.ID]`` table: a customer group, its persona and its journey rates."""

    name: str = Field(description="Display name of the segment (its persona).")
    share: float = Field(gt=0, le=1, description="Share of the population; the shares of all segments sum to 1.")
    persona: Persona = Field(default_factory=Persona, description="Persona card: the five questions.")
    time_before_purchase_weeks: tuple[float, float] | None = Field(
        None,
        description="Expected weeks from first awareness to first order, [low, high]; documentation and calibration. "
        "`cjmsim run` and `cjmsim validate` (a quick run at up to 20,000 agents) warn about a segment whose "
        "simulated median falls outside it.",
    )
    initial: StageMix = Field(default_factory=StageMix, description="Stage mix at the start.")
    known: KnownAtStart = Field(
        default_factory=KnownAtStart,
        description="Per starting stage, the share of agents who start contactable or having visited (e.g. a "
        "database of lapsed customers: `known = { contact = { lost = 0.8 } }`).",
    )
    base: BaseRates = Field(description="Weekly forward transition probabilities with no marketing.")
    drop: DropRates = Field(default_factory=DropRates, description="Weekly drop-out probabilities by stage.")
    repeat: RepeatRates = Field(
        default_factory=RepeatRates,
        description="Weekly probability of a repeat order, customers and loyal, and an optional purchase cycle.",
    )
    loyal: Probability = Field(0.0, description="Weekly probability that a customer becomes loyal.")
    churn: PerCustomerStage = Field(
        default_factory=PerCustomerStage, description="Weekly probability that a customer or loyal agent is lost."
    )
    return_rate: Probability = Field(
        0.0, description="Weekly probability that a lost agent's need comes back (to aware)."
    )
    steps_per_week: int = Field(
        1,
        ge=1,
        le=7,
        description="Journey moves per week (1 to 7): with 7 every rate of the segment (base, drop, repeat, "
        "loyal, churn, return) is per day and an agent can pass several stages in a week (an urgent need). "
        "Exposures stay weekly.",
    )
    heterogeneity: float = Field(
        0.0,
        ge=0,
        le=5,
        description="Sd of each agent's persistent propensity u_i on the logit scale; 0 = identical agents.",
    )
    word_of_mouth: float = Field(
        1.0,
        gt=0,
        description="Odds multiplier on unaware -> aware when every agent of the segment is loyal (Bass-style "
        "imitation; scales with the loyal share). 1 = none.",
    )
    capacity: Capacity | None = Field(
        None,
        description="This segment's own weekly limit on orders (same keys as `[capacity]`); with a business "
        "`[capacity]` too, both apply. Omitted: none.",
    )
    satisfaction: Satisfaction | None = Field(
        None,
        description="Whether orders leave the customer satisfied, and what an unsatisfying one changes "
        "(`{ rate = 0.85, unsatisfied = { churn = 3.0 } }`). Omitted: every customer counts as satisfied.",
    )
    seasonality: Seasonality | None = Field(
        None,
        description="This segment's seasonality and trend, replacing the scenario-wide `[seasonality]` for it "
        "(same keys).",
    )
    order_value: OrderValue = Field(description="Order value distribution.")
    margin: float = Field(ge=0, le=1, description="Gross margin as a share of order value.")
    affinity: dict[str, float] = Field(
        default_factory=dict,
        description="Channel -> relative time this persona spends there (>= 0). Units are spread over an audience "
        "in proportion to it. Channels not listed get 1.",
    )
    odds: dict[str, dict[OddsKey, float]] = Field(
        default_factory=dict,
        description="Channel -> transition (or barrier) -> odds multiplier at full saturation (> 0; 1 = no "
        "effect, < 1 lowers the rate). Transitions: aware, interest, desire, purchase, repeat, churn, return "
        "(< 1 harms, except churn); barriers: drop (the weekly "
        "drop-out of every pre-purchase stage; < 1 lowers it), drop_aware, drop_interest, drop_desire (one "
        "stage's drop-out, multiplied with drop), loyal (customer -> loyal).",
    )

    @field_validator("affinity")
    @classmethod
    def _affinity_non_negative(cls, v: dict[str, float]) -> dict[str, float]:
        for ch, a in v.items():
            if not (a >= 0 and math.isfinite(a)):
                raise ValueError(f"affinity of channel {ch!r} is {a}; it must be a finite number >= 0")
        return v

    @field_validator("odds")
    @classmethod
    def _odds_positive(cls, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for ch, per in v.items():
            for tr, m in per.items():
                if not (m > 0 and math.isfinite(m)):
                    raise ValueError(f"odds multiplier {ch}.{tr} is {m}; it must be a finite number > 0")
        return v

    @model_validator(mode="after")
    def _post_purchase_partition(self) -> Segment:
        if self.churn.customer + self.loyal > 1:
            raise ValueError(
                f"churn.customer + loyal = {self.churn.customer + self.loyal:g}; together they must be at most 1"
            )
        if self.steps_per_week > 1 and self.repeat.cycle is not None:
            raise ValueError(
                f"steps_per_week = {self.steps_per_week} with repeat.cycle: a purchase cycle is counted in whole "
                "weeks since the last order, so it needs steps_per_week = 1 (drop one of them)"
            )
        if self.time_before_purchase_weeks is not None:
            lo, hi = self.time_before_purchase_weeks
            if not 0 <= lo <= hi:
                raise ValueError(
                    f"time_before_purchase_weeks = [{lo:g}, {hi:g}]: give [low, high] with 0 <= low <= high "
                    "(weeks from first awareness to first order, e.g. [8, 16])"
                )
        return self


# --------------------------------------------------------------------------------------------
# channels


#: The cost models a channel can have (``cost`` keys giving a price), in this order.
COST_MODELS = ("cpm", "cpc", "per_message", "cpa", "cpl")
#: The cost models priced per action (an order, a lead) rather than per unit delivered.
PER_ACTION = ("cpa", "cpl")


class Cost(_ScenarioModel):
    """How a channel turns money into units. Give exactly one of cpm, cpc, per_message, cpa, cpl.

    A per-action channel (``cpa``: per order, ``cpl``: per lead) delivers ``impressions`` a week while a
    campaign of it runs and bills only the actions of agents it exposed within ``window`` weeks, at most
    the campaigns' weekly budget (docs/model.md, Pay per action)."""

    cpm: float | None = Field(None, gt=0, description="Price of 1000 impressions; units are impressions.")
    cpc: float | None = Field(None, gt=0, description="Price of one click; units are clicks.")
    per_message: float | None = Field(
        None, gt=0, description="Price of one message (e-mail, push); units are messages."
    )
    cpa: float | None = Field(
        None,
        gt=0,
        description="Price of one order (first or repeat) of an agent the channel exposed within `window` weeks "
        "(an aggregator or partner paid per order); units are impressions, `impressions` a week.",
    )
    cpl: float | None = Field(
        None,
        gt=0,
        description="Price of one lead (an agent entering interest) the channel exposed within `window` weeks; "
        "units are impressions, `impressions` a week.",
    )
    impressions: float | None = Field(
        None,
        gt=0,
        description="cpa / cpl only, required: impressions the partner shows the offer a week while campaigns "
        "of the channel run (its own traffic; the budget does not buy more), split over the week's campaigns "
        "by budget.",
    )
    window: int | None = Field(
        None,
        description="cpa / cpl only: attribution window in weeks, 1..52; an action is billed when the agent "
        "was last exposed at most window - 1 weeks earlier (1, the default: the same week).",
    )

    @field_validator("window", mode="before")
    @classmethod
    def _window_range(cls, v: Any) -> Any:
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 52):
            raise ValueError(
                f"give the attribution window in whole weeks, 1..52 (got {v!r}; 1 = an action in the same week "
                "as the exposure, 2 = that week or the next)"
            )
        return v

    @model_validator(mode="after")
    def _exactly_one(self) -> Cost:
        given = [k for k in COST_MODELS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of {', '.join(COST_MODELS)} (got {', '.join(given) or 'none'})"
                + (
                    "; a per-action channel (cpa, cpl) has no unit price: its volume is `impressions`"
                    if set(given) & set(PER_ACTION)
                    else ""
                )
            )
        if given[0] in PER_ACTION:
            if self.impressions is None:
                raise ValueError(
                    f"{given[0]}: give `impressions`, the impressions a week the partner shows the offer while "
                    f"a campaign runs, e.g. cost = {{ {given[0]} = {getattr(self, given[0]):g}, impressions = 50000 }}"
                )
        else:
            extra = [k for k in ("impressions", "window") if getattr(self, k) is not None]
            if extra:
                raise ValueError(
                    f"{' and '.join(extra)}: only for a channel priced per action (cpa, cpl); "
                    f"a {given[0]} channel buys its units with the budget"
                )
        return self

    @property
    def per_action(self) -> bool:
        """Whether the channel is priced per action (cpa, cpl) rather than per unit."""
        return self.model_kind in PER_ACTION

    @property
    def attribution_window(self) -> int:
        """Weeks an exposure counts for a per-action bill (1: the same week)."""
        return 1 if self.window is None else self.window

    @property
    def unit(self) -> str:
        """Name of the unit a channel buys: impressions, clicks or messages (per-action: impressions)."""
        return {
            "cpm": "impressions",
            "cpc": "clicks",
            "per_message": "messages",
            "cpa": "impressions",
            "cpl": "impressions",
        }[self.model_kind]

    @property
    def model_kind(self) -> str:
        """Which cost model is set: cpm, cpc, per_message, cpa or cpl."""
        return next(k for k in COST_MODELS if getattr(self, k) is not None)

    @property
    def unit_price(self) -> float:
        """Price of one unit in currency (cpm is divided by 1000); per action: the price of one action."""
        if self.cpm is not None:
            return self.cpm / 1000.0
        return float(getattr(self, self.model_kind))


class Adstock(_ScenarioModel):
    """Geometric adstock: A[t] = decay * A[t-1] + x[t]."""

    decay: float = Field(0.0, ge=0, lt=1, description="Share of last week's adstock kept this week, in [0, 1).")


class Saturation(_ScenarioModel):
    """Hill saturation of adstock: sat(A) = A^slope / (A^slope + half^slope), in [0, 1)."""

    half: float = Field(1.0, gt=0, description="Adstock (exposures) at which the effect is half of its maximum.")
    slope: float = Field(1.0, gt=0, le=10, description="Hill slope (shape); 1 = concave, > 1 = S-shaped.")


class Carryover(_ScenarioModel):
    """Spend that keeps working: units bought in a week keep delivering in later weeks."""

    rate: float = Field(
        0.0, ge=0, lt=1, description="Share of last week's deliverable units still delivering this week."
    )


def _check_precision(v: Any) -> Any:
    if isinstance(v, int | float) and not isinstance(v, bool) and not 0 < v <= 1:
        raise ValueError(
            "give the share of a targeted campaign's units that land on its audience, "
            "in (0, 1] (1 = perfect targeting, 0.8 = a fifth leaks to the channel's other eligible agents)"
        )
    return v


def _check_premium(v: Any) -> Any:
    if isinstance(v, int | float) and not isinstance(v, bool) and v < 0:
        raise ValueError(
            "give the narrow-audience price premium, >= 0 (unit price x (1 + premium x "
            "(1 - audience share)); 0 = the list price whatever the audience)"
        )
    return v


class Targeting(_ScenarioModel):
    """A channel's ``targeting``: how precisely a campaign reaches its audience and what a narrow one costs."""

    precision: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Share of a targeted campaign's units that land on its audience (segments x stages x the "
        "channel's flag); the rest is spread by affinity over the channel's other eligible agents. 1 = perfect.",
    )
    premium: float = Field(
        0.0,
        ge=0,
        description="Price premium for narrow audiences: unit price x (1 + premium x (1 - audience share)), "
        "audience share = the campaign's audience / the channel's whole eligible audience that week.",
    )

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_range(cls, v: Any) -> Any:
        return _check_precision(v)

    @field_validator("premium", mode="before")
    @classmethod
    def _premium_range(cls, v: Any) -> Any:
        return _check_premium(v)


Requirement = Literal["none", "visited", "contact"]


def _pre_purchase_stages() -> list[StageName]:
    return ["unaware", "aware", "interest", "desire"]


class Channel(_ScenarioModel):
    """One ``[channels.ID]`` table: cost model, reach rules and response curve."""

    name: str = Field("", description="Display name; the channel's id when empty.")
    cost: Cost = Field(description="Cost model: cpm, cpc, per_message, cpa or cpl.")
    stages: list[StageName] = Field(
        default_factory=_pre_purchase_stages,
        min_length=1,
        description="Stages the channel can reach at all (e.g. price aggregators: desire).",
    )
    requires: Requirement = Field(
        "none",
        description="Who can be reached: none = anyone in an eligible stage; visited = agents who ever reached "
        "interest (remarketing); contact = agents who ever reached desire or bought (e-mail, push).",
    )
    adstock: Adstock = Field(default_factory=Adstock, description="Geometric adstock of exposures.")
    saturation: Saturation = Field(default_factory=Saturation, description="Hill saturation of adstock.")
    frequency_cap: int = Field(3, ge=1, le=50, description="Most exposures one agent gets from the channel in a week.")
    carryover: Carryover = Field(default_factory=Carryover, description="Spend carryover (e.g. SEO content).")
    price_season: PriceSeason | None = Field(
        None,
        description="Seasonal multiplier on the unit price (CPM, CPC or per message: dearer in Q4) and price "
        "inflation per year (`trend`); same curve keys as `[seasonality]`, without `rates`.",
    )
    targeting: Targeting = Field(
        default_factory=Targeting,
        description="Imperfect targeting of the channel's budget campaigns: `{ precision = 0.8, premium = 0.3 }` "
        "(docs/model.md, Targeting precision); the defaults are perfect targeting at the list price.",
    )

    @model_validator(mode="after")
    def _per_action_alone(self) -> Channel:
        if self.cost.per_action and self.carryover.rate > 0:
            raise ValueError(
                f"carryover: a channel priced per action ({self.cost.model_kind}) buys no units to carry over; "
                "leave carryover out (rate 0)"
            )
        if self.cost.per_action and self.targeting.premium > 0:
            raise ValueError(
                f"targeting.premium: a channel priced per action ({self.cost.model_kind}) is paid per action, not "
                "per unit, so a narrow-audience premium has no price to raise; leave premium out (precision applies)"
            )
        return self


# --------------------------------------------------------------------------------------------
# plans


#: The events a lifecycle trigger can follow (``trigger.event``), in funnel order.
TRIGGER_EVENTS: tuple[str, ...] = ("interest", "desire", "order", "lost")
TriggerEvent = Literal["interest", "desire", "order", "lost"]


class Trigger(_ScenarioModel):
    """A campaign's ``trigger``: one message to each agent ``after`` weeks after its ``event``."""

    event: TriggerEvent = Field(
        description="What the message follows: interest / desire = entered that stage and is still there "
        "(desire: has not bought), lost = became lost and still is (win-back), order = the last order, first "
        "or repeat, whatever the stage now (a reminder)."
    )
    after: int = Field(
        ge=1,
        le=32000,
        description="Weeks from the event to the message: 1 = the week after. Messages go out at the start of a "
        "week's step, before that week's events, so 0 is not allowed.",
    )

    @field_validator("after", mode="before")
    @classmethod
    def _after_positive(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool) and not 1 <= v <= 32000:
            raise ValueError(
                "give the weeks from the event to the message, 1..32000 (1 = the week after; messages "
                "go out at the start of a week, before that week's events, so 0 would reach no one)"
            )
        return v


def _weeks_text(n: int) -> str:
    return f"{n} week{'s' if n != 1 else ''}"


def trigger_rule(camp: Campaign) -> str:
    """A campaign's lifecycle trigger (and caps, threshold) in words, e.g. '1 week after desire, no order,
    at most 5,000 messages a week'; '' for a budget campaign without a threshold."""
    parts = []
    if camp.trigger is not None:
        n = _weeks_text(camp.trigger.after)
        parts.append(
            {
                "interest": f"{n} after entering interest, still there",
                "desire": f"{n} after desire, no order",
                "order": f"{n} after the last order",
                "lost": f"{n} after becoming lost, still lost (win-back)",
            }[camp.trigger.event]
        )
        if camp.max_messages is not None:
            parts.append(f"at most {camp.max_messages:,.0f} messages a week")
        if camp.max_weekly is not None:
            parts.append(f"at most {camp.max_weekly:,.0f} a week")
    if camp.start_when is not None:
        run = f", then runs {_weeks_text(camp.run_for)}" if camp.run_for is not None else ""
        parts.append(f"starts the week after its audience reaches {camp.start_when.audience:,.0f} people{run}")
    return ", ".join(parts)


class StartWhen(_ScenarioModel):
    """A campaign's ``start_when``: its windows open once its audience has reached a size."""

    audience: float = Field(
        gt=0,
        description="Real people in the campaign's target segments x stage/flag cells at the end of a week; from "
        "the next week on the campaign runs its windows.",
    )


class Message(_ScenarioModel):
    """A message (creative) a campaign can carry: how well it fits each segment, and stage."""

    name: str = Field("", description="Display name; the message's id when empty.")
    text: str = Field("", description="What the message says (shown in the run report).")
    fit: dict[str, float | dict[StageName, float]] = Field(
        default_factory=dict,
        description="Fit per segment id, >= 0: a number (every stage) or a table per stage "
        "(`{ desire = 1.0, interest = 0.6 }`; stages not listed get `fit_other`). A campaign's exposures "
        "are multiplied by the fit of the agent's segment and stage before they enter the adstock.",
    )
    fit_other: float = Field(
        0.3, ge=0, description="Fit for the segments (and stages of a per-stage table) that `fit` does not list."
    )

    @field_validator("fit", mode="before")
    @classmethod
    def _fit_table(cls, v: Any) -> Any:
        """Each fit is a number >= 0 or a table of stages to numbers >= 0 (one clear message if not)."""
        if not isinstance(v, dict):
            return v  # pydantic says what a table is
        for seg, f in v.items():
            pairs = f.items() if isinstance(f, dict) else [("", f)]
            for st, x in pairs:
                where = f"{key_text(seg)}.{key_text(st)}" if st else key_text(seg)
                if st and st not in STAGES:
                    raise ValueError(
                        f"{where}: unknown stage {st!r}{did_you_mean(st, list(STAGES))}; stages: {', '.join(STAGES)}"
                    )
                if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x) or x < 0:
                    raise ValueError(
                        f"{where} = {x!r}: a fit is a number >= 0 (a multiplier of the exposures; 1 = the channel's "
                        "odds as calibrated), or per stage a table such as { desire = 1.0, interest = 0.6 }"
                    )
        return v

    def fit_of(self, segment: str, stage: str) -> float:
        """The fit of this message for an agent of ``segment`` at ``stage``."""
        f = self.fit.get(segment)
        if f is None:
            return self.fit_other
        if isinstance(f, dict):
            return float(f.get(stage, self.fit_other))  # type: ignore[call-overload]
        return f


class Campaign(_ScenarioModel):
    """One campaign: a channel, an audience (segments x stages), a schedule and a budget or a trigger."""

    name: str = Field("", description="Optional label.")
    channel: str = Field(description="Channel id (a key of [channels]).")
    weekly: Money | None = Field(
        None, description="Budget per active week, currency. Give weekly or total (or a trigger)."
    )
    total: Money | None = Field(None, description="Budget for the whole schedule, spread evenly over its active weeks.")
    weeks: tuple[int, int] | None = Field(
        None, description="Active weeks [start, end): start included, end excluded. Default: the whole horizon."
    )
    flights: list[tuple[int, int]] | None = Field(
        None,
        description="Several [start, end) windows instead of `weeks` (flighting); at least one. "
        "Leave it out for the whole horizon.",
    )
    segments: list[str] | None = Field(None, description="Target segment ids. Default: every segment.")
    stages: list[StageName] | None = Field(
        None, description="Target stages, within the channel's eligible stages. Default: the channel's stages."
    )
    trigger: Trigger | None = Field(
        None,
        description='A lifecycle trigger instead of a budget: `{ event = "desire", after = 1 }` sends one '
        "message (one exposure unit at the channel's unit price) to each agent `after` weeks after the event, "
        "in the active weeks (docs/model.md, Lifecycle triggers). Events: " + ", ".join(TRIGGER_EVENTS) + ".",
    )
    max_messages: float | None = Field(
        None, gt=0, description="Trigger campaigns: most messages a week, real people (a random sample beyond it)."
    )
    max_weekly: Money | None = Field(
        None, description="Trigger campaigns: most money a week, currency (a random sample of messages beyond it)."
    )
    start_when: StartWhen | None = Field(
        None,
        description="`{ audience = 20000 }`: the campaign's windows open only the week after the first week at "
        "whose end its audience reaches the size (checked from the end of the warm-up on).",
    )
    message: str | None = Field(
        None,
        description="Message id (a key of [messages]) the campaign carries: its fit per segment and stage weights the "
        "exposures. Default: none (fit 1 for everyone).",
    )
    run_for: int | None = Field(
        None, ge=1, description="With start_when: the campaign runs at most this many weeks from the week it opens."
    )

    @model_validator(mode="after")
    def _budget_and_schedule(self) -> Campaign:
        self._check_trigger()
        if self.weeks is not None and self.flights is not None:
            raise ValueError("give weeks or flights, not both")
        if self.flights is not None and not self.flights:
            spent = ", so its total budget cannot be spent" if self.total is not None else ""
            raise ValueError(
                f"flights = []: the campaign has no active week{spent}; give at least one [start, end) window, "
                "or leave flights out for the whole horizon"
            )
        for s, e in self.windows_or_empty:
            if s < 0 or e <= s:
                raise ValueError(f"week window [{s}, {e}) is empty or negative; use [start, end) with 0 <= start < end")
        if self.run_for is not None and self.start_when is None:
            raise ValueError("run_for counts the weeks from the week start_when opens the campaign; give start_when")
        if self.start_when is not None and self.total is not None:
            raise ValueError(
                "start_when with a total budget: the weeks the campaign will run are not known in advance, so a "
                "total cannot be spread over them; give weekly instead"
            )
        return self

    def _check_trigger(self) -> None:
        """A trigger campaign has no budget and no stages; the caps belong to trigger campaigns only."""
        budget = self.weekly is not None or self.total is not None
        if self.trigger is None:
            if (self.weekly is None) == (self.total is None):
                raise ValueError(
                    'give exactly one of weekly or total, or a trigger (e.g. trigger = { event = "desire", after = 1 })'
                )
            for key, what in (("max_messages", "messages"), ("max_weekly", "spend")):
                if getattr(self, key) is not None:
                    raise ValueError(
                        f"{key} caps a trigger campaign's weekly {what}; this campaign has no trigger: remove "
                        f"{key} (its weekly or total budget already bounds what it buys)"
                    )
            return
        if budget:
            key = "weekly" if self.weekly is not None else "total"
            raise ValueError(
                f"trigger with a budget ({key}): a trigger campaign pays per message (messages x the channel's unit "
                "price) and has no weekly or total budget; remove it, and cap the spend with max_weekly (money) or "
                "max_messages if needed"
            )
        if self.stages is not None:
            raise ValueError(
                "trigger with stages: a trigger campaign's audience is defined by its event "
                f"({self.trigger.event!r}); remove stages (segments still apply)"
            )

    @property
    def windows_or_empty(self) -> list[tuple[int, int]]:
        """The explicit windows, or [] when the campaign runs the whole horizon."""
        if self.flights is not None:
            return list(self.flights)
        return [self.weeks] if self.weeks is not None else []


#: The pre-purchase stages whose weekly drop probability an intervention can scale.
DROP_STAGES: tuple[str, ...] = ("aware", "interest", "desire")
DropStage = Literal["aware", "interest", "desire"]


class Intervention(_ScenarioModel):
    """One ``[[plans.ID.interventions]]`` entry: a non-media change the plan pays for (a site fix, a checkout
    redesign, staff training, a loyalty programme), acting on the base rates of its segments from a week on."""

    name: str = Field(description="What it is, shown in the reports (e.g. `Checkout redesign`).")
    cost: Money = Field(0.0, description="One-off cost, currency, booked in its `start` week.")
    weekly_cost: Money = Field(0.0, description="Running cost per week while it acts, currency (default 0).")
    start: int = Field(0, ge=0, description="First horizon week it acts (0 = the first week); within the horizon.")
    end: int | None = Field(
        None,
        description="The week it stops acting, excluded like a campaign's `weeks = [start, end)`: it acts in "
        "weeks start .. end - 1. Default: to the horizon's end (for good).",
    )
    segments: list[str] | None = Field(None, description="The segments it acts on (ids). Default: every segment.")
    odds: dict[TransitionName, float] = Field(
        default_factory=dict,
        description="Transition -> odds multiplier on the base rate (> 0; 1 = no change), like a channel's odds at "
        "full saturation but for everyone of its segments: aware, interest, desire, purchase, repeat, churn, return.",
    )
    drop: dict[DropStage, float] = Field(
        default_factory=dict,
        description="Stage -> multiplier on the weekly drop probability (>= 0; 0 = no one drops, 0.7 = 30% fewer "
        "drops; the product with the base drop at most 1): aware, interest, desire.",
    )
    loyal: float = Field(
        1.0,
        gt=0,
        description="Multiplier on the weekly probability that a customer becomes loyal (1 = no change; the "
        "product with the segment's `loyal` at most 1).",
    )
    satisfaction: float = Field(
        1.0,
        gt=0,
        description="Odds multiplier on the share of orders that leave the customer satisfied (1 = no change; "
        "e.g. 1.5 after staff training); only on segments with a `satisfaction` table.",
    )

    @field_validator("odds", "drop")
    @classmethod
    def _factors(cls, v: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        low = 0.0 if info.field_name == "drop" else None
        for key, f in v.items():
            if isinstance(f, bool) or not math.isfinite(f) or f < 0 or (low is None and f == 0):
                allowed = "a number >= 0 (0: no one drops)" if low is not None else "a number > 0 (1 = no change)"
                raise ValueError(f"{info.field_name}.{key} = {f!r}: a multiplier is {allowed}")
        return v

    @model_validator(mode="after")
    def _schedule(self) -> Intervention:
        if self.end is not None and self.end <= self.start:
            raise ValueError(
                f"end = {self.end} is not after start = {self.start}: it acts in weeks [start, end), end excluded; "
                "give end > start, or leave end out to act to the horizon's end"
            )
        return self

    def effects(self) -> str:
        """What it changes, in words, e.g. 'purchase odds x1.15, drop at desire x0.7 (30% fewer)'; 'nothing'
        for an intervention with no effect (a cost only)."""
        parts = [f"{tr} odds x{f:g}" for tr, f in self.odds.items()]
        for st, f in self.drop.items():
            change = "no drops" if f == 0 else f"{abs(1 - f):.0%} {'fewer' if f < 1 else 'more'}" if f != 1 else "same"
            parts.append(f"drop at {st} x{f:g} ({change})")
        if self.loyal != 1:
            parts.append(f"customer -> loyal rate x{self.loyal:g}")
        if self.satisfaction != 1:
            parts.append(f"satisfied orders odds x{self.satisfaction:g}")
        return ", ".join(parts) or "nothing (a cost only)"

    def last_week(self, weeks: int) -> int:
        """The week after the last it acts (``end``, or the horizon's ``weeks``)."""
        return weeks if self.end is None else self.end

    def booked(self, weeks: int) -> float:
        """Its whole cost over a horizon of ``weeks``: ``cost + weekly_cost x its active weeks``."""
        return self.cost + self.weekly_cost * max(min(self.last_week(weeks), weeks) - self.start, 0)


class Plan(_ScenarioModel):
    """One ``[plans.ID]`` table: a named budget plan, a list of campaigns and its interventions."""

    name: str = Field("", description="Display name; the plan's id when empty.")
    description: str = Field("", description="What the plan does.")
    campaigns: list[Campaign] = Field(default_factory=list, description="The plan's campaigns; empty = no marketing.")
    interventions: list[Intervention] = Field(
        default_factory=list,
        description="Non-media changes the plan pays for (`[[plans.ID.interventions]]`): a cost and a schedule, and "
        "odds or drop multipliers on the base rates of their segments from `start` on (docs/model.md, "
        "Interventions). Counted in `spend` and every cost metric; the no-marketing run has none.",
    )


class Target(_ScenarioModel):
    """One ``[[targets]]`` entry: a ratio a plan should reach against another on a summary metric."""

    plan: str = Field(description="The plan judged (a plan id).")
    versus: str = Field(
        description="The plan it is compared with (a plan id), on the same customers and random numbers."
    )
    metric: str = Field(description="A summary metric (a summary.csv column, e.g. `cpo`, `orders`, `revenue`).")
    ratio: float | None = Field(
        None, gt=0, description="The target ratio `plan / versus` of the metric's means, e.g. 0.5 for CPO halved."
    )
    change: float | None = Field(
        None, gt=-1, description="The target as a relative change, e.g. 0.5 for +50% (ratio 1.5); instead of `ratio`."
    )
    tolerance: float = Field(
        0.0,
        ge=0,
        description="Half-width of the band around the target ratio (0.1: 0.4-0.6 for 0.5). The band is open on "
        "the metric's better side: a lower CPO or a higher revenue than the target also meets it.",
    )
    note: str = Field("", description="What the target stands for, in words (shown beside it).")
    source: str = Field("", description="Where the target comes from (an article, a brief).")

    @model_validator(mode="after")
    def _one_target(self) -> Target:
        if (self.ratio is None) == (self.change is None):
            raise ValueError("give exactly one of ratio (e.g. 0.5) or change (e.g. 0.5 for +50%)")
        return self

    @property
    def target_ratio(self) -> float:
        """The target as a ratio ``plan / versus``: ``ratio``, or ``1 + change``."""
        return self.ratio if self.ratio is not None else 1.0 + float(self.change or 0.0)


#: The counts a lift test measures (``[[lift_tests]]``, lift.csv): entries into interest, first orders, all orders.
LIFT_METRICS: tuple[str, ...] = ("leads", "new_customers", "orders")


class LiftTest(_ScenarioModel):
    """One ``[[lift_tests]]`` entry: a holdout test the company runs on a channel while a plan is in force.

    It changes no simulated number: ``cjmsim run --export observed`` replays it (the plan against the plan
    with the channel off in the test weeks, on the same customers and random numbers) and writes its
    result to lift.csv, as the company's analysts would report it (docs/calibration.md, Lift tests)."""

    name: str = Field(description="What the test is called in lift.csv and the reports.")
    channel: str = Field(description="The channel held out (a channel id).")
    weeks: tuple[int, int] = Field(
        description="The horizon weeks [start, end) the holdout ran (a test past a shorter horizon, `--weeks`, "
        "is left out of lift.csv)."
    )
    window: int = Field(
        0, ge=0, le=52, description="Weeks after the test whose outcomes still count (the channel's lagged effect)."
    )
    metric: Literal["leads", "new_customers", "orders"] = Field(
        "orders", description="The outcome measured: leads (entries into interest), new_customers or orders."
    )
    holdout: float = Field(
        0.1, gt=0, lt=1, description="Share of the channel's audience held out as the control group (its SE)."
    )
    plans: list[str] | None = Field(None, description="The plans it runs in (plan ids). Default: every plan.")

    @model_validator(mode="after")
    def _weeks(self) -> LiftTest:
        start, end = self.weeks
        if not 0 <= start < end:
            raise ValueError(f"weeks = [{start}, {end}]: give [start, end) with 0 <= start < end")
        return self


# --------------------------------------------------------------------------------------------
# the scenario


class Scenario(_ScenarioModel):
    """A whole scenario file: settings, segments, channels and plans."""

    scenario: Settings = Field(default_factory=Settings, description="Horizon, population and seed.")
    segments: dict[SegmentId, Segment] = Field(
        min_length=1, description="Customer segments by id. An id may not be `all` (the totals row)."
    )
    channels: dict[ChannelId, Channel] = Field(default_factory=dict, description="Channels by id.")
    plans: dict[PlanId, Plan] = Field(
        min_length=1,
        description="Budget plans by id. Ids starting with `__` are the analyses' own plans: a file may not use them.",
    )
    messages: dict[MessageId, Message] = Field(
        default_factory=dict,
        description='Messages (creatives) by id, named by campaigns (`message = "ID"`): fit per segment and stage.',
    )
    seasonality: Seasonality | None = Field(
        None,
        description="Seasonality and trend on the calendar (`start_date`): weekly multipliers on the base rates "
        "listed in `rates` (default the arising of needs: aware and return), for every segment without its own.",
    )
    capacity: Capacity | None = Field(
        None,
        description="The business's weekly limit on orders, all segments together (`weekly`, `overflow`); "
        "omitted: none (docs/model.md, Capacity).",
    )
    targets: list[Target] = Field(
        default_factory=list,
        description="Results the plans should reach (`[[targets]]`), shown in the run report's summary beside the "
        "simulated paired ratios: met, not met or undecided.",
    )
    lift_tests: list[LiftTest] = Field(
        default_factory=list,
        description="Holdout tests the company runs on its channels (`[[lift_tests]]`): they change no simulated "
        "number; `cjmsim run --export observed` writes their results to lift.csv, for a calibration.",
    )

    @field_validator("segments", "channels", "plans", "messages")
    @classmethod
    def _ids_distinct(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        kinds = {"segments": "segment", "channels": "channel", "plans": "plan", "messages": "message"}
        _distinct_ids(v, kinds[str(info.field_name)])
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        errors: list[str] = []
        total = sum(s.share for s in self.segments.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            errors.append(f"segments: the shares sum to {total:g}; they must sum to 1")
        channels = list(self.channels)
        segments = list(self.segments)
        for sid, seg in self.segments.items():
            for ch in seg.affinity:
                if ch not in self.channels:
                    where = f"segments.{key_text(sid)}.affinity.{key_text(ch)}"
                    errors.append(f"{where}: unknown channel{did_you_mean(ch, channels)}")
            for ch in seg.odds:
                if ch not in self.channels:
                    where = f"segments.{key_text(sid)}.odds.{key_text(ch)}"
                    errors.append(f"{where}: unknown channel{did_you_mean(ch, channels)}")
                else:
                    errors.extend(_barrier_reach(sid, ch, seg.odds[ch], self.channels[ch].stages))
            curve = self.season_of(sid)
            if seg.repeat.cycle is not None and curve is not None and "repeat" in curve.rates:
                origin = f"segments.{key_text(sid)}.seasonality" if seg.seasonality is not None else "seasonality"
                errors.append(
                    f"segments.{key_text(sid)}.repeat.cycle: a purchase cycle sets when repeat orders come, so "
                    f"{origin}.rates cannot list 'repeat' for this segment; leave it out of the rates "
                    "(or give the segment its own seasonality without it)"
                )
        for mid, msg in self.messages.items():
            for sg in msg.fit:
                if sg not in self.segments:
                    where = f"messages.{key_text(mid)}.fit.{key_text(sg)}"
                    errors.append(
                        f"{where}: unknown segment{did_you_mean(sg, segments)}; segments: {', '.join(segments)}"
                    )
        weeks = self.scenario.weeks
        for pid, plan in self.plans.items():
            for i, camp in enumerate(plan.campaigns):
                where = f"plans.{key_text(pid)}.campaigns[{i}]"
                if camp.channel not in self.channels:
                    hint = did_you_mean(camp.channel, channels)
                    errors.append(f"{where}.channel: unknown channel {camp.channel!r}{hint}")
                else:
                    if camp.trigger is not None and self.channels[camp.channel].cost.per_action:
                        errors.append(
                            f"{where}.trigger: channel {camp.channel!r} is priced per action "
                            f"({self.channels[camp.channel].cost.model_kind}); a trigger sends messages: put it "
                            "on a channel priced per_message"
                        )
                    eligible = self.channels[camp.channel].stages
                    for st in camp.stages or []:
                        if st not in eligible:
                            errors.append(
                                f"{where}.stages: channel {camp.channel!r} cannot reach stage {st!r} "
                                f"(its stages: {', '.join(eligible)})"
                            )
                if camp.message is not None and camp.message not in self.messages:
                    hint = did_you_mean(camp.message, list(self.messages))
                    known = f"; messages: {', '.join(self.messages)}" if self.messages else "; [messages] is empty"
                    errors.append(f"{where}.message: unknown message {camp.message!r}{hint}{known}")
                for sg in camp.segments or []:
                    if sg not in self.segments:
                        errors.append(f"{where}.segments: unknown segment {sg!r}{did_you_mean(sg, segments)}")
                for s, e in camp.windows_or_empty:
                    if e > weeks:
                        errors.append(
                            f"{where}: week window [{s}, {e}) ends after the horizon; windows are [start, end) "
                            f"with end <= {weeks} (scenario.weeks = {weeks}, the last week is {weeks - 1})"
                        )
        self._check_targets(errors)
        self._check_interventions(errors)
        self._check_lift_tests(errors)
        if self.capacity is not None and self.capacity.separate:
            errors.append(
                "capacity.separate = true: only a segment's limit can be a book of its own "
                "([segments.ID.capacity] separate = true); the business's [capacity] has no outside"
            )
        wp = self.scenario.warmup_plan
        if wp is not None and wp not in self.plans:
            errors.append(f"scenario.warmup_plan: unknown plan {wp!r}{did_you_mean(wp, list(self.plans))}")
        if errors:
            raise ValueError("\n".join(errors))
        return self

    def _check_interventions(self, errors: list[str]) -> None:
        """Each intervention acts inside the horizon, on segments of the scenario, and scales no drop or loyalty
        probability of its segments above 1."""
        weeks = self.scenario.weeks
        segments = list(self.segments)
        for pid, plan in self.plans.items():
            for i, iv in enumerate(plan.interventions):
                where = f"plans.{key_text(pid)}.interventions[{i}]"
                if iv.start >= weeks:
                    errors.append(
                        f"{where}.start = {iv.start}: beyond the horizon; the weeks are 0 .. {weeks - 1} "
                        f"(scenario.weeks = {weeks})"
                    )
                if iv.end is not None and iv.end > weeks:
                    errors.append(
                        f"{where}.end = {iv.end}: after the horizon; end is excluded, at most {weeks} "
                        f"(scenario.weeks = {weeks}), or leave it out to act to the horizon's end"
                    )
                unknown = [sg for sg in iv.segments or [] if sg not in self.segments]
                for sg in unknown:
                    errors.append(
                        f"{where}.segments: unknown segment {sg!r}{did_you_mean(sg, segments)}; "
                        f"segments: {', '.join(segments)}"
                    )
                if unknown:
                    continue
                if iv.satisfaction != 1 and all(
                    self.segments[sid].satisfaction is None for sid in iv.segments or segments
                ):
                    errors.append(
                        f"{where}.satisfaction = {iv.satisfaction:g}: none of its segments has a satisfaction "
                        "table, so it would change nothing; give a segment `satisfaction = { rate = ... }` or "
                        "leave the key out"
                    )
                for sid in iv.segments or segments:
                    seg = self.segments[sid]
                    for st, f in iv.drop.items():
                        base = getattr(seg.drop, st)
                        if base * f > 1:
                            errors.append(
                                f"{where}.drop.{st} = {f:g}: in segment {sid!r} (drop.{st} = {base:g}) the drop "
                                f"would be {base * f:g}, above 1; the multiplier can be at most {1 / base:g} there"
                            )
                    if seg.loyal * iv.loyal > 1:
                        errors.append(
                            f"{where}.loyal = {iv.loyal:g}: in segment {sid!r} (loyal = {seg.loyal:g}) the rate "
                            f"would be {seg.loyal * iv.loyal:g}, above 1; the multiplier can be at most "
                            f"{1 / seg.loyal:g} there"
                        )

    def _check_lift_tests(self, errors: list[str]) -> None:
        names = [t.name for t in self.lift_tests]
        for i, t in enumerate(self.lift_tests):
            where = f"lift_tests[{i}]"
            if names.count(t.name) > 1:
                errors.append(f"{where}.name: {t.name!r} is the name of another lift test; give each its own")
            if t.channel not in self.channels:
                errors.append(
                    f"{where}.channel: unknown channel {t.channel!r}{did_you_mean(t.channel, list(self.channels))}"
                )
            for p in t.plans or []:
                if p not in self.plans:
                    errors.append(f"{where}.plans: unknown plan {p!r}{did_you_mean(p, list(self.plans))}")

    def _check_targets(self, errors: list[str]) -> None:
        """Each target names plans of the scenario and a summary metric."""
        from .metrics import SUMMARY_METRICS

        plans = list(self.plans)
        for i, t in enumerate(self.targets):
            for key in ("plan", "versus"):
                pid = getattr(t, key)
                if pid not in self.plans:
                    errors.append(f"targets[{i}].{key}: unknown plan {pid!r}{did_you_mean(pid, plans)}")
            if t.metric not in SUMMARY_METRICS:
                errors.append(
                    f"targets[{i}].metric: unknown metric {t.metric!r}{did_you_mean(t.metric, list(SUMMARY_METRICS))}; "
                    f"summary metrics: {', '.join(SUMMARY_METRICS)}"
                )
            elif t.plan == t.versus:
                errors.append(f"targets[{i}]: plan and versus are the same plan {t.plan!r}")

    def season_of(self, segment: str) -> Seasonality | None:
        """The seasonality in force for ``segment``: its own, else the scenario-wide one, else None."""
        own = self.segments[segment].seasonality
        return own if own is not None else self.seasonality

    @property
    def weight(self) -> float:
        """People each agent stands for."""
        return self.scenario.population / self.scenario.agents

    def with_settings(self, **changes: Any) -> Scenario:
        """A copy with some ``[scenario]`` settings changed (validated again).

        A shorter horizon (``weeks``) cuts every campaign's windows to it, keeping each campaign's
        weekly rate (a ``total`` budget becomes the weekly rate of its full schedule).
        """
        changes = {k: v for k, v in changes.items() if v is not None and getattr(self.scenario, k, None) != v}
        if not changes:
            return self  # frozen: nothing to copy
        if changes.keys() <= _FREE_SETTINGS:  # no other key's validation reads them: validate [scenario] alone
            try:
                settings = Settings.model_validate({**self.scenario.model_dump(), **changes})
            except ValidationError:
                pass  # the whole scenario's validation below words the message
            else:
                return self.model_copy(update={"scenario": settings})
        data = self.model_dump()
        data["scenario"].update(changes)
        weeks = data["scenario"]["weeks"]
        if weeks < self.scenario.weeks:
            for name, plan in self.plans.items():
                data["plans"][name]["campaigns"] = [
                    c for c in (_clip_campaign(camp, weeks, self.scenario.weeks) for camp in plan.campaigns) if c
                ]
                # an intervention starting after the shorter horizon is left out; one running past it ends with it
                data["plans"][name]["interventions"] = [
                    {**iv.model_dump(), "end": None if iv.end is None or iv.end >= weeks else iv.end}
                    for iv in plan.interventions
                    if iv.start < weeks
                ]
        return parse_scenario(data, source="command-line overrides")

    def only_plans(self, names: list[str]) -> Scenario:
        """A copy keeping only the named plans (in that order), and the warm-up plan.

        A target on a plan left out cannot be judged: it is dropped with the plan; a lift test keeps the plans
        it runs in that are kept (none left: it runs in none of them). Leaving plans out cannot make a valid
        scenario invalid, so the copy is not validated again (tests/test_scenario.py checks it equals one
        that is)."""
        unknown = [n for n in names if n not in self.plans]
        if unknown:
            raise ArgumentError(
                "plans",
                f" {unknown[0]!r}: no such plan{did_you_mean(unknown[0], list(self.plans))}; "
                f"plans: {', '.join(self.plans)}",
            )
        if names == list(self.plans):
            return self  # every plan, in file order: the same scenario (frozen)
        plans = {n: self.plans[n] for n in names}
        wp = self.scenario.warmup_plan
        if wp is not None and wp not in plans:
            plans[wp] = self.plans[wp]
        targets = [t for t in self.targets if t.plan in plans and t.versus in plans]
        lifts = [
            t if t.plans is None else t.model_copy(update={"plans": [p for p in t.plans if p in plans]})
            for t in self.lift_tests
        ]
        return self.model_copy(update={"plans": plans, "targets": targets, "lift_tests": lifts})


#: The ``[scenario]`` settings no validator outside :class:`Settings` reads: changing them needs no new
#: validation of the rest of the scenario (tests/test_scenario.py checks both ways give equal scenarios).
_FREE_SETTINGS = frozenset({"agents", "seed"})


def _clip_campaign(camp: Campaign, weeks: int, old_weeks: int) -> dict[str, Any] | None:
    """A campaign cut to a shorter horizon, at the same weekly rate; None if nothing is left."""
    d = camp.model_dump()
    windows = camp.windows_or_empty or [(0, old_weeks)]
    if camp.total is not None:  # keep the weekly rate the full schedule had
        d["weekly"] = camp.total / sum(e - s for s, e in windows)
        d["total"] = None
    kept = [(s, min(e, weeks)) for s, e in windows if s < weeks]
    if not kept:
        return None
    if camp.flights is not None:
        d["flights"] = kept
    elif camp.weeks is not None:
        d["weeks"] = kept[0]
    return d


# --------------------------------------------------------------------------------------------
# loading and error messages


#: The stages a barrier acts on: its channel must reach one of them or an earlier one (where its
#: adstock can build before the agent gets there).
_BARRIER_STAGES = {
    "drop": ("aware", "interest", "desire"),
    "drop_aware": ("aware",),
    "drop_interest": ("interest",),
    "drop_desire": ("desire",),
    "loyal": ("customer",),
}


def _barrier_reach(sid: str, ch: str, odds: dict[OddsKey, float], stages: Sequence[str]) -> list[str]:
    """One message per barrier odds key (``drop``, ``loyal``, ...) of ``segments.SID.odds.CH`` whose channel
    reaches no agent before or at the stages it acts on, so it could never change anything."""
    errors = []
    for key in odds:
        acts = _BARRIER_STAGES.get(key)
        if acts is None or odds[key] == 1.0:
            continue
        last = max(STAGES.index(st) for st in acts)
        where = acts[0] if len(acts) == 1 else f"{', '.join(acts[:-1])} or {acts[-1]}"
        if not any(STAGES.index(st) <= last for st in stages):
            errors.append(
                f"segments.{key_text(sid)}.odds.{key_text(ch)}.{key}: channel {ch!r} reaches only "
                f"{', '.join(stages)}, all after {where} where '{key}' acts: its adstock builds too late "
                f"to shape it; give the channel one of the stages {', '.join(STAGES[: last + 1])} (its "
                "adstock carries into later stages), or remove the key"
            )
    return errors


def parse_scenario(
    data: dict[str, Any], source: str = "<scenario>", *, internal_plans: bool = True, base_dir: Path | None = None
) -> Scenario:
    """Validate a scenario given as a dict (a parsed TOML document).

    Args:
        data: the scenario, as TOML parses it.
        source: what the messages name (the file).
        internal_plans: allow plan ids starting with ``__`` (the analyses add such plans to a
            scenario they validated; a scenario file may not have them: :func:`load_scenario`).
        base_dir: the folder a seasonality ``file`` is relative to (the scenario file's; default the
            working folder).

    Raises:
        ScenarioError: naming ``source``, each bad key path, the value and what is allowed.
    """
    check_depth(data, source)
    try:
        return Scenario.model_validate(data, context={"internal_plans": internal_plans, "base_dir": base_dir})
    except ValidationError as err:
        lines = validation_messages(err, data, Scenario)
        body = lines[0] if len(lines) == 1 else "\n  " + "\n  ".join(lines)
        raise ScenarioError(f"{source}: {body}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file.

    Raises:
        ScenarioError: on a missing file, a TOML syntax error (with line and column) or a schema
            error (with key path, value and what is allowed).
    """
    return parse_scenario(read_toml(path), source=str(path), internal_plans=False, base_dir=Path(path).parent)
