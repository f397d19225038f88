"""The engine: one program, its members, and ``apply(event) -> Outcome``.

Pure and deterministic: it never reads the clock; time arrives inside each event and jobs run as a
member's clock advances (see ``jobs``). An input is validated before anything changes; when it is
rejected, the jobs run for it are undone, so a rejected input changes nothing. Every input with an
idempotency key is remembered: an exact repeat returns the first outcome and changes nothing; the
same key with a different payload is rejected.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from loyalty.domain import handlers
from loyalty.domain.calendar import days_of, local_date, start_of_day, zone
from loyalty.domain.certificates import Certificate, certificate_code
from loyalty.domain.earning import CampaignRule
from loyalty.domain.errors import Conflict, LoyaltyError, UnknownReference
from loyalty.domain.events import Event, parse_event
from loyalty.domain.jobs import (
    advance,
    convert,
    monthly_work,
    next_due_by,
    next_monthly,
    refresh_tier_lapse,
    tier_lapse,
)
from loyalty.domain.ledger import Entry, Lot
from loyalty.domain.member import Member, Notification
from loyalty.domain.received import ACCEPTED, Outcome, Received, payload_digest
from loyalty.domain.registry import Registry
from loyalty.domain.rules import Rules, rules_of
from loyalty.domain.summary import member_summary, summary_day
from loyalty.domain.tiers import tier_on
from loyalty.programs.loader import version_at
from loyalty.programs.schema import Program


class Engine:
    """Runs one program. ``apply`` takes an event (JSON line, dict or parsed event)."""

    def __init__(self, program: Program, registry: Registry | None = None) -> None:
        self.tz = zone(program.timezone)
        ordered = sorted(program.versions, key=lambda v: v.effective)
        self._version_starts: list[datetime] = [start_of_day(v.effective, self.tz) for v in ordered]
        self._rules = [rules_of(version_at(program, i)) for i in range(len(ordered) + 1)]
        self.rules = self._rules[0]
        self.program = self.rules.program
        self.monthly_work = monthly_work(self._rules)
        self._trailing = any(v.tiers.window == "trailing_days" for v in self._rules)
        self.registry = registry if registry is not None else Registry()
        self._defers_fingerprints = self.registry.defers_fingerprints()
        self.now: datetime | None = None
        # A live service orders inputs per member (members are independent and run in parallel);
        # a replay or an import orders the whole file.
        self.member_time_order = False
        self._touched: list[tuple[Member, tuple[Any, ...] | None]] = []

    # -- program versions -------------------------------------------------------------------
    def program_at(self, at: datetime) -> Program:
        return self.rules_at(at).program

    def rules_at(self, at: datetime) -> Rules:
        """The settings of the program version in force at ``at``, as the engine reads them."""
        if not self._version_starts:
            return self.rules
        return self._rules[bisect_right(self._version_starts, at)]

    def local_text(self, at: datetime) -> str:
        """An instant as people read it: ISO-8601 in the program's time zone."""
        return at.astimezone(self.tz).isoformat()

    # -- applying inputs ----------------------------------------------------------------------
    def apply(self, raw: str | bytes | dict[str, Any] | Event) -> Outcome:
        try:
            # a tuple of types, not ``str | bytes | dict``: the compiled build makes that union anew
            # on every call (~500 instructions)
            event = raw if not isinstance(raw, (str, bytes, dict)) else parse_event(raw)
        except LoyaltyError as exc:
            return Outcome(False, exc)
        key = event.key()
        if key is not None:
            seen = self.registry.seen_input(key)
            if seen is not None:
                if seen.fingerprint() == payload_digest(event):
                    return replace(seen.outcome, duplicate=True)
                return Outcome(
                    False,
                    Conflict(
                        f"{key[0]} {' '.join(key[1:])} was already received with a different "
                        "payload",
                        key[0],
                    ),
                )
        at = event.at
        if self.now is not None and at < self.now:
            return Outcome(
                False,
                Conflict(
                    f"time goes backwards: {self.local_text(at)} is earlier than the last "
                    f"accepted input ({self.local_text(self.now)})",
                    "at",
                ),
            )
        try:
            message = handlers.HANDLERS[event.type](self, event)
        except LoyaltyError as exc:
            for member, saved in self._touched:
                if saved is not None:
                    for code in member.restore(saved):
                        self.registry.drop_code(code)
            self._touched.clear()
            return Outcome(False, exc)
        rules = self.rules_at(at)
        for member, _ in self._touched:
            member.wallet.undo = None  # accepted: the lots' changes need no undoing
            if at > member.clock:
                member.clock = at
            convert(rules, member, at, self.tz)
            if self._trailing:
                if self._version_starts:  # the tiers' settings may differ from version to version
                    member.tier_lapse_at = tier_lapse(rules, member, member.clock, self.tz)
                else:
                    refresh_tier_lapse(rules, member, self.tz)
            self.registry.changed(member)
        self._touched.clear()
        self.now = at
        outcome = ACCEPTED if message is None else Outcome(True, message=message)
        if key is not None:
            if isinstance(raw, dict) or not self._defers_fingerprints:
                # (a dict may change after the call)
                self.registry.remember_input(key, Received(payload_digest(event), None, outcome))
            elif outcome is ACCEPTED:
                self.registry.remember_accepted(key, raw)
            else:
                self.registry.remember_input(key, Received(None, raw, outcome))
        return outcome

    # -- members --------------------------------------------------------------------------------
    @property
    def members(self) -> dict[str, Member]:
        """The members loaded in memory (all of them for an in-memory engine)."""
        return self.registry.members

    @property
    def campaigns(self) -> list[CampaignRule]:
        return self.registry.campaigns()

    def member_at(self, member_id: str, at: datetime) -> Member:
        """The member, with its due jobs run up to ``at`` (undone if the input is rejected)."""
        member = self.registry.member(member_id)
        if member is None:
            raise UnknownReference(f"unknown member {member_id}", "member")
        if self.member_time_order and at < member.clock:
            raise Conflict(
                f"time goes backwards for member {member.id}: {self.local_text(at)} is earlier "
                f"than its last input ({self.local_text(member.clock)})",
                "at",
            )
        due = next_due_by(member, at)
        saved = member.checkpoint() if due is not None else None
        self._touched.append((member, saved))
        if saved is not None:
            self.run_jobs(member, at, due)
        return member

    def run_jobs(self, member: Member, until: datetime, due: datetime | None = None) -> None:
        """Run the member's jobs due at or before ``until`` (see ``jobs.advance``)."""
        advance(
            self.rules_at, member, until, self.tz, self.issue_certificate, self.monthly_work, due
        )

    def add_member(self, member: Member) -> None:
        self.registry.add_member(member)
        member.next_month_at = next_monthly(self.monthly_work, member, member.enrolled_at, self.tz)
        self._touched.append((member, None))

    def issue_certificate(
        self, member: Member, kind: str, amount: Decimal | None, at: datetime, validity_days: int
    ) -> Certificate:
        sequence = len(member.certificates) + 1
        code = certificate_code(self.program.id, member.id, sequence)
        while self.registry.code_owner(code) is not None:
            sequence += 1000
            code = certificate_code(self.program.id, member.id, sequence)
        expires_on = local_date(at, self.tz) + days_of(validity_days)
        delivery = member.profile.get("delivery", "email")
        cert = Certificate(code, kind, amount, at, expires_on, delivery)
        member.certificates.append(cert)
        self.registry.register_code(code, member.id)
        if kind == "reward":  # its code, amount, delivery and expiry (``Notification.data``)
            member.notifications.append(Notification(at, "certificate_issued", cert))
        return cert

    # -- reading ------------------------------------------------------------------------------
    def _member(self, member_id: str) -> Member:
        member = self.registry.member(member_id)
        if member is None:
            raise UnknownReference(f"unknown member {member_id}", "member")
        return member

    def _current(self, member_id: str) -> Member:
        member = self._member(member_id)
        if self.now is not None:
            self.run_jobs(member, self.now)
        return member

    def summary(self, member_id: str) -> dict[str, Any]:
        member = self._current(member_id)
        now = self.now or member.clock
        return member_summary(self.rules_at(now), member, now, self.tz)

    def summaries(self) -> dict[str, dict[str, Any]]:
        if self.now is None:  # each member at its own clock
            return {member_id: self.summary(member_id) for member_id in self.registry.member_ids()}
        now, rules, tz = self.now, self.rules_at(self.now), self.tz
        day = summary_day(now, tz)  # the same for every member
        return {
            member_id: member_summary(rules, self._current(member_id), now, tz, day)
            for member_id in self.registry.member_ids()
        }

    def ledger(self, member_id: str) -> list[Entry]:
        return list(self._current(member_id).wallet.entries)

    def lots(self, member_id: str) -> list[Lot]:
        return list(self._current(member_id).wallet.lots)

    def debt(self, member_id: str) -> int:
        return self._current(member_id).wallet.debt

    def notifications(self, member_id: str) -> list[Notification]:
        return list(self._current(member_id).notifications)

    def member_number(self, member_id: str) -> str:
        return self._member(member_id).number

    def find_member(
        self, number: str | None = None, email: str | None = None, phone: str | None = None
    ) -> str | None:
        """SM-2: find a member by member number, email or phone."""
        found = None
        if number is not None:
            found = self.registry.number_owner(number)
        email, phone = handlers.enroll_contacts(email, phone)  # as enrolments keep them
        if found is None and email is not None:
            found = self.registry.email_owner(email)
        if found is None and phone is not None:
            found = self.registry.phone_owner(phone)
        return found

    def certificates(self, member_id: str) -> list[Certificate]:
        """SM-9: a lost certificate is looked up by the member's identity (never re-issued)."""
        return list(self._current(member_id).certificates)

    def tier(self, member_id: str) -> str:
        member = self._current(member_id)
        now = self.now or member.clock
        tiers = self.rules_at(now).tiers
        return tiers.levels[tier_on(tiers, member.tiers, local_date(now, self.tz))].id

    def benefits(self, member_id: str, purchase_amount: Decimal | None = None) -> list[str]:
        """SG-13, SM-12: the benefits the member's tier gives (some only above a purchase)."""
        tier = self.tier(member_id)
        out = []
        for benefit in self.program_at(self.now or self._member(member_id).clock).benefits:
            if tier in benefit.tiers or (
                tier in benefit.min_purchase_tiers
                and benefit.min_purchase is not None
                and purchase_amount is not None
                and purchase_amount > benefit.min_purchase
            ):
                out.append(benefit.id)
        return out
