"""The local time and date of an instant in the program's time zone (``calendar.local_time`` and
``calendar.local_date``: each input's day, its pending period's start, its expiry), read from the
memo of UTC hours, against ``astimezone``: the first time and the second, around local midnights
and offset changes, in zones whose offsets are not whole hours and whose clocks change at
midnight. The local time must equal ``astimezone``'s in every field, its fold included (a
pending period counted from an ambiguous hour keeps it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.domain import calendar
from loyalty.domain.calendar import LOCAL_HOURS_KEPT, local_date, local_time
from tests.zones import UTC_INSTANTS, ZONES


def _fields(local: datetime) -> tuple[object, ...]:
    return (local.timetuple()[:6], local.microsecond, local.fold, local.tzinfo, local.utcoffset())


def _check(at: datetime, tz: ZoneInfo) -> None:
    calendar._last_local[0] = None  # the last instant asked: not what is tested here
    plain = at.astimezone(tz)
    assert _fields(local_time(at, tz)) == _fields(plain)
    calendar._last_local[0] = None
    assert local_date(at, tz) == plain.date()


@settings(max_examples=1500, deadline=None)
@given(UTC_INSTANTS, st.sampled_from(ZONES))
def test_the_local_time_first_time_and_remembered(at: datetime, tz: ZoneInfo) -> None:
    calendar._HOURS_OF_ZONE.clear()
    for moment in (
        at,
        at,  # from the hour remembered, or not
        at.replace(minute=0, second=0, microsecond=0),
        at.replace(minute=59, second=59, microsecond=999_999),
        at + timedelta(minutes=1),
    ):
        _check(moment, tz)


@settings(max_examples=400, deadline=None)
@given(st.integers(1971, 2059), st.integers(1, 365), st.integers(-180, 180), st.sampled_from(ZONES))
def test_around_each_local_midnight(year: int, day: int, minutes: int, tz: ZoneInfo) -> None:
    """Every minute within three hours of a local day's first instant, first and second time."""
    midnight = datetime.combine(datetime(year, 1, 1) + timedelta(days=day - 1), datetime.min.time())
    at = midnight.replace(tzinfo=tz).astimezone(UTC) + timedelta(minutes=minutes)
    for moment in (at, at - timedelta(microseconds=1), at, at + timedelta(seconds=59)):
        _check(moment, tz)


def _changes(tz: ZoneInfo) -> list[datetime]:
    """The first hour of UTC after each of the zone's offset changes, 1970-2037 (remembered)."""
    found = _CHANGES.get(tz)
    if found is None:
        found = _CHANGES[tz] = []
        day = datetime(1970, 1, 1, tzinfo=UTC)
        offset = day.astimezone(tz).utcoffset()
        while day.year < 2037:  # a day at a time, then the hour within the day
            later = day + timedelta(days=1)
            if later.astimezone(tz).utcoffset() != offset:
                hour = day
                while hour.astimezone(tz).utcoffset() == offset:
                    hour += timedelta(hours=1)
                found.append(hour)
                offset = later.astimezone(tz).utcoffset()
            day = later
    return found


_CHANGES: dict[ZoneInfo, list[datetime]] = {}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ZONES), st.integers(0, 400), st.integers(-120, 120))
def test_around_each_change_of_offset(tz: ZoneInfo, which: int, minutes: int) -> None:
    """Every minute within two hours of one of the zone's offset changes (1970-2037), where a
    local hour is skipped or repeated (``fold``)."""
    changes = _changes(tz)
    if not changes:
        return  # a zone without changes in those years
    change = changes[which % len(changes)]
    for moment in (change + timedelta(minutes=minutes), change + timedelta(minutes=minutes)):
        _check(moment, tz)
        _check(moment - timedelta(microseconds=1), tz)


def test_other_offsets_the_ends_of_time_and_another_zone() -> None:
    tz = ZoneInfo("America/New_York")
    calendar._HOURS_OF_ZONE.clear()
    utc = datetime(2024, 2, 29, 23, 0, tzinfo=UTC)
    _check(utc, tz)  # remembered, in UTC
    _check(utc.replace(tzinfo=timezone(timedelta(hours=-12))), tz)  # not read from that hour
    _check(datetime(9999, 12, 31, 23, 59, tzinfo=UTC), tz)
    _check(datetime(1, 1, 1, 12, 0, tzinfo=UTC), tz)
    _check(utc, ZoneInfo("Asia/Kolkata"))  # another zone: not New York's hour
    _check(utc, tz)


def test_the_memo_is_bounded() -> None:
    calendar._HOURS_OF_ZONE.clear()
    tz = ZoneInfo("Asia/Kuala_Lumpur")
    start = datetime(2020, 1, 1, tzinfo=UTC)
    for hour in range(LOCAL_HOURS_KEPT + 10):
        calendar._last_local[0] = None
        local_date(start + timedelta(hours=hour, minutes=7), tz)
    assert 0 < len(calendar._HOURS_OF_ZONE[0][1]) <= LOCAL_HOURS_KEPT
