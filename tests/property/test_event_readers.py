"""``parse_event`` reads the inputs it is sure of by itself and leaves the others to the pydantic
models of ``event_schema``: the two readers must agree on every input, good or bad (SPEC §7).

Over generated inputs of every type (good values, and wrong ones: control characters, non-ASCII
text, money as numbers, naive or odd times, nulls, missing and unknown fields, booleans for
integers), the record ``parse_event`` gives equals the one the models give, or both refuse with
the same message and field; when the hand reader answers at all, the models accept. Fingerprints
(``payload_digest``) equal those of the models' canonical JSON, as earlier versions stored them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic_core import from_json

from loyalty import InvalidInput, load_program
from loyalty.domain import event_schema, events
from loyalty.domain.received import payload_digest
from loyalty.services.synthetic import generate_history

SETTINGS = settings(
    max_examples=1500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ODD_TEXT = ["", " ", "a\tb", "a\nb", "\x00", "\x7f", "é", "\u00a0", "\u200b", "\u2028", "x" * 201]
ANY_WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False),
    st.just([]),
    st.just({}),
    st.text(max_size=3),
)


def _mostly(good: st.SearchStrategy[Any], wrong: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A good value 19 times in 20, so that many whole inputs are good."""
    return st.integers(0, 19).flatmap(lambda i: wrong if i == 0 else good)


ANY_TEXT = st.one_of(  # now and then controls, and characters ``str.isprintable`` refuses
    st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"]), min_size=1),
    st.text(st.characters(codec="utf-8"), max_size=3),
)
IDS = _mostly(
    st.one_of(st.sampled_from(["o1", "m1", "S1", "sogo-000964", "José"]), ANY_TEXT),
    st.one_of(st.sampled_from(ODD_TEXT), ANY_WRONG),
)
OPTIONAL_IDS = st.one_of(st.none(), IDS)
TEXTS = _mostly(
    st.one_of(st.none(), st.sampled_from(["Ada", " ", "Main St", "y" * 500]), ANY_TEXT),
    st.one_of(st.sampled_from([*ODD_TEXT, "y" * 501]), ANY_WRONG),
)
MONEY = _mostly(
    st.one_of(
        st.sampled_from(["16.4", "16.40", "0", "0.00", "999999999999.99", "0000000000001.5"]),
        st.decimals(min_value=0, max_value=10**6, places=2).map(str),
        st.decimals(min_value=0, max_value=10**4, places=1).map(str),
    ),
    st.one_of(
        st.sampled_from(
            ["1e3", "5.", ".5", "-1", " 1", "1,5", "１", "10.005", "1000000000000", "12\n"]
        ),
        ANY_WRONG,
    ),
)
OPTIONAL_MONEY = st.one_of(st.none(), MONEY)
TIMES = _mostly(
    st.sampled_from(
        [
            "2024-03-07T10:00:00-05:00",
            "2024-03-07T10:00:00+08:00",
            "2024-03-07T10:00:00+05:30",
            "2024-03-07T10:00:00Z",
            "2024-03-07t10:00:00z",
            "2024-03-07 10:00:00+00:00",
            "2024-03-07T10:00-05:00",
            "2024-03-07T10:00:00.250-05:00",
            "2024-03-07T10:00:00+05:30:15",
            "1900-01-01T00:00:00+00:00",
            "9000-12-31T23:00:00-05:00",
        ]
    ),
    st.one_of(
        st.sampled_from(
            [
                "2024-03-07T10:00:00",
                "2024-03-07",
                "20240307T100000Z",
                "1899-12-31T23:00:00-05:00",
                "2024-02-30T10:00:00Z",
                "2024-03-07T24:00:00Z",
                "２024-03-07T10:00:00Z",
            ]
        ),
        ANY_WRONG,
    ),
)


def _ints(low: int, high: int) -> st.SearchStrategy[Any]:
    return _mostly(
        st.one_of(st.integers(low, high), st.sampled_from([low, high])),
        st.one_of(st.sampled_from([low - 1, high + 1, True, 1.0, "1"]), ANY_WRONG),
    )


