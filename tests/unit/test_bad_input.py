"""Bad input (SPEC §2 last rule, §7): every malformed or impossible input is rejected with a
specific error naming the field and the reason, never a stack trace, and it changes nothing: the
member summaries, the ledgers and the engine's clock are the same before and after.

Also: replay (SPEC §8) reports rejected lines by their 1-based line number and goes on after them,
and a rejected input never advances time, even when its ``at`` is later than the last accepted one.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any

import pytest

from loyalty import Engine, InvalidInput, LoyaltyError, load_program, parse_event, replay_text

# soko is America/New_York; March 2024 before the DST switch (-05:00).
ENROLL_AT = "2024-03-04T10:00:00-05:00"
BUY_AT = "2024-03-04T11:00:00-05:00"  # o1: 100 points pending for 48 hours (SK-5)
LATER = "2024-03-07T12:00:00-05:00"  # three days later: o1's points would have matured
EARLIER = "2024-03-04T10:30:00-05:00"

Event = dict[str, Any]


# --- builders -----------------------------------------------------------------------------------


def enroll(member: str = "m2", at: str = LATER, **extra: Any) -> Event:
    event = {"type": "enroll", "at": at, "member": member, "email": f"{member}@example.com"}
    return {**event, **extra}


def purchase(
    order: str = "o9", member: str | None = "m1", at: str = LATER, amount: str = "20.00"
) -> Event:
    return {
        "type": "purchase",
        "at": at,
        "member": member,
        "order": order,
        "channel": "online",
        "lines": [{"sku": "A", "amount": amount, "kind": "merchandise"}],
        "shipping": "5.00",
        "tax": "1.00",
        "tenders": [{"type": "card", "amount": "26.00", "code": None}],
    }


def ret(order: str = "o1", return_id: str = "r1", at: str = LATER) -> Event:
    return {
        "type": "return",
        "at": at,
        "order": order,
        "return": return_id,
        "lines": [{"sku": "A", "amount": "100.00"}],
    }


def action(member: str = "m1", name: str = "review", ref: str = "rev-1", at: str = LATER) -> Event:
    return {"type": "action", "at": at, "member": member, "action": name, "ref": ref}


def redeem(member: str = "m1", at: str = LATER, **extra: Any) -> Event:
    event = {
        "type": "redeem",
        "at": at,
        "member": member,
        "reward": "10-off",
        "blocks": None,
        "order": "o2",
        "subtotal": "80.00",
    }
    return {**event, **extra}


def adjust(member: str = "m1", points: Any = 10, at: str = LATER) -> Event:
    return {"type": "adjust", "at": at, "member": member, "points": points, "reason": "goodwill"}


def campaign(starts: str, ends: str, at: str = LATER, **extra: Any) -> Event:
    event = {
        "type": "campaign",
        "at": at,
        "id": "members-day",
        "starts": starts,
        "ends": ends,
        "multiplier": "2",
        "bonus_points": None,
        "min_spend": None,
        "channels": None,
        "combinable": False,
    }
    return {**event, **extra}


def tick(at: str = LATER, **extra: Any) -> Event:
    return {"type": "tick", "at": at, **extra}


def with_line(event: Event, **changes: Any) -> Event:
    """``event`` with its first line changed (a key set to ``...`` is removed)."""
    event = copy.deepcopy(event)
    line = event["lines"][0]
    for key, value in changes.items():
        if value is ...:
            del line[key]
        else:
            line[key] = value
    return event


def without(event: Event, key: str) -> Event:
    return {k: v for k, v in event.items() if k != key}


def changed(event: Event, **changes: Any) -> Event:
    return {**copy.deepcopy(event), **changes}


# --- engine fixtures and the "nothing changed" check ------------------------------------------


def soko_engine() -> Engine:
    """soko, m1 enrolled (50 points, SK-1) and o1 bought ($100 -> 100 points pending 48h)."""
    engine = Engine(load_program("soko"))
    assert engine.apply(enroll("m1", ENROLL_AT)).accepted
    assert engine.apply(purchase("o1", at=BUY_AT, amount="100.00")).accepted
    assert engine.summary("m1")["points"] == {
        "available": 50,
        "pending": 100,
        "expiring_this_month": 0,
        "lifetime_earned": 150,
    }
    return engine


SOMA_M1 = {
    "type": "enroll",
    "at": "2024-03-04T10:00:00-05:00",
    "member": "m1",
    "email": "m1@example.com",
    "first_name": "Ada",
    "last_name": "Park",
    "phone": "+1 212 555 0101",
    "address": "1 Main St, New York, NY 10001",
    "country": "US",
    "birth_month": 9,
    "email_opt_in": False,
    "delivery": "email",
    "member_number": None,
}


def soma_engine() -> Engine:
    """soma (retro-credit allowed, SM-5), m1 enrolled and an anonymous store order o-anon."""
    engine = Engine(load_program("soma"))
    assert engine.apply(SOMA_M1).accepted
    anonymous = purchase("o-anon", member=None, at="2024-03-04T11:00:00-05:00")
    assert engine.apply(changed(anonymous, channel="store")).accepted
    return engine


def state(engine: Engine) -> tuple[Any, ...]:
    summaries = engine.summaries()
    ledgers = {member: len(engine.ledger(member)) for member in summaries}
    lots = {member: len(engine.lots(member)) for member in summaries}
    return summaries, ledgers, lots, engine.now


def assert_rejected(
    engine: Engine,
    event: Event | str,
    code: str,
    field: str | None,
    *fragments: str,
) -> LoyaltyError:
    """``event`` is rejected with ``code`` about ``field``; its message contains every fragment
    (case-insensitive); the engine's state and time are unchanged."""
    before = state(engine)
    outcome = engine.apply(event)
    assert not outcome.accepted, outcome
    error = outcome.error
    assert isinstance(error, LoyaltyError)
    assert error.code == code, str(error)
    assert error.field == field, str(error)
    for fragment in fragments:
        assert fragment.lower() in error.message.lower(), (fragment, str(error))
    assert "Traceback" not in error.message
    assert str(error) == (f"{field}: {error.message}" if field else error.message)
    assert state(engine) == before
    return error


