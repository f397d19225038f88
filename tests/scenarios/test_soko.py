"""Scenario tests for the `soko` preset (SPEC §3, SK-1 .. SK-12), the rules common to every program
(SPEC §2) exercised on it, and the worked examples SPEC gives for Soko (SK-3, SK-4, §8).

Expected values are derived from SPEC, not from the engine. Times are written in the program's
time zone (America/New_York) through ``ny()``, which adds the right UTC offset (-05:00 in winter,
-04:00 in summer).
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.scenarios.harness import errors, member, run, strip_codes

NEW_YORK = ZoneInfo("America/New_York")

Event = dict[str, Any]


# --- event builders (SPEC §7 format) ----------------------------------------------------------


def ny(local: str) -> str:
    """'2024-01-10 12:00' (New York wall time) -> '2024-01-10T12:00:00-05:00'."""
    return datetime.fromisoformat(local).replace(tzinfo=NEW_YORK).isoformat()


def enroll(
    at: str,
    who: str = "m1",
    *,
    email: str | None = "",
    birth_month: int | None = None,
    email_opt_in: bool = False,
) -> Event:
    return {
        "type": "enroll",
        "at": ny(at),
        "member": who,
        "email": f"{who}@example.com" if email == "" else email,
        "first_name": "Ada",
        "last_name": "Park",
        "phone": f"+1 212 555 {sum(map(ord, who)) % 10000:04d}",
        "address": "1 Main St, New York, NY 10001",
        "country": "US",
        "birth_month": birth_month,
        "email_opt_in": email_opt_in,
        "delivery": "email",
        "member_number": None,
    }


def purchase(
    at: str,
    order: str,
    lines: list[tuple[str, ...]],
    who: str | None = "m1",
    *,
    channel: str = "online",
    shipping: str = "0.00",
    tax: str = "0.00",
    tenders: list[tuple[str, str]] | None = None,
) -> Event:
    """``lines``: (sku, amount) or (sku, amount, kind). ``tenders``: (type, amount) pairs; a card
    tender paying the rest of the order total is added."""
    tenders = list(tenders or [])
    total = sum((Decimal(line[1]) for line in lines), Decimal(0)) + Decimal(shipping) + Decimal(tax)
    rest = total - sum((Decimal(amount) for _, amount in tenders), Decimal(0))
    if rest > 0:
        tenders.append(("card", str(rest)))
    return {
        "type": "purchase",
        "at": ny(at),
        "member": who,
        "order": order,
        "channel": channel,
        "lines": [
            {
                "sku": line[0],
                "amount": line[1],
                "kind": line[2] if len(line) > 2 else "merchandise",
                "department": None,
                "brand": None,
            }
            for line in lines
        ],
        "shipping": shipping,
        "tax": tax,
        "tenders": [{"type": kind, "amount": amount, "code": None} for kind, amount in tenders],
    }


def ret(at: str, order: str, return_id: str, lines: list[tuple[str, str]]) -> Event:
    return {
        "type": "return",
        "at": ny(at),
        "order": order,
        "return": return_id,
        "lines": [{"sku": sku, "amount": amount} for sku, amount in lines],
    }


def action(at: str, name: str, ref: str, who: str = "m1") -> Event:
    return {"type": "action", "at": ny(at), "member": who, "action": name, "ref": ref}


def redeem(at: str, reward: str, order: str, subtotal: str, who: str = "m1") -> Event:
    return {
        "type": "redeem",
        "at": ny(at),
        "member": who,
        "reward": reward,
        "blocks": None,
        "order": order,
        "subtotal": subtotal,
    }


def adjust(at: str, points: int, reason: str, who: str = "m1") -> Event:
    return {"type": "adjust", "at": ny(at), "member": who, "points": points, "reason": reason}


def tick(at: str) -> Event:
    return {"type": "tick", "at": ny(at)}


def soko(*events: Event) -> dict[str, Any]:
    """Replay the events (line n = the n-th event) through the soko preset."""
    return run("soko", "\n".join(json.dumps(e) for e in events))


def points(result: dict[str, Any], who: str = "m1") -> dict[str, int]:
    p: dict[str, int] = member(result, who)["points"]
    return p


def tier(result: dict[str, Any], who: str = "m1") -> tuple[str, str | None]:
    m = member(result, who)
    return m["tier"], m["tier_valid_until"]


def assert_rejected(result: dict[str, Any], line: int, *keywords: str) -> None:
    errs = errors(result)
    assert line in errs, f"line {line} should be rejected; rejected: {result['rejected']}"
    if keywords:
        msg = errs[line].lower()
        assert any(k in msg for k in keywords), f"line {line}: {msg!r} lacks any of {keywords}"


SAME_KEY = ("already", "different", "idempot", "conflict", "same")
INSUFFICIENT = ("insufficient", "not enough", "needed", "available")


def assert_no_rejections(result: dict[str, Any]) -> None:
    assert result["rejected"] == [], result["rejected"]


def pts(available: int, pending: int, lifetime: int) -> dict[str, int]:
    return {
        "available": available,
        "pending": pending,
        "expiring_this_month": 0,
        "lifetime_earned": lifetime,
    }


BIRTHDAY = {"kind": "birthday_gift", "amount": None}


# --- SK-1 -------------------------------------------------------------------------------------


def test_SK_1_joining_credits_50_points_available_at_once() -> None:
    """SK-1: "Free to join with an email, any time, no minimum spend. Joining credits **50
    points**, available at once." """
    result = soko(enroll("2024-01-10 09:00"))
    assert_no_rejections(result)
    m = member(result, "m1")
    assert m["status"] == "active"
    assert m["points"] == pts(available=50, pending=0, lifetime=50)
    assert (m["tier"], m["tier_valid_until"]) == ("member", None)
    assert m["qualifying_spend"] == "0.00"
    assert m["reward_balance"] == "0.00"
    assert m["certificates"] == []


def test_SK_1_join_any_time_without_a_purchase() -> None:
    """SK-1: "Free to join with an email, any time, no minimum spend." Members joining at
    different times, with no purchase at all, each get 50 points."""
    result = soko(
        enroll("2024-01-10 09:00", "m1"),
        purchase("2024-02-01 10:00", "o1", [("A", "30.00")], "m1"),
        enroll("2024-07-04 23:59", "m2"),
    )
    assert_no_rejections(result)
    assert points(result, "m2") == pts(available=50, pending=0, lifetime=50)
    assert points(result, "m1") == pts(available=80, pending=0, lifetime=80)


def test_SK_1_joining_needs_an_email() -> None:
    """SK-1: "Free to join with an email" - an enrollment without an email is rejected."""
    result = soko(enroll("2024-01-10 09:00", email=None))
    assert_rejected(result, 1, "email")
    assert "m1" not in result["members"]


