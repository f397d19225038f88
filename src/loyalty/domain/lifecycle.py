"""When earned points become available and when they expire (SK-5, SG-6, SM-6, SK-9, SG-10, SM-7).

Pending: ``hours`` (SK-5: a purchase at 2024-03-01 10:00 is available 2024-03-03 10:00);
``days`` (SG-6: 14 days later, same local time); ``business_days`` (SM-6: 3 US business days,
from the shipment for online and phone orders).

Expiry, always counted from the date earned: ``never`` (SK-9); ``years_after_earn`` (SM-7: earned
2024-03-15, usable through 2025-03-15, gone at 2025-03-16 00:00 local); ``month_end_after``
(SG-10: earned 2024-03-15, expire at the end of 2026-03-31).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from loyalty.domain.calendar import (
    add_business_days,
    add_local_days,
    add_years,
    end_of_day,
    local_date,
    month_end,
)
from loyalty.programs.schema import Expiry, Pending


def available_at(rule: Pending, start: datetime, tz: ZoneInfo) -> datetime:
    if rule.kind == "none" or rule.amount == 0:
        return start
    if rule.kind == "hours":
        return start + timedelta(hours=rule.amount)
    if rule.kind == "days":
        return add_local_days(start, rule.amount, tz)
    return add_business_days(start, rule.amount, rule.country, tz)


def expires_at(rule: Expiry, earned: datetime, tz: ZoneInfo) -> datetime | None:
    if rule.kind == "never":
        return None
    day = local_date(earned, tz)
    if rule.kind == "years_after_earn":
        return end_of_day(add_years(day, rule.years), tz)
    return end_of_day(month_end(day, rule.months), tz)
