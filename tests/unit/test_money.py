"""Rounding a qualifying amount to whole currency units (SK-4 floor, SM-4 half up): the fast
integer path equals Decimal's own quantize for every amount with two decimals."""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from loyalty.domain.money import whole_units


@given(st.integers(-10_000_000, 10_000_000))
def test_whole_units_equals_quantize(cents: int) -> None:
    amount = Decimal(cents).scaleb(-2)
    one = Decimal(1)
    assert whole_units(amount, "floor") == int(amount.quantize(one, rounding=ROUND_FLOOR))
    assert whole_units(amount, "half_up") == int(amount.quantize(one, rounding=ROUND_HALF_UP))


def test_worked_examples() -> None:
    assert whole_units(Decimal("57.99"), "floor") == 57  # SK-4
    assert whole_units(Decimal("42.50"), "half_up") == 43  # SM-4
    assert whole_units(Decimal("42.49"), "half_up") == 42
