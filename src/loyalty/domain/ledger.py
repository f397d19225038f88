"""The points ledger of one member: lots, entries and debt (SPEC §1, §2).

Every credit is a lot with its own ``available_at`` (pending until then) and ``expires_at``.
Debits consume available lots soonest-expiring first (then oldest). A reversal first takes back
from the lots the reversed purchase created, while they still hold points (pending or available);
what is still missing makes the balance negative: a debt that the next points to become available
pay first. Example: 100 points available, a return reverses 130 -> available -30; a later lot of
50 becomes available -> 30 of it pays the debt, available 20.

Invariant (checked by property tests): available + pending == sum(lot.remaining) - debt ==
sum(entry.points).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

NEVER = datetime.max.replace(year=9999)

CREDIT_KINDS = frozenset({"earn", "bonus", "signup", "action"})


@dataclass(slots=True, eq=False)
class Lot:
    """Points credited at once. Mutable only in ``remaining`` and ``available_at``/``matured``."""

    id: int
    kind: str
    points: int
    remaining: int
    earned_at: datetime
    available_at: datetime | None  # None: waits for an event (a shipment)
    expires_at: datetime | None  # None: never
    ref: str
    matured: bool = False

    def sort_key(self) -> tuple[datetime, datetime, int]:
        expires = self.expires_at or NEVER.replace(tzinfo=self.earned_at.tzinfo)
        return (expires, self.earned_at, self.id)


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger line: what changed, by how much, why and what caused it."""

    seq: int
    at: datetime
    kind: str
    points: int
    ref: str
    note: str = ""


@dataclass(slots=True)
class Wallet:
    lots: list[Lot] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    debt: int = 0
    next_lot: int = 1
    entry_base: int = 0  # entries already stored elsewhere (a database); ``entries`` holds the rest
    earned: int = 0  # points ever credited by earn, bonus, signup and action entries

    # -- balances -------------------------------------------------------------------------
    @property
    def available(self) -> int:
        return sum(lot.remaining for lot in self.lots if lot.matured) - self.debt

    @property
    def pending(self) -> int:
        return sum(lot.remaining for lot in self.lots if not lot.matured)

    def record(self, at: datetime, kind: str, points: int, ref: str, note: str = "") -> None:
        seq = self.entry_base + len(self.entries) + 1
        self.entries.append(Entry(seq, at, kind, points, ref, note))
        if kind in CREDIT_KINDS:
            self.earned += points

    # -- credits --------------------------------------------------------------------------
    def credit(
        self,
        at: datetime,
        kind: str,
        points: int,
        ref: str,
        *,
        earned_at: datetime,
        available_at: datetime | None,
        expires_at: datetime | None,
        note: str = "",
    ) -> Lot:
        lot = Lot(self.next_lot, kind, points, points, earned_at, available_at, expires_at, ref)
        self.next_lot += 1
        self.lots.append(lot)
        self.record(at, kind, points, ref, note)
        if available_at is not None and available_at <= at:
            self.mature(lot)
        return lot

    def mature(self, lot: Lot) -> None:
        """The lot becomes available; it pays any debt first."""
        lot.matured = True
        if self.debt and lot.remaining:
            paid = min(self.debt, lot.remaining)
            lot.remaining -= paid
            self.debt -= paid

    # -- debits ---------------------------------------------------------------------------
    def spendable(self) -> list[Lot]:
        return sorted(
            (lot for lot in self.lots if lot.matured and lot.remaining > 0), key=Lot.sort_key
        )

    def take(self, points: int, first: Iterable[Lot] = ()) -> int:
        """Take ``points`` from ``first`` (any state), then from available lots soonest-expiring
        first. Returns what could not be covered."""
        missing = points
        for lot in first:
            if missing == 0:
                break
            used = min(lot.remaining, missing)
            lot.remaining -= used
            missing -= used
        if missing:
            for lot in self.spendable():
                used = min(lot.remaining, missing)
                lot.remaining -= used
                missing -= used
                if missing == 0:
                    break
        return missing

    def debit(
        self,
        at: datetime,
        kind: str,
        points: int,
        ref: str,
        *,
        first: Iterable[Lot] = (),
        note: str = "",
    ) -> None:
        """Debit ``points``; what the lots cannot cover becomes debt."""
        if points <= 0:
            return
        missing = self.take(points, first)
        self.debt += missing
        self.record(at, kind, -points, ref, note)

    def expire(self, at: datetime, lot: Lot, earned_on: date) -> None:
        """``earned_on``: the lot's local date of earning, for the entry's note."""
        if lot.remaining:
            self.record(at, "expire", -lot.remaining, f"lot:{lot.id}", f"earned {earned_on}")
            lot.remaining = 0

    def prune(self) -> None:
        """Forget lots that can never change again (matured and empty)."""
        self.lots = [lot for lot in self.lots if lot.remaining > 0 or not lot.matured]