def test_SK_1_an_email_of_only_spaces_is_no_email() -> None:
    """SK-1: "Free to join with an email": an email of spaces is none; nobody gets 50 points
    for it (twice)."""
    result = soko(
        enroll("2024-01-10 09:00", email="   "), enroll("2024-01-10 09:01", "m2", email=" ")
    )
    assert_rejected(result, 1, "email")
    assert_rejected(result, 2, "email")
    assert result["members"] == {}


# --- SK-2 -------------------------------------------------------------------------------------


def test_SK_2_tier_thresholds_200_and_500() -> None:
    """SK-2: "Tiers by qualifying spend in the trailing 365 days: `member` (0), `vip` ($200+),
    `vip_premier` ($500+)." """
    cases = {"m1": "199.99", "m2": "200.00", "m3": "499.99", "m4": "500.00"}
    events = [enroll("2024-01-10 09:00", who) for who in cases]
    events += [
        purchase("2024-01-11 10:00", f"o-{who}", [("A", amount)], who)
        for who, amount in cases.items()
    ]
    result = soko(*events)
    assert_no_rejections(result)
    assert member(result, "m1")["tier"] == "member"
    assert member(result, "m2")["tier"] == "vip"
    assert member(result, "m3")["tier"] == "vip"
    assert member(result, "m4")["tier"] == "vip_premier"
    assert [member(result, who)["qualifying_spend"] for who in cases] == list(cases.values())


def test_SK_2_spend_accumulates_across_purchases() -> None:
    """SK-2: tiers by qualifying spend in the trailing 365 days: $120 then $80 makes $200 -> vip."""
    result = soko(
        enroll("2024-01-10 09:00"),
        purchase("2024-01-11 10:00", "o1", [("A", "120.00")]),
        purchase("2024-05-20 10:00", "o2", [("B", "80.00")]),
    )
    assert_no_rejections(result)
    assert member(result, "m1")["tier"] == "vip"
    assert member(result, "m1")["qualifying_spend"] == "200.00"


def test_SK_2_trailing_365_days_includes_a_purchase_364_days_earlier() -> None:
    """SK-2/SK-3: "the spend of the trailing 365 days (that day included)": a purchase 364 days
    earlier still counts ($150 + $60 -> vip)."""
    result = soko(
        enroll("2023-03-01 09:00"),
        purchase("2023-03-10 15:00", "o1", [("A", "150.00")]),
        purchase("2024-03-08 09:00", "o2", [("B", "60.00")]),  # 364 days later
    )
    assert_no_rejections(result)
    assert tier(result) == ("vip", "2025-03-08")
    assert member(result, "m1")["qualifying_spend"] == "210.00"


def test_SK_2_trailing_365_days_excludes_a_purchase_365_days_earlier() -> None:
    """SK-2/SK-3: "the spend of the trailing 365 days (that day included)": a purchase 365 days
    earlier is outside the window ($150 then $60 a year later -> still member)."""
    result = soko(
        enroll("2023-03-01 09:00"),
        purchase("2023-03-10 15:00", "o1", [("A", "150.00")]),
        purchase("2024-03-09 18:00", "o2", [("B", "60.00")]),  # 365 days later
    )
    assert_no_rejections(result)
    assert tier(result) == ("member", None)
    assert member(result, "m1")["qualifying_spend"] == "60.00"


def test_SK_2_qualifying_spend_shown_is_the_trailing_365_days() -> None:
    """SK-2 and §8: "`qualifying_spend` is the spend of the current tier period (trailing 365
    days for `soko`...)": spend older than 365 days drops out of it."""
    base = [
        enroll("2024-01-02 09:00"),
        purchase("2024-01-03 10:00", "o1", [("A", "80.00")]),
        purchase("2024-06-03 10:00", "o2", [("B", "40.00")]),
    ]
    assert member(soko(*base, tick("2024-12-31 12:00")), "m1")["qualifying_spend"] == "120.00"
    assert member(soko(*base, tick("2025-02-01 12:00")), "m1")["qualifying_spend"] == "40.00"
    assert member(soko(*base, tick("2025-07-01 12:00")), "m1")["qualifying_spend"] == "0.00"


# --- SK-3 -------------------------------------------------------------------------------------


SK3_EXAMPLE = [
    enroll("2020-01-01 09:00"),
    purchase("2020-01-02 10:00", "o1", [("A", "200.00")]),
]


def test_SK_3_vip_earned_2020_01_02_kept_through_2021_01_02() -> None:
    """SK-3: "Tier status lasts one year from the date it was earned, rolling ... (VIP earned
    2020-01-02 is kept through 2021-01-02)." and §2: "A 'valid through' date is inclusive: the
    thing lapses at the end of that local day." """
    assert tier(soko(*SK3_EXAMPLE)) == ("vip", "2021-01-02")
    assert tier(soko(*SK3_EXAMPLE, tick("2020-12-31 12:00"))) == ("vip", "2021-01-02")
    assert tier(soko(*SK3_EXAMPLE, tick("2021-01-02 23:59:59"))) == ("vip", "2021-01-02")
    # "when none is [valid], the entry tier"; tier_valid_until is null for the entry tier (§8).
    assert tier(soko(*SK3_EXAMPLE, tick("2021-01-03 00:00:01"))) == ("member", None)


def test_SK_3_tier_date_is_the_local_date_of_the_purchase() -> None:
    """SK-3: status "through the same date one year later"; dates are local (program time zone):
    a purchase at 23:30 New York time on 2020-01-02 (2020-01-03 in UTC) earns VIP through
    2021-01-02."""
    result = soko(
        enroll("2020-01-01 09:00"),
        purchase("2020-01-02 23:30", "o1", [("A", "200.00")]),
    )
    assert tier(result) == ("vip", "2021-01-02")


def test_SK_3_purchase_with_trailing_spend_above_threshold_re_earns_the_tier() -> None:
    """SK-3: "each purchase after which the spend of the trailing 365 days (that day included) is
    at or above a tier's threshold (re-)earns that tier through the same date one year later"."""
    base = [*SK3_EXAMPLE, purchase("2020-06-01 10:00", "o2", [("B", "10.00")])]
    assert tier(soko(*base)) == ("vip", "2021-06-01")
    assert tier(soko(*base, tick("2021-01-05 12:00"))) == ("vip", "2021-06-01")
    assert tier(soko(*base, tick("2021-06-02 00:00:01"))) == ("member", None)


