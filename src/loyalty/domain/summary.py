"""The member summary of SPEC §8: what replay prints and what the API and portal show.

``expiring_this_month`` is what expires before the end of the current calendar month;
``tier_valid_until`` is the last day of the current tier (null for the entry tier);
``qualifying_spend`` is the spend of the current tier period; ``lifetime_earned`` is the points
credited by purchases, bonuses, sign-up and actions, less the points reversed by returns and tier
reversals.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from loyalty.domain.calendar import local_date, next_month_start
from loyalty.domain.member import Member
from loyalty.domain.money import fmt
from loyalty.domain.rules import Rules
from loyalty.domain.tiers import period_spend, tier_on, valid_until

Day = tuple[date, datetime]


def summary_day(now: datetime, tz: ZoneInfo) -> Day:
    """``now``'s local date, and the start of the next local month (what expires before it
    expires this month)."""
    return local_date(now, tz), next_month_start(now, tz)


def status(program: Rules, member: Member) -> str:
    if not member.enrolled:
        return "not_enrolled"
    if program.negative_balance == "suspend" and member.wallet.available < 0:
        return "suspended"
    return "active"


def member_summary(
    program: Rules, member: Member, now: datetime, tz: ZoneInfo, day: Day | None = None
) -> dict[str, Any]:
    """``day``: ``now``'s local date and month end, when many members are summarised at once."""
    today, month_end = day if day is not None else summary_day(now, tz)
    rules = program.tiers
    tier = tier_on(rules, member.tiers, today)
    until = valid_until(rules, member.tiers, today)
    wallet = member.wallet
    expiring = sum(
        lot.remaining
        for lot in wallet.lots
        if lot.expires_at is not None and lot.expires_at <= month_end
    )
    return {
        "status": status(program, member),
        "tier": rules.levels[tier].id,
        "tier_valid_until": until.isoformat() if until else None,
        "points": {
            "available": wallet.available,
            "pending": wallet.pending,
            "expiring_this_month": expiring,
            "lifetime_earned": wallet.earned - member.reversed_points,
        },
        "qualifying_spend": fmt(period_spend(rules, member.tiers, today)),
        "reward_balance": fmt(member.reward_balance),
        "certificates": [
            {
                "code": c.code,
                "kind": c.kind,
                "amount": fmt(c.amount) if c.amount is not None else None,
                "status": c.status(today),
                "expires_on": c.expires_on.isoformat(),
            }
            for c in member.certificates
        ],
    }
