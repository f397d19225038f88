"""Reports computed in SQL over lots, ledger and members (SPEC §6):

* ``liability``: outstanding points (pending and available) and their money value by expiry month,
  less the members' debt;
* ``activity``: points issued, redeemed, expired, reversed, converted, ... per month (program time
  zone), and breakage;
* ``tiers``: members per tier (and per status).

Figures are as of the last time each member was written: run ``loyalty jobs run`` first so that
matured, expired and converted points are up to date.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from loyalty.adapters.sql import schema as t
from loyalty.domain.figures import FIGURES, breakage, figure_amount, figure_of, point_value
from loyalty.domain.money import fmt
from loyalty.programs.schema import Program


def liability(conn: Connection, program: Program) -> dict[str, Any]:
    value = point_value(program)
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
    by_month = [
        {
            "expires": month or "never",
            "points": int(points),
            "value": fmt(Decimal(int(points)) * value),
        }
        for month, points in rows
    ]
    outstanding = sum(int(p) for _, p in rows)
    net = outstanding - int(debt)
    return {
        "currency": program.currency,
        "point_value": str(value),
        "outstanding_points": outstanding,
        "debt_points": int(debt),
        "net_points": net,
        "net_value": fmt(Decimal(net) * value),
        "by_expiry_month": by_month,
    }


def activity(conn: Connection, program: Program) -> dict[str, Any]:
    ledger = t.ledger
    rows = conn.execute(
        select(ledger.c.month, ledger.c.kind, func.sum(ledger.c.points))
        .where(ledger.c.program_id == program.id)
        .group_by(ledger.c.month, ledger.c.kind)
        .order_by(ledger.c.month)
    ).all()
    months: dict[str, dict[str, int]] = {}
    for month, kind, points in rows:
        figures = months.setdefault(month, dict.fromkeys(FIGURES, 0))
        figure = figure_of(kind)
        figures[figure] = figures.get(figure, 0) + figure_amount(figure, int(points))
    totals = dict.fromkeys(FIGURES, 0)
    for figures in months.values():
        for k, v in figures.items():
            totals[k] = totals.get(k, 0) + v
    return {
        "months": [{"month": m, **f} for m, f in months.items()],
        "totals": totals,
        "breakage": str(breakage(totals["issued"], totals["expired"])),
    }


def tiers(conn: Connection, program: Program) -> dict[str, Any]:
    members = t.members
    rows = conn.execute(
        select(members.c.tier, members.c.status, func.count())
        .where(members.c.program_id == program.id)
        .group_by(members.c.tier, members.c.status)
    ).all()
    counts = {tier.id: 0 for tier in program.tiers.levels}
    statuses: dict[str, int] = {}
    for tier, state, n in rows:
        statuses[state] = statuses.get(state, 0) + int(n)
        if state != "not_enrolled":
            counts[tier] = counts.get(tier, 0) + int(n)
    return {"tiers": counts, "statuses": statuses}


REPORTS = {"liability": liability, "activity": activity, "tiers": tiers}
