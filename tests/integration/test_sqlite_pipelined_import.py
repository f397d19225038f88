"""SQLite: a batch import's batch reads and applies its inputs without the database's one write
lock, and takes it for its writes alone (issue 3: live inputs wait for a batch's writes, not for
its work; ``services.pipelined_import``, ``_take_lock``). If another connection commits before
the batch has the lock, the batch is done again holding it, in transactions of
``SQLITE_REDO_BATCH`` lines, and the import ends as if the live input had come first."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from loyalty import load_program
from loyalty.adapters.sql import schema as t
from loyalty.services import pipelined_import
from loyalty.services.durable import DurableEngine
from loyalty.services.synthetic import generate_history

BATCH = 40


def _history(path: Path) -> tuple[Path, int]:
    lines = list(generate_history(load_program("soma"), members=30, months=6, seed=3))
    path.write_text("".join(line + "\n" for line in lines))
    return path, len(lines)


def _live_enrollment(history: Path) -> str:
    """A member's enrollment as the history's first one, before it (a live input)."""
    first = next(json.loads(line) for line in history.open() if '"enroll"' in line)
    assert first["type"] == "enroll"
    first.update(
        at="2023-12-01T10:00:00-08:00",
        member="live-1",
        email="live-1@example.com",
        phone="+15559990001",
    )
    return json.dumps(first)


def _state(durable: DurableEngine) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    summaries = durable.summaries()
    return summaries, {m: durable.ledger(m) for m in summaries}


def _rows(durable: DurableEngine) -> dict[str, list[tuple[Any, ...]]]:
    with durable.db.connect() as conn:
        return {
            table.name: sorted(map(tuple, conn.execute(table.select())), key=repr)
            for table in t.metadata.sorted_tables
            if table.name != "imports"  # (its progress rows name the file, the same here)
        }


def _lock_is_free(database: str) -> bool:
    """Whether another connection can take the write lock at once."""
    probe = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


def _redone(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The first line of each batch done again the ordinary way."""
    redone: list[int] = []
    real = pipelined_import.PipelinedImport._serially

    def counting(self: Any, lines: list[tuple[int, bytes]]) -> None:
        redone.append(lines[0][0])
        real(self, lines)

    monkeypatch.setattr(pipelined_import.PipelinedImport, "_serially", counting)
    return redone


@pytest.mark.parametrize("preset", ["soko", "sogo", "soma"])
def test_sqlite_rows_are_those_of_one_batch_after_the_other(tmp_path: Path, preset: str) -> None:
    """Every row of every table, against the same file imported one batch after the other (small
    batches: many members, orders and inputs carried from one batch to the next; their rows go
    to SQLite as JSON)."""
    program = load_program(preset)
    path = tmp_path / "history.jsonl"
    history = generate_history(program, members=60, months=12, seed=11)
    path.write_text("".join(f"{line}\n" for line in history))
    pipelined = DurableEngine(program, f"sqlite:///{tmp_path}/pipelined.db")
    serial = DurableEngine(program, f"sqlite:///{tmp_path}/serial.db")
    serial.pipelined = False
    assert pipelined.pipelined
    reports = [d.import_file(path, batch=60) for d in (pipelined, serial)]
    assert reports[0] == reports[1] and reports[0].accepted > 500
    assert _rows(pipelined) == _rows(serial)
    pipelined.db.dispose()
    serial.db.dispose()


def test_a_live_input_goes_through_while_a_batch_works_and_the_batch_is_done_again_after_it(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history, count = _history(tmp_path / "history.jsonl")
    live_input = _live_enrollment(history)
    clean = DurableEngine(load_program("soma"), f"sqlite:///{tmp_path}/clean.db")
    assert clean.apply(live_input).accepted
    expected = clean.import_file(history, batch=BATCH)

    durable = DurableEngine(load_program("soma"), sqlite_url)
    live = DurableEngine(load_program("soma"), sqlite_url)  # another connection, as a server's
    real_apply_lines = DurableEngine._apply_lines
    seen: list[tuple[bool, bool]] = []

    def live_input_midway(self: DurableEngine, *args: Any, **kwargs: Any) -> Any:
        if not seen:  # the first batch has read its members; it applies its inputs next
            free = _lock_is_free(sqlite_url.removeprefix("sqlite:///"))
            # (with the lock held by this thread's batch, the live input would wait for it)
            seen.append((free, free and live.apply(live_input).accepted))
        return real_apply_lines(self, *args, **kwargs)

    monkeypatch.setattr(DurableEngine, "_apply_lines", live_input_midway)
    monkeypatch.setattr(pipelined_import, "SQLITE_REDO_BATCH", 15)
    redone = _redone(monkeypatch)
    commits: list[int] = []
    report = durable.import_file(history, batch=BATCH, progress=lambda d, _: commits.append(d))

    assert seen == [(True, True)]  # the lock was free while the batch worked; the input went in
    # the first batch lost to the live input's commit: done again in three locked transactions
    assert redone == [1]
    later = [min(start + BATCH, count) for start in range(BATCH, count, BATCH)]
    assert count > BATCH and commits == [15, 30, 40, *later]
    assert (report.lines, report.accepted, report.rejected) == (
        expected.lines,
        expected.accepted,
        expected.rejected,
    )
    assert _state(durable) == _state(clean)
    assert "live-1" in durable.summaries()
    for engine in (durable, live, clean):
        engine.db.dispose()


def test_batches_nobody_overtakes_are_never_done_again(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history, count = _history(tmp_path / "history.jsonl")
    durable = DurableEngine(load_program("soma"), sqlite_url)
    redone = _redone(monkeypatch)
    commits: list[int] = []
    report = durable.import_file(history, batch=BATCH, progress=lambda d, _: commits.append(d))
    assert redone == []
    assert commits == [min(start + BATCH, count) for start in range(0, count, BATCH)]
    assert report.accepted + len(report.rejected) == count
    durable.db.dispose()


def test_a_batch_waits_for_a_writer_holding_the_lock_and_is_done_again_after_its_commit(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer holds the lock when a batch comes to take it: the batch waits for it (as a
    live input does), sees that the writer committed, and is done again."""
    history, _ = _history(tmp_path / "history.jsonl")
    clean = DurableEngine(load_program("soma"), f"sqlite:///{tmp_path}/clean.db")
    expected = clean.import_file(history, batch=BATCH)
    durable = DurableEngine(load_program("soma"), sqlite_url)
    real_apply_lines = DurableEngine._apply_lines
    held = threading.Event()
    writers: list[threading.Thread] = []

    def write_while_held() -> None:
        writer = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        held.set()
        # (a row of no concern to the import: a commit that changes nothing moves nothing)
        writer.execute("INSERT INTO import_rejections VALUES ('other', 'other', 1, 'error')")
        time.sleep(0.3)
        writer.execute("COMMIT")
        writer.close()

    def hold_the_lock(self: DurableEngine, *args: Any, **kwargs: Any) -> Any:
        if not writers:  # while the first batch applies its inputs
            writers.append(threading.Thread(target=write_while_held))
            writers[0].start()
            held.wait()
        return real_apply_lines(self, *args, **kwargs)

    monkeypatch.setattr(DurableEngine, "_apply_lines", hold_the_lock)
    redone = _redone(monkeypatch)
    report = durable.import_file(history, batch=BATCH)
    writers[0].join()
    assert redone == [1]
    assert (report.accepted, report.rejected) == (expected.accepted, expected.rejected)
    assert _state(durable) == _state(clean)
    durable.db.dispose()
    clean.db.dispose()
