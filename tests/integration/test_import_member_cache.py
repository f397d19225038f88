"""A batch import keeps the members it wrote and reuses them in its next batches while their
stored document is unchanged (``MemberDocuments``). A member changed by someone else between two
batches must be read again: here a live input lands between the batches of an import, on SQLite
and on PostgreSQL, and the result equals a replay of every input in time order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loyalty import load_program, replay_lines
from loyalty.adapters.sql import registry as sql_registry
from loyalty.adapters.sql import schema as t
from loyalty.adapters.sql.registry import MemberDocuments
from loyalty.domain.member import Member
from loyalty.services.durable import DurableEngine
from tests.builders import ENROLL, store_purchase

LIVE = json.dumps(
    {
        "type": "adjust",
        "at": "2024-03-05T12:00:00-05:00",
        "member": "m1",
        "points": 500,
        "reason": "goodwill",
    }
)


def test_a_member_changed_between_batches_is_read_again(database_url: str, tmp_path: Path) -> None:
    lines = [ENROLL, *(store_purchase(n, day) for n, day in ((1, 2), (2, 3), (3, 10), (4, 11)))]
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines) + "\n")
    durable = DurableEngine(load_program("soko"), database_url)
    applied: list[bool] = []

    def between_batches(done: int, total: int) -> None:
        if done == 3:  # after the first batch (enroll + two purchases), before the rest
            applied.append(durable.apply(LIVE).accepted)

    report = durable.import_file(path, batch=3, progress=between_batches)
    assert applied == [True] and report.accepted == 5
    expected = replay_lines("soko", [*lines[:3], LIVE, *lines[3:]]).engine.summary("m1")
    assert durable.summaries()["m1"] == expected
    assert expected["points"]["available"] + expected["points"]["pending"] > 500
    durable.db.dispose()


def _import_counting_member_reads(
    durable: DurableEngine, path: Path, monkeypatch: pytest.MonkeyPatch, between: Any = None
) -> list[int]:
    """Import ``path`` in batches of 2; returns, for each batch, how many times its members'
    rows were read (``between(done)`` runs after each batch's commit)."""
    reads = [0]
    real_select_in = sql_registry.select_in

    def counting(conn: Any, table: Any, *args: Any, **kwargs: Any) -> Any:
        if table is t.members:
            reads[-1] += 1
        return real_select_in(conn, table, *args, **kwargs)

    def progress(done: int, total: int) -> None:
        if between is not None:
            between(done)
        reads.append(0)

    monkeypatch.setattr(sql_registry, "select_in", counting)
    durable.import_file(path, batch=2, progress=progress)
    return reads[:-1]


def _lines(tmp_path: Path) -> tuple[list[str], Path]:
    lines = [ENROLL, *(store_purchase(n, day) for n, day in ((1, 2), (2, 3), (3, 10), (4, 11)))]
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return lines, path


def test_sqlite_members_kept_are_not_read_again_while_nothing_else_writes(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: when nothing was committed since the import's last batch (``PRAGMA
    data_version``, and the rows its own connection changed), the members it kept are as
    stored, and the next batch takes them without reading their rows."""
    lines, path = _lines(tmp_path)
    durable = DurableEngine(load_program("soko"), sqlite_url)
    reads = _import_counting_member_reads(durable, path, monkeypatch)
    assert reads == [1, 0, 0]  # the first batch looks m1 up (a new member); the others trust it
    assert durable.summaries()["m1"] == replay_lines("soko", lines).engine.summary("m1")
    durable.db.dispose()


@pytest.mark.parametrize("writer", ["another connection", "the import's own connection"])
def test_sqlite_a_write_between_batches_makes_the_import_read_its_members_again(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: str
) -> None:
    """A live input between two batches, through another engine (another connection: SQLite's
    ``data_version`` moves) or through the importer's own pool (the same connection: its count
    of changed rows moves): the next batch reads its members again, and sees the input."""
    lines, path = _lines(tmp_path)
    durable = DurableEngine(load_program("soko"), sqlite_url)
    live = durable if writer != "another connection" else DurableEngine(
        load_program("soko"), sqlite_url
    )  # fmt: skip
    applied: list[bool] = []
    later = LIVE.replace("2024-03-05T12:00:00", "2024-03-10T18:00:00")  # after o3, before o4

    def between(done: int) -> None:
        if done == 4:  # after the second batch (o2 and o3), before the third (o4)
            applied.append(live.apply(later).accepted)

    reads = _import_counting_member_reads(durable, path, monkeypatch, between)
    assert applied == [True] and reads == [1, 0, 1]
    expected = replay_lines("soko", [*lines[:4], later, *lines[4:]]).engine.summary("m1")
    assert durable.summaries()["m1"] == expected
    durable.db.dispose()
    live.db.dispose()


def test_documents_are_reused_only_when_identical() -> None:
    from datetime import UTC, datetime

    at = datetime(2024, 1, 1, tzinfo=UTC)
    member = Member("m1", "1", "active", {}, at, at)
    documents = MemberDocuments(limit=2)
    documents.put("m1", "{doc}", member)
    assert documents.get("m1", "{doc}") is member
    assert documents.get("m1", "{other}") is None
    documents.put("m2", "a", member)
    documents.put("m3", "b", member)
    assert len(documents) == 2 and documents.get("m1", "{doc}") is None  # oldest forgotten


def test_a_member_whose_lots_alone_changed_is_read_again(database_url: str) -> None:
    """Lots are rows of their own, not part of the member's document; the document counts the
    changes made to them (``Wallet.lot_changes``), so that a change to the lots alone changes
    the document, and a writer keeping the member reads it again with its new lots."""
    durable = DurableEngine(load_program("soko"), database_url)
    assert durable.apply(ENROLL).accepted and durable.apply(store_purchase(1, 2)).accepted
    kept = MemberDocuments()
    with durable.db.begin() as conn:  # a batch import writes m1 and keeps it
        _, registry = durable._engine(conn, lock=True, documents=kept)
        first = registry.member("m1")
        assert first is not None and first.wallet.available > 10
        registry.changed(first)
        registry.flush(None)
    assert len(kept) == 1
    remaining = [lot.remaining for lot in first.wallet.lots]
    with durable.db.begin() as conn:  # another writer takes points from m1's lots, no more
        _, registry = durable._engine(conn, lock=True)
        other = registry.member("m1")
        assert other is not None and other is not first
        assert other.wallet.take(10) == 0
        registry.changed(other)
        registry.flush(None)
    with durable.db.begin() as conn:  # the import's next batch
        _, registry = durable._engine(conn, lock=True, documents=kept)
        again = registry.member("m1")
        assert again is not None and again is not first
        assert sum(lot.remaining for lot in again.wallet.lots) == sum(remaining) - 10
    durable.db.dispose()


def test_a_document_holds_no_lots_and_an_older_one_is_read_with_its_own(
    database_url: str,
) -> None:
    """A member is stored as its document and its lot rows; a document written before stop 19
    holds its lots, and is read with them."""
    from sqlalchemy import select, update

    from loyalty.adapters import codec
    from loyalty.adapters.sql import schema as t

    durable = DurableEngine(load_program("soko"), database_url)
    for line in (ENROLL, store_purchase(1, 2), store_purchase(2, 20)):
        assert durable.apply(line).accepted
    before = durable.summaries()["m1"]
    where = (t.members.c.program_id == "soko") & (t.members.c.member_id == "m1")
    with durable.db.begin() as conn:
        text = conn.execute(select(t.members.c.state).where(where)).scalar_one()
        doc = json.loads(text)
        assert "lots" not in doc["wallet"] and doc["wallet"]["lot_changes"] >= 1
        _, registry = durable._engine(conn, lock=False)
        member = registry.member("m1")
        assert member is not None and member.wallet.lots
        doc["wallet"]["lots"] = [codec.lot_to_list(lot) for lot in member.wallet.lots]
        del doc["wallet"]["lot_changes"]  # as an older version wrote it
        conn.execute(update(t.members).where(where).values(state=json.dumps(doc)))
        conn.execute(t.lots.delete().where(t.lots.c.member_id == "m1"))  # the document's count
    assert durable.summaries()["m1"] == before
    durable.db.dispose()