def test_SK_3_purchase_with_trailing_spend_below_threshold_does_not_re_earn() -> None:
    """SK-3: only a purchase after which the trailing-365-day spend is at or above the threshold
    re-earns the tier: $10 on 2021-01-01 (the $200 of 2020-01-02 is out of the window) leaves VIP
    valid through 2021-01-02 only."""
    base = [*SK3_EXAMPLE, purchase("2021-01-01 18:00", "o2", [("B", "10.00")])]
    result = soko(*base)
    assert tier(result) == ("vip", "2021-01-02")
    assert member(result, "m1")["qualifying_spend"] == "10.00"
    assert tier(soko(*base, tick("2021-01-03 00:00:01"))) == ("member", None)


def test_SK_3_later_upgrade_starts_its_own_year() -> None:
    """SK-3: "A later upgrade starts its own year." (FAQ: "If you were a VIP and then earned VIP
    Premier status a few months later, your Premier status would be a year from the date you
    earned the new status.")"""
    base = [*SK3_EXAMPLE, purchase("2020-04-15 10:00", "o2", [("B", "300.00")])]
    assert tier(soko(*base)) == ("vip_premier", "2021-04-15")
    assert tier(soko(*base, tick("2021-01-03 12:00"))) == ("vip_premier", "2021-04-15")
    assert tier(soko(*base, tick("2021-04-15 23:59:59"))) == ("vip_premier", "2021-04-15")
    # The 2020-04-15 purchase ($500 trailing) also re-earned VIP through 2021-04-15 only.
    assert tier(soko(*base, tick("2021-04-16 00:00:01"))) == ("member", None)


def test_SK_3_tier_is_the_highest_one_still_valid() -> None:
    """SK-3: "The member's tier is the highest one whose status is still valid; when none is, the
    entry tier." VIP Premier earned 2020-01-02 (valid through 2021-01-02); after a return (SK-12:
    tier kept) a $10 purchase brings the trailing spend to $210, re-earning VIP through
    2021-06-01: the member is vip_premier until 2021-01-02, then vip until 2021-06-01."""
    base = [
        enroll("2020-01-01 09:00"),
        purchase("2020-01-02 10:00", "o1", [("A", "300.00"), ("B", "200.00")]),
        ret("2020-01-10 10:00", "o1", "r1", [("A", "300.00")]),
        purchase("2020-06-01 10:00", "o2", [("C", "10.00")]),
    ]
    result = soko(*base)
    assert_no_rejections(result)
    assert tier(result) == ("vip_premier", "2021-01-02")
    assert member(result, "m1")["qualifying_spend"] == "210.00"
    assert tier(soko(*base, tick("2021-01-03 00:00:01"))) == ("vip", "2021-06-01")
    assert tier(soko(*base, tick("2021-06-02 00:00:01"))) == ("member", None)


# --- SK-4 -------------------------------------------------------------------------------------


def test_SK_4_vip_buying_57_99_plus_shipping_and_tax_earns_79() -> None:
    """SK-4: "Earn rate per whole dollar: member 1, vip 1.4, vip_premier 1.7. Points =
    floor(floor(qualifying $) × rate). Example: a VIP buying $57.99 of merchandise + shipping +
    tax earns floor(57 × 1.4) = 79." """
    base = [
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 10:00", "o1", [("A", "200.00")]),  # 200 points, now vip
        tick("2024-01-12 10:00:01"),
        purchase("2024-01-15 10:00", "o2", [("B", "57.99")], shipping="5.00", tax="4.10"),
    ]
    result = soko(*base)
    assert_no_rejections(result)
    assert result["members"]["m1"]["tier"] == "vip"
    assert points(result) == pts(available=250, pending=79, lifetime=329)
    later = soko(*base, tick("2024-01-17 10:00:01"))
    assert points(later) == pts(available=329, pending=0, lifetime=329)


def test_SK_4_member_earns_1_per_whole_dollar() -> None:
    """SK-4: "Earn rate per whole dollar: member 1 ... Points = floor(floor(qualifying $) ×
    rate)": a member buying $57.99 + shipping + tax earns 57."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 10:00", "o1", [("A", "57.99")], shipping="5.00", tax="4.10"),
    )
    assert points(result) == pts(available=50, pending=57, lifetime=107)
    assert member(result, "m1")["qualifying_spend"] == "57.99"


def test_SK_4_vip_premier_earns_1_7_per_whole_dollar() -> None:
    """SK-4: "vip_premier 1.7 ... Points = floor(floor(qualifying $) × rate)": floor(57 × 1.7) =
    96."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 10:00", "o1", [("A", "500.00")]),  # 500 points, now vip_premier
        tick("2024-01-12 10:00:01"),
        purchase("2024-01-15 10:00", "o2", [("B", "57.99")], shipping="5.00", tax="4.10"),
    )
    assert result["members"]["m1"]["tier"] == "vip_premier"
    assert points(result) == pts(available=550, pending=96, lifetime=646)


@pytest.mark.parametrize(
    ("setup_amount", "expected_tier", "expected_points"),
    [
        ("200.00", "vip", 14),  # floor(10 × 1.4) = 14, not floor(10.99 × 1.4) = 15
        ("500.00", "vip_premier", 17),  # floor(10 × 1.7) = 17, not floor(10.99 × 1.7) = 18
    ],
)
def test_SK_4_dollars_are_floored_before_the_rate(
    setup_amount: str, expected_tier: str, expected_points: int
) -> None:
    """SK-4: "Points = floor(floor(qualifying $) × rate)": the dollars are rounded down first."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 10:00", "o1", [("A", setup_amount)]),
        tick("2024-01-12 10:00:01"),
        purchase("2024-01-15 10:00", "o2", [("B", "10.99")]),
    )
    assert member(result, "m1")["tier"] == expected_tier
    assert points(result)["pending"] == expected_points


def test_SK_4_qualifying_amount_is_the_sum_of_lines_then_floored() -> None:
    """SK-4 and §2: "Qualifying amount of a purchase = sum of eligible merchandise lines ...
    Shipping, tax ... never count"; points = floor(floor(qualifying $) × rate): $30.50 + $20.75 =
    $51.25 -> 51 (not 30 + 20 = 50)."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase(
            "2024-01-10 10:00", "o1", [("A", "30.50"), ("B", "20.75")], shipping="7.95", tax="4.55"
        ),
    )
    assert points(result) == pts(available=50, pending=51, lifetime=101)
    assert member(result, "m1")["qualifying_spend"] == "51.25"


