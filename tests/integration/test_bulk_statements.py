"""The bulk statements of the storage adapter (``adapters/sql/bulk.py``) on real SQLite and
PostgreSQL: the rows they read and write, and how PostgreSQL is asked to plan them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from loyalty import load_program
from loyalty.adapters.sql import bulk
from loyalty.adapters.sql import schema as t
from loyalty.adapters.sql.bulk import PG_COPY_ROWS, delete_in, insert_rows, select_in, update_rows
from loyalty.adapters.sql.database import ensure_schema, make_engine
from loyalty.services.durable import DurableEngine
from loyalty.services.synthetic import generate_history
from tests.conftest import fresh_postgres_database

COLUMNS = ("program_id", "key", "digest", "accepted_at", "message")


def _rows(n: int, program: str = "p") -> list[tuple[str, ...]]:
    return [(program, f"k{i}", f"{i:032x}", "2024-01-01T00:00:00+00:00", "") for i in range(n)]


def test_select_in_reads_the_rows_of_the_program_with_those_values(database_url: str) -> None:
    db = make_engine(database_url)
    ensure_schema(db)
    with db.begin() as conn:
        insert_rows(conn, t.inputs, COLUMNS, _rows(50) + _rows(5, program="other"))
        found = select_in(
            conn, t.inputs, ("key", "digest"), {"program_id": "p"}, "key", ["k3", "k49", "zz"]
        )
        assert sorted(found) == [("k3", f"{3:032x}"), ("k49", f"{49:032x}")]
        assert select_in(conn, t.inputs, ("key",), {"program_id": "p"}, "key", []) == []
        with pytest.raises(KeyError, match="no column nope"):
            select_in(conn, t.inputs, ("nope",), {"program_id": "p"}, "key", ["k1"])
    db.dispose()


def test_delete_in_deletes_only_the_rows_of_the_program_with_those_values(
    database_url: str,
) -> None:
    db = make_engine(database_url)
    ensure_schema(db)
    with db.begin() as conn:
        insert_rows(conn, t.inputs, COLUMNS, _rows(10) + _rows(10, program="other"))
        delete_in(conn, t.inputs, {"program_id": "p"}, "key", ["k1", "k2", "zz"])
        delete_in(conn, t.inputs, {"program_id": "p"}, "key", [])
        left = conn.execute(text("SELECT program_id, key FROM inputs")).all()
        assert sorted(k for p, k in left if p == "p") == sorted(
            f"k{i}" for i in range(10) if i not in (1, 2)
        )
        assert len([p for p, _ in left if p == "other"]) == 10
    db.dispose()


def test_select_in_is_never_a_prepared_statement_on_postgresql(postgres_url: str) -> None:
    """psycopg prepares a statement run five times and PostgreSQL then plans it once for any
    list of values: in a table filling faster than its statistics (a first import), that plan
    compares every row with every value (it made a batch import 2.4x slower). ``select_in``
    must stay unprepared however often it runs."""
    db = make_engine(postgres_url)
    ensure_schema(db)
    with db.begin() as conn:
        insert_rows(conn, t.inputs, COLUMNS, _rows(100))
        for _ in range(12):
            keys = [f"k{i}" for i in range(20)]
            assert len(select_in(conn, t.inputs, ("key",), {"program_id": "p"}, "key", keys)) == 20
            delete_in(conn, t.inputs, {"program_id": "p"}, "key", ["none", "of", "these"])
        prepared = conn.execute(text("SELECT statement FROM pg_prepared_statements")).scalars()
        assert not [s for s in prepared if '"key" = ANY(' in s]
        # the yardstick: the same statement through the driver's default path is prepared
        sql = 'SELECT "key" FROM "inputs" WHERE "program_id" = %s AND "key" = ANY(%s)'
        for _ in range(6):
            conn.exec_driver_sql(sql, ("p", ["k1", "k2"])).all()
        prepared = conn.execute(text("SELECT statement FROM pg_prepared_statements")).scalars()
        assert [s for s in prepared if '"key" = ANY(' in s]
    db.dispose()


def test_a_lock_timeout_in_select_in_is_raised_as_sqlalchemy_raises_it(postgres_url: str) -> None:
    """``select_in`` runs on the driver's connection; its errors must still arrive as
    SQLAlchemy's ``DBAPIError`` with the driver's sqlstate, or a batch import would not retry a
    deadlock or a lock timeout met while locking its members."""
    db = make_engine(postgres_url)
    ensure_schema(db)
    with db.begin() as conn:
        insert_rows(conn, t.inputs, COLUMNS, _rows(3))
    with db.begin() as holder:
        holder.execute(text("SELECT 1 FROM inputs WHERE key = 'k1' FOR UPDATE")).all()
        with db.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '50ms'"))
            with pytest.raises(OperationalError) as caught:
                select_in(
                    conn, t.inputs, ("key",), {"program_id": "p"}, "key", ["k1"],
                    lock_in_order=True,
                )  # fmt: skip
            assert getattr(caught.value.orig, "sqlstate", None) == "55P03"
    db.dispose()


@pytest.mark.parametrize("count", [1, PG_COPY_ROWS, 3 * PG_COPY_ROWS])
def test_insert_rows_writes_awkward_values_as_given(database_url: str, count: int) -> None:
    """Below ``PG_COPY_ROWS`` an INSERT, from it on a COPY on PostgreSQL: the same rows either way,
    with NULLs, tabs, newlines, backslashes, quotes, ``\\N`` and non-ASCII text in the values."""
    awkward = ["a\tb", "line\nbreak", "back\\slash", "\\N", 'it\'s "quoted"', "café ✓", ""]
    rows = [
        ("p", f"k{i}", f"{i:032x}", "2024-01-01T00:00:00+00:00", awkward[i % len(awkward)])
        for i in range(count)
    ]
    rows.append(("p", "null-message", "0" * 32, "2024-01-01T00:00:00+00:00", None))
    db = make_engine(database_url)
    ensure_schema(db)
    with db.begin() as conn:
        insert_rows(conn, t.inputs, COLUMNS, rows)
    with db.connect() as conn:
        stored = conn.execute(text(f"SELECT {', '.join(COLUMNS)} FROM inputs")).all()
    assert sorted(tuple(r) for r in stored) == sorted(rows, key=lambda r: tuple(map(str, r)))
    db.dispose()


@pytest.mark.parametrize("count", [1, PG_COPY_ROWS])
def test_insert_rows_raises_a_clash_as_sqlalchemy_raises_it(database_url: str, count: int) -> None:
    """A duplicate key is SQLAlchemy's ``IntegrityError`` whichever way the rows went (the
    service retries it as two first inputs for one new member racing), and nothing is kept."""
    db = make_engine(database_url)
    ensure_schema(db)
    with db.begin() as conn:
        insert_rows(conn, t.inputs, COLUMNS, _rows(1))
    with pytest.raises(IntegrityError), db.begin() as conn:
        insert_rows(conn, t.inputs, COLUMNS, _rows(count))
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM inputs")).scalar() == 1
    db.dispose()


AWKWARD = ["a\tb", "line\nbreak", "back\\slash", "\\N", 'it\'s "quoted"', "café ✓", "", None]


def _stored(db: Engine) -> list[tuple[Any, ...]]:
    with db.connect() as conn:
        rows = conn.execute(text(f"SELECT {', '.join(COLUMNS)} FROM inputs")).all()
    return sorted((tuple(r) for r in rows), key=lambda r: tuple(map(str, r)))


def _expected(*batches: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows after writing ``batches`` one after the other, each row over its key's last."""
    rows: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for batch in batches:
        for row in batch:
            rows[row[:2]] = row
    return sorted(rows.values(), key=lambda r: tuple(map(str, r)))


