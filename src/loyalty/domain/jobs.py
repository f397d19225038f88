"""Time-driven work, run as a member's clock advances past its due moments, in time order:
expiry (end of the last valid day), maturing of pending points (which pay any debt first),
conversion into rewards (SM-8, at once), and on the 1st of a month (program time zone):
January requalification (SG-2, SM-3), monthly certificate issuance (SM-8) and birthday gifts
(SK-11). Example (SM-8): 150 available points on 2024-04-20 become $5 of rewards and 25 points at
once; on 2024-05-01 00:00 a $5 certificate is issued, usable through 2024-06-30.

A member is due on the 1st of a month only when that month can do something for it
(``next_monthly``): the next January for a calendar-year tier window, the next month while it has
rewards waiting to be issued, the next birth month for a birthday gift. A SOGO member is thus due
once a year, not every month, unless its pending points mature in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from loyalty.domain.calendar import (
    end_of_day,
    first_of_next_month,
    local_date,
    month_end,
    next_month_start,
    start_of_day,
)
from loyalty.domain.certificates import Certificate
from loyalty.domain.ledger import Lot
from loyalty.domain.member import Member, Notification
from loyalty.domain.rules import Rules
from loyalty.domain.tiers import requalify, status_lapses

Issuer = Callable[[Member, str, Decimal | None, datetime, int], Certificate]


@dataclass(slots=True, init=False, unsafe_hash=True)  # frozen by ``Final``; see ``loyalty.domain``
class MonthlyWork:
    """What the 1st of a month can do in a program, over all its versions."""

    requalify: Final[bool]  # calendar-year tier window: every January
    issue: Final[bool]  # conversion: a certificate each month while rewards wait
    birthday: Final[bool]  # birthday gifts: each birth month

    def __init__(self, requalify: bool, issue: bool, birthday: bool) -> None:
        self.requalify = requalify
        self.issue = issue
        self.birthday = birthday


def monthly_work(versions: Iterable[Rules]) -> MonthlyWork | None:
    programs = list(versions)
    work = MonthlyWork(
        requalify=any(p.tiers.window == "calendar_year" for p in programs),
        issue=any(p.conversion is not None for p in programs),
        birthday=any(p.birthday is not None for p in programs),
    )
    return work if work.requalify or work.issue or work.birthday else None


def next_monthly(
    work: MonthlyWork | None, member: Member, after: datetime, tz: ZoneInfo
) -> datetime | None:
    """The first local midnight of a month strictly after ``after`` on which the monthly jobs may
    change ``member``; None if none ever can."""
    if work is None:
        return None
    first = first_of_next_month(local_date(after, tz))
    if work.issue and member.reward_balance > 0:
        return start_of_day(first, tz)
    best: date | None = None
    if work.requalify:
        best = first if first.month == 1 else date(first.year + 1, 1, 1)
    month = member.profile.get("birth_month") if work.birthday else None
    if month is not None:
        birthday = date(first.year if first.month <= month else first.year + 1, month, 1)
        best = birthday if best is None else min(best, birthday)
    return None if best is None else start_of_day(best, tz)


def reschedule(work: MonthlyWork | None, member: Member, after: datetime, tz: ZoneInfo) -> None:
    """After a change that may give the member monthly work sooner (rewards to issue, a birth
    month learnt): make it due then."""
    _due_by(member, next_monthly(work, member, after, tz))


def _due_by(member: Member, due: datetime | None) -> None:
    """Bring the member's monthly due moment forward to ``due`` (never back)."""
    if due is not None and (member.next_month_at is None or due < member.next_month_at):
        member.next_month_at = due


def tier_lapse(program: Rules, member: Member, at: datetime, tz: ZoneInfo) -> datetime | None:
    """The moment the member's tier as of ``at`` lapses (``tiers.status_lapses``): due work, so
    that ``loyalty jobs run`` writes the lower tier the reports count (SK-3)."""
    last = status_lapses(program.tiers, member.tiers, local_date(at, tz))
    return None if last is None else end_of_day(last, tz)


