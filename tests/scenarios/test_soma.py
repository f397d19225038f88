"""Love Soma Rewards (`soma`): one scenario per rule SM-1 .. SM-12 (SPEC §5), the worked examples
of SPEC and of the FAQ (seeds/002), and the §2 common rules as they apply to Soma.

Expected values are derived from the SPEC, not from the engine. Times are America/New_York:
-05:00 in winter, -04:00 in summer (DST 2024-03-10..11-03, 2025-03-09..11-02, 2026-03-08..11-01).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from loyalty import Engine, load_program
from tests.scenarios.harness import errors, member, run, strip_codes

Event = dict[str, Any]

PERSON: Event = {
    "email": "ann@example.com",
    "first_name": "Ann",
    "last_name": "Lee",
    "phone": "+1 212 555 0101",
    "address": "1 Main St, New York, NY 10001",
    "country": "US",
    "birth_month": 9,
    "email_opt_in": False,
    "delivery": "email",
    "member_number": None,
}
OTHER: Event = {"email": "bea@example.com", "phone": "+1 212 555 0202", "first_name": "Bea"}
THIRD: Event = {"email": "cy@example.com", "phone": "+1 212 555 0303", "first_name": "Cy"}


# --- event builders (SPEC §7) ---------------------------------------------------------------------


def enroll(at: str, member_id: str = "m1", drop: tuple[str, ...] = (), **fields: Any) -> Event:
    event: Event = {"type": "enroll", "at": at, "member": member_id, **PERSON, **fields}
    for name in drop:
        del event[name]
    return event


def purchase(
    at: str,
    order: str,
    *amounts: str,
    member_id: str | None = "m1",
    channel: str = "store",
    lines: list[Event] | None = None,
    tenders: list[Event] | None = None,
    shipping: str = "0.00",
    tax: str = "0.00",
) -> Event:
    """Merchandise lines S1, S2, ... from ``amounts`` (or explicit ``lines``); ``tenders`` are the
    non-card tenders, a card pays the rest."""
    if lines is None:
        lines = [line(f"S{i + 1}", amount) for i, amount in enumerate(amounts)]
    tenders = list(tenders or [])
    total = sum((Decimal(line["amount"]) for line in lines), Decimal(shipping) + Decimal(tax))
    rest = total - sum((Decimal(t["amount"]) for t in tenders), Decimal(0))
    if rest > 0:
        tenders.append({"type": "card", "amount": str(rest), "code": None})
    return {
        "type": "purchase",
        "at": at,
        "member": member_id,
        "order": order,
        "channel": channel,
        "lines": lines,
        "shipping": shipping,
        "tax": tax,
        "tenders": tenders,
    }


def line(sku: str, amount: str, kind: str = "merchandise") -> Event:
    return {"sku": sku, "amount": amount, "kind": kind, "department": None, "brand": None}


def certificate(code: str, amount: str) -> Event:
    return {"type": "certificate", "amount": amount, "code": code}


def shipment(at: str, order: str) -> Event:
    return {"type": "shipment", "at": at, "order": order}


def give_back(at: str, order: str, return_id: str, *lines: tuple[str, str]) -> Event:
    return {
        "type": "return",
        "at": at,
        "order": order,
        "return": return_id,
        "lines": [{"sku": sku, "amount": amount} for sku, amount in lines],
    }


def retro_credit(at: str, order: str, member_id: str = "m1") -> Event:
    return {"type": "retro_credit", "at": at, "member": member_id, "order": order}


def campaign(
    at: str,
    campaign_id: str,
    starts: str,
    ends: str,
    multiplier: str | None = None,
    bonus_points: int | None = None,
    min_spend: str | None = None,
    channels: list[str] | None = None,
    combinable: bool = False,
) -> Event:
    return {
        "type": "campaign",
        "at": at,
        "id": campaign_id,
        "starts": starts,
        "ends": ends,
        "multiplier": multiplier,
        "bonus_points": bonus_points,
        "min_spend": min_spend,
        "channels": channels,
        "combinable": combinable,
    }


def tick(at: str) -> Event:
    return {"type": "tick", "at": at}


# --- running --------------------------------------------------------------------------------------


def replay(*events: Event) -> dict[str, Any]:
    return run("soma", "\n".join(json.dumps(e) for e in events))


def m1(*events: Event) -> dict[str, Any]:
    """Summary of m1 after a scenario in which every input must be accepted."""
    result = replay(*events)
    assert result["rejected"] == []
    return member(result, "m1")


def points(summary: dict[str, Any]) -> tuple[int, int]:
    """(available, pending)"""
    return summary["points"]["available"], summary["points"]["pending"]


def engine(*events: Event) -> Engine:
    eng = Engine(load_program("soma"))
    for event in events:
        out = eng.apply(event)
        assert out.accepted, out.error
    return eng


WINTER_ENROLL = "2024-03-04T09:00:00-05:00"  # a Monday


# --- SM-1 enrollment ------------------------------------------------------------------------------

REQUIRED = ["first_name", "last_name", "address", "phone", "email", "birth_month"]


@pytest.mark.parametrize("field", REQUIRED)
def test_SM_1_enrollment_missing_a_field_is_rejected_by_name(field: str) -> None:
    """SM-1: "Enrollment needs first and last name, mailing address, phone, email and birth month;
    missing fields are rejected by name." """
    result = replay(enroll(WINTER_ENROLL, drop=(field,)))
    assert list(errors(result)) == [1]
    assert field in errors(result)[1].lower()
    assert "m1" not in result["members"]


def test_SM_1_every_missing_field_is_named() -> None:
    """SM-1: "missing fields are rejected by name" (a null value is missing too)."""
    result = replay(enroll(WINTER_ENROLL, drop=("last_name",), phone=None))
    error = errors(result)[1].lower()
    assert "last_name" in error
    assert "phone" in error
    assert result["members"] == {}


def test_SM_1_complete_enrollment_is_active_preferred_with_no_fee_and_no_points() -> None:
    """SM-1: "Enrollment needs first and last name, mailing address, phone, email and birth month
    ... No fee." Entry tier `preferred` (SM-3)."""
    summary = m1(enroll(WINTER_ENROLL))
    assert summary["status"] == "active"
    assert summary["tier"] == "preferred"
    assert summary["tier_valid_until"] is None
    assert summary["points"] == {
        "available": 0,
        "pending": 0,
        "expiring_this_month": 0,
        "lifetime_earned": 0,
    }
    assert summary["qualifying_spend"] == "0.00"
    assert summary["reward_balance"] == "0.00"
    assert summary["certificates"] == []


