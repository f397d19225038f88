"""Property tests: ledger invariants over generated histories (SPEC §1, §2, §7, §8).

A history is a sequence of SPEC §7 input lines in non-decreasing time (plus a few deliberately
bad ones: time going backwards, malformed lines, unknown references, invalid returns, conflicting
idempotency keys, exact repeats). It is built step by step against a *driver* engine, so that
later events can refer to what earlier ones produced (orders and their lines, anonymous orders,
Soma certificate codes, member numbers for SM-2 linking).

Properties, for each preset:

1. available + pending == sum(lot.remaining) - debt, for every member;
2. 0 <= lot.remaining <= lot.points for every lot;
3. available + pending == sum of the member's ledger entries (the ledger reconciles);
4. replaying the same lines through fresh engines gives identical output (deterministic), and
   reading the engine between inputs (summaries, ledger, lots) does not change the outcome;
5. each line applied twice in a row gives the same state as each line once (an exact repeat is a
   no-op, accepted, never a rejection);
6. a rejected input (and an exact repeat) changes nothing, neither what the engine shows right
   after it nor what later inputs do: the history without its rejected lines ends the same;
7. there is no debt while an available (matured) lot still holds points (debt is paid first);
8. no lot is due (to mature or to expire) before its wallet's ``due_floor``, which spares an
   input the look at its member's lots; when the wallet holds it exact (``due_exact``), it is
   the first due moment itself;
9. whenever a member's lots change (one credited, matured, given its maturing time, spent,
   expired or forgotten), so does its wallet's count of lot changes, which a database stores in
   the member's document in place of the lots; a rejected input leaves the count as it was;
10. a trailing window's member holds the lapse of its tier as of its clock (SK-3: the status
   earned is kept through the same date a year later; kept between inputs while its statuses are
   unchanged: ``jobs.refresh_tier_lapse``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from loyalty import Engine, load_program, replay_lines
from loyalty.domain.jobs import tier_lapse

PRESETS = ["soko", "sogo", "soma"]
TZ = {"soko": "America/New_York", "sogo": "Asia/Kuala_Lumpur", "soma": "America/New_York"}

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

COMMON_KINDS = (
    ["purchase"] * 7
    + ["tick"] * 4
    + ["return"] * 4
    + ["shipment"] * 2
    + ["adjust"] * 2
    + ["campaign", "enroll", "repeat", "bad"]
)
EVENT_KINDS = {  # each program offers some inputs only: they are tried less elsewhere
    "soko": [*COMMON_KINDS, "action", "action", "redeem", "redeem", "redeem", "release"],
    "sogo": [*COMMON_KINDS, "release", "release", "redeem", "redeem", "redeem", "retro_credit"],
    "soma": [*COMMON_KINDS, "shipment", "retro_credit", "retro_credit", "action", "redeem"],
}
LINE_KINDS = ["merchandise"] * 6 + [
    "gift_card",
    "voucher",
    "promotional",
    "exchange",
    "service",
    "delivery",
    "dining",
]
CHANNELS = ["online", "online", "store", "popup", "outlet", "phone"]
SKUS = ["A", "B", "C", "D"]


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def cents(amount: str) -> int:
    whole, _, frac = amount.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


# -- generating a history against a driver engine --------------------------------------------------


@dataclass
class History:
    preset: str
    data: Any
    engine: Engine
    lines: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)  # ids usable in events (aliases too)
    aliases: dict[str, str] = field(default_factory=dict)  # SM-2 link: login -> member
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # accepted purchases
    counter: int = 0
    start: datetime = datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC"))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(TZ[self.preset])

    def draw(self, strategy: st.SearchStrategy[Any]) -> Any:
        return self.data.draw(strategy)

    def chance(self, n: int) -> bool:
        """True about once in ``n`` draws; shrinks to False (the ordinary case)."""
        return self.draw(st.integers(0, 2 * n - 1)) in (n - 1, n) if n > 1 else True

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    # time ----------------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.engine.now if self.engine.now is not None else self.start

    def stamp(self, at: datetime) -> str:
        return at.astimezone(self.tz).isoformat()

    def later(self, tick: bool = False) -> str:
        if tick:
            unit = self.draw(st.sampled_from(["hours", "days", "months", "months"]))
        else:
            unit = self.draw(st.sampled_from(["zero", "minutes", "hours", "hours", "days"]))
        if unit == "zero":
            delta = timedelta(0)
        elif unit == "minutes":
            delta = timedelta(minutes=self.draw(st.integers(1, 600)))
        elif unit == "hours":
            delta = timedelta(hours=self.draw(st.integers(1, 80)))
        elif unit == "days":
            delta = timedelta(
                days=self.draw(st.integers(1, 40)), hours=self.draw(st.integers(0, 23))
            )
        else:
            delta = timedelta(days=self.draw(st.integers(28, 800)))
        return self.stamp(self.now() + delta)

    # members -------------------------------------------------------------------------------------
    def member(self) -> str:
        """A known member (or alias), rarely an unknown one."""
        if not self.members or self.chance(12):
            return "ghost"
        return str(self.draw(st.sampled_from(self.members)))

    def person(self, mid: str) -> dict[str, Any]:
        n = self.counter
        event: dict[str, Any] = {
            "email": f"{mid}-{n}@example.com",
            "first_name": "Ada",
            "last_name": f"Member{n}",
            "phone": f"+1555{n:07d}",
            "address": f"{n} Main St",
            "country": self.draw(st.sampled_from(["US", "US", "US", "CA"])),
            "birth_month": self.draw(st.integers(1, 12)),
            "email_opt_in": self.draw(st.booleans()),
            "delivery": self.draw(st.sampled_from(["email", "mail"])),
        }
        if self.chance(10):  # a missing field (rejected where required)
            del event[self.draw(st.sampled_from(sorted(event)))]
        return event

    def enroll(self) -> dict[str, Any]:
        choice = self.draw(st.sampled_from(["new", "new", "new", "again", "link"]))
        if choice == "again" and self.members:
            mid = self.draw(st.sampled_from(self.members))
        else:
            mid = self.fresh("m")
        event = {"type": "enroll", "at": self.later(), "member": mid, **self.person(mid)}
        if choice == "link" and self.engine.members:  # SM-2: link a number to a new login
            target = self.draw(st.sampled_from(sorted(self.engine.members)))
            event["member_number"] = self.engine.member_number(target)
            self.aliases.setdefault(mid, target)
            if self.draw(st.booleans()):
                event.pop("email", None)
        return event

    # purchases -----------------------------------------------------------------------------------
    def certificates(self, member: str | None) -> list[tuple[str, int]]:
        """Usable (code, cents): the member's own ones (several times), then everybody's."""
        everybody = sorted(self.engine.members)
        own = [self.aliases.get(member, member)] * 4 if member in self.members else []
        return [
            (c["code"], cents(c["amount"] or "50.00"))
            for mid in own + everybody
            for c in self.engine.summary(mid)["certificates"]
            if c["status"] == "issued"
        ]

    def amount(self) -> int:
        """Cents: mostly everyday amounts, sometimes big enough to reach the top tiers."""
        if self.chance(3):
            return self.draw(st.integers(0, 400000 if self.preset == "sogo" else 60000))
        return self.draw(st.integers(0, 15000))

    def purchase(self) -> dict[str, Any]:
        member = None if self.chance(6) else self.member()
        n_lines = self.draw(st.integers(1, 4))
        lines = []
        for _ in range(n_lines):
            line: dict[str, Any] = {
                "sku": self.draw(st.sampled_from(SKUS)),
                "amount": money(self.amount()),
                "kind": self.draw(st.sampled_from(LINE_KINDS)),
            }
            if self.preset == "sogo" and self.chance(5):
                line["department"] = self.draw(st.sampled_from(["dining", "tenanted", "beauty"]))
            lines.append(line)
        merch = sum(cents(ln["amount"]) for ln in lines)
        tenders: list[dict[str, Any]] = []
        if self.chance(4):
            tenders.append({"type": "points", "amount": money(self.draw(st.integers(0, merch)))})
        if self.chance(6):
            tenders.append({"type": "gift_card", "amount": money(self.draw(st.integers(0, merch)))})
        certificates = self.certificates(member) if self.preset == "soma" else []
        if (certificates and not self.chance(3)) or self.chance(8):
            if not certificates or self.chance(5):
                certificates.append(("SOMA-NOPE", 500))  # unknown code
            for code, value in self.draw(
                st.lists(st.sampled_from(certificates), min_size=1, max_size=2)
            ):
                value = value + 100 if self.chance(6) else value  # more than it is worth
                tenders.append(
                    {
                        "type": "certificate",
                        "amount": money(self.draw(st.integers(0, value))),
                        "code": code,
                    }
                )
        tenders.append({"type": "card", "amount": money(merch)})
        order = self.fresh("o")
        if self.orders and self.chance(20):
            order = self.draw(st.sampled_from(sorted(self.orders)))  # key reuse: conflict
        return {
            "type": "purchase",
            "at": self.later(),
            "member": member,
            "order": order,
            "channel": self.draw(st.sampled_from(CHANNELS)),
            "lines": lines,
            "shipping": money(self.draw(st.integers(0, 1500))),
            "tax": money(self.draw(st.integers(0, 1500))),
            "tenders": tenders,
        }

    def some_order(self, anonymous: bool | None = None) -> str:
        orders = [
            o
            for o, info in self.orders.items()
            if anonymous is None or (info["member"] is None) == anonymous
        ]
        if not orders or self.chance(12):
            return "o-unknown"
        return str(self.draw(st.sampled_from(orders)))

    def return_(self) -> dict[str, Any]:
        order = self.some_order()
        info = self.orders.get(order)
        if info is None:
            lines = [{"sku": "A", "amount": "1.00"}]
        else:
            picked = self.draw(
                st.lists(
                    st.integers(0, len(info["lines"]) - 1),
                    min_size=1,
                    max_size=len(info["lines"]),
                    unique=True,
                )
            )
            lines = [
                {"sku": info["lines"][i]["sku"], "amount": info["lines"][i]["amount"]}
                for i in picked
            ]
            if self.chance(4):
                spoil = self.draw(st.sampled_from(["sku", "amount", "twice"]))
                if spoil == "sku":
                    lines[0]["sku"] = "Z"  # not in the order
                elif spoil == "amount":
                    lines[0]["amount"] = money(cents(lines[0]["amount"]) + 1)  # wrong amount
                else:
                    lines.append(dict(lines[0]))  # the same line twice
        return {
            "type": "return",
            "at": self.later(),
            "order": order,
            "return": self.fresh("r"),
            "lines": lines,
        }

    # the rest --------------------------------------------------------------------------------
    def richest(self) -> str | None:
        """Often the member with the most available points (redemptions that can succeed)."""
        members = sorted(self.engine.members)
        if not members or self.chance(2):
            return self.member()
        return max(members, key=lambda m: self.engine.summary(m)["points"]["available"])

    def redeem(self) -> dict[str, Any]:
        small = self.chance(4)
        event: dict[str, Any] = {
            "type": "redeem",
            "at": self.later(),
            "member": self.richest(),
            "order": self.fresh("ro"),
            "subtotal": money(
                self.draw(st.integers(0, 5000) if small else st.integers(3000, 50000))
            ),
        }
        use_blocks = self.preset == "sogo" and not self.chance(5)
        if use_blocks or (self.preset == "soma" and self.draw(st.booleans())):
            event["blocks"] = self.draw(st.integers(1, 3))
        else:
            rewards = ["10-off", "10-off", "20-off", "vip-gift", "nope"]
            event["reward"] = self.draw(st.sampled_from(rewards))
        return event

    def campaign(self) -> dict[str, Any]:
        at = self.later()
        starts = datetime.fromisoformat(at) + timedelta(hours=self.draw(st.integers(-72, 240)))
        ends = starts + timedelta(hours=self.draw(st.integers(1, 24 * 40)))
        cid = self.fresh("c")
        if self.chance(10):
            cid = "c-reused"
        event: dict[str, Any] = {
            "type": "campaign",
            "at": at,
            "id": cid,
            "starts": self.stamp(starts),
            "ends": self.stamp(ends),
            "multiplier": self.draw(st.sampled_from([None, "2", "1.5", "3"])),
            "bonus_points": self.draw(st.sampled_from([None, 0, 25, 100])),
            "min_spend": self.draw(st.sampled_from([None, "50.00"])),
            "channels": self.draw(st.sampled_from([None, ["online"], ["store", "outlet"]])),
            "combinable": self.draw(st.booleans()),
        }
        return event

    def bad(self) -> str:
        """A line that must be rejected: malformed or going back in time."""
        choice = self.draw(st.sampled_from(["field", "money", "naive", "type", "back", "json"]))
        at = self.later()
        base: dict[str, Any] = {"type": "tick", "at": at}
        if choice == "field":
            base["color"] = "red"
        elif choice == "money":
            lines = [{"sku": "A", "amount": "12.345"}]
            base = {"type": "purchase", "at": at, "order": "o-bad", "channel": "store"}
            base["lines"] = lines
        elif choice == "naive":
            base["at"] = at[:19]
        elif choice == "type":
            base["type"] = "teleport"
        elif choice == "back":
            back = self.now() - timedelta(hours=self.draw(st.integers(1, 500)))
            return json.dumps(
                {
                    "type": "adjust",
                    "at": self.stamp(back),
                    "member": "m1",
                    "points": 5,
                    "reason": "b",
                }
            )
        else:
            return json.dumps(base)[:-3]
        return json.dumps(base)

    def next_line(self) -> str:
        kind = self.draw(st.sampled_from(EVENT_KINDS[self.preset]))
        event: dict[str, Any]
        if kind == "purchase":
            event = self.purchase()
        elif kind == "tick":
            event = {"type": "tick", "at": self.later(tick=True)}
        elif kind == "return":
            event = self.return_()
        elif kind == "shipment":
            event = {"type": "shipment", "at": self.later(), "order": self.some_order()}
        elif kind == "redeem":
            event = self.redeem()
        elif kind == "adjust":
            size = self.draw(st.sampled_from([400, 3000, 6000, 6000]))
            low = -size if size < 6000 else 500
            event = {
                "type": "adjust",
                "at": self.later(),
                "member": self.member(),
                "points": self.draw(st.integers(low, size)),
                "reason": self.draw(st.sampled_from(["goodwill", "correction"])),
            }
        elif kind == "action":
            event = {
                "type": "action",
                "at": self.later(),
                "member": self.member(),
                "action": self.draw(st.sampled_from(["instagram_follow", "review", "photo", "x"])),
                "ref": self.draw(st.sampled_from(["p1", "p2", "p3"])),
            }
        elif kind == "release":
            order = self.some_order(anonymous=False)
            owned = [o for o, info in self.orders.items() if info["member"] is not None]
            if owned and self.draw(st.booleans()):
                order = owned[-1]  # the latest order: maybe still pending
            owner = self.orders.get(order, {}).get("member")
            event = {
                "type": "release",
                "at": self.later(),
                "member": owner if owner and not self.chance(4) else self.member(),
                "order": order,
            }
        elif kind == "retro_credit":
            event = {
                "type": "retro_credit",
                "at": self.later(),
                "member": self.member(),
                "order": self.some_order(anonymous=True),
            }
        elif kind == "campaign":
            event = self.campaign()
        elif kind == "enroll":
            event = self.enroll()
        elif kind == "repeat" and self.lines:
            old = self.draw(st.sampled_from(self.lines))
            if self.draw(st.booleans()):
                return old  # verbatim (possibly an earlier time: still an exact repeat)
            try:
                event = json.loads(old)
                event["at"] = self.later()
            except (ValueError, TypeError):
                return old
        else:
            return self.bad()
        return json.dumps(event)

    def record(self, line: str, accepted: bool) -> None:
        """Remember what the accepted line created, for later events to refer to."""
        self.lines.append(line)
        if not accepted:
            return
        event = json.loads(line)
        if event["type"] == "enroll" and event["member"] not in self.members:
            self.members.append(event["member"])
        elif event["type"] == "purchase" and event["order"] not in self.orders:
            self.orders[event["order"]] = {"member": event["member"], "lines": event["lines"]}
        elif event["type"] == "retro_credit" and event["order"] in self.orders:
            self.orders[event["order"]]["member"] = event["member"]


def build(preset: str, data: Any, check: Any = None, before: Any = None) -> History:
    """Draw a history, applying each line to a driver engine. ``before(engine)`` is called before
    each line and its result passed to ``check(engine, line, outcome, state_before)`` after."""
    history = History(preset, data, Engine(load_program(preset)))
    history.start = datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC")) + timedelta(
        days=data.draw(st.integers(0, 365)), hours=data.draw(st.integers(0, 23))
    )
    enrolls = data.draw(st.integers(1, 3))  # a few members first
    try:
        for i in range(enrolls + data.draw(st.integers(8, 40))):
            if i < enrolls:
                mid = history.fresh("m")
                event = {"type": "enroll", "at": history.later(), "member": mid}
                line = json.dumps({**event, **history.person(mid)})
            else:
                line = history.next_line()
            state = before(history.engine) if before is not None else None
            outcome = history.engine.apply(line)
            history.record(line, outcome.accepted)
            if check is not None:
                check(history.engine, line, outcome, state)
    finally:  # shown with a failing example: the history, one line per input (SPEC §7)
        note(f"{preset} history:\n" + "\n".join(history.lines))
    return history


# -- observations ----------------------------------------------------------------------------------


def balances_reconcile(engine: Engine, line: str = "", *_: Any) -> None:
    """Properties 1, 2, 3 and 7 for every member, at the engine's current time."""
    for mid in engine.members:
        # 8, first: reading the member below looks at its lots, which makes the floor exact
        wallet = engine.members[mid].wallet
        dues = [lot.available_at for lot in wallet.lots if not lot.matured and lot.available_at]
        dues += [lot.expires_at for lot in wallet.lots if lot.remaining and lot.expires_at]
        floor = wallet.due_floor
        if dues:
            assert floor is not None and floor <= min(dues), f"member {mid} after {line}: {floor}"
        if wallet.due_exact:  # and exactly the first due moment, when the wallet says so
            assert floor == (min(dues) if dues else None), f"member {mid} after {line}: {floor}"
        member = engine.members[mid]  # 10: the tier's lapse, kept or worked out again
        if engine.rules.tiers.window == "trailing_days" and member.clock is not None:
            lapse = tier_lapse(engine.rules, member, member.clock, engine.tz)
            assert member.tier_lapse_at == lapse, f"member {mid} after {line}"
        points = engine.summary(mid)["points"]
        lots = engine.lots(mid)
        debt = engine.debt(mid)
        ledger = engine.ledger(mid)
        balance = points["available"] + points["pending"]
        context = f"member {mid} after {line}"
        assert balance == sum(lot.remaining for lot in lots) - debt, context  # 1
        for lot in lots:  # 2
            assert 0 <= lot.remaining <= lot.points, f"{context}: lot {lot}"
        assert balance == sum(entry.points for entry in ledger), context  # 3
        assert debt >= 0, context
        if debt > 0:  # 7
            holding = [lot for lot in lots if lot.matured and lot.remaining > 0]
            assert not holding, f"{context}: debt {debt} while available lots hold {holding}"
        # and, cheaply: what expires this month is points the lots hold
        assert 0 <= points["expiring_this_month"] <= sum(lot.remaining for lot in lots), context


