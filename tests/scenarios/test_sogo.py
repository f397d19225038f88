"""Scenario tests for the SOGO Rewards preset (`sogo`): SPEC §4 rules SG-1 .. SG-14, their worked
examples, and the SPEC §2 common rules where they bite differently on SOGO (reversals from the
purchase's lots, negative balance -> suspended, debt paid first).

Expected values are derived from SPEC (and the SOGO FAQ, seeds/001), not from the engine.
Times are local to Asia/Kuala_Lumpur (+08:00) unless a test is about time zones.
"""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.harness import errors, member, run

Event = dict[str, Any]


# --------------------------------------------------------------------------- event builders (§7)


def t(local: str) -> str:
    """'2024-03-01T10:00' or '2024-03-01T10:00:30' -> ISO-8601 with the +08:00 offset."""
    if "+" in local[10:] or local.endswith("Z"):
        return local
    if len(local) == 16:
        local += ":00"
    return local + "+08:00"


def enroll(at: str, m: str = "m1", email: str | None = None, phone: str | None = None) -> Event:
    digits = "".join(ch for ch in m if ch.isdigit()) or "0"
    return {
        "type": "enroll",
        "at": t(at),
        "member": m,
        "email": email or f"{m}@example.my",
        "phone": phone or f"+6012{int(digits):07d}",
    }


def line(
    sku: str,
    amount: str,
    kind: str = "merchandise",
    department: str | None = None,
    brand: str | None = None,
) -> dict[str, Any]:
    return {"sku": sku, "amount": amount, "kind": kind, "department": department, "brand": brand}


def purchase(
    at: str,
    order: str,
    amount: str | None = None,
    *,
    lines: list[dict[str, Any]] | None = None,
    m: str | None = "m1",
    tenders: list[dict[str, Any]] | None = None,
    shipping: str = "0.00",
    tax: str = "0.00",
) -> Event:
    if lines is None:
        assert amount is not None
        lines = [line("A", amount)]
    if tenders is None:
        total = sum(Decimal(ln["amount"]) for ln in lines) + Decimal(shipping) + Decimal(tax)
        tenders = [{"type": "card", "amount": str(total), "code": None}]
    return {
        "type": "purchase",
        "at": t(at),
        "member": m,
        "order": order,
        "channel": "store",
        "lines": lines,
        "shipping": shipping,
        "tax": tax,
        "tenders": tenders,
    }


def tender(kind: str, amount: str) -> dict[str, Any]:
    return {"type": kind, "amount": amount, "code": None}


def ret(at: str, order: str, return_id: str, *lines: tuple[str, str]) -> Event:
    return {
        "type": "return",
        "at": t(at),
        "order": order,
        "return": return_id,
        "lines": [{"sku": sku, "amount": amount} for sku, amount in lines],
    }


def redeem(at: str, blocks: int, order: str, subtotal: str, m: str = "m1") -> Event:
    return {
        "type": "redeem",
        "at": t(at),
        "member": m,
        "reward": None,
        "blocks": blocks,
        "order": order,
        "subtotal": subtotal,
    }


def release(at: str, order: str, m: str = "m1") -> Event:
    return {"type": "release", "at": t(at), "member": m, "order": order}


def retro_credit(at: str, order: str, m: str = "m1") -> Event:
    return {"type": "retro_credit", "at": t(at), "member": m, "order": order}


def campaign(
    at: str,
    cid: str,
    starts: str,
    ends: str,
    *,
    multiplier: str | None = None,
    bonus_points: int | None = None,
    min_spend: str | None = None,
    combinable: bool = False,
) -> Event:
    return {
        "type": "campaign",
        "at": t(at),
        "id": cid,
        "starts": t(starts),
        "ends": t(ends),
        "multiplier": multiplier,
        "bonus_points": bonus_points,
        "min_spend": min_spend,
        "channels": None,
        "combinable": combinable,
    }


def tick(at: str) -> Event:
    return {"type": "tick", "at": t(at)}


def replay(events: list[Event], program: str = "sogo") -> dict[str, Any]:
    return run(program, "\n".join(json.dumps(e) for e in events))


def points(result: dict[str, Any], m: str = "m1") -> dict[str, int]:
    p: dict[str, int] = member(result, m)["points"]
    return p


def says_not_enough_points(message: str) -> bool:
    """Loose check of an "insufficient points" refusal (the wording is the engine's choice)."""
    msg = message.lower()
    return any(k in msg for k in ("insufficient", "not enough", "available"))


def no_rejections(result: dict[str, Any]) -> None:
    assert result["rejected"] == [], result["rejected"]


# --------------------------------------------------------------------------- SG-1 enrollment


def test_SG_1_joining_issues_unique_ecard_number_entry_tier_silver() -> None:
    """SG-1: "Joining issues an e-Card: a unique membership number. One per person; not
    transferable. Entry tier `silver`." """
    from loyalty import Engine, load_program

    eng = Engine(load_program("sogo"))
    for ev in (enroll("2024-01-02T10:00", "m1"), enroll("2024-01-02T10:05", "m2")):
        out = eng.apply(ev)
        assert out.accepted, out.message
    n1, n2 = eng.member_number("m1"), eng.member_number("m2")
    assert n1 and n2 and n1 != n2
    assert str(n1).isdigit() and str(n1).startswith("88")  # preset member_number_prefix
    assert eng.find_member(number=n1) == "m1"
    assert eng.find_member(number=n2) == "m2"

    result = replay([enroll("2024-01-02T10:00", "m1")])
    no_rejections(result)
    s = member(result, "m1")
    assert s["status"] == "active"
    assert s["tier"] == "silver"
    assert s["tier_valid_until"] is None
    assert s["points"] == {
        "available": 0,
        "pending": 0,
        "expiring_this_month": 0,
        "lifetime_earned": 0,
    }
    assert s["qualifying_spend"] == "0.00"


def test_SG_1_one_ecard_per_person_duplicate_email_or_phone_rejected() -> None:
    """SG-1: "One per person; not transferable." (FAQ: "limited to one per person")"""
    result = replay(
        [
            enroll("2024-01-02T10:00", "m1", email="ali@example.my", phone="+60121111111"),
            enroll("2024-01-02T10:01", "m2", email="ali@example.my", phone="+60122222222"),
            enroll("2024-01-02T10:02", "m3", email="siti@example.my", phone="+60121111111"),
            enroll("2024-01-02T10:03", "m4", email="mei@example.my", phone="+60124444444"),
            purchase("2024-01-03T10:00", "o1", "250.00", m="m1"),
        ]
    )
    errs = errors(result)
    assert sorted(errs) == [2, 3]
    assert "email" in errs[2].lower()
    assert "phone" in errs[3].lower()
    assert "m2" not in result["members"] and "m3" not in result["members"]
    # points stay with the member who earned them
    assert points(result, "m1")["pending"] == 250
    assert points(result, "m4")["pending"] == 0


