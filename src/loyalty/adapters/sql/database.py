"""Connecting to the database and keeping its schema current (Alembic).

The URL comes from ``--database``, else ``LOYALTY_DATABASE_URL``, else ``sqlite:///./loyalty.db``
(an embedded file: nothing to install). PostgreSQL: ``postgresql+psycopg://user@host/db``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, make_url
from sqlalchemy.exc import ArgumentError

from loyalty.domain.errors import LoyaltyError

DEFAULT_URL = "sqlite:///./loyalty.db"
READ_ONLY = "loyalty_read_only"  # execution option of connections that never write
# execution option of a SQLite transaction that reads without the write lock and takes it at its
# first write, failing then ("database is locked") if another connection committed since its
# first read: a batch import's first attempt at a batch (``DurableEngine._unlocked_batch``)
OPTIMISTIC = "loyalty_optimistic"
# execution option of a SQLite connection whose statements are each a transaction of their own:
# reads that hold no snapshot between them (a pipelined batch's reads on demand, once its
# prefetched reads are done: ``PipelinedImport``)
AUTOCOMMIT = "loyalty_autocommit"
MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseError(LoyaltyError):
    code = "database"


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("LOYALTY_DATABASE_URL") or DEFAULT_URL


SUPPORTED = "sqlite:///FILE or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"


def _checked(text: str) -> str:
    """The URL SQLAlchemy is given: SQLite (its built-in driver) or PostgreSQL through psycopg 3,
    the one driver installed (``postgresql://`` and other drivers' spellings are taken to mean
    it). Anything else is refused here, not by a driver import deep inside SQLAlchemy."""
    try:
        url = make_url(text)
    except ArgumentError:
        raise DatabaseError(f"not a database URL: use {SUPPORTED}", "database") from None
    backend = url.get_backend_name()
    if backend == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    elif backend != "sqlite" or url.get_driver_name() != "pysqlite":
        raise DatabaseError(f"unsupported database {url.drivername!r}: use {SUPPORTED}", "database")
    return url.render_as_string(hide_password=False)


SQLITE_CACHE_KIB = 65_536
SQLITE_CHECKPOINT_PAGES = 10_000


def make_engine(url: str | None = None) -> Engine:
    url = _checked(database_url(url))
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _: object) -> None:
            # SQLAlchemy's recipe: take transactions out of pysqlite's hands, and begin them
            # ourselves, so that a write transaction holds the write lock from its first read.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # A batch of a few thousand inputs touches pages all over the tables keyed by member
            # (members, lots, ledger, orders by member): ~6,000 pages a batch at 10,000 members,
            # rewritten from the cache to the write-ahead log and from there to the database
            # file at each commit. Room for them in the cache (64 MiB, taken only as used, against
            # SQLite's 2 MiB), and a log checkpointed every 10,000 pages (40 MiB) rather than
            # 1,000, so that a page changed by several batches is copied once: a batch import
            # ~12% faster (bench/ingest.py; docs/PERFORMANCE.md, stop 19).
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Reads (summaries, reports) may run beside a writer (WAL); a transaction that may
            # write takes the lock at once: it reads a member and writes it back, and nobody must
            # write that member in between. An ``OPTIMISTIC`` one takes it at its first write,
            # which SQLite refuses if anyone committed since the transaction's first read.
            options = conn.get_execution_options()
            if options.get(AUTOCOMMIT, False):
                return
            deferred = options.get(READ_ONLY, False) or options.get(OPTIMISTIC, False)
            conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        conn.execution_options(**{READ_ONLY: True})
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def ensure_schema(engine: Engine, create: bool = True) -> None:
    """Create the schema in an empty database (with ``create``; a reader refuses it instead, so
    that a mistyped URL makes no database); refuse one that is behind (run ``db upgrade``)."""
    database = engine.url.database
    sqlite_file = engine.url.get_backend_name() == "sqlite" and database not in (
        None,
        "",
        ":memory:",
    )
    if not create and sqlite_file and not Path(str(database)).is_file():
        raise DatabaseError(
            f"no database at {database}: import inputs first (loyalty import) or create it "
            "(loyalty db upgrade)"
        )
    current = current_revision(engine)
    if current == head_revision():
        return
    if current is None and not inspect(engine).get_table_names():
        if not create:
            raise DatabaseError("the database is empty: import inputs first (loyalty import)")
        upgrade(engine)
        return
    raise DatabaseError(
        f"the database schema is at {current or 'an unknown revision'}, this version needs "
        f"{head_revision()}: run `loyalty db upgrade`"
    )
