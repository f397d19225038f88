"""The program-wide registries the engine consults besides the member itself: members and their
aliases (SM-2), member numbers, emails and phones (SG-1: one per person), orders (and purchases
made without a member, for retro-credit), certificate codes, campaigns and received inputs
(idempotency).

This class keeps them in memory (replay, simulation, tests). A storage adapter subclasses it and
answers a miss from its database, so the same engine runs over a file of millions of members.

The compiled build compiles it too (the engine calls it ~10 times an input; an interpreted call
costs ~1,300 instructions), marked ``allow_interpreted_subclasses`` so that a plain Python
class (the storage adapter in the plain build, a test's) can still subclass it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from loyalty.domain.earning import CampaignRule
from loyalty.domain.events import Event
from loyalty.domain.member import Member, Order
from loyalty.domain.received import Received

try:  # the decorator only speaks to mypyc; plain installs do without mypy_extensions
    from mypy_extensions import mypyc_attr
except ImportError:  # pragma: no cover

    def mypyc_attr(*attrs: str, **kwattrs: object) -> Any:  # type: ignore[misc]
        return lambda cls: cls


@mypyc_attr(allow_interpreted_subclasses=True)
class Registry:
    def __init__(self) -> None:
        self.members: dict[str, Member] = {}
        self.aliases: dict[str, str] = {}
        self.by_number: dict[str, str] = {}
        self.by_email: dict[str, str] = {}
        self.by_phone: dict[str, str] = {}
        self.orders: dict[str, str | None] = {}
        self.anonymous: dict[str, Order] = {}
        self.codes: dict[str, str] = {}
        self.campaign_rules: list[CampaignRule] = []
        # received inputs by the kind of their key, then by the rest of it: the one identifier
        # most keys have besides their kind (an order, a member: held by the state anyway), else
        # a tuple; the value is a ``Received`` or, for an input accepted without a message, the
        # line or event itself (``remember_accepted``)
        self.inputs: dict[str, dict[Any, Received | str | bytes | Event]] = {}
        self.member_seq = 0

    # -- members ---------------------------------------------------------------------------
    def resolve(self, member_id: str) -> str:
        return self.aliases.get(member_id, member_id)

    def member(self, member_id: str) -> Member | None:
        return self.members.get(self.resolve(member_id))

    def is_taken(self, member_id: str) -> bool:
        return member_id in self.aliases or self.member(member_id) is not None

    def add_member(self, member: Member) -> None:
        self.members[member.id] = member
        self.by_number[member.number] = member.id

    def add_alias(self, alias: str, member_id: str) -> None:
        self.aliases[alias] = member_id

    def next_member_seq(self) -> int:
        self.member_seq += 1
        return self.member_seq

    def member_ids(self) -> Iterator[str]:
        return iter(list(self.members))

    def changed(self, member: Member) -> None:
        """An accepted input (or a job) changed ``member``: storage adapters write it back."""

    # -- identifiers -----------------------------------------------------------------------
    def number_owner(self, number: str) -> str | None:
        return self.by_number.get(number)

    def email_owner(self, email: str) -> str | None:
        return self.by_email.get(email)

    def phone_owner(self, phone: str) -> str | None:
        return self.by_phone.get(phone)

    def register_contacts(self, member_id: str, email: str | None, phone: str | None) -> None:
        """The first member to give an email or phone keeps it for look-ups (where the program
        lets several members share one)."""
        if email:
            self.by_email.setdefault(email, member_id)
        if phone:
            self.by_phone.setdefault(phone, member_id)

    # -- orders ----------------------------------------------------------------------------
    def has_order(self, order_id: str) -> bool:
        return order_id in self.orders

    def order_owner(self, order_id: str) -> str | None:
        return self.orders.get(order_id)

    def record_order(self, order: Order) -> None:
        self.orders[order.order] = order.member
        if order.member is None:
            self.anonymous[order.order] = order

    def anonymous_order(self, order_id: str) -> Order:
        return self.anonymous[order_id]

    def claim_order(self, order: Order, member_id: str) -> None:
        self.anonymous.pop(order.order, None)
        self.orders[order.order] = member_id

    def touch_anonymous(self, order: Order) -> None:
        """An anonymous order changed (shipped, lines returned)."""

    def member_order(self, member: Member, order_id: str) -> Order | None:
        """One of the member's orders (a storage adapter loads it on demand)."""
        return member.orders.get(order_id)

    def add_member_order(self, member: Member, order: Order) -> None:
        member.orders[order.order] = order

    def member_orders(self, member: Member, years: tuple[int, ...]) -> list[Order]:
        """The member's orders made (local date) in ``years``, in the order they were made."""
        found = [o for o in member.orders.values() if o.day.year in years]
        return sorted(found, key=lambda o: (o.credited_at or o.at, o.order))

    # -- certificates, campaigns, inputs ---------------------------------------------------
    def code_owner(self, code: str) -> str | None:
        return self.codes.get(code)

    def register_code(self, code: str, member_id: str) -> None:
        self.codes[code] = member_id

    def drop_code(self, code: str) -> None:
        self.codes.pop(code, None)

    def campaigns(self) -> list[CampaignRule]:
        return self.campaign_rules

    def add_campaign(self, rule: CampaignRule) -> None:
        self.campaign_rules.append(rule)

    def defers_fingerprints(self) -> bool:
        """Whether inputs are remembered as they came, their fingerprint computed only when their
        key comes again (see ``Received``); a storage adapter stores the fingerprint at once."""
        return True

    def seen_input(self, key: tuple[str, ...]) -> Received | None:
        kept = self.inputs.get(key[0])
        if kept is None:
            return None
        rest = _rest(key)
        found = kept.get(rest)
        if found is None or isinstance(found, Received):
            return found
        received = kept[rest] = Received(None, found)  # fingerprinted once, if ever
        return received

    def remember_input(self, key: tuple[str, ...], received: Received) -> None:
        self._keep_input(key, received)

    def remember_accepted(self, key: tuple[str, ...], source: str | bytes | Event) -> None:
        """An input accepted without a message, kept as it came (``Received``: its fingerprint
        is only needed if its key comes again, which few do); only when ``defers_fingerprints``."""
        self._keep_input(key, source)

    def _keep_input(self, key: tuple[str, ...], value: Received | str | bytes | Event) -> None:
        kept = self.inputs.get(key[0])
        if kept is None:
            kept = self.inputs[key[0]] = {}
        kept[_rest(key)] = value


def _rest(key: tuple[str, ...]) -> Any:
    """A received input's key without its kind: its one identifier (most keys), else the tuple
    of the rest."""
    return key[1] if len(key) == 2 else key[1:]
