"""The input events of SPEC §7, parsed strictly: unknown fields, bad money, naive times and
unknown types are rejected with the field and the reason.

Each event knows its idempotency key (SPEC §2): order id for purchases, return id for returns,
member and reference for actions, order and reward for redemptions. An exact repeat of a keyed
event is a no-op; the same key with a different payload is rejected.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
)

from loyalty.domain.errors import InvalidInput

MONEY_PATTERN = r"^[0-9]+(\.[0-9]{1,2})?$"


_MONEY_RE = re.compile(MONEY_PATTERN)
MONEY_MESSAGE = "money must be a non-negative decimal string with at most 2 decimals"


MONEY_LIMIT = Decimal(10) ** 12
CENT = Decimal("0.01")
LIMIT_MESSAGE = "money must be less than 1000000000000 (at most 12 digits before the point)"


def _money(value: object) -> Decimal:
    if isinstance(value, Decimal):
        if not value.is_finite() or abs(value) >= MONEY_LIMIT:
            raise ValueError(LIMIT_MESSAGE)
        return value.quantize(CENT)
    if not isinstance(value, str) or not _MONEY_RE.fullmatch(value):  # "5.00\n" too
        raise ValueError(MONEY_MESSAGE)
    amount = Decimal(value)
    if amount >= MONEY_LIMIT:  # beyond it, Decimal's 28 digits could not hold the cents
        raise ValueError(LIMIT_MESSAGE)
    return amount.quantize(CENT)


Money = Annotated[Decimal, BeforeValidator(_money), PlainSerializer(str, return_type=str)]
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
TIME_MESSAGE = "not a valid ISO-8601 time with a UTC offset (e.g. 2024-03-07T10:00:00-05:00)"
FIRST_YEAR, LAST_YEAR = 1900, 9000


def _time_text(value: object) -> object:
    if not isinstance(value, str) or not _TIME_RE.match(value):
        raise ValueError(TIME_MESSAGE)
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(TIME_MESSAGE) from None


def _time_range(value: datetime) -> datetime:
    """Every instant the engine holds is in UTC, one shared ``tzinfo``: comparing two datetimes
    whose ``tzinfo`` objects differ costs ~10x more (each side's offset is computed), and the
    engine compares times constantly. Local dates come from the program's time zone."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"time out of the supported range (years {FIRST_YEAR}-{LAST_YEAR})")
    return value.astimezone(UTC)


Time = Annotated[AwareDatetime, BeforeValidator(_time_text), AfterValidator(_time_range)]
Channel = Literal["online", "store", "popup", "outlet", "phone"]
LineKind = Literal[
    "merchandise",
    "gift_card",
    "voucher",
    "promotional",
    "exchange",
    "service",
    "delivery",
    "dining",
]
# Ids and profile text end up in receipts, CSV exports and terminals: no control characters
# (tabs and newlines included). A pattern, so that pydantic checks it in its Rust core.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
PRINTABLE_MESSAGE = "must not contain control characters (tabs, newlines, NUL)"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Id = Annotated[str, Field(min_length=1, max_length=200, pattern=PRINTABLE)]
Text = Annotated[str, Field(max_length=500, pattern=PRINTABLE)]
POINTS_LIMIT = 10**12  # as money: beyond any real program, within the database's 64-bit integers
Points = Annotated[int, Field(ge=-POINTS_LIMIT, le=POINTS_LIMIT)]
Count = Annotated[int, Field(gt=0, le=POINTS_LIMIT)]
_MULTIPLIER_RE = re.compile(r"[0-9]{1,4}(\.[0-9]{1,4})?")
MULTIPLIER_MESSAGE = 'a multiplier is a decimal string above 0, at most 9999.9999 (e.g. "2", "1.5")'


def _multiplier(value: object) -> object:
    if not isinstance(value, str) or not _MULTIPLIER_RE.fullmatch(value) or not Decimal(value):
        raise ValueError(MULTIPLIER_MESSAGE)
    return value


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
    type: Literal["card", "cash", "gift_card", "points", "certificate"]
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
    delivery: Literal["email", "mail"] = "email"
    member_number: Annotated[str, Field(max_length=32)] | None = None

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
    multiplier: Annotated[str, BeforeValidator(_multiplier)] | None = None
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
    if kind == "timezone_aware":
        return InvalidInput("time must be ISO-8601 with a UTC offset", where)
    if kind.startswith("datetime"):
        return InvalidInput(TIME_MESSAGE, where)
    return InvalidInput(err["msg"], where)


def parse_event(data: str | bytes | dict[str, Any]) -> Event:
    """Parse one event from a JSON line or a dict; raise ``InvalidInput`` with field and reason."""
    if isinstance(data, bytes) and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a byte-order mark some editors put at the start of a file
    elif isinstance(data, str) and data.startswith("\ufeff"):
        data = data[1:]
    try:
        if isinstance(data, dict):  # the same strict JSON rules as a line of a file
            try:
                data = json.dumps(data)
            except (TypeError, ValueError) as exc:
                raise InvalidInput(f"not a JSON object: {exc}") from None
        event = _ADAPTER.validate_json(data)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise InvalidInput(f"malformed JSON: {exc.errors()[0]['msg']}") from None
        raise _explain(exc) from None
    if isinstance(event, Campaign) and event.ends <= event.starts:
        raise InvalidInput("ends must be after starts", "ends")
    if isinstance(event, Redeem) and (event.reward is None) == (event.blocks is None):
        raise InvalidInput("give exactly one of reward or blocks", "reward")
    return event