def test_SM_1_canadian_resident_holds_account_but_is_not_enrolled_and_earns_nothing() -> None:
    """SM-1: "Residents of Canada (`country` = `CA`) may hold an account but are **not enrolled**:
    status `not_enrolled`, they earn nothing, and the response says why." §2: "A purchase by a
    `not_enrolled` account is accepted and earns nothing." """
    ca = enroll(WINTER_ENROLL, country="CA", address="1 Rue Sainte-Catherine, Montreal QC")
    out = Engine(load_program("soma")).apply(ca)
    assert out.accepted
    assert "canad" in (out.message or "").lower()

    summary = m1(
        ca,
        purchase("2024-03-04T10:00:00-05:00", "o1", "200.00"),
        tick("2024-04-01T00:00:00-04:00"),
    )
    assert summary["status"] == "not_enrolled"
    assert summary["points"]["available"] == 0
    assert summary["points"]["pending"] == 0
    assert summary["points"]["lifetime_earned"] == 0
    assert summary["qualifying_spend"] == "0.00"
    assert summary["reward_balance"] == "0.00"
    assert summary["certificates"] == []


# --- SM-2 member numbers, linking, look-up --------------------------------------------------------


def test_SM_2_members_get_unique_numbers_and_are_found_by_number_email_or_phone() -> None:
    """SM-2: "members are found by member number, email or phone." §1: "a unique member number"."""
    eng = engine(
        enroll(WINTER_ENROLL),
        enroll("2024-03-04T09:05:00-05:00", "m2", **OTHER),
    )
    n1, n2 = eng.member_number("m1"), eng.member_number("m2")
    assert n1 != n2
    assert n1.startswith("55")  # soma.toml member_number_prefix
    assert eng.find_member(number=n1) == "m1"
    assert eng.find_member(number=n2) == "m2"
    assert eng.find_member(email="ann@example.com") == "m1"
    assert eng.find_member(phone="+1 212 555 0202") == "m2"


def test_SM_2_boutique_member_number_is_linked_at_online_registration() -> None:
    """SM-2: "A member number issued in a boutique can be linked when the member registers
    online". FAQ: "This allows us to locate you in our records and ensure that you earn Points ...
    for all your online purchases." """
    boutique = enroll(WINTER_ENROLL)
    number = engine(boutique).member_number("m1")
    events = [
        boutique,
        purchase("2024-03-05T10:00:00-05:00", "o1", "40.00"),
        enroll("2024-03-11T09:00:00-04:00", "web1", member_number=number),
        purchase("2024-03-11T10:00:00-04:00", "o2", "60.00", member_id="web1", channel="online"),
        shipment("2024-03-12T10:00:00-04:00", "o2"),
        tick("2024-03-15T10:00:00-04:00"),  # Wed 13, Thu 14, Fri 15: 3rd business day
    ]
    result = replay(*events)
    assert result["rejected"] == []
    assert list(result["members"]) == ["m1"]
    summary = member(result, "m1")
    assert points(summary) == (100, 0)
    assert summary["qualifying_spend"] == "100.00"

    eng = engine(*events)
    assert eng.find_member(number=number) == "m1"
    assert eng.find_member(email="ann@example.com") == "m1"


def test_SM_2_linking_keeps_the_preferences_the_registration_leaves_out() -> None:
    """SM-2 with SM-11/SM-8: a registration linking the boutique number, giving only an email,
    keeps the member's email opt-in (the birthday gift still comes) and its delivery by mail
    ("delivered by email or mail per the member's preference")."""
    boutique = enroll(WINTER_ENROLL, birth_month=5, email_opt_in=True, delivery="mail")
    number = engine(boutique).member_number("m1")
    link = {
        "type": "enroll",
        "at": "2024-03-11T09:00:00-04:00",
        "member": "web1",
        "email": "web@example.com",
        "member_number": number,
    }
    result = replay(boutique, link, tick("2024-05-01T00:00:00-04:00"))
    assert result["rejected"] == []
    gift = {**BIRTHDAY_GIFT, "expires_on": "2024-05-31"}
    assert strip_codes(member(result, "m1")["certificates"]) == [gift]
    assert engine(boutique, link).members["m1"].profile["delivery"] == "mail"


def test_SM_2_a_birth_month_given_at_linking_brings_the_birthday_gift_of_that_month() -> None:
    """SM-2 with SM-11: the online registration that links a boutique number updates the member's
    details; a birth month (and email opt-in) given there brings the gift at the start of that
    month, though the boutique record said September and no opt-in."""
    boutique = enroll(WINTER_ENROLL, birth_month=9, email_opt_in=False)
    number = engine(boutique).member_number("m1")
    link = enroll(
        "2024-03-11T09:00:00-04:00", "web1", member_number=number, birth_month=5, email_opt_in=True
    )
    result = replay(boutique, link, tick("2024-05-01T00:00:00-04:00"))
    assert result["rejected"] == []
    gift = {**BIRTHDAY_GIFT, "expires_on": "2024-05-31"}
    assert strip_codes(member(result, "m1")["certificates"]) == [gift]


# --- SM-3 tiers -----------------------------------------------------------------------------------


def test_SM_3_upgrades_during_the_year_as_net_spend_grows() -> None:
    """SM-3: "`preferred` (0), `gold` ($250), `platinum` ($500). Upgrades happen during the year
    as net spend grows" ... "kept for the rest of it and all of the following year"."""
    events = [
        enroll("2024-02-01T10:00:00-05:00"),
        purchase("2024-02-05T10:00:00-05:00", "o1", "249.00"),
        purchase("2024-02-06T10:00:00-05:00", "o2", "1.00"),
        purchase("2024-02-07T10:00:00-05:00", "o3", "250.00"),
    ]
    s = m1(*events[:2])
    assert (s["tier"], s["tier_valid_until"]) == ("preferred", None)
    assert s["qualifying_spend"] == "249.00"
    s = m1(*events[:3])
    assert (s["tier"], s["tier_valid_until"], s["qualifying_spend"]) == (
        "gold",
        "2025-12-31",
        "250.00",
    )
    s = m1(*events)
    assert (s["tier"], s["tier_valid_until"], s["qualifying_spend"]) == (
        "platinum",
        "2025-12-31",
        "500.00",
    )


def test_SM_3_tier_counts_net_purchases_less_returns() -> None:
    """SM-3: "Tiers by net purchases in the calendar year (SM-4's qualifying amounts, less
    returns)"."""
    events = [
        enroll("2024-02-01T10:00:00-05:00"),
        purchase("2024-02-05T10:00:00-05:00", "o1", "150.00", "50.00"),
        give_back("2024-02-06T10:00:00-05:00", "o1", "r1", ("S2", "50.00")),
        purchase("2024-02-07T10:00:00-05:00", "o2", "90.00"),
        purchase("2024-02-08T10:00:00-05:00", "o3", "10.00"),
    ]
    s = m1(*events[:4])  # gross 240 + 50 returned: net 240
    assert (s["tier"], s["qualifying_spend"]) == ("preferred", "240.00")
    s = m1(*events)
    assert (s["tier"], s["qualifying_spend"]) == ("gold", "250.00")