def test_SG_1_an_ecard_is_not_transferable_no_registration_links_to_its_number() -> None:
    """SG-1: "One per person; not transferable." Linking a new registration to an existing
    number is Soma's SM-2, not SOGO's: rejected, and the second person's purchase earns nothing
    on the first one's card."""
    first = enroll("2024-01-02T10:00", "m1")
    from loyalty import Engine, load_program

    eng = Engine(load_program("sogo"))
    assert eng.apply(first).accepted
    number = eng.member_number("m1")
    link = {**enroll("2024-01-02T10:05", "m2"), "member_number": number}
    result = replay([first, link, purchase("2024-01-03T10:00", "o1", "100.00", m="m2")])
    errs = errors(result)
    assert sorted(errs) == [2, 3]
    assert "member_number" in errs[2] or "member number" in errs[2]
    assert points(result, "m1")["pending"] == 0


# --------------------------------------------------------------------------- SG-2 tiers


@pytest.mark.parametrize(
    ("at", "tier", "valid_until", "spend"),
    [
        ("2024-06-10T10:00", "gold", "2025-12-31", "3000.00"),
        ("2024-12-31T23:59:59", "gold", "2025-12-31", "3000.00"),
        ("2025-01-01T00:00", "gold", "2025-12-31", "0.00"),
        ("2025-12-31T23:59:59", "gold", "2025-12-31", "0.00"),
        ("2026-01-01T00:00", "silver", None, "0.00"),
    ],
)
def test_SG_2_upgrade_holds_rest_of_year_and_following_year(
    at: str, tier: str, valid_until: str | None, spend: str
) -> None:
    """SG-2: "An upgrade holds for the rest of that year and the whole following year; to keep
    it after that, the member must meet the threshold again within that following year. On 1
    January the tier becomes the one supported by the previous year's spend." """
    result = replay(
        [
            enroll("2024-06-01T10:00"),
            purchase("2024-06-10T10:00", "o1", "3000.00"),
            tick(at),
        ]
    )
    no_rejections(result)
    s = member(result, "m1")
    assert (s["tier"], s["tier_valid_until"], s["qualifying_spend"]) == (tier, valid_until, spend)


def test_SG_2_crossing_gold_threshold_mid_year() -> None:
    """SG-2: "Tiers by qualifying spend in the calendar year: `silver` (0), `gold` (RM 3,000)" """
    before = replay([enroll("2024-02-01T10:00"), purchase("2024-02-05T10:00", "o1", "2999.99")])
    s = member(before, "m1")
    assert (s["tier"], s["tier_valid_until"], s["qualifying_spend"]) == (
        "silver",
        None,
        "2999.99",
    )
    after = replay(
        [
            enroll("2024-02-01T10:00"),
            purchase("2024-02-05T10:00", "o1", "2999.99"),
            purchase("2024-02-05T10:30", "o2", "0.01"),
        ]
    )
    no_rejections(after)
    s = member(after, "m1")
    assert (s["tier"], s["tier_valid_until"], s["qualifying_spend"]) == (
        "gold",
        "2025-12-31",
        "3000.00",
    )
    assert s["points"]["pending"] == 2999  # floor(2999.99) x 1; the RM 0.01 earns nothing


@pytest.mark.parametrize(
    ("at", "tier", "valid_until"),
    [
        ("2026-01-01T00:00", "gold", "2026-12-31"),
        ("2026-12-31T23:59:59", "gold", "2026-12-31"),
        ("2027-01-01T00:00", "silver", None),
    ],
)
def test_SG_2_meeting_threshold_again_in_following_year_keeps_tier(
    at: str, tier: str, valid_until: str | None
) -> None:
    """SG-2: "to keep it after that, the member must meet the threshold again within that
    following year." """
    result = replay(
        [
            enroll("2024-03-01T10:00"),
            purchase("2024-03-05T10:00", "o1", "3000.00"),
            purchase("2025-05-01T10:00", "o2", "3000.00"),
            tick(at),
        ]
    )
    no_rejections(result)
    s = member(result, "m1")
    assert (s["tier"], s["tier_valid_until"]) == (tier, valid_until)


def test_SG_2_on_1_january_tier_becomes_previous_years_spend_tier() -> None:
    """SG-2: "On 1 January the tier becomes the one supported by the previous year's spend."
    Platinum earned in 2024, only RM 3,500 spent in 2025 -> gold on 2026-01-01."""
    events = [
        enroll("2024-02-01T10:00"),
        purchase("2024-02-02T10:00", "o1", "10000.00"),
        purchase("2025-03-01T10:00", "o2", "3500.00"),
    ]
    mid = member(replay(events), "m1")
    assert (mid["tier"], mid["tier_valid_until"], mid["qualifying_spend"]) == (
        "platinum",
        "2025-12-31",
        "3500.00",
    )
    result = replay([*events, tick("2026-01-01T00:00")])
    no_rejections(result)
    s = member(result, "m1")
    assert (s["tier"], s["tier_valid_until"], s["qualifying_spend"]) == (
        "gold",
        "2026-12-31",
        "0.00",
    )


def test_SG_2_calendar_year_is_counted_in_program_time_zone() -> None:
    """SG-2: "Tiers by qualifying spend in the calendar year" (program time zone
    Asia/Kuala_Lumpur): 2025-01-01 07:00 +08:00 is still 2024 in UTC but 2025 for SOGO."""
    result = replay(
        [
            enroll("2024-12-01T10:00"),
            purchase("2024-12-31T20:00", "o1", "1000.00"),
            purchase("2025-01-01T07:00", "o2", "2500.00"),
        ]
    )
    no_rejections(result)
    s = member(result, "m1")
    assert (s["tier"], s["tier_valid_until"], s["qualifying_spend"]) == ("silver", None, "2500.00")


# --------------------------------------------------------------------------- SG-3 earn rate


def test_SG_3_upgrading_purchase_earns_at_old_rate() -> None:
    """SG-3: "The upgrading purchase itself earns at the old rate; every purchase after it (the
    rest of that day, of that year, and of the tier's hold) at the new one." """
    events = [
        enroll("2024-03-01T09:00"),
        purchase("2024-03-01T10:00", "o1", "3500.00"),  # silver rate: 3500
        purchase("2024-03-01T18:00", "o2", "100.99"),  # gold rate: floor(100 x 1.5) = 150
    ]
    now = replay(events)
    no_rejections(now)
    assert points(now)["pending"] == 3650
    assert points(now)["available"] == 0
    later = replay([*events, tick("2024-03-15T18:00")])
    p = points(later)
    assert (p["available"], p["pending"], p["lifetime_earned"]) == (3650, 0, 3650)
    assert member(later, "m1")["tier"] == "gold"