def test_SK_4_the_upgrading_purchase_earns_at_the_old_rate() -> None:
    """SK-4 with §2: "A purchase earns at the rate of the member's tier as it stood before that
    purchase; the purchase that crosses a threshold upgrades the member for the purchases that
    follow." $250 as member -> 250; $100 as vip -> 140; $300 as vip (crossing $500) -> 420;
    $100 as vip_premier -> 170."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 10:00", "o1", [("A", "250.00")]),
        purchase("2024-01-10 11:00", "o2", [("B", "100.00")]),
        purchase("2024-01-10 12:00", "o3", [("C", "300.00")]),
        purchase("2024-01-10 13:00", "o4", [("D", "100.00")]),
    )
    assert_no_rejections(result)
    assert member(result, "m1")["tier"] == "vip_premier"
    assert points(result) == pts(available=50, pending=250 + 140 + 420 + 170, lifetime=1030)


# --- SK-5 -------------------------------------------------------------------------------------


def test_SK_5_points_are_pending_for_48_hours() -> None:
    """SK-5: "Points appear 48 hours after the purchase (pending until then)." §2: "'48 hours' is
    exactly that"."""
    base = [enroll("2024-01-08 09:00"), purchase("2024-01-10 12:00", "o1", [("A", "100.00")])]
    assert points(soko(*base)) == pts(available=50, pending=100, lifetime=150)
    just_before = soko(*base, tick("2024-01-12 11:59:59"))
    assert points(just_before) == pts(available=50, pending=100, lifetime=150)
    just_after = soko(*base, tick("2024-01-12 12:00:01"))
    assert points(just_after) == pts(available=150, pending=0, lifetime=150)


def test_SK_5_48_hours_are_exact_across_a_dst_change() -> None:
    """SK-5 and §2: "'48 hours' is exactly that": a purchase at 12:00 EST on 2024-03-09 becomes
    available at 13:00 EDT on 2024-03-11 (clocks went forward on 2024-03-10), not at 12:00."""
    base = [enroll("2024-03-01 09:00"), purchase("2024-03-09 12:00", "o1", [("A", "100.00")])]
    assert base[1]["at"] == "2024-03-09T12:00:00-05:00"
    at_noon = soko(*base, tick("2024-03-11 12:30"))  # 47.5 hours later
    assert tick("2024-03-11 12:30")["at"] == "2024-03-11T12:30:00-04:00"
    assert points(at_noon) == pts(available=50, pending=100, lifetime=150)
    at_one = soko(*base, tick("2024-03-11 13:00:01"))
    assert points(at_one) == pts(available=150, pending=0, lifetime=150)


def test_SK_5_pending_points_cannot_be_spent() -> None:
    """SK-5: points are pending until 48 hours after the purchase; available excludes pending, so
    a 500-point reward cannot be paid with 450 pending + 50 available points."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "450.00")]),
        redeem("2024-01-10 12:05", "10-off", "o2", "80.00"),
        tick("2024-01-12 12:00:01"),
        redeem("2024-01-12 12:05", "10-off", "o3", "80.00"),
    )
    assert_rejected(result, 3, *INSUFFICIENT)
    assert errors(result).keys() == {3}
    assert points(result) == pts(available=0, pending=0, lifetime=500)


# --- SK-6 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["store", "popup", "phone", "outlet"])
def test_SK_6_only_online_purchases_earn_points_and_tier_credit(channel: str) -> None:
    """SK-6: "Only the website (`online` channel) earns; pop-up and store purchases earn no
    points and no tier credit." """
    base = [
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "300.00")], channel=channel),
    ]
    result = soko(*base, tick("2024-01-13 12:00"))
    assert_no_rejections(result)
    assert points(result) == pts(available=50, pending=0, lifetime=50)
    assert tier(result) == ("member", None)
    assert member(result, "m1")["qualifying_spend"] == "0.00"


def test_SK_6_store_spend_does_not_add_to_online_tier_spend() -> None:
    """SK-6: store purchases earn "no tier credit": $300 in store + $150 online = $150 of tier
    spend (member), and the online purchase earns 150 at the member rate."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "300.00")], channel="store"),
        purchase("2024-01-11 12:00", "o2", [("B", "150.00")], channel="online"),
        purchase("2024-01-11 13:00", "o3", [("C", "100.00")], channel="online"),
    )
    assert_no_rejections(result)
    # o3 earns at member rate too: spend before it was $150.
    assert points(result) == pts(available=50, pending=250, lifetime=300)
    assert tier(result) == ("vip", "2025-01-11")
    assert member(result, "m1")["qualifying_spend"] == "250.00"


# --- SK-7 -------------------------------------------------------------------------------------


def test_SK_7_buying_an_e_gift_card_earns_points_and_tier_credit() -> None:
    """SK-7: "Buying an e-gift card earns points and counts toward tier spend"."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("GC", "200.00", "gift_card")]),
    )
    assert_no_rejections(result)
    assert points(result) == pts(available=50, pending=200, lifetime=250)
    assert tier(result) == ("vip", "2025-01-10")
    assert member(result, "m1")["qualifying_spend"] == "200.00"


def test_SK_7_paying_with_an_e_gift_card_earns_nothing() -> None:
    """SK-7: "paying with an e-gift card does not (gift-card tender is non-earning)": $100 of
    merchandise paid $40 by gift card earns 60 points and $60 of tier spend."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "100.00")], tenders=[("gift_card", "40.00")]),
    )
    assert points(result) == pts(available=50, pending=60, lifetime=110)
    assert member(result, "m1")["qualifying_spend"] == "60.00"


def test_SK_7_gift_card_tender_is_applied_to_merchandise_first() -> None:
    """SK-7 with §2: "Non-earning tenders are applied to eligible merchandise first." $100
    merchandise + $10 shipping + $8 tax, $110 paid by gift card: nothing earned, no tier spend."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase(
            "2024-01-10 12:00",
            "o1",
            [("A", "100.00")],
            shipping="10.00",
            tax="8.00",
            tenders=[("gift_card", "110.00")],
        ),
    )
    assert_no_rejections(result)
    assert points(result) == pts(available=50, pending=0, lifetime=50)
    assert member(result, "m1")["qualifying_spend"] == "0.00"


def test_SK_7_a_purchase_fully_paid_by_gift_card_gives_no_tier_credit() -> None:
    """SK-7: gift-card tender is non-earning, and §1: qualifying spend counts only what earns:
    $250 paid entirely by gift card leaves the member at `member`."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "250.00")], tenders=[("gift_card", "250.00")]),
    )
    assert points(result) == pts(available=50, pending=0, lifetime=50)
    assert tier(result) == ("member", None)


# --- SK-8 -------------------------------------------------------------------------------------


def test_SK_8_instagram_follow_earns_25_at_once_once_per_member() -> None:
    """SK-8: "Actions earn points at once (not pending), never tier credit: `instagram_follow` 25
    once per member (a second follow is rejected as already rewarded)"."""
    result = soko(
        enroll("2024-01-08 09:00", "m1"),
        enroll("2024-01-08 09:00", "m2"),
        action("2024-01-09 10:00", "instagram_follow", "ig-1", "m1"),
        action("2024-01-09 11:00", "instagram_follow", "ig-2", "m1"),
        action("2024-01-09 12:00", "instagram_follow", "ig-1", "m2"),
    )
    assert_rejected(result, 4, "already")
    assert errors(result).keys() == {4}
    assert points(result, "m1") == pts(available=75, pending=0, lifetime=75)
    assert points(result, "m2") == pts(available=75, pending=0, lifetime=75)


