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
from datetime import UTC, date, datetime
from typing import Final

NEVER: Final = datetime.max.replace(year=9999)
# engine times are in UTC: a lot without expiry sorts by this (``replace``: ~9,000 instructions)
NEVER_UTC: Final = NEVER.replace(tzinfo=UTC)
# a ``Wallet.due_floor`` not known: earlier than any time, so the lots are looked at
UNKNOWN_DUE: Final = datetime.min.replace(tzinfo=UTC)

CREDIT_KINDS: Final = frozenset({"earn", "bonus", "signup", "action"})


@dataclass(slots=True, eq=False, init=False)  # __init__ by hand: see ``loyalty.domain`` (speed)
class Lot:
    """Points credited at once. Mutable only in ``remaining`` and ``available_at``/``matured``,
    through ``Wallet``'s methods (each counts its change in ``Wallet.lot_changes``)."""

    id: Final[int]
    kind: Final[str]
    points: Final[int]
    remaining: int
    earned_at: Final[datetime]
    available_at: datetime | None  # None: waits for an event (a shipment)
    expires_at: Final[datetime | None]  # None: never
    ref: Final[str]
    matured: bool

    def __init__(
        self,
        id: int,
        kind: str,
        points: int,
        remaining: int,
        earned_at: datetime,
        available_at: datetime | None,
        expires_at: datetime | None,
        ref: str,
        matured: bool = False,
    ) -> None:
        self.id = id
        self.kind = kind
        self.points = points
        self.remaining = remaining
        self.earned_at = earned_at
        self.available_at = available_at
        self.expires_at = expires_at
        self.ref = ref
        self.matured = matured

    def sort_key(self) -> tuple[datetime, datetime, int]:
        expires = self.expires_at
        if expires is None:
            tz = self.earned_at.tzinfo
            expires = NEVER_UTC if tz is UTC else NEVER.replace(tzinfo=tz)
        return (expires, self.earned_at, self.id)


@dataclass(slots=True, init=False, unsafe_hash=True)  # frozen by ``Final``; see ``Lot``
class Entry:
    """One ledger line: what changed, by how much, why and what caused it."""

    seq: Final[int]
    at: Final[datetime]
    kind: Final[str]
    points: Final[int]
    ref: Final[str]
    note: Final[str]

    def __init__(
        self, seq: int, at: datetime, kind: str, points: int, ref: str, note: str = ""
    ) -> None:
        self.seq = seq
        self.at = at
        self.kind = kind
        self.points = points
        self.ref = ref
        self.note = note


