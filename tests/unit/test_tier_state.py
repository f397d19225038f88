"""SK-2/SK-3: the trailing-window tier state keeps only the purchases still inside the window,
so a member's stored state does not grow with its history; a late return of a purchase that left
the window changes nothing."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from loyalty import Engine, load_program
from loyalty.domain.rules import rules_of
from loyalty.domain.tiers import (
    TierState,
    add_spend,
    remove_spend,
    supported,
    tier_on,
    trailing_spend,
)


def test_trailing_window_state_is_bounded_and_old_returns_are_harmless() -> None:
    engine = Engine(load_program("soko"))
    engine.apply(
        {"type": "enroll", "at": "2020-01-01T10:00:00-05:00", "member": "m1", "email": "a@x.com"}
    )
    day = date(2020, 1, 2)
    for n in range(40):  # a purchase every 30 days for 3+ years
        at = f"{day.isoformat()}T12:00:00+00:00"
        engine.apply(
            json.dumps(
                {
                    "type": "purchase",
                    "at": at,
                    "member": "m1",
                    "order": f"o{n}",
                    "channel": "online",
                    "lines": [{"sku": "A", "amount": "30.00"}],
                }
            )
        )
        day += timedelta(days=30)
    state = engine.members["m1"].tiers
    assert len(state.spend_by_day) <= 13
    assert set(state.order_spend) == {o for _, o in state.spend_by_day}
    before = engine.summary("m1")
    late = engine.apply(
        {
            "type": "return",
            "at": f"{day.isoformat()}T12:00:00+00:00",
            "order": "o0",
            "return": "r0",
            "lines": [{"sku": "A", "amount": "30.00"}],
        }
    )
    assert late.accepted
    after = engine.summary("m1")
    assert before["qualifying_spend"] == "390.00"  # 13 purchases in the last 365 days
    assert after["qualifying_spend"] == "360.00"  # 30 days later: 12 (o0 left long ago)
    total = lambda s: s["points"]["available"] + s["points"]["pending"]  # noqa: E731
    assert total(after) == total(before) - 30  # o0's 30 points are taken back


# -- the trailing window against a plain reference --------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-400, 200), st.integers(0, 50_000)),  # (days after the last, cents)
        min_size=1,
        max_size=30,
    )
)
@example(steps=[(0, 0)] * 11)  # one day's orders o0..o10: "o10" sorts before "o2"
def test_trailing_window_matches_a_plain_recount(steps: list[tuple[int, int]]) -> None:
    """SK-2/SK-3: add_spend keeps the window sorted even when a purchase is older than the last
    (a retro-credit), forgets exactly the purchases that left a window, and its total and status
    dates equal a recount from scratch."""
    rules = rules_of(load_program("soko")).tiers
    state = TierState()
    alive: dict[str, tuple[date, Decimal]] = {}
    last = date(2024, 1, 1)
    for n, (shift, cents) in enumerate(steps):
        day = last + timedelta(days=shift) if shift > 0 else last - timedelta(days=-shift // 3)
        last = max(last, day)
        amount = Decimal(cents) / 100
        add_spend(rules, state, day, f"o{n}", amount)
        alive[f"o{n}"] = (day, amount)
        start = day - timedelta(days=rules.trailing_days - 1)
        alive = {o: (d, a) for o, (d, a) in alive.items() if d >= start}
        days = [d for d, _ in state.spend_by_day]
        assert days == sorted(days)  # sorted by day (one day's purchases in any order)
        assert set(state.order_spend) == set(alive) == {o for _, o in state.spend_by_day}
        expected = sum((a for d, a in alive.values() if d <= day), start=Decimal(0))
        assert trailing_spend(rules, state, day) == expected
        assert tier_on(rules, state, day) >= supported(rules, expected)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            # a purchase: (days after the last, or before it when negative; cents)
            st.tuples(st.just("buy"), st.integers(-400, 200), st.integers(0, 50_000)),
            # a return of part of an earlier purchase: (which one, cents)
            st.tuples(st.just("return"), st.integers(0, 40), st.integers(0, 20_000)),
            # the spend asked later, as a summary asks it: (days after the last)
            st.tuples(st.just("ask"), st.integers(0, 500), st.just(0)),
        ),
        min_size=1,
        max_size=40,
    )
)
@example(steps=[("buy", 0, 3000), ("buy", 1, 4550), ("return", 0, 1000), ("ask", 0, 0)])
def test_the_kept_window_total_equals_a_recount(steps: list[tuple[str, int, int]]) -> None:
    """SK-2/SK-3: the trailing spend is kept as a running total (a purchase adds, a return takes
    off, a purchase leaving the window takes off what it still counted; recounted after a
    retro-credit). Whatever the mix of purchases, retro-credits and returns, the spend asked on
    any day equals a recount of the purchases in that day's window."""
    rules = rules_of(load_program("soko")).tiers
    state = TierState()
    alive: dict[str, tuple[date, Decimal]] = {}
    bought: list[tuple[str, date]] = []
    last = date(2024, 1, 1)
    for n, (kind, x, cents) in enumerate(steps):
        amount = Decimal(cents) / 100
        if kind == "buy":
            day = last + timedelta(days=x) if x >= 0 else last - timedelta(days=-x // 3)
            last = max(last, day)
            add_spend(rules, state, day, f"o{n}", amount)
            bought.append((f"o{n}", day))
            alive[f"o{n}"] = (day, amount)
            start = day - timedelta(days=rules.trailing_days - 1)
            alive = {o: (d, a) for o, (d, a) in alive.items() if d >= start}
        elif kind == "return" and bought:
            order, day = bought[x % len(bought)]
            remove_spend(rules, state, day, order, amount)
            if order in alive:
                alive[order] = (alive[order][0], alive[order][1] - amount)
        else:
            day = last + timedelta(days=x)
        start = day - timedelta(days=rules.trailing_days - 1)
        expected = sum((a for d, a in alive.values() if start <= d <= day), start=Decimal(0))
        assert trailing_spend(rules, state, day) == expected
        if state.spend_total is not None:
            assert state.spend_total == sum(state.order_spend.values(), start=Decimal(0))