# --- malformed lines ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        '{"type": "tick", "at": ',
        "{type: tick}",
        '{"type": "tick", "at": "2024-03-07T12:00:00-05:00"} trailing',
        "",
        "not json at all",
        "{'type': 'tick'}",
    ],
)
def test_malformed_json_is_rejected(raw: str) -> None:
    assert_rejected(soko_engine(), raw, "invalid_input", None, "malformed JSON")


@pytest.mark.parametrize("raw", ["[1, 2]", '"tick"', "42", "null", "true", "[]"])
def test_a_line_that_is_not_an_object_is_rejected(raw: str) -> None:
    assert_rejected(soko_engine(), raw, "invalid_input", None, "object")


@pytest.mark.parametrize("kind", ["transfer", "Tick", "", None, 5])
def test_unknown_event_type_is_rejected(kind: Any) -> None:
    error = assert_rejected(
        soko_engine(), {"type": kind, "at": LATER}, "invalid_input", "type", "unknown event type"
    )
    for known in ("enroll", "purchase", "retro_credit", "tick"):
        assert known in error.message


@pytest.mark.parametrize("event", [{"at": LATER}, {}, without(purchase(), "type")])
def test_missing_event_type_is_rejected(event: Event) -> None:
    assert_rejected(soko_engine(), event, "invalid_input", "type", "missing event type")


# --- unknown and missing fields -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (tick(colour="red"), "colour"),
        (changed(purchase(), coupon="SAVE10"), "coupon"),
        (changed(enroll(), nickname="Ada"), "nickname"),
        (changed(action(), points=50), "points"),
        (changed(ret(), reason="damaged"), "reason"),
        (with_line(purchase(), colour="red"), "lines.0.colour"),
        (with_line(purchase(), qty=2), "lines.0.qty"),
        (changed(purchase(), tenders=[{"type": "card", "amount": "26.00", "pin": "1234"}]), None),
        (with_line(ret(), kind="merchandise"), "lines.0.kind"),
    ],
)
def test_unknown_field_is_rejected(event: Event, field: str | None) -> None:
    field = field or "tenders.0.pin"
    assert_rejected(soko_engine(), event, "invalid_input", field, "unknown field")


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (without(tick(), "at"), "at"),
        (without(purchase(), "order"), "order"),
        (without(purchase(), "channel"), "channel"),
        (without(purchase(), "lines"), "lines"),
        (with_line(purchase(), amount=...), "lines.0.amount"),
        (with_line(purchase(), sku=...), "lines.0.sku"),
        (changed(purchase(), tenders=[{"type": "card"}]), "tenders.0.amount"),
        (without(enroll(), "member"), "member"),
        (without(ret(), "return"), "return"),
        (without(ret(), "order"), "order"),
        (without(action(), "ref"), "ref"),
        (without(action(), "action"), "action"),
        (without(redeem(), "subtotal"), "subtotal"),
        (without(redeem(), "order"), "order"),
        (without(adjust(), "points"), "points"),
        (without(adjust(), "reason"), "reason"),
        (without({"type": "shipment", "at": LATER, "order": "o1"}, "order"), "order"),
        (without(campaign(ENROLL_AT, LATER), "ends"), "ends"),
    ],
)
def test_missing_required_field_is_rejected(event: Event, field: str) -> None:
    assert_rejected(soko_engine(), event, "invalid_input", field, "required field is missing")