def test_SM_3_returns_never_lower_the_tier_within_the_year_but_count_in_january() -> None:
    """SM-3: "returns never lower the tier within the year. In January the tier becomes the one
    that the previous year's net spend supports". FAQ: "any returns you make may affect your tier
    status for the following year as calculated in January." """
    events = [
        enroll("2024-02-01T10:00:00-05:00"),
        purchase("2024-02-05T10:00:00-05:00", "o1", "400.00", "120.00"),
        give_back("2024-06-03T10:00:00-04:00", "o1", "r1", ("S2", "120.00")),
    ]
    s = m1(*events)
    # platinum is kept for the rest of 2024, but the net spend (400) no longer carries it into
    # 2025: the last day of the current tier is 2024-12-31.
    assert (s["tier"], s["tier_valid_until"], s["qualifying_spend"]) == (
        "platinum",
        "2024-12-31",
        "400.00",
    )
    s = m1(*events, tick("2024-12-31T23:59:59-05:00"))
    assert s["tier"] == "platinum"
    s = m1(*events, tick("2025-01-01T00:00:00-05:00"))
    assert (s["tier"], s["tier_valid_until"], s["qualifying_spend"]) == (
        "gold",
        "2025-12-31",
        "0.00",
    )


def test_SM_3_tier_kept_all_following_year_then_requalified_in_january() -> None:
    """SM-3: "a tier earned in a year, and not undone by returns by the end of that year, is kept
    for the rest of it and all of the following year." """
    events = [
        enroll("2024-02-01T10:00:00-05:00"),
        purchase("2024-02-05T10:00:00-05:00", "o1", "510.00"),
    ]
    s = m1(*events, tick("2025-12-31T23:59:59-05:00"))
    assert (s["tier"], s["tier_valid_until"], s["qualifying_spend"]) == (
        "platinum",
        "2025-12-31",
        "0.00",
    )
    s = m1(*events, tick("2026-01-01T00:00:00-05:00"))
    assert (s["tier"], s["tier_valid_until"]) == ("preferred", None)


def test_SM_3_requalifying_in_the_following_year_keeps_the_tier_one_more_year() -> None:
    """SM-3: "In January the tier becomes the one that the previous year's net spend supports"
    (2025 spend of $500 supports platinum for 2026)."""
    events = [
        enroll("2024-02-01T10:00:00-05:00"),
        purchase("2024-02-05T10:00:00-05:00", "o1", "510.00"),
        purchase("2025-03-03T10:00:00-05:00", "o2", "500.00"),
    ]
    s = m1(*events)
    assert (s["tier"], s["tier_valid_until"], s["qualifying_spend"]) == (
        "platinum",
        "2026-12-31",
        "500.00",
    )
    s = m1(*events, tick("2026-06-01T00:00:00-04:00"))
    assert (s["tier"], s["tier_valid_until"]) == ("platinum", "2026-12-31")
    s = m1(*events, tick("2027-01-01T00:00:00-05:00"))
    assert s["tier"] == "preferred"


def test_SM_3_welcome_notification_on_every_upgrade() -> None:
    """SM-3: "A welcome notification is sent on every upgrade." """
    eng = engine(
        enroll("2024-02-01T10:00:00-05:00"),
        purchase("2024-02-05T10:00:00-05:00", "o1", "260.00"),
        purchase("2024-02-06T10:00:00-05:00", "o2", "100.00"),
        purchase("2024-02-07T10:00:00-05:00", "o3", "150.00"),
    )
    upgrades = [n for n in eng.notifications("m1") if n.kind == "tier_upgrade"]
    assert len(upgrades) == 2
    assert "gold" in str(upgrades[0].data).lower()
    assert "platinum" in str(upgrades[1].data).lower()


def test_SM_3_a_december_purchase_retro_credited_in_january_counts_for_the_new_year() -> None:
    """SM-3: "In January the tier becomes the one that the previous year's net spend supports":
    $500 bought on 30 December without the member number and retro-credited on 6 January is
    part of that spend; platinum for the new year, with its welcome notification."""
    events = [
        enroll("2024-12-02T10:00:00-05:00"),
        purchase("2024-12-30T10:00:00-05:00", "o1", "500.00", member_id=None),
        retro_credit("2025-01-06T10:00:00-05:00", "o1"),
    ]
    s = m1(*events)
    assert (s["tier"], s["tier_valid_until"]) == ("platinum", "2025-12-31")
    upgrades = [n for n in engine(*events).notifications("m1") if n.kind == "tier_upgrade"]
    assert [n.data["to"] for n in upgrades] == ["platinum"]


# --- SM-4 earning ---------------------------------------------------------------------------------


def test_SM_4_qualifying_amount_rounds_half_up_42_50_to_43_and_42_49_to_42() -> None:
    """SM-4: "Rounded to the nearest whole number, halves up ($42.50 → 43, $42.49 → 42)." """
    result = replay(
        enroll(WINTER_ENROLL),
        enroll("2024-03-04T09:01:00-05:00", "m2", **OTHER),
        purchase("2024-03-04T10:00:00-05:00", "o1", "42.50"),
        purchase("2024-03-04T10:01:00-05:00", "o2", "42.49", member_id="m2"),
        tick("2024-03-07T10:01:00-05:00"),
    )
    assert result["rejected"] == []
    assert points(member(result, "m1")) == (43, 0)
    assert points(member(result, "m2")) == (42, 0)
    assert member(result, "m1")["qualifying_spend"] == "42.50"
    assert member(result, "m2")["qualifying_spend"] == "42.49"


def test_SM_4_excludes_shipping_tax_gift_cards_promotional_items_and_exchanges() -> None:
    """SM-4: "1 point per $1 of qualifying merchandise ... before shipping and tax; excluding gift
    cards, promotional items and previously purchased merchandise (exchanges)." """
    summary = m1(
        enroll(WINTER_ENROLL),
        purchase(
            "2024-03-04T10:00:00-05:00",
            "o1",
            lines=[
                line("A", "57.99"),
                line("G", "50.00", "gift_card"),
                line("P", "10.00", "promotional"),
                line("X", "20.00", "exchange"),
            ],
            shipping="5.00",
            tax="4.10",
        ),
    )
    assert points(summary) == (0, 58)
    assert summary["qualifying_spend"] == "57.99"


def test_SM_4_one_point_per_dollar_in_every_tier() -> None:
    """SM-4: "1 point per $1 of qualifying merchandise, all tiers"."""
    events = [
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "600.00"),
    ]
    assert m1(*events)["tier"] == "platinum"
    summary = m1(*events, purchase("2024-03-04T11:00:00-05:00", "o2", "100.40"))
    assert points(summary) == (0, 700)


# --- SM-5 identification and retro-credit ---------------------------------------------------------


