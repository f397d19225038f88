"""Money is ``Decimal``, never float; points are ``int``.

Rounding of a qualifying amount to whole currency units is a program setting:
``floor`` ($57.99 -> 57, Soko and SOGO) or ``half_up`` ($42.50 -> 43, $42.49 -> 42, Soma SM-4).
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Final, Literal

Rounding = Literal["floor", "half_up"]

ZERO: Final = Decimal("0.00")
CENT: Final = Decimal("0.01")
UNIT: Final = Decimal("1")


HALF: Final = Decimal("0.5")


def whole_units(amount: Decimal, rounding: Rounding) -> int:
    if amount >= 0:  # int() truncates towards zero: the floor of a non-negative amount
        return int(amount) if rounding == "floor" else int(amount + HALF)
    mode = ROUND_FLOOR if rounding == "floor" else ROUND_HALF_UP
    return int(amount.quantize(UNIT, rounding=mode))


def floor_points(value: Decimal) -> int:
    if value >= 0:  # int() truncates towards zero: the floor (a fifth of the cost of the below)
        return int(value)
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def fmt(amount: Decimal) -> str:
    """The amount with two decimals: "12.30". Most amounts have two already (sums of amounts
    read with two), and their text is then the answer, without ``quantize`` (~1,000
    instructions)."""
    text = str(amount)
    if text[-3:-2] == "." and "E" not in text:  # two decimals, not in scientific notation
        return text
    return str(amount.quantize(CENT))