# --- money ---------------------------------------------------------------------------------------

MONEY = "money must be a non-negative decimal string with at most 2 decimals"


@pytest.mark.parametrize(
    "amount",
    [
        57.99,  # a number, not a string
        58,
        "-1.00",  # negative
        "-0.01",
        "1.005",  # more than two decimals
        "57.999",
        "abc",  # not numeric
        "",
        "1,000.00",
        "$5.00",
        "1e3",
        "NaN",
        "Infinity",
        " 5.00",
        "5.",
        ".50",
        None,
        True,
    ],
)
def test_bad_money_in_a_line_is_rejected(amount: Any) -> None:
    event = with_line(purchase(), amount=amount)
    assert_rejected(soko_engine(), event, "invalid_input", "lines.0.amount", MONEY)


@pytest.mark.parametrize("amount", ["1000000000000", "1" * 40, "9" * 40 + ".99"])
def test_money_too_large_is_rejected_not_a_crash(amount: str) -> None:
    # 40 digits used to escape as decimal.InvalidOperation (Decimal holds 28 digits)
    event = with_line(purchase(), amount=amount)
    assert_rejected(soko_engine(), event, "invalid_input", "lines.0.amount", "less than")


def test_the_largest_money_is_accepted() -> None:
    assert soko_engine().apply(with_line(purchase(), amount="999999999999.99")).accepted


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (changed(purchase(), shipping=5), "shipping"),
        (changed(purchase(), tax="-1.00"), "tax"),
        (changed(purchase(), tax="0.001"), "tax"),
        (changed(purchase(), tenders=[{"type": "card", "amount": 26.0}]), "tenders.0.amount"),
        (changed(purchase(), tenders=[{"type": "card", "amount": "-26"}]), "tenders.0.amount"),
        (changed(redeem(), subtotal="80.000"), "subtotal"),
        (changed(redeem(), subtotal=80), "subtotal"),
        (with_line(ret(), amount="-100.00"), "lines.0.amount"),
        (with_line(ret(), amount=100), "lines.0.amount"),
        (campaign(LATER, "2024-04-01T00:00:00-04:00", min_spend="ten"), "min_spend"),
    ],
)
def test_bad_money_elsewhere_is_rejected(event: Event, field: str) -> None:
    assert_rejected(soko_engine(), event, "invalid_input", field, MONEY)


def test_good_money_strings_are_accepted() -> None:
    engine = soko_engine()
    for order, amount in [("o5", "5"), ("o6", "5.5"), ("o7", "0.00"), ("o8", "0012.30")]:
        assert engine.apply(with_line(purchase(order), amount=amount)).accepted, amount


# --- times ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("at", ["2024-03-07T12:00:00", "2024-03-07 12:00:00", "2024-03-07"])
def test_a_time_without_utc_offset_is_rejected(at: str) -> None:
    assert_rejected(soko_engine(), tick(at), "invalid_input", "at", "ISO-8601", "UTC offset")


@pytest.mark.parametrize(
    "at",
    [
        "yesterday",
        "not a date",
        "2024-13-45T10:00:00-05:00",
        "2024-02-30T10:00:00-05:00",
        "2024-03-07T25:00:00-05:00",
        "2024-03-07T12:00:00+25:00",
        "07/03/2024 12:00 -05:00",
        "",
        "!!!",
        None,
        True,
        [2024, 3, 7],
        1709830800,  # a Unix timestamp is not ISO-8601
        1709830800.0,
    ],
)
def test_a_time_that_is_not_a_time_is_rejected(at: Any) -> None:
    assert_rejected(soko_engine(), tick(at), "invalid_input", "at", "not a valid ISO-8601 time")


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (campaign("2024-04-01T00:00:00", "2024-04-02T00:00:00-04:00"), "starts"),
        (campaign("2024-04-01T00:00:00-04:00", "next week"), "ends"),
    ],
)
def test_bad_campaign_times_are_rejected(event: Event, field: str) -> None:
    assert_rejected(soko_engine(), event, "invalid_input", field, "ISO-8601")


