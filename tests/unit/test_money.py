"""Rounding a qualifying amount to whole currency units (SK-4 floor, SM-4 half up): the fast
integer path equals Decimal's own quantize for every amount with two decimals. Amounts shown
with two decimals (``fmt``): the text of an amount that has two already, or its quantize.
Points at a tier's rate (SK-4): the integer product for a whole rate equals the Decimal one."""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from loyalty.domain import earning
from loyalty.domain.earning import rate_points
from loyalty.domain.money import CENT, fmt, whole_units


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


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**12), max_value=10**12))
def test_fmt_is_quantize_to_the_cent(amount: Decimal) -> None:
    assert fmt(amount) == str(amount.quantize(CENT))


def test_fmt_of_amounts_with_and_without_two_decimals() -> None:
    assert fmt(Decimal("12.30")) == "12.30"
    assert fmt(Decimal("12.3")) == "12.30"
    assert fmt(Decimal("-0.50")) == "-0.50"
    assert fmt(Decimal("1E+3")) == "1000.00"
    assert fmt(Decimal("0E-2")) == "0.00"
    assert fmt(Decimal("5")) == "5.00"


@given(
    st.integers(0, 10**12),
    st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(100), places=4),
    st.lists(st.decimals(min_value=Decimal("0.5"), max_value=Decimal(10), places=2), max_size=2),
)
def test_points_at_a_rate_are_the_floor_of_the_decimal_product(
    units: int, rate: Decimal, multipliers: list[Decimal]
) -> None:
    value = units * rate
    for m in multipliers:
        value *= m
    expected = int(value.to_integral_value(rounding=ROUND_FLOOR))
    assert rate_points(units, rate, tuple(multipliers)) == expected
    assert rate_points(units, rate, tuple(multipliers)) == expected  # again, the rate remembered


def test_whole_rates_are_bounded() -> None:
    for n in range(1, earning.RATES_KEPT + 10):
        assert rate_points(3, Decimal(n), ()) == 3 * n
    assert len(earning._WHOLE_RATES) <= earning.RATES_KEPT
    assert rate_points(57, Decimal("1.4"), ()) == 79  # SK-4: a VIP's $57.99
