"""One tree of errors, each with a stable code, the field it is about and a readable reason.

    LoyaltyError
    ├── InvalidInput        the input is malformed (bad JSON, unknown field, bad money or time)
    ├── UnknownReference    it names something that does not exist (member, order, reward, code)
    ├── Conflict            it contradicts what happened before (idempotency key reuse, time order,
    │                       already returned, already rewarded, released early)
    ├── NotAllowed          the program's rules refuse it (no retro-credit, tier gate, suspended)
    ├── InsufficientPoints  not enough available points
    └── InvalidProgram      a program file is wrong (field and reason)

Errors are returned as data by the engine (an Outcome with ``error``); they are raised only inside
validation code and caught at the engine boundary.
"""

from __future__ import annotations


class LoyaltyError(Exception):
    """Base of every error the engine reports. ``code`` is stable; ``message`` is for people."""

    code = "error"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "field": self.field, "message": self.message}


class InvalidInput(LoyaltyError):
    code = "invalid_input"


class UnknownReference(LoyaltyError):
    code = "unknown_reference"


class Conflict(LoyaltyError):
    code = "conflict"


class NotAllowed(LoyaltyError):
    code = "not_allowed"


class InsufficientPoints(LoyaltyError):
    code = "insufficient_points"


class InvalidProgram(LoyaltyError):
    """The message names the file, the field path and the reason; ``field`` is the first path."""

    code = "invalid_program"

    def __str__(self) -> str:
        return self.message
