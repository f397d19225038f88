"""Member numbers (SG-1, SM-2): the Luhn check digit, computed by character code, against the
textbook algorithm, and numbers that pass or fail the check at the counter. Phone numbers as they
are kept for look-ups (SG-1: one account per phone)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from loyalty.domain.handlers import normal_phone
from loyalty.domain.numbers import is_valid, luhn_digit, member_number, sequence_of


def _textbook(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def test_the_textbook_example() -> None:
    assert luhn_digit("7992739871") == "3"  # 79927398713
    assert is_valid("79927398713") and not is_valid("79927398710")


@given(st.text(alphabet="0123456789", min_size=1, max_size=40))
def test_the_check_digit_is_luhns(digits: str) -> None:
    assert luhn_digit(digits) == _textbook(digits)


@given(st.sampled_from(["1", "55", "70", "88", "123456"]), st.integers(1, 10**8 - 1))
def test_every_number_made_passes_and_any_one_digit_typo_fails(prefix: str, sequence: int) -> None:
    number = member_number(prefix, sequence)
    assert number == f"{prefix}{sequence:08d}{luhn_digit(f'{prefix}{sequence:08d}')}"
    assert is_valid(number) and sequence_of(number) == sequence
    for i, ch in enumerate(number):
        typo = number[:i] + str((int(ch) + 1) % 10) + number[i + 1 :]
        assert not is_valid(typo)


def test_only_ascii_digits_are_numbers() -> None:
    assert not is_valid("8800000001٣")
    assert not is_valid("88-0000001")
    assert not is_valid("8")


@given(st.text())
def test_a_phone_keeps_its_digits_and_plus_signs(phone: str) -> None:
    assert normal_phone(phone) == "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    assert normal_phone("+1 (555) 010-99\t") == "+155501099"
