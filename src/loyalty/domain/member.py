"""The state of one member in one program, and of the orders it made.

The member is the unit of consistency: an input for a member changes only that member (and the
program-wide registries of orders, numbers and codes). ``checkpoint``/``restore`` undo the
time-driven jobs run for an input that is then rejected, so a rejected input changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from loyalty.domain.certificates import Certificate
from loyalty.domain.earning import CampaignRule
from loyalty.domain.ledger import UNKNOWN_DUE, Lot, Wallet
from loyalty.domain.money import UNIT, ZERO
from loyalty.domain.tiers import TierState


@dataclass(slots=True, eq=False, init=False)  # __init__ by hand: see ``loyalty.domain``
class OrderLine:
    sku: Final[str]
    amount: Final[Decimal]
    eligible: Final[bool]
    returned: bool

    def __init__(self, sku: str, amount: Decimal, eligible: bool, returned: bool = False) -> None:
        self.sku = sku
        self.amount = amount
        self.eligible = eligible
        self.returned = returned


@dataclass(slots=True, eq=False, init=False)
class Order:
    """A recorded purchase and what it earned; updated by returns and tier reversals."""

    order: Final[str]
    member: str | None  # set by a retro-credit (SG-5, SM-5)
    at: Final[datetime]
    day: Final[date]
    channel: Final[str]
    lines: Final[list[OrderLine]]
    non_earning: Final[Decimal]
    points_tender: Final[Decimal]
    eligible_total: Final[Decimal]
    earns: bool
    qualifying: Decimal
    tier: int
    rate: Decimal
    campaigns: tuple[CampaignRule, ...]
    earn_points: int
    bonus_points: int
    lots: list[Lot]
    shipped_at: datetime | None
    released: bool
    credited_at: datetime | None

    def __init__(
        self,
        order: str,
        member: str | None,
        at: datetime,
        day: date,
        channel: str,
        lines: list[OrderLine],
        non_earning: Decimal,
        points_tender: Decimal,
        eligible_total: Decimal,
        earns: bool = False,
        qualifying: Decimal = ZERO,
        tier: int = 0,
        rate: Decimal = UNIT,
        campaigns: tuple[CampaignRule, ...] = (),
        earn_points: int = 0,
        bonus_points: int = 0,
        lots: list[Lot] | None = None,
        shipped_at: datetime | None = None,
        released: bool = False,
        credited_at: datetime | None = None,
    ) -> None:
        self.order = order
        self.member = member
        self.at = at
        self.day = day
        self.channel = channel
        self.lines = lines
        self.non_earning = non_earning
        self.points_tender = points_tender
        self.eligible_total = eligible_total
        self.earns = earns
        self.qualifying = qualifying
        self.tier = tier
        self.rate = rate
        self.campaigns = campaigns
        self.earn_points = earn_points
        self.bonus_points = bonus_points
        self.lots = [] if lots is None else lots
        self.shipped_at = shipped_at
        self.released = released
        self.credited_at = credited_at

    def eligible_remaining(self) -> Decimal:
        """The eligible lines' amounts, less those returned: ``eligible_total`` itself (the same
        sum, not a new one) while no line has been returned."""
        for line in self.lines:
            if line.returned:
                return sum(
                    (ln.amount for ln in self.lines if ln.eligible and not ln.returned), start=ZERO
                )
        return self.eligible_total


@dataclass(slots=True, init=False, eq=False, repr=False)  # frozen by ``Final``
class Notification:
    """Something to tell the member (the outbox): when, what (``kind``) and its details
    (``data``). The notice of a certificate (``certificate_issued``, ``birthday_gift``) keeps
    the certificate, which the member holds anyway, and writes its details when asked: ~340
    bytes fewer a notice (a dictionary and two strings), and a Soma member gets one a month."""

    at: Final[datetime]
    kind: Final[str]  # tier_upgrade | certificate_issued | birthday_gift | not_enrolled
    source: Final[dict[str, Any] | Certificate]  # the details, or the certificate they tell of

    def __init__(self, at: datetime, kind: str, data: dict[str, Any] | Certificate) -> None:
        self.at = at
        self.kind = kind
        self.source = data

    @property
    def data(self) -> dict[str, Any]:
        source = self.source
        if isinstance(source, dict):
            return source
        if self.kind == "birthday_gift":
            return {"code": source.code}
        return {
            "code": source.code,
            "amount": str(source.amount),
            "delivery": source.delivery,
            "expires_on": source.expires_on.isoformat(),
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Notification):
            return False
        return (self.at, self.kind, self.data) == (other.at, other.kind, other.data)

    def __repr__(self) -> str:
        return f"Notification(at={self.at!r}, kind={self.kind!r}, data={self.data!r})"


@dataclass(slots=True, eq=False, init=False)
class Member:
    id: Final[str]
    number: Final[str]
    status: str  # active | not_enrolled (suspended is derived from the balance)
    profile: Final[dict[str, Any]]
    enrolled_at: Final[datetime]
    clock: datetime
    wallet: Final[Wallet]
    tiers: Final[TierState]
    orders: Final[dict[str, Order]]
    certificates: Final[list[Certificate]]
    reward_balance: Decimal
    actions_done: Final[set[str]]
    birthday_years: set[int]
    notifications: Final[list[Notification]]
    next_month_at: datetime | None
    # trailing window: when the current tier's status lapses (the stored tier changes then)
    tier_lapse_at: datetime | None
    reversed_points: int
    outbox_base: int  # notifications already stored elsewhere; ``notifications`` holds the rest

    def __init__(
        self,
        id: str,
        number: str,
        status: str,
        profile: dict[str, Any],
        enrolled_at: datetime,
        clock: datetime,
        wallet: Wallet | None = None,
        tiers: TierState | None = None,
        orders: dict[str, Order] | None = None,
        certificates: list[Certificate] | None = None,
        reward_balance: Decimal = ZERO,
        actions_done: set[str] | None = None,
        birthday_years: set[int] | None = None,
        notifications: list[Notification] | None = None,
        next_month_at: datetime | None = None,
        tier_lapse_at: datetime | None = None,
        reversed_points: int = 0,
        outbox_base: int = 0,
    ) -> None:
        self.id = id
        self.number = number
        self.status = status
        self.profile = profile
        self.enrolled_at = enrolled_at
        self.clock = clock
        self.wallet = Wallet() if wallet is None else wallet
        self.tiers = TierState() if tiers is None else tiers
        self.orders = {} if orders is None else orders
        self.certificates = [] if certificates is None else certificates
        self.reward_balance = reward_balance
        self.actions_done = set() if actions_done is None else actions_done
        self.birthday_years = set() if birthday_years is None else birthday_years
        self.notifications = [] if notifications is None else notifications
        self.next_month_at = next_month_at
        self.tier_lapse_at = tier_lapse_at
        self.reversed_points = reversed_points
        self.outbox_base = outbox_base

    @property
    def enrolled(self) -> bool:
        return self.status != "not_enrolled"

    def checkpoint(self) -> tuple[Any, ...]:
        """What ``restore`` needs to undo the member's jobs and the input that follows. The
        wallet's list of lots is kept with its length, not copied: lots are only ever appended to
        it (``Wallet.credit``) or the list is replaced whole (``Wallet.prune``), so the list and
        its first ``len`` lots are the lots as they were (a copy would touch every lot, a cache
        miss each at scale); their states are logged as they change (``Wallet.undo``)."""
        w = self.wallet
        w.undo = []  # the lots' changes from now on are logged (``Wallet.undo_lots``)
        return (
            w.lots,
            len(w.lots),
            len(w.entries),
            w.earned,
            w.debt,
            w.next_lot,
            dict(self.tiers.year_base),  # the only tier state jobs change (requalify)
            len(self.certificates),
            self.reward_balance,
            set(self.birthday_years),
            len(self.notifications),
            self.next_month_at,
            self.clock,
            self.reversed_points,
            self.tier_lapse_at,
            w.lot_changes,
        )

    def restore(self, saved: tuple[Any, ...]) -> list[str]:
        """Undo to ``saved``; returns the codes of certificates issued since (to unregister)."""
        (
            lots,
            n_lots,
            n_entries,
            earned,
            debt,
            next_lot,
            year_base,
            n_certs,
            reward,
            bdays,
            n_notes,
            next_month,
            clock,
            reversed_points,
            self.tier_lapse_at,
            lot_changes,
        ) = saved
        w = self.wallet
        w.lot_changes = lot_changes
        del lots[n_lots:]  # lots credited since (to this list, if it was not replaced)
        w.lots = lots
        w.undo_lots()
        w.due_floor = UNKNOWN_DUE  # the lots as they were: their first due moment is not known
        w.due_exact = False
        del w.entries[n_entries:]
        w.debt, w.next_lot, w.earned = debt, next_lot, earned
        self.tiers.year_base = year_base
        dropped = [c.code for c in self.certificates[n_certs:]]
        del self.certificates[n_certs:]
        self.reward_balance = reward
        self.birthday_years = bdays
        del self.notifications[n_notes:]
        self.next_month_at, self.clock, self.reversed_points = next_month, clock, reversed_points
        return dropped