def test_time_going_backwards_is_rejected() -> None:
    engine = soko_engine()
    error = assert_rejected(engine, tick(EARLIER), "conflict", "at", "time goes backwards")
    assert "2024-03-04T10:30:00-05:00" in error.message  # the rejected time
    assert "2024-03-04T11:00:00-05:00" in error.message  # the last accepted time
    # the same instant in another offset is not earlier: 16:00Z == 11:00-05:00
    assert engine.apply(tick("2024-03-04T16:00:00+00:00")).accepted
    # one second earlier, in UTC, is
    assert_rejected(engine, tick("2024-03-04T15:59:59Z"), "conflict", "at", "time goes backwards")


def test_time_going_backwards_is_rejected_for_every_event_type() -> None:
    engine = soko_engine()
    for event in [
        enroll("m2", EARLIER),
        purchase("o9", at=EARLIER),
        action(at=EARLIER),
        adjust(at=EARLIER),
        redeem(at=EARLIER),
        ret(at=EARLIER),
        campaign(LATER, "2024-04-01T00:00:00-04:00", at=EARLIER),
    ]:
        assert_rejected(engine, event, "conflict", "at", "time goes backwards")


def test_an_equal_time_is_accepted() -> None:
    engine = soko_engine()
    assert engine.apply(tick(BUY_AT)).accepted
    assert engine.apply(action(at=BUY_AT)).accepted
    assert engine.apply(purchase("o2", at=BUY_AT)).accepted
    # the same instant (the engine holds every instant in UTC)
    assert engine.now is not None and engine.now == datetime.fromisoformat(BUY_AT)


# --- unknown references --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        purchase(member="ghost"),
        action(member="ghost"),
        redeem(member="ghost"),
        adjust(member="ghost"),
        adjust(member="ghost", points=-10),
    ],
    ids=["purchase", "action", "redeem", "adjust", "adjust-debit"],
)
def test_an_unknown_member_is_rejected(event: Event) -> None:
    error = assert_rejected(soko_engine(), event, "unknown_reference", "member", "unknown member")
    assert "ghost" in error.message


@pytest.mark.parametrize(
    "event",
    [ret(order="ghost"), {"type": "shipment", "at": LATER, "order": "ghost"}],
    ids=["return", "shipment"],
)
def test_an_unknown_order_is_rejected(event: Event) -> None:
    error = assert_rejected(soko_engine(), event, "unknown_reference", "order", "unknown order")
    assert "ghost" in error.message


def test_retro_credit_of_an_unknown_order_is_rejected() -> None:
    engine = soma_engine()
    event = {"type": "retro_credit", "at": LATER, "member": "m1", "order": "ghost"}
    error = assert_rejected(engine, event, "unknown_reference", "order", "unknown order")
    assert "ghost" in error.message
    # the known anonymous order can still be credited afterwards
    assert engine.apply(changed(event, order="o-anon")).accepted


def test_retro_credit_for_an_unknown_member_is_rejected() -> None:
    event = {"type": "retro_credit", "at": LATER, "member": "ghost", "order": "o-anon"}
    assert_rejected(soma_engine(), event, "unknown_reference", "member", "unknown member")


# --- event-specific validity ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("starts", "ends"),
    [
        ("2024-04-02T00:00:00-04:00", "2024-04-01T00:00:00-04:00"),  # ends before starts
        ("2024-04-01T00:00:00-04:00", "2024-04-01T00:00:00-04:00"),  # empty window
        ("2024-04-01T05:00:00+01:00", "2024-04-01T00:00:00-04:00"),  # same instant
    ],
)
def test_a_campaign_ending_before_it_starts_is_rejected(starts: str, ends: str) -> None:
    assert_rejected(
        soko_engine(), campaign(starts, ends), "invalid_input", "ends", "ends must be after starts"
    )


def test_a_campaign_without_multiplier_or_bonus_is_rejected() -> None:
    event = campaign(LATER, "2024-04-01T00:00:00-04:00", multiplier=None)
    assert_rejected(soko_engine(), event, "invalid_input", "multiplier", "multiplier")


@pytest.mark.parametrize(
    "event",
    [
        redeem(reward="10-off", blocks=1),
        redeem(reward=None, blocks=None),
        without(redeem(), "reward"),
    ],
    ids=["both", "neither", "neither-omitted"],
)
def test_redeem_needs_exactly_one_of_reward_or_blocks(event: Event) -> None:
    assert_rejected(
        soko_engine(), event, "invalid_input", "reward", "exactly one of reward or blocks"
    )


