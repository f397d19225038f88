"""A batch import on PostgreSQL with each batch's commit overlapping the next batch's work.

A batch import spends about as long in the engine's Python as PostgreSQL spends writing what the
batch changed, and one waits for the other (measured at 40,000 purchases: the importer and the
server each ~52% busy). Here batch k's rows, its progress row and its COMMIT go to a thread of
their own while this thread parses and applies batch k+1 on a second connection:

* batch k+1 must not read what batch k wrote, since that may not be committed yet. Its registry
  (``SqlRegistry.carry``) starts with what batch k wrote: the members with their lots' and
  certificates' states, the orders, the received inputs, the contacts and aliases, the member
  counter. The rest it reads, as a batch does, locking the members it reads.
* The members and orders it carried are not locked while it works: a live input may change one
  after batch k commits. So before batch k+1 writes, its thread locks the rows it is about to
  write again and checks that each is still the version batch k wrote (PostgreSQL's ``xmin``: the
  id of the transaction that wrote the row last); it checks the file's progress and the member
  counter too. If anything moved (a live input, another import of the file), the batch is rolled
  back (``StaleBatch``) and done again the ordinary way (``DurableEngine._import_batch``), as is
  any batch whose commit failed, with the batch that worked on top of it.
* New orders, received inputs, contacts and members are plain INSERTs: one that someone else
  took meanwhile fails the write by its key, and the batch is done again too.

SQLite has one write lock for the whole database, and no row versions. Its batches read on a
connection of their own without the lock (a read transaction beside the writer: WAL), and are
written and committed by a child process (``services.sqlite_committer``: SQLite writes in the
process that holds the connection), which takes the lock for the batch's writes alone and checks
that no other connection committed since its baseline, taken before the batches it commits began
to read: else the batch is done again the ordinary way (``_serially``). The members this import
keeps (``MemberDocuments``) are then taken as stored without reading their rows. A batch's read
transaction ends once its reads are done, so that the child's checkpoints can restart the
write-ahead log. The first lines (``SQLITE_ALONE``) are done alone while the child starts, and
the last ones (``SQLITE_LAST``) are a batch of their own.

Example: ``DurableEngine(program, "postgresql+psycopg://...").import_file("history.jsonl")``
imports this way (``durable.PIPELINED``); the result is the same as one batch after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import chain
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from loyalty.adapters.sql import schema as t
from loyalty.adapters.sql.bulk import row_versions
from loyalty.adapters.sql.database import AUTOCOMMIT, READ_ONLY
from loyalty.adapters.sql.registry import (
    MemberDocuments,
    SqlRegistry,
    StaleBatch,
    Write,
    expect_progress,
    portable,
    write_all,
)
from loyalty.domain.engine import Engine as LoyaltyEngine
from loyalty.services.sqlite_committer import SqliteCommitter

if TYPE_CHECKING:
    from loyalty.services.durable import DurableEngine

Lines = list[tuple[int, bytes]]
XID_SPAN = 2**32  # ``xmin`` is a transaction id without its epoch
# SQLite: the file's first lines done alone while the committing process starts (~0.6 s, the work
# of ~8,000 purchases); the rest of the first batch is the first to overlap
SQLITE_ALONE = 10_000
# SQLite: the file's last lines, a batch of their own, so that the last commit, which no work
# overlaps, is short (~0.15 s at 5,000 purchases, against ~1 s for a whole batch)
SQLITE_LAST = 5_000
COMMIT_LOCK_TIMEOUT = "2s"  # the longest a batch's commit waits for a row lock (``_commit``)


@dataclass
class _Committing:
    """A batch handed to the committing thread."""

    future: Future[int] | SqliteCommitter  # its transaction's id, once committed (SQLite: 0)
    lines: Lines  # all of the batch's, ``others`` of them skipped (another import applied them)
    registry: SqlRegistry
    now: datetime | None
    others: int


def _last_cut(batches: Iterator[Lines], size: int) -> Iterator[Lines]:
    """``batches``, the last one's last ``size`` lines a batch of their own."""
    held: Lines | None = None
    for batch in batches:
        if held is not None:
            yield held
        held = batch
    if held is not None:
        if len(held) > size:
            yield held[:-size]
            held = held[-size:]
        yield held


def _end_reads(conn: Connection) -> None:
    """SQLite: end a batch's read transaction; its later statements each a transaction."""
    conn.rollback()
    conn.execution_options(**{AUTOCOMMIT: True})


