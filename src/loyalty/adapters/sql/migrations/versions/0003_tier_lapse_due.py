"""members of trailing-window programs are due once, to schedule their status lapse

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 19:20:00

Since this revision the end of a trailing-window status (Soko's VIP, SK-3) is due work, kept in the
member document (``tier_lapse_at``), so that ``loyalty jobs run`` writes the lower tier the reports
count. A document written before has no such moment: the registry computes it when it loads the
member, and this revision makes every such member due now, so that the next ``jobs run`` loads
them, runs what is due (a lapse already passed included) and writes them back.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_members = sa.table(
    "members",
    sa.column("program_id", sa.String),
    sa.column("clock", sa.String),
    sa.column("next_due_at", sa.String),
    sa.column("state", sa.Text),
)
_programs = sa.table(
    "programs", sa.column("program_id", sa.String), sa.column("definition", sa.Text)
)


def upgrade() -> None:
    conn = op.get_bind()
    programs = conn.execute(sa.select(_programs.c.program_id, _programs.c.definition)).all()
    for program_id, definition in programs:
        if json.loads(definition)["tiers"]["window"] != "trailing_days":
            continue
        conn.execute(
            sa.update(_members)
            .where(
                _members.c.program_id == program_id,
                _members.c.state.not_like('%"tier_lapse_at"%'),
                sa.or_(_members.c.next_due_at.is_(None), _members.c.next_due_at > _members.c.clock),
            )
            .values(next_due_at=_members.c.clock)
        )


def downgrade() -> None:
    """Nothing to undo: a member due early finds nothing to do but its lapse."""
