"""The month of a moment in the program's time zone (``figures.month_of``: every ledger entry's
month in the simulator, the import and the reports; SG-10's expiry month), remembered by UTC
hour in the calendar's memo (``calendar.local_month``), against the plain formula: the first time
and the second, around month ends, in zones whose offsets are not whole hours and whose clocks
change at midnight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.domain import calendar
from loyalty.domain.calendar import LOCAL_HOURS_KEPT
from loyalty.domain.figures import expiry_month, month_of
from tests.zones import UTC_INSTANTS, ZONES


def _plain(at: datetime, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    return f"{local.year:04d}-{local.month:02d}"


@settings(max_examples=1500, deadline=None)
@given(UTC_INSTANTS, st.sampled_from(ZONES))
def test_the_month_is_the_local_month_first_time_and_remembered(at: datetime, tz: ZoneInfo) -> None:
    calendar._HOURS_OF_ZONE.clear()
    assert month_of(at, tz) == _plain(at, tz)
    for moment in (at, at.replace(minute=0, second=0, microsecond=0), at + timedelta(minutes=1)):
        assert month_of(moment, tz) == _plain(moment, tz)  # from the hour remembered, or not


@settings(max_examples=400, deadline=None)
@given(
    st.integers(1971, 2059),
    st.integers(1, 12),
    st.integers(-180, 180),
    st.sampled_from(ZONES),
)
def test_around_each_local_month_end(year: int, month: int, minutes: int, tz: ZoneInfo) -> None:
    """Every minute within three hours of a local month's first instant, first and second time."""
    start = datetime(year, month, 1, tzinfo=tz).astimezone(UTC)
    at = start + timedelta(minutes=minutes)
    for moment in (at, at - timedelta(microseconds=1), at, at + timedelta(seconds=59)):
        assert month_of(moment, tz) == _plain(moment, tz)


def test_other_offsets_and_the_ends_of_time_use_the_plain_formula() -> None:
    tz = ZoneInfo("America/New_York")
    at = datetime(2024, 3, 1, 1, 0, tzinfo=timezone(timedelta(hours=-2)))  # 22:00 in New York
    assert month_of(at, tz) == "2024-02"
    # the same clock reading in UTC is remembered as February; at -12:00 it is in March
    late = datetime(2024, 2, 29, 23, 0, tzinfo=timezone(timedelta(hours=-12)))
    assert month_of(late.replace(tzinfo=UTC), tz) == "2024-02"
    assert month_of(late, tz) == "2024-03"  # not read from the hour remembered in UTC
    assert month_of(datetime(9999, 12, 31, 23, 59, tzinfo=UTC), tz) == "9999-12"
    assert month_of(datetime(1, 1, 1, 12, 0, tzinfo=UTC), tz) == "0001-01"


def test_SG_10_expiry_month_is_the_month_of_the_last_valid_day() -> None:
    tz = ZoneInfo("Asia/Kuala_Lumpur")
    expires_at = datetime(2026, 4, 1, tzinfo=tz).astimezone(UTC)  # end of 2026-03-31
    assert expiry_month(expires_at, tz) == "2026-03"
    assert expiry_month(expires_at, tz) == "2026-03"  # remembered


def test_the_memo_is_bounded() -> None:
    calendar._HOURS_OF_ZONE.clear()
    tz = ZoneInfo("Asia/Kuala_Lumpur")
    start = datetime(2020, 1, 1, tzinfo=UTC)
    for hour in range(LOCAL_HOURS_KEPT + 10):
        month_of(start + timedelta(hours=hour), tz)
    assert 0 < len(calendar._HOURS_OF_ZONE[0][1]) <= LOCAL_HOURS_KEPT
