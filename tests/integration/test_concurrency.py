"""Concurrency and service-mode rules of the durable storage (SPEC §2, §7), with real processes on
a real PostgreSQL server and on SQLite, no mocks.

* Many processes earning and redeeming on the same members at once: no point is spent twice, every
  balance reconciles with its ledger and its lots, an exact repeat of a purchase sent by two
  processes is counted once.
* Two job runners at once (``SKIP LOCKED``) share the work: the result is the one of a single
  runner, and running the jobs again has nothing left to do.
* Service mode: inputs are ordered per member, exact repeats return the first outcome and write
  nothing, members are found by number, email or phone, and a linked boutique number is an alias.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import random
import traceback
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from loyalty.adapters.sql import schema as t
from loyalty.programs.loader import load_program
from loyalty.services import durable as durable_module
from loyalty.services.durable import DurableEngine
from loyalty.services.replay import replay_file
from loyalty.services.reports import REPORTS
from loyalty.services.synthetic import generate_history
from tests.builders import one_line_purchase
from tests.conftest import fresh_postgres_database

# Forked children start at once (no re-import); each builds its own DurableEngine (its own pool).
CONTEXT = multiprocessing.get_context("fork")
AT = "2024-03-01T12:00:00-05:00"  # one time for every concurrent input (equal times are accepted)
MEMBERS = ["m0", "m1", "m2", "m3"]
START_POINTS = 10_000
SIGNUP = 50  # SK-1
COST = 1_000  # SK-10: 20-off
PURCHASE_AMOUNT, PURCHASE_POINTS = "4.00", 4  # small: every member stays in the entry tier
SHARED_AMOUNT, SHARED_POINTS = "3.00", 3
TIMEOUT = 120


# -- the workload ------------------------------------------------------------------------------
def _redeem(member: str, order: str) -> dict[str, Any]:
    return {
        "type": "redeem",
        "at": AT,
        "member": member,
        "reward": "20-off",
        "order": order,
        "subtotal": "50.00",
    }


def _purchase(member: str, order: str, amount: str) -> dict[str, Any]:
    return {
        "type": "purchase",
        "at": AT,
        "member": member,
        "order": order,
        "channel": "online",  # SK-5: pending for 48 hours, never spendable here
        "lines": [{"sku": "A", "amount": amount}],
        "shipping": "5.00",
        "tax": "0.40",
    }


def _plan(worker: int, workers: int, rounds: int) -> list[dict[str, Any]]:
    """What one process sends: its own redemptions and purchases for every member, shuffled, after
    the shared purchases it sends as well as its neighbour (shared order k: workers k and k+1)."""
    shared = [
        _purchase(member, f"shared-{k}-{member}", SHARED_AMOUNT)
        for k in (worker, (worker - 1) % workers)
        for member in MEMBERS
    ]
    own = [
        event
        for r in range(rounds)
        for member in MEMBERS
        for event in (
            _redeem(member, f"rd-{worker}-{r}-{member}"),
            _purchase(member, f"po-{worker}-{r}-{member}", PURCHASE_AMOUNT),
        )
    ]
    random.Random(worker).shuffle(own)
    return shared + own


def _hammer(url: str, worker: int, workers: int, rounds: int, barrier: Any, results: Any) -> None:
    """One process: its own DurableEngine on the shared database; every outcome is reported."""
    out: list[tuple[str, str, str, bool, bool, str | None, str]] = []
    try:
        durable = DurableEngine(load_program("soko"), url)
        plan = _plan(worker, workers, rounds)
        barrier.wait(timeout=TIMEOUT)
        for event in plan:
            outcome = durable.apply(event)
            error = outcome.error
            out.append(
                (
                    event["type"],
                    event["member"],
                    event["order"],
                    outcome.accepted,
                    outcome.duplicate,
                    error.code if error is not None else None,
                    str(error),
                )
            )
        durable.db.dispose()
        results.put((worker, out, None))
    except BaseException:
        results.put((worker, out, traceback.format_exc()))


def _run_processes(target: Any, args: list[tuple[Any, ...]]) -> list[Any]:
    """Start one process per ``args`` (each gets a barrier and a result queue appended), wait for
    all of them; fail on an exception in any of them."""
    barrier, results = CONTEXT.Barrier(len(args)), CONTEXT.Queue()
    processes = [CONTEXT.Process(target=target, args=(*a, barrier, results)) for a in args]
    for p in processes:
        p.start()
    collected = []
    try:
        for _ in processes:
            collected.append(results.get(timeout=TIMEOUT))
    except queue.Empty:
        pytest.fail("a worker process did not report in time")
    finally:
        for p in processes:
            p.join(timeout=TIMEOUT)
            if p.is_alive():
                p.kill()
    errors = [error for _, _, error in collected if error is not None]
    assert not errors, "\n".join(errors)
    assert all(p.exitcode == 0 for p in processes)
    return sorted(collected)


def _seed_members(durable: DurableEngine) -> None:
    for i, member in enumerate(MEMBERS):
        enrolled = durable.apply(
            {"type": "enroll", "at": AT, "member": member, "email": f"{member}@example.com"}
        )
        assert enrolled.accepted, enrolled.error
        given = durable.apply(
            {
                "type": "adjust",
                "at": AT,
                "member": member,
                "points": START_POINTS,
                "reason": f"opening-balance-{i}",
            }
        )
        assert given.accepted, given.error


def _check_member_serialisation(url: str, workers: int, rounds: int) -> None:
    durable = DurableEngine(load_program("soko"), url)
    _seed_members(durable)
    durable.db.dispose()  # no pooled connection is inherited by the forked processes
    collected = _run_processes(_hammer, [(url, w, workers, rounds) for w in range(workers)])
    outcomes = [row for _, rows, _ in collected for row in rows]
    assert len(outcomes) == workers * (len(MEMBERS) * (2 * rounds + 2))

    # Redemptions: exactly as many as the available points pay for; the rest refused for want of
    # points (no other error, no exception).
    redeemed: Counter[str] = Counter()
    for kind, member, order, accepted, duplicate, code, error in outcomes:
        if kind != "redeem":
            continue
        assert not duplicate, order
        if accepted:
            redeemed[member] += 1
        else:
            assert code == "insufficient_points", (order, error)
    expected_redemptions = (START_POINTS + SIGNUP) // COST
    assert redeemed == dict.fromkeys(MEMBERS, expected_redemptions)

    # Purchases: every order accepted exactly once; a repeat sent by a second process is never a
    # second acceptance (the ledger below shows it is never a second credit either). Not asserted
    # here: that a racing repeat always returns the first outcome (duplicate=True); it can come
    # back as "order ... was already recorded" (reported separately).
    by_order: dict[str, list[tuple[bool, bool, str | None, str]]] = defaultdict(list)
    for kind, _member, order, accepted, duplicate, code, error in outcomes:
        if kind == "purchase":
            by_order[order].append((accepted, duplicate, code, error))
    assert len(by_order) == workers * rounds * len(MEMBERS) + workers * len(MEMBERS)
    for order, results in by_order.items():
        assert len(results) == (2 if order.startswith("shared-") else 1), order
        firsts = [r for r in results if r[0] and not r[1]]
        assert len(firsts) == 1, (order, results)

    purchases = workers * rounds * PURCHASE_POINTS + workers * SHARED_POINTS
    check = DurableEngine(load_program("soko"), url)
    with check.db.connect() as conn:
        lots = dict(
            conn.execute(
                select(t.lots.c.member_id, func.sum(t.lots.c.remaining))
                .where(t.lots.c.program_id == "soko")
                .group_by(t.lots.c.member_id)
            ).all()
        )
        rows = {
            r.member_id: r
            for r in conn.execute(
                select(
                    t.members.c.member_id,
                    t.members.c.available,
                    t.members.c.pending,
                    t.members.c.debt,
                ).where(t.members.c.program_id == "soko")
            )
        }
    for member in MEMBERS:
        points = check.summaries(member)[member]["points"]
        ledger = check.ledger(member)
        kinds = Counter(entry["kind"] for entry in ledger)
        assert points["available"] >= 0
        # No point spent twice, pending points never spent.
        assert points["available"] == START_POINTS + SIGNUP - expected_redemptions * COST
        assert points["pending"] == purchases
        # The balance reconciles with the ledger and with the lots.
        assert points["available"] + points["pending"] == sum(e["points"] for e in ledger)
        assert sum(e["points"] for e in ledger) == int(lots[member]) - int(rows[member].debt)
        assert (rows[member].available, rows[member].pending) == (
            points["available"],
            points["pending"],
        )
        assert kinds["redeem"] == redeemed[member]
        assert sum(-e["points"] for e in ledger if e["kind"] == "redeem") == redeemed[member] * COST
        # Each purchase earned once: one ledger entry per order, none for a repeat.
        earned = [e["ref"] for e in ledger if e["kind"] == "earn"]
        assert len(earned) == len(set(earned)) == workers * rounds + workers
        assert [e["seq"] for e in ledger] == list(range(1, len(ledger) + 1))
    check.db.dispose()


def test_eight_processes_on_the_same_members_postgresql(postgres_url: str) -> None:
    """8 processes earning and redeeming on the same members at once: no point spent twice; every
    balance reconciles with its ledger (row lock per member, retries)."""
    _check_member_serialisation(postgres_url, workers=8, rounds=4)


def test_four_processes_on_the_same_members_sqlite(sqlite_url: str) -> None:
    """SQLite serialises writers; busy errors are retried by the engine, never surfaced."""
    _check_member_serialisation(sqlite_url, workers=4, rounds=4)


# -- two job runners -----------------------------------------------------------------------------
def _run_jobs(url: str, until: str, barrier: Any, results: Any) -> None:
    try:
        durable = DurableEngine(load_program("soma"), url)
        barrier.wait(timeout=TIMEOUT)
        moved = durable.run_jobs(until=datetime.fromisoformat(until), chunk=5)
        durable.db.dispose()
        results.put((moved, [], None))
    except BaseException:
        results.put((0, [], traceback.format_exc()))


def _tables(durable: DurableEngine) -> dict[str, list[tuple[Any, ...]]]:
    """The stored rows that the jobs write (ledger, lots, members, certificates, outbox)."""
    out = {}
    with durable.db.connect() as conn:
        for table in (t.ledger, t.lots, t.members, t.certificates, t.outbox):
            columns = [c for c in table.c if c.name not in ("state",)]
            out[table.name] = [
                tuple(r) for r in conn.execute(select(*columns).order_by(*table.primary_key))
            ]
    return out


def test_two_job_runners_at_once_postgresql(
    postgres_server: str, postgres_url: str, tmp_path: Path
) -> None:
    program = load_program("soma")
    history = tmp_path / "history.jsonl"
    lines = list(generate_history(program, members=60, months=12, seed=5))
    history.write_text("\n".join(lines) + "\n")
    end = datetime.fromisoformat(json.loads(lines[-1])["at"])
    until = (end + timedelta(days=31)).isoformat()

    shared_url, alone_url = postgres_url, fresh_postgres_database(postgres_server)
    for url in (shared_url, alone_url):
        importer = DurableEngine(program, url)
        report = importer.import_file(history)
        assert report.lines == len(lines)
        importer.db.dispose()

    moved = _run_processes(_run_jobs, [(shared_url, until), (shared_url, until)])
    alone = DurableEngine(program, alone_url)
    moved_alone = alone.run_jobs(until=datetime.fromisoformat(until))
    assert moved_alone > 0
    # The two runners shared the work: every due member advanced once.
    assert sum(m for m, _, _ in moved) == moved_alone

    shared = DurableEngine(program, shared_url)
    assert shared.summaries() == alone.summaries()
    assert _tables(shared) == _tables(alone)
    with shared.db.connect() as a, alone.db.connect() as b:
        for report in REPORTS.values():
            assert report(a, program) == report(b, program)
    # Idempotent: nothing is due any more.
    assert shared.run_jobs(until=datetime.fromisoformat(until)) == 0
    assert alone.run_jobs(until=datetime.fromisoformat(until)) == 0
    shared.db.dispose()
    alone.db.dispose()


# -- service-mode rules --------------------------------------------------------------------------
SOMA_PROFILE = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "address": "1 Main St, Springfield",
    "country": "US",
    "birth_month": 7,
}


def _soma_enroll(at: str, member: str, email: str, phone: str, **extra: Any) -> dict[str, Any]:
    event = {"type": "enroll", "at": at, "member": member, "email": email, "phone": phone}
    return {**event, **SOMA_PROFILE, **extra}


def _counts(durable: DurableEngine) -> dict[str, Any]:
    """Everything an input can write: row counts of every table and the members' stored state."""
    with durable.db.connect() as conn:
        counts: dict[str, Any] = {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in t.metadata.sorted_tables
        }
        counts["state"] = sorted(
            tuple(r) for r in conn.execute(select(t.members.c.member_id, t.members.c.state))
        )
        counts["clock"] = conn.execute(select(t.programs.c.now)).scalar_one()
    return counts


