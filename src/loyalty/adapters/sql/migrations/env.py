"""Alembic environment: migrations run on the connection that ``database.upgrade`` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from loyalty.adapters.sql.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    with create_engine(config.get_main_option("sqlalchemy.url") or "").begin() as conn:
        _run(conn)
else:
    _run(connection)