def fingerprint(engine: Engine) -> Any:
    """What the engine shows of every member (reading it runs no job beyond ``now``)."""
    members = {}
    for mid in engine.members:
        members[mid] = (
            engine.summary(mid),
            [(e.kind, e.points, e.ref, e.at) for e in engine.ledger(mid)],
            [(lot.id, lot.remaining, lot.matured, lot.available_at) for lot in engine.lots(mid)],
            engine.debt(mid),
            len(engine.notifications(mid)),
        )
    return engine.now, members


# Input types whose exact repeats the engine does not dedupe (none: adjusts were, until fixed).
NOT_DEDUPED: set[str] = set()


# -- the properties --------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", PRESETS)
@SETTINGS
@given(data=st.data())
def test_balances_reconcile_with_lots_and_ledger(preset: str, data: Any) -> None:
    """1, 2, 3, 7 after every input and at the end (including a tick far into the future)."""
    history = build(preset, data, check=balances_reconcile)
    far = history.now() + timedelta(days=800)
    assert history.engine.apply({"type": "tick", "at": far.isoformat()}).accepted
    balances_reconcile(history.engine, "final tick")


def lot_states(engine: Engine) -> dict[str, tuple[int, list[tuple[Any, ...]]]]:
    """Each member's count of lot changes and its lots' states, as the engine holds them (read
    without running any job)."""
    return {
        mid: (
            member.wallet.lot_changes,
            [(lot.id, lot.remaining, lot.matured, lot.available_at) for lot in member.wallet.lots],
        )
        for mid, member in engine.members.items()
    }


