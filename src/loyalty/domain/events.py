"""The input events of SPEC §7 as the engine holds them, and ``parse_event``, which reads one.

    parse_event('{"type":"shipment","at":"2024-03-07T10:00:00-05:00","order":"o1"}')
    -> Shipment(type="shipment", at=datetime(2024, 3, 7, 15, 0, tzinfo=UTC), order="o1")

What an input may hold is said once, by the pydantic models of ``event_schema``: they decide
what is refused and say why (the field and the reason). Reading every input through them cost
about a fifth of a replay, though, and the models they give cost ~350 instructions for each
attribute read (``BaseModel`` defines ``__getattr__``). So an input is read twice over only when
in doubt: ``parse_event`` reads the JSON (pydantic-core's reader), checks the fields it knows
by itself, strictly, and builds these records (compiled classes, attributes read as struct
fields). Anything it is not sure of, from an unknown field to a tab in a name or money written
as a number, goes to the models, which refuse it with their message or, for what only they
know to accept, give the model that becomes the record. A test holds both readers to the same
outcome over generated inputs, good and bad.

Each event knows its idempotency key (SPEC §2): order id for purchases, return id for returns,
member and reference for actions, order and reward for redemptions. An exact repeat of a keyed
event is a no-op; the same key with a different payload is rejected (compared by
``received.payload_digest`` over ``payload``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, get_args

from pydantic_core import from_json

from loyalty.domain import event_schema as schema
from loyalty.domain import fields
from loyalty.domain.errors import InvalidInput
from loyalty.domain.money import ZERO
from loyalty.programs.schema import Channel, LineKind, TenderType

# ``Final``: the compiled build keeps these in C statics, not in the module's dictionary
ID_LENGTH: Final = schema.ID_LENGTH
TEXT_LENGTH: Final = schema.TEXT_LENGTH
NUMBER_LENGTH: Final = schema.NUMBER_LENGTH
POINTS_LIMIT: Final = schema.POINTS_LIMIT
CHANNELS: Final[frozenset[str]] = frozenset(get_args(Channel))
LINE_KINDS: Final[frozenset[str]] = frozenset(get_args(LineKind))
TENDER_TYPES: Final[frozenset[str]] = frozenset(get_args(TenderType))
DELIVERIES: Final[frozenset[str]] = frozenset(get_args(schema.Delivery))


@dataclass(slots=True, init=False, eq=True)  # frozen by ``Final``; see ``loyalty.domain``
class Line:
    sku: Final[str]
    amount: Final[Decimal]
    kind: Final[str]
    department: Final[str | None]
    brand: Final[str | None]

    def __init__(
        self,
        sku: str,
        amount: Decimal,
        kind: str = "merchandise",
        department: str | None = None,
        brand: str | None = None,
    ) -> None:
        self.sku = sku
        self.amount = amount
        self.kind = kind
        self.department = department
        self.brand = brand

    def payload(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "amount": self.amount,
            "kind": self.kind,
            "department": self.department,
            "brand": self.brand,
        }


@dataclass(slots=True, init=False, eq=True)
class Tender:
    type: Final[str]
    amount: Final[Decimal]
    code: Final[str | None]

    def __init__(self, type: str, amount: Decimal, code: str | None = None) -> None:
        self.type = type
        self.amount = amount
        self.code = code

    def payload(self) -> dict[str, Any]:
        return {"type": self.type, "amount": self.amount, "code": self.code}


@dataclass(slots=True, init=False, eq=True)
class ReturnLine:
    sku: Final[str]
    amount: Final[Decimal]

    def __init__(self, sku: str, amount: Decimal) -> None:
        self.sku = sku
        self.amount = amount

    def payload(self) -> dict[str, Any]:
        return {"sku": self.sku, "amount": self.amount}


@dataclass(slots=True, init=False, eq=True)
class Enroll:
    type: Final[str]
    at: Final[datetime]
    member: Final[str]
    email: Final[str | None]
    first_name: Final[str | None]
    last_name: Final[str | None]
    phone: Final[str | None]
    address: Final[str | None]
    country: Final[str | None]
    birth_month: Final[int | None]
    email_opt_in: Final[bool]
    delivery: Final[str]
    member_number: Final[str | None]
    # whether the input gave these two itself: a link (SM-2) keeps what a registration leaves out
    opt_in_given: Final[bool]
    delivery_given: Final[bool]

    def __init__(
        self,
        at: datetime,
        member: str,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        phone: str | None = None,
        address: str | None = None,
        country: str | None = None,
        birth_month: int | None = None,
        email_opt_in: bool = False,
        delivery: str = "email",
        member_number: str | None = None,
        opt_in_given: bool = False,
        delivery_given: bool = False,
    ) -> None:
        self.type = "enroll"
        self.at = at
        self.member = member
        self.email = email
        self.first_name = first_name
        self.last_name = last_name
        self.phone = phone
        self.address = address
        self.country = country
        self.birth_month = birth_month
        self.email_opt_in = email_opt_in
        self.delivery = delivery
        self.member_number = member_number
        self.opt_in_given = opt_in_given
        self.delivery_given = delivery_given

    def key(self) -> tuple[str, ...] | None:
        return ("enroll", self.member)

    def payload(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "member": self.member,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "phone": self.phone,
            "address": self.address,
            "country": self.country,
            "birth_month": self.birth_month,
            "email_opt_in": self.email_opt_in,
            "delivery": self.delivery,
            "member_number": self.member_number,
        }


@dataclass(slots=True, init=False, eq=True)
class Purchase:
    type: Final[str]
    at: Final[datetime]
    member: Final[str | None]
    order: Final[str]
    channel: Final[str]
    lines: Final[list[Line]]
    shipping: Final[Decimal]
    tax: Final[Decimal]
    tenders: Final[list[Tender]]

    def __init__(
        self,
        at: datetime,
        member: str | None,
        order: str,
        channel: str,
        lines: list[Line],
        shipping: Decimal = ZERO,
        tax: Decimal = ZERO,
        tenders: list[Tender] | None = None,
    ) -> None:
        self.type = "purchase"
        self.at = at
        self.member = member
        self.order = order
        self.channel = channel
        self.lines = lines
        self.shipping = shipping
        self.tax = tax
        self.tenders = [] if tenders is None else tenders

    def key(self) -> tuple[str, ...] | None:
        return ("purchase", self.order)

    def payload(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "member": self.member,
            "order": self.order,
            "channel": self.channel,
            "lines": [ln.payload() for ln in self.lines],
            "shipping": self.shipping,
            "tax": self.tax,
            "tenders": [t.payload() for t in self.tenders],
        }


@dataclass(slots=True, init=False, eq=True)
class Shipment:
    type: Final[str]
    at: Final[datetime]
    order: Final[str]

    def __init__(self, at: datetime, order: str) -> None:
        self.type = "shipment"
        self.at = at
        self.order = order

    def key(self) -> tuple[str, ...] | None:
        return ("shipment", self.order)

    def payload(self) -> dict[str, Any]:
        return {"type": self.type, "order": self.order}


@dataclass(slots=True, init=False, eq=True)
class Return:
    type: Final[str]
    at: Final[datetime]
    order: Final[str]
    lines: Final[list[ReturnLine]]
    # ``return`` is a Python keyword: the field is ``return_id``, spelled "return" in JSON.
    return_id: Final[str]

    def __init__(self, at: datetime, order: str, lines: list[ReturnLine], return_id: str) -> None:
        self.type = "return"
        self.at = at
        self.order = order
        self.lines = lines
        self.return_id = return_id

    def key(self) -> tuple[str, ...] | None:
        return ("return", self.return_id)

    def payload(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "order": self.order,
            "lines": [ln.payload() for ln in self.lines],
            "return_id": self.return_id,
        }


@dataclass(slots=True, init=False, eq=True)
class ActionEvent:
    type: Final[str]
    at: Final[datetime]
    member: Final[str]
    action: Final[str]
    ref: Final[str]

    def __init__(self, at: datetime, member: str, action: str, ref: str) -> None:
        self.type = "action"
        self.at = at
        self.member = member
        self.action = action
        self.ref = ref

    def key(self) -> tuple[str, ...] | None:
        return ("action", self.member, self.action, self.ref)

    def payload(self) -> dict[str, Any]:
        return {"type": self.type, "member": self.member, "action": self.action, "ref": self.ref}


@dataclass(slots=True, init=False, eq=True)
class Redeem:
    type: Final[str]
    at: Final[datetime]
    member: Final[str]
    reward: Final[str | None]
    blocks: Final[int | None]
    order: Final[str]
    subtotal: Final[Decimal]

    def __init__(
        self,
        at: datetime,
        member: str,
        reward: str | None,
        blocks: int | None,
        order: str,
        subtotal: Decimal,
    ) -> None:
        self.type = "redeem"
        self.at = at
        self.member = member
        self.reward = reward
        self.blocks = blocks
        self.order = order
        self.subtotal = subtotal

    def key(self) -> tuple[str, ...] | None:
        return ("redeem", self.order, self.reward or "blocks")

    def payload(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "member": self.member,
            "reward": self.reward,
            "blocks": self.blocks,
            "order": self.order,
            "subtotal": self.subtotal,
        }


@dataclass(slots=True, init=False, eq=True)
class Release:
    type: Final[str]
    at: Final[datetime]
    member: Final[str]
    order: Final[str]

    def __init__(self, at: datetime, member: str, order: str) -> None:
        self.type = "release"
        self.at = at
        self.member = member
        self.order = order

    def key(self) -> tuple[str, ...] | None:
        return ("release", self.order)

    def payload(self) -> dict[str, Any]:
        return {"type": self.type, "member": self.member, "order": self.order}


@dataclass(slots=True, init=False, eq=True)
class RetroCredit:
    type: Final[str]
    at: Final[datetime]
    member: Final[str]
    order: Final[str]

    def __init__(self, at: datetime, member: str, order: str) -> None:
        self.type = "retro_credit"
        self.at = at
        self.member = member
        self.order = order

    def key(self) -> tuple[str, ...] | None:
        return ("retro_credit", self.order)

    def payload(self) -> dict[str, Any]:
        return {"type": self.type, "member": self.member, "order": self.order}


@dataclass(slots=True, init=False, eq=True)
class Adjust:
    type: Final[str]
    at: Final[datetime]
    member: Final[str]
    points: Final[int]
    reason: Final[str]

    def __init__(self, at: datetime, member: str, points: int, reason: str) -> None:
        self.type = "adjust"
        self.at = at
        self.member = member
        self.points = points
        self.reason = reason

    def key(self) -> tuple[str, ...] | None:
        """No natural key: the whole input, time included, so that only an exact repeat is a
        no-op and two different adjustments at one moment both apply."""
        return ("adjust", self.member, self.at.isoformat(), str(self.points), self.reason)

    def payload(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "member": self.member,
            "points": self.points,
            "reason": self.reason,
        }


@dataclass(slots=True, init=False, eq=True)
class Campaign:
    type: Final[str]
    at: Final[datetime]
    id: Final[str]
    starts: Final[datetime]
    ends: Final[datetime]
    multiplier: Final[str | None]
    bonus_points: Final[int | None]
    min_spend: Final[Decimal | None]
    channels: Final[list[str] | None]
    combinable: Final[bool]

    def __init__(
        self,
        at: datetime,
        id: str,
        starts: datetime,
        ends: datetime,
        multiplier: str | None = None,
        bonus_points: int | None = None,
        min_spend: Decimal | None = None,
        channels: list[str] | None = None,
        combinable: bool = False,
    ) -> None:
        self.type = "campaign"
        self.at = at
        self.id = id
        self.starts = starts
        self.ends = ends
        self.multiplier = multiplier
        self.bonus_points = bonus_points
        self.min_spend = min_spend
        self.channels = channels
        self.combinable = combinable

    def key(self) -> tuple[str, ...] | None:
        return ("campaign", self.id)

    def payload(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "id": self.id,
            "starts": self.starts,
            "ends": self.ends,
            "multiplier": self.multiplier,
            "bonus_points": self.bonus_points,
            "min_spend": self.min_spend,
            "channels": self.channels,
            "combinable": self.combinable,
        }


@dataclass(slots=True, init=False, eq=True)
class Tick:
    type: Final[str]
    at: Final[datetime]

    def __init__(self, at: datetime) -> None:
        self.type = "tick"
        self.at = at

    def key(self) -> tuple[str, ...] | None:
        return None

    def payload(self) -> dict[str, Any]:
        return {"type": self.type}


Event = (
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
    | Tick
)


# What a line's JSON puts through pydantic-core's string cache: the keys only. A line's values
# (ids, times, amounts) are mostly new, and caching them too churns the cache on every line
# (soma's year at 33,333 members: 10-20% slower replay; the same values either way). Every reader
# of input lines reads them so (the simulation's scan too).
CACHED_STRINGS: Final = "keys"


def parse_event(data: str | bytes | dict[str, Any]) -> Event:
    """Parse one event from a JSON line or a dict; raise ``InvalidInput`` with field and reason."""
    if isinstance(data, bytes):
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]  # a byte-order mark some editors put at the start of a file
    elif isinstance(data, str):
        if data.startswith("\ufeff"):
            data = data[1:]
    else:  # the same strict JSON rules as a line of a file
        try:
            data = json.dumps(data)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"not a JSON object: {exc}") from None
    try:
        read = from_json(data, cache_strings=CACHED_STRINGS)
    except ValueError:
        read = None  # malformed: the models say how
    if isinstance(read, dict):
        try:
            return _read(read)
        except _Unsure:
            pass
    return _record(schema.validate(data))


# -- the inputs read by hand ---------------------------------------------------------------------
class _Unsure(Exception):
    """Raised by the readers below for anything they leave to the models (a new one each time:
    raising one instance again would lengthen its traceback)."""


def _read(d: dict[str, Any]) -> Event:
    """The record of an input, or ``_Unsure``. No unknown field: as many names as the fields
    found (those required, those not null among the others), or, when some are null, as many as
    the fields given null or not (``_names``)."""
    kind = d.get("type")
    if kind == "purchase":
        member = _optional_id(d.get("member"))
        has_shipping, has_tax, has_tenders = "shipping" in d, "tax" in d, "tenders" in d
        known = 5 + has_shipping + has_tax + has_tenders
        if len(d) != known + (member is not None):
            _names(len(d) == known + ("member" in d))
        return Purchase(
            _time(d.get("at")),
            member,
            _id(d.get("order")),
            _one_of(d.get("channel"), CHANNELS),
            [_line(ln) for ln in _items(d.get("lines"))],
            _money(d["shipping"]) if has_shipping else ZERO,
            _money(d["tax"]) if has_tax else ZERO,
            [_tender(t) for t in _list(d["tenders"])] if has_tenders else [],
        )
    if kind == "enroll":
        email = _optional_text(d.get("email"))
        first_name = _optional_text(d.get("first_name"))
        last_name = _optional_text(d.get("last_name"))
        phone = _optional_text(d.get("phone"))
        address = _optional_text(d.get("address"))
        country = d.get("country")
        if country is not None and not (  # two capital letters, A to Z
            type(country) is str
            and len(country) == 2
            and country.isascii()
            and country.isalpha()
            and country.isupper()
        ):
            raise _Unsure
        month = d.get("birth_month")
        number = _optional_number(d.get("member_number"))
        has_opt_in, has_delivery = "email_opt_in" in d, "delivery" in d
        stated = (
            (email is not None)
            + (first_name is not None)
            + (last_name is not None)
            + (phone is not None)
            + (address is not None)
            + (country is not None)
            + (month is not None)
            + (number is not None)
        )
        if len(d) != 3 + stated + has_opt_in + has_delivery:
            _names(len(d) == 3 + _given(d, _ENROLL_NULLABLE) + has_opt_in + has_delivery)
        return Enroll(
            _time(d.get("at")),
            _id(d.get("member")),
            email,
            first_name,
            last_name,
            phone,
            address,
            country,
            None if month is None else _int(month, 1, 12),
            _bool(d["email_opt_in"]) if has_opt_in else False,
            _one_of(d["delivery"], DELIVERIES) if has_delivery else "email",
            number,
            has_opt_in,
            has_delivery,
        )
    if kind == "redeem":
        reward = _optional_id(d.get("reward"))
        blocks = d.get("blocks")
        if (reward is None) == (blocks is None):
            raise _Unsure
        if len(d) != 6:
            _names(len(d) == 5 + ("reward" in d) + ("blocks" in d))
        return Redeem(
            _time(d.get("at")),
            _id(d.get("member")),
            reward,
            None if blocks is None else _int(blocks, 1, POINTS_LIMIT),
            _id(d.get("order")),
            _money(d.get("subtotal")),
        )
    if kind == "return":
        _count(d, 5)
        return Return(
            _time(d.get("at")),
            _id(d.get("order")),
            [_return_line(ln) for ln in _items(d.get("lines"))],
            _id(d.get("return")),
        )
    if kind == "shipment":
        _count(d, 3)
        return Shipment(_time(d.get("at")), _id(d.get("order")))
    if kind == "release":
        _count(d, 4)
        return Release(_time(d.get("at")), _id(d.get("member")), _id(d.get("order")))
    if kind == "retro_credit":
        _count(d, 4)
        return RetroCredit(_time(d.get("at")), _id(d.get("member")), _id(d.get("order")))
    if kind == "action":
        _count(d, 5)
        return ActionEvent(
            _time(d.get("at")), _id(d.get("member")), _id(d.get("action")), _id(d.get("ref"))
        )
    if kind == "tick":
        _count(d, 2)
        return Tick(_time(d.get("at")))
    raise _Unsure  # adjustments and campaigns are rare: the models read them


# the fields of an enrolment that may be given as null
_ENROLL_NULLABLE: Final = (
    *("email", "first_name", "last_name", "phone", "address", "country", "birth_month"),
    "member_number",
)


def _given(d: dict[str, Any], names: tuple[str, ...]) -> int:
    """How many of ``names`` are given, null or not."""
    return sum(1 for name in names if name in d)


def _line(value: object) -> Line:
    if type(value) is not dict:
        raise _Unsure
    given: dict[str, Any] = value
    sku = amount = None
    kind = "merchandise"
    department = brand = None
    # the fields in the order given, each name compared with a literal: cheaper than a dict
    # look-up for each name (the keys from JSON are other string objects than the literals)
    for name, item in given.items():
        if name == "sku":
            sku = _id(item)
        elif name == "amount":
            amount = _money(item)
        elif name == "kind":
            kind = _one_of(item, LINE_KINDS)
        elif name == "department":
            department = _optional_text(item)
        elif name == "brand":
            brand = _optional_text(item)
        else:
            raise _Unsure
    if sku is None or amount is None:
        raise _Unsure
    return Line(sku, amount, kind, department, brand)


def _tender(value: object) -> Tender:
    if type(value) is not dict:
        raise _Unsure
    given: dict[str, Any] = value
    kind = amount = code = None
    for name, item in given.items():
        if name == "type":
            kind = _one_of(item, TENDER_TYPES)
        elif name == "amount":
            amount = _money(item)
        elif name == "code":
            code = _optional_text(item)
        else:
            raise _Unsure
    if kind is None or amount is None:
        raise _Unsure
    return Tender(kind, amount, code)


def _return_line(value: object) -> ReturnLine:
    if type(value) is not dict:
        raise _Unsure
    _count(value, 2)
    return ReturnLine(_id(value.get("sku")), _money(value.get("amount")))


def _count(d: dict[str, Any], fields: int) -> None:
    """As many names as the type has fields, all of which it needs: no unknown one among them
    once each field is found."""
    if len(d) != fields:
        raise _Unsure


def _names(all_known: bool) -> None:
    """Called when some fields are null or unknown: whether the names given, null ones counted
    too, are all known ones."""
    if not all_known:
        raise _Unsure


def _list(value: object) -> list[Any]:
    if type(value) is not list:
        raise _Unsure
    return value


def _items(value: object) -> list[Any]:
    """A list of at least one item."""
    if type(value) is not list or not value:
        raise _Unsure
    return value


def _id(value: object) -> str:
    """``event_schema.Id``: 1 to 200 characters, no control characters. ``isprintable`` is
    stricter than that (it refuses a few other characters too): those go to the models."""
    if type(value) is not str or not 0 < len(value) <= ID_LENGTH or not value.isprintable():
        raise _Unsure
    return value


def _optional_id(value: object) -> str | None:
    return None if value is None else _id(value)


def _optional_text(value: object) -> str | None:
    """``event_schema.Text``, or null: at most 500 characters, no control characters."""
    if value is None:
        return None
    if type(value) is not str or len(value) > TEXT_LENGTH or not value.isprintable():
        raise _Unsure
    return value


def _optional_number(value: object) -> str | None:
    if value is None:
        return None
    if type(value) is not str or len(value) > NUMBER_LENGTH:
        raise _Unsure
    return value


def _one_of(value: object, allowed: frozenset[str]) -> str:
    if type(value) is not str or value not in allowed:
        raise _Unsure
    return value


def _int(value: object, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:  # JSON true is no number here
        raise _Unsure
    return value


def _bool(value: object) -> bool:
    if type(value) is not bool:
        raise _Unsure
    return value


def _money(value: object) -> Decimal:
    try:
        return fields.money(value)
    except ValueError:
        raise _Unsure from None


def _time(value: object) -> datetime:
    try:
        return fields.instant(value)
    except ValueError:
        raise _Unsure from None


# -- the inputs the models read ------------------------------------------------------------------
def _record(m: schema.Event) -> Event:
    """The record of an input the models accepted."""
    if isinstance(m, schema.Purchase):
        return Purchase(
            m.at,
            m.member,
            m.order,
            m.channel,
            [Line(ln.sku, ln.amount, ln.kind, ln.department, ln.brand) for ln in m.lines],
            m.shipping,
            m.tax,
            [Tender(t.type, t.amount, t.code) for t in m.tenders],
        )
    if isinstance(m, schema.Enroll):
        return Enroll(
            m.at,
            m.member,
            m.email,
            m.first_name,
            m.last_name,
            m.phone,
            m.address,
            m.country,
            m.birth_month,
            m.email_opt_in,
            m.delivery,
            m.member_number,
            "email_opt_in" in m.model_fields_set,
            "delivery" in m.model_fields_set,
        )
    if isinstance(m, schema.Return):
        lines = [ReturnLine(ln.sku, ln.amount) for ln in m.lines]
        return Return(m.at, m.order, lines, m.return_id)
    if isinstance(m, schema.Redeem):
        return Redeem(m.at, m.member, m.reward, m.blocks, m.order, m.subtotal)
    if isinstance(m, schema.Shipment):
        return Shipment(m.at, m.order)
    if isinstance(m, schema.Release):
        return Release(m.at, m.member, m.order)
    if isinstance(m, schema.RetroCredit):
        return RetroCredit(m.at, m.member, m.order)
    if isinstance(m, schema.ActionEvent):
        return ActionEvent(m.at, m.member, m.action, m.ref)
    if isinstance(m, schema.Adjust):
        return Adjust(m.at, m.member, m.points, m.reason)
    if isinstance(m, schema.Campaign):
        channels = None if m.channels is None else list[str](m.channels)
        return Campaign(
            m.at,
            m.id,
            m.starts,
            m.ends,
            m.multiplier,
            m.bonus_points,
            m.min_spend,
            channels,
            m.combinable,
        )
    return Tick(m.at)
