"""Stored documents and rows write times with ``codec.instant_text`` / ``codec.day_text``, by
hand for speed: they must write exactly what ``isoformat`` writes, or documents written before
and after would differ (and rows would no longer sort as the instants they name)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import example, given
from hypothesis import strategies as st

from loyalty.adapters import codec

zones = st.sampled_from([UTC, timezone(timedelta(0)), timezone(timedelta(hours=-5)), None])


@given(st.datetimes(), zones)
@example(datetime(2024, 1, 5, 17, 5, 44), UTC)
@example(datetime(2024, 1, 5, 17, 5, 44, 7), UTC)
@example(datetime(5, 1, 1), UTC)
@example(datetime.max, UTC)
def test_instants_are_written_as_isoformat_writes_them(at: datetime, zone: object) -> None:
    at = at.replace(tzinfo=zone)  # type: ignore[arg-type]
    assert codec.instant_text(at) == at.isoformat()
    assert codec.instant_text(at, micro=True) == at.isoformat(timespec="microseconds")


@given(st.dates())
@example(date(5, 3, 7))
def test_days_are_written_as_isoformat_writes_them(day: date) -> None:
    assert codec.day_text(day) == day.isoformat()


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)), zones)
@example(datetime(2024, 1, 5, 17, 5, 44), UTC)
@example(datetime(2024, 1, 5, 12, 5, 44, 7), timezone(timedelta(hours=-5)))
def test_stored_instants_are_written_in_utc_to_the_microsecond(at: datetime, zone: object) -> None:
    """``utc_text``: every row's time, fixed width, so that text order is time order."""
    if zone is None:
        return  # the engine holds no naive time
    at = at.replace(tzinfo=zone)  # type: ignore[arg-type]
    text = codec.utc_text(at)
    assert text == at.astimezone(UTC).isoformat(timespec="microseconds")
    assert len(text) == len("2024-01-05T17:05:44.000000+00:00")