def test_service_mode_rules(database_url: str) -> None:
    durable = DurableEngine(load_program("soma"), database_url)
    first = durable.apply(
        _soma_enroll("2024-03-04T10:00:00-05:00", "m1", "Ada@Example.com", "(212) 555-0101")
    )
    assert first.accepted, first.error
    bought = durable.apply(one_line_purchase("2024-03-05T10:00:00-05:00", "o1", "42.50", "m1"))
    assert bought.accepted, bought.error

    # Inputs are ordered per member: earlier than m1's last input is refused...
    late = durable.apply(one_line_purchase("2024-03-05T09:59:59-05:00", "o2", "10.00", "m1"))
    assert not late.accepted
    assert late.error is not None and late.error.code == "conflict"
    assert "time goes backwards" in str(late.error)
    # ... while another member's inputs do not depend on m1's time.
    other = durable.apply(
        _soma_enroll("2024-03-04T11:00:00-05:00", "m2", "grace@example.com", "212-555-0202")
    )
    assert other.accepted, other.error
    other_bought = durable.apply(
        one_line_purchase("2024-03-04T12:00:00-05:00", "o3", "20.00", "m2")
    )
    assert other_bought.accepted, other_bought.error

    # An exact repeat returns the first outcome and writes nothing (even later in time, even
    # from another engine on the same database).
    before = _counts(durable)
    again = DurableEngine(load_program("soma"), database_url)
    for repeat, original in (
        (one_line_purchase("2024-03-05T10:00:00-05:00", "o1", "42.50", "m1"), bought),
        (one_line_purchase("2024-03-06T10:00:00-05:00", "o1", "42.50", "m1"), bought),
        (
            _soma_enroll("2024-03-04T10:00:00-05:00", "m1", "Ada@Example.com", "(212) 555-0101"),
            first,
        ),
    ):
        outcome = again.apply(repeat)
        assert outcome.accepted and outcome.duplicate, outcome
        assert outcome.message == original.message
    # The same key with a different payload is refused; nothing written either.
    changed = again.apply(one_line_purchase("2024-03-06T10:00:00-05:00", "o1", "99.00", "m1"))
    assert not changed.accepted
    assert changed.error is not None and changed.error.code == "conflict"
    assert _counts(again) == before
    ledger = again.ledger("m1")
    assert [(e["kind"], e["points"], e["ref"]) for e in ledger] == [("earn", 43, "order:o1")]

    # SM-2: found by member number, email or phone, from the database.
    with again.db.connect() as conn:
        number = conn.execute(
            select(t.members.c.number).where(t.members.c.member_id == "m1")
        ).scalar_one()
    assert first.message == f"member number {number}"
    finder = DurableEngine(load_program("soma"), database_url)
    assert finder.find_member(number=number) == "m1"
    assert finder.find_member(email=" ada@example.COM ") == "m1"
    assert finder.find_member(phone="212 555 0101") == "m1"
    assert finder.find_member(phone="(212) 555-0202") == "m2"
    assert finder.find_member(number="55000000000", email="nobody@example.com") is None

    # SM-2: the boutique number is linked when the member registers online: the online id becomes
    # an alias of the same account.
    linked = finder.apply(
        _soma_enroll(
            "2024-03-07T10:00:00-05:00",
            "web-ada",
            "ada.online@example.com",
            "(212) 555-0101",
            member_number=number,
        )
    )
    assert linked.accepted, linked.error
    assert linked.message is not None and "m1" in linked.message
    via_alias = finder.apply(
        one_line_purchase("2024-03-08T10:00:00-05:00", "o4", "10.00", "web-ada")
    )
    assert via_alias.accepted, via_alias.error
    reader = DurableEngine(load_program("soma"), database_url)
    summaries = reader.summaries()
    assert sorted(summaries) == ["m1", "m2"]
    assert reader.summaries("web-ada") == {"m1": summaries["m1"]}
    assert summaries["m1"]["points"]["pending"] + summaries["m1"]["points"]["available"] == 53
    assert reader.find_member(email="ada.online@example.com") == "m1"
    assert [e["ref"] for e in reader.ledger("m1")] == ["order:o1", "order:o4"]
    assert reader.ledger("web-ada") == []
    for engine in (durable, again, finder, reader):
        engine.db.dispose()