def test_SM_5_purchase_without_member_earns_nothing() -> None:
    """SM-5: "The member must be identified ... otherwise nothing is earned"."""
    summary = m1(
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "40.00", member_id=None),
        tick("2024-03-08T10:00:00-05:00"),
    )
    assert points(summary) == (0, 0)
    assert summary["qualifying_spend"] == "0.00"


def test_SM_5_purchase_naming_unknown_member_is_rejected() -> None:
    """§2: "A purchase that names an unknown member is rejected." """
    result = replay(
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "40.00", member_id="nobody"),
    )
    error = errors(result)[2].lower()
    assert "unknown" in error or "not found" in error or "nobody" in error


def test_SM_5_retro_credit_attaches_the_purchase_pending_from_the_request() -> None:
    """SM-5: "a retro-credit request for that order can attach it later"; §2: "its points are
    then pending from the request". Request Mon 2024-03-11 09:00 → Tue, Wed, Thu 03-14 09:00
    (counted from the purchase they would already be available on Fri 03-08)."""
    events = [
        enroll(WINTER_ENROLL),
        purchase("2024-03-05T11:00:00-05:00", "o1", "40.00", member_id=None),
        retro_credit("2024-03-11T09:00:00-04:00", "o1"),
    ]
    summary = m1(*events)
    assert points(summary) == (0, 40)
    assert summary["qualifying_spend"] == "40.00"
    assert points(m1(*events, tick("2024-03-14T08:59:59-04:00"))) == (0, 40)
    assert points(m1(*events, tick("2024-03-14T09:00:00-04:00"))) == (40, 0)


def test_SM_5_retro_credited_points_are_earned_on_the_purchase_date() -> None:
    """§2: "The date points are **earned** is the date of the purchase ..., whatever their pending
    period; lifetimes count from it." SM-7: usable through the anniversary date."""
    events = [
        enroll(WINTER_ENROLL),
        purchase("2024-03-05T11:00:00-05:00", "o1", "40.00", member_id=None),
        retro_credit("2024-03-11T09:00:00-04:00", "o1"),
    ]
    assert points(m1(*events, tick("2025-03-05T23:59:59-05:00"))) == (40, 0)
    assert points(m1(*events, tick("2025-03-06T00:00:00-05:00"))) == (0, 0)


def test_SM_5_retro_credit_rejected_for_purchase_older_than_enrollment() -> None:
    """SM-5: "... if the purchase is not older than the enrollment." FAQ: "Only transactions made
    after you have signed up for the Love Soma Rewards program are eligible for Points." """
    result = replay(
        purchase("2024-03-01T12:00:00-05:00", "o1", "40.00", member_id=None),
        enroll(WINTER_ENROLL),
        retro_credit("2024-03-05T10:00:00-05:00", "o1"),
        tick("2024-03-11T10:00:00-04:00"),
    )
    assert list(errors(result)) == [3]
    assert "enrol" in errors(result)[3].lower()
    summary = member(result, "m1")
    assert points(summary) == (0, 0)
    assert summary["qualifying_spend"] == "0.00"


# --- SM-6 pending business days -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "bought", "due", "just_before"),
    [
        # Fri; Mon 11-11 is Veterans Day: Tue 12, Wed 13, Thu 14
        (
            "store",
            "2024-11-08T10:00:00-05:00",
            "2024-11-14T10:00:00-05:00",
            "2024-11-14T09:59:59-05:00",
        ),
        # Wed; Thu 11-28 Thanksgiving: Fri 29 (not a federal holiday), Mon 12-02, Tue 12-03
        (
            "outlet",
            "2024-11-27T15:00:00-05:00",
            "2024-12-03T15:00:00-05:00",
            "2024-12-03T14:59:59-05:00",
        ),
        # Fri before DST starts (03-10): Mon, Tue, Wed 03-13, same local time 10:00 EDT
        (
            "store",
            "2024-03-08T10:00:00-05:00",
            "2024-03-13T10:00:00-04:00",
            "2024-03-13T09:59:59-04:00",
        ),
        # Wed; Sat 2026-07-04 is observed Fri 07-03: Thu 02, Mon 06, Tue 07
        (
            "store",
            "2026-07-01T10:00:00-04:00",
            "2026-07-07T10:00:00-04:00",
            "2026-07-07T09:59:59-04:00",
        ),
        # Tue; one-off closures 12-24 / 12-26-2025 are business days: Wed 24, Fri 26, Mon 29
        (
            "store",
            "2025-12-23T10:00:00-05:00",
            "2025-12-29T10:00:00-05:00",
            "2025-12-29T09:59:59-05:00",
        ),
    ],
    ids=["veterans-day", "thanksgiving-outlet", "dst", "observed-july-4", "no-one-off-closures"],
)
def test_SM_6_boutique_and_outlet_points_pending_3_business_days_from_purchase(
    channel: str, bought: str, due: str, just_before: str
) -> None:
    """SM-6: "Points are pending for 3 business days (US federal holidays excluded): from the
    purchase in boutiques and outlets". §2: "the same local time of day on the Nth business day
    ... the eleven annual federal holidays of 5 U.S.C. 6103 on their observed dates; not one-off
    closures"."""
    enrolled = bought[:11] + "08:00:00" + bought[19:]
    events = [enroll(enrolled), purchase(bought, "o1", "40.00", channel=channel)]
    assert points(m1(*events)) == (0, 40)
    assert points(m1(*events, tick(just_before))) == (0, 40)
    assert points(m1(*events, tick(due))) == (40, 0)


def test_SM_6_online_points_pending_3_business_days_from_shipment() -> None:
    """SM-6: "from the **shipment** for online and phone orders." Shipped Mon 2024-12-30 09:00:
    Tue 31, (Wed 01-01 New Year's Day), Thu 01-02, Fri 01-03 09:00."""
    events = [
        enroll("2024-12-20T09:00:00-05:00"),
        purchase("2024-12-20T12:00:00-05:00", "o1", "60.00", channel="online"),
        tick("2024-12-27T12:00:00-05:00"),  # past 3 business days from the order
    ]
    assert points(m1(*events)) == (0, 60)
    events.append(shipment("2024-12-30T09:00:00-05:00", "o1"))
    assert points(m1(*events, tick("2025-01-03T08:59:59-05:00"))) == (0, 60)
    assert points(m1(*events, tick("2025-01-03T09:00:00-05:00"))) == (60, 0)


def test_SM_6_phone_points_pending_from_shipment_skipping_juneteenth() -> None:
    """SM-6: "from the **shipment** for online and phone orders". Shipped Mon 2024-06-17 14:00:
    Tue 18, (Wed 19 Juneteenth), Thu 20, Fri 21 14:00."""
    events = [
        enroll("2024-06-10T09:00:00-04:00"),
        purchase("2024-06-10T10:00:00-04:00", "o1", "50.00", channel="phone"),
        tick("2024-06-14T10:00:00-04:00"),
    ]
    assert points(m1(*events)) == (0, 50)
    events.append(shipment("2024-06-17T14:00:00-04:00", "o1"))
    assert points(m1(*events, tick("2024-06-21T13:59:59-04:00"))) == (0, 50)
    assert points(m1(*events, tick("2024-06-21T14:00:00-04:00"))) == (50, 0)


