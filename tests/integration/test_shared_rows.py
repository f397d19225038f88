"""Inputs for different members that meet on a row no member lock covers (SPEC §2, §7): an order
made without a member, a new order id, an email or phone that must stay unique (SG-1, SK-1).

Each test holds the first input's transaction open (applied, not committed) while a second input,
for another member, is applied through the service on another connection, then commits the first.
Whatever the timing, the outcome must be the one of the two inputs applied one after the other:
the second is refused with the reason, and no point is credited twice. On SQLite the second input
waits for the first's write transaction; on PostgreSQL it must wait for (or conflict with) the
first's row, since the member locks are different.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from loyalty import replay_lines
from loyalty.adapters.sql import schema as t
from loyalty.domain.events import parse_event
from loyalty.domain.received import Outcome
from loyalty.programs.loader import load_program
from loyalty.services.durable import DurableEngine
from tests.builders import sogo_member

AT = "2024-03-04T12:00:00-05:00"
LATER = "2024-03-05T12:00:00-05:00"
WAIT = 1.5  # seconds the second input is given to finish while the first is still open


def _soma_member(member: str, email: str, phone: str) -> dict[str, Any]:
    return {
        "type": "enroll",
        "at": AT,
        "member": member,
        "first_name": "Ann",
        "last_name": member,
        "address": "1 Main St",
        "phone": phone,
        "email": email,
        "birth_month": 6,
    }


def _anonymous_purchase(order: str) -> dict[str, Any]:
    """SM-5: a $100 purchase in a boutique, no member named (retro-credit later)."""
    return {
        "type": "purchase",
        "at": AT,
        "order": order,
        "channel": "store",
        "lines": [{"sku": "A", "amount": "60.00"}, {"sku": "B", "amount": "40.00"}],
    }


def _race(
    durable: DurableEngine, first: dict[str, Any], second: dict[str, Any]
) -> tuple[Outcome, Outcome]:
    """Apply ``first`` in a transaction held open while ``second`` is applied by the service on
    another connection; then commit the first and wait for the second."""
    answers: list[Outcome] = []
    worker: threading.Thread | None = None

    def apply_second() -> None:
        answers.append(durable.apply(second))

    with durable.db.begin() as conn:
        held = durable._apply_one(conn, parse_event(first))  # the service's own step
        assert held.accepted, held.error
        worker = threading.Thread(target=apply_second)
        worker.start()
        worker.join(WAIT)
    worker.join(60)
    assert not worker.is_alive()
    return held, answers[0]


def _setup(database_url: str, preset: str, inputs: list[dict[str, Any]]) -> DurableEngine:
    durable = DurableEngine(load_program(preset), database_url)
    for event in inputs:
        outcome = durable.apply(event)
        assert outcome.accepted, (event, outcome.error)
    return durable


def _points(durable: DurableEngine, member: str) -> int:
    summary = durable.summaries(member)[member]
    return int(summary["points"]["available"]) + int(summary["points"]["pending"])


def _order_owner(durable: DurableEngine, order: str) -> str | None:
    with durable.db.connect() as conn:
        owner = conn.execute(
            select(t.orders.c.member_id).where(
                t.orders.c.program_id == durable.program.id, t.orders.c.order_id == order
            )
        ).scalar_one()
    return None if owner is None else str(owner)


def _refused(outcome: Outcome, field: str, says: str) -> None:
    assert not outcome.accepted
    assert outcome.error is not None and outcome.error.field == field, outcome.error
    assert says in str(outcome.error), outcome.error


def _members(durable: DurableEngine, *members: str) -> dict[str, int]:
    return {m: _points(durable, m) for m in members}


def test_SM_5_an_anonymous_order_is_retro_credited_once_when_two_members_claim_it_at_once(
    database_url: str,
) -> None:
    durable = _setup(
        database_url,
        "soma",
        [
            _soma_member("a", "a@x.com", "555-0101"),
            _soma_member("b", "b@x.com", "555-0102"),
            _anonymous_purchase("o1"),
        ],
    )
    claim: Callable[[str], dict[str, Any]] = lambda m: {  # noqa: E731
        "type": "retro_credit",
        "at": LATER,
        "member": m,
        "order": "o1",
    }
    _, second = _race(durable, claim("a"), claim("b"))
    # a retro-credit's key is its order (§2): the second claim is a second payload for that key
    _refused(second, "retro_credit", "already received with a different payload")
    assert _members(durable, "a", "b") == {"a": 100, "b": 0}  # SM-4: $1 = 1 point, once
    assert _order_owner(durable, "o1") == "a"


def test_SM_5_a_return_on_an_anonymous_order_is_not_lost_to_a_retro_credit_at_the_same_time(
    database_url: str,
) -> None:
    durable = _setup(
        database_url,
        "soma",
        [_soma_member("a", "a@x.com", "555-0101"), _anonymous_purchase("o1")],
    )
    give_back = {
        "type": "return",
        "at": LATER,
        "order": "o1",
        "return": "r1",
        "lines": [{"sku": "B", "amount": "40.00"}],
    }
    claim = {"type": "retro_credit", "at": LATER, "member": "a", "order": "o1"}
    _, second = _race(durable, give_back, claim)
    assert second.accepted, second.error
    # the $40 returned before the claim earns nothing: 60 points, not 100
    assert _members(durable, "a") == {"a": 60}
    assert _order_owner(durable, "o1") == "a"


def test_two_returns_of_one_members_order_at_once_both_count_and_a_line_is_returned_once(
    database_url: str,
) -> None:
    purchase = {**_anonymous_purchase("o1"), "member": "a"}
    durable = _setup(database_url, "soma", [_soma_member("a", "a@x.com", "555-0101"), purchase])

    def give_back(return_id: str, sku: str, amount: str) -> dict[str, Any]:
        return {
            "type": "return",
            "at": LATER,
            "order": "o1",
            "return": return_id,
            "lines": [{"sku": sku, "amount": amount}],
        }

    _, second = _race(durable, give_back("r1", "A", "60.00"), give_back("r2", "B", "40.00"))
    assert second.accepted, second.error
    assert _members(durable, "a") == {"a": 0}
    again = durable.apply(give_back("r3", "A", "60.00"))
    _refused(again, "lines.0.sku", "already returned")
    assert _members(durable, "a") == {"a": 0}


def test_a_new_order_id_is_recorded_once_when_two_members_send_it_at_once(
    database_url: str,
) -> None:
    durable = _setup(
        database_url,
        "soma",
        [_soma_member("a", "a@x.com", "555-0101"), _soma_member("b", "b@x.com", "555-0102")],
    )
    purchase = {**_anonymous_purchase("o1"), "at": LATER}
    _, second = _race(durable, {**purchase, "member": "a"}, {**purchase, "member": "b"})
    # a purchase's key is its order (§2): the second is a second payload for that key
    _refused(second, "purchase", "already received with a different payload")
    assert _members(durable, "a", "b") == {"a": 100, "b": 0}
    assert _order_owner(durable, "o1") == "a"


def test_SG_1_one_email_and_one_phone_per_person_when_two_enrol_at_once(
    database_url: str,
) -> None:
    durable = _setup(database_url, "sogo", [])

    def enroll(member: str, email: str, phone: str) -> dict[str, Any]:
        return sogo_member(AT, member, email=email, phone=phone)

    _, second = _race(
        durable, enroll("a", "same@x.com", "012-3456789"), enroll("b", "same@x.com", "019-1111111")
    )
    _refused(second, "email", "already exists")
    _, third = _race(
        durable, enroll("c", "c@x.com", "013-5550000"), enroll("d", "d@x.com", "013-5550000")
    )
    _refused(third, "phone", "already exists")
    with durable.db.connect() as conn:
        enrolled = conn.execute(
            select(t.members.c.member_id).where(t.members.c.program_id == "sogo")
        ).scalars()
        assert sorted(enrolled) == ["a", "c"]


def test_SK_1_a_shared_phone_stays_with_the_first_member_when_two_enrol_at_once(
    database_url: str,
) -> None:
    """Soko lets two accounts share a phone (FAQ): both enrol, the first keeps the look-up."""
    durable = _setup(database_url, "soko", [])

    def enroll(member: str, email: str) -> dict[str, Any]:
        return {"type": "enroll", "at": AT, "member": member, "email": email, "phone": "555-0199"}

    _, second = _race(durable, enroll("a", "a@x.com"), enroll("b", "b@x.com"))
    assert second.accepted, second.error
    assert durable.find_member(phone="555-0199") == "a"


def test_two_enrolments_at_once_get_different_member_numbers(database_url: str) -> None:
    """The program's member counter is read once per unit of work and written back at its end
    (``SqlRegistry.next_member_seq``): a second enrolment at the same moment must take the next
    number, never the same one, and the counter must count both (on PostgreSQL the counter's row
    is locked until commit; a clash would also fail on the number's unique key and be retried)."""
    durable = _setup(database_url, "sogo", [])
    first, second = _race(
        durable,
        sogo_member(AT, "a", email="a@x.com", phone="011-1000001"),
        sogo_member(AT, "b", email="b@x.com", phone="011-1000002"),
    )
    assert first.accepted and second.accepted, second.error
    with durable.db.connect() as conn:
        numbers = dict(conn.execute(select(t.members.c.member_id, t.members.c.number)).all())
        counter = conn.execute(select(t.programs.c.member_seq)).scalar_one()
    assert numbers["a"] != numbers["b"]
    assert counter == 2
    replayed = replay_lines(
        "sogo",
        [
            json.dumps(sogo_member(AT, "a", email="a@x.com", phone="011-1000001")),
            json.dumps(sogo_member(AT, "b", email="b@x.com", phone="011-1000002")),
        ],
    ).engine
    assert numbers == {m: replayed.member_number(m) for m in ("a", "b")}
