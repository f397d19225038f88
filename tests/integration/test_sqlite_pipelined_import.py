"""SQLite: a batch import of more than one batch overlaps them (issue 3; ``PipelinedImport``,
``services.sqlite_committer``). The importer reads and applies batch k+1 without the database's
write lock while a child process writes and commits batch k, taking the lock for its writes
alone. If another connection committed since the batches began to be read (a live input, another
writer), the child refuses the batch and the importer does it again the ordinary way; the import
then ends as if the other input had come between the batches. These run the child for real:
a spawned process with its own connection."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from loyalty import load_program
from loyalty.adapters.sql.database import DatabaseError
from loyalty.adapters.sql.registry import MemberDocuments
from loyalty.services import durable as durable_module
from loyalty.services.durable import DurableEngine
from loyalty.services.sqlite_committer import SqliteCommitter
from loyalty.services.synthetic import generate_history
from tests.import_checks import lock_is_free, redone, rows, state

BATCH = 40


@pytest.fixture(autouse=True)
def _small_files_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    """These files are small; the import overlaps batches from 20,000 lines on
    (``SQLITE_OVERLAP_FROM``): here from any size."""
    monkeypatch.setattr(durable_module, "SQLITE_OVERLAP_FROM", 0)


def _history(path: Path) -> tuple[Path, list[str]]:
    lines = [f"{line}\n" for line in generate_history(load_program("soma"), members=30, months=6,
                                                      seed=3)]  # fmt: skip
    path.write_text("".join(lines))
    return path, lines


def _live_enrollment(lines: list[str], before: int) -> str:
    """A new member's enrollment dated as the history's line ``before`` (0-based)."""
    first = next(json.loads(line) for line in lines if '"enroll"' in line)
    first.update(
        at=json.loads(lines[before])["at"],
        member="live-1",
        email="live-1@example.com",
        phone="+15559990001",
    )
    return json.dumps(first)


def _live_purchase(lines: list[str], before: int) -> str:
    """A purchase of a new order, dated as the history's line ``before`` (0-based), by a member
    the batch from there on buys for, who was enrolled before it (it moves no member counter)."""
    enrolled = {json.loads(line).get("member") for line in lines[:before] if '"enroll"' in line}
    purchase = next(
        p
        for p in map(json.loads, lines[before : before + BATCH])
        if p["type"] == "purchase" and p["member"] in enrolled
    )
    purchase.update(at=json.loads(lines[before])["at"], order="live-o1")
    return json.dumps(purchase)


def _commits(monkeypatch: pytest.MonkeyPatch, before_sending: Any = None) -> list[int]:
    """The first line of each batch sent to the committing process; ``before_sending(n)`` runs
    before the n-th (1-based) is sent."""
    sent: list[int] = []
    real = SqliteCommitter.commit

    def counting(self: SqliteCommitter, writes: Any, rejections: Any, expected: int,
                 *args: Any) -> SqliteCommitter:  # fmt: skip
        sent.append(expected + 1)
        if before_sending is not None:
            before_sending(len(sent), self)
        return real(self, writes, rejections, expected, *args)

    monkeypatch.setattr(SqliteCommitter, "commit", counting)
    return sent


@pytest.mark.parametrize("preset", ["soko", "sogo", "soma"])
def test_every_row_is_that_of_one_batch_after_the_other(
    tmp_path: Path, preset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every row of every table, against the same file imported one batch after the other (small
    batches: many members, orders and inputs carried from one batch to the next)."""
    program = load_program(preset)
    path = tmp_path / "history.jsonl"
    history = generate_history(program, members=60, months=12, seed=11)
    path.write_text("".join(f"{line}\n" for line in history))
    pipelined = DurableEngine(program, f"sqlite:///{tmp_path}/pipelined.db")
    serial = DurableEngine(program, f"sqlite:///{tmp_path}/serial.db")
    serial.pipelined = False
    sent = _commits(monkeypatch)
    reports = [d.import_file(path, batch=60) for d in (pipelined, serial)]
    assert reports[0] == reports[1] and reports[0].accepted > 500
    # every batch but the first (done alone while the child starts) went to the child
    assert sent == list(range(61, reports[0].lines + 1, 60))
    assert rows(pipelined, skip=("imports",)) == rows(serial, skip=("imports",))
    pipelined.db.dispose()
    serial.db.dispose()


