"""PostgreSQL's batch import commits each batch while it works on the next
(``services.pipelined_import``, issue 3). The next batch takes what the one before wrote from
memory, since it may not be committed yet, and checks it when it writes: the result must be
exactly that of one batch after the other, also when a live input changes a member, an order or
the member counter between two batches."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError

from loyalty import load_program, replay_lines
from loyalty.adapters.sql import schema as t
from loyalty.services import pipelined_import
from loyalty.services.durable import DurableEngine
from loyalty.services.synthetic import generate_history
from tests.builders import ENROLL, store_purchase
from tests.conftest import fresh_postgres_database
from tests.import_checks import redone, rows


@pytest.mark.parametrize("preset", ["soko", "sogo", "soma"])
def test_the_rows_are_those_of_one_batch_after_the_other(
    postgres_server: str, tmp_path: Path, preset: str
) -> None:
    """Every row of every table, against the same file imported without the overlap (small
    batches: many members, orders and inputs carried from one batch to the next)."""
    program = load_program(preset)
    path = tmp_path / "history.jsonl"
    history = generate_history(program, members=60, months=12, seed=11)
    path.write_text("".join(f"{line}\n" for line in history))
    pipelined = DurableEngine(program, fresh_postgres_database(postgres_server))
    serial = DurableEngine(program, fresh_postgres_database(postgres_server))
    serial.pipelined = False
    assert pipelined.pipelined
    reports = [d.import_file(path, batch=20) for d in (pipelined, serial)]
    assert reports[0] == reports[1] and reports[0].accepted > 500
    assert rows(pipelined) == rows(serial)
    pipelined.db.dispose()
    serial.db.dispose()


def _import_with(durable: DurableEngine, path: Path, after_first: Any) -> None:
    """Import in batches of 3 lines; ``after_first()`` runs once the first batch is committed,
    when the second has been applied (not written) already."""

    def progress(done: int, total: int) -> None:
        if done == 3:
            after_first()

    durable.import_file(path, batch=3, progress=progress)


def test_a_live_input_for_a_member_carried_makes_the_batch_run_again(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """m1's second batch was worked out from m1 as the first batch left it; a live input changes
    m1 before that batch writes. Its check finds m1's row written by someone else: the batch is
    done again, and m1 ends as if the live input came between the batches."""
    lines = [ENROLL, *(store_purchase(n, day) for n, day in ((1, 2), (2, 3), (3, 10), (4, 11)))]
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines) + "\n")
    live = {"type": "adjust", "at": "2024-03-05T12:00:00-05:00", "member": "m1", "points": 500}
    live["reason"] = "goodwill"
    durable = DurableEngine(load_program("soko"), postgres_url)
    done_again = redone(monkeypatch)
    applied: list[bool] = []
    _import_with(durable, path, lambda: applied.append(durable.apply(json.dumps(live)).accepted))
    assert applied == [True]
    assert done_again == [4]  # the second batch (lines 4 and 5), once
    expected = replay_lines("soko", [*lines[:3], json.dumps(live), *lines[3:]])
    assert durable.summaries()["m1"] == expected.engine.summary("m1")
    durable.db.dispose()


def test_a_live_enrolment_between_batches_moves_the_member_counter(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second batch enrols m3 with the counter as the first batch left it; a live enrolment
    takes that number first. The batch is done again and m3 gets the next number, as in the
    order the inputs were committed."""

    def enrol(member: str, day: int) -> str:
        at = f"2024-03-{day:02d}T10:00:00-05:00"
        return json.dumps({"type": "enroll", "at": at, "member": member, "email": f"{member}@x"})

    lines = [enrol("m1", 1), enrol("m2", 2), store_purchase(1, 3), enrol("m3", 5)]
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines) + "\n")
    durable = DurableEngine(load_program("soko"), postgres_url)
    done_again = redone(monkeypatch)
    applied: list[bool] = []
    _import_with(durable, path, lambda: applied.append(durable.apply(enrol("live", 4)).accepted))
    assert applied == [True] and done_again == [4]
    expected = replay_lines("soko", [*lines[:3], enrol("live", 4), lines[3]]).engine
    with durable.db.connect() as conn:
        numbers = dict(conn.execute(select(t.members.c.member_id, t.members.c.number)).all())
    assert numbers == {m: expected.registry.members[m].number for m in numbers}
    assert len(set(numbers.values())) == 4
    durable.db.dispose()


