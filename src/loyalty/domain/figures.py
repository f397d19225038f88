"""Program economics, defined once for every source of data: the database reports (rows from SQL)
and the what-if simulator (rows from in-memory engine state). Each figure is a pure function of
plain rows, so both sources give the same numbers for the same history.

Point value: what one point is worth to the member, in the program's currency: the block rate
(SG-9: RM 10 / 1,000 points = RM 0.01), else the conversion rate (SM-8: $5 / 125 points = $0.04),
else the best catalog reward (SK-10: $10 / 500 points = $0.02). A program version that changes
the rate (SG-9: the "prevailing" block size) changes the value from its date: points redeemed in a
month are valued at the rate of that month's last day, the liability at the rate of the figures'
day.

Ledger kinds are grouped into figures: points issued (earn, bonus, signup, action), redeemed,
expired, reversed, converted (into reward money), reinstated and adjusted. Breakage = expired /
issued.

The rows:

* liability: ``(expires_month, points)`` of the lots that still hold points (``None``: never
  expires), and the members' total debt;
* activity: ``(month, kind, points)`` of ledger entries (month in the program's time zone);
* tiers: ``(tier, status, members)``;
* economics: the activity rows, ``(month, kind, count, value)`` of certificates issued,
  ``(month, qualifying amount)`` of the members' orders (net of returns) and the members' total
  reward balance (converted, not yet issued).

Reward cost = money value of the points redeemed (at the point value) + value of the reward
certificates issued (SM-8; a birthday gift has no amount). Reward cost per unit of sales = reward
cost / qualifying sales. Example: RM 2,000 of redeemed points and RM 0 of certificates over
RM 250,000 of qualifying sales cost 0.0080 per ringgit of sales.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from loyalty.domain.calendar import local_month, month_end
from loyalty.domain.money import fmt
from loyalty.programs.loader import version_at
from loyalty.programs.schema import Program

ISSUED = ("earn", "bonus", "signup", "action")
FIGURES = {
    "issued": ISSUED,
    "redeemed": ("redeem",),
    "expired": ("expire",),
    "reversed": ("reverse",),
    "converted": ("convert",),
    "reinstated": ("reinstate",),
    "adjusted": ("adjust",),
}
RATIO = Decimal("0.0001")


class PointValues:
    """The point value of each version of a program, by the day it takes effect."""

    def __init__(self, program: Program) -> None:
        ordered = sorted(program.versions, key=lambda v: v.effective)
        self.base = point_value(program)
        self.changes = [
            (v.effective, point_value(version_at(program, i + 1))) for i, v in enumerate(ordered)
        ]

    def on(self, day: date | None) -> Decimal:
        """The value on ``day`` (``None``: the program as first written)."""
        value = self.base
        for effective, changed in self.changes:
            if day is not None and effective <= day:
                value = changed
        return value

    def in_month(self, month: str) -> Decimal:
        return self.on(month_end(date(int(month[:4]), int(month[5:7]), 1)))


def point_value(program: Program) -> Decimal:
    """The value of a point under ``program``'s own settings (not its later versions)."""
    if program.blocks is not None:
        return program.blocks.block_value / program.blocks.block_points
    if program.conversion is not None:
        return program.conversion.step_value / program.conversion.step_points
    values = [r.value / r.cost for r in program.rewards if r.value > 0]
    return max(values) if values else Decimal(0)


# debit figures are reported as positive amounts (points redeemed, expired, ...)
DEBIT_FIGURES = frozenset({"redeemed", "expired", "reversed", "converted"})


def figure_amount(figure: str, ledger_sum: int) -> int:
    return -ledger_sum if figure in DEBIT_FIGURES else ledger_sum


def figure_of(kind: str) -> str:
    for figure, kinds in FIGURES.items():
        if kind in kinds:
            return figure
    return kind


def breakage(issued: int, expired: int) -> Decimal:
    return (Decimal(expired) / Decimal(issued)).quantize(RATIO) if issued else Decimal(0)