def test_SG_3_points_are_floor_of_whole_rm_times_rate() -> None:
    """SG-3: "Earn rate per whole RM: silver 1, gold 1.5, platinum 2. Points =
    floor(floor(qualifying RM) x rate)." """
    result = replay(
        [
            enroll("2024-03-01T09:00"),
            purchase("2024-03-01T10:00", "o1", "3000.00"),  # silver: 3000 -> gold
            purchase("2024-03-02T10:00", "o2", "57.99"),  # gold: floor(57 x 1.5) = 85
            purchase("2024-03-03T10:00", "o3", "6942.01"),  # gold: 10413 -> spend 10000, plat
            purchase("2024-03-04T10:00", "o4", "33.99"),  # platinum: 33 x 2 = 66
            tick("2024-03-18T10:00"),
        ]
    )
    no_rejections(result)
    s = member(result, "m1")
    assert s["points"]["available"] == 3000 + 85 + 10413 + 66
    assert (s["tier"], s["tier_valid_until"], s["qualifying_spend"]) == (
        "platinum",
        "2025-12-31",
        "10033.99",
    )


def test_SG_3_new_rate_applies_during_following_year_hold() -> None:
    """SG-3: "every purchase after it (... of the tier's hold) at the new one." """
    result = replay(
        [
            enroll("2024-06-01T10:00"),
            purchase("2024-06-03T10:00", "o1", "3000.00"),  # 3000 at silver
            purchase("2025-02-01T10:00", "o2", "101.00"),  # gold hold: floor(101 x 1.5) = 151
            tick("2025-02-15T10:00"),
        ]
    )
    no_rejections(result)
    s = member(result, "m1")
    assert s["points"]["available"] == 3151
    assert (s["tier"], s["qualifying_spend"]) == ("gold", "101.00")


# --------------------------------------------------------------------------- SG-4 exclusions


def test_SG_4_excluded_lines_earn_nothing_and_do_not_count() -> None:
    """SG-4: "Excluded lines earn nothing and cannot be paid with points: gift cards and
    vouchers, non-participating brands, tenanted counters, dining, delivery and service charges
    (line `kind` or `department` marks them)." """
    result = replay(
        [
            enroll("2024-03-01T09:00"),
            purchase(
                "2024-03-01T10:00",
                "o1",
                lines=[
                    line("A", "100.00"),
                    line("GC", "50.00", kind="gift_card"),
                    line("V", "20.00", kind="voucher"),
                    line("T", "30.00", department="tenanted"),
                    line("D", "40.00", kind="dining"),
                    line("R", "45.00", department="dining"),
                    line("NP", "25.00", department="non_participating"),
                    line("DL", "10.00", kind="delivery"),
                    line("SV", "5.00", kind="service"),
                ],
                shipping="8.00",
                tax="6.00",
            ),
        ]
    )
    no_rejections(result)
    s = member(result, "m1")
    assert s["points"]["pending"] == 100
    assert s["qualifying_spend"] == "100.00"


def test_SG_4_part_paid_with_points_earns_nothing() -> None:
    """SG-4: "The part of a purchase paid with points earns nothing." (§2: non-earning tenders
    are applied to eligible merchandise first)"""
    result = replay(
        [
            enroll("2024-03-01T09:00"),
            purchase(
                "2024-03-01T10:00",
                "o1",
                lines=[line("A", "100.00"), line("D", "50.00", kind="dining")],
                tenders=[tender("points", "20.00"), tender("card", "130.00")],
            ),
        ]
    )
    no_rejections(result)
    s = member(result, "m1")
    assert s["points"]["pending"] == 80
    assert s["qualifying_spend"] == "80.00"


# --------------------------------------------------------------------------- SG-5 no retro-credit


def test_SG_5_no_ecard_earns_nothing_and_retro_credit_rejected() -> None:
    """SG-5: "The e-Card must be presented: a purchase without a member earns nothing and **no
    retro-credit is allowed** (the request is rejected with that reason)." """
    result = replay(
        [
            enroll("2024-01-05T10:00"),
            purchase("2024-02-01T10:00", "o1", "500.00", m=None),
            retro_credit("2024-02-01T11:00", "o1"),
            purchase("2024-02-01T12:00", "o2", "80.00", m="m9"),  # unknown member (§2)
            tick("2024-03-01T10:00"),
        ]
    )
    errs = errors(result)
    assert sorted(errs) == [3, 4]
    assert "retro" in errs[3].lower()
    assert list(result["members"]) == ["m1"]
    s = member(result, "m1")
    assert s["points"] == {
        "available": 0,
        "pending": 0,
        "expiring_this_month": 0,
        "lifetime_earned": 0,
    }
    assert s["qualifying_spend"] == "0.00"


# --------------------------------------------------------------------------- SG-6 pending


@pytest.mark.parametrize(
    ("at", "available", "pending"),
    [
        ("2024-03-01T10:00", 0, 200),
        ("2024-03-15T09:59:59", 0, 200),
        ("2024-03-15T10:00", 200, 0),
    ],
)
def test_SG_6_points_pending_for_14_day_cooling_off(at: str, available: int, pending: int) -> None:
    """SG-6: "Earned points are pending for a **14-day cooling-off** period." (same local time
    14 days after the purchase)"""
    result = replay(
        [enroll("2024-03-01T09:00"), purchase("2024-03-01T10:00", "o1", "200.00"), tick(at)]
    )
    no_rejections(result)
    p = points(result)
    assert (p["available"], p["pending"]) == (available, pending)


def test_SG_6_early_release_is_irreversible_and_blocks_return() -> None:
    """SG-6: "The member may release the points of a purchase early; that is irreversible and
    the purchase can then no longer be returned (a later return is rejected with that
    reason)." """
    result = replay(
        [
            enroll("2024-03-01T09:00"),
            purchase("2024-03-01T10:00", "o1", "200.00"),
            release("2024-03-02T10:00", "o1"),
            ret("2024-03-03T10:00", "o1", "r1", ("A", "200.00")),
        ]
    )
    errs = errors(result)
    assert list(errs) == [4]
    assert "released" in errs[4].lower()
    s = member(result, "m1")
    assert (s["points"]["available"], s["points"]["pending"]) == (200, 0)
    assert s["points"]["lifetime_earned"] == 200
    assert s["qualifying_spend"] == "200.00"


def test_SG_6_returns_of_other_purchases_accepted_any_time() -> None:
    """SG-6: "Returns of other purchases are accepted at any time (the store's return policy is
    not the engine's business)." """
    result = replay(
        [
            enroll("2024-03-01T09:00"),
            purchase("2024-03-01T10:00", "o1", "200.00"),
            release("2024-03-02T10:00", "o1"),
            purchase("2024-03-02T12:00", "o2", "100.00"),
            ret("2025-06-01T10:00", "o2", "r2", ("A", "100.00")),
        ]
    )
    no_rejections(result)
    s = member(result, "m1")
    assert (s["points"]["available"], s["points"]["pending"]) == (200, 0)
    assert s["points"]["lifetime_earned"] == 200
    assert s["qualifying_spend"] == "0.00"  # 2025 spend; the refund reduced 2024


