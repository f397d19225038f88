"""Differential tests of the durable storage: a generated history of each preset gives the same
member summaries and the same rejected lines whether it is replayed in memory, imported into
SQLite or imported into PostgreSQL; whatever the batch size; before and after the jobs run; and
every member's ledger in the database is the in-memory engine's ledger, entry for entry.

The in-memory replay is the reference (SPEC §6). Reading a member from the database advances it to
the program's clock without writing (``summaries``), and ``run_jobs`` writes what that reading
computed, so summaries are the same before and after the jobs, and after the jobs the stored ledger
holds every entry the replay's engine holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from loyalty.adapters.sql import schema as t
from loyalty.adapters.sql.registry import utc
from loyalty.programs.loader import PRESETS, load_program
from loyalty.services.durable import DurableEngine
from loyalty.services.replay import ReplayResult, replay_file
from loyalty.services.synthetic import generate_history
from tests.conftest import fresh_postgres_database

MEMBERS, MONTHS, SEEDS = 40, 14, (1, 2)
CASES = [(preset, seed) for preset in PRESETS for seed in SEEDS]
Entry = tuple[int, str, str, int, str, str]


@pytest.fixture(scope="module")
def histories(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], Path]:
    """One generated history per preset and seed, written once for the module."""
    folder = tmp_path_factory.mktemp("histories")
    out = {}
    for preset, seed in CASES:
        program = load_program(preset)
        path = folder / f"{preset}-{seed}.jsonl"
        lines = generate_history(program, members=MEMBERS, months=MONTHS, seed=seed)
        path.write_text("".join(line + "\n" for line in lines))
        out[preset, seed] = path
    return out


def memory_ledger(result: ReplayResult, member: str) -> list[Entry]:
    return [
        (e.seq, utc(e.at), e.kind, e.points, e.ref, e.note) for e in result.engine.ledger(member)
    ]


def stored_ledger(durable: DurableEngine, member: str) -> list[Entry]:
    return [
        (r["seq"], r["at"], r["kind"], r["points"], r["ref"], r["note"])
        for r in durable.ledger(member)
    ]


def stored_rows(durable: DurableEngine, table: Any) -> list[tuple[Any, ...]]:
    """Every row of one of the member-owned tables, in primary-key order."""
    with durable.db.connect() as conn:
        query = select(table).order_by(*table.primary_key.columns)
        return [tuple(row) for row in conn.execute(query)]


def stored_orders(durable: DurableEngine) -> list[dict[str, Any]]:
    """The orders table, each order's lots reduced to those that still hold points (pending, or
    with points left). A row keeps the ids of its order's lots as they were when it was last
    written; a lot spent since then stays listed until the order is written again, so which spent
    ids a row lists depends on where the batches ended. A reversal only takes back from lots that
    still hold points (see ``loyalty.domain.ledger``): the spent ids mean nothing."""
    with durable.db.connect() as conn:
        live = {
            (row.member_id, row.lot_id)
            for row in conn.execute(select(t.lots).where(t.lots.c.program_id == durable.program.id))
            if row.remaining > 0 or not row.matured
        }
        rows = conn.execute(select(t.orders).order_by(*t.orders.primary_key.columns))
        out = []
        for row in rows:
            order = dict(row._mapping)
            if "state" in order:
                state = json.loads(order["state"])
                member = state.get("member")
                state["lots"] = [i for i in state.get("lots", []) if (member, i) in live]
                order["state"] = state
            out.append(order)
        return out


def import_into(url: str, preset: str, path: Path, batch: int) -> tuple[DurableEngine, Any]:
    durable = DurableEngine(load_program(preset), url)
    report = durable.import_file(path, batch=batch)
    return durable, report


@pytest.mark.parametrize(("preset", "seed"), CASES, ids=[f"{p}-{s}" for p, s in CASES])
def test_replay_sqlite_and_postgresql_agree(
    preset: str,
    seed: int,
    histories: dict[tuple[str, int], Path],
    sqlite_url: str,
    postgres_url: str,
) -> None:
    path = histories[preset, seed]
    total = sum(1 for _ in path.open("rb"))
    replayed = replay_file(load_program(preset), path)
    expected = replayed.output()
    assert len(expected["members"]) >= MEMBERS * 0.9  # a few may enrol after the horizon

    stores = {}
    for name, url in (("sqlite", sqlite_url), ("postgresql", postgres_url)):
        durable, report = import_into(url, preset, path, batch=500)
        stores[name] = durable
        assert report.lines == total, name
        assert report.accepted == total - len(expected["rejected"]), name
        assert report.rejected == expected["rejected"], name
        assert durable.summaries() == expected["members"], name

    sqlite, postgresql = stores["sqlite"], stores["postgresql"]
    assert sqlite.summaries() == postgresql.summaries()

    # Before the jobs run, the stored ledger is what the inputs wrote: a prefix of the engine's
    # (which, read at the program's clock, also holds what the due jobs add).
    for member in expected["members"]:
        full = memory_ledger(replayed, member)
        for name, durable in stores.items():
            stored = stored_ledger(durable, member)
            assert stored == full[: len(stored)], (name, member)

    for name, durable in stores.items():
        durable.run_jobs()
        assert durable.summaries() == expected["members"], name
        durable.run_jobs()  # nothing left to do: a second run changes nothing
        assert durable.summaries() == expected["members"], name

    for member in expected["members"]:
        full = memory_ledger(replayed, member)
        assert [e[0] for e in full] == list(range(1, len(full) + 1)), member
        for name, durable in stores.items():
            assert stored_ledger(durable, member) == full, (name, member)

    # The two databases hold the same rows (lots, ledger, certificates, outbox, inputs, ...).
    for table in (t.members, t.lots, t.ledger, t.certificates, t.outbox, t.inputs, t.orders):
        assert stored_rows(sqlite, table) == stored_rows(postgresql, table), table.name
    for durable in stores.values():
        durable.db.dispose()


BATCH_MEMBERS = 12  # batch 1 is one transaction per line: a smaller history keeps it quick
BATCHES = (1, 7, 500)


@pytest.mark.parametrize("preset", PRESETS)
def test_batch_size_does_not_change_the_result(
    preset: str, database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    program = load_program(preset)
    path = tmp_path / "history.jsonl"
    lines = generate_history(program, members=BATCH_MEMBERS, months=MONTHS, seed=3)
    path.write_text("".join(line + "\n" for line in lines))
    total = sum(1 for _ in path.open("rb"))
    replayed = replay_file(program, path)
    expected = replayed.output()

    tables = (t.members, t.lots, t.ledger, t.certificates, t.outbox, t.campaigns)
    results: dict[int, dict[str, Any]] = {}
    for batch in BATCHES:
        if database_url.startswith("sqlite"):
            url = database_url.replace("loyalty.db", f"batch-{batch}.db")
        elif batch == BATCHES[0]:
            url = database_url
        else:
            url = fresh_postgres_database(str(request.getfixturevalue("postgres_server")))
        durable, report = import_into(url, preset, path, batch=batch)
        assert (report.lines, report.rejected) == (total, expected["rejected"]), batch
        assert durable.summaries() == expected["members"], batch
        durable.run_jobs()
        assert durable.summaries() == expected["members"], batch
        for member in expected["members"]:
            assert stored_ledger(durable, member) == memory_ledger(replayed, member), batch
        results[batch] = {
            "accepted": report.accepted,
            "rejected": report.rejected,
            **{table.name: stored_rows(durable, table) for table in tables},
            "orders": stored_orders(durable),
        }
        durable.db.dispose()
    first = results[BATCHES[0]]
    for batch in BATCHES[1:]:
        for key, rows in first.items():
            assert results[batch][key] == rows, (batch, key)


LIVE_MEMBERS = 25


@pytest.mark.parametrize("preset", PRESETS)
def test_live_inputs_one_by_one_agree_with_the_replay(
    preset: str, database_url: str, tmp_path: Path
) -> None:
    """The service path (`loyalty apply`, one input one transaction, the member locked, inputs
    ordered per member, orders and members read on demand) gives the replay's summaries, the
    replay's reasons for the rejected lines and the replay's ledgers."""
    program = load_program(preset)
    path = tmp_path / "history.jsonl"
    lines = list(generate_history(program, members=LIVE_MEMBERS, months=MONTHS, seed=4))
    path.write_text("".join(line + "\n" for line in lines))
    replayed = replay_file(program, path)
    expected = replayed.output()

    durable = DurableEngine(program, database_url)
    rejected = []
    for number, line in enumerate(lines, start=1):
        outcome = durable.apply(line)
        if not outcome.accepted:
            rejected.append({"line": number, "error": str(outcome.error)})
    assert rejected == expected["rejected"]
    assert durable.summaries() == expected["members"]
    durable.run_jobs()
    assert durable.summaries() == expected["members"]
    for member in expected["members"]:
        assert stored_ledger(durable, member) == memory_ledger(replayed, member), member
    durable.db.dispose()
