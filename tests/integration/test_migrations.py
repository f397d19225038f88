"""Schema migrations (`loyalty db upgrade`) on SQLite and PostgreSQL, with data in the tables."""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from sqlalchemy import select, update

from loyalty.adapters.sql import schema as t
from loyalty.adapters.sql.database import _config, current_revision, head_revision, upgrade
from loyalty.programs.loader import load_program
from loyalty.services.durable import DurableEngine
from loyalty.services.reports import REPORTS
from tests.builders import one_line_purchase, sogo_member

SOGO_EARN = [
    sogo_member("2024-03-01T10:00:00+08:00"),
    one_line_purchase("2024-03-15T12:00:00+08:00", "o1", "100.00"),
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
    assert current_revision(durable.db) == head_revision()
    assert _months(durable) == ["2026-03"]
    durable.db.dispose()


SOKO_VIP = [
    {"type": "enroll", "at": "2024-01-10T10:00:00-05:00", "member": "m1", "email": "a@x.com"},
    one_line_purchase("2024-01-10T12:00:00-05:00", "o1", "250.00", channel="online"),
    {
        "type": "action",
        "at": "2024-02-01T10:00:00-05:00",
        "member": "m1",
        "action": "review",
        "ref": "r1",
    },
    {"type": "enroll", "at": "2025-03-01T10:00:00-05:00", "member": "m2", "email": "b@x.com"},
]


def _downgrade(durable: DurableEngine, revision: str) -> None:
    config = _config()
    with durable.db.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def test_0003_makes_members_stored_before_the_tier_lapse_was_due_work_due_once(
    database_url: str, tmp_path: Path
) -> None:
    """SK-3: m1's VIP (2024-01-10) lapses after 2025-01-10. Stored by a version without the lapse
    as due work, m1 has no due moment and its row says VIP: `jobs run` never touched it. After
    0003, the next `jobs run` loads m1, runs the lapse and the tier report counts no VIP."""
    program = load_program("soko")
    path = tmp_path / "vip.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in SOKO_VIP))
    durable = DurableEngine(program, database_url)
    durable.import_file(path)
    # as stop 8 stored m1: no lapse in the document, nothing due
    _downgrade(durable, "0002")
    with durable.db.begin() as conn:
        state = conn.execute(
            select(t.members.c.state).where(t.members.c.member_id == "m1")
        ).scalar_one()
        old = json.loads(state)
        del old["tier_lapse_at"]
        conn.execute(
            update(t.members)
            .where(t.members.c.member_id == "m1")
            .values(state=json.dumps(old), next_due_at=None)
        )
    with durable.db.connect() as conn:
        assert REPORTS["tiers"](conn, program)["tiers"]["vip"] == 1
    upgrade(durable.db)
    assert durable.run_jobs() == 1
    with durable.db.connect() as conn:
        assert REPORTS["tiers"](conn, program)["tiers"] == {"member": 2, "vip": 0, "vip_premier": 0}
    assert durable.run_jobs() == 0
    durable.db.dispose()


def test_0004_downgrade_puts_the_lots_back_into_the_documents(
    database_url: str, tmp_path: Path
) -> None:
    """Since 0004 a member's document leaves its lots to the lots table; the downgrade to 0003
    writes them back into every document (as 0003's code reads them), and the summaries read
    from those documents, before and after upgrading again, are the same."""
    path = tmp_path / "vip.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in SOKO_VIP))
    durable = DurableEngine(load_program("soko"), database_url)
    durable.import_file(path)
    before = durable.summaries()

    def wallets() -> dict[str, dict[str, object]]:
        with durable.db.connect() as conn:
            rows = conn.execute(select(t.members.c.member_id, t.members.c.state))
            return {str(m): json.loads(s)["wallet"] for m, s in rows}

    assert all("lots" not in w for w in wallets().values())
    _downgrade(durable, "0003")
    assert current_revision(durable.db) == "0003"
    held = wallets()
    assert [len(held[m]["lots"]) for m in ("m1", "m2")] == [3, 1]  # type: ignore[arg-type]
    assert all("lot_changes" not in w for w in held.values())
    upgrade(durable.db)
    assert current_revision(durable.db) == head_revision()
    assert durable.summaries() == before
    with durable.db.begin() as conn:  # the lots the documents hold are the ones read
        conn.execute(t.lots.delete())
    assert durable.summaries() == before
    durable.db.dispose()
