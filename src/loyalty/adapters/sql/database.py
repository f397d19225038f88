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
from sqlalchemy import Engine, create_engine, event, inspect

from loyalty.domain.errors import LoyaltyError

DEFAULT_URL = "sqlite:///./loyalty.db"
MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseError(LoyaltyError):
    code = "database"


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("LOYALTY_DATABASE_URL") or DEFAULT_URL


def make_engine(url: str | None = None) -> Engine:
    url = database_url(url)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _: object) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

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
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse one that is behind (run ``db upgrade``)."""
    current = current_revision(engine)
    if current == head_revision():
        return
    if current is None and not inspect(engine).get_table_names():
        upgrade(engine)
        return
    raise DatabaseError(
        f"the database schema is at {current or 'an unknown revision'}, this version needs "
        f"{head_revision()}: run `loyalty db upgrade`"
    )
