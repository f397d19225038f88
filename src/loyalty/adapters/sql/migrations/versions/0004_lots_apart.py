"""member documents keep their lots apart, in the lots table

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 21:30:00

Since this revision a member's document (``members.state``) leaves its lots out: they are the rows
of ``lots`` (which every version has written, and the reports read), and the member is loaded from
both. A document written before still holds its lots and is read with them; it is written back
without them the next time its member changes, so the upgrade rewrites nothing. It exists so that
an older version of the software, which cannot read a document without its lots, refuses the
database (its schema is ahead) instead of failing on the first such member. The downgrade puts
every member's lots back into its document, as revision 0003's code reads them.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_members = sa.table(
    "members",
    sa.column("program_id", sa.String),
    sa.column("member_id", sa.String),
    sa.column("state", sa.Text),
)
_lots = sa.table(
    "lots",
    sa.column("program_id", sa.String),
    sa.column("member_id", sa.String),
    sa.column("lot_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("points", sa.BigInteger),
    sa.column("remaining", sa.BigInteger),
    sa.column("earned_at", sa.String),
    sa.column("available_at", sa.String),
    sa.column("expires_at", sa.String),
    sa.column("matured", sa.Boolean),
    sa.column("ref", sa.String),
)


def upgrade() -> None:
    """Nothing to rewrite (see above)."""


def downgrade() -> None:
    conn = op.get_bind()
    lots: dict[tuple[str, str], list[list[Any]]] = {}
    for row in conn.execute(
        sa.select(
            _lots.c.program_id,
            _lots.c.member_id,
            _lots.c.lot_id,
            _lots.c.kind,
            _lots.c.points,
            _lots.c.remaining,
            _lots.c.earned_at,
            _lots.c.available_at,
            _lots.c.expires_at,
            _lots.c.ref,
            _lots.c.matured,
        ).order_by(_lots.c.program_id, _lots.c.member_id, _lots.c.lot_id)
    ):
        pid, mid, lot_id, kind, points, remaining, *times, ref, matured = row
        lot = [int(lot_id), kind, int(points), int(remaining), *times, ref, bool(matured)]
        lots.setdefault((pid, mid), []).append(lot)
    members = conn.execute(
        sa.select(_members.c.program_id, _members.c.member_id, _members.c.state)
    ).all()
    for pid, mid, state in members:
        doc = json.loads(state)
        wallet = doc["wallet"]
        if "lots" in wallet:
            continue
        wallet["lots"] = lots.get((pid, mid), [])
        wallet.pop("lot_changes", None)
        conn.execute(
            sa.update(_members)
            .where(_members.c.program_id == pid, _members.c.member_id == mid)
            .values(state=json.dumps(doc, separators=(",", ":")))
        )
