"""Time zones and instants for the tests of what is remembered by hour of UTC (``calendar``'s
local times, ``figures.month_of``): the presets' zones, and zones whose offsets are not whole
hours or whose clocks change at midnight or several times a year."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

ZONES = [
    ZoneInfo(name)
    for name in (
        "America/New_York",  # the presets' zones
        "Asia/Kuala_Lumpur",
        "America/Los_Angeles",
        "Asia/Kolkata",  # +05:30: local midnight at half past a UTC hour
        "Australia/Lord_Howe",  # a half-hour daylight-saving change
        "Pacific/Chatham",  # +12:45 / +13:45
        "America/St_Johns",  # -03:30, clocks changed at midnight in some years
        "America/Santiago",  # clocks changed at midnight (24:00)
        "Asia/Beirut",  # clocks changed at midnight
        "Africa/Casablanca",  # offset changed for Ramadan, several times a year
    )
]

# instants in UTC over the years the zones' rules are tested in
UTC_INSTANTS = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2060, 12, 31), timezones=st.just(UTC)
)