# --------------------------------------------------------------------------- SG-7 refunds/tiers


def test_SG_7_refund_reverses_upgrade_and_deducts_multiplier_points() -> None:
    """SG-7: "If that year's total spend after the refund is below the threshold of a tier the
    member reached through that year's spend, the upgrade is reversed: the member falls to the
    tier the total supports, and the multiplier points are deducted: what the purchases made at
    the higher tier earned beyond what they would have earned at the tier the member falls back
    to." """
    result = replay(
        [
            enroll("2024-01-02T10:00"),
            purchase("2024-03-01T10:00", "o1", "3000.00"),  # silver: 3000 -> gold
            purchase("2024-03-02T10:00", "o2", "1000.00"),  # gold: 1500 (500 multiplier)
            ret("2024-04-01T10:00", "o1", "r1", ("A", "3000.00")),
        ]
    )
    no_rejections(result)
    s = member(result, "m1")
    assert (s["tier"], s["tier_valid_until"], s["qualifying_spend"]) == ("silver", None, "1000.00")
    assert s["status"] == "active"
    # 3000 + 1500 - 3000 (return) - 500 (multiplier points)
    assert (s["points"]["available"], s["points"]["pending"]) == (1000, 0)
    assert s["points"]["lifetime_earned"] == 1000


def _december_gold_refunded_in_february(january_amount: str) -> dict[str, Any]:
    """Gold reached by RM 3,000 on 2024-12-20 (held through 2025), a January purchase of
    ``january_amount`` at gold, then the December purchase refunded on 2025-02-01: the summary."""
    result = replay(
        [
            enroll("2024-12-01T10:00"),
            purchase("2024-12-20T10:00", "o1", "3000.00"),  # silver: 3000 -> gold to 2025-12-31
            purchase("2025-01-10T10:00", "o2", january_amount),
            ret("2025-02-01T10:00", "o1", "r1", ("A", "3000.00")),
        ]
    )
    no_rejections(result)
    return member(result, "m1")


def test_SG_7_refund_reduces_spend_of_original_purchase_year_whenever_processed() -> None:
    """SG-7: "Refunds reduce the spend of the calendar year of the original purchase, whenever
    processed." Gold reached in 2024 (held through 2025) is reversed by a 2025 refund of the
    2024 purchase; the 2025 purchase's multiplier points are deducted; 2025 spend untouched."""
    s = _december_gold_refunded_in_february("1000.00")  # o2 at gold: 1500
    assert (s["tier"], s["tier_valid_until"], s["qualifying_spend"]) == ("silver", None, "1000.00")
    assert (s["points"]["available"], s["points"]["pending"]) == (1000, 0)
    assert s["points"]["lifetime_earned"] == 1000


def test_SG_7_no_reversal_while_year_total_stays_at_threshold() -> None:
    """SG-7: "If that year's total spend after the refund is below the threshold ... the upgrade
    is reversed" -- a total still at RM 3,000 keeps gold and its multiplier points."""
    result = replay(
        [
            enroll("2024-01-02T10:00"),
            purchase(
                "2024-03-01T10:00", "o1", lines=[line("A", "2000.00"), line("B", "1000.00")]
            ),  # 3000 at silver -> gold
            purchase("2024-03-02T10:00", "o2", "1000.00"),  # gold: 1500
            ret("2024-04-01T10:00", "o1", "r1", ("B", "1000.00")),  # o1 recomputed: 2000
        ]
    )
    no_rejections(result)
    s = member(result, "m1")
    assert (s["tier"], s["tier_valid_until"], s["qualifying_spend"]) == (
        "gold",
        "2025-12-31",
        "3000.00",
    )
    assert s["points"]["available"] == 3000 + 1500 - 1000
    assert s["points"]["lifetime_earned"] == 3500


def test_SG_7_platinum_falls_to_gold_deducting_platinum_multiplier() -> None:
    """SG-7: "the member falls to the tier the total supports, and the multiplier points are
    deducted: what the purchases made at the higher tier earned beyond what they would have
    earned at the tier the member falls back to." """
    result = replay(
        [
            enroll("2024-01-02T10:00"),
            purchase(
                "2024-03-01T10:00", "o1", lines=[line("A", "6000.00"), line("B", "4000.00")]
            ),  # 10000 at silver -> platinum
            purchase("2024-03-02T10:00", "o2", "1000.00"),  # platinum: 2000 (gold would: 1500)
            ret("2024-04-01T10:00", "o1", "r1", ("B", "4000.00")),  # spend 7000 -> gold
        ]
    )
    no_rejections(result)
    s = member(result, "m1")
    assert (s["tier"], s["tier_valid_until"], s["qualifying_spend"]) == (
        "gold",
        "2025-12-31",
        "7000.00",
    )
    assert s["points"]["available"] == 10000 + 2000 - 4000 - 500
    assert s["points"]["lifetime_earned"] == 7500


def test_SG_7_a_purchase_that_reaches_gold_itself_still_falls_back_to_its_old_rate() -> None:
    """SG-7 with SG-3: the January purchase earned at gold only through last year's upgrade; when
    a refund reverses that upgrade it falls back to silver, the tier as it stood before it ("The
    upgrading purchase itself earns at the old rate"), though its own RM 3,000 reaches gold."""
    s = _december_gold_refunded_in_february("3000.00")  # o2 at gold: 4500
    assert (s["tier"], s["qualifying_spend"]) == ("gold", "3000.00")  # by 2025's own spend
    # 3000 + 4500 - 3000 (return) - 1500 (o2's multiplier points)
    assert (s["points"]["available"], s["points"]["lifetime_earned"]) == (3000, 3000)


def test_SG_7_the_clawback_counts_the_campaign_that_would_have_won_at_the_lower_tier() -> None:
    """SG-7 with §2 campaigns: "what they would have earned at the tier the member falls back
    to": at gold x2 beat a 130-point bonus (300 against 280); at silver the bonus wins (230
    against 200), so 70 points are deducted, not 100."""
    result = replay(
        [
            enroll("2024-03-01T09:00"),
            campaign(
                "2024-03-01T09:00", "x2", "2024-03-09T00:00", "2024-03-10T00:00", multiplier="2"
            ),
            campaign(
                "2024-03-01T09:00", "b130", "2024-03-09T00:00", "2024-03-10T00:00", bonus_points=130
            ),
            purchase("2024-03-01T10:00", "o1", "3000.00"),  # silver: 3000 -> gold
            purchase("2024-03-09T10:00", "o2", "100.00"),  # gold x2: 300
            tick("2024-03-24T10:00"),
            ret("2024-04-01T10:00", "o1", "r1", ("A", "3000.00")),
        ]
    )
    no_rejections(result)
    assert points(result)["available"] == 230


