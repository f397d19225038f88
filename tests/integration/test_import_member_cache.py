"""A batch import keeps the members it wrote and reuses them in its next batches while their
stored document is unchanged (``MemberDocuments``). A member changed by someone else between two
batches must be read again: here a live input lands between the batches of an import, on SQLite
and on PostgreSQL, and the result equals a replay of every input in time order."""

from __future__ import annotations

import json
from pathlib import Path

from loyalty import load_program, replay_lines
from loyalty.adapters.sql.registry import MemberDocuments
from loyalty.domain.member import Member
from loyalty.services.durable import DurableEngine
from tests.builders import ENROLL, store_purchase

LIVE = json.dumps(
    {
        "type": "adjust",
        "at": "2024-03-05T12:00:00-05:00",
        "member": "m1",
        "points": 500,
        "reason": "goodwill",
    }
)


def test_a_member_changed_between_batches_is_read_again(database_url: str, tmp_path: Path) -> None:
    lines = [ENROLL, *(store_purchase(n, day) for n, day in ((1, 2), (2, 3), (3, 10), (4, 11)))]
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines) + "\n")
    durable = DurableEngine(load_program("soko"), database_url)
    applied: list[bool] = []

    def between_batches(done: int, total: int) -> None:
        if done == 3:  # after the first batch (enroll + two purchases), before the rest
            applied.append(durable.apply(LIVE).accepted)

    report = durable.import_file(path, batch=3, progress=between_batches)
    assert applied == [True] and report.accepted == 5
    expected = replay_lines("soko", [*lines[:3], LIVE, *lines[3:]]).engine.summary("m1")
    assert durable.summaries()["m1"] == expected
    assert expected["points"]["available"] + expected["points"]["pending"] > 500
    durable.db.dispose()


def test_documents_are_reused_only_when_identical() -> None:
    from datetime import UTC, datetime

    at = datetime(2024, 1, 1, tzinfo=UTC)
    member = Member("m1", "1", "active", {}, at, at)
    documents = MemberDocuments(limit=2)
    documents.put("m1", "{doc}", member)
    assert documents.get("m1", "{doc}") is member
    assert documents.get("m1", "{other}") is None
    documents.put("m2", "a", member)
    documents.put("m3", "b", member)
    assert len(documents) == 2 and documents.get("m1", "{doc}") is None  # oldest forgotten
