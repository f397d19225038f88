"""Reports computed in SQL over lots, ledger and members (SPEC §6):

* ``liability``: outstanding points (pending and available) and their money value by expiry month,
  less the members' debt;
* ``activity``: points issued, redeemed, expired, reversed, converted, ... per month (program time
  zone), and breakage;
* ``tiers``: members per tier (and per status);
* ``economics``: certificates issued (count and value), qualifying sales, reward cost and reward
  cost per unit of sales, in all and per month.

SQL gathers the rows; the figures themselves are defined once, in ``loyalty.domain.figures``, and
the what-if simulator (``loyalty.services.simulation``) feeds the same functions from in-memory
state. Figures are as of the last time each member was written: run ``loyalty jobs run`` first so
that matured, expired and converted points are up to date.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select

from loyalty.adapters.sql import schema as t
from loyalty.adapters.sql.registry import program_clock
from loyalty.domain.calendar import local_date
from loyalty.domain.figures import (
    activity_figures,
    economics_figures,
    liability_figures,
    month_of,
    tier_figures,
)
from loyalty.programs.schema import Program


def liability(conn: Connection, program: Program) -> dict[str, Any]:
    lots = t.lots
    rows = conn.execute(
        select(lots.c.expires_month, func.sum(lots.c.remaining))
        .where(lots.c.program_id == program.id, lots.c.remaining > 0)
        .group_by(lots.c.expires_month)
        .order_by(lots.c.expires_month)
    ).all()
    debt = conn.execute(
        select(func.coalesce(func.sum(t.members.c.debt), 0)).where(
            t.members.c.program_id == program.id
        )
    ).scalar_one()
    day = _clock_day(conn, program)
    return liability_figures(((m, int(p)) for m, p in rows), int(debt), program, day)


def _clock_day(conn: Connection, program: Program) -> date | None:
    """The local day of the program's clock: the figures' day (the prevailing point value)."""
    now = program_clock(conn, program.id)
    return None if now is None else local_date(now, ZoneInfo(program.timezone))


def _ledger_rows(conn: Connection, program: Program) -> list[tuple[str, str, int]]:
    ledger = t.ledger
    rows = conn.execute(
        select(ledger.c.month, ledger.c.kind, func.sum(ledger.c.points))
        .where(ledger.c.program_id == program.id)
        .group_by(ledger.c.month, ledger.c.kind)
        .order_by(ledger.c.month)
    ).all()
    return [(str(month), str(kind), int(points)) for month, kind, points in rows]


def activity(conn: Connection, program: Program) -> dict[str, Any]:
    return activity_figures(_ledger_rows(conn, program))


def tiers(conn: Connection, program: Program) -> dict[str, Any]:
    members = t.members
    rows = conn.execute(
        select(members.c.tier, members.c.status, func.count())
        .where(members.c.program_id == program.id)
        .group_by(members.c.tier, members.c.status)
    ).all()
    return tier_figures(((str(tr), str(s), int(n)) for tr, s, n in rows), program)


def economics(conn: Connection, program: Program) -> dict[str, Any]:
    tz = ZoneInfo(program.timezone)
    certs = t.certificates
    certificate_rows = [
        (
            month_of(datetime.fromisoformat(issued_at), tz),
            str(kind),
            1,
            Decimal(amount or 0) / 100,
        )
        for issued_at, kind, amount in conn.execute(
            select(certs.c.issued_at, certs.c.kind, certs.c.amount_minor).where(
                certs.c.program_id == program.id
            )
        )
    ]
    sales_rows = []
    for (state,) in conn.execute(
        select(t.orders.c.state).where(
            t.orders.c.program_id == program.id, t.orders.c.member_id.is_not(None)
        )
    ):
        order = json.loads(state)
        sales_rows.append((order["day"][:7], Decimal(order["qualifying"])))
    pending = conn.execute(
        select(func.coalesce(func.sum(t.members.c.reward_balance_minor), 0)).where(
            t.members.c.program_id == program.id
        )
    ).scalar_one()
    return economics_figures(
        _ledger_rows(conn, program),
        certificate_rows,
        sales_rows,
        program,
        Decimal(int(pending)) / 100,
        _clock_day(conn, program),
    )


REPORTS = {"liability": liability, "activity": activity, "tiers": tiers, "economics": economics}