# --------------------------------------------------------------------------- SG-8 reinstatement


def _points_paid_order() -> list[Event]:
    return [
        enroll("2024-01-02T10:00"),
        purchase("2024-01-02T11:00", "o1", "2000.00"),  # 2000, expires end of 2026-01-31
        redeem("2024-02-01T10:00", 1, "o2", "100.00"),  # -1000 (from o1's lot)
        purchase(
            "2024-02-01T10:05",
            "o2",
            lines=[line("A", "60.00"), line("B", "40.00")],
            tenders=[tender("points", "10.00"), tender("card", "90.00")],
        ),  # qualifying 90 -> 90 points, expires end of 2026-02-28
        # o2 recomputed without B: 60 - 10 = 50 -> reverse 40; reinstate 10 x 40/100 x 100 = 400
        ret("2024-03-05T12:00", "o2", "r1", ("B", "40.00")),
    ]


@pytest.mark.parametrize(
    ("at", "available", "pending", "expiring"),
    [
        ("2024-03-05T12:00", 1050, 400, 0),
        ("2024-03-19T11:59:59", 1050, 400, 0),
        ("2024-03-19T12:00", 1450, 0, 0),
        # reinstated lot is earned on the return date (March 2024) -> expires end of 2026-03-31
        ("2026-02-10T12:00", 450, 0, 50),
        ("2026-03-10T12:00", 400, 0, 400),
    ],
)
def test_SG_8_points_tender_reinstated_as_new_lot_14_days_after_return(
    at: str, available: int, pending: int, expiring: int
) -> None:
    """SG-8: "Points paid for goods that are later returned are reinstated as a new lot that
    becomes available 14 days after the return (earned on the return date): the returned lines'
    share of the order's `points` tender (tender x returned merchandise / order merchandise),
    turned back into points at the block rate, rounded down." """
    result = replay([*_points_paid_order(), tick(at)])
    no_rejections(result)
    p = points(result)
    assert (p["available"], p["pending"], p["expiring_this_month"]) == (
        available,
        pending,
        expiring,
    )
    assert p["lifetime_earned"] == 2000 + 90 - 40  # a reinstatement is not an earning


def test_SG_8_reinstatement_rounds_down() -> None:
    """SG-8: "... turned back into points at the block rate, rounded down." 10.01 x 33.33 /
    100.00 = RM 3.336... -> 333 points."""
    result = replay(
        [
            enroll("2024-01-02T10:00"),
            purchase(
                "2024-02-01T10:00",
                "o2",
                lines=[line("A", "66.67"), line("B", "33.33")],
                tenders=[tender("points", "10.01"), tender("card", "89.99")],
            ),  # qualifying 89.99 -> 89
            ret("2024-02-20T12:00", "o2", "r1", ("B", "33.33")),  # 66.67 - 10.01 -> 56: -33
            tick("2024-03-05T12:00"),
        ]
    )
    no_rejections(result)
    p = points(result)
    assert (p["available"], p["pending"]) == (56 + 333, 0)
    assert p["lifetime_earned"] == 56


def test_SG_8_reinstatement_visible_in_ledger() -> None:
    """SG-8: "reinstated as a new lot" -- a `reinstate` ledger entry of 400 for the return."""
    from loyalty import Engine, load_program

    eng = Engine(load_program("sogo"))
    for ev in _points_paid_order():
        out = eng.apply(ev)
        assert out.accepted, out.message
    kinds = [(e.kind, e.points) for e in eng.ledger("m1")]
    assert ("reinstate", 400) in kinds
    assert ("reverse", -40) in kinds
    assert ("redeem", -1000) in kinds


# --------------------------------------------------------------------------- SG-9 blocks


def test_SG_9_redeem_whole_blocks_rest_stays() -> None:
    """SG-9: "Redemption in blocks: RM 10 for each block of 1,000 points ... At least one whole
    block; only whole blocks; the rest stays." """
    result = replay(
        [
            enroll("2024-01-02T10:00"),
            purchase("2024-01-02T11:00", "o1", "2500.00"),
            redeem("2024-02-01T10:00", 2, "o2", "50.00"),
            redeem("2024-02-01T10:00", 2, "o2", "50.00"),  # exact repeat: changes nothing
        ]
    )
    no_rejections(result)
    p = points(result)
    assert (p["available"], p["pending"], p["lifetime_earned"]) == (500, 0, 2500)


def test_SG_9_redemption_refusals() -> None:
    """SG-9: "At least one whole block; only whole blocks ... never on excluded lines" and §7:
    "`subtotal` is the order's eligible merchandise, and a redemption worth more than it is
    rejected." """
    result = replay(
        [
            enroll("2024-01-02T10:00"),
            purchase("2024-01-02T11:00", "o1", "2500.00"),
            redeem("2024-01-10T10:00", 1, "o2", "100.00"),  # 3: points still pending
            redeem("2024-02-01T10:00", 3, "o3", "100.00"),  # 4: 3000 > 2500
            redeem("2024-02-01T10:01", 0, "o4", "100.00"),  # 5: not one whole block
            redeem("2024-02-01T10:02", 2, "o5", "19.99"),  # 6: RM 20 > eligible merchandise
            redeem("2024-02-01T10:03", 2, "o6", "20.00"),  # accepted
            redeem("2024-02-01T10:04", 1, "o7", "100.00"),  # 8: 500 left < 1000
        ]
    )
    errs = errors(result)
    assert sorted(errs) == [3, 4, 5, 6, 8]
    assert says_not_enough_points(errs[3])
    assert says_not_enough_points(errs[4])
    assert says_not_enough_points(errs[8])
    assert "subtotal" in errs[6].lower()
    assert (points(result)["available"], points(result)["pending"]) == (500, 0)


def _sogo_with_block_version(tmp_path: Path) -> str:
    text = resources.files("loyalty.programs").joinpath("presets/sogo.toml").read_text()
    out, done = [], False
    for ln in text.splitlines():
        out.append(ln)
        if not done and ln.startswith("negative_balance"):
            out.append(
                'versions = [{ effective = "2025-01-01", '
                "changes = { blocks = { block_points = 1500 } } }]"
            )
            done = True
    assert done
    path = tmp_path / "sogo_v2.toml"
    path.write_text("\n".join(out) + "\n")
    return str(path)


