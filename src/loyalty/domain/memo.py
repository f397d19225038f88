"""Bounded memos: the engine remembers what recurs (dates, day starts, expiries, program
settings) in plain dictionaries, each with a bound after which it starts afresh.

    _DAYS: Final[dict[date, date]] = {}
    found = _DAYS.get(day)
    if found is None:
        found = remember(_DAYS, day, compute(day), 16384)

A dictionary of the module's own, not ``functools.lru_cache``: the compiled build reaches a
``Final`` dictionary as a C static, and a look-up costs a fraction of a call through
``lru_cache``'s wrapper.
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def remember(memo: dict[K, V], key: K, value: V, bound: int) -> V:
    """Store ``value`` under ``key`` and return it; a memo already holding ``bound`` entries is
    emptied first (what recurs comes back at once)."""
    if len(memo) >= bound:
        memo.clear()
    memo[key] = value
    return value
