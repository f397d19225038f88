"""The engine's registries answered from the database, with what one unit of work changed
written back by ``flush`` (members, their lots, new ledger entries, certificates, outbox,
identifiers, orders, campaigns and received inputs), all in the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from loyalty.adapters import codec
from loyalty.adapters.sql import schema as t
from loyalty.adapters.sql.bulk import insert_rows, select_in, update_rows
from loyalty.domain.calendar import local_date
from loyalty.domain.earning import CampaignRule
from loyalty.domain.figures import expiry_month, month_of
from loyalty.domain.jobs import next_due, tier_lapse
from loyalty.domain.ledger import Lot
from loyalty.domain.member import Member, Order
from loyalty.domain.numbers import sequence_of
from loyalty.domain.received import Outcome, Received
from loyalty.domain.registry import Registry
from loyalty.domain.rules import rules_of
from loyalty.domain.summary import status
from loyalty.domain.tiers import tier_on
from loyalty.programs.schema import Program

SEP = "\x1f"
MEMBER_COLUMNS = (
    "number",
    "status",
    "tier",
    "available",
    "pending",
    "debt",
    "reward_balance_minor",
    "enrolled_at",
    "clock",
    "next_due_at",
    "state",
)
LOT_KEY = ("program_id", "member_id", "lot_id")
LOT_STATE = ("remaining", "matured", "available_at")  # what of a stored lot changes (``Lot``)
# a lot's columns, in the order of ``codec.lot_from_row``
LOT_FIELDS = (
    "lot_id", "kind", "points", "remaining", "earned_at", "available_at", "expires_at", "matured",
    "ref",
)  # fmt: skip
LOT_COLUMNS = (
    *LOT_KEY,
    "kind",
    "points",
    "remaining",
    "earned_at",
    "available_at",
    "expires_at",
    "expires_month",
    "matured",
    "ref",
)
ENTRY_COLUMNS = ("program_id", "member_id", "seq", "at", "month", "kind", "points", "ref", "note")
CERTIFICATE_COLUMNS = (
    "program_id",
    "code",
    "member_id",
    "kind",
    "amount_minor",
    "issued_at",
    "expires_on",
    "redeemed_at",
    "redeemed_order",
)
OUTBOX_COLUMNS = ("program_id", "member_id", "seq", "at", "kind", "data")
KEY_COLUMNS = ("program_id", "kind", "value", "member_id")
LAPSE_KEY = '"tier_lapse_at"'  # in every member document written since stop 9 (migration 0003)
ORDER_KEY = ("program_id", "order_id")
ORDER_COLUMNS = (*ORDER_KEY, "member_id", "year", "state")


utc = codec.utc_text
Write = Callable[[], object]  # one statement of ``SqlRegistry.changes``, ready to run
LotState = tuple[int, bool, datetime | None]
LotStates = dict[int, LotState]  # lot id -> state
CertificateStates = dict[str, tuple[datetime | None, str | None]]  # code -> redeemed at, order


class StaleBatch(Exception):
    """A batch's write found the database other than the batch took it to be (a pipelined
    import: someone else changed a member or an order it carried, or the file's progress, or the
    member counter): nothing of the batch is kept; it is done again, serially."""


@dataclass
class Written:
    """What one ``SqlRegistry.changes`` wrote: what the next batch of a pipelined import must
    know without reading it (``SqlRegistry.carry``), since it may not be committed yet."""

    members: list[Member] = field(default_factory=list)
    orders: dict[str, Order] = field(default_factory=dict)
    received: list[tuple[tuple[str, ...], Received]] = field(default_factory=list)
    keys: list[tuple[str, str, str, str]] = field(default_factory=list)  # member_keys rows
    campaigns: bool = False  # campaigns were added (not carried: the next batch waits)
    updated_members: list[str] = field(default_factory=list)  # rows updated, not inserted
    updated_orders: list[str] = field(default_factory=list)


def program_clock(conn: Connection, program_id: str) -> datetime | None:
    """The program's clock: its last accepted input (or job run), whichever is later."""
    stored = conn.execute(
        select(t.programs.c.now).where(t.programs.c.program_id == program_id)
    ).scalar()
    latest = conn.execute(
        select(func.max(t.members.c.clock)).where(t.members.c.program_id == program_id)
    ).scalar()
    times = [datetime.fromisoformat(x) for x in (stored, latest) if x is not None]
    return max(times) if times else None


def _first(conn: Connection, query: Any) -> Any:
    """The first row of a query, or None (as an untyped value: a compiled caller would check a
    typed one, an SQLAlchemy ``Row``, against ``tuple``, its declared base)."""
    result: Any = conn.execute(query)
    return result.first()


def minor(amount: Any) -> int | None:
    return None if amount is None else int(amount * 100)


def insert_ignore(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(table).on_conflict_do_nothing(), rows)