def test_SG_9_prevailing_block_size_changes_from_a_date(tmp_path: Path) -> None:
    """SG-9: "the block size is "prevailing": a program version can change it from a date" and
    §1: "a change ... takes effect from a date and never rewrites history." """
    program = _sogo_with_block_version(tmp_path)
    events = [
        enroll("2024-06-01T10:00"),
        purchase("2024-06-03T10:00", "o1", "3000.00"),
        redeem("2024-12-31T23:00", 1, "o2", "50.00"),  # 1000 points
        redeem("2025-01-01T00:00", 1, "o3", "50.00"),  # 1500 points
        redeem("2025-01-02T10:00", 1, "o4", "50.00"),  # 5: 500 < 1500
    ]
    result = run(program, "\n".join(json.dumps(e) for e in events))
    errs = errors(result)
    assert list(errs) == [5]
    assert says_not_enough_points(errs[5])
    assert points(result)["available"] == 500


# --------------------------------------------------------------------------- SG-10 expiry


@pytest.mark.parametrize(
    ("earned", "at", "available", "expiring"),
    [
        ("2024-03-15T12:00", "2026-02-28T12:00", 100, 0),
        ("2024-03-15T12:00", "2026-03-01T00:00", 100, 100),
        ("2024-03-15T12:00", "2026-03-31T23:59:59", 100, 100),
        ("2024-03-15T12:00", "2026-04-01T00:00", 0, 0),
        ("2024-02-29T12:00", "2026-02-28T23:59:59", 100, 100),
        ("2024-02-29T12:00", "2026-03-01T00:00", 0, 0),
    ],
)
def test_SG_10_points_expire_end_of_24th_month_after_earning_month(
    earned: str, at: str, available: int, expiring: int
) -> None:
    """SG-10: "Points expire at the end of the last day of the 24th month after the month they
    were earned in (earned 2024-03-15 -> expire at the end of 2026-03-31). The member summary
    shows "month-end expiring points": what expires at the end of the current month." """
    result = replay([enroll("2024-02-01T10:00"), purchase(earned, "o1", "100.00"), tick(at)])
    no_rejections(result)
    p = points(result)
    assert (p["available"], p["expiring_this_month"]) == (available, expiring)
    assert p["lifetime_earned"] == 100  # expiry does not undo earning


@pytest.mark.parametrize(
    ("at", "available", "expiring"),
    [("2026-03-10T12:00", 180, 150), ("2026-04-01T00:00", 30, 30)],
)
def test_SG_10_month_end_expiring_points_sum_the_months_lots(
    at: str, available: int, expiring: int
) -> None:
    """SG-10: "The member summary shows "month-end expiring points": what expires at the end of
    the current month." """
    result = replay(
        [
            enroll("2024-03-01T10:00"),
            purchase("2024-03-05T10:00", "o1", "100.00"),
            purchase("2024-03-25T10:00", "o2", "50.00"),
            purchase("2024-04-02T10:00", "o3", "30.00"),
            tick(at),
        ]
    )
    no_rejections(result)
    p = points(result)
    assert (p["available"], p["expiring_this_month"]) == (available, expiring)


def test_SG_10_earning_month_is_local_to_program_time_zone() -> None:
    """SG-10: "the month they were earned in" (Asia/Kuala_Lumpur): 2024-02-29T23:00Z is
    2024-03-01 07:00 in Kuala Lumpur -> expires at the end of 2026-03-31."""
    result = replay(
        [
            enroll("2024-02-01T10:00"),
            purchase("2024-02-29T23:00:00+00:00", "o1", "100.00"),
            tick("2026-03-01T00:30"),
        ]
    )
    no_rejections(result)
    p = points(result)
    assert (p["available"], p["expiring_this_month"]) == (100, 100)


def test_SG_10_debits_consume_soonest_expiring_lots_first() -> None:
    """SG-10 with §1: "Debits consume available lots **soonest-expiring first** (then
    oldest)." A block redemption takes the March lot first, so nothing is left to expire at the
    end of March 2026."""
    result = replay(
        [
            enroll("2024-03-01T10:00"),
            purchase("2024-03-15T10:00", "o1", "100.00"),  # expires end of 2026-03-31
            purchase("2024-05-10T10:00", "o2", "2000.00"),  # expires end of 2026-05-31
            redeem("2024-06-01T10:00", 1, "o3", "50.00"),  # 100 from o1, 900 from o2
            tick("2026-04-01T00:00"),
        ]
    )
    no_rejections(result)
    p = points(result)
    assert (p["available"], p["expiring_this_month"]) == (1100, 0)


# --------------------------------------------------------------------------- SG-11 suspension


def _suspension_events() -> list[Event]:
    return [
        enroll("2024-01-02T10:00"),  # 1
        purchase("2024-01-02T11:00", "o1", "1500.00"),  # 2
        redeem("2024-02-01T10:00", 1, "o9", "10.00"),  # 3: 500 left in o1's lot
        ret("2024-02-02T10:00", "o1", "r1", ("A", "1500.00")),  # 4: -1500 -> -1000
        purchase("2024-02-03T10:00", "o2", "500.00"),  # 5: purchases still earn
        release("2024-02-03T11:00", "o2"),  # 6: refused
        redeem("2024-02-03T12:00", 1, "o10", "10.00"),  # 7: refused
    ]


def test_SG_11_negative_balance_suspends_member() -> None:
    """SG-11: "A negative points balance suspends the member (a `sogo` policy ...)" """
    result = replay(_suspension_events()[:4])
    no_rejections(result)
    s = member(result, "m1")
    assert s["status"] == "suspended"
    assert (s["points"]["available"], s["points"]["pending"]) == (-1000, 0)
    assert s["points"]["lifetime_earned"] == 0
    assert s["qualifying_spend"] == "0.00"


def test_SG_11_suspended_member_cannot_redeem_or_release_but_still_earns() -> None:
    """SG-11: "redemptions and early releases are refused until the balance is back to zero or
    above (purchases still earn, and pay the debt first)." """
    result = replay(_suspension_events())
    errs = errors(result)
    assert sorted(errs) == [6, 7]
    assert "suspended" in errs[6].lower()
    assert "suspended" in errs[7].lower()
    s = member(result, "m1")
    assert s["status"] == "suspended"
    assert (s["points"]["available"], s["points"]["pending"]) == (-1000, 500)


@pytest.mark.parametrize(
    ("more", "available", "pending", "status"),
    [
        ([tick("2024-02-17T10:00")], -500, 0, "suspended"),
        (
            [purchase("2024-02-18T10:00", "o3", "1200.00"), tick("2024-03-03T10:00")],
            700,
            0,
            "active",
        ),
        (
            [
                purchase("2024-02-18T10:00", "o3", "1200.00"),
                tick("2024-03-03T10:00"),
                purchase("2024-03-03T11:00", "o4", "300.00"),
                release("2024-03-03T12:00", "o4"),  # allowed again
                redeem("2024-03-03T13:00", 1, "o11", "10.00"),  # allowed again
            ],
            0,
            0,
            "active",
        ),
    ],
)
def test_SG_11_purchases_pay_the_debt_first_and_lift_suspension(
    more: list[Event], available: int, pending: int, status: str
) -> None:
    """SG-11: "refused until the balance is back to zero or above (purchases still earn, and
    pay the debt first)." """
    result = replay([*_suspension_events(), *more])
    assert sorted(errors(result)) == [6, 7]
    s = member(result, "m1")
    assert (s["points"]["available"], s["points"]["pending"], s["status"]) == (
        available,
        pending,
        status,
    )


