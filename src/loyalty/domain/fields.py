"""The checks pydantic calls for each money, time and multiplier value of an input event (SPEC
§7), in a module of their own so that the compiled build compiles them: they run for every
field of every input (a purchase has three to six), and the call from pydantic's core into
compiled code costs a fraction of a call into interpreted Python.

    money("16.4") -> Decimal("16.40"); money("1e3") -> ValueError(MONEY_MESSAGE)
    instant("2024-03-07T10:00:00-05:00") -> datetime(2024, 3, 7, 15, 0, tzinfo=UTC)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

from loyalty.domain.money import CENT

MONEY_PATTERN = r"^[0-9]+(\.[0-9]{1,2})?$"
MONEY_MESSAGE: Final = "money must be a non-negative decimal string with at most 2 decimals"
MONEY_LIMIT: Final = Decimal(10) ** 12
LIMIT_MESSAGE = "money must be less than 1000000000000 (at most 12 digits before the point)"
TIME_MESSAGE: Final = "not a valid ISO-8601 time with a UTC offset (e.g. 2024-03-07T10:00:00-05:00)"
NAIVE_MESSAGE = "time must be ISO-8601 with a UTC offset"
FIRST_YEAR: Final = 1900
LAST_YEAR: Final = 9000
MULTIPLIER_MESSAGE = 'a multiplier is a decimal string above 0, at most 9999.9999 (e.g. "2", "1.5")'

_MULTIPLIER_RE = re.compile(r"[0-9]{1,4}(\.[0-9]{1,4})?")


def money(value: object) -> Decimal:
    """A non-negative amount with at most 2 decimals, below ``MONEY_LIMIT``, to the cent. Events
    are only read from JSON (``parse_event``), so money always arrives as text. ``MONEY_PATTERN``
    is checked by hand (a third of the cost of the regular expression): ASCII digits, then at
    most one point and one or two digits; "5.", ".5", "1e3" and "5.00" followed by a newline fail.

    Parsed every time, not remembered. A memo of the amounts met (there was one, of 131,072) held
    40,000-120,000 amounts at the benchmark's scale, and a look-up missed the processor's cache
    (its index, its entry, then its key's text) for about what the checks and ``Decimal`` cost.
    Without it, side by side over the benchmark: SOGO (120,814 distinct amounts) 2-10% faster in
    8 runs of 8, Soko and Soma (39,000 each) within the noise."""
    if not isinstance(value, str) or not value.isascii():
        raise ValueError(MONEY_MESSAGE)
    whole, point, cents = value.partition(".")
    if not whole.isdigit() or (point and not (cents.isdigit() and len(cents) <= 2)):
        raise ValueError(MONEY_MESSAGE)
    amount = Decimal(value)
    if len(whole) > 12 and amount >= MONEY_LIMIT:  # Decimal's 28 digits could not hold the cents
        raise ValueError(LIMIT_MESSAGE)
    return amount if len(cents) == 2 else amount.quantize(CENT)


def instant(value: object) -> datetime:
    """An ISO-8601 time with a UTC offset, within the supported years, as an instant in UTC.

    Every instant the engine holds is in UTC, one shared ``tzinfo``: comparing two datetimes
    whose ``tzinfo`` objects differ costs ~10x more (each side's offset is computed), and the
    engine compares times constantly. Local dates come from the program's time zone."""
    # the shape 2024-03-07T10:00 checked by hand (``fromisoformat`` checks the digits); without
    # it, ``fromisoformat`` would take a date alone or the basic form 20240307T1000
    if (
        not isinstance(value, str)
        or len(value) < 16
        or value[4] != "-"
        or value[7] != "-"
        or value[10] not in "Tt "
        or value[13] != ":"
        or not value.isascii()
    ):
        raise ValueError(TIME_MESSAGE)
    # the common shape, 2024-03-07T10:00:00+08:00 (or ...Z), with an offset met before: read as
    # UTC less the offset, without ``astimezone`` (which looks ``utcoffset`` up by name: ~4x the
    # cost of the parse)
    exact = (len(value) == 25 or len(value) == 20) and value[16] == ":"
    if exact:
        offset = _OFFSETS.get(value[19:])
        if offset is not None:
            try:
                parsed = datetime.fromisoformat(value[:19] + "Z")  # tzinfo: the one UTC
            except ValueError:
                raise ValueError(TIME_MESSAGE) from None
            _check_year(parsed.year)
            return parsed - offset
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(TIME_MESSAGE) from None
    offset = parsed.utcoffset()
    if offset is None:  # else a fixed offset (``fromisoformat`` makes no other tzinfo)
        raise ValueError(NAIVE_MESSAGE)
    _check_year(parsed.year)
    if exact and value[19] in "+-Zz" and len(_OFFSETS) < OFFSETS_KEPT:
        _OFFSETS[value[19:]] = offset
    return parsed.astimezone(UTC)


# "+08:00" -> 8 hours: the first offsets read, up to a bound (time zones have a few dozen
# between them; an offset met after the bound is read the longer way, as before)
_OFFSETS: Final[dict[str, timedelta]] = {}
OFFSETS_KEPT = 256


def _check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"time out of the supported range (years {FIRST_YEAR}-{LAST_YEAR})")


def multiplier(value: object) -> object:
    """A campaign multiplier: a decimal string above 0 with at most 4+4 digits."""
    if not isinstance(value, str) or not _MULTIPLIER_RE.fullmatch(value) or not Decimal(value):
        raise ValueError(MULTIPLIER_MESSAGE)
    return value
