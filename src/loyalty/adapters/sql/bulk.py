"""Many rows in one statement, straight to the driver's ``executemany``.

SQLAlchemy Core builds and checks a parameter dictionary per row; for the thousands of ledger,
lot, order and member rows a batch import writes, that costs more than the database's own work.
These helpers send plain tuples instead, in the one SQL both SQLite and PostgreSQL accept
(``INSERT ... ON CONFLICT``), with the driver's placeholder (``?`` for sqlite3, ``%s`` for
psycopg). Example: ``insert_rows(conn, lots, ["program_id", "member_id", "lot_id", ...], rows,
conflict=["program_id", "member_id", "lot_id"], on_conflict="update")``.

On PostgreSQL, from ``PG_COPY_ROWS`` rows on, the rows go by COPY instead: straight into the
table for a plain INSERT, through a temporary table for an upsert or an update (``_staged``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import count
from typing import Any, Literal

from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError

# From this many rows on, PostgreSQL's rows go by COPY: psycopg writes COPY rows in C, where its
# pipelined ``executemany`` spends ~35 us of Python on each row (an import: -7% for the plain
# INSERTs, ~-15% more for the upserts and updates). A live input writes a row or two per table
# and stays an INSERT or an UPDATE.
PG_COPY_ROWS = 20


def _names(names: Sequence[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _mark(conn: Connection) -> str:
    return "%s" if conn.dialect.name == "postgresql" else "?"


def _known(table: Table, names: Sequence[str]) -> None:
    """An unknown column fails here, with its name, before any SQL runs."""
    unknown = [n for n in names if n not in table.c]
    if unknown:
        raise KeyError(f"{table.name} has no column {', '.join(unknown)}")


def insert_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    conflict: Sequence[str] = (),
    on_conflict: Literal["error", "ignore", "update"] = "error",
) -> None:
    """INSERT ``rows`` (tuples in the order of ``columns``); on a clash of the ``conflict``
    columns, fail, keep the stored row, or overwrite it with the new values."""
    if not rows:
        return
    if on_conflict != "error" and not conflict:
        raise ValueError(f"on_conflict={on_conflict!r} needs the conflict columns")
    _known(table, [*columns, *conflict])
    clause = ""
    if on_conflict == "ignore":
        clause = f" ON CONFLICT ({_names(conflict)}) DO NOTHING"
    elif on_conflict == "update":
        changing = [c for c in columns if c not in conflict]
        sets = ", ".join(f'"{c}" = excluded."{c}"' for c in changing)
        clause = f" ON CONFLICT ({_names(conflict)}) DO UPDATE SET {sets}"
    if len(rows) >= PG_COPY_ROWS and conn.dialect.name == "postgresql":
        if on_conflict == "error":
            _copy(conn, table.name, columns, rows)
            return
        if _distinct(rows, [columns.index(c) for c in conflict]) and _can_stage(conn):
            with _staged(conn, table, columns, rows) as (cursor, stage):
                cursor.execute(
                    f'INSERT INTO "{table.name}" ({_names(columns)}) '
                    f'SELECT {_names(columns)} FROM "{stage}"{clause}'
                )
            return
    mark = _mark(conn)
    sql = (
        f'INSERT INTO "{table.name}" ({_names(columns)}) '
        f"VALUES ({', '.join(mark for _ in columns)})"
    )
    conn.exec_driver_sql(sql + clause, list(rows))


def update_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    keys: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """UPDATE one row per tuple: the values of ``columns`` followed by those of ``keys``."""
    if not rows:
        return
    _known(table, [*columns, *keys])
    if (
        len(rows) >= PG_COPY_ROWS
        and conn.dialect.name == "postgresql"
        and _distinct(rows, range(len(columns), len(columns) + len(keys)))
        and _can_stage(conn)
    ):
        with _staged(conn, table, [*columns, *keys], rows) as (cursor, stage):
            sets = ", ".join(f'"{c}" = s."{c}"' for c in columns)
            where = " AND ".join(f'"{table.name}"."{k}" = s."{k}"' for k in keys)
            cursor.execute(f'UPDATE "{table.name}" SET {sets} FROM "{stage}" AS s WHERE {where}')
        return
    mark = _mark(conn)
    sets = ", ".join(f'"{c}" = {mark}' for c in columns)
    where = " AND ".join(f'"{k}" = {mark}' for k in keys)
    conn.exec_driver_sql(f'UPDATE "{table.name}" SET {sets} WHERE {where}', list(rows))


def select_in(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    equal: dict[str, Any],
    column: str,
    values: Sequence[Any],
    *,
    lock_in_order: bool = False,
) -> list[tuple[Any, ...]]:
    """SELECT ``columns`` of the rows whose ``equal`` columns have those values and whose
    ``column`` is one of ``values``. ``lock_in_order``: ``ORDER BY column FOR UPDATE`` (rows
    locked in one order, so that two writers cannot deadlock on them; PostgreSQL only).

    On PostgreSQL the statement is never prepared: psycopg prepares a statement run five times,
    and PostgreSQL then plans it once for any values. In a table filling faster than its
    statistics are refreshed (a first import into an empty database), that generic plan reads
    every row of the program and compares each with each value of the list: ~250 ms a query at
    20,000 rows, against ~6 ms planned with the values at hand."""
    if not values:
        return []
    _known(table, [*columns, *equal, column])
    where, params = _where_in(conn, equal, column, values)
    sql = f'SELECT {_names(columns)} FROM "{table.name}" WHERE {where}'
    if lock_in_order and conn.dialect.name == "postgresql":
        sql += f' ORDER BY "{column}" FOR UPDATE'
    return _unprepared(conn, sql, params)


def row_versions(
    conn: Connection, table: Table, equal: dict[str, Any], column: str, values: Sequence[Any]
) -> dict[Any, str]:
    """PostgreSQL: the rows' ``xmin`` (the transaction that wrote their current version) by
    their ``column``, the rows locked in its order (``FOR UPDATE``). A row's ``xmin`` is the id
    of the transaction that wrote it last: equal to a transaction's own id, nobody has changed
    the row since that transaction wrote it."""
    if not values:
        return {}
    _known(table, [*equal, column])
    where, params = _where_in(conn, equal, column, values)
    sql = (
        f'SELECT "{column}", xmin::text FROM "{table.name}" WHERE {where} '
        f'ORDER BY "{column}" FOR UPDATE'
    )
    return {key: version for key, version in _unprepared(conn, sql, params)}


def delete_in(
    conn: Connection, table: Table, equal: dict[str, Any], column: str, values: Sequence[Any]
) -> None:
    """DELETE the rows whose ``equal`` columns have those values and whose ``column`` is one of
    ``values`` (never a prepared statement on PostgreSQL: see ``select_in``)."""
    if not values:
        return
    _known(table, [*equal, column])
    where, params = _where_in(conn, equal, column, values)
    _unprepared(conn, f'DELETE FROM "{table.name}" WHERE {where}', params)


def _where_in(
    conn: Connection, equal: dict[str, Any], column: str, values: Sequence[Any]
) -> tuple[str, list[Any]]:
    """The condition and its parameters. On PostgreSQL the values are one array parameter
    (``= ANY(%s)``): psycopg adapts a list in C, where 500 parameters cost it ~10 us of Python a
    value (an import's look-ups of its new inputs and orders: ~20 of ~160 us a purchase)."""
    mark = _mark(conn)
    where = [f'"{k}" = {mark}' for k in equal]
    if conn.dialect.name == "postgresql":
        where.append(f'"{column}" = ANY({mark})')
        return " AND ".join(where), [*equal.values(), list(values)]
    where.append(f'"{column}" IN ({", ".join(mark for _ in values)})')
    return " AND ".join(where), [*equal.values(), *values]


@contextmanager
def _psycopg_cursor(conn: Connection, sql: str, params: list[Any]) -> Iterator[Any]:
    """A cursor of the connection's psycopg connection, in its transaction (as SQLAlchemy's own);
    its errors arrive as SQLAlchemy raises them (callers retry deadlocks by their sqlstate)."""
    driver = conn.connection.driver_connection
    assert driver is not None
    error = conn.dialect.loaded_dbapi.Error
    try:
        with driver.cursor() as cursor:
            yield cursor
    except error as exc:
        raise DBAPIError.instance(sql, params, exc, error, dialect=conn.dialect) from exc


def _unprepared(conn: Connection, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    if conn.dialect.name != "postgresql":
        result = conn.exec_driver_sql(sql, tuple(params))
        return [tuple(r) for r in result] if result.returns_rows else []
    with _psycopg_cursor(conn, sql, params) as cursor:
        cursor.execute(sql, params, prepare=False)
        return [tuple(r) for r in cursor.fetchall()] if cursor.description is not None else []


def _copy(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """The rows as one COPY (text format: None is NULL, and tabs, newlines and backslashes in
    values are escaped by psycopg)."""
    sql = f'COPY "{table}" ({_names(columns)}) FROM STDIN'
    with _psycopg_cursor(conn, sql, []) as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def _distinct(rows: Sequence[tuple[Any, ...]], at: Iterable[int]) -> bool:
    """No two rows have the same values at the positions ``at`` (their key)."""
    at = list(at)
    return len({tuple(row[i] for i in at) for row in rows}) == len(rows)


@contextmanager
def _staged(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> Iterator[tuple[Any, str]]:
    """PostgreSQL: the rows COPYed into a temporary table of ``columns`` (typed as ``table``'s),
    for one statement that upserts or updates them all: psycopg's ``executemany`` spends ~35 us
    of Python on each row, COPY writes them in C (an import: the members' documents, the lots and
    the orders, ~35 of ~185 us a purchase). Yields a cursor in the caller's transaction and the
    temporary table's name; the table is dropped after. The rows' keys must be distinct (one
    statement cannot upsert or update a row twice): callers check (``_distinct``)."""
    stage = f"_stage_{table.name}_{next(_STAGES)}"
    create = (
        f'CREATE TEMPORARY TABLE "{stage}" ON COMMIT DROP AS '
        f'SELECT {_names(columns)} FROM "{table.name}" WITH NO DATA'
    )
    with _psycopg_cursor(conn, create, []) as cursor:
        cursor.execute(create)
        with cursor.copy(f'COPY "{stage}" ({_names(columns)}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
        yield cursor, stage
        cursor.execute(f'DROP TABLE "{stage}"')


_STAGES = count()  # temporary tables' numbers (one transaction may stage several)
_TEMPORARY = "loyalty.temporary_tables"  # in a pooled connection's ``info``: may it make them


def _can_stage(conn: Connection) -> bool:
    """The role may make temporary tables here (PostgreSQL's TEMP privilege, which every role has
    unless an administrator revoked it): asked once a pooled connection. Without it, upserts and
    updates go one by one, as with fewer rows."""
    info = conn.connection.info
    if _TEMPORARY not in info:
        query = "SELECT has_database_privilege(current_database(), 'TEMP')"
        info[_TEMPORARY] = bool(conn.exec_driver_sql(query).scalar())
    return bool(info[_TEMPORARY])
