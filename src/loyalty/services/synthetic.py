"""Realistic synthetic histories, deterministic by seed: repeat buyers with their own pace,
seasonality (December and the summer sale busier), basket sizes, excluded lines, returns,
redemptions, shipments, actions, early releases, campaigns and month-end ticks.

The generator knows the program only as data (channels, rewards, blocks, actions): it works for any
program file, not just the presets. It does not run the engine, so a few of its redemptions may be
refused for want of points, as in real life.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from loyalty.programs.schema import Program

SEASON = [0.8, 0.7, 0.9, 0.9, 1.0, 1.0, 1.1, 1.0, 0.9, 1.0, 1.3, 1.8]
START = datetime(2024, 1, 1)


def _money(rng: random.Random, median: float) -> str:
    value = max(1.0, rng.lognormvariate(0, 0.7) * median)
    return f"{Decimal(value).quantize(Decimal('0.01'))}"


def _at(moment: datetime, tz: ZoneInfo) -> str:
    return moment.replace(tzinfo=tz).isoformat()


def _member_events(
    program: Program, rng: random.Random, index: int, months: int, tz: ZoneInfo
) -> list[tuple[datetime, int, dict[str, Any]]]:
    mid = f"{program.id}-{index:06d}"
    horizon = START + timedelta(days=30 * months)
    joined = START + timedelta(days=rng.uniform(0, 30 * months * 0.5), hours=rng.uniform(9, 20))
    joined = joined.replace(microsecond=0)
    country = (
        "CA" if "CA" in program.enrollment.excluded_countries and rng.random() < 0.02 else "US"
    )
    out: list[tuple[datetime, int, dict[str, Any]]] = []
    seq = 0

    def add(moment: datetime, event: dict[str, Any]) -> None:
        nonlocal seq
        seq += 1
        out.append((moment, seq, {"type": event.pop("type"), "at": _at(moment, tz), **event}))

    add(
        joined,
        {
            "type": "enroll",
            "member": mid,
            "email": f"{mid}@example.com",
            "first_name": "Ada",
            "last_name": f"Member{index}",
            "phone": f"+1555{index:07d}",
            "address": f"{index} Main St",
            "country": country,
            "birth_month": rng.randint(1, 12),
            "email_opt_in": rng.random() < 0.7,
            "delivery": "email" if rng.random() < 0.8 else "mail",
        },
    )
    pace = rng.choice([2, 5, 9, 14, 25])  # purchases a year
    median = {"USD": 45.0, "MYR": 180.0}.get(program.currency, 50.0)
    channels = list(program.earning.channels) or ["store"]
    moment = joined
    n_order = 0
    balance = program.enrollment.signup_points
    while True:
        month = moment.month - 1
        gap = rng.expovariate(pace * SEASON[month] / 365.0)
        moment = moment + timedelta(days=gap, minutes=rng.randint(1, 600))
        moment = moment.replace(microsecond=0)
        if moment >= horizon:
            break
        n_order += 1
        order = f"{mid}-o{n_order}"
        lines: list[dict[str, Any]] = []
        for n in range(rng.choice([1, 1, 2, 2, 3, 4])):
            kind = "merchandise"
            roll = rng.random()
            if roll < 0.05:
                kind = "gift_card"
            elif roll < 0.08:
                kind = "promotional"
            lines.append(
                {
                    "sku": f"S{n}{rng.randint(100, 999)}",
                    "amount": _money(rng, median),
                    "kind": kind,
                    "department": None,
                    "brand": None,
                }
            )
        channel = rng.choice(channels)
        total = sum((Decimal(str(ln["amount"])) for ln in lines), start=Decimal(0))
        tenders = [{"type": "card", "amount": str(total), "code": None}]
        redeem_first = None
        if program.blocks and balance >= program.blocks.block_points and rng.random() < 0.5:
            blocks = 1
            value = program.blocks.block_value
            if value <= total:
                redeem_first = {
                    "type": "redeem",
                    "member": mid,
                    "reward": None,
                    "blocks": blocks,
                    "order": order,
                    "subtotal": str(total),
                }
                tenders = [
                    {"type": "points", "amount": str(value), "code": None},
                    {"type": "card", "amount": str(total - value), "code": None},
                ]
                balance -= program.blocks.block_points
        elif program.rewards and rng.random() < 0.3:
            reward = program.rewards[0]
            if balance >= reward.cost and reward.value <= total:
                redeem_first = {
                    "type": "redeem",
                    "member": mid,
                    "reward": reward.id,
                    "blocks": None,
                    "order": order,
                    "subtotal": str(total),
                }
                balance -= reward.cost
        if redeem_first is not None:
            add(moment - timedelta(minutes=1), redeem_first)
        add(
            moment,
            {
                "type": "purchase",
                "member": mid,
                "order": order,
                "channel": channel,
                "lines": lines,
                "shipping": "5.00" if channel == "online" else "0.00",
                "tax": "0.00",
                "tenders": tenders,
            },
        )
        balance += int(total)
        if channel in program.pending.from_shipment_channels:
            add(moment + timedelta(days=rng.uniform(0.5, 3)), {"type": "shipment", "order": order})
        if program.pending.early_release and rng.random() < 0.05:
            add(moment + timedelta(hours=2), {"type": "release", "member": mid, "order": order})
        elif rng.random() < 0.08:
            returned = rng.choice(lines)
            add(
                moment + timedelta(days=rng.uniform(1, 25)),
                {
                    "type": "return",
                    "order": order,
                    "return": f"{order}-r",
                    "lines": [{"sku": returned["sku"], "amount": returned["amount"]}],
                },
            )
        if program.actions and rng.random() < 0.1:
            act = rng.choice(program.actions)
            add(
                moment + timedelta(hours=5),
                {"type": "action", "member": mid, "action": act.id, "ref": f"{order}-{act.id}"},
            )
    return out


def generate_history(
    program: Program, *, members: int, months: int = 12, seed: int = 1
) -> Iterator[str]:
    """Yield JSON lines in time order."""
    rng = random.Random(seed)
    tz = ZoneInfo(program.timezone)
    events: list[tuple[datetime, int, int, dict[str, Any]]] = []
    for index in range(members):
        member_rng = random.Random(rng.getrandbits(64))
        for moment, seq, event in _member_events(program, member_rng, index, months, tz):
            events.append((moment, index, seq, event))
    for month in range(0, months, 3):
        starts = START + timedelta(days=30 * month + 10)
        events.append(
            (
                starts - timedelta(days=1),
                -1,
                month,
                {
                    "type": "campaign",
                    "at": _at(starts - timedelta(days=1), tz),
                    "id": f"members-day-{month}",
                    "starts": _at(starts, tz),
                    "ends": _at(starts + timedelta(days=2), tz),
                    "multiplier": "2",
                    "bonus_points": None,
                    "min_spend": None,
                    "channels": None,
                    "combinable": False,
                },
            )
        )
    for month in range(1, months + 1):
        moment = START + timedelta(days=30 * month)
        events.append((moment, -1, 10_000 + month, {"type": "tick", "at": _at(moment, tz)}))
    # by the instant (local wall time repeats an hour when daylight saving time ends)
    events.sort(key=lambda e: (e[0].replace(tzinfo=tz).timestamp(), e[1], e[2]))
    for _, _, _, event in events:
        yield json.dumps(event, separators=(",", ":"))
