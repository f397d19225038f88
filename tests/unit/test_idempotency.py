"""SPEC §2: every input has an idempotency key; the same input twice changes nothing the second
time and returns the first result; a different payload under the same key is rejected. An
``adjust`` has no natural key: only its exact repeat (time included) is a no-op."""

from __future__ import annotations

import json

from loyalty import Engine, load_program
from loyalty.domain.events import parse_event
from loyalty.domain.received import payload_digest

ENROLL = {"type": "enroll", "at": "2024-01-02T10:00:00-05:00", "member": "m1", "email": "a@x.com"}


def adjust(points: int, reason: str = "goodwill", at: str = "2024-01-02T11:00:00-05:00") -> dict:
    return {"type": "adjust", "at": at, "member": "m1", "points": points, "reason": reason}


def test_an_exact_repeat_of_an_adjust_is_a_no_op() -> None:
    engine = Engine(load_program("soko"))
    engine.apply(ENROLL)
    first = engine.apply(adjust(10))
    again = engine.apply(adjust(10))
    assert first.accepted and not first.duplicate
    assert again.accepted and again.duplicate
    assert engine.summary("m1")["points"]["available"] == 60


def test_two_different_adjusts_at_the_same_moment_both_apply() -> None:
    engine = Engine(load_program("soko"))
    engine.apply(ENROLL)
    assert engine.apply(adjust(10)).accepted
    assert engine.apply(adjust(5, "survey")).accepted
    assert engine.summary("m1")["points"]["available"] == 65


def test_a_key_reused_with_a_different_payload_is_rejected() -> None:
    engine = Engine(load_program("soko"))
    engine.apply(ENROLL)
    purchase = {
        "type": "purchase",
        "at": "2024-01-03T10:00:00-05:00",
        "member": "m1",
        "order": "o1",
        "channel": "online",
        "lines": [{"sku": "A", "amount": "10.00"}],
    }
    assert engine.apply(purchase).accepted
    changed = {**purchase, "lines": [{"sku": "A", "amount": "11.00"}]}
    outcome = engine.apply(changed)
    assert not outcome.accepted and outcome.error is not None
    assert outcome.error.code == "conflict" and "different payload" in outcome.error.message


def test_payload_digests_stay_those_stored_by_earlier_versions() -> None:
    """The digest of an input is stored with it (``inputs.digest``): a repeat sent after an
    upgrade must find the same digest, or it would be refused as a different payload. These are
    the digests the engine computed before money was serialised by pydantic's own encoder."""
    purchase = parse_event(
        b'{"type":"purchase","at":"2024-01-04T01:17:14-05:00","member":"m1","order":"o1",'
        b'"channel":"online","lines":[{"sku":"S1","amount":"16.4"},'
        b'{"sku":"S2","amount":"3","kind":"gift_card"}],"shipping":"5",'
        b'"tenders":[{"type":"card","amount":"24.40"}]}'
    )
    campaign = parse_event(
        b'{"type":"campaign","at":"2024-01-04T01:17:14-05:00","id":"c1",'
        b'"starts":"2024-02-01T00:00:00+08:00","ends":"2024-03-01T00:00:00+08:00",'
        b'"multiplier":"2","min_spend":"100"}'
    )
    assert payload_digest(purchase).hex() == "d091783b1822be8126cb4af89fd95460"
    assert payload_digest(campaign).hex() == "0bd23fe9ee95693eea7ad713e5abd7b7"


LINE = (
    b'{"type":"purchase","at":"2024-01-04T01:17:14-05:00","member":"m1","order":"o1",'
    b'"channel":"online","lines":[{"sku":"S1","amount":"16.4"}]}'
)
# the same payload spelt otherwise, sent later: fields in another order, "16.40", spaces
RESPELT = (
    b'{"order": "o1", "type": "purchase", "member": "m1", "channel": "online",'
    b' "lines": [{"amount": "16.40", "sku": "S1"}], "at": "2024-01-05T09:00:00-05:00"}'
)
OTHER = RESPELT.replace(b'"16.40"', b'"16.41"')


def _enrolled() -> Engine:
    engine = Engine(load_program("soko"))
    assert engine.apply(ENROLL).accepted
    return engine


def test_a_repeat_spelt_otherwise_is_a_repeat_when_the_first_came_as_a_line() -> None:
    """The in-memory registry keeps the first line and fingerprints it only when its key comes
    again (``Received``): both sides are then fingerprinted the same way."""
    engine = _enrolled()
    assert engine.apply(LINE).accepted
    again = engine.apply(RESPELT)
    assert again.accepted and again.duplicate
    assert engine.summary("m1")["points"]["pending"] == 16


def test_a_different_payload_under_a_key_first_sent_as_a_line_is_refused() -> None:
    engine = _enrolled()
    assert engine.apply(LINE.decode()).accepted  # a str line, as well as bytes
    before = engine.summary("m1")
    outcome = engine.apply(OTHER)
    assert not outcome.accepted and outcome.error is not None
    assert "different payload" in outcome.error.message
    assert engine.summary("m1") == before


def test_a_parsed_event_is_kept_as_it_came_and_compared_when_its_key_comes_again() -> None:
    engine = _enrolled()
    assert engine.apply(parse_event(LINE)).accepted
    assert engine.apply(parse_event(RESPELT)).duplicate
    assert not engine.apply(parse_event(OTHER)).accepted


def test_the_in_memory_registry_defers_fingerprints_until_a_key_comes_again() -> None:
    engine = _enrolled()
    engine.apply(LINE)
    assert engine.registry.inputs["purchase"]["o1"] == LINE  # kept as it came: no ``Received``
    received = engine.registry.seen_input(("purchase", "o1"))
    assert received is not None and received.outcome.accepted
    assert received._digest is None and received._source == LINE
    engine.apply(RESPELT)
    assert received.fingerprint() == payload_digest(parse_event(LINE))
    assert received._source is None  # the line is let go once fingerprinted


def test_a_dict_is_fingerprinted_at_once_since_the_caller_may_change_it() -> None:
    engine = _enrolled()
    purchase = json.loads(LINE)
    assert engine.apply(purchase).accepted
    received = engine.registry.seen_input(("purchase", "o1"))
    assert received is not None and received._digest == payload_digest(parse_event(LINE))
    purchase["lines"][0]["amount"] = "99.00"  # changed after the call: still a conflict
    assert not engine.apply(purchase).accepted
