"""The certificates table (looked up by code: SM-9, a certificate tender) holds every certificate
each member holds in memory, redeemed or not, whatever the batch size: an import writes a
certificate's row when it is issued and again when it is redeemed, and no other time. SM-8's
monthly certificates and SM-11's birthday gifts over a generated Soma year, with certificates
redeemed (SM-9)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from loyalty.adapters import codec
from loyalty.adapters.sql import schema as t
from loyalty.programs.loader import load_program
from loyalty.services.durable import DurableEngine
from loyalty.services.replay import replay_file
from loyalty.services.synthetic import generate_history


def _row(member: str, c: Any) -> tuple[Any, ...]:
    return (
        c.code,
        member,
        c.kind,
        None if c.amount is None else int(c.amount * 100),
        codec.utc_text(c.issued_at),
        codec.day_text(c.expires_on),
        codec.utc_text(c.redeemed_at) if c.redeemed_at else None,
        c.redeemed_order,
    )


@pytest.mark.parametrize("batch", [7, 500])
def test_the_certificate_rows_are_the_certificates_held(
    database_url: str, tmp_path: Path, batch: int
) -> None:
    program = load_program("soma")
    path = tmp_path / "soma.jsonl"
    lines = list(generate_history(program, members=30, months=14, seed=5))
    path.write_text("".join(f"{line}\n" for line in lines))
    # then some certificates redeemed (SM-9: by its code, as a tender of a purchase)
    engine = replay_file(program, path).engine
    assert engine.now is not None
    at = engine.now + timedelta(hours=1)
    for n, mid in enumerate(sorted(engine.members)):
        usable = [
            c
            for c in engine.certificates(mid)
            if c.redeemed_at is None and c.kind == "reward" and c.expires_on > at.date()
        ]
        if usable and n % 2 == 0:
            cert = usable[0]
            lines.append(
                json.dumps(
                    {
                        "type": "purchase",
                        "at": at.isoformat(),
                        "member": mid,
                        "order": f"redeem-{mid}",
                        "channel": "online",
                        "lines": [{"sku": "A", "amount": "80.00"}],
                        "tenders": [
                            {"type": "certificate", "amount": str(cert.amount), "code": cert.code},
                            {"type": "card", "amount": str(Decimal("80.00") - cert.amount)},
                        ],
                    }
                )
            )
    path.write_text("".join(f"{line}\n" for line in lines))
    replayed = replay_file(program, path)
    assert not replayed.rejected
    durable = DurableEngine(program, database_url)
    durable.import_file(path, batch=batch)
    durable.run_jobs()  # as far as the replay: its engine's clock is the last input's
    expected = sorted(
        _row(mid, c) for mid in replayed.engine.members for c in replayed.engine.certificates(mid)
    )
    assert any(row[6] is not None for row in expected)  # some redeemed
    assert len(expected) > 30
    columns = [
        t.certificates.c.code,
        t.certificates.c.member_id,
        t.certificates.c.kind,
        t.certificates.c.amount_minor,
        t.certificates.c.issued_at,
        t.certificates.c.expires_on,
        t.certificates.c.redeemed_at,
        t.certificates.c.redeemed_order,
    ]
    with durable.db.connect() as conn:
        stored = sorted(tuple(r) for r in conn.execute(select(*columns)))
    assert stored == expected
    durable.db.dispose()
