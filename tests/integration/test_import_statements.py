"""A batch import reads and writes with a few statements per batch, not one per input: the
contacts that enrolments give (SG-1, SK-1) are looked up for the whole batch, and member numbers
are handed out from the program's counter read once. Counted on SQLite and PostgreSQL; the
enrolments must still end as a replay of the same file ends (numbers, refusals)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from loyalty import load_program, replay_lines
from loyalty.adapters.sql import schema as t
from loyalty.services.durable import DurableEngine


def _enrolments(count: int) -> list[str]:
    lines = []
    for i in range(count):
        at = f"2024-01-02T10:{i // 60 % 60:02d}:{i % 60:02d}+08:00"
        line = {"type": "enroll", "at": at, "member": f"m{i}", "email": f"M{i}@example.com "}
        line["phone"] = f"+60 12-{i:07d}"
        lines.append(json.dumps(line))
    # SG-1: one email and one phone per person, also within one batch and across batches
    lines.append(json.dumps({**json.loads(lines[3]), "member": "again-email", "phone": "+6099"}))
    lines.append(json.dumps({**json.loads(lines[5]), "member": "again-phone", "email": "x@y.z"}))
    return lines


def test_SG_1_enrolments_cost_a_few_statements_a_batch_and_taken_contacts_are_refused(
    database_url: str, tmp_path: Path
) -> None:
    lines = _enrolments(600)
    path = tmp_path / "enrolments.jsonl"
    path.write_text("\n".join(lines) + "\n")
    durable = DurableEngine(load_program("sogo"), database_url)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(durable.db, "before_cursor_execute", count)
    report = durable.import_file(path, batch=200)
    event.remove(durable.db, "before_cursor_execute", count)
    expected = replay_lines("sogo", lines)
    assert report.accepted == expected.accepted == 600
    assert [r["line"] for r in report.rejected] == [r["line"] for r in expected.rejected]
    assert [r["error"] for r in report.rejected] == [r["error"] for r in expected.rejected]
    summaries = durable.summaries()
    assert summaries == expected.output()["members"]
    with durable.db.connect() as conn:
        stored = dict(conn.execute(select(t.members.c.member_id, t.members.c.number)).all())
    assert stored == {m: expected.engine.member_number(m) for m in expected.engine.members}
    assert len(set(stored.values())) == 600
    # 4 batches; before, each enrolment cost three statements of its own (its email, its phone
    # and its number): ~1,800
    assert len(statements) < 120, len(statements)
    durable.db.dispose()
