"""SK-2/SK-3: the trailing-window tier state keeps only the purchases still inside the window,
so a member's stored state does not grow with its history; a late return of a purchase that left
the window changes nothing."""

from __future__ import annotations

import json
from datetime import date, timedelta

from loyalty import Engine, load_program


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