class MemberDocuments:
    """The members one writer stored last, by the exact document it stored (batch import).

    Decoding a member's document costs more than the rules applied to it. A batch import keeps
    the members it wrote, and when the next batch reads a member whose stored document is still,
    character for character, the one it wrote (nobody else changed the member since), it takes
    the member it kept instead of decoding the document again. The member's orders are dropped
    (they are rows of their own that others may have changed; they load again on demand). At
    most ``limit`` members are kept, the oldest written forgotten first.
    """

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._kept: dict[str, tuple[str, Member, LotStates | None]] = {}
        # SQLite: the connection this writer wrote with last, its ``data_version`` and its count
        # of rows changed, as the writer left them (``mark``)
        self._mark: tuple[Any, int, int] | None = None

    def put(
        self, member_id: str, document: str, member: Member, lots: LotStates | None = None
    ) -> None:
        """Keep ``member`` as stored in ``document``, with the states of its lots as stored
        (``lot_states``; never changed after, only replaced)."""
        self._kept.pop(member_id, None)
        self._kept[member_id] = (document, member, lots)
        if len(self._kept) > self.limit:
            del self._kept[next(iter(self._kept))]

    def get(self, member_id: str, document: str) -> Member | None:
        """The member kept, if ``document`` is the one stored with it."""
        kept = self.current(member_id)
        return kept[1] if kept is not None and kept[0] == document else None

    def current(self, member_id: str) -> tuple[str, Member] | None:
        """The document and member kept, taken as they are (as such only while ``unchanged``;
        its orders dropped: they are rows of their own, loaded again on demand)."""
        kept = self._kept.get(member_id)
        if kept is None:
            return None
        kept[1].orders.clear()
        return kept[0], kept[1]

    def mark(self, conn: Connection) -> None:
        """The writer's last write of a transaction is done (SQLite): remember how it left the
        connection, for ``unchanged``."""
        if conn.dialect.name == "sqlite":
            self._mark = _sqlite_state(conn)

    def unchanged(self, conn: Connection) -> bool:
        """Nothing was written to the database since ``mark`` (SQLite), so every member kept is
        stored as it is kept and need not be read to be checked: no other connection committed
        (``PRAGMA data_version`` moves when one does) and this connection changed no row for
        another user (``total_changes``: a live input applied through the same pooled
        connection between two batches). Always False on PostgreSQL, where a batch reads its
        members anyway, to lock them."""
        if self._mark is None or conn.dialect.name != "sqlite":
            return False
        return self._mark == _sqlite_state(conn)  # (connections compare by identity)

    def lot_states(self, member_id: str) -> LotStates | None:
        """The stored states of the lots of a member kept (``get`` first)."""
        kept = self._kept.get(member_id)
        return None if kept is None else kept[2]

    def __len__(self) -> int:
        return len(self._kept)

    def clear(self) -> None:
        """Forget every member (after a failed transaction, whose changes to them were undone
        in the database but not in the members kept here)."""
        self._kept.clear()
        self._mark = None


def _sqlite_state(conn: Connection) -> tuple[Any, int, int]:
    """The sqlite3 connection, its ``data_version`` and its count of rows changed."""
    driver = conn.connection.driver_connection
    assert driver is not None
    version = int(conn.exec_driver_sql("PRAGMA data_version").scalar_one())
    return driver, version, driver.total_changes