class PipelinedImport:
    """The batches of one import of one file (``DurableEngine.import_file``). ``finished(lines,
    others)`` is called, in this thread, after each batch is committed (``others``: lines of it
    another import of the file had applied); it may call ``refresh_statistics``."""

    def __init__(
        self,
        durable: DurableEngine,
        source: str,
        documents: MemberDocuments,
        finished: Callable[[Lines, int], None],
    ) -> None:
        self.durable = durable
        self.source = source
        self.documents = documents
        self.finished = finished
        self.done = 0  # the file's lines done once the batches handed over are committed
        self.accepted = 0
        self.committing: _Committing | None = None
        self.writer: ThreadPoolExecutor | None = None
        self.analyze = False  # statistics to refresh before the next commit
        # SQLite: the child process that commits the batches (``services.sqlite_committer``)
        self.sqlite = durable.db.dialect.name == "sqlite"
        self.committer: SqliteCommitter | None = None

    def refresh_statistics(self) -> None:
        """Refresh the statistics (``DurableEngine._refresh_statistics``) in the committing thread,
        before the next batch's commit: ANALYZE takes a few hundred ms of the server's time
        (measured: ~1.5 s of a 100,000-purchase import's ~11 s), which this thread then spends
        applying the next batch instead of waiting. It sees what it would have seen here: the
        batches committed so far, not the next one."""
        self.analyze = True

    def run(self, batches: Iterable[Lines], done: int, accepted: int) -> int:
        """Import ``batches``, the file's progress being ``done`` lines and ``accepted`` inputs;
        returns the count of accepted inputs at the end."""
        self.done, self.accepted = done, accepted
        batches = iter(batches)
        if self.sqlite:
            durable = self.durable
            url = durable.db.url.render_as_string(hide_password=False)
            self.committer = SqliteCommitter(durable.program, url, self.source)
        try:
            if self.committer is not None:  # the first lines alone, while the child starts
                first = next(batches, None)
                if first is not None:
                    self._alone(first[:SQLITE_ALONE])
                    if first[SQLITE_ALONE:]:
                        batches = chain([first[SQLITE_ALONE:]], batches)
                batches = _last_cut(batches, SQLITE_LAST)
            # on the way out, even by an error, the executor waits for the commit it was given
            with ThreadPoolExecutor(1, thread_name_prefix="loyalty-import-commit") as writer:
                self.writer = writer
                for lines in batches:
                    self._batch(lines)
                self._settle()
        finally:
            if self.committer is not None:
                self.committer.close()
                self.committer = None
        if self.analyze:  # asked for by the last batch
            self.analyze = False
            self.durable._refresh_statistics()
        return self.accepted

    # -- this thread -------------------------------------------------------------------------
    def _batch(self, chunk: Lines) -> None:
        durable = self.durable
        lines = [line for line in chunk if line[0] > self.done]  # (another import did the rest)
        if not lines:
            self.finished(chunk, len(chunk))
            return
        committing = self.committing
        if committing is not None and committing.registry.written.campaigns:
            self._settle()  # campaigns are not carried: read them once committed
            committing = None
        if self.committer is not None and committing is None:
            self.committer.baseline()  # before this batch reads
        conn = durable.db.connect()
        if self.sqlite:  # it reads without the write lock; the committing process writes
            conn.execution_options(**{READ_ONLY: True})
        try:
            conn.begin()
            if committing is not None:
                registry = committing.registry.carry(conn)
                # SQLite: the members the import keeps are as stored, unless someone else
                # committed since the baseline, which the committing process finds out before
                # this batch writes: they are taken without reading their rows
                registry.trust_documents = self.sqlite
            else:
                if self.sqlite and not self.documents.unchanged(conn):
                    # (someone committed since they were stored, maybe before the baseline:
                    # not to be trusted by the batches that take this one's members over)
                    self.documents.clear()
                registry = SqlRegistry(conn, durable.program, lock=True, documents=self.documents)
                registry.pipelined = True
            engine = LoyaltyEngine(durable.program, registry)
            clocks = [durable.now(conn), committing.now if committing is not None else None]
            known = [c for c in clocks if c is not None]
            engine.now = max(known) if known else None
            # SQLite: the batch's reads done, its read transaction ends, and reads on demand
            # (campaigns, the member counter, a certificate code) are each a transaction of
            # their own, so that the child's checkpoints can restart the write-ahead log: a
            # reader holding a snapshot keeps it growing (on the benchmark, to ~4x a serial
            # import's, and without end on a long import)
            read = partial(_end_reads, conn) if self.sqlite else None
            accepted, rejections = durable._apply_lines(engine, registry, lines, self.source, read)
            writes = registry.changes(engine.now)
            if self.sqlite:
                conn.close()  # (its reads are done)
        except DBAPIError:  # a deadlock, a clash: done again once the batch before is settled
            conn.close()
            self._settle()
            self._serially(chunk)
            return
        except BaseException:
            conn.close()
            raise
        xid = None
        if committing is not None:
            xid = self._wait()
            if xid is None:  # the batch before failed: both are done again, in order, once
                conn.close()  # this one's locks are let go
                self._serially(committing.lines)
                self._serially(chunk)
                return
        expected = self.done
        self.done, self.accepted = lines[-1][0], self.accepted + accepted
        analyze, self.analyze = self.analyze, False
        others = len(chunk) - len(lines)
        if self.committer is not None:
            progress = (self.done, self.accepted)
            pending = self.committer.commit(
                portable(writes), rejections, expected, progress, engine.now
            )
            self.committing = _Committing(pending, chunk, registry, engine.now, others)
            return
        assert self.writer is not None
        future = self.writer.submit(
            self._commit,
            conn,
            registry,
            writes,
            rejections,
            expected,
            (self.done, self.accepted),
            engine.now,
            xid,
            analyze,
        )
        self.committing = _Committing(future, chunk, registry, engine.now, others)

    def _wait(self) -> int | None:
        """Wait for the batch being committed; its transaction's id, or None if it failed (the
        caller does it again the ordinary way, once it holds no lock of its own)."""
        committing, self.committing = self.committing, None
        assert committing is not None
        try:
            xid = committing.future.result()
        except (StaleBatch, DBAPIError):
            return None
        self.finished(committing.lines, committing.others)
        return xid

    def _settle(self) -> None:
        """Wait for the batch being committed (this thread holds no connection)."""
        committing = self.committing
        if committing is not None and self._wait() is None:
            self._serially(committing.lines)

    def _serially(self, lines: Lines) -> None:
        """Do a batch again the ordinary way (every member read and locked, the progress row
        first), from what is committed."""
        durable = self.durable
        self.documents.clear()  # the members kept may hold the undone batch's changes
        if self.sqlite:
            self._alone(lines)
            return
        _, others = durable._retrying(
            partial(
                durable._import_batch, lines=lines, source=self.source, documents=self.documents
            ),
            on_retry=self.documents.clear,
        )
        self._from_progress()
        self.finished(lines, others)

    def _alone(self, lines: Lines) -> None:
        """SQLite: a batch done as an import that does not overlap its batches does it
        (``DurableEngine._serial_batch``), from what is committed."""
        self.durable._serial_batch(lines, self.source, self.documents, self.finished)
        self._from_progress()

    def _from_progress(self) -> None:
        """The lines done and inputs accepted, as the file's progress row holds them now, read
        together: another import of the file may have moved it since this one's last batch (read
        apart, the count of accepted inputs missed that import's batch in between: a test of two
        imports at once caught it, once in several runs)."""
        with self.durable.db.connect() as conn:
            query = t.import_progress(self.durable.program.id, self.source)
            done, accepted = conn.execute(query).one()
        self.done, self.accepted = int(done), int(accepted)

    # -- the committing thread ---------------------------------------------------------------
    def _commit(
        self,
        conn: Connection,
        registry: SqlRegistry,
        writes: list[Write],
        rejections: list[dict[str, Any]],
        expected: int,
        progress: tuple[int, int],
        now: datetime | None,
        xid: int | None,
        analyze: bool,
    ) -> int:
        """Check what the batch took on trust, write it, commit; returns the transaction's id
        (as ``xmin`` shows it). Runs in the committing thread, on the batch's own connection
        (``analyze``: refresh the statistics first, on another)."""
        durable, pid = self.durable, self.durable.program.id
        with conn:  # closed whatever fails, letting go of the batch's row locks
            if analyze:
                durable._refresh_statistics()
            # This thread may wait for a lock held by someone who waits for a row the importer's
            # other thread has locked, while that thread waits for this one: a cycle PostgreSQL
            # cannot see. A wait this long fails the batch instead, which is then done serially.
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{COMMIT_LOCK_TIMEOUT}'")
            expect_progress(conn, pid, self.source, expected)
            written = registry.written
            checks = (
                (t.orders, "order_id", registry.carried_orders, written.updated_orders),
                (t.members, "member_id", registry.carried_members, written.updated_members),
            )
            for table, key, carried, updated in checks:  # orders first, as the batches lock
                again = [k for k in updated if k in carried]
                if not again:
                    continue
                assert xid is not None
                versions = row_versions(conn, table, {"program_id": pid}, key, again)
                moved = [k for k in again if versions.get(k) != str(xid)]
                if moved:
                    raise StaleBatch(f"{table.name} changed meanwhile: {', '.join(moved[:5])}")
            write_all(writes)
            durable._batch_done(conn, self.source, now, rejections, progress)
            mine = int(conn.exec_driver_sql("SELECT pg_current_xact_id()::text").scalar_one())
            conn.commit()
        return mine % XID_SPAN
