"""The per-field checks of input events (``domain.fields``) are written by hand for speed; they
must accept and refuse exactly what the plain definitions do: money is ``MONEY_PATTERN`` below
10^12, quantized to the cent; a time has the shape 2024-03-07T10:00 (``T``, ``t`` or a space)
and whatever ``datetime.fromisoformat`` then reads, with a UTC offset."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from loyalty.domain import fields
from loyalty.domain.money import CENT

MONEY_RE = re.compile(fields.MONEY_PATTERN)
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")

money_like = st.one_of(
    st.text(max_size=20),
    st.from_regex(r"[0-9]{0,14}(\.[0-9]{0,3})?", fullmatch=True),
    st.from_regex(r"[0-9٠-٩²]{1,4}\.?[0-9]{0,2}\s?", fullmatch=True),
)


def _money_by_definition(value: str) -> Decimal | None:
    if not MONEY_RE.fullmatch(value):
        return None
    amount = Decimal(value)
    return None if amount >= fields.MONEY_LIMIT else amount.quantize(CENT)


def _accepted(check: object, value: str) -> object:
    try:
        return check(value)  # type: ignore[operator]
    except ValueError:
        return None


@given(money_like)
@example("5.00\n")
@example("999999999999.99")
@example("1000000000000")
@example("0000000000001000000000000.00")
@example("00000000000001.5")
@example("5.")
@example(".5")
@example("1e3")
@example("٥")
def test_money_accepts_exactly_the_pattern(value: str) -> None:
    got = _accepted(fields.money, value)
    expected = _money_by_definition(value)
    assert got == expected
    if got is not None:
        assert str(got) == str(expected)  # the same exponent: "5.00", never "5" or "5.0"


def _time_by_definition(value: str) -> datetime | None:
    if not TIME_RE.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None or not fields.FIRST_YEAR <= parsed.year <= fields.LAST_YEAR:
        return None
    return parsed.astimezone(UTC)


time_like = st.one_of(
    st.text(max_size=30),
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat()),
    st.from_regex(r"[0-9٠-٩]{4}-[0-9]{2}-[0-9]{2}[Tt _][0-9]{2}:[0-9]{2}.{0,12}", fullmatch=True),
)


@given(time_like)
@example("2024-03-07T10:00:00-05:00")
@example("2024-03-07t10:00Z")
@example("2024-03-07 10:00+08:00")
@example("2024-03-07")
@example("20240307T1000+00:00")
@example("٢٠٢٤-03-07T10:00:00+00:00")
@example("2024-03-07T10:00:00")
def test_times_are_read_as_by_definition(value: str) -> None:
    got = _accepted(fields.instant, value)
    assert got == _time_by_definition(value)
    if got is not None:
        assert isinstance(got, datetime) and got.tzinfo is UTC
    # a second time: its offset remembered, the time is read without ``astimezone``
    assert _accepted(fields.instant, value) == got


@given(st.datetimes(timezones=st.timezones()), st.sampled_from(["T", " ", "t"]))
@example(datetime.fromisoformat("1900-01-01T00:30:00+01:00"), "T")
@example(datetime.fromisoformat("9000-12-31T23:59:59-12:00"), "T")
def test_a_time_read_with_a_remembered_offset_is_the_same_instant(
    moment: datetime, sep: str
) -> None:
    fields._OFFSETS.clear()  # a memo: other examples may have filled it to its bound
    text = moment.replace(microsecond=0).isoformat(sep)
    first = _accepted(fields.instant, text)
    assert _accepted(fields.instant, text) == first == _time_by_definition(text)
    if first is not None and len(text) == 25:
        assert text[19:] in fields._OFFSETS


def test_the_memory_of_offsets_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fields, "OFFSETS_KEPT", 3)
    fields._OFFSETS.clear()
    for hour in range(10):
        fields.instant(f"2024-03-07T10:00:00+0{hour}:00")
    assert len(fields._OFFSETS) == 3
    assert fields.instant("2024-03-07T10:00:00+09:00") == datetime(2024, 3, 7, 1, tzinfo=UTC)
