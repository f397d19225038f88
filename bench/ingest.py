"""Batch-import throughput: purchase events/s through ``loyalty import`` on SQLite or PostgreSQL,
and in the same run, in the same database, the raw database's own rate for the equivalent plain
writes (per purchase: a ledger row, a lot row, an order row, an idempotency row inserted and the
member's row updated with a document of the same size), as a ratio. The enrolments imported
first are timed too (no yardstick: they are not the figure the issue asks for).

    python bench/ingest.py --database sqlite|postgresql [--members 10000] [--purchases 100000]

PostgreSQL runs on a throwaway cluster started here with its default (durable) settings.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Column, MetaData, String, Table, Text, bindparam, insert, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loyalty import build, load_program
from loyalty.adapters.sql.database import make_engine
from loyalty.services.durable import DurableEngine
from tests.pg import postgres_cluster

START = datetime.fromisoformat("2024-01-01T09:00:00-05:00")


def write_history(path: Path, members: int, purchases: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w") as out:
        for i in range(members):
            at = (START + timedelta(seconds=i)).isoformat()
            out.write(
                json.dumps(
                    {"type": "enroll", "at": at, "member": f"m{i}", "email": f"m{i}@example.com"}
                )
                + "\n"
            )
        step = 365 * 86400 / purchases
        for n in range(purchases):
            at = (START + timedelta(days=1, seconds=int(n * step))).isoformat()
            lines = [
                {"sku": f"S{rng.randint(1, 999)}", "amount": f"{rng.uniform(5, 120):.2f}"}
                for _ in range(rng.choice([1, 1, 2, 3]))
            ]
            out.write(
                json.dumps(
                    {
                        "type": "purchase",
                        "at": at,
                        "member": f"m{rng.randrange(members)}",
                        "order": f"o{n}",
                        "channel": "online",
                        "lines": lines,
                    }
                )
                + "\n"
            )


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
    else:
        with postgres_cluster(durable=True) as url:
            yield url


def raw_rate(url: str, purchases: int, members: int, batch: int, doc_size: int) -> float:
    """The same rows written as plain executemany statements, one transaction per batch."""
    meta = MetaData()
    cols = lambda: [Column("k", String(200), primary_key=True), Column("v", Text)]  # noqa: E731
    tables = [
        Table(f"raw_{name}", meta, *cols()) for name in ("ledger", "lots", "orders", "inputs")
    ]
    docs = Table("raw_members", meta, Column("k", String(200), primary_key=True), Column("v", Text))
    engine = make_engine(url)
    meta.create_all(engine)
    blob = "x" * doc_size
    with engine.begin() as conn:
        conn.execute(insert(docs), [{"k": f"m{i}", "v": blob} for i in range(members)])
    rng = random.Random(1)
    started = time.perf_counter()
    for first in range(0, purchases, batch):
        n = min(batch, purchases - first)
        with engine.begin() as conn:
            for table in tables:
                conn.execute(
                    insert(table), [{"k": f"{first + i}", "v": "-" * 60} for i in range(n)]
                )
            touched = {f"m{rng.randrange(members)}" for _ in range(n)}
            conn.execute(
                update(docs).where(docs.c.k == bindparam("b_k")).values(v=bindparam("v")),
                [{"b_k": k, "v": blob} for k in touched],
            )
    seconds = time.perf_counter() - started
    engine.dispose()
    return purchases / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--purchases", type=int, default=100_000)
    parser.add_argument(
        "--batch", type=int, default=None, help="lines a transaction (default: the import's own)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, database(args.database) as url:
        enrolls, buys = Path(folder) / "enroll.jsonl", Path(folder) / "purchases.jsonl"
        write_history(Path(folder) / "all.jsonl", args.members, args.purchases, seed=1)
        lines = (Path(folder) / "all.jsonl").read_text().splitlines(keepends=True)
        enrolls.write_text("".join(lines[: args.members]))
        buys.write_text("".join(lines[args.members :]))
        durable = DurableEngine(load_program("soko"), url)
        args.batch = args.batch or durable.import_batch
        started = time.perf_counter()
        durable.import_file(enrolls, batch=args.batch)
        enroll_seconds = time.perf_counter() - started
        started = time.perf_counter()
        report = durable.import_file(buys, batch=args.batch)
        seconds = time.perf_counter() - started
        assert report.accepted == args.purchases, report.rejected[:3]
        with durable.db.connect() as conn:
            from sqlalchemy import func, select

            from loyalty.adapters.sql import schema as t

            doc_size = int(conn.execute(select(func.avg(func.length(t.members.c.state)))).scalar())
        durable.db.dispose()
        engine_rate = args.purchases / seconds
        raw = raw_rate(url, args.purchases, args.members, args.batch, doc_size)
    print(
        f"database: {args.database}; {args.members} members, {args.purchases} purchases, "
        f"batch {args.batch}, member document ~{doc_size} bytes; engine {build()}"
    )
    enroll_rate = args.members / enroll_seconds
    print(f"enrolments:     {enroll_rate:8.0f} enrol events/s (the members, imported first)")
    print(f"loyalty import: {engine_rate:8.0f} purchase events/s ({seconds:.1f} s)")
    print(f"raw writes:     {raw:8.0f} purchase-equivalents/s")
    print(f"ratio:          {engine_rate / raw:8.2f} (import / raw)")


if __name__ == "__main__":
    main()