def test_SK_8_review_and_photo_earn_50_per_distinct_reference() -> None:
    """SK-8: "`review` 50 and `photo` 50 per distinct reference"; actions earn at once."""
    result = soko(
        enroll("2024-01-08 09:00"),
        action("2024-01-09 10:00", "review", "review-1"),
        action("2024-01-09 10:01", "review", "review-2"),
        action("2024-01-09 10:02", "photo", "photo-1"),
        action("2024-01-09 10:03", "photo", "photo-2"),
    )
    assert_no_rejections(result)
    assert points(result) == pts(available=250, pending=0, lifetime=250)


def test_SK_8_the_same_review_reference_earns_once() -> None:
    """SK-8: "review 50 ... per distinct reference" and §2: "The same input twice changes nothing
    the second time" (an exact repeat is not a rejection, §8)."""
    result = soko(
        enroll("2024-01-08 09:00"),
        action("2024-01-09 10:00", "review", "review-1"),
        action("2024-01-09 10:00", "review", "review-1"),
        action("2024-01-09 10:00", "photo", "photo-1"),
        action("2024-01-09 10:00", "photo", "photo-1"),
    )
    assert_no_rejections(result)
    assert points(result) == pts(available=150, pending=0, lifetime=150)


def test_SK_8_actions_never_give_tier_credit() -> None:
    """SK-8: actions earn points "never tier credit" (FAQ: "points earned through actions don't
    apply towards your tier status")."""
    events = [enroll("2024-01-08 09:00"), action("2024-01-09 09:00", "instagram_follow", "ig")]
    events += [action("2024-01-09 10:00", "review", f"review-{i}") for i in range(10)]
    events.append(purchase("2024-01-10 10:00", "o1", [("A", "150.00")]))
    result = soko(*events)
    assert_no_rejections(result)
    assert tier(result) == ("member", None)
    assert member(result, "m1")["qualifying_spend"] == "150.00"
    assert points(result) == pts(available=575, pending=150, lifetime=725)


# --- SK-9 -------------------------------------------------------------------------------------


def test_SK_9_points_never_expire() -> None:
    """SK-9: "Points never expire." """
    base = [
        enroll("2020-01-15 09:00"),
        purchase("2020-02-01 10:00", "o1", [("A", "120.00")]),
        action("2020-02-02 10:00", "review", "review-1"),
    ]
    for later in ("2021-01-31 12:00", "2022-02-28 12:00", "2030-02-01 12:00"):
        result = soko(*base, tick(later))
        assert points(result) == pts(available=220, pending=0, lifetime=220), later


# --- SK-10 ------------------------------------------------------------------------------------


def test_SK_10_10_off_costs_500_points() -> None:
    """SK-10: "Rewards at checkout: `10-off` costs 500 points"; §2: "A redemption debits the points
    when it is made. The purchase that follows may carry a `points` tender ... the tender only
    lowers the qualifying amount." The $80 order paid $10 by points earns floor(70 × 1.4) = 98 at
    vip and adds $70 of tier spend ($520 -> vip_premier)."""
    base = [
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "450.00")]),  # vip
        tick("2024-01-12 12:00:01"),
        redeem("2024-01-13 10:00", "10-off", "o2", "80.00"),
    ]
    result = soko(*base)
    assert_no_rejections(result)
    assert points(result) == pts(available=0, pending=0, lifetime=500)
    base.append(
        purchase(
            "2024-01-13 10:05",
            "o2",
            [("B", "80.00")],
            shipping="5.00",
            tax="6.40",
            tenders=[("points", "10.00")],
        )
    )
    result = soko(*base, tick("2024-01-15 10:05:01"))
    assert_no_rejections(result)
    assert points(result) == pts(available=98, pending=0, lifetime=598)
    assert member(result, "m1")["qualifying_spend"] == "520.00"
    assert tier(result) == ("vip_premier", "2025-01-13")


def test_SK_10_20_off_costs_1000_points() -> None:
    """SK-10: "`20-off` costs 1000 points" (999 points are not enough)."""
    result = soko(
        enroll("2024-01-08 09:00", "m1"),
        enroll("2024-01-08 09:00", "m2"),
        purchase("2024-01-10 12:00", "o1", [("A", "950.00")], "m1"),
        purchase("2024-01-10 12:00", "o2", [("A", "949.00")], "m2"),
        tick("2024-01-12 12:00:01"),
        redeem("2024-01-13 10:00", "20-off", "o3", "50.00", "m1"),
        redeem("2024-01-13 10:00", "20-off", "o4", "50.00", "m2"),
    )
    assert_rejected(result, 7, *INSUFFICIENT)
    assert errors(result).keys() == {7}
    assert points(result, "m1") == pts(available=0, pending=0, lifetime=1000)
    assert points(result, "m2") == pts(available=999, pending=0, lifetime=999)


def test_SK_10_insufficient_points_are_rejected() -> None:
    """SK-10 (engine contract): a redemption without enough available points is rejected and
    changes nothing."""
    result = soko(enroll("2024-01-08 09:00"), redeem("2024-01-08 10:00", "10-off", "o1", "80.00"))
    assert_rejected(result, 2, *INSUFFICIENT)
    assert points(result) == pts(available=50, pending=0, lifetime=50)


def test_SK_10_discount_applies_to_merchandise_only() -> None:
    """SK-10: "the discount applies to merchandise only (never shipping or tax)"; §7: "`subtotal`
    is the order's eligible merchandise, and a redemption worth more than it is rejected": $20 off
    a $19.99 merchandise subtotal is rejected; $20 off $20.00 is fine."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "950.00")]),
        tick("2024-01-12 12:00:01"),
        redeem("2024-01-13 10:00", "20-off", "o2", "19.99"),
        redeem("2024-01-13 10:01", "20-off", "o3", "20.00"),
    )
    assert_rejected(result, 4, "subtotal", "exceed", "more than")
    assert errors(result).keys() == {4}
    assert points(result) == pts(available=0, pending=0, lifetime=1000)


def test_SK_10_a_reward_needs_a_purchased_item() -> None:
    """SK-10: the reward "needs at least one purchased item in the order": a redemption on an
    order with a zero merchandise subtotal is rejected, even for a reward of no money value."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "250.00")]),  # vip, 300 points
        tick("2024-01-12 12:00:01"),
        redeem("2024-01-13 10:00", "vip-gift", "o2", "0.00"),
        redeem("2024-01-13 10:01", "vip-gift", "o3", "15.00"),
    )
    assert_rejected(result, 4, "item")
    assert errors(result).keys() == {4}
    assert points(result) == pts(available=0, pending=0, lifetime=300)


