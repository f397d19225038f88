"""Points for a purchase (SPEC §2; SK-4, SK-6, SK-7, SG-3, SG-4, SM-4; campaigns SG-12, SM-11).

Qualifying amount = eligible merchandise lines - non-earning tenders, never below zero.
Points = floor(whole units of the qualifying amount x tier rate x campaign multipliers) + bonus
points of the campaigns that apply. Example (SK-4): a VIP (rate 1.4) buying $57.99 of
merchandise, plus shipping and tax, earns floor(57 x 1.4) = 79.

Campaigns: the combinable ones all apply (multipliers multiply, bonus points add; multipliers
never scale bonus points); among the others only the single one giving the most points applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

from loyalty.domain.memo import remember
from loyalty.domain.money import ZERO, floor_points, whole_units
from loyalty.domain.rules import EarningRules


@dataclass(slots=True, init=False, unsafe_hash=True)  # frozen by ``Final``; see ``loyalty.domain``
class CampaignRule:
    id: Final[str]
    starts: Final[datetime]
    ends: Final[datetime]
    multiplier: Final[Decimal | None]
    bonus_points: Final[int]
    min_spend: Final[Decimal | None]
    channels: Final[tuple[str, ...] | None]
    combinable: Final[bool]

    def __init__(
        self,
        id: str,
        starts: datetime,
        ends: datetime,
        multiplier: Decimal | None,
        bonus_points: int,
        min_spend: Decimal | None,
        channels: tuple[str, ...] | None,
        combinable: bool,
    ) -> None:
        self.id = id
        self.starts = starts
        self.ends = ends
        self.multiplier = multiplier
        self.bonus_points = bonus_points
        self.min_spend = min_spend
        self.channels = channels
        self.combinable = combinable

    def applies(self, at: datetime, channel: str, qualifying: Decimal) -> bool:
        return (
            self.starts <= at < self.ends
            and (self.channels is None or channel in self.channels)
            and qualifying > 0
            and (self.min_spend is None or qualifying >= self.min_spend)
        )


@dataclass(slots=True, init=False, unsafe_hash=True)
class Earned:
    earn: Final[int]
    bonus: Final[int]
    multipliers: Final[tuple[Decimal, ...]]
    campaigns: Final[tuple[CampaignRule, ...]]

    def __init__(
        self,
        earn: int,
        bonus: int,
        multipliers: tuple[Decimal, ...],
        campaigns: tuple[CampaignRule, ...],
    ) -> None:
        self.earn = earn
        self.bonus = bonus
        self.multipliers = multipliers
        self.campaigns = campaigns


def line_eligible(
    rules: EarningRules, kind: str, department: str | None, brand: str | None
) -> bool:
    return (
        kind in rules.eligible_kinds
        and (department is None or department not in rules.excluded_departments)
        and (brand is None or brand not in rules.excluded_brands)
    )


def qualifying_amount(eligible_total: Decimal, non_earning_tenders: Decimal) -> Decimal:
    if not non_earning_tenders:  # the total itself: one ``Decimal`` (104 bytes) fewer an order
        return max(ZERO, eligible_total)
    return max(ZERO, eligible_total - non_earning_tenders)


def rate_points(units: int, rate: Decimal, multipliers: tuple[Decimal, ...]) -> int:
    if not multipliers:
        whole = _whole_rate(rate)
        if whole >= 0:  # exact: the floor of a whole product is itself
            return units * whole
    value = units * rate
    for m in multipliers:
        value *= m
    return floor_points(value)


# rate -> the rate as an int if it is a whole number, else -1 (rates are above 0). Most tiers earn
# a whole number of points a unit, and the product of two ints costs a tenth of a ``Decimal``
# product and its conversion back to an int. A program has a few rates: bounded all the same
# (``loyalty.domain.memo``).
_WHOLE_RATES: Final[dict[Decimal, int]] = {}
RATES_KEPT: Final = 1024


def _whole_rate(rate: Decimal) -> int:
    found = _WHOLE_RATES.get(rate)
    if found is None:
        whole = int(rate) if rate > 0 and rate == rate.to_integral_value() else -1
        found = remember(_WHOLE_RATES, rate, whole, RATES_KEPT)
    return found


def _total(units: int, rate: Decimal, chosen: Sequence[CampaignRule]) -> Earned:
    if not chosen:  # most purchases: no campaign running (no tuples, no generators)
        return Earned(rate_points(units, rate, ()), 0, (), ())
    multipliers = tuple(c.multiplier for c in chosen if c.multiplier is not None)
    bonus = sum(c.bonus_points for c in chosen)
    return Earned(rate_points(units, rate, multipliers), bonus, multipliers, tuple(chosen))


def earn(
    rules: EarningRules,
    qualifying: Decimal,
    rate: Decimal,
    campaigns: Sequence[CampaignRule],
    at: datetime,
    channel: str,
) -> Earned:
    units = whole_units(qualifying, rules.rounding)
    live = [c for c in campaigns if c.applies(at, channel, qualifying)]
    if not live:
        return _total(units, rate, ())
    combinable = [c for c in live if c.combinable]
    best = _total(units, rate, combinable)
    for candidate in (c for c in live if not c.combinable):
        option = _total(units, rate, [*combinable, candidate])
        if option.earn + option.bonus > best.earn + best.bonus:
            best = option
    return best


def reearn(
    rules: EarningRules,
    qualifying: Decimal,
    rate: Decimal,
    campaigns: Sequence[CampaignRule],
    at: datetime,
    channel: str,
) -> Earned:
    """Recompute an order after a return with the campaigns it had: same rate, same multipliers;
    a campaign's bonus stays only while its minimum spend is still met (and something is left).
    Example: x2 with a 100-point bonus above $200 on a $250 order: 600; after a $100 return,
    floor(150 x 2) = 300, without the bonus."""
    units = whole_units(qualifying, rules.rounding)
    multipliers = tuple(c.multiplier for c in campaigns if c.multiplier is not None)
    live = [c for c in campaigns if c.applies(at, channel, qualifying)]
    bonus = sum(c.bonus_points for c in live)
    kept = tuple(c for c in campaigns if c.multiplier is not None or c in live)
    return Earned(rate_points(units, rate, multipliers), bonus, multipliers, kept)