@pytest.mark.parametrize("count", [1, PG_COPY_ROWS, 3 * PG_COPY_ROWS])
@pytest.mark.parametrize("on_conflict", ["update", "ignore"])
def test_insert_rows_upserts_awkward_values_as_given(
    database_url: str, count: int, on_conflict: Literal["update", "ignore"]
) -> None:
    """From ``PG_COPY_ROWS`` rows on, PostgreSQL's upsert stages the rows by COPY in a temporary
    table and upserts them in one statement: the same rows as SQLite's (and a smaller batch's)
    ``INSERT ... ON CONFLICT`` one by one, with awkward values, and no temporary table left."""
    before = [("p", f"k{i}", "0" * 32, "2023-12-31T00:00:00+00:00", "old") for i in range(0, 60, 2)]
    rows = [
        ("p", f"k{i}", f"{i:032x}", "2024-01-01T00:00:00+00:00", AWKWARD[i % len(AWKWARD)])
        for i in range(count)
    ]
    db = make_engine(database_url)
    ensure_schema(db)
    with db.begin() as conn:
        insert_rows(conn, t.inputs, COLUMNS, before)
    with db.begin() as conn:
        insert_rows(
            conn, t.inputs, COLUMNS, rows, conflict=("program_id", "key"), on_conflict=on_conflict
        )
        if db.dialect.name == "postgresql":
            left = conn.execute(text("SELECT relname FROM pg_class WHERE relname LIKE '_stage%'"))
            assert left.all() == []
    kept = {row[:2] for row in before}
    new = [r for r in rows if on_conflict == "update" or r[:2] not in kept]
    assert _stored(db) == _expected(before, new)
    db.dispose()