def test_SK_10_vip_gift_only_for_vip_and_vip_premier() -> None:
    """SK-10: "Tier-gated rewards exist: `vip-gift` (300 points) only for vip and vip_premier." """
    events = [enroll("2024-01-08 09:00", who) for who in ("m1", "m2", "m3")]
    # m1 stays member with 300 points from reviews; m2 is vip, m3 vip_premier.
    events += [action("2024-01-09 09:00", "review", f"review-{i}", "m1") for i in range(5)]
    events += [
        purchase("2024-01-10 12:00", "o-m2", [("A", "250.00")], "m2"),
        purchase("2024-01-10 12:00", "o-m3", [("A", "500.00")], "m3"),
        tick("2024-01-12 12:00:01"),
        redeem("2024-01-13 10:00", "vip-gift", "o1", "25.00", "m1"),
        redeem("2024-01-13 10:00", "vip-gift", "o2", "25.00", "m2"),
        redeem("2024-01-13 10:00", "vip-gift", "o3", "25.00", "m3"),
    ]
    result = soko(*events)
    assert_rejected(result, 12, "tier")
    assert errors(result).keys() == {12}
    assert points(result, "m1") == pts(available=300, pending=0, lifetime=300)
    assert points(result, "m2") == pts(available=0, pending=0, lifetime=300)
    assert points(result, "m3") == pts(available=250, pending=0, lifetime=550)


def test_SK_10_unknown_reward_is_rejected() -> None:
    """SK-10: the rewards are the catalog's; a reward that is not in it is rejected."""
    result = soko(
        enroll("2024-01-08 09:00"),
        action("2024-01-09 09:00", "review", "review-1"),
        redeem("2024-01-09 10:00", "50-off", "o1", "80.00"),
    )
    assert_rejected(result, 3, "unknown")
    assert points(result) == pts(available=100, pending=0, lifetime=100)


# --- SK-11 ------------------------------------------------------------------------------------


def test_SK_11_birthday_gift_at_the_start_of_the_birth_month() -> None:
    """SK-11: "Birthday gift: at the start of the birth month (program time zone), a member with a
    birth month and email opt-in gets a `birthday-gift` voucher (kind `birthday_gift`) valid
    through the end of that month" (expires_on = its last day, §8)."""
    base = [enroll("2024-01-15 09:00", birth_month=3, email_opt_in=True)]
    assert member(soko(*base, tick("2024-02-29 23:59:59")), "m1")["certificates"] == []
    result = soko(*base, tick("2024-03-01 00:00:01"))
    assert strip_codes(member(result, "m1")["certificates"]) == [
        {**BIRTHDAY, "status": "issued", "expires_on": "2024-03-31"}
    ]
    # The voucher is not points.
    assert points(result) == pts(available=50, pending=0, lifetime=50)


def test_SK_11_birth_month_starts_in_the_program_time_zone() -> None:
    """SK-11: "at the start of the birth month (program time zone)": 02:00 UTC on 1 March is still
    29 February in New York, so no voucher yet."""
    events = [
        enroll("2024-01-15 09:00", birth_month=3, email_opt_in=True),
        {"type": "tick", "at": "2024-03-01T02:00:00+00:00"},
    ]
    assert member(soko(*events), "m1")["certificates"] == []


def test_SK_11_birthday_gift_valid_through_the_end_of_the_month() -> None:
    """SK-11: the voucher is "valid through the end of that month" (a February voucher in 2024
    through the 29th); §2: a "valid through" date lapses at the end of that local day."""
    base = [enroll("2024-01-15 09:00", birth_month=2, email_opt_in=True)]
    result = soko(*base, tick("2024-02-29 23:59:59"))
    assert strip_codes(member(result, "m1")["certificates"]) == [
        {**BIRTHDAY, "status": "issued", "expires_on": "2024-02-29"}
    ]
    result = soko(*base, tick("2024-03-01 00:00:01"))
    assert strip_codes(member(result, "m1")["certificates"]) == [
        {**BIRTHDAY, "status": "expired", "expires_on": "2024-02-29"}
    ]


def test_SK_11_birthday_gift_needs_birth_month_and_email_opt_in() -> None:
    """SK-11: only "a member with a birth month and email opt-in" gets the birthday gift."""
    result = soko(
        enroll("2024-01-15 09:00", "m1", birth_month=3, email_opt_in=False),
        enroll("2024-01-15 09:00", "m2", birth_month=None, email_opt_in=True),
        enroll("2024-01-15 09:00", "m3", birth_month=3, email_opt_in=True),
        tick("2024-03-02 12:00"),
    )
    assert member(result, "m1")["certificates"] == []
    assert member(result, "m2")["certificates"] == []
    assert len(member(result, "m3")["certificates"]) == 1


def test_SK_11_enrolling_in_the_birth_month_gives_the_gift_at_enrollment_once_a_year() -> None:
    """SK-11: "once per calendar year (a member who enrolls during the birth month gets it at
    enrollment)"."""
    base = [enroll("2024-03-15 09:00", birth_month=3, email_opt_in=True)]
    first = {**BIRTHDAY, "status": "issued", "expires_on": "2024-03-31"}
    assert strip_codes(member(soko(*base), "m1")["certificates"]) == [first]
    result = soko(*base, tick("2025-02-28 12:00"))
    assert strip_codes(member(result, "m1")["certificates"]) == [{**first, "status": "expired"}]
    result = soko(*base, tick("2025-03-01 00:00:01"))
    assert strip_codes(member(result, "m1")["certificates"]) == [
        {**first, "status": "expired"},
        {**BIRTHDAY, "status": "issued", "expires_on": "2025-03-31"},
    ]


def test_SK_11_birthday_gift_every_year() -> None:
    """SK-11: the gift comes "at the start of the birth month ... once per calendar year"."""
    result = soko(
        enroll("2023-11-01 09:00", birth_month=1, email_opt_in=True),
        tick("2025-01-15 12:00"),
    )
    assert strip_codes(member(result, "m1")["certificates"]) == [
        {**BIRTHDAY, "status": "expired", "expires_on": "2024-01-31"},
        {**BIRTHDAY, "status": "issued", "expires_on": "2025-01-31"},
    ]


# --- SK-12 ------------------------------------------------------------------------------------


