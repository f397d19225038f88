"""When earned points become available and when they expire (SK-5, SG-6, SM-6, SK-9, SG-10, SM-7).

Pending: ``hours`` (SK-5: a purchase at 2024-03-01 10:00 is available 2024-03-03 10:00);
``days`` (SG-6: 14 days later, same local time); ``business_days`` (SM-6: 3 US business days,
from the shipment for online and phone orders).

Expiry, always counted from the date earned: ``never`` (SK-9); ``years_after_earn`` (SM-7: earned
2024-03-15, usable through 2025-03-15, gone at 2025-03-16 00:00 local); ``month_end_after``
(SG-10: earned 2024-03-15, expire at the end of 2026-03-31).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo

from loyalty.domain.calendar import (
    add_business_days,
    add_local_days,
    add_years,
    end_of_day,
    hours_of,
    local_date,
    month_end,
)
from loyalty.domain.memo import remember
from loyalty.domain.rules import ExpiryRule, PendingRule


def available_at(rule: PendingRule, start: datetime, tz: ZoneInfo) -> datetime:
    kind, amount = rule.kind, rule.amount
    if kind == "none" or amount == 0:
        return start
    if kind == "hours":
        return start + hours_of(amount)
    if kind == "days":
        return add_local_days(start, amount, tz)
    return add_business_days(start, amount, rule.country, tz)


# (local day earned, kind, years or months, zone) -> expiry; every input of a day shares it
_EXPIRIES: Final[dict[tuple[date, str, int, ZoneInfo], datetime]] = {}


def expires_at(rule: ExpiryRule, earned: datetime, tz: ZoneInfo) -> datetime | None:
    kind = rule.kind
    if kind == "never":
        return None
    years = kind == "years_after_earn"
    key = (local_date(earned, tz), kind, rule.years if years else rule.months, tz)
    found = _EXPIRIES.get(key)
    if found is None:
        day, _, count, _ = key
        found = end_of_day(add_years(day, count) if years else month_end(day, count), tz)
        remember(_EXPIRIES, key, found, 65536)
    return found
