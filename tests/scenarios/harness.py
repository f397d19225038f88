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

import textwrap
from typing import Any

from loyalty import replay_text


def run(program: str, jsonl: str) -> dict[str, Any]:
    """Replay ``jsonl`` (dedented; leading and trailing blank lines dropped, so line 1 is the
    first event) through a fresh in-memory engine and return the SPEC §8 output."""
    return replay_text(program, textwrap.dedent(jsonl).strip("\n"))


def member(result: dict[str, Any], member_id: str) -> dict[str, Any]:
    summary: dict[str, Any] = result["members"][member_id]
    return summary


def strip_codes(certificates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in c.items() if k != "code"} for c in certificates]


def errors(result: dict[str, Any]) -> dict[int, str]:
    return {r["line"]: r["error"] for r in result["rejected"]}
