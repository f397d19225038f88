"""Program economics, defined once for every source of data (database reports, the simulator).

Point value: what one point is worth to the member, in the program's currency: the block rate
(SG-9: RM 10 / 1,000 points = RM 0.01), else the conversion rate (SM-8: $5 / 125 points = $0.04),
else the best catalog reward (SK-10: $10 / 500 points = $0.02).

Ledger kinds are grouped into figures: points issued (earn, bonus, signup, action), redeemed,
expired, reversed, converted (into reward money), reinstated and adjusted. Breakage = expired /
issued.
"""

from __future__ import annotations

from decimal import Decimal

from loyalty.programs.schema import Program

ISSUED = ("earn", "bonus", "signup", "action")
FIGURES = {
    "issued": ISSUED,
    "redeemed": ("redeem",),
    "expired": ("expire",),
    "reversed": ("reverse",),
    "converted": ("convert",),
    "reinstated": ("reinstate",),
    "adjusted": ("adjust",),
}


def point_value(program: Program) -> Decimal:
    if program.blocks is not None:
        return program.blocks.block_value / program.blocks.block_points
    if program.conversion is not None:
        return program.conversion.step_value / program.conversion.step_points
    values = [r.value / r.cost for r in program.rewards if r.value > 0]
    return max(values) if values else Decimal(0)


# debit figures are reported as positive amounts (points redeemed, expired, ...)
DEBIT_FIGURES = frozenset({"redeemed", "expired", "reversed", "converted"})


def figure_amount(figure: str, ledger_sum: int) -> int:
    return -ledger_sum if figure in DEBIT_FIGURES else ledger_sum


def figure_of(kind: str) -> str:
    for figure, kinds in FIGURES.items():
        if kind in kinds:
            return figure
    return kind


def breakage(issued: int, expired: int) -> Decimal:
    return (
        (Decimal(expired) / Decimal(issued)).quantize(Decimal("0.0001")) if issued else Decimal(0)
    )