@pytest.mark.parametrize("preset", PRESETS)
@SETTINGS
@given(data=st.data())
def test_every_change_to_the_lots_is_counted(preset: str, data: Any) -> None:
    """9, after every input and after reading every member (which runs its due jobs)."""

    def check(engine: Engine, line: str, outcome: Any, before: Any) -> None:
        after = lot_states(engine)
        for mid, (count, lots) in after.items():
            if mid not in before:
                continue
            if lots != before[mid][1]:
                assert count > before[mid][0], f"member {mid}'s lots changed uncounted: {line}"
            if not outcome.accepted:
                assert count == before[mid][0], f"rejected {line} left a count of lot changes"
        read = lot_states(engine)
        engine.summaries()  # the jobs due by now run as each member is read
        check_read(read, lot_states(engine))

    def check_read(before: Any, after: Any) -> None:
        for mid, (count, lots) in after.items():
            if lots != before[mid][1]:
                assert count > before[mid][0], f"member {mid}'s lots changed uncounted when read"

    history = build(preset, data, check=check, before=lot_states)
    read = lot_states(history.engine)
    far = history.now() + timedelta(days=800)
    assert history.engine.apply({"type": "tick", "at": far.isoformat()}).accepted
    history.engine.summaries()
    check_read(read, lot_states(history.engine))