@dataclass(slots=True, init=False)  # see ``Lot``
class Wallet:
    lots: list[Lot]
    entries: list[Entry]
    debt: int
    next_lot: int
    entry_base: int  # entries already stored elsewhere (a database); ``entries`` holds the rest
    earned: int  # points ever credited by earn, bonus, signup and action entries
    # No lot is due (to mature or to expire) before this moment; None: no lot is ever due. A
    # lower bound, kept as lots are credited (``lower_due_floor``) and made exact by
    # ``jobs.next_due``: maturing, spending and expiring only make the lots' first due moment
    # later. It spares an input the look at every lot of its member when nothing can be due
    # (``jobs.next_due_by``).
    due_floor: datetime | None = field(compare=False)
    # Changes made to the lots, ever (a lot credited, matured, given its maturing time, spent,
    # expired or forgotten): the same count for the same inputs however they are batched. A
    # database keeps the lots apart from the member's document, and the document holds this
    # count, so that it changes whenever the lots do (``adapters.sql.registry.MemberDocuments``).
    lot_changes: int = field(compare=False)
    # Whether ``due_floor`` is the lots' first due moment itself, not only a bound below it: set
    # by ``first_due`` and ``prune``, kept by a credit (which lowers the floor to the new lot's
    # due moments), lost when a due moment at or before the floor stops counting (a lot matures,
    # is given another maturing time, or is emptied: ``_drop_due``). Spares ``jobs.next_due_by``
    # the look at every lot when something is due (a lot credited by the member's last input
    # has matured, most often).
    due_exact: bool = field(compare=False)
    # While an input may still be rejected after its member's jobs ran (``Member.checkpoint``):
    # each lot's state before each change made to it, to undo them in reverse (``undo_lots``);
    # None otherwise. A log of the changes, not a copy of every lot at each checkpoint.
    undo: list[tuple[Lot, int, bool, datetime | None]] | None = field(compare=False)

    def __init__(
        self,
        lots: list[Lot] | None = None,
        entries: list[Entry] | None = None,
        debt: int = 0,
        next_lot: int = 1,
        entry_base: int = 0,
        earned: int = 0,
    ) -> None:
        self.lots = [] if lots is None else lots
        self.entries = [] if entries is None else entries
        self.debt = debt
        self.next_lot = next_lot
        self.entry_base = entry_base
        self.earned = earned
        self.due_floor = UNKNOWN_DUE if self.lots else None
        self.due_exact = not self.lots
        self.lot_changes = 0
        self.undo = None

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
        self.lot_changes += 1
        self.record(at, kind, points, ref, note)
        exact = self.due_exact
        if available_at is not None and available_at <= at:
            self.mature(lot)  # (a new lot: its maturing was never the floor)
        self.lower_due_floor(lot)
        self.due_exact = exact
        return lot

    def schedule(self, lot: Lot, ready: datetime, now: datetime) -> None:
        """A pending lot is given the moment it matures (its order shipped, or released early:
        SG-6); it matures at once when that moment has come."""
        if not lot.matured:
            self._drop_due(lot.available_at)
        self._before(lot)
        lot.available_at = ready
        self.lot_changes += 1
        if ready <= now:
            self.mature(lot)
        self.lower_due_floor(lot)

    def _before(self, lot: Lot) -> None:
        """About to change ``lot``: log its state, when changes are being logged (``undo``)."""
        if self.undo is not None:
            self.undo.append((lot, lot.remaining, lot.matured, lot.available_at))

    def undo_lots(self) -> None:
        """Put back the lots' states logged since ``undo`` was set, and stop logging."""
        if self.undo is not None:
            for lot, remaining, matured, available_at in reversed(self.undo):
                lot.remaining, lot.matured, lot.available_at = remaining, matured, available_at
        self.undo = None

    def _drop_due(self, moment: datetime | None) -> None:
        """A lot's due ``moment`` stops counting: the floor may have been it."""
        if moment is not None and (self.due_floor is None or moment <= self.due_floor):
            self.due_exact = False

    def lower_due_floor(self, lot: Lot) -> None:
        """Lower ``due_floor`` to ``lot``'s own due moments (a lot credited, or given the time
        it matures)."""
        self.due_floor = _earlier_due(lot, self.due_floor)

    def first_due(self) -> datetime | None:
        """The first moment a lot is due to mature or to expire (None: never); ``due_floor``
        becomes it."""
        first: datetime | None = None
        for lot in self.lots:
            first = _earlier_due(lot, first)
        self.due_floor = first
        self.due_exact = True
        return first

    def lots_due(self) -> datetime | None:
        """The lots' first due moment: the floor when it is exact, else ``first_due``."""
        return self.due_floor if self.due_exact else self.first_due()

    def mature(self, lot: Lot) -> None:
        """The lot becomes available; it pays any debt first."""
        self._drop_due(lot.available_at)
        self._before(lot)
        lot.matured = True
        self.lot_changes += 1
        if self.debt and lot.remaining:
            paid = min(self.debt, lot.remaining)
            lot.remaining -= paid
            self.debt -= paid
            if not lot.remaining:
                self._drop_due(lot.expires_at)

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
            if used:
                self._before(lot)
                lot.remaining -= used
                missing -= used
                if not lot.remaining:
                    self._drop_due(lot.expires_at)
        if missing:
            for lot in self.spendable():
                used = min(lot.remaining, missing)
                self._before(lot)
                lot.remaining -= used
                missing -= used
                if not lot.remaining:
                    self._drop_due(lot.expires_at)
                if missing == 0:
                    break
        if missing != points:
            self.lot_changes += 1
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
            self._before(lot)
            lot.remaining = 0
            self.lot_changes += 1
            self._drop_due(lot.expires_at)

    def prune(self) -> None:
        """Forget lots that can never change again (matured and empty); ``due_floor`` becomes
        the first moment a lot is due (as ``first_due``, in the same look at every lot: a lot
        forgotten is never due)."""
        kept = []
        first: datetime | None = None
        for lot in self.lots:
            if lot.remaining > 0 or not lot.matured:
                kept.append(lot)
                first = _earlier_due(lot, first)
        if len(kept) != len(self.lots):
            self.lot_changes += 1
        self.lots = kept
        self.due_floor = first
        self.due_exact = True


def _earlier_due(lot: Lot, due: datetime | None) -> datetime | None:
    """``due``, or ``lot``'s moment to mature (if pending) or to expire (if it holds points)
    when earlier."""
    ready = lot.available_at
    if not lot.matured and ready is not None and (due is None or ready < due):
        due = ready
    ends = lot.expires_at
    if lot.remaining and ends is not None and (due is None or ends < due):
        due = ends
    return due
