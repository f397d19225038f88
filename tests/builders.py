"""Input lines shared by the storage and codec tests: one Soko member buying in store."""

from __future__ import annotations

import json

ENROLL = json.dumps(
    {"type": "enroll", "at": "2024-03-01T10:00:00-05:00", "member": "m1", "email": "a@x.com"}
)


def store_purchase(n: int, day: int) -> str:
    """Member m1's order ``o{n}`` of $40.00 in store, at noon New York time on March ``day``."""
    return json.dumps(
        {
            "type": "purchase",
            "at": f"2024-03-{day:02d}T12:00:00-05:00",
            "member": "m1",
            "order": f"o{n}",
            "channel": "store",
            "lines": [{"sku": "A", "amount": "40.00"}],
        }
    )


def sogo_member(at: str, member: str = "m1", **fields: object) -> dict[str, object]:
    """A SOGO enrolment with the fields SG-1 requires (email and phone unique per person)."""
    return {
        "type": "enroll",
        "at": at,
        "member": member,
        "first_name": "Siti",
        "email": f"{member}@example.com",
        "phone": "012-3456789",
        "birth_month": 6,
        **fields,
    }


def one_line_purchase(
    at: str, order: str, amount: str, member: str = "m1", channel: str = "store"
) -> dict[str, object]:
    """A purchase of one merchandise line (in store unless ``channel`` says otherwise)."""
    return {
        "type": "purchase",
        "at": at,
        "member": member,
        "order": order,
        "channel": channel,
        "lines": [{"sku": "A", "amount": amount}],
    }
