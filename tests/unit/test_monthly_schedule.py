"""A member is due on the 1st of a month only when that month can change it (``jobs.next_monthly``):
the jobs runner and replays do not visit every member every month for nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from loyalty import Engine, load_program
from loyalty.domain.jobs import next_due


def _engine(program: str, *events: dict[str, object]) -> Engine:
    engine = Engine(load_program(program))
    for event in events:
        outcome = engine.apply(json.dumps(event))
        assert outcome.accepted, outcome.error
    return engine


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_a_sogo_member_is_due_next_january_not_next_month() -> None:
    """SG-2: the only monthly work of SOGO is January's requalification."""
    engine = _engine(
        "sogo",
        {"type": "enroll", "at": "2024-03-04T10:00:00+08:00", "member": "m1", "email": "a@x"},
    )
    assert next_due(engine.members["m1"]) == _local("2025-01-01T00:00:00+08:00")


def test_a_soko_member_is_due_at_its_birth_month_only() -> None:
    """SK-11 is Soko's only monthly work; a member without a birth month is never due for it."""
    engine = _engine(
        "soko",
        {
            "type": "enroll",
            "at": "2024-03-04T10:00:00-05:00",
            "member": "m1",
            "email": "a@x",
            "birth_month": 2,
            "email_opt_in": True,
        },
        {"type": "enroll", "at": "2024-03-04T10:00:00-05:00", "member": "m2", "email": "b@x"},
    )
    assert engine.members["m1"].next_month_at == _local("2025-02-01T00:00:00-05:00")
    assert engine.members["m2"].next_month_at is None


def test_a_soma_member_with_rewards_waiting_is_due_next_month() -> None:
    """SM-8: converted rewards are issued on the next 1st; without them January (SM-3) or the birth
    month (SM-11) comes first."""
    person = {
        "email": "a@x",
        "first_name": "A",
        "last_name": "B",
        "phone": "+1 212 555 0101",
        "address": "1 Main St",
        "country": "US",
        "birth_month": 9,
    }
    engine = _engine(
        "soma", {"type": "enroll", "at": "2024-03-04T09:00:00-05:00", "member": "m1", **person}
    )
    assert engine.members["m1"].next_month_at == _local("2024-09-01T00:00:00-04:00")
    engine = _engine(
        "soma",
        {"type": "enroll", "at": "2024-03-04T09:00:00-05:00", "member": "m1", **person},
        {
            "type": "purchase",
            "at": "2024-03-04T11:00:00-05:00",
            "member": "m1",
            "order": "o1",
            "channel": "store",
            "lines": [{"sku": "S", "amount": "200.00"}],
        },
        {"type": "tick", "at": "2024-03-20T09:00:00-04:00"},  # matured (SM-6) and converted
    )
    engine.summary("m1")  # runs the member's jobs up to the tick
    member = engine.members["m1"]
    assert member.reward_balance > 0
    assert member.next_month_at == _local("2024-04-01T00:00:00-04:00")
