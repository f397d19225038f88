"""Local-calendar arithmetic in the program's time zone.

Instants are returned in UTC (the one ``tzinfo`` every engine time shares, so comparisons stay
cheap); local dates and times of day are computed in the program's zone.

Rules count in local days and months: a "valid through" date lapses at the end of that local day;
"N business days" (SPEC §2) is the same local time of day on the Nth business day after the start's
local date, skipping weekends and the country's public holidays. Example (SM-6): a boutique
purchase on Friday 2024-11-08 10:00 New York time becomes available Thursday 2024-11-14 10:00
(Monday 11-11 is Veterans Day).
"""

from __future__ import annotations

from calendar import isleap, monthrange
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

from loyalty.domain.memo import remember

DAY: Final = timedelta(days=1)
DATES_KEPT: Final = 16384  # the bound of each memo of dates below (then it starts afresh)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


# The last instant asked about, with its local time and date. One input asks them of the same
# instant several times (its order's day, the start of its pending period, its expiry), and each
# conversion through a ``ZoneInfo`` costs ~3,000 instructions. A tuple swapped whole, so that
# threads reading it never see half an update; in a list of one, which the compiled build reaches
# as a C static (a module global is a dictionary look-up, and writing one another).
_last_local: Final[list[tuple[datetime, ZoneInfo, datetime, date] | None]] = [None]


def _local(at: datetime, tz: ZoneInfo) -> tuple[datetime, ZoneInfo, datetime, date]:
    last = _last_local[0]
    if last is None or last[0] is not at or last[1] is not tz:
        last = _hour_local(at, tz)
        _last_local[0] = last
    return last


# The hours of UTC met lately, for the zone asked last: an hour's first instant, the same in the
# zone, its local date and month (``YYYY-MM``). Within an hour whose two ends have one offset, one
# local date and no fold (no zone changes its offset twice within an hour), the local time of an
# instant is the local time of the hour's start plus the minutes past it: ~700 instructions
# against ~3,000 for ``astimezone`` through a ``ZoneInfo``, which each input asks about once or
# twice, and the month of a ledger entry (``figures.month_of``) a look-up.
_HOURS_OF_ZONE: Final[list[tuple[ZoneInfo, dict[int, tuple[datetime, datetime, date, str]]]]] = []
LOCAL_HOURS_KEPT: Final = 65_536  # hours (7.5 years), then the memo starts afresh
_LAST_OF_HOUR: Final = timedelta(hours=1) - timedelta(microseconds=1)


def _hour(at: datetime, tz: ZoneInfo) -> tuple[datetime, datetime, date, str] | None:
    """The memo's entry for the hour of ``at`` (made now if the hour can be remembered), or
    None: an hour that cannot, or a time not in UTC."""
    if at.tzinfo is not UTC or not 1 < at.year < 9999:  # (the hour's ends within datetime's)
        return None
    if not _HOURS_OF_ZONE or _HOURS_OF_ZONE[0][0] is not tz:
        _HOURS_OF_ZONE[:] = [(tz, {})]
    hours = _HOURS_OF_ZONE[0][1]
    hour = at.toordinal() * 24 + at.hour
    found = hours.get(hour)
    if found is None:
        first = at.replace(minute=0, second=0, microsecond=0)
        start, end = first.astimezone(tz), (first + _LAST_OF_HOUR).astimezone(tz)
        day = start.date()
        if (
            start.utcoffset() == end.utcoffset()
            and not start.fold
            and not end.fold
            and end.date() == day
        ):
            found = remember(hours, hour, (first, start, day, month_text(day)), LOCAL_HOURS_KEPT)
    return found


def _hour_local(at: datetime, tz: ZoneInfo) -> tuple[datetime, ZoneInfo, datetime, date]:
    """``(at, tz, at.astimezone(tz), its date)``, from the memo of hours when it can."""
    found = _hour(at, tz)
    if found is not None:
        return (at, tz, found[1] + (at - found[0]), found[2])
    local = at.astimezone(tz)
    return (at, tz, local, local.date())


def local_month(at: datetime, tz: ZoneInfo) -> str:
    """The month (``YYYY-MM``) of ``at`` in ``tz``, from the memo of hours when it can."""
    found = _hour(at, tz)
    return found[3] if found is not None else month_text(at.astimezone(tz))


def month_text(day: date) -> str:
    """``YYYY-MM`` of a day (or of a local time)."""
    return f"{day.year:04d}-{day.month:02d}"


def local_time(at: datetime, tz: ZoneInfo) -> datetime:
    """``at`` as a time in ``tz``."""
    return _local(at, tz)[2]


def local_date(at: datetime, tz: ZoneInfo) -> date:
    return _local(at, tz)[3]