def refresh_tier_lapse(program: Rules, member: Member, tz: ZoneInfo) -> None:
    """``member.tier_lapse_at`` as of the member's clock (``tier_lapse``), after an input; kept
    as it is while the member's statuses are unchanged and that lapse is still ahead: on a later
    day before it, the tier held is the same (its status is still valid, and a higher one valid
    then would have been valid on the earlier day too), and so is its lapse; with no tier held,
    none is held later. Spares each of Soko's inputs ~3% of its cost. Only for a program of one
    version (``program`` always the same settings)."""
    tiers = member.tiers
    lapse = member.tier_lapse_at
    if tiers.lapse_of_changes == tiers.status_changes and (lapse is None or member.clock < lapse):
        return
    member.tier_lapse_at = tier_lapse(program, member, member.clock, tz)
    tiers.lapse_of_changes = tiers.status_changes


def next_due(member: Member) -> datetime | None:
    """The first moment the member has a job due: its monthly work, its tier's lapse, a lot to
    mature or to expire. Makes the wallet's ``due_floor`` exact on the way."""
    return _next_due(member, member.wallet.first_due())


def _next_due(member: Member, first: datetime | None) -> datetime | None:
    """``next_due``, given the lots' first due moment ``first``."""
    due = member.next_month_at
    lapse = member.tier_lapse_at
    if lapse is not None and (due is None or lapse < due):
        due = lapse
    if first is not None and (due is None or first < due):
        due = first
    return due


def next_due_by(member: Member, at: datetime) -> datetime | None:
    """``next_due(member)`` if it is at or before ``at``, else None: without a look at the lots
    when their ``due_floor`` is later (most inputs: at a year of history, ~5% of a replay went
    to looking at every lot of the member of each input), nor when it is exact
    (``Wallet.due_exact``)."""
    floor = member.wallet.due_floor
    month = member.next_month_at
    lapse = member.tier_lapse_at
    if (
        (floor is None or floor > at)
        and (month is None or month > at)
        and (lapse is None or lapse > at)
    ):
        return None
    due = _next_due(member, member.wallet.lots_due())
    return due if due is not None and due <= at else None


def convert(program: Rules, member: Member, at: datetime, tz: ZoneInfo) -> None:
    """SM-8: every ``step_points`` available points become ``step_value`` of rewards at once,
    issued as a certificate on the next 1st of a month."""
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
        _due_by(member, next_month_start(at, tz))


def birthday_gift(
    program: Rules, member: Member, at: datetime, tz: ZoneInfo, issue: Issuer
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
    member.notifications.append(Notification(at, "birthday_gift", cert))  # its code


def monthly(program: Rules, member: Member, at: datetime, tz: ZoneInfo, issue: Issuer) -> None:
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
    rules_at: Callable[[datetime], Rules],
    member: Member,
    until: datetime,
    tz: ZoneInfo,
    issue: Issuer,
    work: MonthlyWork | None,
    due: datetime | None = None,
) -> None:
    """Run every job due at or before ``until``, in time order (``work``: the program's monthly
    work; ``due``: the member's ``next_due``, when the caller has it already)."""
    wallet = member.wallet
    if due is None:
        due = next_due(member)
    while due is not None and due <= until:
        program = rules_at(due)
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
        wallet.prune()  # ``due_floor``: the lots' first due moment, exact
        convert(program, member, due, tz)
        if member.next_month_at is not None and member.next_month_at <= due:
            monthly(program, member, member.next_month_at, tz, issue)
            member.next_month_at = next_monthly(work, member, due, tz)
        if member.tier_lapse_at is not None and member.tier_lapse_at <= due:
            member.tier_lapse_at = tier_lapse(program, member, due, tz)
        member.clock = due
        due = _next_due(member, wallet.lots_due())
    if until > member.clock:
        member.clock = until
