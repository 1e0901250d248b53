"""The live page's requests, validated once at the boundary: pydantic models with ``extra="forbid"``.

A body that is not JSON, too large, of the wrong shape, or names an unknown key is refused with one
message naming the key path (:class:`BadRequest`, answered 4xx by the app); what the scenario decides
(an unknown plan or campaign, a budget out of range) is checked by :mod:`cjmsim.analyses.whatif`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cjmsim.scenario import validation_messages

__all__ = ["MAX_BODY", "BadRequest", "EditBody", "ReportBody", "SaveBody", "parse_body"]

#: The largest request body accepted, bytes (a plan of 1,000 campaigns' budgets fits in a tenth of it).
MAX_BODY = 256 * 1024
#: Who sends edits: a page's own random token; each has its own generation of edits (the latest wins).
CLIENT = r"^[A-Za-z0-9_-]{1,64}$"

Budget = Annotated[float, Field(allow_inf_nan=False)]


class BadRequest(Exception):
    """A request refused before any work: an HTTP status and one message for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class EditBody(BaseModel):
    """An edit: one plan's weekly budgets changed, compared with a reference plan."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plan: str = Field(max_length=200, description="The plan whose campaigns' budgets are edited (a plan id).")
    reference: str = Field(max_length=200, description="The plan the edited plan is compared with (a plan id).")
    budgets: dict[int, Budget] = Field(
        default_factory=dict,
        max_length=10_000,
        description="Campaign number (from 1, in the plan's order) -> its new weekly budget, currency.",
    )
    client: str = Field("page", pattern=CLIENT, description="The page's token: its newer edit obsoletes its older.")


class SaveBody(EditBody):
    """An edit to save as a ``[plans.NAME]`` block."""

    name: str = Field(max_length=200, description="The new plan's id in the scenario file.")
    title: str = Field("", max_length=500, description="The new plan's display name (default: the edited name).")


class ReportBody(SaveBody):
    """An edit to write up as the run report of the comparison."""

    name: str = Field("edited", max_length=200, description="The edited plan's id in the report.")


M = TypeVar("M", bound=BaseModel)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_body(model: type[M], raw: bytes) -> M:
    """``raw`` (a request body) as ``model``, or :class:`BadRequest`: 413 when larger than :data:`MAX_BODY`,
    422 for a body that is not a JSON object or does not fit the model (one message per key path)."""
    if len(raw) > MAX_BODY:
        raise BadRequest(413, f"the request body has {len(raw):,} bytes; at most {MAX_BODY:,} are accepted")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise BadRequest(422, f"the request body is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise BadRequest(422, "the request body must be a JSON object, { ... }")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise BadRequest(422, "; ".join(validation_messages(e, data, model))) from None
