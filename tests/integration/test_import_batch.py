"""The size of a batch import's transactions (issue 3), about a second of work: 10,000 lines on
SQLite, whose one writer gains from fewer, larger commits, and 5,000 on PostgreSQL, where a batch
holds the row locks of its members until it commits; ``batch`` (``--batch``) overrides it. Each
batch reports its progress once, after its commit, so the calls show where the commits fell."""

from __future__ import annotations

from pathlib import Path

import pytest

from loyalty.adapters.sql.database import DatabaseError
from loyalty.programs.loader import load_program
from loyalty.services.durable import IMPORT_BATCH, DurableEngine


def _ticks(path: Path, count: int) -> Path:
    path.write_text(
        "".join('{"type":"tick","at":"2024-01-01T09:00:00-05:00"}\n' for _ in range(count))
    )
    return path


def test_a_batch_is_10000_lines_on_sqlite_and_5000_on_postgresql(
    database_url: str, tmp_path: Path
) -> None:
    durable = DurableEngine(load_program("soko"), database_url)
    expected = 10_000 if database_url.startswith("sqlite") else 5_000
    assert durable.import_batch == expected == IMPORT_BATCH[durable.db.dialect.name]
    commits: list[int] = []
    report = durable.import_file(
        _ticks(tmp_path / "ticks.jsonl", expected + 1),
        progress=lambda done, total: commits.append(done),
    )
    assert commits == [expected, expected + 1]
    assert (report.lines, report.accepted, report.rejected) == (expected + 1, expected + 1, [])


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