AT = "2024-03-01T12:00:00-05:00"


def _redeem_and_store_buy(url: str, worker: int, barrier: Any, results: Any) -> None:
    """Alternate a redemption and a store purchase (which writes the member but no ledger
    entry): on SQLite this once let a stale member document overwrite a redemption."""
    error = None
    outcomes: Counter[str] = Counter()
    try:
        durable = DurableEngine(load_program("soko"), url)
        barrier.wait()
        for i in range(12):
            o = durable.apply(_redeem("m0", f"r{worker}-{i}"))
            outcomes["redeemed" if o.accepted else "refused"] += 1
            durable.apply(
                {
                    "type": "purchase",
                    "at": AT,
                    "member": "m0",
                    "order": f"s{worker}-{i}",
                    "channel": "store",
                    "lines": [{"sku": "A", "amount": "5.00"}],
                }
            )
    except Exception:
        error = traceback.format_exc()
    results.put((worker, dict(outcomes), error))


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_writes_without_ledger_entries_never_undo_a_redemption(
    kind: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(f"{kind}_url")
    durable = DurableEngine(load_program("soko"), url)
    assert durable.apply({"type": "enroll", "at": AT, "member": "m0", "email": "m0@x.com"}).accepted
    durable.apply({"type": "adjust", "at": AT, "member": "m0", "points": 10000, "reason": "seed"})
    collected = _run_processes(_redeem_and_store_buy, [(url, w) for w in range(4)])
    redeemed = sum(outcomes.get("redeemed", 0) for _, outcomes, _ in collected)
    assert redeemed == 10
    ledger = durable.ledger("m0")
    assert sum(e["kind"] == "redeem" for e in ledger) == 10
    assert [e["seq"] for e in ledger] == list(range(1, len(ledger) + 1))
    summary = durable.summaries("m0")["m0"]
    assert summary["points"]["available"] == sum(e["points"] for e in ledger) == 50
    later = durable.apply({"type": "adjust", "at": AT, "member": "m0", "points": 5, "reason": "x"})
    assert later.accepted


def _same_redemptions(url: str, worker: int, barrier: Any, results: Any) -> None:
    error = None
    outcomes: Counter[str] = Counter()
    try:
        durable = DurableEngine(load_program("soko"), url)
        barrier.wait()
        for i in range(30):
            o = durable.apply(_redeem(f"m{i}", f"o{i}"))
            outcomes["duplicate" if o.duplicate else "first" if o.accepted else str(o.error)] += 1
    except Exception:
        error = traceback.format_exc()
    results.put((worker, dict(outcomes), error))


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_repeat_racing_its_first_copy_returns_the_first_result(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """SPEC §2: the same input twice changes nothing and returns the first result, even when
    the two copies arrive at once (a till retrying after a timeout)."""
    url = request.getfixturevalue(f"{kind}_url")
    durable = DurableEngine(load_program("soko"), url)
    for i in range(30):
        durable.apply({"type": "enroll", "at": AT, "member": f"m{i}", "email": f"m{i}@x.com"})
        durable.apply(
            {"type": "adjust", "at": AT, "member": f"m{i}", "points": 1000, "reason": "s"}
        )
    collected = _run_processes(_same_redemptions, [(url, w) for w in range(4)])
    total: Counter[str] = Counter()
    for _, outcomes, _ in collected:
        total.update(outcomes)
    assert dict(total) == {"first": 30, "duplicate": 90}
    assert all(sum(e["kind"] == "redeem" for e in durable.ledger(f"m{i}")) == 1 for i in range(30))


# -- a batch import beside live inputs -----------------------------------------------------------
IMPORTED = 240  # store purchases in the file, imported in batches of 8 (many transactions)
LIVE = 60  # online purchases each live process sends
SMALL_AMOUNT = "1.00"  # 1 point: 45 purchases a member stay under the VIP threshold (SK-4)


def _import_or_apply(url: str, worker: int, path: str, barrier: Any, results: Any) -> None:
    """Worker 0 imports the file; the others send live purchases for the same members."""
    try:
        durable = DurableEngine(load_program("soko"), url)
        barrier.wait(timeout=TIMEOUT)
        if worker == 0:
            report = durable.import_file(path, batch=8)
            out: Any = (report.accepted, [r["error"] for r in report.rejected])
        else:
            out = [
                durable.apply(
                    _purchase(MEMBERS[i % len(MEMBERS)], f"live-{worker}-{i}", SMALL_AMOUNT)
                ).accepted
                for i in range(LIVE)
            ]
        durable.db.dispose()
        results.put((worker, out, None))
    except BaseException:
        results.put((worker, None, traceback.format_exc()))


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_batch_import_beside_live_inputs_loses_no_update(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """SPEC §2 (the ledger never loses a point) with a batch import running while tills send live
    purchases for the same members. The file holds store purchases (SK-6: they write the member
    but no ledger entry, so a stale write-back would not collide with a live ledger entry and
    would silently drop its points). The batch locks the members it reads (PostgreSQL) or holds
    the write lock (SQLite), so a live input waits for it instead of being overwritten."""
    url = request.getfixturevalue(f"{kind}_url")
    durable = DurableEngine(load_program("soko"), url)
    _seed_members(durable)
    durable.db.dispose()
    path = tmp_path / "batch.jsonl"
    lines = []
    for i in range(IMPORTED):
        store = _purchase(MEMBERS[i % len(MEMBERS)], f"imp-{i}", SMALL_AMOUNT)
        store["channel"] = "store"
        lines.append(json.dumps(store) + "\n")
    path.write_text("".join(lines))
    collected = _run_processes(_import_or_apply, [(url, w, str(path)) for w in range(4)])
    (_, (accepted, rejected), _), *live = collected
    assert (accepted, rejected) == (IMPORTED, [])
    assert all(all(outcomes) for _, outcomes, _ in live)
    earned = 3 * LIVE // len(MEMBERS)  # online purchases a member, 1 point each
    check = DurableEngine(load_program("soko"), url)
    for member in MEMBERS:
        points = check.summaries(member)[member]["points"]
        ledger = check.ledger(member)
        assert points["pending"] == earned
        assert points["available"] + points["pending"] == sum(e["points"] for e in ledger)
        assert sum(e["kind"] == "earn" for e in ledger) == earned
        assert [e["seq"] for e in ledger] == list(range(1, len(ledger) + 1))
    check.db.dispose()


# -- two imports of one file at once -------------------------------------------------------------
def _import_same_file(url: str, worker: int, path: str, barrier: Any, results: Any) -> None:
    try:
        durable = DurableEngine(load_program("sogo"), url)
        barrier.wait(timeout=TIMEOUT)
        report = durable.import_file(path, batch=25)
        applied = report.lines - report.resumed_from - report.by_others
        out = (report.lines, report.accepted, applied, report.rejected)
        durable.db.dispose()
        results.put((worker, out, None))
    except BaseException:
        results.put((worker, None, traceback.format_exc()))


@pytest.mark.parametrize("kind", ["sqlite", "sqlite-overlapped", "postgres"])
def test_two_imports_of_one_file_at_once_share_its_batches_and_apply_no_line_twice(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator starts `loyalty import` twice on the same file (a retried cron job): each batch
    is applied by one of them, the other skips it, and both end with the file's whole report and
    the state of a single import (the in-memory replay). SQLite overlaps the batches of a file
    this small too when told (``SQLITE_OVERLAP_FROM``; each import then has a committing child)."""
    if kind == "sqlite-overlapped":
        monkeypatch.setattr(durable_module, "SQLITE_OVERLAP_FROM", 0)
    url = request.getfixturevalue(f"{kind.removesuffix('-overlapped')}_url")
    program = load_program("sogo")
    path = tmp_path / "history.jsonl"
    path.write_text(
        "".join(f"{line}\n" for line in generate_history(program, members=80, months=12, seed=3))
    )
    total = sum(1 for _ in path.open("rb"))
    DurableEngine(program, url).db.dispose()  # the schema, before the two race to make it
    collected = _run_processes(_import_same_file, [(url, w, str(path)) for w in range(2)])
    (_, first, _), (_, second, _) = collected
    expected = replay_file(program, path)
    for lines, accepted, _, rejected in (first, second):
        assert (lines, accepted) == (total, expected.accepted)
        assert rejected == expected.rejected
    assert first[2] + second[2] == total  # every line applied by exactly one of the two
    assert DurableEngine(program, url).summaries() == expected.engine.summaries()
