"""loyalty: an open-source loyalty-program engine.

    from loyalty import Engine, load_program

    engine = Engine(load_program("soko"))
    engine.apply('{"type":"enroll","at":"2024-01-02T10:00:00-05:00","member":"m1","email":"a@x"}')
    engine.summary("m1")["points"]["available"]   # 50

Programs are data (presets ``soko``, ``sogo``, ``soma`` or a TOML file); the engine is a pure,
deterministic function of a program and timestamped inputs.
"""

from loyalty.domain import engine as _engine
from loyalty.domain.engine import Engine
from loyalty.domain.errors import (
    Conflict,
    InsufficientPoints,
    InvalidInput,
    InvalidProgram,
    LoyaltyError,
    NotAllowed,
    UnknownReference,
)
from loyalty.domain.events import parse_event
from loyalty.domain.received import Outcome
from loyalty.programs import PRESETS, Program, load_program
from loyalty.services.replay import ReplayResult, replay_file, replay_lines, replay_text


def build() -> str:
    """Which build of the engine is running: "compiled (mypyc)" or "interpreted" (setup.py)."""
    return "compiled (mypyc)" if (_engine.__file__ or "").endswith(".so") else "interpreted"


__all__ = [
    "PRESETS",
    "Conflict",
    "Engine",
    "InsufficientPoints",
    "InvalidInput",
    "InvalidProgram",
    "LoyaltyError",
    "NotAllowed",
    "Outcome",
    "Program",
    "ReplayResult",
    "UnknownReference",
    "build",
    "load_program",
    "parse_event",
    "replay_file",
    "replay_lines",
    "replay_text",
]
