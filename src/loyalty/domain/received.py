"""Idempotency (SPEC §2): what the engine keeps of each input with a key.

An exact repeat (the same key and payload, at any time, in any spelling: ``"16.4"`` and
``"16.40"``, fields in another order) returns the first outcome and changes nothing; the same key
with another payload is rejected. Payloads are compared by fingerprint: BLAKE2b of the event's
canonical JSON without its time (``Event.payload``: every field, defaults included, in the order
of ``event_schema``, written as pydantic writes the models; digests stored by earlier versions
stay valid).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final

from pydantic_core import to_json

from loyalty.domain.errors import LoyaltyError
from loyalty.domain.events import Event, parse_event


@dataclass(slots=True, init=False, unsafe_hash=True)  # frozen by ``Final``; see ``loyalty.domain``
class Outcome:
    """What ``Engine.apply`` answers: accepted or not (with the error), a message, and whether
    the input repeated one received before."""

    accepted: Final[bool]
    error: Final[LoyaltyError | None]
    message: Final[str | None]
    duplicate: Final[bool]

    def __init__(
        self,
        accepted: bool,
        error: LoyaltyError | None = None,
        message: str | None = None,
        duplicate: bool = False,
    ) -> None:
        self.accepted = accepted
        self.error = error
        self.message = message
        self.duplicate = duplicate


ACCEPTED: Final = Outcome(True)


def payload_digest(event: Event) -> bytes:
    """The payload's fingerprint: the event's canonical JSON without its time."""
    return hashlib.blake2b(to_json(event.payload()), digest_size=16).digest()


class Received:
    """What is kept of an input with an idempotency key, to tell an exact repeat (the same
    payload, whatever its time and spelling) from a different payload under the same key, and to
    answer the repeat as the first time (``outcome``).

    That is the fingerprint ``payload_digest`` (~4 us: pydantic's canonical JSON, then BLAKE2b). A
    storage adapter stores it with every input, so it asks for it at once (``fingerprint``). The
    in-memory registry only needs it when the key comes again, which few do: it keeps the input
    as it came (the JSON line or the parsed event, both immutable; a simulation holds them
    anyway, a replay of a file keeps its lines with a key) and computes the fingerprint then, from
    a second parse of the line. It keeps an input accepted without a message as the line or
    event alone, not as a ``Received`` (``Registry.remember_accepted``: ~170 bytes less an input,
    a tenth of what a replay holds)."""

    __slots__ = ("_digest", "_source", "outcome")

    def __init__(
        self,
        digest: bytes | None,
        source: str | bytes | Event | None = None,
        outcome: Any = ACCEPTED,
    ) -> None:
        self._digest = digest
        self._source = source
        self.outcome: Outcome = outcome

    def fingerprint(self) -> bytes:
        digest = self._digest
        if digest is None:
            source = self._source
            assert source is not None, "a Received holds a digest or its input"
            event = parse_event(source) if isinstance(source, (str, bytes)) else source
            digest = self._digest = payload_digest(event)
            self._source = None
        return digest
