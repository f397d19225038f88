"""The database schema. Every member-owned table is keyed by (program_id, member_id) first, so a
distributed PostgreSQL (Citus) can shard by member without touching the engine.

Times are stored as ISO-8601 text in UTC (sortable, the same on SQLite and PostgreSQL); months for
reports (``month``, ``expires_month``) are precomputed in the program's time zone; money is stored
in minor units (cents, sen).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)

metadata = MetaData()

programs = Table(
    "programs",
    metadata,
    Column("program_id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("definition", Text, nullable=False),  # the program as JSON (versions included)
    Column("now", String(40)),  # time of the last accepted input (the program's clock)
    Column("member_seq", BigInteger, nullable=False, default=0),
)

program_versions = Table(
    "program_versions",
    metadata,
    Column("program_id", String(64), primary_key=True),
    Column("effective", String(10), primary_key=True),
    Column("changes", Text, nullable=False),
)

members = Table(
    "members",
    metadata,
    Column("program_id", String(64), primary_key=True),
    Column("member_id", String(200), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("number", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("tier", String(64), nullable=False),
    Column("available", BigInteger, nullable=False),
    Column("pending", BigInteger, nullable=False),
    Column("debt", BigInteger, nullable=False),
    Column("reward_balance_minor", BigInteger, nullable=False),
    Column("enrolled_at", String(40), nullable=False),
    Column("clock", String(40), nullable=False),
    Column("next_due_at", String(40)),
    Column("state", Text, nullable=False),
    UniqueConstraint("program_id", "number", name="uq_members_number"),
    Index("ix_members_due", "program_id", "next_due_at"),
    Index("ix_members_seq", "program_id", "seq"),
    Index("ix_members_clock", "program_id", "clock"),
)

member_keys = Table(
    "member_keys",
    metadata,
    # every way to find a member: its alias ids (SM-2), email, phone
    Column("program_id", String(64), primary_key=True),
    Column("kind", String(8), primary_key=True),  # alias | email | phone
    Column("value", String(320), primary_key=True),
    Column("member_id", String(200), nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("program_id", String(64), primary_key=True),
    Column("order_id", String(200), primary_key=True),
    Column("member_id", String(200)),  # null: bought without a member (retro-credit may claim it)
    Column("year", Integer, nullable=False),  # local year of the purchase (tier reversals)
    Column("state", Text, nullable=False),  # the order: lines, what it earned, returns, shipment
    Index("ix_orders_member", "program_id", "member_id", "year"),
)

lots = Table(
    "lots",
    metadata,
    Column("program_id", String(64), primary_key=True),
    Column("member_id", String(200), primary_key=True),
    Column("lot_id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("earned_at", String(40), nullable=False),
    Column("available_at", String(40)),
    Column("expires_at", String(40)),
    Column("expires_month", String(7)),
    Column("matured", Boolean, nullable=False),
    Column("ref", String(300), nullable=False),
)

ledger = Table(
    "ledger",
    metadata,
    Column("program_id", String(64), primary_key=True),
    Column("member_id", String(200), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("at", String(40), nullable=False),
    Column("month", String(7), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("ref", String(300), nullable=False),
    Column("note", Text, nullable=False),
    Index("ix_ledger_month", "program_id", "month", "kind"),
)

certificates = Table(
    "certificates",
    metadata,
    Column("program_id", String(64), primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("member_id", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount_minor", BigInteger),
    Column("issued_at", String(40), nullable=False),
    Column("expires_on", String(10), nullable=False),
    Column("redeemed_at", String(40)),
    Column("redeemed_order", String(200)),
    Index("ix_certificates_member", "program_id", "member_id"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("program_id", String(64), primary_key=True),
    Column("campaign_id", String(200), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("definition", Text, nullable=False),
)

inputs = Table(
    "inputs",
    metadata,
    # idempotency: the key of every accepted input, its payload hash and its result
    Column("program_id", String(64), primary_key=True),
    Column("key", String(700), primary_key=True),
    Column("digest", String(32), nullable=False),
    Column("accepted_at", String(40), nullable=False),
    Column("message", Text),
)

outbox = Table(
    "outbox",
    metadata,
    Column("program_id", String(64), primary_key=True),
    Column("member_id", String(200), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("at", String(40), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("data", Text, nullable=False),
    Column("delivered_at", String(40)),
)

imports = Table(
    "imports",
    metadata,
    # batch import progress: how many lines of a file (by content hash) are committed
    Column("program_id", String(64), primary_key=True),
    Column("source", String(64), primary_key=True),
    Column("lines_done", BigInteger, nullable=False),
    Column("accepted", BigInteger, nullable=False),
)


def import_progress(program_id: str, source: str) -> Select[Any]:
    """The progress row of one import of a file: its lines done and inputs accepted."""
    return select(imports.c.lines_done, imports.c.accepted).where(
        imports.c.program_id == program_id, imports.c.source == source
    )


import_rejections = Table(
    "import_rejections",
    metadata,
    Column("program_id", String(64), primary_key=True),
    Column("source", String(64), primary_key=True),
    Column("line", BigInteger, primary_key=True),
    Column("error", Text, nullable=False),
)