# --------------------------------------------------------------------------- SG-12 campaigns


def test_SG_12_members_day_multiplier() -> None:
    """SG-12: "Campaigns ("members' days"): extra points on selected days (e.g. x2)." """
    result = replay(
        [
            enroll("2024-03-01T10:00"),
            campaign(
                "2024-03-01T10:00",
                "members-day",
                "2024-03-09T00:00",
                "2024-03-10T23:59:59",
                multiplier="2",
            ),
            purchase("2024-03-09T12:00", "o1", "100.50"),  # floor(100 x 1 x 2) = 200
            purchase("2024-03-12T12:00", "o2", "100.00"),  # outside: 100
            tick("2024-03-26T12:00"),
        ]
    )
    no_rejections(result)
    s = member(result, "m1")
    assert (s["points"]["available"], s["points"]["pending"]) == (300, 0)
    assert s["points"]["lifetime_earned"] == 300
    assert s["qualifying_spend"] == "200.50"  # campaign points never count toward tiers


def test_SG_12_campaign_multiplies_the_tier_rate() -> None:
    """SG-12 with §2: "Points = whole currency units ... x tier rate x campaign multiplier, then
    rounded down" -- gold x2 on RM 100.99 = floor(100 x 1.5 x 2) = 300."""
    result = replay(
        [
            enroll("2024-03-01T10:00"),
            purchase("2024-03-02T10:00", "o1", "3000.00"),  # 3000 -> gold
            campaign(
                "2024-03-02T11:00", "md", "2024-03-09T00:00", "2024-03-10T00:00", multiplier="2"
            ),
            purchase("2024-03-09T12:00", "o2", "100.99"),
            tick("2024-03-24T12:00"),
        ]
    )
    no_rejections(result)
    assert points(result)["available"] == 3000 + 300


def test_SG_12_offers_do_not_combine_only_best_single_applies() -> None:
    """SG-12: "Bonus-points offers do not combine: where several apply, only the single one
    giving the most points counts (§2)." """
    window = ("2024-03-09T00:00", "2024-03-10T00:00")
    result = replay(
        [
            enroll("2024-03-01T10:00"),
            campaign("2024-03-01T10:00", "x3", *window, multiplier="3"),
            campaign("2024-03-01T10:00", "plus150", *window, bonus_points=150),
            campaign("2024-03-01T10:00", "x2", *window, multiplier="2"),
            purchase("2024-03-09T12:00", "o1", "100.00"),  # x3: 300 > 100 + 150 > 200
            purchase("2024-03-09T13:00", "o2", "20.00"),  # 20 + 150 = 170 > 60 > 40
            tick("2024-03-24T12:00"),
        ]
    )
    no_rejections(result)
    p = points(result)
    assert (p["available"], p["pending"]) == (300 + 170, 0)
    assert p["lifetime_earned"] == 470


def test_SG_12_a_campaign_marked_combinable_is_rejected() -> None:
    """SG-12: "Bonus-points offers do not combine": SOGO campaigns cannot be marked combinable
    (§2's combinable campaigns are another program's choice); the offer is refused with the
    field, and the purchase earns by the one that applies."""
    window = ("2024-03-09T00:00", "2024-03-10T00:00")
    result = replay(
        [
            enroll("2024-03-01T10:00"),
            campaign("2024-03-01T10:00", "x2", *window, multiplier="2", combinable=True),
            campaign("2024-03-01T10:00", "x3", *window, multiplier="3"),
            purchase("2024-03-09T12:00", "o1", "100.00"),
            tick("2024-03-24T12:00"),
        ]
    )
    errs = errors(result)
    assert list(errs) == [2] and "combin" in errs[2]
    assert points(result)["available"] == 300


def test_SG_12_campaign_min_spend() -> None:
    """SG-12 with §2: campaigns apply with "qualifying amount at least its `min_spend`"."""
    result = replay(
        [
            enroll("2024-03-01T10:00"),
            campaign(
                "2024-03-01T10:00",
                "md",
                "2024-03-09T00:00",
                "2024-03-10T00:00",
                multiplier="2",
                min_spend="200.00",
            ),
            purchase("2024-03-09T12:00", "o1", "199.99"),  # below min_spend: 199
            purchase("2024-03-09T13:00", "o2", "200.00"),  # x2: 400
            tick("2024-03-24T12:00"),
        ]
    )
    no_rejections(result)
    assert points(result)["available"] == 599


def test_SG_12_return_keeps_the_campaign_multiplier() -> None:
    """SG-12 with §2: "A return is computed by recomputing the order without the returned lines
    (same rates, same multipliers ...)" -- a return after the members' day still reverses x2."""
    result = replay(
        [
            enroll("2024-03-01T10:00"),
            campaign(
                "2024-03-01T10:00", "md", "2024-03-09T00:00", "2024-03-10T00:00", multiplier="2"
            ),
            purchase("2024-03-09T12:00", "o1", lines=[line("A", "60.00"), line("B", "40.00")]),
            ret("2024-03-20T12:00", "o1", "r1", ("B", "40.00")),  # 200 -> 120: reverse 80
            tick("2024-03-25T12:00"),
        ]
    )
    no_rejections(result)
    s = member(result, "m1")
    assert (s["points"]["available"], s["points"]["lifetime_earned"]) == (120, 120)
    assert s["qualifying_spend"] == "60.00"


def test_SG_12_a_return_below_min_spend_drops_the_bonus_but_keeps_the_multiplier() -> None:
    """SG-12 with §2: a return recomputes the order with "same rates, same multipliers"; a
    campaign's bonus needs the "qualifying amount at least its `min_spend`": RM 250 earned
    250 x 2 + 100 = 600; after RM 100 returned, RM 150 earns 150 x 2 = 300, bonus gone."""
    result = replay(
        [
            enroll("2024-03-01T10:00"),
            campaign(
                "2024-03-01T10:00",
                "md",
                "2024-03-09T00:00",
                "2024-03-10T00:00",
                multiplier="2",
                bonus_points=100,
                min_spend="200.00",
            ),
            campaign(
                "2024-03-01T10:00",
                "b",
                "2024-03-09T00:00",
                "2024-03-10T00:00",
                bonus_points=100,
                min_spend="200.00",
            ),
            purchase("2024-03-09T12:00", "o1", lines=[line("A", "150.00"), line("B", "100.00")]),
            ret("2024-03-12T12:00", "o1", "r1", ("B", "100.00")),
            tick("2024-04-01T12:00"),
        ]
    )
    no_rejections(result)
    assert points(result)["available"] == 300