POINTS = 10**12
BOOLS = _mostly(st.booleans(), st.one_of(st.sampled_from(["true", 0, 1]), ANY_WRONG))


def _choice(*allowed: str) -> st.SearchStrategy[Any]:
    return _mostly(st.sampled_from(allowed), st.one_of(st.sampled_from(["Online", ""]), ANY_WRONG))


CHANNEL = _choice("online", "store", "popup", "outlet", "phone")


def _record(
    fields: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[Any]:
    """A JSON object: the fields, now and then one missing; the optional ones there or not;
    now and then an unknown one."""
    return _mostly(
        st.fixed_dictionaries(fields, optional=optional),
        st.one_of(
            st.fixed_dictionaries(fields, optional={**optional, "colour": TEXTS}),
            st.fixed_dictionaries({}, optional={**fields, **optional}),
            ANY_WRONG,
        ),
    )


LINE = _record(
    {"sku": IDS, "amount": MONEY},
    {
        "kind": _choice("merchandise", "gift_card", "voucher", "service", "dining", "delivery"),
        "department": TEXTS,
        "brand": TEXTS,
    },
)
TENDER = _record(
    {"type": _choice("card", "cash", "gift_card", "points", "certificate"), "amount": MONEY},
    {"code": TEXTS},
)
RETURN_LINE = _record({"sku": IDS, "amount": MONEY}, {})


def _items(item: st.SearchStrategy[Any], least: int = 1) -> st.SearchStrategy[Any]:
    return _mostly(st.lists(item, min_size=least, max_size=3), st.one_of(ANY_WRONG, st.just([1])))


AT = {"at": TIMES}
INPUTS = {
    "purchase": (
        {**AT, "order": IDS, "channel": CHANNEL, "lines": _items(LINE)},
        {"member": OPTIONAL_IDS, "shipping": MONEY, "tax": MONEY, "tenders": _items(TENDER, 0)},
    ),
    "enroll": (
        {**AT, "member": IDS},
        {
            "email": TEXTS,
            "first_name": TEXTS,
            "last_name": TEXTS,
            "phone": TEXTS,
            "address": TEXTS,
            "country": _mostly(
                st.sampled_from([None, "US", "MY"]),
                st.sampled_from(["us", "U1", "USA", "ÄB", "U", 1]),
            ),
            "birth_month": st.one_of(st.none(), _ints(1, 12)),
            "email_opt_in": BOOLS,
            "delivery": _choice("email", "mail"),
            "member_number": _mostly(
                st.sampled_from([None, "SK0000011", "\t"]), st.sampled_from(["9" * 33, 5])
            ),
        },
    ),
    "shipment": ({**AT, "order": IDS}, {}),
    "return": ({**AT, "order": IDS, "lines": _items(RETURN_LINE), "return": IDS}, {}),
    "action": ({**AT, "member": IDS, "action": IDS, "ref": IDS}, {}),
    "redeem": (
        {**AT, "member": IDS, "order": IDS, "subtotal": MONEY},
        {"reward": IDS, "blocks": _ints(1, POINTS)},
    ),
    "release": ({**AT, "member": IDS, "order": IDS}, {}),
    "retro_credit": ({**AT, "member": IDS, "order": IDS}, {}),
    "adjust": ({**AT, "member": IDS, "points": _ints(-POINTS, POINTS), "reason": TEXTS}, {}),
    "campaign": (
        {**AT, "id": IDS, "starts": TIMES, "ends": TIMES},
        {
            "multiplier": _mostly(
                st.sampled_from([None, "2", "1.5"]), st.sampled_from(["0", "x", 2])
            ),
            "bonus_points": st.one_of(st.none(), _ints(0, POINTS)),
            "min_spend": OPTIONAL_MONEY,
            "channels": _mostly(st.one_of(st.none(), st.lists(CHANNEL, max_size=2)), ANY_WRONG),
            "combinable": BOOLS,
        },
    ),
    "tick": (AT, {}),
}


@st.composite
def inputs(draw: st.DrawFn) -> Any:
    """An input of some type, most of them good, as ``_record`` makes objects; now and then of
    an unknown type or none."""
    kind = draw(_mostly(st.sampled_from(sorted(INPUTS)), st.sampled_from(["refund", None, 1])))
    fields, optional = INPUTS.get(kind, ({}, {}))
    data = draw(_record(fields, optional))
    if isinstance(data, dict) and kind is not None:
        data = {"type": kind, **data}
    return data


def _by_models(line: bytes) -> events.Event | InvalidInput:
    try:
        return events._record(event_schema.validate(line))
    except InvalidInput as exc:
        return exc


def _outcome(answer: events.Event | InvalidInput) -> object:
    if isinstance(answer, InvalidInput):
        return ("refused", answer.message, answer.field)
    return answer


@SETTINGS
@given(inputs())
@example({"type": "tick", "at": "2024-01-01T00:00:00Z", "type_": 1})
@example({"type": "return", "at": "2024-01-01T00:00:00Z", "order": "o", "lines": [], "return": "r"})
def test_the_hand_reader_and_the_models_agree_on_every_input(data: Any) -> None:
    line = json.dumps(data).encode()
    by_models = _by_models(line)
    read = from_json(line)
    try:
        by_hand = events._read(read) if isinstance(read, dict) else None
    except events._Unsure:
        by_hand = None
    if by_hand is not None:  # sure: the models accept, and give the same record
        assert by_hand == by_models
    try:
        parsed: events.Event | InvalidInput = events.parse_event(line)
    except InvalidInput as exc:
        parsed = exc
    assert _outcome(parsed) == _outcome(by_models)
    if not isinstance(parsed, InvalidInput):  # fingerprints as the models' canonical JSON
        model = event_schema.validate(line)
        canonical = model.__pydantic_serializer__.to_json(model, exclude={"at"})
        assert payload_digest(parsed) == hashlib.blake2b(canonical, digest_size=16).digest()


@given(st.sampled_from(["soko", "sogo", "soma"]))
@settings(max_examples=3, deadline=None, derandomize=True)
def test_the_inputs_of_a_year_are_read_by_hand_but_campaigns_and_adjustments(preset: str) -> None:
    """The hand reader is what makes reading cheap: the inputs of a generated history (returns,
    redemptions, shipments and bad lines included) are read without the models, but for the
    rare types it leaves to them, and each is read as the models read it."""
    lines = generate_history(load_program(preset), members=60, months=12, seed=3)
    read_by_hand = 0
    for line in lines:
        raw = line.encode()
        by_models = _by_models(raw)
        if isinstance(by_models, InvalidInput) or by_models.type in ("campaign", "adjust"):
            continue
        assert events._read(from_json(raw)) == by_models, line
        read_by_hand += 1
    assert read_by_hand > 500


def test_duplicate_names_are_read_as_the_models_read_them_the_last_one_wins() -> None:
    for line in (
        b'{"type":"tick","at":"2024-01-01T00:00:00Z","at":"2024-02-01T00:00:00Z"}',
        b'{"type":"tick","at":"2024-01-01T00:00:00Z","type":"shipment","order":"o1"}',
        b'{"type":"shipment","at":"2024-01-01T00:00:00Z","order":5,"order":"o2"}',
    ):
        assert events.parse_event(line) == _by_models(line)


AT_TEXT = "2024-03-07T10:00:00-05:00"
GOOD = {  # one good input of each type; every field of each is then spoilt in turn below
    "purchase": {
        "type": "purchase",
        "at": AT_TEXT,
        "member": "m1",
        "order": "o1",
        "channel": "online",
        "lines": [{"sku": "S1", "amount": "16.4", "kind": "merchandise", "department": "Skin"}],
        "shipping": "5",
        "tax": "1.10",
        "tenders": [{"type": "card", "amount": "22.50", "code": "X"}],
    },
    "enroll": {
        "type": "enroll",
        "at": AT_TEXT,
        "member": "m1",
        "email": "ada@example.com",
        "first_name": "Ada",
        "phone": "+1 555 0100",
        "country": "US",
        "birth_month": 5,
        "email_opt_in": True,
        "delivery": "mail",
        "member_number": "SK0000011",
    },
    "shipment": {"type": "shipment", "at": AT_TEXT, "order": "o1"},
    "return": {
        "type": "return",
        "at": AT_TEXT,
        "order": "o1",
        "lines": [{"sku": "S1", "amount": "16.40"}],
        "return": "r1",
    },
    "action": {"type": "action", "at": AT_TEXT, "member": "m1", "action": "review", "ref": "x"},
    "redeem": {
        "type": "redeem",
        "at": AT_TEXT,
        "member": "m1",
        "reward": "r10",
        "order": "o2",
        "subtotal": "40",
    },
    "release": {"type": "release", "at": AT_TEXT, "member": "m1", "order": "o1"},
    "retro_credit": {"type": "retro_credit", "at": AT_TEXT, "member": "m1", "order": "o1"},
    "tick": {"type": "tick", "at": AT_TEXT},
    # fields given as null, as many systems write them; fields left out
    "guest purchase": {
        "type": "purchase",
        "at": AT_TEXT,
        "order": "o1",
        "channel": "store",
        "lines": [{"sku": "S1", "amount": "16.4", "department": None, "brand": None}],
        "tenders": [{"type": "cash", "amount": "16.40", "code": None}],
    },
    "bare enrolment": {"type": "enroll", "at": AT_TEXT, "member": "m1", "email": None},
    "blocks": {
        "type": "redeem",
        "at": AT_TEXT,
        "member": "m1",
        "reward": None,
        "blocks": 2,
        "order": "o2",
        "subtotal": "40",
    },
}
SPOILT = [  # every value the readers could tell apart, for every field
    *ODD_TEXT,
    *("y" * 500, "y" * 501, "US", "us", "U1", "USA", "ÄB", "U", "9" * 32, "9" * 33),
    *("1e3", "5.", ".5", "-1", " 1", "1,5", "１", "10.005", "1000000000000", "12\n", "16.4"),
    *("2024-03-07T10:00:00", "2024-03-07", "20240307T100000Z", "1899-12-31T23:00:00-05:00"),
    *("2024-03-07T24:00:00Z", "２024-03-07T10:00:00Z", "2024-03-07T10:00:00.5+05:30:15"),
    *("online", "Online", "merchandise", "card", "mail", "true"),
    *(None, True, False, 0, 1, 12, 13, -1, 10**12, 10**12 + 1, 1.0, 16.4, [], {}, [1], [{}]),
]


def test_each_field_spoilt_in_turn_is_read_alike_by_both_readers() -> None:
    """Exhaustive next to the generated inputs above: each field of a good input of each type,
    nested ones included, replaced by each value of ``SPOILT`` or left out; and one unknown
    field added to each object, or a field of another type."""
    compared = 0
    for good in GOOD.values():
        objects = [(), *{path[:-1] for path in _paths(good) if len(path) == 3}]
        unknown = [(*place, name) for place in objects for name in ("colour", "order", "at ")]
        for path in [*_paths(good), *unknown]:
            for value in [*SPOILT, _LEFT_OUT]:
                data = _spoilt(good, path, value)
                line = json.dumps(data).encode()
                try:
                    parsed: events.Event | InvalidInput = events.parse_event(line)
                except InvalidInput as exc:
                    parsed = exc
                assert _outcome(parsed) == _outcome(_by_models(line)), line
                compared += 1
    assert compared > 3000


_LEFT_OUT = object()


def _paths(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Each field's place: ("order",), ("lines", 0, "amount"), ..."""
    found: list[tuple[Any, ...]] = []
    for name, value in data.items():
        found.append((name,))
        if isinstance(value, list):
            for i, item in enumerate(value):
                found.extend((name, i, inner) for inner in item)
    return found


def _spoilt(good: dict[str, Any], path: tuple[Any, ...], value: object) -> dict[str, Any]:
    data = json.loads(json.dumps(good))
    place = data
    for step in path[:-1]:
        place = place[step]
    if value is _LEFT_OUT:
        place.pop(path[-1], None)
    else:
        place[path[-1]] = value
    return data
