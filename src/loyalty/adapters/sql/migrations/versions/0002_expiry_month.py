"""lots.expires_month is the month points can last be used

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:00:00

Until this revision a lot's ``expires_month`` was the month of its ``expires_at``, the first instant
after its last valid day: points usable through 2026-03-31 were reported as expiring in 2026-04
(the liability report by expiry month). Recomputed for every stored lot in its program's time zone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

from loyalty.domain.figures import expiry_month, month_of

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_lots = sa.table(
    "lots",
    sa.column("program_id", sa.String),
    sa.column("member_id", sa.String),
    sa.column("lot_id", sa.Integer),
    sa.column("expires_at", sa.String),
    sa.column("expires_month", sa.String),
)
_programs = sa.table(
    "programs", sa.column("program_id", sa.String), sa.column("definition", sa.Text)
)


def _recompute(month: Callable[[datetime, ZoneInfo], str]) -> None:
    conn = op.get_bind()
    programs = conn.execute(sa.select(_programs.c.program_id, _programs.c.definition)).all()
    for program_id, definition in programs:
        tz = ZoneInfo(json.loads(definition)["timezone"])
        rows = conn.execute(
            sa.select(_lots.c.member_id, _lots.c.lot_id, _lots.c.expires_at).where(
                _lots.c.program_id == program_id, _lots.c.expires_at.is_not(None)
            )
        ).all()
        changes = [
            {"b_member": m, "b_lot": lot, "month": month(datetime.fromisoformat(at), tz)}
            for m, lot, at in rows
        ]
        if changes:
            conn.execute(
                sa.update(_lots)
                .where(
                    _lots.c.program_id == program_id,
                    _lots.c.member_id == sa.bindparam("b_member"),
                    _lots.c.lot_id == sa.bindparam("b_lot"),
                )
                .values(expires_month=sa.bindparam("month")),
                changes,
            )


def upgrade() -> None:
    _recompute(expiry_month)


def downgrade() -> None:
    """The months as revision 0001 wrote them: the month of ``expires_at`` itself."""
    _recompute(month_of)
