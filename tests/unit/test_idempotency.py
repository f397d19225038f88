"""SPEC §2: every input has an idempotency key; the same input twice changes nothing the second
time and returns the first result; a different payload under the same key is rejected. An
``adjust`` has no natural key: only its exact repeat (time included) is a no-op."""

from __future__ import annotations

from loyalty import Engine, load_program

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
