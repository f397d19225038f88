"""Certificates and gift vouchers (SM-8, SM-9, SK-11): a unique code, single use, an inclusive
``expires_on`` date. Codes are derived from the program, member and sequence (deterministic, so a
replay gives the same codes), e.g. "SOMA-4MZK7Q2XHB".
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal


@dataclass(slots=True, eq=False)
class Certificate:
    code: str
    kind: str  # "reward" | "birthday_gift"
    amount: Decimal | None
    issued_at: datetime
    expires_on: date
    delivery: str
    redeemed_at: datetime | None = None
    redeemed_order: str | None = None

    def status(self, today: date) -> str:
        if self.redeemed_at is not None:
            return "redeemed"
        return "expired" if today > self.expires_on else "issued"


def certificate_code(program_id: str, member_id: str, sequence: int) -> str:
    digest = hashlib.sha256(f"{program_id}:{member_id}:{sequence}".encode()).digest()
    return f"{program_id.upper()}-{base64.b32encode(digest).decode()[:10]}"
