"""The scenario layer, the bottom of cjmsim: what a strategist writes, validated once.

Scenario and experiment files (TOML) become frozen pydantic models here; every check of user input
lives here, and every failure becomes one :class:`ScenarioError` naming the file, the key path,
what is wrong and what is allowed. Everything above trusts these models. This layer imports no
other part of cjmsim, and nothing heavier than pydantic.
"""

from __future__ import annotations

from .errors import ArgumentError, ScenarioError, did_you_mean, validation_messages
from .files import file_hash, read_toml, toml_value
from .metrics import (
    DERIVED_METRICS,
    HEADLINE_METRICS,
    INCREMENTAL_METRICS,
    METRICS,
    SUMMARY_METRICS,
    TOTAL_METRICS,
    Metric,
    metric,
)
from .models import (
    PRE_PURCHASE,
    SEASON_RATES,
    STAGES,
    TRANSITIONS,
    TRIGGER_EVENTS,
    WEEKS_PER_YEAR,
    Adstock,
    Campaign,
    Carryover,
    Channel,
    Cost,
    OrderValue,
    Persona,
    Plan,
    PriceSeason,
    Saturation,
    Scenario,
    Seasonality,
    Segment,
    Settings,
    Targeting,
    load_scenario,
    parse_scenario,
    trigger_rule,
    week_of_year,
)

__all__ = [
    "ArgumentError",
    "DERIVED_METRICS",
    "HEADLINE_METRICS",
    "INCREMENTAL_METRICS",
    "METRICS",
    "PRE_PURCHASE",
    "SEASON_RATES",
    "STAGES",
    "SUMMARY_METRICS",
    "TOTAL_METRICS",
    "TRANSITIONS",
    "TRIGGER_EVENTS",
    "WEEKS_PER_YEAR",
    "Adstock",
    "Campaign",
    "Carryover",
    "Channel",
    "Cost",
    "Metric",
    "OrderValue",
    "Persona",
    "Plan",
    "PriceSeason",
    "Saturation",
    "Scenario",
    "ScenarioError",
    "Seasonality",
    "Segment",
    "Settings",
    "Targeting",
    "did_you_mean",
    "file_hash",
    "load_scenario",
    "metric",
    "parse_scenario",
    "trigger_rule",
    "read_toml",
    "toml_value",
    "validation_messages",
    "week_of_year",
]
