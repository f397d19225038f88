"""Every scenario runs three ways: replayed in memory, and imported into SQLite and into
PostgreSQL then read back as summaries (issue: the durable engine keeps the rules)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from loyalty.adapters.sql.database import make_engine, upgrade
from loyalty.adapters.sql.schema import metadata
from tests.scenarios import harness

_numbers = count(1)


@pytest.fixture(scope="session")
def sqlite_template() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="loyalty-sqlite-"))
    template = folder / "template.db"
    engine = make_engine(f"sqlite:///{template}")
    upgrade(engine)
    engine.dispose()
    yield template
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_scenario_db(postgres_server: str) -> str:
    """One database for the scenarios, emptied (TRUNCATE) before each run: much faster than a
    CREATE DATABASE per run."""
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "scenarios"'))
    admin.dispose()
    url = postgres_server.rsplit("/", 1)[0] + "/scenarios"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(params=["memory", "sqlite", "postgresql"], autouse=True)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "memory":
        harness.DATABASE = None
    elif request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")

        def fresh_sqlite() -> str:
            target = template.parent / f"s{next(_numbers)}.db"
            shutil.copyfile(template, target)
            return f"sqlite:///{target}"

        harness.DATABASE = fresh_sqlite
    else:
        url: str = request.getfixturevalue("postgres_scenario_db")
        tables = ", ".join(t.name for t in metadata.sorted_tables)

        def fresh_postgres() -> str:
            engine = create_engine(url)
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {tables}"))
            engine.dispose()
            return url

        harness.DATABASE = fresh_postgres
    yield request.param
    harness.DATABASE = None
