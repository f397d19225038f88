"""Stored member documents written before the engine held instants in UTC keep the offsets the
inputs were written with, and could hold a retro-credited purchase out of day order in the
trailing window. Decoding one gives the same instants in UTC (so never-expiring lots are still
spent oldest first) and a window sorted by day."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

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
    doc["wallet"]["lots"] = [codec.lot_to_list(lot) for lot in member.wallet.lots]
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


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**62), 2**62) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_JSON_VALUES)
def test_documents_are_written_as_compact_json_that_reads_back_the_same(data: object) -> None:
    """``json_text`` (pydantic-core's writer) reads back as what it was given, and is, for
    printable ASCII text, the very text ``json.dumps`` writes: stored documents keep one spelling.
    (``json.dumps`` escapes every other character, DEL included; pydantic-core writes them as
    they are, which reads back the same.)"""
    text = codec.json_text(data)
    assert json.loads(text) == data
    if text.isascii() and "\x7f" not in text:
        assert text == json.dumps(data, separators=(",", ":"))


def test_del_is_the_one_ascii_character_written_otherwise() -> None:
    assert codec.json_text({"a": "\x7f\n"}) == '{"a":"\x7f\\n"}'
    assert json.loads(codec.json_text({"a": "\x7f\n"})) == {"a": "\x7f\n"}


def test_text_that_is_not_unicode_is_escaped_rather_than_refused() -> None:
    text = codec.json_text({"name": "a\ud800b", "city": "Zürich"})
    assert json.loads(text) == {"name": "a\ud800b", "city": "Zürich"}


def test_a_member_document_is_written_once_as_it_is_read() -> None:
    engine = Engine(load_program("soko"))
    engine.apply(ENROLL)
    engine.apply(store_purchase(0, 2))
    member = engine.members["m1"]
    text = codec.dumps(member)
    assert text == json.dumps(json.loads(text), separators=(",", ":"))
    assert codec.dumps(codec.loads(text, member.wallet.lots)) == text


def test_a_document_without_its_lots_is_not_read_alone() -> None:
    import pytest

    engine = Engine(load_program("soko"))
    engine.apply(ENROLL)
    text = codec.dumps(engine.members["m1"])
    with pytest.raises(ValueError, match="lots apart"):
        codec.loads(text)