def month_of(at: datetime, tz: ZoneInfo) -> str:
    """The month (``YYYY-MM``) of a moment in the program's time zone. The simulator and the
    import ask it of every ledger entry: read from the calendar's memo of UTC hours
    (``calendar.local_month``; ``astimezone`` and the formatting cost ~800 ns, a look-up
    ~100 ns)."""
    return local_month(at, tz)


def expiry_month(expires_at: datetime, tz: ZoneInfo) -> str:
    """The month in which points expiring at ``expires_at`` can last be used. A lot's
    ``expires_at`` is the first instant after its last valid day (``calendar.end_of_day``): points
    "expiring at the end of 2026-03-31" (SG-10) have ``expires_at`` 2026-04-01 00:00, and their
    month is 2026-03, as in the member summary's ``expiring_this_month``."""
    return month_of(expires_at - _INSTANT, tz)


_INSTANT = timedelta(microseconds=1)


# -- the figures ----------------------------------------------------------------------------------
def liability_figures(
    rows: Iterable[tuple[str | None, int]], debt: int, program: Program, on: date | None = None
) -> dict[str, Any]:
    """Outstanding points (pending and available) and their money value by expiry month (months in
    order, "never" last), less the members' debt; valued at the rate prevailing ``on`` the
    figures' day."""
    value = PointValues(program).on(on)
    by_month: dict[str | None, int] = {}
    for month, points in rows:
        by_month[month] = by_month.get(month, 0) + int(points)
    months = sorted(by_month, key=lambda m: (m is None, m or ""))
    outstanding = sum(by_month.values())
    net = outstanding - int(debt)
    return {
        "currency": program.currency,
        "point_value": str(value),
        "outstanding_points": outstanding,
        "debt_points": int(debt),
        "net_points": net,
        "net_value": fmt(Decimal(net) * value),
        "by_expiry_month": [
            {
                "expires": month or "never",
                "points": by_month[month],
                "value": fmt(Decimal(by_month[month]) * value),
            }
            for month in months
        ],
    }


def _monthly_figures(rows: Iterable[tuple[str, str, int]]) -> dict[str, dict[str, int]]:
    months: dict[str, dict[str, int]] = {}
    for month, kind, points in sorted(rows, key=lambda r: r[0]):
        figures = months.setdefault(month, dict.fromkeys(FIGURES, 0))
        figure = figure_of(kind)
        figures[figure] = figures.get(figure, 0) + figure_amount(figure, int(points))
    return months


def activity_figures(rows: Iterable[tuple[str, str, int]]) -> dict[str, Any]:
    """Points issued, redeemed, expired, reversed, converted, ... per month, totals, breakage."""
    months = _monthly_figures(rows)
    totals = dict.fromkeys(FIGURES, 0)
    for figures in months.values():
        for k, v in figures.items():
            totals[k] = totals.get(k, 0) + v
    return {
        "months": [{"month": m, **f} for m, f in months.items()],
        "totals": totals,
        "breakage": str(breakage(totals["issued"], totals["expired"])),
    }


def tier_figures(rows: Iterable[tuple[str, str, int]], program: Program) -> dict[str, Any]:
    """Members per tier (enrolled members only) and per status."""
    counts = {tier.id: 0 for tier in program.tiers.levels}
    statuses: dict[str, int] = {}
    for tier, state, n in rows:
        statuses[state] = statuses.get(state, 0) + int(n)
        if state != "not_enrolled":
            counts[tier] = counts.get(tier, 0) + int(n)
    return {"tiers": counts, "statuses": statuses}


def _ratio(numerator: Decimal, denominator: Decimal) -> str:
    return str((numerator / denominator if denominator else Decimal(0)).quantize(RATIO))


