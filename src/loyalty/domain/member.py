"""The state of one member in one program, and of the orders it made.

The member is the unit of consistency: an input for a member changes only that member (and the
program-wide registries of orders, numbers and codes). ``checkpoint``/``restore`` undo the
time-driven jobs run for an input that is then rejected, so a rejected input changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from loyalty.domain.certificates import Certificate
from loyalty.domain.earning import CampaignRule
from loyalty.domain.ledger import Lot, Wallet
from loyalty.domain.money import ZERO
from loyalty.domain.tiers import TierState


@dataclass(slots=True, eq=False)
class OrderLine:
    sku: str
    amount: Decimal
    eligible: bool
    returned: bool = False


@dataclass(slots=True, eq=False)
class Order:
    """A recorded purchase and what it earned; updated by returns and tier reversals."""

    order: str
    member: str | None
    at: datetime
    day: date
    channel: str
    lines: list[OrderLine]
    non_earning: Decimal
    points_tender: Decimal
    eligible_total: Decimal
    earns: bool = False
    qualifying: Decimal = ZERO
    tier: int = 0
    rate: Decimal = Decimal(1)
    campaigns: tuple[CampaignRule, ...] = ()
    earn_points: int = 0
    bonus_points: int = 0
    lots: list[Lot] = field(default_factory=list)
    shipped_at: datetime | None = None
    released: bool = False
    credited_at: datetime | None = None

    def eligible_remaining(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.eligible and not ln.returned), start=ZERO)


@dataclass(frozen=True, slots=True)
class Notification:
    at: datetime
    kind: str  # tier_upgrade | certificate_issued | birthday_gift | not_enrolled
    data: dict[str, Any]


@dataclass(slots=True, eq=False)
class Member:
    id: str
    number: str
    status: str  # active | not_enrolled (suspended is derived from the balance)
    profile: dict[str, Any]
    enrolled_at: datetime
    clock: datetime
    wallet: Wallet = field(default_factory=Wallet)
    tiers: TierState = field(default_factory=TierState)
    orders: dict[str, Order] = field(default_factory=dict)
    certificates: list[Certificate] = field(default_factory=list)
    reward_balance: Decimal = ZERO
    actions_done: set[str] = field(default_factory=set)
    birthday_years: set[int] = field(default_factory=set)
    notifications: list[Notification] = field(default_factory=list)
    next_month_at: datetime | None = None
    # trailing window: when the current tier's status lapses (the stored tier changes then)
    tier_lapse_at: datetime | None = None
    reversed_points: int = 0
    outbox_base: int = 0  # notifications already stored elsewhere; ``notifications`` holds the rest

    @property
    def enrolled(self) -> bool:
        return self.status != "not_enrolled"

    def checkpoint(self) -> tuple[Any, ...]:
        w = self.wallet
        return (
            list(w.lots),
            [(lot, lot.remaining, lot.matured, lot.available_at) for lot in w.lots],
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
        )

    def restore(self, saved: tuple[Any, ...]) -> list[str]:
        """Undo to ``saved``; returns the codes of certificates issued since (to unregister)."""
        (
            lots,
            lot_state,
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
        ) = saved
        w = self.wallet
        w.lots = lots
        for lot, remaining, matured, available_at in lot_state:
            lot.remaining, lot.matured, lot.available_at = remaining, matured, available_at
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