@pytest.mark.parametrize("count", [PG_COPY_ROWS, 2 * PG_COPY_ROWS])
def test_insert_rows_upserting_one_key_twice_keeps_the_last(database_url: str, count: int) -> None:
    """One statement cannot upsert a row twice: rows naming a key twice are upserted one by one,
    the last one kept, as a smaller batch's would be."""
    rows = [
        ("p", f"k{i % 7}", f"{i:032x}", "2024-01-01T00:00:00+00:00", f"m{i}") for i in range(count)
    ]
    db = make_engine(database_url)
    ensure_schema(db)
    with db.begin() as conn:
        insert_rows(
            conn, t.inputs, COLUMNS, rows, conflict=("program_id", "key"), on_conflict="update"
        )
    assert _stored(db) == _expected(rows)
    db.dispose()


@pytest.mark.parametrize("count", [1, PG_COPY_ROWS, 3 * PG_COPY_ROWS])
def test_update_rows_updates_the_rows_of_those_keys_only(database_url: str, count: int) -> None:
    """From ``PG_COPY_ROWS`` rows on, PostgreSQL's update stages the rows by COPY and updates them
    in one statement (``UPDATE ... FROM``): the same rows as one ``UPDATE`` a row; keys with no
    row change nothing."""
    before = _rows(2 * count)
    changes = [
        (f"{i + 1:032x}", AWKWARD[i % len(AWKWARD)], "p", f"k{i}")
        for i in range(0, 2 * count + 4, 2)  # every other row, and two keys no row has
    ]
    db = make_engine(database_url)
    ensure_schema(db)
    with db.begin() as conn:
        insert_rows(conn, t.inputs, COLUMNS, before + _rows(3, program="other"))
        update_rows(conn, t.inputs, ("digest", "message"), ("program_id", "key"), changes)
    changed = {(p, k): (d, m) for d, m, p, k in changes}
    expected = []
    for p, k, d, at, m in before + _rows(3, program="other"):
        digest, message = changed.get((p, k), (d, m))
        expected.append((p, k, digest, at, message))
    assert _stored(db) == sorted(expected, key=lambda r: tuple(map(str, r)))
    db.dispose()


def test_a_staged_upsert_raises_a_violation_as_sqlalchemy_raises_it(postgres_url: str) -> None:
    """An error in the staged statement (here a NULL where none may be) is SQLAlchemy's, with the
    driver's sqlstate, and nothing is kept."""
    rows = _rows(PG_COPY_ROWS)
    rows[3] = ("p", "k3", None, "2024-01-01T00:00:00+00:00", "")  # type: ignore[assignment]
    db = make_engine(postgres_url)
    ensure_schema(db)
    with pytest.raises(IntegrityError) as caught, db.begin() as conn:
        insert_rows(
            conn, t.inputs, COLUMNS, rows, conflict=("program_id", "key"), on_conflict="update"
        )
    assert getattr(caught.value.orig, "sqlstate", None) == "23502"
    assert _stored(db) == []
    db.dispose()


def test_a_role_without_temporary_tables_upserts_one_by_one(
    postgres_url: str, tmp_path: Path
) -> None:
    """Staging needs PostgreSQL's TEMP privilege, which every role has unless an administrator
    revokes it. A role without it imports as well, its upserts and updates going one by one: the
    same rows as a role with it (the same history imported into another database)."""
    history = tmp_path / "history.jsonl"
    history.write_text("".join(line + "\n" for line in generate_history(
        load_program("soko"), members=40, months=6, seed=5)))  # fmt: skip
    database = postgres_url.rsplit("/", 1)[1]
    role = f"importer_{database}"
    DurableEngine(load_program("soko"), postgres_url).db.dispose()  # the schema, as its owner
    admin = make_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"'))
        conn.execute(text(f'REVOKE TEMPORARY ON DATABASE "{database}" FROM PUBLIC'))
    admin.dispose()
    limited = DurableEngine(load_program("soko"), postgres_url.replace("//postgres@", f"//{role}@"))
    with limited.db.connect() as conn:
        assert not conn.execute(
            text("SELECT has_database_privilege(current_database(), 'TEMP')")
        ).scalar()
    staged: list[int] = []
    real = bulk._staged

    def counting(*args: Any) -> Any:
        staged.append(1)
        return real(*args)

    other = DurableEngine(load_program("soko"), fresh_postgres_database(postgres_url))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bulk, "_staged", counting)
        report = limited.import_file(history, batch=100)
        assert staged == []
        assert other.import_file(history, batch=100).accepted == report.accepted > 100
        assert staged  # the role with the privilege staged its upserts
    assert limited.summaries() == other.summaries()
    for table in (t.members, t.lots, t.orders, t.ledger):
        with limited.db.connect() as a, other.db.connect() as b:
            assert sorted(map(tuple, a.execute(table.select()))) == sorted(
                map(tuple, b.execute(table.select()))
            )
    limited.db.dispose()
    other.db.dispose()