@pytest.mark.parametrize("blocks", [0, -1])
def test_redeem_with_no_blocks_is_rejected(blocks: int) -> None:
    event = redeem(reward=None, blocks=blocks)
    assert_rejected(soko_engine(), event, "invalid_input", "blocks", "greater than 0")


def test_adjust_with_zero_points_is_rejected() -> None:
    assert_rejected(
        soko_engine(), adjust(points=0), "invalid_input", "points", "points must not be zero"
    )


def test_adjust_with_fractional_points_is_rejected() -> None:
    assert_rejected(soko_engine(), adjust(points=1.5), "invalid_input", "points", "integer")


@pytest.mark.parametrize(
    ("event", "field"),
    [(changed(purchase(), lines=[]), "lines"), (changed(ret(), lines=[]), "lines")],
    ids=["purchase", "return"],
)
def test_an_empty_lines_list_is_rejected(event: Event, field: str) -> None:
    assert_rejected(soko_engine(), event, "invalid_input", field, "at least 1 item")


@pytest.mark.parametrize("channel", ["mail", "ONLINE", "web", "", None])
def test_a_bad_channel_is_rejected(channel: Any) -> None:
    error = assert_rejected(
        soko_engine(), changed(purchase(), channel=channel), "invalid_input", "channel"
    )
    for known in ("online", "store", "popup", "outlet", "phone"):
        assert known in error.message


def test_a_bad_campaign_channel_is_rejected() -> None:
    event = campaign(LATER, "2024-04-01T00:00:00-04:00", channels=["online", "tv"])
    assert_rejected(soko_engine(), event, "invalid_input", "channels.1", "online")


@pytest.mark.parametrize("kind", ["food", "Merchandise", "", None])
def test_a_bad_line_kind_is_rejected(kind: Any) -> None:
    error = assert_rejected(
        soko_engine(), with_line(purchase(), kind=kind), "invalid_input", "lines.0.kind"
    )
    for known in ("merchandise", "gift_card", "dining"):
        assert known in error.message


def test_a_bad_tender_type_is_rejected() -> None:
    event = changed(purchase(), tenders=[{"type": "bitcoin", "amount": "26.00"}])
    error = assert_rejected(soko_engine(), event, "invalid_input", "tenders.0.type")
    assert "card" in error.message and "certificate" in error.message


@pytest.mark.parametrize("country", ["usa", "us", "U1", "U", "", "CAN"])
def test_a_bad_country_format_is_rejected(country: str) -> None:
    assert_rejected(
        soko_engine(), enroll(country=country), "invalid_input", "country", "pattern", "[A-Z]{2}"
    )


@pytest.mark.parametrize(
    ("month", "reason"),
    [(13, "less than or equal to 12"), (0, "greater than or equal to 1"), (-3, "greater than")],
)
def test_a_birth_month_out_of_range_is_rejected(month: int, reason: str) -> None:
    assert_rejected(
        soko_engine(), enroll(birth_month=month), "invalid_input", "birth_month", reason
    )


def test_a_bad_delivery_preference_is_rejected() -> None:
    error = assert_rejected(soko_engine(), enroll(delivery="fax"), "invalid_input", "delivery")
    assert "email" in error.message and "mail" in error.message


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (purchase(order=""), "order"),
        (enroll(member=""), "member"),
        (with_line(purchase(), sku=""), "lines.0.sku"),
        (action(ref=""), "ref"),
    ],
)
def test_an_empty_id_is_rejected(event: Event, field: str) -> None:
    assert_rejected(soko_engine(), event, "invalid_input", field, "at least 1 character")


@pytest.mark.parametrize(
    ("event", "field", "reason"),
    [
        (enroll(birth_month="3"), "birth_month", "valid integer"),
        (enroll(birth_month=3.0), "birth_month", "valid integer"),
        (enroll(birth_month=True), "birth_month", "valid integer"),
        (enroll(email_opt_in="yes"), "email_opt_in", "valid boolean"),
        (enroll(email_opt_in=1), "email_opt_in", "valid boolean"),
        (adjust(points="5"), "points", "valid integer"),
        (adjust(points=True), "points", "valid integer"),
        (redeem(reward=None, blocks="1"), "blocks", "valid integer"),
        (purchase(member=5), "member", "valid string"),
        (campaign(LATER, "2024-04-01T00:00:00-04:00", combinable="no"), "combinable", "boolean"),
    ],
)
def test_a_value_of_the_wrong_json_type_is_rejected(event: Event, field: str, reason: str) -> None:
    assert_rejected(soko_engine(), event, "invalid_input", field, reason)


