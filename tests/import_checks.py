"""What the batch-import tests compare and watch: a database's members and ledgers, every row
of every table, whether the SQLite write lock is free, the batches a pipelined import does
again."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from loyalty.adapters.sql import schema as t
from loyalty.services import pipelined_import
from loyalty.services.durable import DurableEngine


def state(durable: DurableEngine) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Every member's summary and ledger."""
    summaries = durable.summaries()
    return summaries, {m: durable.ledger(m) for m in summaries}


def rows(durable: DurableEngine, skip: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but ``skip``, sorted."""
    with durable.db.connect() as conn:
        return {
            table.name: sorted(map(tuple, conn.execute(table.select())), key=repr)
            for table in t.metadata.sorted_tables
            if table.name not in skip
        }


def lock_is_free(database: str) -> bool:
    """Whether another connection can take the SQLite file's write lock at once."""
    probe = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


def redone(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The first line of each batch a pipelined import does again the ordinary way."""
    lines_redone: list[int] = []
    real = pipelined_import.PipelinedImport._serially

    def counting(self: Any, lines: list[tuple[int, bytes]]) -> None:
        lines_redone.append(lines[0][0])
        real(self, lines)

    monkeypatch.setattr(pipelined_import.PipelinedImport, "_serially", counting)
    return lines_redone
