"""The size of a batch import's transactions (issue 3), two to three seconds of work: 40,000 lines
on SQLite, where a batch takes the one write lock for its writes alone (``test_import_unlocked``),
and 20,000 on PostgreSQL, whose batches overlap (a batch holds the row locks of the members it read
until it commits); ``batch`` (``--batch``) overrides it. Each
batch reports its progress once, after its commit, so the calls show where the commits fell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from loyalty.adapters.sql.database import DatabaseError
from loyalty.programs.loader import load_program
from loyalty.services.durable import IMPORT_BATCH, LOOKED_UP, DurableEngine


def _ticks(path: Path, count: int) -> Path:
    path.write_text(
        "".join('{"type":"tick","at":"2024-01-01T09:00:00-05:00"}\n' for _ in range(count))
    )
    return path


def test_a_batch_is_40000_lines_on_sqlite_and_20000_on_postgresql(
    database_url: str, tmp_path: Path
) -> None:
    durable = DurableEngine(load_program("soko"), database_url)
    expected = {"sqlite": 40_000, "postgresql": 20_000}[durable.db.dialect.name]
    assert durable.import_batch == expected == IMPORT_BATCH[durable.db.dialect.name]
    commits: list[int] = []
    if durable.db.dialect.name == "sqlite":  # one batch after the other (overlapped: below)
        durable.pipelined = False
    report = durable.import_file(
        _ticks(tmp_path / "ticks.jsonl", expected + 1),
        progress=lambda done, total: commits.append(done),
    )
    assert commits == [expected, expected + 1]
    assert (report.lines, report.accepted, report.rejected) == (expected + 1, expected + 1, [])


def test_sqlite_overlapped_batches_begin_with_10000_lines_alone_and_end_with_5000(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The first lines are done alone while the committing process starts (~0.6 s), the last
    ones a batch of their own: the last commit, which nothing overlaps, is short
    (``pipelined_import.SQLITE_ALONE``, ``SQLITE_LAST``)."""
    durable = DurableEngine(load_program("soko"), sqlite_url)
    commits: list[int] = []
    report = durable.import_file(
        _ticks(tmp_path / "ticks.jsonl", 50_000), progress=lambda done, _: commits.append(done)
    )
    assert commits == [10_000, 40_000, 45_000, 50_000]
    assert report.accepted == 50_000


def test_a_batch_size_given_is_the_one_used(database_url: str, tmp_path: Path) -> None:
    durable = DurableEngine(load_program("soko"), database_url)
    commits: list[int] = []
    durable.import_file(
        _ticks(tmp_path / "ticks.jsonl", 7), batch=3, progress=lambda done, _: commits.append(done)
    )
    assert commits == [3, 6, 7]


@pytest.mark.parametrize("batch", [0, -5])
def test_a_batch_of_no_lines_is_refused_and_nothing_is_imported(
    sqlite_url: str, tmp_path: Path, batch: int
) -> None:
    durable = DurableEngine(load_program("soko"), sqlite_url)
    with pytest.raises(DatabaseError, match="a batch is at least one line") as refused:
        durable.import_file(_ticks(tmp_path / "ticks.jsonl", 3), batch=batch)
    assert refused.value.field == "batch"
    assert durable.import_file(_ticks(tmp_path / "ticks.jsonl", 3)).accepted == 3  # not resumed


def test_postgresql_statistics_are_refreshed_after_batches_1_2_4_8(
    postgres_url: str, tmp_path: Path
) -> None:
    """A batch import looks its new inputs, orders and members up by lists of keys; PostgreSQL
    plans those look-ups from statistics that autovacuum refreshes far less often than an import
    fills the tables, and planned for a table it believes tiny, a look-up read every row of the
    program. The import runs ANALYZE after its batches 1, 2, 4, 8, ...: here 9 batches of 10
    enrolments (one ``inputs`` row each), so the statistics count the 80 rows of batch 8, not 90."""
    durable = DurableEngine(load_program("soko"), postgres_url)
    with durable.db.begin() as conn:  # only the import may refresh them while the test runs
        for table in LOOKED_UP:
            conn.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = off)"))
    path = tmp_path / "enrolments.jsonl"
    path.write_text(
        "".join(
            json.dumps({"type": "enroll", "at": f"2024-01-01T09:00:{n:02d}-05:00",
                        "member": f"m{n}", "email": f"m{n}@example.com"}) + "\n"
            for n in range(50)
        ) + "".join(
            json.dumps({"type": "enroll", "at": f"2024-01-01T09:01:{n:02d}-05:00",
                        "member": f"m{50 + n}", "email": f"m{50 + n}@example.com"}) + "\n"
            for n in range(40)
        )
    )  # fmt: skip
    report = durable.import_file(path, batch=10)
    assert report.accepted == 90, report.rejected[:3]
    with durable.db.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM inputs")).scalar()
        counted = conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'inputs'"))
        assert (rows, counted.scalar()) == (90, 80)
    durable.db.dispose()