def test_SM_6_unshipped_online_order_stays_pending() -> None:
    """SM-6: online points are pending "from the **shipment**": no shipment, no points."""
    summary = m1(
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "70.00", channel="online"),
        tick("2024-05-01T00:00:00-04:00"),
    )
    assert points(summary) == (0, 70)
    assert summary["reward_balance"] == "0.00"


# --- SM-7 expiry ----------------------------------------------------------------------------------


def test_SM_7_points_usable_through_the_anniversary_date() -> None:
    """SM-7: "Points expire one year after the date they were earned (usable through the
    anniversary date)". §8: `expiring_this_month` is what will expire before the end of the
    current calendar month."""
    events = [
        enroll("2024-03-15T09:00:00-04:00"),
        purchase("2024-03-15T14:00:00-04:00", "o1", "40.00"),  # available Wed 03-20
    ]
    s = m1(*events, tick("2025-02-28T12:00:00-05:00"))
    assert (s["points"]["available"], s["points"]["expiring_this_month"]) == (40, 0)
    s = m1(*events, tick("2025-03-01T00:00:00-05:00"))
    assert (s["points"]["available"], s["points"]["expiring_this_month"]) == (40, 40)
    s = m1(*events, tick("2025-03-15T23:59:59-04:00"))
    assert s["points"]["available"] == 40
    s = m1(*events, tick("2025-03-16T00:00:00-04:00"))
    assert (s["points"]["available"], s["points"]["expiring_this_month"]) == (0, 0)
    assert s["points"]["lifetime_earned"] == 40


def test_SM_7_each_purchase_expires_on_its_own_anniversary() -> None:
    """SM-7: "Points expire one year after the date they were earned"."""
    events = [
        enroll("2024-03-15T09:00:00-04:00"),
        purchase("2024-03-15T14:00:00-04:00", "o1", "40.00"),
        purchase("2024-06-10T10:00:00-04:00", "o2", "30.00"),
    ]
    assert points(m1(*events, tick("2025-03-16T00:00:00-04:00"))) == (30, 0)
    assert points(m1(*events, tick("2025-06-10T23:59:59-04:00"))) == (30, 0)
    assert points(m1(*events, tick("2025-06-11T00:00:00-04:00"))) == (0, 0)


def test_SM_7_points_turned_into_a_reward_do_not_expire() -> None:
    """SM-7: "Points expire one year after ... unless they were turned into a reward." """
    events = [
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "130.00"),
        tick("2025-03-05T00:00:00-05:00"),
    ]
    summary = m1(*events)
    assert points(summary) == (0, 0)
    assert summary["reward_balance"] == "0.00"
    eng = engine(*events)
    expired = [abs(e.points) for e in eng.ledger("m1") if e.kind == "expire"]
    assert sum(expired) == 5  # only the 5 points left over, not the 125 converted


# --- SM-8 conversion and monthly certificates -----------------------------------------------------


def test_SM_8_every_125_points_become_5_dollars() -> None:
    """SM-8: "Every 125 available points turn into $5 of rewards at once"."""
    events = [
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "130.00"),
    ]
    s = m1(*events, tick("2024-03-07T09:59:59-05:00"))  # still pending: nothing converts
    assert (points(s), s["reward_balance"]) == ((0, 130), "0.00")
    s = m1(*events, tick("2024-03-07T10:00:00-05:00"))
    assert (points(s), s["reward_balance"]) == ((5, 0), "5.00")
    assert s["points"]["lifetime_earned"] == 130
    assert s["certificates"] == []


def test_SM_8_several_steps_convert_at_once_across_purchases() -> None:
    """SM-8: "Every 125 available points turn into $5 of rewards at once"."""
    events = [
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "260.00"),
        tick("2024-03-07T10:00:00-05:00"),
    ]
    s = m1(*events)
    assert (points(s), s["reward_balance"]) == ((10, 0), "10.00")
    events += [purchase("2024-03-11T10:00:00-04:00", "o2", "115.00")]
    s = m1(*events, tick("2024-03-14T10:00:00-04:00"))
    assert (points(s), s["reward_balance"]) == ((0, 0), "15.00")


def test_SM_8_faq_example_40_dollars_give_a_30_certificate_and_10_roll_over() -> None:
    """SM-8: "Rewards are issued **monthly** (1st of the month) as one certificate of at most
    **$30**; the rest rolls over to the next issuance." FAQ: "If you accrue $40 in Rewards ...
    you'll be issued a $30 Reward, and the remaining balance of your Rewards ($10) will be rolled
    over to the following issuance." Certificates are usable through issue date + 60 days."""
    events = [
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "1000.00"),
        tick("2024-03-07T10:00:00-05:00"),
    ]
    s = m1(*events)
    assert (points(s), s["reward_balance"], s["certificates"]) == ((0, 0), "40.00", [])
    s = m1(*events, tick("2024-03-31T23:59:59-04:00"))
    assert s["certificates"] == []
    first = {"kind": "reward", "amount": "30.00", "status": "issued", "expires_on": "2024-05-31"}
    s = m1(*events, tick("2024-04-01T00:00:00-04:00"))
    assert strip_codes(s["certificates"]) == [first]
    assert s["reward_balance"] == "10.00"
    s = m1(*events, tick("2024-05-01T00:00:00-04:00"))
    second = {"kind": "reward", "amount": "10.00", "status": "issued", "expires_on": "2024-06-30"}
    assert strip_codes(s["certificates"]) == [first, second]
    assert s["reward_balance"] == "0.00"
    codes = [c["code"] for c in s["certificates"]]
    assert all(codes) and len(set(codes)) == 2
    s = m1(*events, tick("2024-06-01T00:00:00-04:00"))  # nothing left to issue
    assert len(s["certificates"]) == 2


def test_SM_8_certificate_usable_through_issue_date_plus_60_days() -> None:
    """SM-8: "Certificates carry a unique code and an expiry date (usable through the issue date
    + **60 days**)". §2: "A 'valid through' date is inclusive"."""
    events = [
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "750.00"),
    ]
    s = m1(*events, tick("2024-05-31T23:59:59-04:00"))
    assert [(c["amount"], c["status"], c["expires_on"]) for c in s["certificates"]] == [
        ("30.00", "issued", "2024-05-31")
    ]
    s = m1(*events, tick("2024-06-01T00:00:00-04:00"))
    statuses = [(c["status"], c["expires_on"]) for c in s["certificates"]]
    assert statuses == [("expired", "2024-05-31")]