def start_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of the local ``day``, remembered: expiries, month starts and monthly
    jobs ask it of a few hundred days a year (``loyalty.domain.memo``)."""
    key = (day, tz)
    found = _DAY_STARTS.get(key)
    if found is None:
        found = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
        remember(_DAY_STARTS, key, found, DATES_KEPT)
    return found


_DAY_STARTS: Final[dict[tuple[date, ZoneInfo], datetime]] = {}


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The first instant after ``day`` (exclusive end): what lapses 'through day' lapses here."""
    return start_of_day(day + DAY, tz)


def add_years(day: date, years: int) -> date:
    """Same date N years later; 29 February becomes 28 February (as ``relativedelta(years=N)``,
    by hand: dateutil's arithmetic runs as interpreted Python, ~50,000 instructions a call).
    Remembered: a trailing tier window asks it of each purchase's day (a few hundred days a
    year), and a new ``date`` costs ~2,000 instructions (its attributes, its constructor)."""
    key = (day, years)
    found = _YEARS_LATER.get(key)
    if found is None:
        found = remember(_YEARS_LATER, key, _years_later(day, years), DATES_KEPT)
    return found


_YEARS_LATER: Final[dict[tuple[date, int], date]] = {}


def _years_later(day: date, years: int) -> date:
    year = day.year + years
    if day.month == 2 and day.day == 29 and not isleap(year):
        return date(year, 2, 28)
    return date(year, day.month, day.day)


def month_end(day: date, months_after: int = 0) -> date:
    """Last day of the month ``months_after`` months after ``day``'s month."""
    year, month = divmod(day.year * 12 + day.month - 1 + months_after, 12)
    return date(year, month + 1, monthrange(year, month + 1)[1])


def first_of_next_month(day: date) -> date:
    """Remembered (as ``add_years``): monthly jobs ask it of every member's next input."""
    found = _NEXT_MONTHS.get(day)
    if found is None:
        found = date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)
        remember(_NEXT_MONTHS, day, found, DATES_KEPT)
    return found


_NEXT_MONTHS: Final[dict[date, date]] = {}


def next_month_start(at: datetime, tz: ZoneInfo) -> datetime:
    """The first local midnight of a month strictly after ``at``."""
    return start_of_day(first_of_next_month(local_date(at, tz)), tz)


@lru_cache(maxsize=16)
def _holiday_calendar(country: str) -> object:
    import holidays

    return holidays.country_holidays(country)


def is_business_day(day: date, country: str | None) -> bool:
    if day.weekday() >= 5:
        return False
    if country is None:
        return True
    return day not in _holiday_calendar(country)  # type: ignore[operator]


def business_day_after(day: date, days: int, country: str | None) -> date:
    """The ``days``-th business day after ``day``, remembered (as ``start_of_day``)."""
    key = (day, days, country)
    found = _BUSINESS_DAYS.get(key)
    if found is None:
        found = remember(_BUSINESS_DAYS, key, _count_business_days(day, days, country), DATES_KEPT)
    return found


_BUSINESS_DAYS: Final[dict[tuple[date, int, str | None], date]] = {}


def _count_business_days(day: date, days: int, country: str | None) -> date:
    counted = 0
    while counted < days:
        day += DAY
        if is_business_day(day, country):
            counted += 1
    return day


def add_business_days(at: datetime, days: int, country: str | None, tz: ZoneInfo) -> datetime:
    _, _, local, today = _local(at, tz)
    return _same_time_on(local, business_day_after(today, days, country) - today)


def add_local_days(at: datetime, days: int, tz: ZoneInfo) -> datetime:
    return _same_time_on(local_time(at, tz), days_of(days))


# A rule's few day and hour counts recur on every input, and building a ``timedelta`` costs
# ~4,000 instructions (keyword arguments, Python integers of microseconds): remembered, bounded,
# as hours (a day count N is 24 x N hours).
_HOURS: Final[dict[int, timedelta]] = {}
SPANS_KEPT = 4096


def days_of(count: int) -> timedelta:
    """``timedelta(days=count)``, remembered."""
    return hours_of(24 * count)


def hours_of(count: int) -> timedelta:
    """``timedelta(hours=count)``, remembered."""
    found = _HOURS.get(count)
    if found is None:
        found = remember(_HOURS, count, timedelta(hours=count), SPANS_KEPT)
    return found


def _same_time_on(local: datetime, days: timedelta) -> datetime:
    """The same local time of day ``days`` later, as an instant in UTC (what ``combine`` of the
    later date and ``local.time()`` gives: arithmetic keeps the wall time, and the fold is kept)."""
    later = local + days
    if local.fold:
        later = later.replace(fold=1)
    return later.astimezone(UTC)
