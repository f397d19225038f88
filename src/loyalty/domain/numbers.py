"""Member numbers (SG-1, SM-2): printed on cards and receipts, with a Luhn check digit so that a
mistyped number is caught at the counter. Example: prefix "88", sequence 1 -> "8800000001" + check
digit.
"""

from __future__ import annotations


def luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def member_number(prefix: str, sequence: int) -> str:
    body = f"{prefix}{sequence:08d}"
    return body + luhn_digit(body)


def sequence_of(number: str) -> int:
    """The enrollment sequence inside a number made by ``member_number``."""
    return int(number[-9:-1])


def is_valid(number: str) -> bool:
    return (
        number.isascii()  # "²" is a digit to str.isdigit, not to int()
        and number.isdigit()
        and 2 <= len(number) <= 32
        and luhn_digit(number[:-1]) == number[-1]
    )
