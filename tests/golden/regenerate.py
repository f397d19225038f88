"""Rebuild the golden snapshots ``tests/golden/{preset}-expected.json.gz`` with the code on the
path.

When is this legitimate? Only for an intended behaviour change that has been reviewed: the golden
test failed, every difference it reported is wanted (and explained in the commit), and the
regenerated files are committed with that change. Never to make a failing golden test pass: a
performance change must leave every snapshot byte-identical (``git diff`` shows no change to them
after a run of this script).

The snapshots were first made with the reference code, commit 84e58a5, by importing it instead of
the editable install (run from the repository root):

    git worktree add /tmp/golden-wt 84e58a5
    PYTHONPATH=/tmp/golden-wt/src python tests/golden/regenerate.py
    git worktree remove /tmp/golden-wt --force

Regenerated once since, reviewed, when the engine began to hold every instant in UTC: an adjust's
key and a campaign's digest now compare instants, not the offsets they were written with (the same
adjust or campaign repeated with the same instants written in UTC is a duplicate, no longer a
second adjustment or a conflict), and never-expiring lots are spent oldest first whatever offset
they were earned under (before, a lot earned at -05:00 sorted after one earned at -04:00).

Without ``PYTHONPATH`` it uses the current code. The snapshot builder is the test's own
(``tests/integration/test_golden_replay.py``: ``build_snapshot``), so there is only one.

``--histories`` also rebuilds the input histories ``{preset}-history.jsonl.gz``: the synthetic
history ``generate_history(program, members=200, months=12, seed=7)`` followed by the hand-written
lines of ``extra_lines``. The histories are committed so that the test does not depend on the
generator; rebuild them only to change what is tested, and then make the snapshots with the
reference code as above (the same run does both).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import loyalty  # noqa: E402
from loyalty import load_program, replay_lines  # noqa: E402
from tests.integration.test_golden_replay import (  # noqa: E402
    PRESETS,
    build_snapshot,
    expected_path,
    history_path,
    load_history,
    write_gzip,
)

MEMBERS, MONTHS, SEED = 200, 12, 7


def _line(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"))


def extra_lines(preset: str, history: list[str]) -> list[str]:
    """Hand-written inputs after the synthetic history, for paths it rarely or never takes."""
    program = load_program(preset)
    tz = ZoneInfo(program.timezone)
    events = [json.loads(line) for line in history]
    last = max(datetime.fromisoformat(e["at"]) for e in events)
    day = last.astimezone(tz).date() + timedelta(days=1)

    def at(hours: float, on: date = day, offset: ZoneInfo | None = None) -> str:
        moment = datetime.combine(on, time(10), tzinfo=tz) + timedelta(hours=hours)
        return moment.isoformat() if offset is None else moment.astimezone(offset).isoformat()

    engine = replay_lines(preset, history).engine
    active = [m for m in sorted(engine.members) if engine.summary(m)["status"] == "active"]
    member = active[0]
    first_purchase = next(
        line
        for line, e in zip(history, events, strict=True)
        if e["type"] == "purchase" and e.get("member") == member
    )
    conflicting = json.loads(first_purchase)
    conflicting["lines"][0]["amount"] = "1.23"
    channel = program.earning.channels[0] if program.earning.channels else "store"
    utc = ZoneInfo("UTC")
    adjust = {"type": "adjust", "at": at(0), "member": member, "points": 120, "reason": "goodwill"}
    campaign = {
        "type": "campaign",
        "at": at(1),
        "id": f"{preset}-extra-bonus",
        "starts": at(8),
        "ends": at(12),
        "bonus_points": 25,
        "min_spend": "50.00",
    }
    out = [
        _line(adjust),
        _line(adjust),  # an exact repeat: a duplicate, no change
        # the same adjustment, the same instant written in UTC
        _line({**adjust, "at": at(0, offset=utc)}),
        # an input in an offset that is neither the program's nor UTC
        _line(
            {
                "type": "adjust",
                "at": at(1, offset=ZoneInfo("Asia/Kolkata")),
                "member": member,
                "points": -50,
                "reason": "correction",
            }
        ),
        # a bonus campaign, then the same one with its instants written in UTC
        _line(campaign),
        _line({**campaign, "starts": at(8, offset=utc), "ends": at(12, offset=utc)}),
        _line({"type": "adjust", "at": at(1), "member": member, "points": 0, "reason": "zero"}),
        _line({"type": "adjust", "at": at(1), "member": "nobody", "points": 5, "reason": "x"}),
        first_purchase,  # a duplicate of an old purchase
        _line(conflicting),  # the same order id with another payload
        # bad input
        _line(
            {
                "type": "purchase",
                "at": at(1),
                "member": member,
                "order": f"{preset}-bad-1",
                "channel": channel,
                "lines": [{"sku": "X", "amount": "12.345"}],
            }
        ),
        _line({"type": "tick", "at": "2025-02-01T10:00:00"}),  # a time with no offset
        _line({"type": "teleport", "at": at(1)}),
        _line({"type": "tick", "at": at(1), "colour": "blue"}),
        _line(
            {
                "type": "purchase",
                "at": at(1),
                "member": member,
                "order": f"{preset}-bad-2",
                "channel": channel,
                "lines": [],
            }
        ),
        _line({"type": "tick", "at": "9999-01-01T00:00:00+00:00"}),
        _line(
            {
                "type": "redeem",
                "at": at(1),
                "member": member,
                "order": f"{preset}-bad-3",
                "blocks": 0,
                "subtotal": "10.00",
            }
        ),
        # an anonymous purchase, then claimed by the member (refused where there is no retro-credit)
        _line(
            {
                "type": "purchase",
                "at": at(2),
                "order": f"{preset}-extra-anon",
                "channel": channel,
                "lines": [{"sku": "A1", "amount": "64.50"}],
            }
        ),
        _line(
            {"type": "retro_credit", "at": at(3), "member": member, "order": f"{preset}-extra-anon"}
        ),
        _line(
            {"type": "retro_credit", "at": at(3), "member": member, "order": f"{preset}-unknown"}
        ),
        # a big purchase (tier upgrade), its shipment or early release, a partial return
        _line(
            {
                "type": "purchase",
                "at": at(4),
                "member": member,
                "order": f"{preset}-extra-1",
                "channel": channel,
                "shipping": "5.00",
                "tax": "7.25",
                "lines": [
                    {"sku": "B1", "amount": "1450.00"},
                    {"sku": "B2", "amount": "99.99"},
                    {"sku": "G1", "amount": "50.00", "kind": "gift_card"},
                ],
                "tenders": [{"type": "card", "amount": "1612.24"}],
            }
        ),
    ]
    if channel in program.pending.from_shipment_channels:
        out.append(_line({"type": "shipment", "at": at(5), "order": f"{preset}-extra-1"}))
    out.append(
        _line({"type": "release", "at": at(5.5), "member": member, "order": f"{preset}-extra-1"})
    )
    out.append(
        _line(
            {
                "type": "return",
                "at": at(6),
                "order": f"{preset}-extra-1",
                "return": f"{preset}-extra-1-r",
                "lines": [{"sku": "B2", "amount": "99.99"}],
            }
        )
    )
    # a certificate spent, then spent again
    holder, code, amount = None, None, "10.00"
    for candidate in active:
        for cert in engine.certificates(candidate):
            if cert.redeemed_at is None and cert.expires_on > day:
                holder, code = candidate, cert.code
                amount = str(cert.amount) if cert.amount is not None else "10.00"
                break
        if holder is not None:
            break
    if holder is not None:
        for n in (1, 2):
            out.append(
                _line(
                    {
                        "type": "purchase",
                        "at": at(6 + n),
                        "member": holder,
                        "order": f"{preset}-extra-cert-{n}",
                        "channel": channel,
                        "lines": [{"sku": "C1", "amount": "80.00"}],
                        "tenders": [
                            {"type": "certificate", "amount": amount, "code": code},
                            {"type": "card", "amount": "50.00"},
                        ],
                    }
                )
            )
    # actions: a once-only action twice (the second refused), a per-reference one repeated exactly
    done = engine.members[member].actions_done
    once = [a.id for a in program.actions if a.limit == "once" and a.id not in done]
    per_ref = [a.id for a in program.actions if a.limit == "per_ref"]
    for act, ref in [(a, r) for a in once[:1] for r in ("extra-a", "extra-b")] + [
        (a, "extra-c") for a in per_ref[:1] for _ in (1, 2)
    ]:
        out.append(
            _line({"type": "action", "at": at(9), "member": member, "action": act, "ref": ref})
        )
    redeem: dict[str, Any] = {
        "type": "redeem",
        "at": at(10),
        "member": member,
        "order": f"{preset}-extra-2",
        "subtotal": "100.00",
    }
    if program.rewards:
        redeem["reward"] = program.rewards[0].id
    else:
        redeem["blocks"] = 1
    out.append(_line(redeem))
    out.append(
        _line(
            {
                "type": "purchase",
                "at": at(10.5),
                "member": member,
                "order": f"{preset}-extra-2",
                "channel": channel,
                "lines": [{"sku": "D1", "amount": "100.00"}],
            }
        )
    )
    # time goes backwards (the message quotes two instants)
    out.append(_line({"type": "tick", "at": at(-48, offset=utc)}))
    # a year and more later: expiries, conversions, birthdays, requalification for everyone
    later = date(day.year + 1, 3, 1)
    out.append(_line({"type": "tick", "at": at(0, on=later)}))
    # a debt, then new points pay it
    out.append(
        _line(
            {
                "type": "adjust",
                "at": at(1, on=later),
                "member": member,
                "points": -100000,
                "reason": "fraud",
            }
        )
    )
    out.append(
        _line(
            {
                "type": "purchase",
                "at": at(2, on=later),
                "member": member,
                "order": f"{preset}-extra-3",
                "channel": channel,
                "lines": [{"sku": "E1", "amount": "300.00"}],
            }
        )
    )
    out.append(_line({"type": "tick", "at": at(0, on=later + timedelta(days=40))}))
    return out


def build_history(preset: str) -> list[str]:
    from loyalty.services.synthetic import generate_history

    history = list(
        generate_history(load_program(preset), members=MEMBERS, months=MONTHS, seed=SEED)
    )
    return history + extra_lines(preset, history)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Rebuild the golden snapshots (see the module docstring)."
    )
    parser.add_argument(
        "--histories", action="store_true", help="also rebuild the input histories (see above)"
    )
    parser.add_argument("presets", nargs="*", default=list(PRESETS))
    args = parser.parse_args(argv)
    print(f"using {Path(loyalty.__file__).parent}")
    for preset in args.presets:
        if args.histories:
            write_gzip(history_path(preset), "".join(f"{line}\n" for line in build_history(preset)))
        snapshot = build_snapshot(preset, load_history(preset))
        write_gzip(expected_path(preset), json.dumps(snapshot, sort_keys=True, indent=1) + "\n")
        print(
            f"{preset}: {len(snapshot['members'])} members, {snapshot['accepted']} accepted, "
            f"{len(snapshot['rejected'])} rejected -> {expected_path(preset).name}"
        )


if __name__ == "__main__":
    main()
