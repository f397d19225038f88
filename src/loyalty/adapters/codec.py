"""A member's state as a JSON document and back, for storage.

The document holds what the rules need on every input (tier state, certificates, counters)
but the lots: they are rows of their own (the lots table, where the reports read them), and a
member is loaded from its document and its lot rows (``member_from_dict(d, lots)``; documents
written before stop 19 hold their lots, and are read with them). A lot holds three times, and was
~75% of a document: a batch import rewrote every lot of each member it touched. Orders are stored
one a row and loaded when an input needs one (a return, a shipment, a release, a tier reversal);
ledger entries and notifications are appended to their own tables and the document keeps only
their counts (``entry_base``). So loading and writing a member costs the same after ten years as
after one day.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

from pydantic_core import PydanticSerializationError, to_json

from loyalty.domain.certificates import Certificate
from loyalty.domain.earning import CampaignRule
from loyalty.domain.ledger import Lot, Wallet
from loyalty.domain.member import Member, Order, OrderLine
from loyalty.domain.tiers import TierState

_TWO: Final = tuple(f"{i:02d}" for i in range(100))  # Final: a C static when compiled


def _year(year: int) -> str:
    return str(year) if year >= 1000 else f"{year:04d}"


def day_text(day: date) -> str:
    """``day.isoformat()``, written by hand: CPython formats dates and times through C's printf
    (``PyUnicode_FromFormat``), ~3,000 instructions a date and ~11,000 a time (callgrind), and
    an import writes ~10 of them a purchase (documents, rows). An f-string of strings is one
    allocation in the compiled build."""
    return f"{_year(day.year)}-{_TWO[day.month]}-{_TWO[day.day]}"


def instant_text(at: datetime, micro: bool = False) -> str:
    """``at.isoformat()`` (``timespec="microseconds"`` with ``micro``), by hand for the UTC
    instants the engine holds (as ``day_text``); any other time zone goes to ``isoformat``."""
    if at.tzinfo is not UTC:
        return at.isoformat(timespec="microseconds") if micro else at.isoformat()
    fraction = at.microsecond
    dot = f".{str(1_000_000 + fraction)[1:]}" if fraction or micro else ""
    return (
        f"{_year(at.year)}-{_TWO[at.month]}-{_TWO[at.day]}"
        f"T{_TWO[at.hour]}:{_TWO[at.minute]}:{_TWO[at.second]}{dot}+00:00"
    )


def utc_text(at: datetime) -> str:
    """Fixed-width UTC text (2024-01-05T17:05:44.000000+00:00): sorts like the instant it names.
    The storage adapter writes every time it stores so (compiled here: a batch import writes
    ~6 an input)."""
    return instant_text(at if at.tzinfo is UTC else at.astimezone(UTC), micro=True)


def _dt(value: datetime | None) -> str | None:
    return instant_text(value) if value is not None else None


def _pdt(value: str | None) -> datetime | None:
    return _req(value) if value is not None else None


def _req(value: str) -> datetime:
    """An instant, in UTC as the engine holds them (documents written before it did keep the
    offset the input was written with)."""
    return datetime.fromisoformat(value).astimezone(UTC)


def campaign_to_dict(c: CampaignRule) -> dict[str, Any]:
    return {
        "id": c.id,
        "starts": instant_text(c.starts),
        "ends": instant_text(c.ends),
        "multiplier": str(c.multiplier) if c.multiplier is not None else None,
        "bonus_points": c.bonus_points,
        "min_spend": str(c.min_spend) if c.min_spend is not None else None,
        "channels": list(c.channels) if c.channels is not None else None,
        "combinable": c.combinable,
    }


def campaign_from_dict(d: dict[str, Any]) -> CampaignRule:
    return CampaignRule(
        id=d["id"],
        starts=_req(d["starts"]),
        ends=_req(d["ends"]),
        multiplier=Decimal(d["multiplier"]) if d["multiplier"] is not None else None,
        bonus_points=d["bonus_points"],
        min_spend=Decimal(d["min_spend"]) if d["min_spend"] is not None else None,
        channels=tuple(d["channels"]) if d["channels"] is not None else None,
        combinable=d["combinable"],
    )


def order_to_dict(o: Order) -> dict[str, Any]:
    return {
        "order": o.order,
        "member": o.member,
        "at": instant_text(o.at),
        "day": day_text(o.day),
        "channel": o.channel,
        "lines": [[ln.sku, str(ln.amount), ln.eligible, ln.returned] for ln in o.lines],
        "non_earning": str(o.non_earning),
        "points_tender": str(o.points_tender),
        "eligible_total": str(o.eligible_total),
        "earns": o.earns,
        "qualifying": str(o.qualifying),
        "tier": o.tier,
        "rate": str(o.rate),
        "campaigns": [campaign_to_dict(c) for c in o.campaigns],
        "earn_points": o.earn_points,
        "bonus_points": o.bonus_points,
        "lots": [lot.id for lot in o.lots if lot.remaining or not lot.matured],
        "shipped_at": _dt(o.shipped_at),
        "released": o.released,
        "credited_at": _dt(o.credited_at),
    }


def order_from_dict(d: dict[str, Any], lots: dict[int, Lot]) -> Order:
    return Order(
        order=d["order"],
        member=d["member"],
        at=_req(d["at"]),
        day=date.fromisoformat(d["day"]),
        channel=d["channel"],
        lines=[OrderLine(s, Decimal(a), e, r) for s, a, e, r in d["lines"]],
        non_earning=Decimal(d["non_earning"]),
        points_tender=Decimal(d["points_tender"]),
        eligible_total=Decimal(d["eligible_total"]),
        earns=d["earns"],
        qualifying=Decimal(d["qualifying"]),
        tier=d["tier"],
        rate=Decimal(d["rate"]),
        campaigns=tuple(campaign_from_dict(c) for c in d["campaigns"]),
        earn_points=d["earn_points"],
        bonus_points=d["bonus_points"],
        lots=[lots[i] for i in d["lots"] if i in lots],
        shipped_at=_pdt(d["shipped_at"]),
        released=d["released"],
        credited_at=_pdt(d["credited_at"]),
    )


def lot_to_list(lot: Lot) -> list[Any]:
    """A lot as documents before stop 19 held it."""
    return [
        lot.id,
        lot.kind,
        lot.points,
        lot.remaining,
        instant_text(lot.earned_at),
        _dt(lot.available_at),
        _dt(lot.expires_at),
        lot.ref,
        lot.matured,
    ]


def _lot_from_list(v: list[Any]) -> Lot:
    return Lot(v[0], v[1], v[2], v[3], _req(v[4]), _pdt(v[5]), _pdt(v[6]), v[7], v[8])


def lot_from_row(
    lot_id: int,
    kind: str,
    points: int,
    remaining: int,
    earned_at: str,
    available_at: str | None,
    expires_at: str | None,
    matured: object,
    ref: str,
) -> Lot:
    """A lot from its row in the lots table (times as ``utc_text`` wrote them)."""
    return Lot(
        int(lot_id),
        kind,
        int(points),
        int(remaining),
        _req(earned_at),
        _pdt(available_at),
        _pdt(expires_at),
        ref,
        bool(matured),
    )


def member_to_dict(m: Member) -> dict[str, Any]:
    w = m.wallet
    t = m.tiers
    return {
        "id": m.id,
        "number": m.number,
        "status": m.status,
        "profile": m.profile,
        "enrolled_at": instant_text(m.enrolled_at),
        "clock": instant_text(m.clock),
        "wallet": {
            "debt": w.debt,
            "next_lot": w.next_lot,
            "entries": w.entry_base + len(w.entries),
            "earned": w.earned,
            "lot_changes": w.lot_changes,
        },
        "tiers": {
            "spend_by_day": [[day_text(d), o] for d, o in t.spend_by_day],
            "order_spend": {o: str(a) for o, a in t.order_spend.items()},
            "status_until": {str(i): day_text(d) for i, d in t.status_until.items()},
            "year_spend": {str(y): str(a) for y, a in t.year_spend.items()},
            "year_peak": {str(y): i for y, i in t.year_peak.items()},
            "year_base": {str(y): i for y, i in t.year_base.items()},
        },
        "certificates": [
            [
                c.code,
                c.kind,
                str(c.amount) if c.amount is not None else None,
                instant_text(c.issued_at),
                day_text(c.expires_on),
                c.delivery,
                _dt(c.redeemed_at),
                c.redeemed_order,
            ]
            for c in m.certificates
        ],
        "reward_balance": str(m.reward_balance),
        "actions_done": sorted(m.actions_done),
        "birthday_years": sorted(m.birthday_years),
        "next_month_at": _dt(m.next_month_at),
        "tier_lapse_at": _dt(m.tier_lapse_at),
        "reversed_points": m.reversed_points,
        "outbox": m.outbox_base + len(m.notifications),
    }


def member_from_dict(d: dict[str, Any], lots: list[Lot] | None = None) -> Member:
    """A member from its document and, unless the document holds them (written before stop 19),
    its lots in id order (their rows)."""
    wd = d["wallet"]
    if "lots" in wd:
        lots = [_lot_from_list(v) for v in wd["lots"]]
    elif lots is None:
        raise ValueError("this member document keeps its lots apart: give them")
    wallet = Wallet(lots=lots, debt=wd["debt"], next_lot=wd["next_lot"], entry_base=wd["entries"])
    wallet.earned = wd["earned"]
    wallet.lot_changes = wd.get("lot_changes", 0)
    td = d["tiers"]
    tiers = TierState(
        # sorted by day, as add_spend keeps it (older documents could hold a retro-credited
        # purchase out of order)
        spend_by_day=sorted((date.fromisoformat(x), o) for x, o in td["spend_by_day"]),
        order_spend={o: Decimal(a) for o, a in td["order_spend"].items()},
        status_until={int(i): date.fromisoformat(x) for i, x in td["status_until"].items()},
        year_spend={int(y): Decimal(a) for y, a in td["year_spend"].items()},
        year_peak={int(y): i for y, i in td["year_peak"].items()},
        year_base={int(y): i for y, i in td["year_base"].items()},
    )
    return Member(
        id=d["id"],
        number=d["number"],
        status=d["status"],
        profile=d["profile"],
        enrolled_at=_req(d["enrolled_at"]),
        clock=_req(d["clock"]),
        wallet=wallet,
        tiers=tiers,
        certificates=[
            Certificate(
                code,
                kind,
                Decimal(amount) if amount is not None else None,
                _req(issued),
                date.fromisoformat(expires),
                delivery,
                _pdt(redeemed),
                order,
            )
            for code, kind, amount, issued, expires, delivery, redeemed, order in d["certificates"]
        ],
        reward_balance=Decimal(d["reward_balance"]),
        actions_done=set(d["actions_done"]),
        birthday_years=set(d["birthday_years"]),
        next_month_at=_pdt(d["next_month_at"]),
        tier_lapse_at=_pdt(d.get("tier_lapse_at")),  # documents of stop 8 and before: none
        reversed_points=d["reversed_points"],
        outbox_base=d["outbox"],
    )


def json_text(data: Any) -> str:
    """``json.dumps(data, separators=(",", ":"))`` for documents of plain values, written by
    pydantic-core in Rust: ~3x faster on a member's document (8 us against 25 us for 2.3 KB), and
    byte for byte the same for printable ASCII text (other characters, DEL included, are written
    as they are, not as ``\\u`` escapes; both read back the same). Text that is not valid
    Unicode (a lone surrogate, which Python strings may hold) goes to ``json``, which escapes it."""
    try:
        return to_json(data).decode()
    except PydanticSerializationError:
        return json.dumps(data, separators=(",", ":"))


def dumps(m: Member) -> str:
    return json_text(member_to_dict(m))


def loads(text: str, lots: list[Lot] | None = None) -> Member:
    return member_from_dict(json.loads(text), lots)
