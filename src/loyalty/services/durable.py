"""The durable engine: the same pure engine with the database around it.

* ``apply``: one input is one transaction. The member's row is locked (``SELECT ... FOR UPDATE`` on
  PostgreSQL), so inputs for one member are serialised while different members run in parallel;
  serialisation failures and deadlocks are retried. Inputs are ordered per member.
* ``import_file``: a file of SPEC §7 inputs in batches, one transaction per batch, with the file's
  progress committed in the same transaction: after a crash the same command resumes where the last
  batch ended and applies nothing twice. A file is ordered as a whole, as in a replay. Each batch
  is committed while the next one is applied (``services.pipelined_import``: by a thread on
  PostgreSQL, by a child process on SQLite), with the same result. On SQLite a batch takes the
  database's write lock for its writes alone, and is done again holding it if someone else
  committed meanwhile (``_unlocked_batch``, ``services.sqlite_committer``).
* ``run_jobs``: advance the members whose next due moment has come, in chunks (``SKIP LOCKED`` on
  PostgreSQL, so two runners share the work instead of colliding).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from loyalty.adapters.sql import schema as t
from loyalty.adapters.sql.bulk import insert_rows
from loyalty.adapters.sql.database import (
    OPTIMISTIC,
    READ_ONLY,
    DatabaseError,
    ensure_schema,
    make_engine,
)
from loyalty.adapters.sql.registry import (
    MemberDocuments,
    SqlRegistry,
    insert_ignore,
    program_clock,
    utc,
)
from loyalty.domain.engine import Engine as LoyaltyEngine
from loyalty.domain.errors import LoyaltyError
from loyalty.domain.events import Enroll, Event, parse_event
from loyalty.domain.handlers import enroll_contacts
from loyalty.domain.received import Outcome
from loyalty.programs.schema import Program
from loyalty.services.heap import GrowingHeap
from loyalty.services.pipelined_import import PipelinedImport
from loyalty.services.sqlite_committer import can_start

_T = TypeVar("_T")
RETRYABLE_PG = {"40001", "40P01", "55P03"}
# Inputs a batch import commits at once, when not told: two to three seconds of work. A larger
# batch rewrites a member met twice in it once, commits (on SQLite: writes every page it changed
# to the write-ahead log) less often and costs fewer queries' round trips. What it costs live
# inputs: on SQLite, one writer, a batch reads and applies its inputs without the write lock and
# takes it for its writes alone (``_unlocked_batch``: ~1 s at 40,000 purchases), so live inputs
# wait for that, as they waited for a whole 10,000-line batch before; a batch that someone else's
# commit overtook is done again holding the lock, ``SQLITE_LOCKED_BATCH`` lines a transaction. On
# PostgreSQL a batch locks the rows of the members it reads until it commits (with the batches
# overlapped, the members it did not take over from the batch before: about two batches' time),
# so a live input for one of them waits for the batch.
# (bench/ingest.py, 10,000 members: SQLite 2,000 -> 10,000 lines ~+35%, stop 23, 10,000 -> 40,000
# +20-30%, stop 26; PostgreSQL overlapped, 5,000 -> 10,000 lines +8-18%, stop 24, 10,000 -> 20,000
# +14-20%, stop 25; with a member a purchase, 100,000 members, no change; docs/PERFORMANCE.md).
IMPORT_BATCH = {"sqlite": 40_000, "postgresql": 20_000}
SQLITE_LOCKED_BATCH = 10_000
# The databases where a batch import commits each batch while it works on the next
# (``services.pipelined_import``): PostgreSQL, whose server works apart from the importer, and
# SQLite (a database file, and a file of more than one batch), whose batches a child process
# commits (``services.sqlite_committer``): SQLite writes in the process that holds the
# connection, mostly holding the interpreter's lock, so a thread of the importer's gained nothing
# (stop 26, docs/PERFORMANCE.md).
PIPELINED = frozenset({"postgresql", "sqlite"})
# SQLite overlaps an import's batches only from this many lines left to import: its child process
# takes ~0.6 s to start (a fresh interpreter), the work of ~8,000 purchases, which a smaller file
# would wait for
SQLITE_OVERLAP_FROM = 20_000
# The tables a batch import looks rows up in by lists of keys (``bulk.select_in``). PostgreSQL
# plans those look-ups from the tables' statistics, which autovacuum refreshes far less often
# than an import fills the tables: planned for a table it believes holds a few dozen rows, a
# look-up of 500 keys read every row of the program (a bitmap scan on ``program_id`` alone,
# ~40,000 rows filtered out a query at 40,000 purchases), so an import slowed as it went.
LOOKED_UP = ("members", "lots", "orders", "inputs", "member_keys")


def _retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None)
    if code in RETRYABLE_PG:
        return True
    if isinstance(exc, IntegrityError):  # two first inputs for one new member raced
        return True
    return isinstance(exc, OperationalError) and "locked" in str(exc.orig).lower()


@dataclass
class ImportReport:
    lines: int = 0
    accepted: int = 0
    resumed_from: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    by_others: int = 0  # lines another import of the same file applied while this one ran


class DurableEngine:
    def __init__(
        self,
        program: Program,
        database: str | None = None,
        db: Engine | None = None,
        *,
        create: bool = True,
    ):
        """``create=False`` (readers: summaries, reports, look-ups): the database and the program
        must exist already; nothing is created or registered."""
        self.program = program
        self.db = db if db is not None else make_engine(database)
        ensure_schema(self.db, create)
        # batch imports commit each batch while the next one is worked on (``PipelinedImport``)
        self.pipelined = self.db.dialect.name in PIPELINED
        self._register_program(create)

    # -- the program ---------------------------------------------------------------------------
    def _register_program(self, create: bool = True) -> None:
        definition = self.program.model_dump_json()
        with self.db.begin() as conn:
            row = conn.execute(
                select(t.programs.c.definition).where(t.programs.c.program_id == self.program.id)
            ).first()
            if row is None and not create:
                raise DatabaseError(
                    f"program {self.program.id} is not in this database: import its inputs first",
                    "program",
                )
            if row is None:
                insert_ignore(
                    conn,
                    t.programs,
                    [
                        {
                            "program_id": self.program.id,
                            "name": self.program.name,
                            "definition": definition,
                            "member_seq": 0,
                        }
                    ],
                )
                insert_ignore(
                    conn,
                    t.program_versions,
                    [
                        {
                            "program_id": self.program.id,
                            "effective": v.effective.isoformat(),
                            "changes": json.dumps(v.changes),
                        }
                        for v in self.program.versions
                    ],
                )
            elif row[0] != definition:
                raise DatabaseError(
                    f"program {self.program.id} in the database differs from the one given; a "
                    "change of rules is a new version (see docs/programs.md)",
                    "program",
                )

    @property
    def import_batch(self) -> int:
        """The lines a batch import commits at once by default, for this database."""
        return IMPORT_BATCH[self.db.dialect.name]

    def now(self, conn: Connection) -> datetime | None:
        """The program's clock: its last accepted input (or job run), whichever is later."""
        return program_clock(conn, self.program.id)

    def _move_clock(self, conn: Connection, at: datetime) -> None:
        conn.execute(
            update(t.programs)
            .where(
                t.programs.c.program_id == self.program.id,
                (t.programs.c.now.is_(None)) | (t.programs.c.now < utc(at)),
            )
            .values(now=utc(at))
        )

    def _engine(
        self, conn: Connection, *, lock: bool, documents: MemberDocuments | None = None
    ) -> tuple[LoyaltyEngine, SqlRegistry]:
        registry = SqlRegistry(conn, self.program, lock=lock, documents=documents)
        return LoyaltyEngine(self.program, registry), registry

    # -- one input, one transaction ----------------------------------------------------------
    def apply(self, raw: str | bytes | dict[str, Any] | Event, attempts: int = 20) -> Outcome:
        try:
            event = raw if not isinstance(raw, (str, bytes, dict)) else parse_event(raw)
        except LoyaltyError as exc:
            return Outcome(False, exc)
        return self._retrying(lambda conn: self._apply_one(conn, event), attempts)

    def _apply_one(self, conn: Connection, event: Event) -> Outcome:
        engine, registry = self._engine(conn, lock=True)
        engine.member_time_order = True
        outcome = engine.apply(event)
        if not outcome.accepted:
            # The same input may have been committed by another transaction while this one
            # waited for the member's lock: answer as a repeat would.
            outcome = self._repeat_of(conn, event) or outcome
        if outcome.accepted and not outcome.duplicate:
            registry.flush(event.at)
            if not hasattr(event, "member"):
                self._move_clock(conn, event.at)
        return outcome

    def _repeat_of(self, conn: Connection, event: Event) -> Outcome | None:
        key = event.key()
        if key is None:
            return None
        registry = SqlRegistry(conn, self.program)  # fresh: reads what others committed
        if registry.seen_input(key) is None:
            return None
        return LoyaltyEngine(self.program, registry).apply(event)  # a duplicate, or a conflict

    # -- batch import ---------------------------------------------------------------------------
    def import_file(
        self,
        path: str | Path,
        *,
        batch: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportReport:
        """Apply a file of inputs, ``batch`` lines a transaction (default: ``import_batch``)."""
        if batch is not None and batch < 1:
            raise DatabaseError(f"a batch is at least one line, not {batch}", "batch")
        batch = self.import_batch if batch is None else batch
        path = Path(path)
        source = hashlib.sha256(path.read_bytes()).hexdigest()[:64]
        pid = self.program.id
        with self.db.begin() as conn:
            row = conn.execute(t.import_progress(pid, source)).first()
            if row is None:  # the row every batch locks first (see ``_import_batch``)
                insert_ignore(
                    conn,
                    t.imports,
                    [{"program_id": pid, "source": source, "lines_done": 0, "accepted": 0}],
                )
        report = ImportReport()
        done, accepted = (int(row[0]), int(row[1])) if row else (0, 0)
        report.resumed_from = done
        with path.open("rb") as handle:
            total = sum(1 for _ in handle)
        documents = MemberDocuments()  # members this import wrote, reused while unchanged
        batches = 0

        def finished(chunk: list[tuple[int, bytes]], others: int) -> None:
            nonlocal batches, done
            heap.step()
            batches += 1
            if batches & (batches - 1) == 0:  # after batches 1, 2, 4, 8, ...
                refresh()
            report.by_others += others
            done = max(done, chunk[-1][0])
            if progress is not None:
                progress(done, total)

        left = total - done
        pipelined = self.pipelined and (
            self.db.dialect.name != "sqlite"
            or (left > batch and left >= SQLITE_OVERLAP_FROM and _on_disk(self.db))
        )
        pipeline = PipelinedImport(self, source, documents, finished) if pipelined else None
        refresh = self._refresh_statistics if pipeline is None else pipeline.refresh_statistics
        chunks = _batches(self._numbered(path, done), batch)
        with GrowingHeap() as heap:
            if pipeline is not None:
                accepted = pipeline.run(chunks, done, accepted)
            else:
                for chunk in chunks:
                    accepted = self._serial_batch(chunk, source, documents, finished)
        report.lines, report.accepted = done, accepted
        with self.db.connect() as conn:
            conn.execution_options(**{READ_ONLY: True})
            report.rejected = [
                {"line": int(r[0]), "error": r[1]}
                for r in conn.execute(
                    select(t.import_rejections.c.line, t.import_rejections.c.error)
                    .where(
                        t.import_rejections.c.program_id == pid,
                        t.import_rejections.c.source == source,
                    )
                    .order_by(t.import_rejections.c.line)
                )
            ]
        return report

    def _serial_batch(
        self,
        chunk: list[tuple[int, bytes]],
        source: str,
        documents: MemberDocuments,
        finished: Callable[[list[tuple[int, bytes]], int], None],
    ) -> int:
        """One batch of an import that does not overlap its batches; returns the count of accepted
        lines so far. Each transaction committed is reported to ``finished``. On SQLite the batch
        is first tried without the write lock (``_unlocked_batch``), and if that fails it is done
        holding the lock, ``SQLITE_LOCKED_BATCH`` lines a transaction: SQLite's lock is the whole
        database's, and a live input waits for one part, not the batch."""
        parts: Iterator[list[tuple[int, bytes]]] = iter([chunk])
        if self.db.dialect.name == "sqlite":
            unlocked = self._unlocked_batch(chunk, source, documents)
            if unlocked is not None:
                accepted, others = unlocked
                finished(chunk, others)
                return accepted
            parts = _batches(iter(chunk), SQLITE_LOCKED_BATCH)
        accepted = 0
        for part in parts:
            accepted, others = self._retrying(
                partial(self._import_batch, lines=part, source=source, documents=documents),
                # a failed attempt may have changed members the cache holds: forget them
                on_retry=documents.clear,
            )
            finished(part, others)
        return accepted

    def _unlocked_batch(
        self, lines: list[tuple[int, bytes]], source: str, documents: MemberDocuments
    ) -> tuple[int, int] | None:
        """SQLite: a batch's one attempt without the write lock while it reads and applies its
        inputs (``OPTIMISTIC``): the lock is taken by its first write, which SQLite refuses if
        another connection committed since the batch's first read (a live input, another import).
        Returns what ``_import_batch`` returns, or None when refused or when the lock could not be
        had at once: nothing of the batch is then written (its transaction is rolled back) and
        the caller does it again holding the lock."""
        try:
            with self.db.connect() as conn:
                conn.execution_options(**{OPTIMISTIC: True})
                with conn.begin():
                    return self._import_batch(conn, lines, source, documents)
        except DBAPIError as exc:
            if not _retryable(exc):
                raise
            documents.clear()  # the attempt changed members it keeps: forget them
            return None

    def _refresh_statistics(self) -> None:
        """PostgreSQL: ANALYZE the tables an import looks rows up in (``LOOKED_UP``), after its
        batches 1, 2, 4, 8, ...: their statistics never lag their size by more than half, at a
        cost that grows with the logarithm of the import (ANALYZE reads a sample of at most
        30,000 rows a table, and takes no lock that blocks reads or writes)."""
        if self.db.dialect.name != "postgresql":
            return
        with self.db.begin() as conn:
            conn.exec_driver_sql(f"ANALYZE {', '.join(LOOKED_UP)}")

    def _import_batch(
        self,
        conn: Connection,
        lines: list[tuple[int, bytes]],
        source: str,
        documents: MemberDocuments,
    ) -> tuple[int, int]:
        """One batch, one transaction: the inputs, the file's progress and its rejections. The
        members the batch reads are locked (PostgreSQL) as a live input locks its member, so a
        live input for one of them waits for the batch instead of being overwritten by it.

        The file's progress row is locked first: two imports of one file at once take its
        batches in turn, and each skips the lines the other has committed meanwhile, so no line
        is applied twice and the work is shared. Returns the count of accepted lines so far and
        the count of this batch's lines the other import had applied."""
        pid = self.program.id
        progress = conn.execute(t.import_progress(pid, source).with_for_update()).one()
        done, accepted = int(progress[0]), int(progress[1])
        left = [line for line in lines if line[0] > done]
        if not left:
            return accepted, len(lines)
        others, lines = len(lines) - len(left), left
        engine, registry = self._engine(conn, lock=True, documents=documents)
        engine.now = self.now(conn)
        applied, rejections = self._apply_lines(engine, registry, lines, source)
        accepted += applied
        registry.flush(engine.now)
        self._batch_done(conn, source, engine.now, rejections, (lines[-1][0], accepted))
        documents.mark(conn)
        return accepted, others

    def _batch_done(
        self,
        conn: Connection,
        source: str,
        now: datetime | None,
        rejections: list[dict[str, Any]],
        progress: tuple[int, int],
    ) -> None:
        """The end of a batch's writes: the program's clock, the lines rejected, and the file's
        ``progress`` (lines done, inputs accepted)."""
        if now is not None:
            self._move_clock(conn, now)
        if rejections:
            insert_ignore(conn, t.import_rejections, rejections)
        insert_rows(
            conn,
            t.imports,
            ("program_id", "source", "lines_done", "accepted"),
            [(self.program.id, source, *progress)],
            conflict=("program_id", "source"),
            on_conflict="update",
        )

    def _apply_lines(
        self,
        engine: LoyaltyEngine,
        registry: SqlRegistry,
        lines: list[tuple[int, bytes]],
        source: str,
        read: Callable[[], None] | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """Apply a batch's lines (read together: ``_prefetch``, then ``read()`` if given);
        returns how many were accepted and the rows of the rejected ones."""
        accepted, rejections = 0, []
        items = self._prefetch(registry, lines)
        if read is not None:
            read()
        for number, item in items:
            outcome = engine.apply(item)
            if outcome.accepted:
                accepted += 1
            else:
                error = str(outcome.error)
                rejections.append(
                    {
                        "program_id": self.program.id,
                        "source": source,
                        "line": number,
                        "error": error,
                    }
                )
        return accepted, rejections

    def _retrying(
        self,
        work: Callable[[Connection], _T],
        attempts: int = 20,
        on_retry: Callable[[], None] | None = None,
    ) -> _T:
        """Run ``work`` in one transaction, again from the start after a serialisation failure,
        a deadlock or a lock timeout (two transactions locking the same members). ``on_retry``
        runs after each failed attempt, to drop what the attempt left in memory."""
        for attempt in range(attempts):
            try:
                with self.db.begin() as conn:
                    return work(conn)
            except DBAPIError as exc:
                if not _retryable(exc) or attempt == attempts - 1:
                    raise
                if on_retry is not None:
                    on_retry()
                time.sleep(min(0.5, 0.005 * 2**attempt))
        raise AssertionError("unreachable")

    @staticmethod
    def _prefetch(
        registry: SqlRegistry, lines: list[tuple[int, bytes]]
    ) -> list[tuple[int, Event | bytes]]:
        """Parse a batch once, and load the members, orders, idempotency records and contacts it
        names with a few queries instead of one each. Lines that do not parse are passed on as
        they are (the engine rejects them with the reason)."""
        members: set[str] = set()
        orders: set[str] = set()
        keys: set[tuple[str, ...]] = set()
        emails: set[str] = set()
        phones: set[str] = set()
        out: list[tuple[int, Event | bytes]] = []
        for number, line in lines:
            if not line.strip():
                continue
            try:
                event = parse_event(line)
            except LoyaltyError:
                out.append((number, line))
                continue
            out.append((number, event))
            member = getattr(event, "member", None)
            if isinstance(member, str):
                members.add(member)
            order = getattr(event, "order", None)
            if isinstance(order, str):
                orders.add(order)
            key = event.key()
            if key is not None:
                keys.add(key)
            if isinstance(event, Enroll):
                email, phone = enroll_contacts(event.email, event.phone)
                if email:
                    emails.add(email)
                if phone:
                    phones.add(phone)
        # the orders first, then every member they and the inputs name, locked in one order
        registry.prefetch(set(), orders)
        owners = {registry.orders[o] for o in orders if registry.orders.get(o)}
        registry.prefetch(members | {o for o in owners if o is not None}, set())
        registry.prefetch_inputs(keys)
        registry.prefetch_contacts(emails, phones)
        return out

    @staticmethod
    def _numbered(path: Path, skip: int) -> Iterator[tuple[int, bytes]]:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if number > skip:
                    yield number, line

    # -- jobs -----------------------------------------------------------------------------------
    def run_jobs(self, until: datetime | None = None, chunk: int = 500) -> int:
        """Advance every member with work due at or before ``until`` (default: the program's
        clock). Returns how many members were advanced."""
        pid = self.program.id
        with self.db.connect() as conn:
            conn.execution_options(**{READ_ONLY: True})
            until = until or self.now(conn)
        if until is None:
            return 0
        moved = 0
        while True:
            with self.db.begin() as conn:
                query = (
                    select(t.members.c.member_id)
                    .where(t.members.c.program_id == pid, t.members.c.next_due_at <= utc(until))
                    .order_by(t.members.c.next_due_at)
                    .limit(chunk)
                )
                if conn.dialect.name == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                ids = [str(r[0]) for r in conn.execute(query)]
                if not ids:
                    self._move_clock(conn, until)
                    return moved
                engine, registry = self._engine(conn, lock=False)
                for member_id in ids:
                    member = registry.member(member_id)
                    assert member is not None
                    engine.run_jobs(member, until)
                    registry.changed(member)
                registry.flush(None)
                moved += len(ids)

    # -- reading ---------------------------------------------------------------------------------
    def summaries(self, member: str | None = None) -> dict[str, dict[str, Any]]:
        """SPEC §8 member summaries at the program's clock (nothing is written)."""
        with self.db.connect() as conn:
            conn.execution_options(**{READ_ONLY: True})
            engine, registry = self._engine(conn, lock=False)
            engine.now = self.now(conn)
            if member is not None:
                found = registry.member(member)
                if found is None:
                    raise DatabaseError(f"unknown member {member}", "member")
                return {found.id: engine.summary(found.id)}
            out = {}
            for member_id in registry.member_ids():
                out[member_id] = engine.summary(member_id)
                registry.members.pop(member_id, None)
            return out

    def find_member(
        self, number: str | None = None, email: str | None = None, phone: str | None = None
    ) -> str | None:
        with self.db.connect() as conn:
            conn.execution_options(**{READ_ONLY: True})
            engine, _ = self._engine(conn, lock=False)
            return engine.find_member(number=number, email=email, phone=phone)

    def ledger(self, member: str) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            conn.execution_options(**{READ_ONLY: True})
            rows = conn.execute(
                select(
                    t.ledger.c.seq,
                    t.ledger.c.at,
                    t.ledger.c.kind,
                    t.ledger.c.points,
                    t.ledger.c.ref,
                    t.ledger.c.note,
                )
                .where(t.ledger.c.program_id == self.program.id, t.ledger.c.member_id == member)
                .order_by(t.ledger.c.seq)
            )
            return [dict(r._mapping) for r in rows]


def _on_disk(db: Engine) -> bool:
    """A SQLite database in a file, which another process can open (not ``:memory:``), and a
    system where the importer can start one (``sqlite_committer``)."""
    name = db.url.database
    return bool(name) and name != ":memory:" and "mode=memory" not in str(db.url) and can_start()


def _batches(lines: Iterator[tuple[int, bytes]], size: int) -> Iterator[list[tuple[int, bytes]]]:
    """The numbered lines, ``size`` at a time."""
    while True:
        chunk = [line for _, line in zip(range(size), lines, strict=False)]
        if not chunk:
            return
        yield chunk
