"""Replay (SPEC §6): run a file of timestamped inputs through a fresh in-memory engine and report
the final state of every member and every rejected line (1-based) with its reason."""

from __future__ import annotations

import gc
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loyalty.domain.engine import Engine
from loyalty.programs.loader import load_program
from loyalty.programs.schema import Program
from loyalty.services.heap import paused_collector


@dataclass
class ReplayResult:
    engine: Engine
    rejected: list[dict[str, Any]] = field(default_factory=list)
    accepted: int = 0

    def output(self) -> dict[str, Any]:
        with paused_collector():  # ~5x faster for 100,000 members (see ``paused_collector``)
            return {"members": self.engine.summaries(), "rejected": self.rejected}


FREEZE_EVERY = 1_000


def replay_lines(program: Program | str, lines: Iterable[str | bytes]) -> ReplayResult:
    """Apply ``lines`` in order. The engine's state only grows during a replay, so the objects
    already made are moved out of the cyclic garbage collector's sight every ``FREEZE_EVERY``
    lines (``gc.freeze``); without it, collections rescan the whole state (~35% of the time)."""
    engine = Engine(program if isinstance(program, Program) else load_program(program))
    result = ReplayResult(engine)
    try:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            outcome = engine.apply(line)
            if outcome.accepted:
                result.accepted += 1
            else:
                result.rejected.append({"line": number, "error": str(outcome.error)})
            if number % FREEZE_EVERY == 0:
                gc.freeze()
    finally:
        gc.unfreeze()
    return result


def replay_text(program: Program | str, text: str) -> dict[str, Any]:
    return replay_lines(program, text.splitlines()).output()


def replay_file(program: Program | str, path: str | Path) -> ReplayResult:
    with open(path, "rb") as handle:
        return replay_lines(program, handle)