class SqlRegistry(Registry):
    def __init__(
        self,
        conn: Connection,
        program: Program,
        *,
        lock: bool = False,
        documents: MemberDocuments | None = None,
    ) -> None:
        super().__init__()
        self.documents = documents
        # the members ``documents`` keeps are stored as kept (``MemberDocuments.unchanged``):
        # ``prefetch`` takes them without reading their rows
        self.trust_documents = documents is not None and documents.unchanged(conn)
        self.conn = conn
        self.pid = program.id
        self.program = program
        self.rules = rules_of(program)
        self.tz = ZoneInfo(program.timezone)
        self.lock = lock and conn.dialect.name == "postgresql"
        self._trailing = program.tiers.window == "trailing_days"  # versions keep the window
        self._absent: set[tuple[str, str]] = set()
        self._dirty: dict[str, Member] = {}
        self._new_members: set[str] = set()
        self._new_keys: list[tuple[str, str, str, str]] = []  # member_keys rows
        self._orders_to_write: dict[str, Order] = {}
        self._order_rows: dict[str, str] = {}  # loaded, not yet attached to their member
        self._stored_orders: set[str] = set()  # read or written: the rest are new rows
        self._stored_lots: dict[str, LotStates] = {}  # as read: to write changes
        self._stored_certificates: dict[str, CertificateStates] = {}  # the same
        self._new_campaigns: list[CampaignRule] = []
        self._new_inputs: list[tuple[tuple[str, ...], Received]] = []  # to write, by key
        # a pipelined import's batch (``carry``): what the batch before wrote, maybe not yet
        # committed; its members' and orders' rows are checked before they are written again
        self.pipelined = False
        self.carried_members: set[str] = set()
        self.carried_orders: set[str] = set()
        self._carried_orders: dict[str, Order] = {}  # not yet attached to their member
        self._carried_by_member: dict[str, list[str]] = {}
        self.written = Written()  # by the last ``changes``
        self._campaigns_loaded = False
        self._member_seq: int | None = None  # the program's member counter, once read
        self._stored_seq = 0

    # -- look-ups that fall back to the database -------------------------------------------
    def _key_owner(self, kind: str, value: str) -> str | None:
        row = _first(
            self.conn,
            select(t.member_keys.c.member_id).where(
                t.member_keys.c.program_id == self.pid,
                t.member_keys.c.kind == kind,
                t.member_keys.c.value == value,
            ),
        )
        return None if row is None else str(row[0])

    def resolve(self, member_id: str) -> str:
        if member_id in self.aliases or member_id in self.members:
            return self.aliases.get(member_id, member_id)
        if ("alias", member_id) not in self._absent:
            owner = self._key_owner("alias", member_id)
            if owner is not None:
                self.aliases[member_id] = owner
                return owner
            self._absent.add(("alias", member_id))
        return member_id

    def member(self, member_id: str) -> Member | None:
        mid = self.resolve(member_id)
        found = self.members.get(mid)
        if found is not None or ("member", mid) in self._absent:
            return found
        query = select(t.members.c.state).where(
            t.members.c.program_id == self.pid, t.members.c.member_id == mid
        )
        if self.lock:
            query = query.with_for_update()
        row = _first(self.conn, query)
        if row is None:
            self._absent.add(("member", mid))
            return None
        state = row[0]
        known = self._kept(mid, state)
        lots = None if known is not None else self._lots_of([mid]).get(mid, [])
        return self._loaded(mid, state, known, lots)

    def _kept(self, member_id: str, state: str) -> Member | None:
        return self.documents.get(member_id, state) if self.documents is not None else None

    def _lots_of(self, member_ids: list[str]) -> dict[str, list[Lot]]:
        """The lots of these members, from their rows, each member's in id order."""
        found: dict[str, list[tuple[int, Lot]]] = {}
        for part in _chunks(member_ids, 500):
            for mid, *row in select_in(
                self.conn, t.lots, ("member_id", *LOT_FIELDS), {"program_id": self.pid},
                "member_id", part,
            ):  # fmt: skip
                lot = codec.lot_from_row(*row)
                found.setdefault(mid, []).append((lot.id, lot))
        return {mid: [lot for _, lot in sorted(lots)] for mid, lots in found.items()}

    def _loaded(
        self, member_id: str, state: str, known: Member | None, lots: list[Lot] | None
    ) -> Member:
        """The member of a stored document: ``known``, the one kept when the document is the
        one this writer stored last (``_kept``), else decoded with ``lots``, its lot rows."""
        stored = None
        if known is not None:
            loaded = known
            stored = self.documents.lot_states(member_id) if self.documents is not None else None
        else:
            loaded = codec.loads(state, lots)
            if self._trailing and LAPSE_KEY not in state:  # a document written before stop 9
                loaded.tier_lapse_at = tier_lapse(self.rules, loaded, loaded.clock, self.tz)
        self.members[member_id] = loaded
        self.by_number[loaded.number] = member_id
        if stored is None:
            stored = {lot.id: _lot_state(lot) for lot in loaded.wallet.lots}
        self._stored_lots[member_id] = stored
        self._stored_certificates[member_id] = {
            c.code: (c.redeemed_at, c.redeemed_order) for c in loaded.certificates
        }
        return loaded

    def is_taken(self, member_id: str) -> bool:
        return self.member(member_id) is not None or member_id in self.aliases

    def add_member(self, member: Member) -> None:
        super().add_member(member)
        self._absent.discard(("member", member.id))
        self._new_members.add(member.id)
        self._dirty[member.id] = member

    def add_alias(self, alias: str, member_id: str) -> None:
        super().add_alias(alias, member_id)
        self._absent.discard(("alias", alias))
        self._new_keys.append((self.pid, "alias", alias, member_id))

    def next_member_seq(self) -> int:
        """Member numbers are handed out in memory from the program's counter, read once per
        unit of work (locked on PostgreSQL until commit, as the UPDATE that used to take each
        number one by one locked it; SQLite's write lock is held already) and written back by
        ``flush``: a batch of enrolments costs two statements, not one each."""
        if self._member_seq is None:
            query = select(t.programs.c.member_seq).where(t.programs.c.program_id == self.pid)
            if self.conn.dialect.name == "postgresql" and not self.pipelined:
                query = query.with_for_update()  # (pipelined: checked when written)
            self._member_seq = self._stored_seq = int(self.conn.execute(query).scalar_one())
        self._member_seq += 1
        return self._member_seq

    def member_ids(self) -> Iterator[str]:
        rows: Any = self.conn.execute(
            select(t.members.c.member_id)
            .where(t.members.c.program_id == self.pid)
            .order_by(t.members.c.seq)
        )
        return iter([str(r[0]) for r in rows])

    def number_owner(self, number: str) -> str | None:
        if number in self.by_number:
            return self.by_number[number]
        row = _first(
            self.conn,
            select(t.members.c.member_id).where(
                t.members.c.program_id == self.pid, t.members.c.number == number
            ),
        )
        return None if row is None else str(row[0])

    def _contact_owner(self, kind: str, value: str, known: dict[str, str]) -> str | None:
        owner = known.get(value)
        if owner is None and (kind, value) not in self._absent:
            owner = self._key_owner(kind, value)
            if owner is None:
                self._absent.add((kind, value))
            else:
                known[value] = owner
        return owner

    def email_owner(self, email: str) -> str | None:
        return self._contact_owner("email", email, self.by_email)

    def phone_owner(self, phone: str) -> str | None:
        return self._contact_owner("phone", phone, self.by_phone)

    def register_contacts(self, member_id: str, email: str | None, phone: str | None) -> None:
        """A contact nobody holds yet is written with a plain INSERT: if another transaction
        takes it meanwhile (two enrolments at once), the clash fails this one, which is retried
        and then finds the contact taken (SG-1: refused; elsewhere the first keeps it)."""
        contacts = (("email", email, self.by_email), ("phone", phone, self.by_phone))
        for kind, value, known in contacts:
            if value and self._contact_owner(kind, value, known) is None:
                known[value] = member_id
                self._absent.discard((kind, value))
                self._new_keys.append((self.pid, kind, value, member_id))

    def _remember_order(self, order_id: str, owner: str | None, state: str) -> None:
        self._stored_orders.add(order_id)
        self.orders[order_id] = owner
        if owner is None:
            self.anonymous[order_id] = codec.order_from_dict(json.loads(state), {})
        else:
            self._order_rows[order_id] = state

    def _load_order(self, order_id: str) -> None:
        """Read an order's row; with ``lock``, locked until commit. An order made without a member
        has no member lock to serialise its inputs, and an input reads its order before it locks
        the order's member: without the row's lock, a return or a retro-credit waiting for that
        member would go on with the order as it was before the input holding the lock."""
        if order_id in self.orders or ("order", order_id) in self._absent:
            return
        query = select(t.orders.c.member_id, t.orders.c.state).where(
            t.orders.c.program_id == self.pid, t.orders.c.order_id == order_id
        )
        row = _first(self.conn, query.with_for_update() if self.lock else query)
        if row is None:
            self._absent.add(("order", order_id))
            return
        self._remember_order(order_id, row[0], row[1])

    def has_order(self, order_id: str) -> bool:
        self._load_order(order_id)
        return order_id in self.orders

    def order_owner(self, order_id: str) -> str | None:
        self._load_order(order_id)
        return self.orders.get(order_id)

    def record_order(self, order: Order) -> None:
        super().record_order(order)
        self._absent.discard(("order", order.order))
        self._orders_to_write[order.order] = order

    def anonymous_order(self, order_id: str) -> Order:
        self._load_order(order_id)
        return self.anonymous[order_id]

    def claim_order(self, order: Order, member_id: str) -> None:
        super().claim_order(order, member_id)
        self._orders_to_write[order.order] = order

    def touch_anonymous(self, order: Order) -> None:
        self._orders_to_write[order.order] = order

    def _attach(self, member: Member, state: str) -> Order:
        lots = {lot.id: lot for lot in member.wallet.lots}
        order = codec.order_from_dict(json.loads(state), lots)
        member.orders[order.order] = order
        self._stored_orders.add(order.order)
        return order

    def member_order(self, member: Member, order_id: str) -> Order | None:
        if order_id in member.orders:
            return member.orders[order_id]
        if order_id in self._carried_orders:
            if self.orders.get(order_id) != member.id:
                return None
            return self._attach_carried(member, lambda order: order.order == order_id)[0]
        self._load_order(order_id)
        if self.orders.get(order_id) != member.id:
            return None
        state = self._order_rows.pop(order_id, None)
        if state is None:
            query = select(t.orders.c.state).where(
                t.orders.c.program_id == self.pid, t.orders.c.order_id == order_id
            )
            state = self.conn.execute(query.with_for_update() if self.lock else query).scalar_one()
        return self._attach(member, state)

    def add_member_order(self, member: Member, order: Order) -> None:
        super().add_member_order(member, order)
        self._orders_to_write[order.order] = order

    def _attach_carried(self, member: Member, wanted: Callable[[Order], bool]) -> list[Order]:
        """Give ``member`` back the ones it wants of its orders the batch before wrote (``carry``),
        as a member read back gets the orders it asks for (an order given back is written again
        with the member)."""
        carried = self._carried_by_member.get(member.id, [])
        attached = [self._carried_orders[o] for o in carried if wanted(self._carried_orders[o])]
        for order in attached:
            del self._carried_orders[order.order]
            carried.remove(order.order)
            member.orders[order.order] = order
        return attached

    def member_orders(self, member: Member, years: tuple[int, ...]) -> list[Order]:
        # the ones the batch before wrote first: the query below misses them, or finds them as
        # they were before
        self._attach_carried(member, lambda order: order.day.year in years)
        rows: Any = self.conn.execute(
            select(t.orders.c.order_id, t.orders.c.state).where(
                t.orders.c.program_id == self.pid,
                t.orders.c.member_id == member.id,
                t.orders.c.year.in_(years),
            )
        )
        for order_id, state in rows:
            if order_id not in member.orders:
                self._order_rows.pop(order_id, None)
                self._attach(member, state)
        return super().member_orders(member, years)

    def code_owner(self, code: str) -> str | None:
        if code in self.codes:
            return self.codes[code]
        row = _first(
            self.conn,
            select(t.certificates.c.member_id).where(
                t.certificates.c.program_id == self.pid, t.certificates.c.code == code
            ),
        )
        return None if row is None else str(row[0])

    def campaigns(self) -> list[CampaignRule]:
        if not self._campaigns_loaded:
            rows: Any = self.conn.execute(
                select(t.campaigns.c.definition)
                .where(t.campaigns.c.program_id == self.pid)
                .order_by(t.campaigns.c.seq, t.campaigns.c.campaign_id)  # two at once: one seq
            )
            stored = [codec.campaign_from_dict(json.loads(r[0])) for r in rows]
            self.campaign_rules[:0] = stored
            self._campaigns_loaded = True
        return self.campaign_rules

    def add_campaign(self, rule: CampaignRule) -> None:
        self.campaigns()
        super().add_campaign(rule)
        self._new_campaigns.append(rule)

    def defers_fingerprints(self) -> bool:
        return False  # stored with every input

    def seen_input(self, key: tuple[str, ...]) -> Received | None:
        found = super().seen_input(key)
        if found is not None or ("input", SEP.join(key)) in self._absent:
            return found
        row = _first(
            self.conn,
            select(t.inputs.c.digest, t.inputs.c.message).where(
                t.inputs.c.program_id == self.pid, t.inputs.c.key == SEP.join(key)
            ),
        )
        if row is None:
            return None
        return Received(bytes.fromhex(row[0]), None, Outcome(True, message=row[1]))

    def remember_input(self, key: tuple[str, ...], received: Received) -> None:
        super().remember_input(key, received)
        self._new_inputs.append((key, received))

    def changed(self, member: Member) -> None:
        self._dirty[member.id] = member

    # -- writing back ------------------------------------------------------------------------
    def _write_orders(self, orders: list[Order]) -> list[Write]:
        """New orders INSERTed (a clash, an order someone else recorded meanwhile, fails the
        transaction, which is retried and then finds it), the others updated."""
        pid, stored = self.pid, self._stored_orders
        new, changed = [], []
        for o in orders:
            state = codec.json_text(codec.order_to_dict(o))
            if o.order in stored:
                changed.append((o.member, o.day.year, state, pid, o.order))
            else:
                new.append((pid, o.order, o.member, o.day.year, state))
                stored.add(o.order)
        return [
            partial(insert_rows, self.conn, t.orders, ORDER_COLUMNS, new),
            partial(update_rows, self.conn, t.orders, ORDER_COLUMNS[2:], ORDER_KEY, changed),
        ]

    def _member_row(self, m: Member) -> tuple[Any, ...]:
        """The values of ``MEMBER_COLUMNS``."""
        w = m.wallet
        due = next_due(m)
        tiers = self.rules.tiers
        return (
            m.number,
            status(self.rules, m),
            tiers.levels[tier_on(tiers, m.tiers, local_date(m.clock, self.tz))].id,
            w.available,
            w.pending,
            w.debt,
            minor(m.reward_balance),
            utc(m.enrolled_at),
            utc(m.clock),
            utc(due) if due is not None else None,
            codec.dumps(m),
        )

    def prefetch_inputs(self, keys: set[tuple[str, ...]]) -> None:
        """Load the idempotency records of many inputs in one query each 500 (batch import).

        A purchase's record is stored only with its order (an accepted purchase records its
        order, in the same transaction, and orders are never deleted): the purchase of an order
        the batch found absent (``prefetch``, before) has no record, and is not looked up (~8 us
        a purchase on PostgreSQL). Should someone store that order meanwhile, the purchase's
        INSERT of it fails, and the batch is done again."""
        wanted = []
        for k in keys:
            if Registry.seen_input(self, k) is not None:
                continue
            if k[0] == "purchase" and ("order", k[1]) in self._absent:
                self._absent.add(("input", SEP.join(k)))
            else:
                wanted.append(SEP.join(k))
        for part in _chunks(wanted, 500):
            found = set()
            for key, digest, message in select_in(
                self.conn,
                t.inputs,
                ("key", "digest", "message"),
                {"program_id": self.pid},
                "key",
                part,
            ):
                super().remember_input(
                    tuple(key.split(SEP)),
                    Received(bytes.fromhex(digest), None, Outcome(True, message=message)),
                )
                found.add(key)
            self._absent.update(("input", k) for k in part if k not in found)

    def prefetch_contacts(self, emails: set[str], phones: set[str]) -> None:
        """Load who holds the emails and phones a batch's enrolments give (SG-1, SK-1), in one
        query each 500, instead of one query per contact."""
        for kind, values, known in (
            ("email", emails, self.by_email),
            ("phone", phones, self.by_phone),
        ):
            wanted = sorted(v for v in values if v not in known)
            for part in _chunks(wanted, 500):
                for value, owner in select_in(
                    self.conn,
                    t.member_keys,
                    ("value", "member_id"),
                    {"program_id": self.pid, "kind": kind},
                    "value",
                    part,
                ):
                    known[value] = owner
                self._absent.update((kind, v) for v in part if v not in known)

    def prefetch(self, member_ids: set[str], order_ids: set[str]) -> None:
        """Load many members and orders in one query each (batch import). With ``lock``, the
        members' rows are locked, in member order."""
        wanted = sorted(m for m in member_ids if m not in self.members and m not in self.aliases)
        for part in _chunks(wanted, 500):
            rows = select_in(
                self.conn,
                t.member_keys,
                ("value", "member_id"),
                {"program_id": self.pid, "kind": "alias"},
                "value",
                part,
            )
            for alias, owner in rows:
                self.aliases[alias] = owner
            self._absent.update(("alias", m) for m in part if m not in self.aliases)
        # with ``lock``: all of them in one order, so that two batches cannot deadlock on them
        ids = sorted(
            {self.aliases.get(m, m) for m in wanted if self.aliases.get(m, m) not in self.members}
        )
        if self.trust_documents and self.documents is not None:
            unread = []
            for mid in ids:
                kept = self.documents.current(mid)
                if kept is None:
                    unread.append(mid)
                else:
                    self._loaded(mid, kept[0], kept[1], None)
            ids = unread
        for part in _chunks(ids, 500):
            rows = select_in(
                self.conn,
                t.members,
                ("member_id", "state"),
                {"program_id": self.pid},
                "member_id",
                part,
                lock_in_order=self.lock,
            )
            known = {mid: self._kept(mid, state) for mid, state in rows}
            lots = self._lots_of([mid for mid, member in known.items() if member is None])
            for mid, state in rows:
                self._loaded(mid, state, known[mid], lots.get(mid, []))
            found = {mid for mid, _ in rows}
            self._absent.update(("member", mid) for mid in part if mid not in found)
        orders = [o for o in order_ids if o not in self.orders]
        for part in _chunks(orders, 500):
            found = set()
            for order_id, owner, state in select_in(
                self.conn,
                t.orders,
                ("order_id", "member_id", "state"),
                {"program_id": self.pid},
                "order_id",
                part,
                lock_in_order=self.lock,  # as ``_load_order``; before the members (see import)
            ):
                self._remember_order(order_id, owner, state)
                found.add(order_id)
            self._absent.update(("order", o) for o in part if o not in found)

    def carry(self, conn: Connection) -> SqlRegistry:
        """The registry of the next batch of a pipelined import, on ``conn``, while this batch's
        writes (its last ``changes``) may still be uncommitted, and so unseen by ``conn``: it
        holds what they wrote (members with their lots' and certificates' states, orders,
        received inputs, contacts and aliases, the member counter) and reads the rest. The
        members and orders it takes over are checked before it writes them again (their rows
        still as this batch wrote them: ``carried_members``, ``carried_orders``)."""
        written = self.written
        new = SqlRegistry(conn, self.program, lock=True, documents=self.documents)
        new.pipelined = True
        for m in written.members:
            mid = m.id
            new.members[mid] = m
            new.by_number[m.number] = mid
            new._stored_lots[mid] = self._stored_lots[mid]
            new._stored_certificates[mid] = self._stored_certificates[mid]
            for c in m.certificates:
                new.codes[c.code] = mid
            m.orders.clear()  # written: carried below, given back on demand
        new.carried_members = set(new.members)
        for order_id, order in written.orders.items():
            new.orders[order_id] = order.member
            new._stored_orders.add(order_id)
            if order.member is None:
                new.anonymous[order_id] = order
            else:
                new._carried_orders[order_id] = order
                new._carried_by_member.setdefault(order.member, []).append(order_id)
        new.carried_orders = set(written.orders)
        known = {"alias": new.aliases, "email": new.by_email, "phone": new.by_phone}
        for _, kind, value, mid in written.keys:
            known[kind][value] = mid
        for key, received in written.received:
            Registry.remember_input(new, key, received)
        new._member_seq, new._stored_seq = self._member_seq, self._stored_seq
        return new

    def flush(self, accepted_at: datetime | None) -> None:
        """Write what this unit of work changed: one statement per table for all members."""
        write_all(self.changes(accepted_at))

    def changes(self, accepted_at: datetime | None) -> list[Write]:
        """The statements that write what changed since the last ``changes``, to run in order
        (``write_all``, here or in a pipelined import's committing thread); from here on the
        registry counts them as written (``written``)."""
        conn, pid, tz = self.conn, self.pid, self.tz
        writes: list[Write] = []
        members = list(self._dirty.values())
        lot_rows: list[tuple[Any, ...]] = []  # new lots
        lot_changes: list[tuple[Any, ...]] = []  # lots stored, whose state changed since
        entry_rows: list[tuple[Any, ...]] = []
        cert_rows: list[tuple[Any, ...]] = []  # certificates issued since the member was read
        redeemed: list[tuple[Any, ...]] = []  # certificates read, redeemed since
        outbox_rows: list[tuple[Any, ...]] = []
        gone: list[dict[str, Any]] = []
        for m in members:
            mid = m.id
            stored = self._stored_lots.get(mid, {})
            states: LotStates = {}  # the lots' states as this flush stores them
            kept = 0  # lots stored before and still held
            for lot in m.wallet.lots:
                state = (lot.remaining, lot.matured, lot.available_at)  # ``_lot_state``
                states[lot.id] = state
                before = stored.get(lot.id)
                if before is not None:
                    kept += 1
                    if before != state:
                        lot_changes.append((*_stored_state(state), pid, mid, lot.id))
                    continue
                lot_rows.append(
                    (
                        pid,
                        mid,
                        lot.id,
                        lot.kind,
                        lot.points,
                        lot.remaining,
                        utc(lot.earned_at),
                        utc(lot.available_at) if lot.available_at else None,
                        utc(lot.expires_at) if lot.expires_at else None,
                        expiry_month(lot.expires_at, tz) if lot.expires_at else None,
                        lot.matured,
                        lot.ref,
                    )
                )
            if kept < len(stored):  # some lots stored are gone (spent and matured: forgotten)
                gone.extend({"b_mid": mid, "b_lot": i} for i in stored if i not in states)
            self._stored_lots[mid] = states
            for e in m.wallet.entries:
                entry_rows.append(
                    (
                        pid,
                        mid,
                        e.seq,
                        utc(e.at),
                        month_of(e.at, tz),
                        e.kind,
                        e.points,
                        e.ref,
                        e.note,
                    )
                )
            m.wallet.entry_base += len(m.wallet.entries)
            m.wallet.entries.clear()
            # a certificate's row is written when it is issued and when it is redeemed (nothing
            # else of it changes, and a member never gives one up)
            stored_certificates = self._stored_certificates.get(mid, {})
            certificates: CertificateStates = {}
            for c in m.certificates:
                redemption = (c.redeemed_at, c.redeemed_order)
                certificates[c.code] = redemption
                known = stored_certificates.get(c.code)
                if known == redemption:
                    continue
                (cert_rows if known is None else redeemed).append(
                    (
                        pid,
                        c.code,
                        mid,
                        c.kind,
                        minor(c.amount),
                        utc(c.issued_at),
                        codec.day_text(c.expires_on),
                        utc(c.redeemed_at) if c.redeemed_at else None,
                        c.redeemed_order,
                    )
                )
            self._stored_certificates[mid] = certificates
            for i, n in enumerate(m.notifications):
                outbox_rows.append(
                    (pid, mid, m.outbox_base + i + 1, utc(n.at), n.kind, codec.json_text(n.data))
                )
            m.outbox_base += len(m.notifications)
            m.notifications.clear()
        if gone:
            writes.append(partial(_delete_lots, conn, pid, gone))
        # new rows by a plain INSERT (COPY on PostgreSQL), and only the changed lots updated: an
        # upsert costs PostgreSQL about twice an INSERT (an import, 10,000 members: ~13 -> ~8 us
        # a purchase for the lots, ~11 -> ~7 for the orders; docs/PERFORMANCE.md, stop 24)
        code = ("program_id", "code")
        writes += [
            partial(insert_rows, conn, t.lots, LOT_COLUMNS, lot_rows),
            partial(update_rows, conn, t.lots, LOT_STATE, LOT_KEY, lot_changes),
            partial(insert_rows, conn, t.ledger, ENTRY_COLUMNS, entry_rows),
            partial(insert_rows, conn, t.certificates, CERTIFICATE_COLUMNS, cert_rows),
            partial(
                insert_rows, conn, t.certificates, CERTIFICATE_COLUMNS, redeemed,
                conflict=code, on_conflict="update",
            ),
            partial(insert_rows, conn, t.outbox, OUTBOX_COLUMNS, outbox_rows),
        ]  # fmt: skip
        new_rows, old_rows = [], []
        for m in members:  # after the counters above moved on
            row = self._member_row(m)
            if self.documents is not None:
                self.documents.put(m.id, row[-1], m, self._stored_lots[m.id])
            if m.id in self._new_members:
                new_rows.append((pid, m.id, sequence_of(m.number), *row))
            else:
                old_rows.append((*row, pid, m.id))
        keys, self._new_keys = self._new_keys, []
        member_key = ("program_id", "member_id")
        writes += [
            partial(insert_rows, conn, t.members, (*member_key, "seq", *MEMBER_COLUMNS), new_rows),
            partial(update_rows, conn, t.members, MEMBER_COLUMNS, member_key, old_rows),
            partial(insert_rows, conn, t.member_keys, KEY_COLUMNS, keys),  # a clash: see contacts
        ]
        for m in members:
            self._orders_to_write.update(m.orders)
        orders, self._orders_to_write = self._orders_to_write, {}
        updated_orders = [o for o in orders if o in self._stored_orders]
        writes += self._write_orders(list(orders.values()))
        campaigns, self._new_campaigns = self._new_campaigns, []
        if campaigns:
            base = len(self.campaign_rules) - len(campaigns)
            definitions = [
                {
                    "program_id": pid,
                    "campaign_id": c.id,
                    "seq": base + i,
                    "definition": json.dumps(codec.campaign_to_dict(c)),
                }
                for i, c in enumerate(campaigns)
            ]
            writes.append(partial(_insert_campaigns, conn, definitions))
        at = utc(accepted_at) if accepted_at else ""
        received, self._new_inputs = self._new_inputs, []
        inputs = [
            (pid, at, SEP.join(k), r.fingerprint().hex(), r.outcome.message) for k, r in received
        ]
        input_columns = ("program_id", "accepted_at", "key", "digest", "message")
        writes.append(partial(insert_rows, conn, t.inputs, input_columns, inputs))
        if self._member_seq is not None and self._member_seq != self._stored_seq:
            counter = (conn, pid, self._stored_seq, self._member_seq, self.pipelined)
            writes.append(partial(_write_member_seq, *counter))
            self._stored_seq = self._member_seq
        self.written = Written(
            members=members,
            orders=orders,
            received=received,
            keys=keys,
            campaigns=bool(campaigns),
            updated_members=[row[-1] for row in old_rows],
            updated_orders=updated_orders,
        )
        self._dirty.clear()
        self._new_members.clear()
        return writes