def test_SM_8_a_certificate_is_delivered_per_the_members_preference() -> None:
    """SM-8: certificates "are delivered by email or mail per the member's preference": the notice
    of an issued certificate names its code, amount, delivery and expiry."""
    eng = engine(
        enroll(WINTER_ENROLL, delivery="mail"),
        purchase("2024-03-04T10:00:00-05:00", "o1", "130.00"),
        tick("2024-04-01T00:00:00-04:00"),
    )
    (certificate,) = eng.certificates("m1")
    notices = [n.data for n in eng.notifications("m1") if n.kind == "certificate_issued"]
    assert notices == [
        {
            "code": certificate.code,
            "amount": "5.00",
            "delivery": "mail",
            "expires_on": "2024-05-31",
        }
    ]


def test_SM_8_no_certificate_without_reward_balance() -> None:
    """SM-8: rewards come from 125-point steps; 100 points give no reward and no certificate."""
    s = m1(
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "100.00"),
        tick("2024-04-01T00:00:00-04:00"),
    )
    assert (points(s), s["reward_balance"], s["certificates"]) == ((100, 0), "0.00", [])


def test_SM_8_oldest_expiring_points_convert_first() -> None:
    """SM-8: "Every 125 available points turn into $5 of rewards at once (oldest-expiring points
    first)." Lot A (100, earned 03-04) is used up; 75 of lot B (earned 03-11) remain."""
    events = [
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "100.00"),
        purchase("2024-03-11T10:00:00-04:00", "o2", "100.00"),
        tick("2024-03-14T10:00:00-04:00"),
    ]
    s = m1(*events)
    assert (points(s), s["reward_balance"]) == ((75, 0), "5.00")
    assert points(m1(*events, tick("2025-03-05T00:00:00-05:00"))) == (75, 0)
    assert points(m1(*events, tick("2025-03-12T00:00:00-04:00"))) == (0, 0)


# --- SM-9 certificate redemption ------------------------------------------------------------------

CERT_BASE = [
    enroll(WINTER_ENROLL),
    purchase("2024-03-04T11:00:00-05:00", "o1", "750.00"),  # 750 points = 6 steps = $30
    tick("2024-04-01T00:00:00-04:00"),  # one $30 certificate, expires 2024-05-31
]


def certificate_code() -> str:
    certificates = m1(*CERT_BASE)["certificates"]
    assert strip_codes(certificates) == [
        {"kind": "reward", "amount": "30.00", "status": "issued", "expires_on": "2024-05-31"}
    ]
    code: str = certificates[0]["code"]
    return code


def test_SM_9_certificate_is_redeemed_once_and_its_amount_earns_nothing() -> None:
    """SM-9: "A certificate is redeemed once, by its code, before its expiry; a used ... code is
    rejected with the matching reason ... Points are not earned on the amount paid with a
    certificate." SM-4: "after all discounts including reward certificates"."""
    code = certificate_code()
    result = replay(
        *CERT_BASE,
        purchase("2024-04-10T12:00:00-04:00", "o2", "80.00", tenders=[certificate(code, "30.00")]),
        purchase("2024-04-11T12:00:00-04:00", "o3", "40.00", tenders=[certificate(code, "30.00")]),
    )
    assert list(errors(result)) == [5]
    assert "redeemed" in errors(result)[5].lower()
    summary = member(result, "m1")
    assert points(summary) == (0, 50)
    assert summary["qualifying_spend"] == "800.00"
    assert [c["status"] for c in summary["certificates"]] == ["redeemed"]


def test_SM_9_certificate_usable_on_its_last_day() -> None:
    """SM-9: "redeemed once, by its code, before its expiry"; usable through expires_on."""
    code = certificate_code()
    summary = m1(
        *CERT_BASE,
        purchase("2024-05-31T20:00:00-04:00", "o2", "30.00", tenders=[certificate(code, "30.00")]),
    )
    assert [c["status"] for c in summary["certificates"]] == ["redeemed"]
    assert points(summary) == (0, 0)


def test_SM_9_expired_certificate_is_rejected() -> None:
    """SM-9: "a used, expired or unknown code is rejected with the matching reason"."""
    code = certificate_code()
    result = replay(
        *CERT_BASE,
        purchase("2024-06-01T09:00:00-04:00", "o2", "80.00", tenders=[certificate(code, "30.00")]),
        tick("2024-06-10T09:00:00-04:00"),
    )
    assert list(errors(result)) == [4]
    assert "expired" in errors(result)[4].lower()
    summary = member(result, "m1")
    assert points(summary) == (0, 0)
    assert summary["qualifying_spend"] == "750.00"
    assert [c["status"] for c in summary["certificates"]] == ["expired"]


def test_SM_9_unknown_certificate_code_is_rejected() -> None:
    """SM-9: "a used, expired or unknown code is rejected with the matching reason"."""
    result = replay(
        *CERT_BASE,
        purchase(
            "2024-04-10T12:00:00-04:00", "o2", "80.00", tenders=[certificate("NO-SUCH", "30.00")]
        ),
        tick("2024-04-20T12:00:00-04:00"),
    )
    assert list(errors(result)) == [4]
    assert "unknown" in errors(result)[4].lower()
    summary = member(result, "m1")
    assert points(summary) == (0, 0)
    assert [c["status"] for c in summary["certificates"]] == ["issued"]


def test_SM_9_a_purchase_without_its_member_gets_one_answer_for_a_certificate() -> None:
    """SM-9: a certificate is the member's; on a purchase that names no member it is refused
    with the same reason whether or not the member's certificate of the month was issued yet
    (the issuing job runs when the member is next touched), never "unknown" for a real code."""
    code = certificate_code()
    anonymous = purchase(
        "2024-04-10T12:00:00-04:00",
        "o2",
        "80.00",
        member_id=None,
        tenders=[certificate(code, "30.00")],
    )
    untouched = replay(*CERT_BASE, anonymous)
    touched = replay(*CERT_BASE, purchase("2024-04-05T12:00:00-04:00", "o9", "10.00"), anonymous)
    assert list(errors(untouched)) == [4] and list(errors(touched)) == [5]
    assert errors(untouched)[4] == errors(touched)[5]
    assert "member" in errors(untouched)[4] and "unknown" not in errors(untouched)[4]


def test_SM_9_lost_certificate_is_looked_up_by_member_identity() -> None:
    """SM-9: "A lost certificate can be looked up by the member's identity; it is not
    re-issued." """
    code = certificate_code()
    eng = engine(*CERT_BASE)
    found = eng.find_member(phone=PERSON["phone"])
    assert found == "m1"
    assert [c["code"] for c in eng.summary(found)["certificates"]] == [code]
    out = eng.apply(
        purchase("2024-04-10T12:00:00-04:00", "o2", "80.00", tenders=[certificate(code, "30.00")])
    )
    assert out.accepted, out.error
    assert [c["status"] for c in eng.summary("m1")["certificates"]] == ["redeemed"]