def test_SK_12_a_return_recomputes_the_order_without_the_returned_lines() -> None:
    """SK-12: "Returns reverse points (§2)"; §2: "A return is computed by recomputing the order
    without the returned lines ... the differences in points and in qualifying amount are
    reversed." $25.50 + $25.50 = $51 -> 51 points; without one line $25.50 -> 25; 26 reversed."""
    base = [
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "25.50"), ("B", "25.50")]),
        ret("2024-01-11 12:00", "o1", "r1", [("B", "25.50")]),
    ]
    result = soko(*base)
    assert_no_rejections(result)
    assert points(result) == pts(available=50, pending=25, lifetime=75)
    assert member(result, "m1")["qualifying_spend"] == "25.50"
    assert points(soko(*base, tick("2024-01-12 12:00:01"))) == pts(75, 0, 75)


def test_SK_12_a_return_reverses_at_the_rate_of_the_original_purchase() -> None:
    """SK-12 with §2 ("same rates"): a vip order of $25.50 + $25.50 earned floor(51 × 1.4) = 71;
    without one line it would earn floor(25 × 1.4) = 35, so 36 points are reversed."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "200.00")]),  # vip
        tick("2024-01-12 12:00:01"),
        purchase("2024-01-15 12:00", "o2", [("A", "25.50"), ("B", "25.50")]),
        ret("2024-01-16 12:00", "o2", "r1", [("B", "25.50")]),
        tick("2024-01-17 12:00:01"),
    )
    assert_no_rejections(result)
    assert points(result) == pts(available=285, pending=0, lifetime=285)
    assert member(result, "m1")["qualifying_spend"] == "225.50"


def test_SK_12_a_return_keeps_the_tenders_on_what_is_left() -> None:
    """SK-12 with §2 ("same tenders applied to what is left"): $60 + $40 paid $50 by gift card
    earned 50; without the $40 line, $60 - $50 = $10 earns 10, so 40 points and $40 of spend are
    reversed."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase(
            "2024-01-10 12:00",
            "o1",
            [("A", "60.00"), ("B", "40.00")],
            tenders=[("gift_card", "50.00")],
        ),
        ret("2024-01-11 12:00", "o1", "r1", [("B", "40.00")]),
    )
    assert_no_rejections(result)
    assert points(result) == pts(available=50, pending=10, lifetime=60)
    assert member(result, "m1")["qualifying_spend"] == "10.00"


def test_SK_12_a_tier_already_earned_is_kept_until_it_lapses() -> None:
    """SK-12: "a tier already earned is kept until it lapses"; §2: "The qualifying spend is
    reduced in the tier period of the original purchase." """
    base = [
        enroll("2020-01-01 09:00"),
        purchase("2020-01-02 10:00", "o1", [("A", "300.00")]),
        ret("2020-01-05 10:00", "o1", "r1", [("A", "300.00")]),
    ]
    result = soko(*base)
    assert_no_rejections(result)
    assert tier(result) == ("vip", "2021-01-02")
    assert member(result, "m1")["qualifying_spend"] == "0.00"
    assert points(result) == pts(available=50, pending=0, lifetime=50)
    assert tier(soko(*base, tick("2021-01-02 23:59:59"))) == ("vip", "2021-01-02")
    assert tier(soko(*base, tick("2021-01-03 00:00:01"))) == ("member", None)


def test_SK_12_returned_spend_no_longer_counts_toward_a_tier() -> None:
    """SK-12 with §2: "the differences ... in qualifying amount are reversed": $150, $100 of it
    returned, then $100 more makes $150 of trailing spend (member, earning at rate 1)."""
    result = soko(
        enroll("2023-01-02 09:00"),
        purchase("2023-01-10 12:00", "o1", [("A", "100.00"), ("B", "50.00")]),
        ret("2023-02-01 12:00", "o1", "r1", [("A", "100.00")]),
        purchase("2023-03-01 12:00", "o2", [("C", "100.00")]),
        tick("2023-03-03 12:00:01"),
    )
    assert_no_rejections(result)
    assert tier(result) == ("member", None)
    assert member(result, "m1")["qualifying_spend"] == "150.00"
    assert points(result) == pts(available=200, pending=0, lifetime=200)


# --- §2 rules common to every program, on the soko preset -------------------------------------


def test_S2_exact_repeat_of_a_purchase_is_a_no_op() -> None:
    """§2: "The same input twice changes nothing the second time and returns the first result";
    §8: "An exact repeat of an earlier input is not a rejection: it changes nothing." """
    p = purchase("2024-01-10 12:00", "o1", [("A", "100.00")])
    result = soko(enroll("2024-01-08 09:00"), p, p)
    assert_no_rejections(result)
    assert points(result) == pts(available=50, pending=100, lifetime=150)
    assert member(result, "m1")["qualifying_spend"] == "100.00"


def test_S2_same_order_id_with_a_different_payload_is_rejected() -> None:
    """§2: "a different payload under the same key is rejected" (order id for purchases)."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "100.00")]),
        purchase("2024-01-10 12:30", "o1", [("A", "150.00")]),
    )
    assert_rejected(result, 3, *SAME_KEY)
    assert points(result) == pts(available=50, pending=100, lifetime=150)
    assert member(result, "m1")["qualifying_spend"] == "100.00"


def test_S2_returns_are_idempotent_and_a_line_is_returned_at_most_once() -> None:
    """§2: "A line is returned at most once; a return naming a line ... that was already returned,
    is rejected." An exact repeat of the same return changes nothing; a different payload under
    the same return id is rejected."""
    r1 = ret("2024-01-11 12:00", "o1", "r1", [("A", "60.00")])
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "60.00"), ("B", "40.00")]),
        r1,
        r1,
        ret("2024-01-11 12:00", "o1", "r2", [("A", "60.00")]),
        ret("2024-01-11 12:00", "o1", "r1", [("B", "40.00")]),
    )
    assert errors(result).keys() == {5, 6}
    assert_rejected(result, 5, "already")
    assert_rejected(result, 6, *SAME_KEY)
    assert points(result) == pts(available=50, pending=40, lifetime=90)
    assert member(result, "m1")["qualifying_spend"] == "40.00"


def test_S2_returning_a_line_not_in_the_order_is_rejected() -> None:
    """§2: "a return naming a line that is not in the order ... is rejected"; a return of an
    unknown order is rejected too."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "60.00"), ("B", "40.00")]),
        ret("2024-01-11 12:00", "o1", "r1", [("Z", "60.00")]),
        ret("2024-01-11 12:01", "o9", "r2", [("A", "60.00")]),
    )
    assert errors(result).keys() == {3, 4}
    assert_rejected(result, 3, "not in", "unknown", "no line", "not part")
    assert_rejected(result, 4, "unknown", "not found", "no such")
    assert points(result) == pts(available=50, pending=100, lifetime=150)
    assert member(result, "m1")["qualifying_spend"] == "100.00"


def test_S2_a_purchase_naming_an_unknown_member_is_rejected() -> None:
    """§2: "A purchase that names an unknown member is rejected." """
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "100.00")], "ghost"),
    )
    assert_rejected(result, 2, "unknown")
    assert set(result["members"]) == {"m1"}
    assert points(result) == pts(available=50, pending=0, lifetime=50)