def test_missing_enrollment_fields_are_named() -> None:
    error = assert_rejected(
        soko_engine(), without(enroll(), "email"), "invalid_input", "email", "email"
    )
    assert "missing required fields" in error.message


# --- parse_event raises, with the same errors ---------------------------------------------------


def test_parse_event_raises_invalid_input_with_field_and_reason() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_event(json.dumps(with_line(purchase(), amount="1.005")))
    assert info.value.field == "lines.0.amount"
    assert str(info.value) == f"lines.0.amount: {MONEY}"
    with pytest.raises(InvalidInput, match="malformed JSON"):
        parse_event(b'{"type": ')
    with pytest.raises(InvalidInput, match="unknown field"):
        parse_event(tick(colour="red"))


# --- a rejected input leaves no trace ---------------------------------------------------------


def test_a_rejected_input_does_not_burn_its_idempotency_key() -> None:
    """The corrected input under the same key is accepted (the rejected one is not remembered)."""
    engine = soko_engine()
    bad = with_line(purchase("o9"), amount="20.001")
    assert not engine.apply(bad).accepted
    assert engine.apply(purchase("o9")).accepted  # 20 points pending
    assert not engine.apply(enroll("m2", country="usa")).accepted
    assert engine.apply(enroll("m2")).accepted
    assert not engine.apply(redeem(reward="10-off", blocks=1)).accepted
    bad_campaign = campaign("2024-04-02T00:00:00-04:00", "2024-04-01T00:00:00-04:00")
    assert not engine.apply(bad_campaign).accepted
    assert engine.apply(campaign("2024-04-01T00:00:00-04:00", "2024-04-02T00:00:00-04:00")).accepted
    summaries = engine.summaries()
    assert summaries["m1"]["points"]["pending"] == 20  # o1 matured at 48h; o9 is pending
    assert summaries["m1"]["points"]["available"] == 150
    assert summaries["m2"]["points"]["available"] == 50


def test_a_rejected_enrollment_creates_no_member() -> None:
    engine = soko_engine()
    assert not engine.apply(enroll("m2", birth_month=13)).accepted
    assert set(engine.summaries()) == {"m1"}
    assert not engine.apply(purchase("o9", member="m2")).accepted  # m2 still unknown


@pytest.mark.parametrize(
    "event",
    [
        tick(colour="red"),  # refused by the parser
        purchase("o9", member="ghost"),  # unknown member
        action(name="dance"),  # unknown action (for m1)
        redeem(reward="20-off"),  # m1 has 150 of 1000 points once o1 has matured
        redeem(reward="vip-gift"),  # tier-gated
        ret(order="o1", return_id="r1") | {"lines": [{"sku": "B", "amount": "1.00"}]},
        purchase("o1", at=LATER, amount="90.00"),  # same order, another payload
    ],
    ids=["parse", "unknown-member", "unknown-action", "points", "tier-gate", "return-line", "dup"],
)
def test_a_rejected_later_input_does_not_advance_time(event: Event) -> None:
    """SK-5: o1's 100 points are pending for 48 hours. An input three days later is refused: the
    summary, taken at the last accepted time, still shows them pending; an input between the two
    times is still accepted."""
    text = "\n".join(
        json.dumps(e)
        for e in [
            enroll("m1", ENROLL_AT),
            purchase("o1", at=BUY_AT, amount="100.00"),
            event,
        ]
    )
    result = replay_text("soko", text)
    assert [r["line"] for r in result["rejected"]] == [3]
    assert result["members"]["m1"]["points"] == {
        "available": 50,
        "pending": 100,
        "expiring_this_month": 0,
        "lifetime_earned": 150,
    }
    engine = soko_engine()
    before = state(engine)
    assert not engine.apply(event).accepted
    assert state(engine) == before
    # the same instant (the engine holds every instant in UTC)
    assert engine.now is not None and engine.now == datetime.fromisoformat(BUY_AT)
    # one day later (before the rejected input's time) is still allowed
    assert engine.apply(tick("2024-03-05T11:00:00-05:00")).accepted
    assert engine.summary("m1")["points"]["pending"] == 100
    assert engine.apply(tick("2024-03-06T11:00:00-05:00")).accepted  # exactly 48 hours
    assert engine.summary("m1")["points"]["available"] == 150
    assert engine.summary("m1")["points"]["pending"] == 0


