"""The input events of SPEC §7 as pydantic models: the schema every input is checked against,
and the source of every message about a bad input (the field and the reason). Unknown fields,
bad money, naive times and unknown types are rejected.

The engine itself runs on the records of ``loyalty.domain.events``, which reads the inputs it is
sure of by itself (a fifth of the cost) and leaves every other one to ``validate`` here, so that
an input is accepted or refused, and a refusal explained, exactly as these models say.

Each event knows its idempotency key (SPEC §2): order id for purchases, return id for returns,
member and reference for actions, order and reward for redemptions. An exact repeat of a keyed
event is a no-op; the same key with a different payload is rejected.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from loyalty.domain import fields
from loyalty.domain.errors import InvalidInput
from loyalty.programs.schema import Channel, LineKind, TenderType

# Serialised (the idempotency digest) by pydantic's own Decimal encoder: the same text as
# ``str`` for these quantized values, without a Python call per field.
Money = Annotated[Decimal, BeforeValidator(fields.money)]
Time = Annotated[datetime, BeforeValidator(fields.instant)]  # one call: text, offset, range, UTC
Delivery = Literal["email", "mail"]
# Ids and profile text end up in receipts, CSV exports and terminals: no control characters
# (tabs and newlines included). A pattern, so that pydantic checks it in its Rust core.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
PRINTABLE_MESSAGE = "must not contain control characters (tabs, newlines, NUL)"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


ID_LENGTH, TEXT_LENGTH, NUMBER_LENGTH = 200, 500, 32  # characters at most
Id = Annotated[str, Field(min_length=1, max_length=ID_LENGTH, pattern=PRINTABLE)]
Text = Annotated[str, Field(max_length=TEXT_LENGTH, pattern=PRINTABLE)]
POINTS_LIMIT = 10**12  # as money: beyond any real program, within the database's 64-bit integers
Points = Annotated[int, Field(ge=-POINTS_LIMIT, le=POINTS_LIMIT)]
Count = Annotated[int, Field(gt=0, le=POINTS_LIMIT)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Event(_Strict):
    at: Time

    def key(self) -> tuple[str, ...] | None:
        return None


class Line(_Strict):
    sku: Id
    amount: Money
    kind: LineKind = "merchandise"
    department: Text | None = None
    brand: Text | None = None


class Tender(_Strict):
    type: TenderType
    amount: Money
    code: Text | None = None


class Enroll(_Event):
    type: Literal["enroll"]
    member: Id
    email: Text | None = None
    first_name: Text | None = None
    last_name: Text | None = None
    phone: Text | None = None
    address: Text | None = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    birth_month: Annotated[int, Field(ge=1, le=12)] | None = None
    email_opt_in: bool = False
    delivery: Delivery = "email"
    member_number: Annotated[str, Field(max_length=NUMBER_LENGTH)] | None = None

    def key(self) -> tuple[str, ...]:
        return ("enroll", self.member)


class Purchase(_Event):
    type: Literal["purchase"]
    member: Id | None = None
    order: Id
    channel: Channel
    lines: list[Line] = Field(min_length=1)
    shipping: Money = Decimal("0.00")
    tax: Money = Decimal("0.00")
    tenders: list[Tender] = Field(default_factory=list)  # a shared [] is deep-copied each time

    def key(self) -> tuple[str, ...]:
        return ("purchase", self.order)


class Shipment(_Event):
    type: Literal["shipment"]
    order: Id

    def key(self) -> tuple[str, ...]:
        return ("shipment", self.order)


class ReturnLine(_Strict):
    sku: Id
    amount: Money


class Return(_Event):
    type: Literal["return"]
    order: Id
    lines: list[ReturnLine] = Field(min_length=1)
    # ``return`` is a Python keyword: the field is ``return_id``, spelled "return" in JSON.
    return_id: Id = Field(alias="return")

    def key(self) -> tuple[str, ...]:
        return ("return", self.return_id)


class ActionEvent(_Event):
    type: Literal["action"]
    member: Id
    action: Id
    ref: Id

    def key(self) -> tuple[str, ...]:
        return ("action", self.member, self.action, self.ref)


class Redeem(_Event):
    type: Literal["redeem"]
    member: Id
    reward: Id | None = None
    blocks: Count | None = None
    order: Id
    subtotal: Money

    def key(self) -> tuple[str, ...]:
        return ("redeem", self.order, self.reward or "blocks")


class Release(_Event):
    type: Literal["release"]
    member: Id
    order: Id

    def key(self) -> tuple[str, ...]:
        return ("release", self.order)


class RetroCredit(_Event):
    type: Literal["retro_credit"]
    member: Id
    order: Id

    def key(self) -> tuple[str, ...]:
        return ("retro_credit", self.order)


class Adjust(_Event):
    type: Literal["adjust"]
    member: Id
    points: Points
    reason: Annotated[Text, Field(min_length=1), AfterValidator(_not_blank)]

    def key(self) -> tuple[str, ...]:
        """No natural key: the whole input, time included, so that only an exact repeat is a
        no-op and two different adjustments at one moment both apply."""
        return ("adjust", self.member, self.at.isoformat(), str(self.points), self.reason)


class Campaign(_Event):
    type: Literal["campaign"]
    id: Id
    starts: Time
    ends: Time
    multiplier: Annotated[str, BeforeValidator(fields.multiplier)] | None = None
    bonus_points: Annotated[int, Field(ge=0, le=POINTS_LIMIT)] | None = None
    min_spend: Money | None = None
    channels: Annotated[list[Channel], Field(min_length=1)] | None = None
    combinable: bool = False

    def key(self) -> tuple[str, ...]:
        return ("campaign", self.id)


class Tick(_Event):
    type: Literal["tick"]


Event = Annotated[
    Enroll
    | Purchase
    | Shipment
    | Return
    | ActionEvent
    | Redeem
    | Release
    | RetroCredit
    | Adjust
    | Campaign
    | Tick,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
# pydantic-core's validator itself: ``TypeAdapter.validate_json`` is a Python wrapper around it
# (~1,500 instructions an input, each input a call)
_VALIDATE_JSON = _ADAPTER.validator.validate_json
EVENT_TYPES = [
    "enroll",
    "purchase",
    "shipment",
    "return",
    "action",
    "redeem",
    "release",
    "retro_credit",
    "adjust",
    "campaign",
    "tick",
]


def _explain(exc: ValidationError) -> InvalidInput:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    if loc and loc[0] in EVENT_TYPES:
        loc = loc[1:]
    where = ".".join(loc) or None
    kind = err["type"]
    if kind == "union_tag_invalid":
        return InvalidInput(f"unknown event type; expected one of {', '.join(EVENT_TYPES)}", "type")
    if kind == "union_tag_not_found":
        return InvalidInput("missing event type", "type")
    if kind == "extra_forbidden":
        return InvalidInput("unknown field", where)
    if kind == "missing":
        return InvalidInput("required field is missing", where)
    if kind == "value_error":
        return InvalidInput(str(err["msg"]).removeprefix("Value error, "), where)
    if kind == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == PRINTABLE:
        return InvalidInput(PRINTABLE_MESSAGE, where)
    return InvalidInput(err["msg"], where)


def validate(data: str | bytes) -> Event:
    """Check one event given as a JSON line against the models; raise ``InvalidInput`` with the
    field and the reason."""
    try:
        event: Event = _VALIDATE_JSON(data)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise InvalidInput(f"malformed JSON: {exc.errors()[0]['msg']}") from None
        raise _explain(exc) from None
    if isinstance(event, Campaign) and event.ends <= event.starts:
        raise InvalidInput("ends must be after starts", "ends")
    if isinstance(event, Redeem) and (event.reward is None) == (event.blocks is None):
        raise InvalidInput("give exactly one of reward or blocks", "reward")
    return event
