"""Stored member documents written before the engine held instants in UTC keep the offsets the
inputs were written with, and could hold a retro-credited purchase out of day order in the
trailing window. Decoding one gives the same instants in UTC (so never-expiring lots are still
spent oldest first) and a window sorted by day."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from loyalty import Engine, load_program
from loyalty.adapters import codec
from tests.builders import ENROLL, store_purchase


def test_an_older_document_decodes_to_utc_instants_and_a_sorted_window() -> None:
    engine = Engine(load_program("soko"))
    engine.apply(ENROLL)
    for n, day in enumerate((2, 20)):
        engine.apply(store_purchase(n, day))
    member = engine.members["m1"]
    doc = json.loads(codec.dumps(member))
    est = timezone(timedelta(hours=-5))

    def local(text: str) -> str:
        return datetime.fromisoformat(text).astimezone(est).isoformat()

    for lot in doc["wallet"]["lots"]:  # as an older version wrote them
        lot[4] = local(lot[4])
        lot[5] = local(lot[5]) if lot[5] else None
    doc["clock"] = local(doc["clock"])
    doc["tiers"]["spend_by_day"] = list(reversed(doc["tiers"]["spend_by_day"]))
    loaded = codec.loads(json.dumps(doc))
    assert [lot.earned_at for lot in loaded.wallet.lots] == [
        lot.earned_at for lot in member.wallet.lots
    ]
    assert all(lot.earned_at.tzinfo is UTC for lot in loaded.wallet.lots)
    assert loaded.clock == member.clock and loaded.clock.tzinfo is UTC
    assert loaded.tiers.spend_by_day == member.tiers.spend_by_day
    spent_first = [lot.id for lot in loaded.wallet.spendable()]
    assert spent_first == sorted(spent_first)  # oldest first