def _write_member_seq(conn: Connection, pid: str, old: int, new: int, checked: bool) -> None:
    """The program's member counter, moved from ``old`` to ``new``; ``checked`` (a pipelined
    import, which read it without a lock): only if it is still ``old``."""
    query = update(t.programs).where(t.programs.c.program_id == pid)
    if checked:
        query = query.where(t.programs.c.member_seq == old)
    if conn.execute(query.values(member_seq=new)).rowcount != 1:
        raise StaleBatch(f"the member counter moved from {old} meanwhile")


def expect_progress(conn: Connection, pid: str, source: str, expected: int) -> None:
    """A pipelined batch's commit: the file's lines done, read with a lock (PostgreSQL), are
    still ``expected``, those the batch started from; else another import of the file moved
    them (``StaleBatch``)."""
    done = conn.execute(t.import_progress(pid, source).with_for_update()).one()[0]
    if int(done) != expected:
        raise StaleBatch(f"another import of the file moved it to line {done}")


def _delete_lots(conn: Connection, pid: str, gone: list[dict[str, Any]]) -> None:
    """Delete the lots ``gone`` names (``b_mid``, ``b_lot``)."""
    query = delete(t.lots).where(
        t.lots.c.program_id == pid,
        t.lots.c.member_id == bindparam("b_mid"),
        t.lots.c.lot_id == bindparam("b_lot"),
    )
    conn.execute(query, gone)