def test_a_rejected_input_undoes_the_monthly_jobs_it_ran() -> None:
    """SM-8: 130 points -> $5 of rewards at once; a certificate is issued on 1 April. A refused
    redemption on 2 April runs the jobs for m1 and then must undo them: no certificate, the reward
    balance unchanged. The certificate then issued has the same code as without the refusal."""
    events = [
        SOMA_M1,
        changed(purchase("o1", at="2024-03-05T10:00:00-05:00", amount="130.00"), channel="store"),
        tick("2024-03-20T10:00:00-04:00"),
    ]
    refused = redeem(at="2024-04-02T10:00:00-04:00", reward="no-such-reward")
    later = tick("2024-04-03T10:00:00-04:00")

    def fresh() -> Engine:
        engine = Engine(load_program("soma"))
        for event in events:
            assert engine.apply(event).accepted
        return engine

    engine = fresh()
    summary = engine.summary("m1")
    assert summary["reward_balance"] == "5.00"
    assert summary["certificates"] == []
    error = assert_rejected(engine, refused, "unknown_reference", "reward", "unknown reward")
    assert "no-such-reward" in error.message
    assert engine.summary("m1")["certificates"] == []
    assert engine.summary("m1")["reward_balance"] == "5.00"
    assert engine.apply(later).accepted
    control = fresh()
    assert control.apply(later).accepted
    assert engine.summaries() == control.summaries()
    [certificate] = engine.summary("m1")["certificates"]
    assert certificate["amount"] == "5.00" and certificate["status"] == "issued"


# --- replay: line numbers, and the replay goes on ------------------------------------------------


def test_replay_reports_rejected_lines_by_number_and_goes_on() -> None:
    lines = [
        json.dumps(enroll("m1", ENROLL_AT)),  # 1
        '{"type": "purchase", ',  # 2 malformed
        json.dumps(purchase("o1", at=BUY_AT, amount="100.00")),  # 3
        json.dumps(tick("2024-03-04T12:00:00-05:00", colour="red")),  # 4 unknown field
        "",  # 5 blank: skipped, still counted
        json.dumps(action(at="2024-03-04T09:00:00-05:00")),  # 6 time goes backwards
        json.dumps(action(member="ghost", at="2024-03-04T12:00:00-05:00")),  # 7 unknown member
        json.dumps(action(at="2024-03-04T12:00:00-05:00")),  # 8 review: 50 points at once
        json.dumps(with_line(purchase("o2", at="2024-03-04T12:00:00-05:00"), amount=20)),  # 9
        json.dumps(purchase("o1", at=BUY_AT, amount="100.00")),  # 10 exact repeat: not rejected
        json.dumps(enroll("m2", "2024-03-04T13:00:00-05:00")),  # 11
    ]
    result = replay_text("soko", "\n".join(lines))
    rejected = {r["line"]: r["error"] for r in result["rejected"]}
    assert sorted(rejected) == [2, 4, 6, 7, 9]
    assert rejected[2].startswith("malformed JSON")
    assert rejected[4] == "colour: unknown field"
    assert rejected[6].startswith("at: time goes backwards")
    assert rejected[7] == "member: unknown member ghost"
    assert rejected[9] == f"lines.0.amount: {MONEY}"
    assert all(set(r) == {"line", "error"} for r in result["rejected"])
    assert set(result["members"]) == {"m1", "m2"}
    assert result["members"]["m1"]["points"] == {
        "available": 100,
        "pending": 100,
        "expiring_this_month": 0,
        "lifetime_earned": 200,
    }
    assert result["members"]["m2"]["points"]["available"] == 50


def test_replay_of_only_bad_lines_has_no_members() -> None:
    result = replay_text("soko", "nonsense\n[1]\n{}\n")
    assert result["members"] == {}
    assert [r["line"] for r in result["rejected"]] == [1, 2, 3]
    assert result["rejected"][2]["error"] == "type: missing event type"


def test_replay_rejects_a_member_that_was_never_enrolled_because_its_enrollment_was_bad() -> None:
    lines = [
        json.dumps(enroll("m1", ENROLL_AT, birth_month=13)),
        json.dumps(purchase("o1", at=BUY_AT)),
        json.dumps(enroll("m1", BUY_AT)),
        json.dumps(purchase("o1", at=BUY_AT)),
    ]
    result = replay_text("soko", "\n".join(lines))
    assert result["rejected"] == [
        {"line": 1, "error": "birth_month: Input should be less than or equal to 12"},
        {"line": 2, "error": "member: unknown member m1"},
    ]
    assert result["members"]["m1"]["points"]["pending"] == 20


