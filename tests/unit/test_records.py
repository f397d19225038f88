"""The engine's records (``loyalty.domain``: dataclasses with an ``__init__`` written out, so that
the compiled build compiles it) behave as the dataclasses they replaced: equality and ``repr`` by
field, ``dataclasses.replace``, a fresh list or dict for each default, and, in the compiled build,
fields that cannot be assigned where ``frozen=True`` used to refuse it."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from loyalty.domain.earning import CampaignRule, Earned
from loyalty.domain.jobs import MonthlyWork
from loyalty.domain.ledger import Entry, Lot, Wallet
from loyalty.domain.member import Member, Notification, Order
from loyalty.domain.received import Outcome
from loyalty.domain.tiers import TierState

AT = datetime(2024, 3, 1, 10, tzinfo=UTC)
COMPILED = os.environ.get("LOYALTY_EXPECT_COMPILED") == "1"


def test_a_record_compares_and_prints_by_its_fields() -> None:
    entry = Entry(1, AT, "earn", 57, "order:A1")
    assert entry == Entry(seq=1, at=AT, kind="earn", points=57, ref="order:A1", note="")
    assert entry != Entry(1, AT, "earn", 58, "order:A1")
    assert hash(entry) == hash(Entry(1, AT, "earn", 57, "order:A1"))
    assert repr(entry).startswith("Entry(seq=1, ")
    assert [f.name for f in dataclasses.fields(Entry)] == [
        "seq",
        "at",
        "kind",
        "points",
        "ref",
        "note",
    ]
    assert Notification(AT, "tier_upgrade", {}) == Notification(AT, "tier_upgrade", {})
    assert MonthlyWork(True, False, True) == MonthlyWork(True, False, True)


def test_replace_makes_a_changed_copy() -> None:
    outcome = Outcome(True, message="member number 1")
    repeat = dataclasses.replace(outcome, duplicate=True)
    assert repeat == Outcome(True, None, "member number 1", True)
    assert outcome.duplicate is False


def test_each_record_gets_its_own_lists_and_dicts() -> None:
    one, two = Wallet(), Wallet()
    one.lots.append(Lot(1, "earn", 5, 5, AT, AT, None, "x"))
    one.entries.append(Entry(1, AT, "earn", 5, "x"))
    assert two.lots == [] and two.entries == []
    first, second = Member("m1", "1", "active", {}, AT, AT), Member("m2", "2", "active", {}, AT, AT)
    first.orders["A1"] = Order("A1", "m1", AT, AT.date(), "store", [], *[Decimal(0)] * 3)
    first.actions_done.add("review")
    first.tiers.year_spend[2024] = Decimal(5)
    assert second.orders == {} and second.actions_done == set()
    assert second.tiers.year_spend == {} and TierState().year_spend == {}
    assert first.wallet is not second.wallet


@pytest.mark.skipif(not COMPILED, reason="mypy refuses these; the compiled build also at run time")
@pytest.mark.parametrize(
    ("record", "field"),
    [
        (Entry(1, AT, "earn", 57, "order:A1"), "points"),
        (Notification(AT, "tier_upgrade", {}), "kind"),
        (Earned(1, 0, (), ()), "earn"),
        (CampaignRule("c", AT, AT, None, 5, None, None, False), "bonus_points"),
        (Outcome(True), "accepted"),
        (Lot(1, "earn", 5, 5, AT, AT, None, "x"), "points"),
    ],
)
def test_fields_that_never_change_cannot_be_assigned(record: object, field: str) -> None:
    with pytest.raises(AttributeError):
        setattr(record, field, 0)