def economics_figures(
    activity_rows: Iterable[tuple[str, str, int]],
    certificate_rows: Iterable[tuple[str, str, int, Decimal]],
    sales_rows: Iterable[tuple[str, Decimal]],
    program: Program,
    rewards_pending: Decimal = Decimal(0),
    on: date | None = None,
) -> dict[str, Any]:
    """Certificates issued (count and value, by kind), qualifying sales, reward cost and reward
    cost per unit of sales, in all and per month; and the rewards converted but not yet issued as
    certificates (SM-8: the members' reward balances), a liability in money."""
    values = PointValues(program)
    redeemed = {m: f["redeemed"] for m, f in _monthly_figures(activity_rows).items()}
    by_kind: dict[str, dict[str, Any]] = {}
    certs: dict[str, list[Any]] = {}
    for month, kind, count, amount in certificate_rows:
        kind_total = by_kind.setdefault(kind, {"count": 0, "value": Decimal(0)})
        kind_total["count"] += int(count)
        kind_total["value"] += Decimal(amount)
        month_total = certs.setdefault(month, [0, Decimal(0)])
        month_total[0] += int(count)
        if kind == "reward":
            month_total[1] += Decimal(amount)
    sales: dict[str, Decimal] = {}
    for month, amount in sales_rows:
        sales[month] = sales.get(month, Decimal(0)) + Decimal(amount)
    months = []
    for month in sorted(set(redeemed) | set(certs) | set(sales)):
        redeemed_value = Decimal(redeemed.get(month, 0)) * values.in_month(month)
        count, cert_value = certs.get(month, [0, Decimal(0)])
        sold = sales.get(month, Decimal(0))
        cost = redeemed_value + cert_value
        months.append(
            {
                "month": month,
                "redeemed_value": fmt(redeemed_value),
                "certificates": count,
                "certificate_value": fmt(cert_value),
                "qualifying_sales": fmt(sold),
                "reward_cost": fmt(cost),
                "reward_cost_per_sales": _ratio(cost, sold),
            }
        )
    redeemed_value = sum(
        (Decimal(points) * values.in_month(month) for month, points in redeemed.items()),
        start=Decimal(0),
    )
    cert_value = sum((Decimal(k["value"]) for k in by_kind.values()), start=Decimal(0))
    reward_value = Decimal(by_kind.get("reward", {}).get("value", 0))
    sold = sum(sales.values(), start=Decimal(0))
    cost = redeemed_value + reward_value
    return {
        "currency": program.currency,
        "point_value": str(values.on(on)),
        "redeemed_points": sum(redeemed.values()),
        "redeemed_value": fmt(redeemed_value),
        "certificates_issued": sum(int(k["count"]) for k in by_kind.values()),
        "certificates_value": fmt(cert_value),
        "certificates_by_kind": {
            kind: {"count": k["count"], "value": fmt(k["value"])}
            for kind, k in sorted(by_kind.items())
        },
        "qualifying_sales": fmt(sold),
        "reward_cost": fmt(cost),
        "reward_cost_per_sales": _ratio(cost, sold),
        "rewards_pending": fmt(Decimal(rewards_pending)),
        "months": months,
    }


def tiers_over_time(rows: Iterable[tuple[str, str, int]], program: Program) -> list[dict[str, Any]]:
    """Enrolled members per tier at the end of each month: ``(month, tier, members)`` rows."""
    months: dict[str, dict[str, int]] = {}
    for month, tier, n in rows:
        counts = months.setdefault(month, {t.id: 0 for t in program.tiers.levels})
        counts[tier] = counts.get(tier, 0) + int(n)
    return [{"month": m, "tiers": months[m]} for m in sorted(months)]


def outstanding_over_time(
    rows: Iterable[tuple[str, str, int]], program: Program, through: str | None = None
) -> list[dict[str, Any]]:
    """Net outstanding points (available + pending - debt) and their value at the end of each
    month, from the activity rows: the balance is the sum of the ledger (every job's entry is
    dated when it fell due), so it is the running sum of the months' entries. ``through``: the
    last month to show (the month of the figures' moment), even if no entry falls in it."""
    values = PointValues(program)
    months: dict[str, int] = {}
    for month, _, points in rows:
        months[month] = months.get(month, 0) + int(points)
    out = []
    balance = 0
    last = max([*months, through]) if through is not None and months else max(months, default="")
    for month in _month_range(min(months), last) if months else []:
        balance += months.get(month, 0)
        value = Decimal(balance) * values.in_month(month)
        out.append({"month": month, "points": balance, "value": fmt(value)})
    return out


def _month_range(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out
