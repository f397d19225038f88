"""Tiers from qualifying spend (SK-2, SK-3, SK-12, SG-2, SG-3, SG-7, SM-3).

``trailing_days`` (Soko): each purchase after which the spend of the trailing 365 days (that day
included) reaches a threshold (re-)earns that tier through the same date a year later. Example:
VIP earned 2020-01-02 is kept through 2021-01-02. The tier is the highest still valid.

``calendar_year`` (SOGO, Soma): an upgrade by the spend of year Y holds for the rest of Y and all of
Y+1; on 1 January of Y+1 the base tier becomes the one Y's spend supports. Tier at a moment of year
Y = max(base of Y, highest tier reached by Y's spend). On a refund, ``reverse`` (SG-7) lowers the
reached tier to what the year's remaining spend supports; ``keep`` (SM-3, SK-12) never lowers it
within the year.

A purchase earns at the tier as it stood before it; the tier changes after it (SG-3).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from loyalty.domain.calendar import add_years, days_of
from loyalty.domain.money import ZERO
from loyalty.domain.rules import TierRules


@dataclass(slots=True, init=False)  # __init__ by hand: see ``loyalty.domain``
class TierState:
    # trailing window: (local day, order), sorted by day; order -> current spend of that purchase
    spend_by_day: list[tuple[date, str]]
    order_spend: dict[str, Decimal]
    status_until: dict[int, date]
    # the spend of all of ``spend_by_day``, or None when not known (``window_total``)
    spend_total: Decimal | None = field(compare=False)
    # changes made to ``status_until`` by this object (``add_spend``), and their count when the
    # member's tier lapse was last worked out from them (-1: never; ``jobs.refresh_tier_lapse``)
    status_changes: int = field(compare=False)
    lapse_of_changes: int = field(compare=False)
    # calendar year
    year_spend: dict[int, Decimal]
    year_peak: dict[int, int]
    year_base: dict[int, int]

    def __init__(
        self,
        spend_by_day: list[tuple[date, str]] | None = None,
        order_spend: dict[str, Decimal] | None = None,
        status_until: dict[int, date] | None = None,
        year_spend: dict[int, Decimal] | None = None,
        year_peak: dict[int, int] | None = None,
        year_base: dict[int, int] | None = None,
    ) -> None:
        self.spend_by_day = [] if spend_by_day is None else spend_by_day
        self.order_spend = {} if order_spend is None else order_spend
        self.spend_total = None
        self.status_changes = 0
        self.lapse_of_changes = -1
        self.status_until = {} if status_until is None else status_until
        self.year_spend = {} if year_spend is None else year_spend
        self.year_peak = {} if year_peak is None else year_peak
        self.year_base = {} if year_base is None else year_base


def supported(rules: TierRules, spend: Decimal) -> int:
    """Index of the highest tier whose threshold ``spend`` reaches."""
    best = 0
    for i, tier in enumerate(rules.levels):
        if spend >= tier.threshold:
            best = i
    return best


def trailing_spend(rules: TierRules, state: TierState, day: date) -> Decimal:
    start = day - days_of(rules.trailing_days - 1)
    spend = state.spend_by_day  # sorted by day
    if not spend:
        return ZERO
    if spend[0][0] >= start and spend[-1][0] <= day:  # the whole window: its kept total
        return window_total(state)
    total = ZERO
    for d, o in spend[bisect_left(spend, (start,)) :]:
        if d > day:
            break
        total += state.order_spend[o]
    return total


def window_total(state: TierState) -> Decimal:
    """The spend of every purchase in ``spend_by_day``, kept between purchases: a purchase adds
    its amount, a return takes its part off, and one leaving the window takes off what it still
    counted. Recounted from the purchases when not known (a state just loaded, a retro-credited
    purchase older than the last). Each purchase is in the window once (an order is credited
    once), so the total is the plain sum. Example: 30.00 then 45.50 then a return of 10.00 of the
    first: 65.50, without summing the window again (at a year of Soko history, ~11 purchases a
    member, the recount was ~10% of a replay)."""
    total = state.spend_total
    if total is None:
        total = ZERO
        order_spend = state.order_spend
        for _, o in state.spend_by_day:
            total += order_spend[o]
        state.spend_total = total
    return total


def tier_on(rules: TierRules, state: TierState, day: date) -> int:
    if rules.window == "trailing_days":
        best = 0
        for index, until in state.status_until.items():
            if until >= day and index > best:
                best = index
        return best
    year = day.year
    return max(state.year_base.get(year, 0), state.year_peak.get(year, 0))


def status_lapses(rules: TierRules, state: TierState, day: date) -> date | None:
    """Trailing window: the last day of the status of the tier held on ``day`` (on the next day
    the member falls to the highest tier still valid, maybe another lapse later). ``None`` for the
    calendar year, whose tiers change with the January requalification (a monthly job)."""
    if rules.window != "trailing_days":
        return None
    tier = tier_on(rules, state, day)
    return state.status_until[tier] if tier else None


def valid_until(rules: TierRules, state: TierState, day: date) -> date | None:
    tier = tier_on(rules, state, day)
    if tier == 0:
        return None
    if rules.window == "trailing_days":
        return state.status_until[tier]
    year = day.year
    # Held into the following year only while this year's (net) spend still supports it; a tier
    # kept despite returns (``keep``) lapses at the January requalification.
    if supported(rules, state.year_spend.get(year, ZERO)) >= tier:
        return date(year + rules.status_years, 12, 31)
    return date(year, 12, 31)


def period_spend(rules: TierRules, state: TierState, day: date) -> Decimal:
    if rules.window == "trailing_days":
        return trailing_spend(rules, state, day)
    return state.year_spend.get(day.year, ZERO)


def add_spend(rules: TierRules, state: TierState, day: date, order: str, amount: Decimal) -> None:
    """Credit a purchase's qualifying amount, dated ``day``; (re-)earn tiers."""
    if rules.window == "trailing_days":
        spend = state.spend_by_day
        order_spend = state.order_spend
        total = state.spend_total
        if total is not None:
            # an order credited again (never: an order is credited once) would count twice
            total = None if order in order_spend else total + amount
        order_spend[order] = amount
        if spend and day < spend[-1][0]:
            insort(spend, (day, order))  # a retro-credited purchase, older than the last
        else:
            spend.append((day, order))
        # Purchases that left the window never count again (a later return of one changes
        # nothing): forget them, so the state does not grow with the member's history.
        start = day - days_of(rules.trailing_days - 1)
        if spend[0][0] < start:
            gone = bisect_left(spend, (start,))
            for _, o in spend[:gone]:
                left = order_spend.pop(o, None)
                if total is not None and left is not None:
                    total -= left
            del spend[:gone]
        state.spend_total = total
        trailing = trailing_spend(rules, state, day)
        until = add_years(day, rules.status_years)
        for index in range(1, supported(rules, trailing) + 1):
            if state.status_until.get(index, date.min) < until:
                state.status_until[index] = until
                state.status_changes += 1
        return
    year = day.year
    state.year_spend[year] = state.year_spend.get(year, ZERO) + amount
    reached = supported(rules, state.year_spend[year])
    if reached > state.year_peak.get(year, 0):
        state.year_peak[year] = reached
    # spend credited to a year already requalified from (a December purchase retro-credited in
    # January): the following year's base counts it too
    if year + 1 in state.year_base and reached > state.year_base[year + 1]:
        state.year_base[year + 1] = reached


def remove_spend(
    rules: TierRules, state: TierState, day: date, order: str, amount: Decimal
) -> bool:
    """A refund reduces the spend of the original purchase's period. Returns whether a tier was
    reversed (only with ``on_refund = "reverse"``)."""
    if rules.window == "trailing_days":
        if order in state.order_spend:  # else it has left the window: it no longer counts
            state.order_spend[order] -= amount
            total = state.spend_total
            if total is not None:
                state.spend_total = total - amount
        return False
    year = day.year
    state.year_spend[year] = state.year_spend.get(year, ZERO) - amount
    if rules.on_refund != "reverse":
        return False
    now_supported = supported(rules, state.year_spend[year])
    reversed_ = False
    if state.year_peak.get(year, 0) > now_supported:
        state.year_peak[year] = now_supported
        reversed_ = True
    if year + 1 in state.year_base and state.year_base[year + 1] > now_supported:
        state.year_base[year + 1] = now_supported
        reversed_ = True
    return reversed_


def requalify(rules: TierRules, state: TierState, year: int) -> None:
    """1 January of ``year``: the base tier is the one the previous year's spend supports."""
    if rules.window == "calendar_year":
        state.year_base[year] = supported(rules, state.year_spend.get(year - 1, ZERO))