def _insert_campaigns(conn: Connection, definitions: list[dict[str, Any]]) -> None:
    conn.execute(insert(t.campaigns), definitions)


def write_all(writes: list[Write]) -> None:
    """Run the statements of ``SqlRegistry.changes``, in order."""
    for write in writes:
        write()


# What ``SqlRegistry.changes`` writes with: each ``Write`` is one of these, given the connection
# first, then maybe a table, then plain values (``portable``)
_WRITERS: dict[str, Callable[..., None]] = {
    f.__name__: f
    for f in (insert_rows, update_rows, _delete_lots, _insert_campaigns, _write_member_seq)
}
# a ``Write`` as plain data: the function's name, its table's name (or None), the rest of its
# arguments and its keywords
PortableWrite = tuple[str, str | None, tuple[Any, ...], dict[str, Any]]


def portable(writes: list[Write]) -> list[PortableWrite]:
    """The statements of ``SqlRegistry.changes`` as plain data that pickles (names, tuples,
    strings, numbers), to be run on another process's connection (``rebuilt``); those with no
    rows left out. Example: ``partial(insert_rows, conn, t.lots, LOT_COLUMNS, rows)`` ->
    ``("insert_rows", "lots", (LOT_COLUMNS, rows), {})``."""
    out: list[PortableWrite] = []
    for write in writes:
        if not isinstance(write, partial) or _WRITERS.get(write.func.__name__) is not write.func:
            raise TypeError(f"not a statement of SqlRegistry.changes: {write!r}")
        args = write.args[1:]  # (the connection first)
        if write.func in (insert_rows, update_rows) and not args[-1]:
            continue  # (no rows)
        table = str(args[0].name) if args and isinstance(args[0], Table) else None
        rest = args[1:] if table is not None else args
        out.append((write.func.__name__, table, tuple(rest), dict(write.keywords)))
    return out


def rebuilt(conn: Connection, writes: list[PortableWrite]) -> list[Write]:
    """The statements ``portable`` made data of, to run on ``conn`` (``write_all``)."""
    out: list[Write] = []
    for name, table, args, keywords in writes:
        head = (conn,) if table is None else (conn, t.metadata.tables[table])
        out.append(partial(_WRITERS[name], *head, *args, **keywords))
    return out


def _stored_state(state: LotState) -> tuple[int, bool, str | None]:
    """A lot's state (``_lot_state``) as the values of ``LOT_STATE``."""
    remaining, matured, available_at = state
    return remaining, matured, utc(available_at) if available_at else None


def _lot_state(lot: Lot) -> LotState:
    """What of a lot can change (``Lot``), as stored: a lot whose state differs is written."""
    return (lot.remaining, lot.matured, lot.available_at)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
