"""Local-calendar arithmetic (``domain/calendar.py``) against the plain formulas it replaced: the
last instant's local time is remembered, and "N days later at the same local time" is computed by
arithmetic on the local time. Both must give exactly what ``astimezone`` and ``combine`` give, in
zones with and without daylight saving time, ambiguous and skipped local hours included."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.domain import calendar
from loyalty.domain.calendar import (
    DATES_KEPT,
    SPANS_KEPT,
    add_business_days,
    add_local_days,
    add_years,
    business_day_after,
    days_of,
    first_of_next_month,
    hours_of,
    local_date,
    local_time,
    month_end,
    start_of_day,
)

ZONES = [ZoneInfo(name) for name in ("America/New_York", "Asia/Kuala_Lumpur", "Europe/London")]
instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2060, 12, 31), timezones=st.just(UTC)
)


def _old_add_local_days(at: datetime, days: int, tz: ZoneInfo) -> datetime:
    local = at.astimezone(tz)
    day = local.date() + timedelta(days=days)
    return datetime.combine(day, local.time(), tzinfo=tz).astimezone(UTC)


def _old_add_business_days(at: datetime, days: int, country: str | None, tz: ZoneInfo) -> datetime:
    local = at.astimezone(tz)
    day = business_day_after(local.date(), days, country)
    return datetime.combine(day, local.time(), tzinfo=tz).astimezone(UTC)


@settings(max_examples=400)
@given(instants, st.integers(0, 800), st.sampled_from(ZONES))
def test_add_local_days_is_the_same_local_time_days_later(
    at: datetime, days: int, tz: ZoneInfo
) -> None:
    assert add_local_days(at, days, tz) == _old_add_local_days(at, days, tz)
    assert add_local_days(at, days, tz).tzinfo is UTC


@settings(max_examples=200)
@given(instants, st.integers(0, 20), st.sampled_from(ZONES), st.sampled_from([None, "US", "MY"]))
def test_add_business_days_is_the_same_local_time_on_that_day(
    at: datetime, days: int, tz: ZoneInfo, country: str | None
) -> None:
    assert add_business_days(at, days, country, tz) == _old_add_business_days(at, days, country, tz)


@given(st.lists(st.tuples(instants, st.sampled_from(ZONES)), min_size=1, max_size=20))
def test_the_remembered_local_time_is_only_used_for_the_same_instant_and_zone(
    asked: list[tuple[datetime, ZoneInfo]],
) -> None:
    for at, tz in asked + asked[::-1]:
        assert local_time(at, tz) == at.astimezone(tz)
        assert local_time(at, tz).utcoffset() == at.astimezone(tz).utcoffset()
        assert local_date(at, tz) == at.astimezone(tz).date()


def test_the_second_of_two_ambiguous_hours_keeps_its_fold() -> None:
    """2024-11-03 01:30 happens twice in New York; 7 days after the second one is 01:30 EST."""
    tz = ZoneInfo("America/New_York")
    second = datetime(2024, 11, 3, 6, 30, tzinfo=UTC)  # 01:30 EST, fold=1
    assert local_time(second, tz).fold == 1
    assert add_local_days(second, 7, tz) == datetime(2024, 11, 10, 6, 30, tzinfo=UTC)
    assert add_local_days(second, 0, tz) == second
    spring = datetime(2024, 3, 9, 7, 30, tzinfo=UTC)  # 02:30 EST; 2024-03-10 02:30 never happens
    assert add_local_days(spring, 1, tz) == _old_add_local_days(spring, 1, tz)
    assert local_date(spring, tz) == date(2024, 3, 9)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(9000, 12, 31)), st.integers(0, 50))
def test_years_and_month_ends_are_dateutils(day: date, count: int) -> None:
    """SM-7 (N years from the date earned, 29 February -> 28 February) and SG-10 (the end of the
    Nth month after the month earned), by hand, as ``relativedelta`` computes them; and N local
    days later (SG-6) with the remembered ``timedelta`` of each day count."""
    assert add_years(day, count) == day + relativedelta(years=count)
    assert add_years(day, count) == day + relativedelta(years=count)  # again, from the memo
    assert month_end(day, count) == day.replace(day=1) + relativedelta(months=count + 1, days=-1)
    assert add_local_days(datetime(2024, 3, 9, 12, tzinfo=UTC), count, ZONES[0]) == datetime(
        2024, 3, 9, 7, tzinfo=ZONES[0]
    ) + timedelta(days=count)


def test_29_february_and_the_last_month_of_the_year() -> None:
    assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)
    assert month_end(date(2024, 12, 15), 0) == date(2024, 12, 31)
    assert month_end(date(2024, 11, 30), 3) == date(2025, 2, 28)
    assert month_end(date(2023, 12, 1), 2) == date(2024, 2, 29)


@given(st.integers(min_value=-40_000, max_value=40_000))
def test_remembered_spans_are_the_spans(count: int) -> None:
    assert days_of(count) == timedelta(days=count)
    assert hours_of(count) == timedelta(hours=count)
    assert days_of(count) == timedelta(days=count)  # the second time, from the memo


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(9000, 12, 31)), st.sampled_from(ZONES))
def test_remembered_days_are_the_days(day: date, tz: ZoneInfo) -> None:
    """The first local instant of a day, the first of the next month and the next business days,
    remembered: the same the first time and the next (the plain formulas)."""
    for _ in range(2):
        assert start_of_day(day, tz) == datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
        assert first_of_next_month(day) == day.replace(day=1) + relativedelta(months=1)
        assert business_day_after(day, 3, None) == _business_days_later(day, 3)


def _business_days_later(day: date, count: int) -> date:
    while count:
        day += timedelta(days=1)
        count -= day.weekday() < 5
    return day


def test_remembered_dates_are_bounded() -> None:
    first = date(2000, 1, 1)
    for count in range(DATES_KEPT + 10):
        day = first + timedelta(days=count)
        assert add_years(day, 1) == day + relativedelta(years=1)
        assert first_of_next_month(day) == day.replace(day=1) + relativedelta(months=1)
        start_of_day(day, ZONES[0])
        business_day_after(day, 1, None)
    for memo in (
        calendar._YEARS_LATER,
        calendar._NEXT_MONTHS,
        calendar._DAY_STARTS,
        calendar._BUSINESS_DAYS,
    ):
        assert 0 < len(memo) <= DATES_KEPT


def test_remembered_spans_are_bounded() -> None:
    for count in range(SPANS_KEPT + 10):
        days_of(count)
        hours_of(count)
    assert len(calendar._HOURS) <= SPANS_KEPT
