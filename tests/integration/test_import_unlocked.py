"""SQLite: a batch of a batch import reads and applies its inputs without the database's one write
lock, and takes it for its writes alone (issue 3: live inputs wait for a batch's writes, not for
its work; ``DurableEngine._unlocked_batch``). If another connection commits meanwhile, SQLite
refuses the batch's first write; the batch is then done again holding the lock, in transactions
of ``SQLITE_LOCKED_BATCH`` lines, and the import ends as if the live input had come first.

This is how a SQLite import that does not overlap its batches does each (a file of one batch; a
batch the overlapped import does again, and its first): here every import is made one, by
``pipelined = False``. The overlapped import: test_sqlite_pipelined_import.py."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from loyalty import load_program
from loyalty.services import durable as durable_module
from loyalty.services.durable import DurableEngine
from loyalty.services.synthetic import generate_history
from tests.import_checks import lock_is_free, state

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


def test_a_live_input_goes_through_while_a_batch_works_and_the_batch_is_done_again_after_it(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history, count = _history(tmp_path / "history.jsonl")
    live_input = _live_enrollment(history)
    clean = DurableEngine(load_program("soma"), f"sqlite:///{tmp_path}/clean.db")
    assert clean.apply(live_input).accepted
    expected = clean.import_file(history, batch=BATCH)

    durable = DurableEngine(load_program("soma"), sqlite_url)
    durable.pipelined = False
    live = DurableEngine(load_program("soma"), sqlite_url)  # another connection, as a server's
    real_apply_lines = DurableEngine._apply_lines
    seen: list[tuple[bool, bool]] = []

    def live_input_midway(self: DurableEngine, *args: Any, **kwargs: Any) -> Any:
        if not seen:  # the first batch has read its members; it applies its inputs next
            free = lock_is_free(sqlite_url.removeprefix("sqlite:///"))
            # (with the lock held by this thread's batch, the live input would wait for it)
            seen.append((free, free and live.apply(live_input).accepted))
        return real_apply_lines(self, *args, **kwargs)

    monkeypatch.setattr(DurableEngine, "_apply_lines", live_input_midway)
    monkeypatch.setattr(durable_module, "SQLITE_LOCKED_BATCH", 15)
    commits: list[int] = []
    report = durable.import_file(history, batch=BATCH, progress=lambda d, _: commits.append(d))

    assert seen == [(True, True)]  # the lock was free while the batch worked; the input went in
    # the first batch lost to the live input's commit: done again in three locked transactions
    later = [min(start + BATCH, count) for start in range(BATCH, count, BATCH)]
    assert count > BATCH and commits == [15, 30, 40, *later]
    assert (report.lines, report.accepted, report.rejected) == (
        expected.lines,
        expected.accepted,
        expected.rejected,
    )
    assert state(durable) == state(clean)
    assert "live-1" in durable.summaries()
    for engine in (durable, live, clean):
        engine.db.dispose()


def test_a_batch_nobody_overtakes_is_written_by_its_first_attempt(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history, count = _history(tmp_path / "history.jsonl")
    durable = DurableEngine(load_program("soma"), sqlite_url)
    durable.pipelined = False
    attempts: list[int] = []
    real_import_batch = DurableEngine._import_batch

    def counting(self: DurableEngine, conn: Any, lines: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append(len(lines))
        return real_import_batch(self, conn, lines, *args, **kwargs)

    monkeypatch.setattr(DurableEngine, "_import_batch", counting)
    report = durable.import_file(history, batch=BATCH)
    assert attempts == [min(BATCH, count - start) for start in range(0, count, BATCH)]
    assert report.accepted + len(report.rejected) == count
    durable.db.dispose()


def test_a_batch_whose_write_lock_is_held_by_another_writer_waits_for_it_once_locked(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer holds the lock when the batch comes to write: SQLite refuses the batch at
    once (a transaction that has read may not wait for the lock: the writer's commit would make
    what it read stale); the batch is then done again, waiting for the lock as a live input
    does."""
    history, count = _history(tmp_path / "history.jsonl")
    durable = DurableEngine(load_program("soma"), sqlite_url)
    durable.pipelined = False
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    real_apply_lines = DurableEngine._apply_lines
    held: list[bool] = []

    def hold_the_lock(self: DurableEngine, *args: Any, **kwargs: Any) -> Any:
        if not held:
            holder.execute("BEGIN IMMEDIATE")
            held.append(True)
        return real_apply_lines(self, *args, **kwargs)

    real_unlocked = DurableEngine._unlocked_batch
    outcomes: list[bool] = []

    def unlocked(self: DurableEngine, *args: Any, **kwargs: Any) -> Any:
        result = real_unlocked(self, *args, **kwargs)
        outcomes.append(result is not None)
        if holder.in_transaction:  # the refused batch gave up at once; the writer finishes
            holder.execute("ROLLBACK")
        return result

    monkeypatch.setattr(DurableEngine, "_apply_lines", hold_the_lock)
    monkeypatch.setattr(DurableEngine, "_unlocked_batch", unlocked)
    report = durable.import_file(history, batch=BATCH)
    assert outcomes[0] is False and all(outcomes[1:])
    assert report.accepted + len(report.rejected) == count
    holder.close()
    durable.db.dispose()