def test_S2_a_purchase_without_a_member_earns_nothing() -> None:
    """§2: "A purchase without a member earns nothing." It is not a rejection."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "300.00")], None),
        tick("2024-01-13 12:00"),
    )
    assert_no_rejections(result)
    assert set(result["members"]) == {"m1"}
    assert points(result) == pts(available=50, pending=0, lifetime=50)
    assert tier(result) == ("member", None)


def test_S2_a_redemption_debits_the_points_when_it_is_made() -> None:
    """§2: "A redemption debits the points when it is made." (no purchase needs to follow)."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "1000.00")]),
        tick("2024-01-12 12:00:01"),
        redeem("2024-01-13 10:00", "10-off", "o2", "80.00"),
    )
    assert_no_rejections(result)
    assert points(result) == pts(available=550, pending=0, lifetime=1050)


def test_S2_redemption_is_idempotent_by_order_and_reward() -> None:
    """§2: idempotency key "order and reward for redemptions": the same redemption twice debits
    once; the same order and reward with a different subtotal is rejected."""
    r = redeem("2024-01-13 10:00", "10-off", "o2", "80.00")
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "1000.00")]),
        tick("2024-01-12 12:00:01"),
        r,
        r,
        redeem("2024-01-13 10:00", "10-off", "o2", "90.00"),
    )
    assert errors(result).keys() == {6}
    assert_rejected(result, 6, *SAME_KEY)
    assert points(result) == pts(available=550, pending=0, lifetime=1050)


def test_S2_time_going_backwards_is_rejected() -> None:
    """§7: "`at` must not be earlier than the `at` of the last accepted event (equal is fine)";
    §2: "A rejected input changes nothing"."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "100.00")]),
        purchase("2024-01-10 11:59", "o2", [("B", "40.00")]),
        purchase("2024-01-10 12:00", "o3", [("C", "30.00")]),
    )
    assert errors(result).keys() == {3}
    assert_rejected(result, 3, "earlier", "before", "backward", "time", "order")
    assert points(result) == pts(available=50, pending=130, lifetime=180)
    assert member(result, "m1")["qualifying_spend"] == "130.00"


def test_S2_a_return_takes_back_the_pending_points_of_its_purchase() -> None:
    """§2: "A reversal ... takes points back from the lots that the reversed purchase created,
    while they still hold points (pending or available)": the signup points are untouched."""
    result = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "100.00")]),
        ret("2024-01-10 13:00", "o1", "r1", [("A", "100.00")]),
    )
    assert_no_rejections(result)
    assert points(result) == pts(available=50, pending=0, lifetime=50)
    later = soko(
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "100.00")]),
        ret("2024-01-10 13:00", "o1", "r1", [("A", "100.00")]),
        tick("2024-01-13 12:00"),
    )
    assert points(later) == pts(available=50, pending=0, lifetime=50)


def test_S2_returning_spent_points_makes_the_balance_negative_and_new_points_pay_the_debt() -> None:
    """§2: "what is still missing makes the balance negative. A negative balance is a debt that
    the next points to become available pay first." soko keeps such members active."""
    base = [
        enroll("2024-01-08 09:00"),
        purchase("2024-01-10 12:00", "o1", [("A", "450.00")]),  # vip
        tick("2024-01-12 12:00:01"),
        redeem("2024-01-13 10:00", "10-off", "o9", "30.00"),
        ret("2024-01-14 10:00", "o1", "r1", [("A", "450.00")]),
    ]
    result = soko(*base)
    assert_no_rejections(result)
    m = member(result, "m1")
    assert m["status"] == "active"
    assert m["points"] == pts(available=-450, pending=0, lifetime=50)
    assert (m["tier"], m["qualifying_spend"]) == ("vip", "0.00")  # SK-12: tier kept
    base.append(purchase("2024-01-15 10:00", "o2", [("B", "100.00")]))  # vip: 140
    assert points(soko(*base)) == pts(available=-450, pending=140, lifetime=190)
    later = soko(*base, tick("2024-01-17 10:00:01"))
    assert points(later) == pts(available=-310, pending=0, lifetime=190)
    assert member(later, "m1")["status"] == "active"


def test_S7_unknown_fields_and_bad_money_are_rejected() -> None:
    """§7: "Money is a decimal string with at most two decimals and never negative. Unknown fields
    are rejected." §2: "A rejected input changes nothing"."""
    with_coupon = purchase("2024-01-10 12:00", "o1", [("A", "100.00")])
    with_coupon["coupon"] = "SPRING"
    result = soko(
        enroll("2024-01-08 09:00"),
        with_coupon,
        purchase("2024-01-10 12:01", "o2", [("A", "100.999")]),
        purchase("2024-01-10 12:02", "o3", [("A", "-5.00")]),
    )
    assert errors(result).keys() == {2, 3, 4}
    assert_rejected(result, 2, "unknown", "coupon")
    assert_rejected(result, 3, "money", "decimal", "amount")
    assert_rejected(result, 4, "money", "decimal", "amount", "negative")
    assert points(result) == pts(available=50, pending=0, lifetime=50)


# --- §8 worked example ------------------------------------------------------------------------


def test_S8_example_summary_of_m1() -> None:
    """§8 example: m1 is "vip" with "tier_valid_until":"2021-01-02", points available 79, pending
    0, expiring_this_month 0, lifetime_earned 129, qualifying_spend "57.99", reward_balance
    "0.00". Reached by: signup 50; VIP earned with $200 on 2020-01-02 (SK-3) then returned (SK-12:
    the tier is kept, 200 points reversed); a -50 adjustment; then the SK-4 purchase of $57.99 +
    shipping + tax at the VIP rate (79 points), 48 hours later (SK-5)."""
    result = soko(
        enroll("2020-01-01 09:00"),
        purchase("2020-01-02 10:00", "o1", [("A", "200.00")]),
        ret("2020-01-03 10:00", "o1", "r1", [("A", "200.00")]),
        adjust("2020-01-03 11:00", -50, "goodwill"),
        purchase("2020-06-01 12:00", "o2", [("B", "57.99")], shipping="5.00", tax="4.10"),
        tick("2020-06-03 12:00:01"),
    )
    assert result == {
        "members": {
            "m1": {
                "status": "active",
                "tier": "vip",
                "tier_valid_until": "2021-01-02",
                "points": {
                    "available": 79,
                    "pending": 0,
                    "expiring_this_month": 0,
                    "lifetime_earned": 129,
                },
                "qualifying_spend": "57.99",
                "reward_balance": "0.00",
                "certificates": [],
            }
        },
        "rejected": [],
    }
