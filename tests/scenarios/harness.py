"""Scenario harness: inputs as JSON Lines (SPEC §7), expected member summary (SPEC §8) beside them.

    result = run("soko", '''
        {"type":"enroll","at":"2024-01-02T10:00:00-05:00","member":"m1","email":"a@x.com"}
    ''')
    assert result["members"]["m1"]["points"]["available"] == 50

The summary is taken at the time of the last accepted event (end a scenario with a ``tick`` to
look at a later moment). Certificate codes and member numbers are generated: compare them with
``strip_codes``.
"""

from __future__ import annotations

import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loyalty import load_program, replay_text

# Where ``run`` sends its inputs: None for a fresh in-memory engine (replay), or a factory of
# fresh database URLs (import + summary through SQLite or PostgreSQL). Set by conftest.py.
DATABASE: Callable[[], str] | None = None
IMPORT_BATCH = 3  # small, so that scenarios cross batch (transaction) boundaries


def run(program: str, jsonl: str) -> dict[str, Any]:
    """Replay ``jsonl`` (dedented; leading and trailing blank lines dropped, so line 1 is the
    first event) through a fresh engine and return the SPEC §8 output."""
    text = textwrap.dedent(jsonl).strip("\n")
    if DATABASE is None:
        return replay_text(program, text)
    from loyalty.services.durable import DurableEngine

    durable = DurableEngine(load_program(program), DATABASE())
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "inputs.jsonl"
            path.write_text(text + "\n")
            report = durable.import_file(path, batch=IMPORT_BATCH)
        return {"members": durable.summaries(), "rejected": report.rejected}
    finally:
        durable.db.dispose()


def member(result: dict[str, Any], member_id: str) -> dict[str, Any]:
    summary: dict[str, Any] = result["members"][member_id]
    return summary


def strip_codes(certificates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in c.items() if k != "code"} for c in certificates]


def errors(result: dict[str, Any]) -> dict[int, str]:
    return {r["line"]: r["error"] for r in result["rejected"]}