def test_batches_nobody_overtakes_are_never_done_again(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history, lines = _history(tmp_path / "history.jsonl")
    durable = DurableEngine(load_program("soma"), sqlite_url)
    done_again = redone(monkeypatch)
    commits: list[int] = []
    report = durable.import_file(history, batch=BATCH, progress=lambda d, _: commits.append(d))
    assert done_again == []
    count = len(lines)
    assert commits == [min(start + BATCH, count) for start in range(0, count, BATCH)]
    assert report.accepted + len(report.rejected) == count
    durable.db.dispose()


@pytest.mark.parametrize("live_kind", ["enrollment", "purchase"])
def test_a_live_input_committed_before_a_batch_is_written_makes_it_done_again_after_it(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, live_kind: str
) -> None:
    """A live input commits while the third batch has been read and applied (the lock is free),
    before it is written: the child refuses it, and it is done again, with the batch after it,
    which took its members over; the import ends as the file imported up to the third batch, the
    live input, then the rest (an enrollment, and a purchase for a member of the batch)."""
    history, lines = _history(tmp_path / "history.jsonl")
    third = 2 * BATCH  # (0-based: its first line)
    make = _live_enrollment if live_kind == "enrollment" else _live_purchase
    live_input = make(lines, third)
    clean = DurableEngine(load_program("soma"), f"sqlite:///{tmp_path}/clean.db")
    (tmp_path / "head.jsonl").write_text("".join(lines[:third]))
    (tmp_path / "tail.jsonl").write_text("".join(lines[third:]))
    clean.import_file(tmp_path / "head.jsonl", batch=BATCH)
    assert clean.apply(live_input).accepted
    clean.import_file(tmp_path / "tail.jsonl", batch=BATCH)

    durable = DurableEngine(load_program("soma"), sqlite_url)
    live = DurableEngine(load_program("soma"), sqlite_url)  # another connection, as a server's
    database = sqlite_url.removeprefix("sqlite:///")
    seen: list[bool] = []

    def live_input_first(n: int, committer: SqliteCommitter) -> None:
        if n == 2:  # the third batch (the first was done alone); the second is committed
            seen.append(lock_is_free(database) and live.apply(live_input).accepted)

    sent = _commits(monkeypatch, live_input_first)
    done_again = redone(monkeypatch)
    report = durable.import_file(history, batch=BATCH)
    assert seen == [True]
    assert sent[:2] == [BATCH + 1, third + 1]
    # the third batch, and the fourth, which took its members over, done again
    assert done_again == [third + 1, third + BATCH + 1]
    assert report.lines == len(lines)
    assert state(durable) == state(clean)
    for engine in (durable, live, clean):
        engine.db.dispose()


def test_a_batch_waits_for_a_writer_holding_the_lock_and_is_done_again_after_its_commit(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer holds the lock when the child comes to write a batch: the child waits for
    it (as a live input does), sees that it committed, and the batch is done again."""
    history, _ = _history(tmp_path / "history.jsonl")
    clean = DurableEngine(load_program("soma"), f"sqlite:///{tmp_path}/clean.db")
    expected = clean.import_file(history, batch=BATCH)
    durable = DurableEngine(load_program("soma"), sqlite_url)
    held = threading.Event()
    writers: list[threading.Thread] = []

    def write_while_held() -> None:
        writer = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        held.set()
        # (a row of no concern to the import)
        writer.execute("INSERT INTO import_rejections VALUES ('other', 'other', 1, 'error')")
        time.sleep(0.3)
        writer.execute("COMMIT")
        writer.close()

    def hold_the_lock(n: int, committer: SqliteCommitter) -> None:
        if n == 2:
            writers.append(threading.Thread(target=write_while_held))
            writers[0].start()
            held.wait()

    _commits(monkeypatch, hold_the_lock)
    done_again = redone(monkeypatch)
    report = durable.import_file(history, batch=BATCH)
    writers[0].join()
    # the third batch, and the fourth, which took its members over
    assert done_again == [2 * BATCH + 1, 3 * BATCH + 1]
    assert (report.accepted, report.rejected) == (expected.accepted, expected.rejected)
    assert state(durable) == state(clean)
    durable.db.dispose()
    clean.db.dispose()


def test_a_committing_process_killed_ends_the_import_with_an_error_and_a_rerun_finishes_it(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history, _ = _history(tmp_path / "history.jsonl")
    clean = DurableEngine(load_program("soma"), f"sqlite:///{tmp_path}/clean.db")
    expected = clean.import_file(history, batch=BATCH)
    durable = DurableEngine(load_program("soma"), sqlite_url)

    def kill(n: int, committer: SqliteCommitter) -> None:
        if n == 3:
            committer._process.kill()
            committer._process.wait()

    _commits(monkeypatch, kill)
    with pytest.raises(DatabaseError, match="committing process ended"):
        durable.import_file(history, batch=BATCH)
    monkeypatch.undo()
    monkeypatch.setattr(durable_module, "SQLITE_OVERLAP_FROM", 0)
    report = durable.import_file(history, batch=BATCH)
    assert report.resumed_from > 0  # (the batches committed before stay committed)
    assert (report.accepted, report.rejected) == (expected.accepted, expected.rejected)
    assert state(durable) == state(clean)
    durable.db.dispose()
    clean.db.dispose()


def test_an_in_memory_database_imports_one_batch_after_the_other(tmp_path: Path) -> None:
    """No other process can open it: no child, the batches one after the other."""
    history, lines = _history(tmp_path / "history.jsonl")
    durable = DurableEngine(load_program("soma"), "sqlite://")
    report = durable.import_file(history, batch=BATCH)
    assert report.accepted + len(report.rejected) == len(lines)
    assert len(durable.summaries()) == 30


def test_an_import_from_a_script_without_a_main_guard_works(tmp_path: Path) -> None:
    """The child is a fresh ``python -m`` of its own module: a caller's script is not imported
    again in it (as ``multiprocessing``'s ``spawn`` would, starting the import again there)."""
    history, lines = _history(tmp_path / "history.jsonl")
    script = (
        "from loyalty import load_program\n"
        "from loyalty.services import durable\n"
        "from loyalty.services.durable import DurableEngine\n"
        "durable.SQLITE_OVERLAP_FROM = 0  # (a small file)\n"
        f"durable = DurableEngine(load_program('soma'), 'sqlite:///{tmp_path}/script.db')\n"
        f"report = durable.import_file({str(history)!r}, batch={BATCH})\n"
        "print(report.accepted + len(report.rejected))\n"
    )
    (tmp_path / "script.py").write_text(script)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "script.py")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(len(lines))]


def test_a_file_under_the_overlap_size_is_imported_without_a_child(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below ``SQLITE_OVERLAP_FROM`` lines the child's start would cost more than it gains."""
    history, lines = _history(tmp_path / "history.jsonl")
    monkeypatch.setattr(durable_module, "SQLITE_OVERLAP_FROM", len(lines) + 1)
    started: list[bool] = []
    real = SqliteCommitter.__init__

    def counting(self: SqliteCommitter, *args: Any) -> None:
        started.append(True)
        real(self, *args)

    monkeypatch.setattr(SqliteCommitter, "__init__", counting)
    durable = DurableEngine(load_program("soma"), sqlite_url)
    report = durable.import_file(history, batch=BATCH)
    assert report.accepted + len(report.rejected) == len(lines)
    assert started == []
    monkeypatch.setattr(durable_module, "SQLITE_OVERLAP_FROM", len(lines))
    durable.import_file(history, batch=BATCH)  # (done already: nothing left, no child)
    assert started == []
    durable.db.dispose()


def test_a_batch_ends_its_read_transaction_once_its_reads_are_done(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a batch applies its inputs it holds no snapshot: a reader's snapshot keeps the
    child's checkpoints from restarting the write-ahead log, which then grows with the import
    (measured: ~4x a serial import's at 100,000 purchases). What it reads on demand after its
    reads (campaigns, the member counter, new certificate codes) it reads a statement a
    transaction."""
    history, _ = _history(tmp_path / "history.jsonl")
    durable = DurableEngine(load_program("soma"), sqlite_url)
    real = DurableEngine._apply_lines
    held: list[tuple[bool, bool]] = []

    def watching(self: DurableEngine, engine: Any, registry: Any, lines: Any, source: str,
                 read: Any = None) -> Any:  # fmt: skip
        if read is None:  # (a batch done alone)
            return real(self, engine, registry, lines, source)

        def reading() -> None:
            read()
            held.append((_holds_snapshot(registry.conn), False))

        result = real(self, engine, registry, lines, source, reading)
        held[-1] = (held[-1][0], _holds_snapshot(registry.conn))
        return result

    monkeypatch.setattr(DurableEngine, "_apply_lines", watching)
    durable.import_file(history, batch=BATCH)
    assert len(held) >= 3
    assert held == [(False, False)] * len(held)  # after the reads, and after the inputs
    durable.db.dispose()


def _holds_snapshot(conn: Any) -> bool:
    """Whether SQLite itself has a transaction open on the connection."""
    return bool(conn.connection.driver_connection.in_transaction)


def test_the_child_lets_ctrl_c_to_the_importer(sqlite_url: str) -> None:
    """Ctrl-C at a terminal reaches the child too (one process group): it goes on (without a
    traceback), and the importer, which got it as well, ends it (``SqliteCommitter.close``)."""
    durable = DurableEngine(load_program("soma"), sqlite_url)
    committer = SqliteCommitter(durable.program, sqlite_url, "source")
    try:
        committer.baseline()  # (started: its handler is set)
        committer._process.send_signal(signal.SIGINT)
        time.sleep(0.2)
        committer.baseline()  # still answering
        assert committer._process.poll() is None
    finally:
        committer.close()
    assert committer._process.returncode == 0
    durable.db.dispose()


def test_another_import_s_batch_between_two_of_this_one_s_is_counted(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two imports of one file: right after this one's first lines, the other commits the next
    batch. This one skips those lines and counts their accepted inputs in its report (it read
    the lines done and the inputs accepted apart, and missed them: once in several runs of the
    two-imports test)."""
    history, lines = _history(tmp_path / "history.jsonl")
    clean = DurableEngine(load_program("soma"), f"sqlite:///{tmp_path}/clean.db")
    expected = clean.import_file(history, batch=BATCH)
    durable = DurableEngine(load_program("soma"), sqlite_url)
    other = DurableEngine(load_program("soma"), sqlite_url)
    source = hashlib.sha256(history.read_bytes()).hexdigest()[:64]
    real = DurableEngine._serial_batch
    numbered = [(n, line.encode()) for n, line in enumerate(lines, 1)]

    def and_the_other_s(self: DurableEngine, chunk: Any, *args: Any) -> int:
        accepted = real(self, chunk, *args)
        if self is durable and chunk[0][0] == 1:  # this import's first lines, done alone
            real(other, numbered[BATCH : 2 * BATCH], source, MemberDocuments(), lambda *_: None)
        return accepted

    monkeypatch.setattr(DurableEngine, "_serial_batch", and_the_other_s)
    report = durable.import_file(history, batch=BATCH)
    assert (report.lines, report.accepted) == (expected.lines, expected.accepted)
    assert report.by_others == BATCH
    assert state(durable) == state(clean)
    for engine in (durable, other, clean):
        engine.db.dispose()


def _repeats_file(path: Path) -> Path:
    """Enrolments, then purchases, with exact repeats (another time, amounts spelt otherwise,
    fields in another order) and conflicting ones (the same order, another amount): some in the
    batch of the first, some in the next batches, the last ones in the file's last batch."""
    at = iter(f"2024-03-{1 + n // 200:02d}T{9 + n // 20 % 10:02d}:{n % 20 * 3:02d}:00-05:00"
              for n in range(2_000))  # fmt: skip
    out = [
        json.dumps({"type": "enroll", "at": next(at), "member": f"m{i}",
                    "email": f"m{i}@example.com"})
        for i in range(8)
    ]  # fmt: skip

    def purchase(n: int, amount: str, reorder: bool = False) -> str:
        fields = {"type": "purchase", "at": next(at), "member": f"m{n % 8}", "order": f"o{n}",
                  "channel": "online", "lines": [{"sku": "S1", "amount": amount}]}  # fmt: skip
        return json.dumps(dict(reversed(fields.items())) if reorder else fields)

    for n in range(150):
        out.append(purchase(n, f"{10 + n % 7}.40"))
        if n % 9 == 4:  # an exact repeat of an order a few lines before or a batch or two before
            back = n - (3 if n % 2 else 50)
            if back >= 0:
                out.append(purchase(back, f"{10 + back % 7}.4", reorder=True))
        if n % 11 == 6:  # the same order with another amount
            back = n - (2 if n % 2 else 45)
            if back >= 0:
                out.append(purchase(back, "99.00"))
    path.write_text("".join(f"{line}\n" for line in out))
    return path


def test_repeated_inputs_are_told_apart_by_payload_as_one_batch_after_the_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC §2 through an overlapped import: an exact repeat of an input of the same batch, of a
    batch being committed (carried over), or of one committed is answered as the first; a repeat
    with another payload is rejected; and the ``inputs`` rows hold the same fingerprints as an
    import one batch after the other."""
    program = load_program("soko")
    path = _repeats_file(tmp_path / "repeats.jsonl")
    pipelined = DurableEngine(program, f"sqlite:///{tmp_path}/pipelined.db")
    serial = DurableEngine(program, f"sqlite:///{tmp_path}/serial.db")
    serial.pipelined = False
    sent = _commits(monkeypatch)
    reports = [d.import_file(path, batch=30) for d in (pipelined, serial)]
    assert len(sent) >= 4
    assert reports[0] == reports[1]
    conflicts = [r for r in reports[0].rejected if "different payload" in r["error"]]
    assert len(conflicts) >= 10 and len(conflicts) == len(reports[0].rejected)
    assert rows(pipelined, skip=("imports",)) == rows(serial, skip=("imports",))
    with pipelined.db.connect() as conn:
        digests = [d for (d,) in conn.exec_driver_sql("SELECT digest FROM inputs")]
    assert len(digests) == 158 and all(len(d) == 32 and int(d, 16) >= 0 for d in digests)
    pipelined.db.dispose()
    serial.db.dispose()