def test_a_batch_whose_commit_failed_is_done_again_with_the_one_after_it(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit that fails (here the second batch's, once, as a deadlock would) leaves nothing:
    that batch and the one worked out on top of it are done again, in order, and the import
    ends as one batch after the other would."""
    program = load_program("sogo")
    path = tmp_path / "history.jsonl"
    history = list(generate_history(program, members=20, months=6, seed=4))
    path.write_text("".join(f"{line}\n" for line in history))
    durable = DurableEngine(program, postgres_url)
    real = pipelined_import.PipelinedImport._commit
    calls = [0]

    def failing_once(self: Any, conn: Connection, *args: Any) -> int:
        calls[0] += 1
        if calls[0] == 2:
            conn.close()  # (as ``_commit`` does, whatever fails: its locks let go)
            raise pipelined_import.StaleBatch("as if someone had changed a member")
        return real(self, conn, *args)

    monkeypatch.setattr(pipelined_import.PipelinedImport, "_commit", failing_once)
    done_again = redone(monkeypatch)
    report = durable.import_file(path, batch=30)
    assert done_again == [31, 61]
    expected = replay_lines(program, history)
    assert report.accepted == expected.accepted
    assert durable.summaries() == expected.engine.summaries()
    durable.db.dispose()


def test_a_statistics_refresh_that_fails_in_the_committing_thread_redoes_the_batch(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statistics are refreshed (ANALYZE, after batches 1, 2, 4, ...) by the committing
    thread, before the next batch's commit. If that fails, the batch's connection is closed too,
    letting go of the rows it locked: that batch and the next are done again the ordinary way
    (which would wait for ever for those locks otherwise), and the import ends as one batch after
    the other would."""
    program = load_program("sogo")
    path = tmp_path / "history.jsonl"
    history = list(generate_history(program, members=20, months=6, seed=4))
    path.write_text("".join(f"{line}\n" for line in history))
    durable = DurableEngine(program, postgres_url)
    real = DurableEngine._refresh_statistics
    failed: list[str] = []

    def failing_once(self: DurableEngine) -> None:
        thread = threading.current_thread().name
        if not failed and thread.startswith("loyalty-import-commit"):
            failed.append(thread)
            raise DBAPIError("ANALYZE members", None, Exception("canceling statement"), False)
        real(self)

    monkeypatch.setattr(DurableEngine, "_refresh_statistics", failing_once)
    done_again = redone(monkeypatch)
    done = threading.Event()
    outcome: list[Any] = []

    def run() -> None:
        outcome.append(durable.import_file(path, batch=30))
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(timeout=120), "the batch done again waits for the failed batch's locks"
    assert failed and done_again == [31, 61]  # ANALYZE after batch 1, before batch 2's commit
    expected = replay_lines(program, history)
    assert outcome[0].accepted == expected.accepted
    assert durable.summaries() == expected.engine.summaries()
    durable.db.dispose()


def test_a_live_input_for_an_order_carried_makes_the_batch_run_again(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An order bought without a member (no member's row to check) is shipped in the second
    batch, worked out from the order as the first batch wrote it; a live return changes the order
    first. The check of the order's row catches it: the batch is done again, and the order ends
    as if the return came between the batches."""
    anonymous = {**json.loads(store_purchase(9, 2)), "channel": "online"}
    del anonymous["member"]
    shipped = {"type": "shipment", "at": "2024-03-06T12:00:00-05:00", "order": "o9"}
    lines = [ENROLL, json.dumps(anonymous), store_purchase(1, 3), json.dumps(shipped)]
    lines.append(store_purchase(2, 7))
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines) + "\n")
    returned = {"type": "return", "at": "2024-03-05T12:00:00-05:00", "order": "o9"}
    returned |= {"return": "r1", "lines": [{"sku": "A", "amount": "40.00"}]}
    durable = DurableEngine(load_program("soko"), postgres_url)
    done_again = redone(monkeypatch)
    applied: list[Any] = []
    _import_with(durable, path, lambda: applied.append(durable.apply(json.dumps(returned))))
    assert applied[0].accepted, applied[0].error
    assert done_again == [4]
    with durable.db.connect() as conn:
        state = conn.execute(select(t.orders.c.state).where(t.orders.c.order_id == "o9")).scalar()
    serial = DurableEngine(load_program("soko"), fresh_postgres_database(postgres_url))
    serial.pipelined = False
    in_order = tmp_path / "in-order.jsonl"
    in_order.write_text("\n".join([*lines[:3], json.dumps(returned), *lines[3:]]) + "\n")
    serial.import_file(in_order, batch=3)
    with serial.db.connect() as conn:
        assert (
            conn.execute(select(t.orders.c.state).where(t.orders.c.order_id == "o9")).scalar()
            == state
        )
    assert json.loads(state)["lines"][0][3] is True  # returned
    durable.db.dispose()
    serial.db.dispose()
