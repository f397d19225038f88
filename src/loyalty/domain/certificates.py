"""Certificates and gift vouchers (SM-8, SM-9, SK-11): a unique code, single use, an inclusive
``expires_on`` date. Codes are derived from the program, member and sequence (deterministic, so a
replay gives the same codes), e.g. "SOMA-4MZK7Q2XHB".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Final


@dataclass(slots=True, eq=False, init=False)  # __init__ by hand: see ``loyalty.domain``
class Certificate:
    code: Final[str]
    kind: Final[str]  # "reward" | "birthday_gift"
    amount: Final[Decimal | None]
    issued_at: Final[datetime]
    expires_on: Final[date]
    delivery: Final[str]
    redeemed_at: datetime | None
    redeemed_order: str | None

    def __init__(
        self,
        code: str,
        kind: str,
        amount: Decimal | None,
        issued_at: datetime,
        expires_on: date,
        delivery: str,
        redeemed_at: datetime | None = None,
        redeemed_order: str | None = None,
    ) -> None:
        self.code = code
        self.kind = kind
        self.amount = amount
        self.issued_at = issued_at
        self.expires_on = expires_on
        self.delivery = delivery
        self.redeemed_at = redeemed_at
        self.redeemed_order = redeemed_order

    def status(self, today: date) -> str:
        if self.redeemed_at is not None:
            return "redeemed"
        return "expired" if today > self.expires_on else "issued"


BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648, as ``base64.b32encode``
# every pair of base-32 characters, by the 10 bits they encode ("AA" = 0, "AB" = 1, ... "77")
PAIRS: Final = tuple(a + b for a in BASE32 for b in BASE32)


def certificate_code(program_id: str, member_id: str, sequence: int) -> str:
    """The program's id and the first 10 base-32 characters (50 bits) of a SHA-256 of the
    program, member and sequence. Encoded by hand, two characters at a time: ``base64.b32encode``
    is pure Python in 3.11 and took ~30 us a code, ~6% of a replay of Soma (whose members get
    monthly certificates); a character at a time, ~11,000 instructions a code."""
    digest = hashlib.sha256(f"{program_id}:{member_id}:{sequence}".encode()).digest()
    bits = int.from_bytes(digest[:7], "big") >> 6  # 56 bits, the first 50 of them
    return (
        f"{program_id.upper()}-{PAIRS[bits >> 40]}{PAIRS[(bits >> 30) & 1023]}"
        f"{PAIRS[(bits >> 20) & 1023]}{PAIRS[(bits >> 10) & 1023]}{PAIRS[bits & 1023]}"
    )