# --- SM-10 returns --------------------------------------------------------------------------------


def test_SM_10_return_takes_points_from_the_returned_purchase_first() -> None:
    """SM-10: "Returns deduct points (§2)". §2: "A reversal ... takes points back from the lots
    that the reversed purchase created, while they still hold points (pending or available)"."""
    summary = m1(
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "100.00"),  # available Thu 03-07
        purchase("2024-03-08T10:00:00-05:00", "o2", "50.00"),  # pending until Wed 03-13
        give_back("2024-03-08T12:00:00-05:00", "o2", "r1", ("S1", "50.00")),
    )
    assert points(summary) == (100, 0)
    assert summary["qualifying_spend"] == "100.00"


def test_SM_10_return_recomputes_the_order_with_half_up_rounding() -> None:
    """§2: "A return is computed by recomputing the order without the returned lines ... the
    differences in points and in qualifying amount are reversed." $40.60 → 41; $20.30 → 20."""
    summary = m1(
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "20.30", "20.30"),
        give_back("2024-03-05T10:00:00-05:00", "o1", "r1", ("S2", "20.30")),
    )
    assert points(summary) == (0, 20)
    assert summary["qualifying_spend"] == "20.30"


def test_SM_10_return_reduces_unissued_reward_balance_in_5_dollar_steps() -> None:
    """SM-10: "If the available points cannot cover it, the pending (not yet issued) reward
    balance is reduced by as many $5 steps as needed (each step gives back 125 points; what the
    last step gives beyond the need stays as points)". 30 points needed: one step, 95 stay."""
    events = [
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "100.00", "30.00"),
        purchase("2024-03-04T11:00:00-05:00", "o2", "120.00"),
        tick("2024-03-07T11:00:00-05:00"),
    ]
    s = m1(*events)
    assert (points(s), s["reward_balance"]) == ((0, 0), "10.00")
    s = m1(*events, give_back("2024-03-08T10:00:00-05:00", "o1", "r1", ("S2", "30.00")))
    assert (points(s), s["reward_balance"]) == ((95, 0), "5.00")
    assert s["status"] == "active"
    assert s["qualifying_spend"] == "220.00"


def test_SM_10_returns_exhaust_reward_balance_then_go_negative_member_stays_active() -> None:
    """SM-10: "if the reward balance is exhausted too, the points balance goes negative (the
    member stays active). Issued certificates stay valid." §2: "A negative balance is a debt that
    the next points to become available pay first." """
    events = [
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "130.00", "70.00"),  # 200: $5 + 75 points
        tick("2024-04-01T00:00:00-04:00"),  # $5 certificate issued
        purchase("2024-04-02T10:00:00-04:00", "o2", "50.00"),  # Fri 04-05: 75 + 50 = $5
        tick("2024-04-05T10:00:00-04:00"),
    ]
    s = m1(*events)
    assert (points(s), s["reward_balance"]) == ((0, 0), "5.00")
    # 200 points back: the $5 step gives 125, 75 are missing
    both = (("S1", "130.00"), ("S2", "70.00"))
    events.append(give_back("2024-04-08T10:00:00-04:00", "o1", "r1", *both))
    s = m1(*events)
    assert (points(s), s["reward_balance"]) == ((-75, 0), "0.00")
    assert s["status"] == "active"
    assert strip_codes(s["certificates"]) == [
        {"kind": "reward", "amount": "5.00", "status": "issued", "expires_on": "2024-05-31"}
    ]
    assert s["qualifying_spend"] == "50.00"
    events.append(purchase("2024-04-09T10:00:00-04:00", "o3", "100.00"))  # available Fri 04-12
    s = m1(*events, tick("2024-04-12T10:00:00-04:00"))
    assert (points(s), s["reward_balance"]) == ((25, 0), "0.00")


def test_SM_10_return_of_line_not_in_order_or_already_returned_is_rejected() -> None:
    """§2: "A line is returned at most once; a return naming a line that is not in the order, or
    that was already returned, is rejected." """
    result = replay(
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "40.00", "20.00"),
        give_back("2024-03-05T10:00:00-05:00", "o1", "r1", ("S2", "20.00")),
        give_back("2024-03-05T11:00:00-05:00", "o1", "r2", ("S2", "20.00")),
        give_back("2024-03-05T12:00:00-05:00", "o1", "r3", ("ZZ", "5.00")),
    )
    assert list(errors(result)) == [4, 5]
    summary = member(result, "m1")
    assert points(summary) == (0, 40)
    assert summary["qualifying_spend"] == "40.00"


# --- SM-11 campaigns and birthday gift ------------------------------------------------------------

BIRTHDAY_GIFT = {"kind": "birthday_gift", "amount": None, "status": "issued"}
MARCH = ("2024-03-01T00:00:00-05:00", "2024-03-31T23:59:59-04:00")


def test_SM_11_double_points_event() -> None:
    """SM-11: "Double- and bonus-points events (campaigns)"; §2: points = qualifying whole units
    × tier rate × campaign multiplier. Campaigns never change the qualifying spend."""
    events = [
        campaign(MARCH[0], "dbl", *MARCH, multiplier="2"),
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "40.00"),
    ]
    s = m1(*events)
    assert (points(s), s["qualifying_spend"]) == ((0, 80), "40.00")
    s = m1(*events, purchase("2024-04-02T10:00:00-04:00", "o2", "40.00"))  # after the event
    assert (points(s), s["qualifying_spend"]) == ((80, 40), "80.00")


def test_SM_11_combinable_campaigns_multiply_and_bonus_points_add() -> None:
    """§2: "those marked combinable all apply (multipliers multiply, bonus points add; multipliers
    never scale bonus points)". $40 × 2 × 3 + 10 + 20 = 270."""
    s = m1(
        campaign(MARCH[0], "x2", *MARCH, multiplier="2", combinable=True),
        campaign(MARCH[0], "x3", *MARCH, multiplier="3", combinable=True),
        campaign(MARCH[0], "b10", *MARCH, bonus_points=10, combinable=True),
        campaign(MARCH[0], "b20", *MARCH, bonus_points=20, combinable=True),
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "40.00"),
    )
    assert points(s) == (0, 270)


def test_SM_11_non_combinable_campaigns_only_the_best_one_applies() -> None:
    """§2: "among the others only the single one giving the most points applies". ×2 vs +50:
    $40 → max(80, 90) = 90; $100 → max(200, 150) = 200."""
    events = [
        campaign(MARCH[0], "x2", *MARCH, multiplier="2"),
        campaign(MARCH[0], "b50", *MARCH, bonus_points=50),
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "40.00"),
    ]
    assert points(m1(*events)) == (0, 90)
    events.append(purchase("2024-03-04T11:00:00-05:00", "o2", "100.00"))
    assert points(m1(*events)) == (0, 290)