@pytest.mark.parametrize(
    ("at", "reason"),
    [
        ("9999-12-31T10:00:00-05:00", "out of the supported range"),
        ("0001-01-01T00:00:00+14:00", "out of the supported range"),
        ("1704898800", "ISO-8601"),
    ],
)
def test_times_out_of_range_or_not_iso_are_rejected_and_change_nothing(
    at: str, reason: str
) -> None:
    from loyalty import Engine, load_program

    engine = Engine(load_program("soko"))
    outcome = engine.apply({"type": "enroll", "at": at, "member": "m1", "email": "a@x.com"})
    assert not outcome.accepted
    assert outcome.error is not None and outcome.error.field == "at"
    assert reason in outcome.error.message
    assert engine.members == {} and engine.now is None
    ok = engine.apply(
        {"type": "enroll", "at": "2024-01-01T10:00:00-05:00", "member": "m1", "email": "a@x.com"}
    )
    assert ok.accepted


# --- limits and characters (stop 9 audit) -------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "field", "reason"),
    [
        (adjust(points=2**63), "points", "less than or equal to 1000000000000"),
        (adjust(points=-(2**63)), "points", "greater than or equal to -1000000000000"),
        (
            campaign(LATER, "2024-04-01T00:00:00-04:00", multiplier=None, bonus_points=2**63),
            "bonus_points",
            "less than or equal to 1000000000000",
        ),
        (redeem(reward=None, blocks=2**63), "blocks", "less than or equal to 1000000000000"),
    ],
    ids=["adjust-up", "adjust-down", "bonus", "blocks"],
)
def test_points_beyond_any_program_are_rejected_not_stored(
    event: Event, field: str, reason: str
) -> None:
    """A campaign of 2**63 bonus points used to be accepted, stored, and then crashed every later
    purchase on SQLite (a 64-bit integer column)."""
    assert_rejected(soko_engine(), event, "invalid_input", field, reason)


@pytest.mark.parametrize("multiplier", ["0", "0.0", "12345", "1.23456", "1e3", " 2", "2\n", 2])
def test_a_campaign_multiplier_must_be_a_sensible_decimal_string(multiplier: Any) -> None:
    event = campaign(LATER, "2024-04-01T00:00:00-04:00", multiplier=multiplier)
    assert_rejected(soko_engine(), event, "invalid_input", "multiplier", "above 0")


def test_a_campaign_with_an_empty_channel_list_is_rejected() -> None:
    event = campaign(LATER, "2024-04-01T00:00:00-04:00", channels=[])
    assert_rejected(soko_engine(), event, "invalid_input", "channels", "at least 1 item")


def test_money_followed_by_a_newline_is_rejected() -> None:
    assert_rejected(
        soko_engine(), with_line(purchase(), amount="5.00\n"), "invalid_input", "lines.0.amount"
    )


@pytest.mark.parametrize("reason", ["", "   ", "\t"])
def test_an_adjustment_needs_a_reason(reason: str) -> None:
    event = {**adjust(), "reason": reason}
    assert_rejected(soko_engine(), event, "invalid_input", "reason")


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (changed(purchase(), order="o\x009"), "order"),
        (changed(purchase(), member="m1\n"), "member"),
        (with_line(purchase(), sku="A\tB"), "lines.0.sku"),
        (enroll(first_name="Ann\r\nBcc: x"), "first_name"),
    ],
    ids=["nul", "newline", "tab", "header-injection"],
)
def test_control_characters_in_ids_and_names_are_rejected(event: Event, field: str) -> None:
    assert_rejected(soko_engine(), event, "invalid_input", field, "control characters")


def test_a_profile_field_has_a_length_limit() -> None:
    event = enroll(address="x" * 501)
    assert_rejected(soko_engine(), event, "invalid_input", "address", "at most 500")


@pytest.mark.parametrize("number", ["²1", "١٢", "5" * 40])
def test_a_member_number_of_other_digits_is_not_valid(number: str) -> None:
    """SM-2: "²" passes str.isdigit but not int(); it used to crash the link."""
    engine = Engine(load_program("soma"))
    event = {"type": "enroll", "at": LATER, "member": "w1", "member_number": number}
    outcome = engine.apply(event)
    assert not outcome.accepted
    assert outcome.error is not None and outcome.error.field == "member_number"


def test_a_byte_order_mark_at_the_start_of_a_file_is_skipped() -> None:
    text = "\ufeff" + json.dumps(enroll("m1", at=ENROLL_AT))
    result = replay_text("soko", text)
    assert result["rejected"] == []
    assert list(result["members"]) == ["m1"]
    assert parse_event(b"\xef\xbb\xbf" + json.dumps(tick()).encode()).type == "tick"
