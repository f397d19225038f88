"""Time-driven work, run as a member's clock advances past its due moments, in time order:
expiry (end of the last valid day), maturing of pending points (which pay any debt first),
conversion into rewards (SM-8, at once), and on the 1st of each month (program time zone):
January requalification (SG-2, SM-3), monthly certificate issuance (SM-8) and birthday gifts
(SK-11). Example (SM-8): 150 available points on 2024-04-20 become $5 of rewards and 25 points at
once; on 2024-05-01 00:00 a $5 certificate is issued, usable through 2024-06-30.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from loyalty.domain.calendar import local_date, month_end, next_month_start
from loyalty.domain.certificates import Certificate
from loyalty.domain.ledger import Lot
from loyalty.domain.member import Member, Notification
from loyalty.domain.tiers import requalify
from loyalty.programs.schema import Program

Issuer = Callable[[Member, str, Decimal | None, datetime, int], Certificate]


def has_monthly_work(program: Program) -> bool:
    return (
        program.tiers.window == "calendar_year"
        or program.conversion is not None
        or program.birthday is not None
    )


def next_due(member: Member) -> datetime | None:
    due = member.next_month_at
    for lot in member.wallet.lots:
        ready = lot.available_at
        if not lot.matured and ready is not None and (due is None or ready < due):
            due = ready
        ends = lot.expires_at
        if lot.remaining and ends is not None and (due is None or ends < due):
            due = ends
    return due


def convert(program: Program, member: Member, at: datetime) -> None:
    """SM-8: every ``step_points`` available points become ``step_value`` of rewards at once."""
    rule = program.conversion
    if rule is None or not member.enrolled:
        return
    steps = member.wallet.available // rule.step_points
    if steps > 0:
        member.wallet.debit(
            at,
            "convert",
            steps * rule.step_points,
            "conversion",
            note=f"{steps} x {rule.step_value}",
        )
        member.reward_balance += steps * rule.step_value


def birthday_gift(
    program: Program, member: Member, at: datetime, tz: ZoneInfo, issue: Issuer
) -> None:
    """SK-11: at the start of the birth month, once per calendar year, valid through its end."""
    rule = program.birthday
    profile = member.profile
    if rule is None or not member.enrolled or profile.get("birth_month") is None:
        return
    if rule.requires_email_opt_in and not profile.get("email_opt_in"):
        return
    day = local_date(at, tz)
    if day.month != profile["birth_month"] or day.year in member.birthday_years:
        return
    member.birthday_years.add(day.year)
    validity = (month_end(day) - day).days
    cert = issue(member, "birthday_gift", None, at, validity)
    member.notifications.append(Notification(at, "birthday_gift", {"code": cert.code}))


def monthly(program: Program, member: Member, at: datetime, tz: ZoneInfo, issue: Issuer) -> None:
    day = local_date(at, tz)
    if day.month == 1:
        requalify(program.tiers, member.tiers, day.year)
    rule = program.conversion
    if rule is not None and member.reward_balance > 0 and member.enrolled:
        amount = min(member.reward_balance, rule.cap)
        member.reward_balance -= amount
        issue(member, "reward", amount, at, rule.validity_days)
    birthday_gift(program, member, at, tz, issue)


def _maturing_order(lot: Lot) -> tuple[datetime | None, int]:
    return (lot.available_at, lot.id)


def advance(
    program_at: Callable[[datetime], Program],
    member: Member,
    until: datetime,
    tz: ZoneInfo,
    issue: Issuer,
    due: datetime | None = None,
) -> None:
    """Run every job due at or before ``until``, in time order (``due``: the member's
    ``next_due``, when the caller has it already)."""
    wallet = member.wallet
    if due is None:
        due = next_due(member)
    while due is not None and due <= until:
        program = program_at(due)
        maturing = []
        for lot in wallet.lots:
            ends = lot.expires_at
            if ends is not None and ends <= due and lot.remaining:
                wallet.expire(due, lot, local_date(lot.earned_at, tz))
            if not lot.matured:
                ready = lot.available_at
                if ready is not None and ready <= due:
                    maturing.append(lot)
        if len(maturing) > 1:
            maturing.sort(key=_maturing_order)
        for lot in maturing:
            wallet.mature(lot)
        wallet.prune()
        convert(program, member, due)
        if member.next_month_at is not None and member.next_month_at <= due:
            monthly(program, member, member.next_month_at, tz, issue)
            member.next_month_at = next_month_start(due + timedelta(seconds=1), tz)
        member.clock = due
        due = next_due(member)
    if until > member.clock:
        member.clock = until