def test_SM_11_combinable_campaigns_apply_with_the_best_non_combinable_one() -> None:
    """§2: "those marked combinable all apply ...; among the others only the single one giving
    the most points applies." $40: +10 (combinable) with ×3 (best of ×2, ×3) = 130."""
    s = m1(
        campaign(MARCH[0], "b10", *MARCH, bonus_points=10, combinable=True),
        campaign(MARCH[0], "x2", *MARCH, multiplier="2"),
        campaign(MARCH[0], "x3", *MARCH, multiplier="3"),
        enroll(WINTER_ENROLL),
        purchase("2024-03-04T10:00:00-05:00", "o1", "40.00"),
    )
    assert points(s) == (0, 130)


def test_SM_11_campaign_applies_only_at_min_spend_and_on_its_channels() -> None:
    """§2: "Campaigns that apply to a purchase (inside its window, on its channels, qualifying
    amount at least its `min_spend`)". $49.99 earns 50 but is below the $50 minimum."""
    result = replay(
        campaign(MARCH[0], "b25", *MARCH, bonus_points=25, min_spend="50.00", channels=["store"]),
        enroll(WINTER_ENROLL),
        enroll("2024-03-04T09:01:00-05:00", "m2", **OTHER),
        enroll("2024-03-04T09:02:00-05:00", "m3", **THIRD),
        purchase("2024-03-04T10:00:00-05:00", "o1", "49.99"),
        purchase("2024-03-04T10:01:00-05:00", "o2", "50.00", member_id="m2"),
        purchase("2024-03-04T10:02:00-05:00", "o3", "60.00", member_id="m3", channel="online"),
    )
    assert result["rejected"] == []
    assert points(member(result, "m1")) == (0, 50)
    assert points(member(result, "m2")) == (0, 75)
    assert points(member(result, "m3")) == (0, 60)


def test_SM_11_birthday_gift_at_start_of_birth_month_for_email_opt_in() -> None:
    """SM-11: "a birthday gift (as SK-11)"; SK-11: "at the start of the birth month (program time
    zone), a member with a birth month and email opt-in gets a `birthday-gift` voucher (kind
    `birthday_gift`) valid through the end of that month"."""
    events = [
        enroll(WINTER_ENROLL, birth_month=5, email_opt_in=True),
        enroll("2024-03-04T09:01:00-05:00", "m2", birth_month=5, email_opt_in=False, **OTHER),
    ]
    result = replay(*events, tick("2024-04-30T23:59:59-04:00"))
    assert member(result, "m1")["certificates"] == []
    result = replay(*events, tick("2024-05-01T00:00:00-04:00"))
    gift = {**BIRTHDAY_GIFT, "expires_on": "2024-05-31"}
    assert strip_codes(member(result, "m1")["certificates"]) == [gift]
    assert member(result, "m2")["certificates"] == []
    result = replay(*events, tick("2024-06-01T00:00:00-04:00"))
    assert [c["status"] for c in member(result, "m1")["certificates"]] == ["expired"]


def test_SM_11_birthday_gift_at_enrollment_in_birth_month_and_once_per_year() -> None:
    """SK-11 (via SM-11): "once per calendar year (a member who enrolls during the birth month
    gets it at enrollment)"."""
    events = [enroll("2024-05-10T10:00:00-04:00", birth_month=5, email_opt_in=True)]
    gift_2024 = {**BIRTHDAY_GIFT, "expires_on": "2024-05-31"}
    assert strip_codes(m1(*events)["certificates"]) == [gift_2024]
    assert len(m1(*events, tick("2024-12-31T12:00:00-05:00"))["certificates"]) == 1
    s = m1(*events, tick("2025-05-01T00:00:00-04:00"))
    assert strip_codes(s["certificates"]) == [
        {**gift_2024, "status": "expired"},
        {**BIRTHDAY_GIFT, "expires_on": "2025-05-31"},
    ]


def test_SM_11_rewards_combine_with_coupons_and_sales() -> None:
    """SM-11: "rewards combine with coupons and sales." SM-4: points "after all discounts
    including reward certificates": a sale line of $45 and a couponed line of $25 paid partly with
    a $30 certificate earn 40."""
    cert = certificate(certificate_code(), "30.00")
    summary = m1(
        *CERT_BASE,
        purchase("2024-04-10T12:00:00-04:00", "o2", "45.00", "25.00", tenders=[cert]),
    )
    assert points(summary) == (0, 40)
    assert [c["status"] for c in summary["certificates"]] == ["redeemed"]


# --- SM-12 benefits -------------------------------------------------------------------------------


def test_SM_12_free_shipping_for_gold_and_platinum() -> None:
    """SM-12: "Benefits: free shipping for gold and platinum"."""
    eng = engine(enroll("2024-02-01T10:00:00-05:00"))
    assert eng.benefits("m1") == []
    eng.apply(purchase("2024-02-05T10:00:00-05:00", "o1", "250.00"))
    assert eng.summary("m1")["tier"] == "gold"
    assert eng.benefits("m1") == ["free_shipping"]
    eng.apply(purchase("2024-02-06T10:00:00-05:00", "o2", "250.00"))
    assert eng.summary("m1")["tier"] == "platinum"
    assert eng.benefits("m1") == ["free_shipping"]
    eng.apply(tick("2026-01-01T00:00:00-05:00"))  # no 2025 spend: back to preferred
    assert eng.summary("m1")["tier"] == "preferred"
    assert eng.benefits("m1") == []


def test_SM_2_linking_online_needs_only_the_boutique_number() -> None:
    """SM-2: "A member number issued in a boutique can be linked when the member registers
    online". The account already holds SM-1's enrollment fields, so the online registration gives
    the number (and its login email) only; points from both channels land on one account."""
    engine = Engine(load_program("soma"))
    assert engine.apply(enroll("2024-03-01T10:00:00-05:00", "boutique-1")).accepted
    number = engine.member_number("boutique-1")
    lines = [
        json.dumps(enroll("2024-03-01T10:00:00-05:00", "boutique-1")),
        json.dumps(
            {
                "type": "enroll",
                "at": "2024-03-02T10:00:00-05:00",
                "member": "web-1",
                "email": "web@example.com",
                "member_number": number,
            }
        ),
        json.dumps(
            {
                "type": "purchase",
                "at": "2024-03-04T10:00:00-05:00",
                "member": "web-1",
                "order": "o1",
                "channel": "store",
                "lines": [{"sku": "A", "amount": "42.50"}],
            }
        ),
        json.dumps({"type": "tick", "at": "2024-03-08T10:00:00-05:00"}),
    ]
    result = run("soma", "\n".join(lines))
    assert result["rejected"] == []
    assert list(result["members"]) == ["boutique-1"]
    assert member(result, "boutique-1")["points"]["available"] == 43