@pytest.mark.parametrize("preset", PRESETS)
@SETTINGS
@given(data=st.data())
def test_rejected_input_changes_nothing(preset: str, data: Any) -> None:
    """6: the state after a rejected input (or an exact repeat) equals the state just before it,
    and replaying only the accepted lines ends in the same state as the whole history."""
    accepted: list[str] = []

    def check(engine: Engine, line: str, outcome: Any, state: Any) -> None:
        if outcome.accepted:
            accepted.append(line)
        if not outcome.accepted or outcome.duplicate:
            assert fingerprint(engine) == state, f"{line} ({outcome}) changed the state"

    history = build(preset, data, check=check, before=fingerprint)
    # nothing hidden either: the history without its rejected lines ends in the same state
    without = replay_lines(preset, accepted)
    assert without.rejected == []
    assert fingerprint(without.engine) == fingerprint(history.engine)


@pytest.mark.parametrize("preset", PRESETS)
@SETTINGS
@given(data=st.data())
def test_replay_is_deterministic(preset: str, data: Any) -> None:
    """4: two fresh replays agree; so does the driver engine, which was read after every input."""
    history = build(preset, data, check=balances_reconcile)
    first = replay_lines(preset, history.lines).output()
    second = replay_lines(preset, history.lines).output()
    assert first == second
    assert first["members"] == history.engine.summaries()


@pytest.mark.parametrize("preset", PRESETS)
@SETTINGS
@given(data=st.data())
def test_exact_repeat_is_a_no_op(preset: str, data: Any) -> None:
    """5: applying each line twice in a row == applying it once; a repeat of an accepted line is
    accepted (not a rejection), a repeat of a rejected line is rejected again. (Adjust lines are
    not repeated while the engine does not dedupe them: see ``NOT_DEDUPED``.)"""
    history = build(preset, data)
    once = Engine(load_program(preset))
    twice = Engine(load_program(preset))
    for line in history.lines:
        first = once.apply(line)
        a = twice.apply(line)
        assert a.accepted == first.accepted, line
        if '"type": "adjust"' in line and "adjust" in NOT_DEDUPED:
            continue
        b = twice.apply(line)
        assert b.accepted == first.accepted, f"repeat of {line}: {b.error}"
        if first.accepted and json.loads(line)["type"] != "tick":
            assert b.duplicate, line
    assert twice.summaries() == once.summaries()
    assert fingerprint(twice) == fingerprint(once)