# --------------------------------------------------------------------------- SG-13 benefits


def test_SG_13_gift_wrapping_for_gold_platinum_silver_over_rm100() -> None:
    """SG-13: "Benefits: complimentary gift wrapping for gold and platinum; for silver only with
    a purchase over RM 100." """
    from loyalty import Engine, load_program

    eng = Engine(load_program("sogo"))
    for ev in (
        enroll("2024-03-01T10:00", "m1"),
        enroll("2024-03-01T10:01", "m2"),
        enroll("2024-03-01T10:02", "m3"),
        purchase("2024-03-02T10:00", "o2", "3000.00", m="m2"),
        purchase("2024-03-02T10:05", "o3", "10000.00", m="m3"),
    ):
        out = eng.apply(ev)
        assert out.accepted, out.message
    assert eng.summary("m2")["tier"] == "gold"
    assert eng.summary("m3")["tier"] == "platinum"
    assert list(eng.benefits("m1", purchase_amount=Decimal("100.00"))) == []
    assert list(eng.benefits("m1", purchase_amount=Decimal("100.01"))) == ["gift_wrapping"]
    assert list(eng.benefits("m2", purchase_amount=Decimal("5.00"))) == ["gift_wrapping"]
    assert list(eng.benefits("m3", purchase_amount=Decimal("0.00"))) == ["gift_wrapping"]


# --------------------------------------------------------------------------- SG-14 no daily cap


def test_SG_14_no_daily_limit_on_points_earned() -> None:
    """SG-14: "No daily limit on points earned." Four purchases in one day, crossing gold and
    platinum on the way (SG-3: each upgrading purchase at the old rate)."""
    result = replay(
        [
            enroll("2024-05-01T09:00"),
            purchase("2024-05-02T10:00", "o1", "2000.00"),  # silver: 2000
            purchase("2024-05-02T11:00", "o2", "1000.00"),  # silver: 1000 -> gold
            purchase("2024-05-02T12:00", "o3", "7000.00"),  # gold: 10500 -> platinum
            purchase("2024-05-02T13:00", "o4", "5000.00"),  # platinum: 10000
            tick("2024-05-16T13:00"),
        ]
    )
    no_rejections(result)
    s = member(result, "m1")
    assert (s["points"]["available"], s["points"]["pending"]) == (23500, 0)
    assert (s["tier"], s["qualifying_spend"]) == ("platinum", "15000.00")


# --------------------------------------------------------------------------- §2 on sogo


def test_S2_return_takes_points_from_the_purchases_own_lots() -> None:
    """§2: "A reversal (return, tier reversal) takes points back from the lots that the reversed
    purchase created, while they still hold points" -- returning o2 (March lot) leaves o1's
    January lot, which expires at the end of 2026-01-31."""
    result = replay(
        [
            enroll("2024-01-02T10:00"),
            purchase("2024-01-10T10:00", "o1", "1000.00"),  # expires end of 2026-01-31
            purchase("2024-03-05T10:00", "o2", "1000.00"),  # expires end of 2026-03-31
            ret("2024-04-01T10:00", "o2", "r1", ("A", "1000.00")),
            tick("2026-01-15T12:00"),
        ]
    )
    no_rejections(result)
    p = points(result)
    assert (p["available"], p["expiring_this_month"]) == (1000, 1000)


def test_S2_return_of_pending_purchase_takes_its_pending_points() -> None:
    """§2: "takes points back from the lots that the reversed purchase created, while they still
    hold points (pending or available)" """
    result = replay(
        [
            enroll("2024-01-02T10:00"),
            purchase("2024-01-10T10:00", "o1", "1000.00"),
            purchase("2024-02-01T10:00", "o2", "500.00"),
            ret("2024-02-05T10:00", "o2", "r1", ("A", "500.00")),
        ]
    )
    no_rejections(result)
    p = points(result)
    assert (p["available"], p["pending"], p["lifetime_earned"]) == (1000, 0, 1000)


def _debt_events() -> list[Event]:
    return [
        enroll("2024-01-02T10:00"),
        purchase("2024-01-10T10:00", "o1", "1000.00"),  # A: 1000, expires 2026-01-31
        purchase("2024-03-05T10:00", "o2", "1500.00"),  # B: 1500, expires 2026-03-31
        purchase("2024-03-20T10:00", "o3", "400.00"),  # C: 400, expires 2026-03-31 (silver)
        redeem("2024-04-05T10:00", 2, "o9", "50.00"),  # A -> 0, B -> 500 (then oldest)
        # reverse 1500: 500 from B, 400 from C, 600 missing -> -600
        ret("2024-04-06T10:00", "o2", "r1", ("A", "1500.00")),
    ]


def test_S2_missing_reversal_points_make_a_negative_balance() -> None:
    """§2: "what they no longer hold comes from the other available lots, soonest-expiring
    first; what is still missing makes the balance negative." SG-11: negative -> suspended."""
    result = replay(_debt_events())
    no_rejections(result)
    s = member(result, "m1")
    assert (s["points"]["available"], s["points"]["pending"]) == (-600, 0)
    assert s["status"] == "suspended"
    assert s["points"]["lifetime_earned"] == 1400
    assert s["qualifying_spend"] == "1400.00"


@pytest.mark.parametrize(
    ("at", "available", "pending", "status"),
    [
        ("2024-04-21T09:59:59", -600, 1000, "suspended"),
        ("2024-04-21T10:00", 400, 0, "active"),
    ],
)
def test_S2_debt_is_paid_first_by_the_next_points_to_become_available(
    at: str, available: int, pending: int, status: str
) -> None:
    """§2: "A negative balance is a debt that the next points to become available pay first." """
    result = replay([*_debt_events(), purchase("2024-04-07T10:00", "o4", "1000.00"), tick(at)])
    no_rejections(result)
    s = member(result, "m1")
    assert (s["points"]["available"], s["points"]["pending"], s["status"]) == (
        available,
        pending,
        status,
    )
    assert s["points"]["lifetime_earned"] == 2400


def test_S2_repeated_purchase_is_idempotent_and_key_reuse_rejected() -> None:
    """§2: "The same input twice changes nothing the second time and returns the first result;
    a different payload under the same key is rejected." """
    result = replay(
        [
            enroll("2024-01-02T10:00"),
            purchase("2024-01-10T10:00", "o1", "300.00"),
            purchase("2024-01-10T10:00", "o1", "300.00"),
            purchase("2024-01-10T10:05", "o1", "900.00"),
        ]
    )
    errs = errors(result)
    assert list(errs) == [4]
    s = member(result, "m1")
    assert (s["points"]["pending"], s["qualifying_spend"]) == (300, "300.00")
