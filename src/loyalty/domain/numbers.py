"""Member numbers (SG-1, SM-2): printed on cards and receipts, with a Luhn check digit so that a
mistyped number is caught at the counter. Example: prefix "88", sequence 1 -> "8800000001" + check
digit.
"""

from __future__ import annotations


def luhn_digit(digits: str) -> str:
    """The Luhn check digit of ASCII ``digits`` (``member_number`` and ``is_valid`` only pass
    those): every second digit from the right doubled, digits of the products summed. By the code
    of each character, not ``int`` of it: ~10x fewer instructions an enrolment."""
    total = 0
    double = True
    for ch in reversed(digits):
        d = ord(ch) - 48
        if double:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
        double = not double
    return "0123456789"[-total % 10]


def member_number(prefix: str, sequence: int) -> str:
    digits = str(sequence)  # f"{sequence:08d}" by hand: a format spec costs ~4,000 instructions
    body = prefix + "0" * (8 - len(digits)) + digits
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
