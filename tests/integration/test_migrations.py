"""Schema migrations (`loyalty db upgrade`) on SQLite and PostgreSQL, with data in the tables."""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from sqlalchemy import select

from loyalty.adapters.sql import schema as t
from loyalty.adapters.sql.database import _config, current_revision, head_revision, upgrade
from loyalty.programs.loader import load_program
from loyalty.services.durable import DurableEngine

SOGO_EARN = [
    {
        "type": "enroll",
        "at": "2024-03-01T10:00:00+08:00",
        "member": "m1",
        "first_name": "Siti",
        "email": "siti@example.com",
        "phone": "012-3456789",
        "birth_month": 6,
    },
    {
        "type": "purchase",
        "at": "2024-03-15T12:00:00+08:00",
        "member": "m1",
        "order": "o1",
        "channel": "store",
        "lines": [{"sku": "A", "amount": "100.00"}],
    },
]


def _months(durable: DurableEngine) -> list[str]:
    with durable.db.connect() as conn:
        return [str(m) for m in conn.execute(select(t.lots.c.expires_month)).scalars()]


def test_0002_recomputes_the_expiry_month_of_stored_lots(database_url: str, tmp_path: Path) -> None:
    """SG-10: 2024-03-15's points can last be used on 2026-03-31. Revision 0001 stored 2026-04
    (the month of the first instant after); 0002 stores 2026-03, and its downgrade puts back what
    0001 wrote."""
    path = tmp_path / "earn.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in SOGO_EARN))
    durable = DurableEngine(load_program("sogo"), database_url)
    durable.import_file(path)
    assert _months(durable) == ["2026-03"]
    config = _config()
    with durable.db.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    assert current_revision(durable.db) == "0001"
    assert _months(durable) == ["2026-04"]
    upgrade(durable.db)
    assert current_revision(durable.db) == head_revision() == "0002"
    assert _months(durable) == ["2026-03"]
    durable.db.dispose()
