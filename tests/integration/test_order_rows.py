"""Orders and lots are rows of their own (issue 3). A new one is a plain INSERT, one already
stored is UPDATEd: an upsert of every row cost PostgreSQL about twice as much, and overwrote an
order that another transaction stored after the writer found the order absent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from loyalty import load_program
from loyalty.adapters.sql import bulk, registry
from loyalty.adapters.sql import schema as t
from loyalty.adapters.sql.bulk import insert_rows
from loyalty.adapters.sql.registry import ORDER_COLUMNS
from loyalty.domain.events import parse_event
from loyalty.services.durable import DurableEngine
from tests.builders import ENROLL, store_purchase

THEIRS = '{"stored": "by another transaction"}'


def test_an_order_stored_meanwhile_by_another_transaction_is_not_overwritten(
    postgres_url: str,
) -> None:
    """The purchase finds order o1 absent; another transaction stores o1 and commits; the
    purchase's write of o1 then fails (``IntegrityError``, which ``DurableEngine`` retries: the
    retry finds o1 and rejects the purchase as a repeat order) and the other's row is kept."""
    durable = DurableEngine(load_program("soko"), postgres_url)
    assert durable.apply(ENROLL).accepted
    with pytest.raises(IntegrityError), durable.db.begin() as conn:
        engine, registry = durable._engine(conn, lock=True)
        assert engine.apply(parse_event(store_purchase(1, 2))).accepted
        with durable.db.begin() as other:
            row = (durable.program.id, "o1", None, 2024, THEIRS)
            insert_rows(other, t.orders, ORDER_COLUMNS, [row])
        registry.flush(engine.now)
    with durable.db.connect() as conn:
        assert conn.execute(select(t.orders.c.state)).scalars().all() == [THEIRS]
    durable.db.dispose()


def test_orders_and_lots_read_are_updated_and_new_ones_inserted(database_url: str) -> None:
    """An online purchase INSERTs its order and its pending lot; the shipment then changes both
    (the order shipped, the lot matured): UPDATEs, the lot's of its state alone. The rows then
    hold what the engine holds."""
    durable = DurableEngine(load_program("soko"), database_url)
    writes: list[tuple[str, str, int]] = []
    real_insert, real_update = bulk.insert_rows, bulk.update_rows

    def inserting(conn: Any, table: Any, columns: Any, rows: Any, **kw: Any) -> None:
        writes.append(("upsert" if kw.get("conflict") else "insert", table.name, len(rows)))
        real_insert(conn, table, columns, rows, **kw)

    def updating(conn: Any, table: Any, columns: Any, keys: Any, rows: Any) -> None:
        writes.append(("update", table.name, len(rows)))
        real_update(conn, table, columns, keys, rows)

    online = {**json.loads(store_purchase(1, 2)), "channel": "online"}
    shipped = {"type": "shipment", "at": "2024-03-04T12:00:00-05:00", "order": "o1"}
    by_input = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry, "insert_rows", inserting)
        patch.setattr(registry, "update_rows", updating)
        assert durable.apply(ENROLL).accepted
        for line in (online, shipped):
            writes.clear()
            outcome = durable.apply(line)
            assert outcome.accepted, outcome.error
            by_input.append([w for w in writes if w[1] in ("orders", "lots") and w[2]])
    assert by_input == [
        [("insert", "lots", 1), ("insert", "orders", 1)],
        [("update", "lots", 1), ("update", "orders", 1)],
    ]
    with durable.db.connect() as conn:
        lots = conn.execute(select(t.lots.c.lot_id, t.lots.c.remaining, t.lots.c.matured)).all()
        order = conn.execute(select(t.orders.c.state)).scalar_one()
    assert sorted(map(tuple, lots)) == [(1, 50, True), (2, 40, True)]
    assert json.loads(order)["shipped_at"] is not None
    assert durable.summaries()["m1"]["points"]["available"] == 90
    durable.db.dispose()


def test_a_new_purchase_is_not_looked_up_among_the_inputs_received(
    database_url: str, tmp_path: Path
) -> None:
    """A purchase's idempotency record exists only with its order: a batch looks up the records
    of purchases whose order it found (the repeat of o1 below, recognised as a repeat, and the
    reuse of o1 with another amount, refused), never those of new orders."""
    online = {**json.loads(store_purchase(1, 2)), "channel": "online"}
    changed = {**online, "lines": [{"sku": "A", "amount": "45.00"}]}
    lines = [ENROLL, json.dumps(online), json.dumps(online), store_purchase(2, 3)]
    lines.append(json.dumps(changed))
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines) + "\n")
    durable = DurableEngine(load_program("soko"), database_url)
    looked_up: list[list[str]] = []
    real = registry.select_in

    def counting(conn: Any, table: Any, columns: Any, equal: Any, column: Any, values: Any,
                 **kw: Any) -> Any:  # fmt: skip
        if table is t.inputs:
            looked_up.append(sorted(values))
        return real(conn, table, columns, equal, column, values, **kw)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry, "select_in", counting)
        report = durable.import_file(path, batch=2)
    assert [r["line"] for r in report.rejected] == [5]
    assert report.accepted == 4
    # (PostgreSQL's overlapped batches know o1's record from the batch before: one look-up less)
    assert ["purchase\x1fo1"] in looked_up
    assert not [keys for keys in looked_up if "purchase\x1fo2" in keys]
    assert [e["ref"] for e in durable.ledger("m1")].count("order:o1") == 1
    durable.db.dispose()
