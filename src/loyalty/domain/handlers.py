"""One handler per input type (SPEC §7). Each validates everything first and only then changes
state, so that a rejection (an exception) leaves nothing half done.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from math import ceil
from typing import TYPE_CHECKING, Any, Final

from loyalty.domain import numbers
from loyalty.domain.calendar import local_date
from loyalty.domain.earning import CampaignRule, earn, line_eligible, qualifying_amount, reearn
from loyalty.domain.errors import (
    Conflict,
    InsufficientPoints,
    InvalidInput,
    NotAllowed,
    UnknownReference,
)
from loyalty.domain.events import (
    ActionEvent,
    Adjust,
    Campaign,
    Enroll,
    Purchase,
    Redeem,
    Release,
    RetroCredit,
    Return,
    Shipment,
    Tick,
)
from loyalty.domain.jobs import birthday_gift, reschedule
from loyalty.domain.ledger import Lot
from loyalty.domain.lifecycle import available_at, expires_at
from loyalty.domain.member import Member, Notification, Order, OrderLine
from loyalty.domain.money import ZERO, floor_points
from loyalty.domain.rules import Rules
from loyalty.domain.tiers import add_spend, remove_spend, supported, tier_on

if TYPE_CHECKING:
    from loyalty.domain.engine import Engine


# the ASCII characters a phone number drops: all but digits and "+"
_NOT_PHONE = bytes(c for c in range(128) if not (chr(c).isdigit() or chr(c) == "+"))


def normal_phone(phone: str) -> str:
    if phone.isascii():  # one pass in C: a quarter of the cost of the generator below
        return phone.encode().translate(None, _NOT_PHONE).decode()
    return "".join(ch for ch in phone if ch.isdigit() or ch == "+")


def _suspended(program: Rules, member: Member) -> bool:
    return program.negative_balance == "suspend" and member.wallet.available < 0


# -- enroll (SK-1, SG-1, SM-1, SM-2) -------------------------------------------------------------
def enroll_contacts(email: str | None, phone: str | None) -> tuple[str | None, str | None]:
    """The email and phone an enrolment gives, as they are kept for look-ups (SK-1: a blank one
    is none): ``" Ana@X.com "`` -> ``"ana@x.com"``, ``"+1 (555) 010"`` -> ``"+1555010"``."""
    kept_email = email.strip().lower() if email is not None and email.strip() else None
    kept_phone = normal_phone(phone) if phone is not None and phone.strip() else None
    return kept_email, kept_phone


def enroll(engine: Engine, e: Enroll) -> str | None:
    at, member_id, number = e.at, e.member, e.member_number  # each read once (see ``purchase``)
    program = engine.rules_at(at)
    rules = program.enrollment
    registry = engine.registry
    if registry.is_taken(member_id):
        raise Conflict(f"member {member_id} is already enrolled", "member")
    given: dict[str, Any] = {
        "email": e.email,
        "first_name": e.first_name,
        "last_name": e.last_name,
        "phone": e.phone,
        "address": e.address,
        "country": e.country,
        "birth_month": e.birth_month,
    }
    fields = {k: v for k, v in given.items() if not _blank(v)}
    email, phone = enroll_contacts(given["email"], given["phone"])
    target: str | None = None
    if number is not None:
        if not rules.link_member_number:
            raise NotAllowed(
                "this program does not link a registration to an existing member number "
                "(one account per person)",
                "member_number",
            )
        if not numbers.is_valid(number):
            raise InvalidInput("not a valid member number (check digit)", "member_number")
        target = registry.number_owner(number)
        if target is None:
            raise UnknownReference(f"no member has number {number}", "member_number")
    if email and rules.unique_email and _other(registry.email_owner(email), target):
        raise Conflict("a member with this email already exists (one per person)", "email")
    if phone and rules.unique_phone and _other(registry.phone_owner(phone), target):
        raise Conflict("a member with this phone already exists (one per person)", "phone")
    missing = [f for f in rules.required_fields if f not in fields]
    if missing and target is None:  # a link (SM-2) joins an account that has them already
        raise InvalidInput(f"missing required fields: {', '.join(missing)}", missing[0])
    if target is not None:  # SM-2: link an online registration to a boutique number
        member = engine.member_at(target, at)
        # what the registration leaves out keeps its value (opt-in and delivery included)
        member.profile.update(fields)
        if e.opt_in_given:
            member.profile["email_opt_in"] = e.email_opt_in
        if e.delivery_given:
            member.profile["delivery"] = e.delivery
        reschedule(engine.monthly_work, member, at, engine.tz)  # a birth month learnt
        registry.add_alias(member_id, target)
        registry.register_contacts(target, email, phone)
        return f"linked to member {target} ({member.number})"
    country = given["country"]
    excluded = country is not None and country in rules.excluded_countries
    sequence = registry.next_member_seq()
    member = Member(
        id=member_id,
        number=numbers.member_number(rules.member_number_prefix, sequence),
        status="not_enrolled" if excluded else "active",
        profile={**fields, "email_opt_in": e.email_opt_in, "delivery": e.delivery},
        enrolled_at=at,
        clock=at,
    )
    engine.add_member(member)
    registry.register_contacts(member_id, email, phone)
    if excluded:
        member.notifications.append(
            Notification(at, "not_enrolled", {"reason": rules.excluded_reason})
        )
        return f"not enrolled: {rules.excluded_reason}"
    signup = rules.signup_points
    if signup:
        member.wallet.credit(
            at,
            "signup",
            signup,
            "signup",
            earned_at=at,
            available_at=at,
            expires_at=expires_at(program.expiry, at, engine.tz),
        )
    birthday_gift(program, member, at, engine.tz, engine.issue_certificate)
    return f"member number {member.number}"


def _blank(value: object) -> bool:
    """Absent, null or only spaces: not given (SK-1: a whitespace email is no email)."""
    return value is None or (isinstance(value, str) and not value.strip())


def _other(owner: str | None, target: str | None) -> bool:
    """Whether an identifier is already held by a member other than ``target``."""
    return owner is not None and owner != target


# -- purchase (SK-4..7, SG-3..5, SM-4..6, SM-9) ---------------------------------------------------
def _check_certificates(engine: Engine, e: Purchase, member: Member | None) -> list[Any]:
    certs = []
    seen: set[str] = set()
    for i, tender in enumerate(e.tenders):
        if tender.type != "certificate":
            continue
        field = f"tenders.{i}.code"
        if not tender.code:
            raise InvalidInput("a certificate tender needs its code", field)
        if tender.code in seen:
            raise Conflict(f"certificate {tender.code} appears twice in the order", field)
        seen.add(tender.code)
        if member is None:  # whatever the code (issued yet or not), the answer is the same
            raise NotAllowed("a certificate is used on a purchase that names its member", field)
        owner = engine.registry.code_owner(tender.code)
        if owner is None:
            raise UnknownReference(f"unknown certificate code {tender.code}", field)
        if owner != member.id:
            raise NotAllowed(f"certificate {tender.code} belongs to another member", field)
        cert = next(c for c in member.certificates if c.code == tender.code)
        if cert.redeemed_at is not None:
            raise Conflict(
                f"certificate {cert.code} was already redeemed (order {cert.redeemed_order})", field
            )
        if local_date(e.at, engine.tz) > cert.expires_on:
            raise NotAllowed(f"certificate {cert.code} expired on {cert.expires_on}", field)
        if cert.amount is not None and tender.amount > cert.amount:
            raise InvalidInput(f"tender exceeds the certificate's value {cert.amount}", field)
        if cert.kind == "birthday_gift" and not any(ln.kind == "merchandise" for ln in e.lines):
            raise NotAllowed("the birthday gift needs a purchase of at least one item", field)
        certs.append(cert)
    return certs


def _plus(total: Decimal, amount: Decimal) -> Decimal:
    """``total + amount``, or the amount itself when the total is still ``ZERO``: an order keeps
    its totals, and most are one amount (a ``Decimal`` is 104 bytes; amounts have two decimals,
    as ``ZERO`` has, so the sum would be the same number written the same way)."""
    return amount if total is ZERO else total + amount


def purchase(engine: Engine, e: Purchase) -> str | None:
    # each field read once: a read of a pydantic model's field costs ~370 instructions
    at, order_id, member_id, channel = e.at, e.order, e.member, e.channel
    if engine.registry.has_order(order_id):
        raise Conflict(f"order {order_id} was already recorded", "order")
    program = engine.rules_at(at)
    member = engine.member_at(member_id, at) if member_id is not None else None
    certs = _check_certificates(engine, e, member)
    rules = program.earning
    lines = []
    eligible_total = non_earning = points_tender = ZERO
    for ln in e.lines:
        amount = ln.amount
        eligible = line_eligible(rules, ln.kind, ln.department, ln.brand)
        lines.append(OrderLine(ln.sku, amount, eligible))
        if eligible:
            eligible_total = _plus(eligible_total, amount)
    tenders = e.tenders
    if tenders:
        kept_back = rules.non_earning_tenders
        for t in tenders:
            kind = t.type
            if kind in kept_back:
                non_earning = _plus(non_earning, t.amount)
            if kind == "points":
                points_tender = _plus(points_tender, t.amount)
    order = Order(
        order=order_id,
        member=member.id if member else None,
        at=at,
        day=local_date(at, engine.tz),
        channel=channel,
        lines=lines,
        non_earning=non_earning,
        points_tender=points_tender,
        eligible_total=eligible_total,
    )
    engine.registry.record_order(order)
    if member is None:
        return "no member: the purchase earns nothing"
    engine.registry.add_member_order(member, order)
    for cert in certs:
        cert.redeemed_at, cert.redeemed_order = at, order_id
    if not member.enrolled:
        return "member is not enrolled: the purchase earns nothing"
    if channel not in rules.channels:
        return f"purchases on channel {channel} earn no points"
    credit_order(engine, program, member, order, at)
    return None


def credit_order(
    engine: Engine, program: Rules, member: Member, order: Order, at: datetime
) -> None:
    """Earn the order's points at the tier as it stood before it; then count its spend."""
    rules = program.tiers
    today = local_date(at, engine.tz)
    before = tier_on(rules, member.tiers, today)
    qualifying = qualifying_amount(order.eligible_remaining(), order.non_earning)
    rate = rules.levels[before].rate
    campaigns = engine.registry.campaigns()
    earned = earn(program.earning, qualifying, rate, campaigns, order.at, order.channel)
    order.earns, order.qualifying, order.tier, order.rate = True, qualifying, before, rate
    order.campaigns, order.earn_points, order.bonus_points = (
        earned.campaigns,
        earned.earn,
        earned.bonus,
    )
    pending, shipped_at = program.pending, order.shipped_at
    waits = shipped_at is None and order.channel in pending.from_shipment_channels
    start = at if shipped_at is None else max(at, shipped_at)
    ready = None if waits else available_at(pending, start, engine.tz)
    expires = expires_at(program.expiry, order.at, engine.tz)
    ref = f"order:{order.order}"
    wallet = member.wallet
    if earned.earn:
        order.lots.append(
            wallet.credit(
                at,
                "earn",
                earned.earn,
                ref,
                earned_at=order.at,
                available_at=ready,
                expires_at=expires,
            )
        )
    if earned.bonus:
        note = ",".join(c.id for c in earned.campaigns if c.bonus_points)
        order.lots.append(
            wallet.credit(
                at,
                "bonus",
                earned.bonus,
                ref,
                earned_at=order.at,
                available_at=ready,
                expires_at=expires,
                note=note,
            )
        )
    add_spend(rules, member.tiers, order.day, order.order, qualifying)
    after = tier_on(rules, member.tiers, today)
    if after > before and rules.notify_upgrade:
        member.notifications.append(
            Notification(
                at,
                "tier_upgrade",
                {
                    "from": rules.levels[before].id,
                    "to": rules.levels[after].id,
                    "order": order.order,
                },
            )
        )


# -- shipment (SM-6) -----------------------------------------------------------------------------
def shipment(engine: Engine, e: Shipment) -> str | None:
    if not engine.registry.has_order(e.order):
        raise UnknownReference(f"unknown order {e.order}", "order")
    owner = engine.registry.order_owner(e.order)
    if owner is None:
        anonymous = engine.registry.anonymous_order(e.order)
        anonymous.shipped_at = e.at
        engine.registry.touch_anonymous(anonymous)
        return None
    member = engine.member_at(owner, e.at)
    order = engine.registry.member_order(member, e.order)
    assert order is not None
    order.shipped_at = e.at
    program = engine.rules_at(e.at)
    for lot in order.lots:
        if lot.available_at is None and not lot.matured:
            member.wallet.schedule(lot, available_at(program.pending, e.at, engine.tz), e.at)
    return None


# -- return (§2, SK-12, SG-6, SG-7, SG-8, SM-10) --------------------------------------------------
def _match_lines(e: Return, order: Order) -> list[OrderLine]:
    chosen: list[OrderLine] = []
    for i, rl in enumerate(e.lines):
        same_sku = [ln for ln in order.lines if ln.sku == rl.sku]
        if not same_sku:
            raise UnknownReference(f"line {rl.sku} is not in order {order.order}", f"lines.{i}.sku")
        same = [ln for ln in same_sku if ln.amount == rl.amount]
        if not same:
            raise InvalidInput(
                f"amount {rl.amount} does not match line {rl.sku} of order {order.order}",
                f"lines.{i}.amount",
            )
        free = [ln for ln in same if not ln.returned and ln not in chosen]
        if not free:
            raise Conflict(
                f"line {rl.sku} of order {order.order} was already returned", f"lines.{i}.sku"
            )
        chosen.append(free[0])
    return chosen


def return_(engine: Engine, e: Return) -> str | None:
    registry = engine.registry
    if not registry.has_order(e.order):
        raise UnknownReference(f"unknown order {e.order}", "order")
    owner = registry.order_owner(e.order)
    member = engine.member_at(owner, e.at) if owner is not None else None
    if member is None:
        order = registry.anonymous_order(e.order)
    else:
        found = registry.member_order(member, e.order)
        assert found is not None
        order = found
    if order.released:
        raise NotAllowed(
            f"the points of order {e.order} were released early; it can no longer be returned",
            "order",
        )
    chosen = _match_lines(e, order)
    for line in chosen:
        line.returned = True
    if member is None:
        registry.touch_anonymous(order)
        return None
    if not order.earns:
        return None
    program = engine.rules_at(e.at)
    ref = f"return:{e.return_id}"
    qualifying = qualifying_amount(order.eligible_remaining(), order.non_earning)
    earning = engine.rules_at(order.at).earning
    again = reearn(earning, qualifying, order.rate, order.campaigns, order.at, order.channel)
    delta = order.earn_points + order.bonus_points - again.earn - again.bonus
    spend_delta = order.qualifying - qualifying
    order.earn_points, order.bonus_points, order.qualifying = again.earn, again.bonus, qualifying
    if delta > 0:
        reverse(engine, program, member, e.at, delta, ref, order.lots)
    if spend_delta > 0 and remove_spend(
        program.tiers, member.tiers, order.day, order.order, spend_delta
    ):
        claw_back(engine, program, member, e.at, order.day.year, ref)
    blocks = program.blocks
    returned = sum((ln.amount for ln in chosen if ln.eligible), start=ZERO)
    if blocks and order.points_tender > 0 and order.eligible_total > 0 and returned > 0:
        share = order.points_tender * returned / order.eligible_total
        points = floor_points(share * blocks.block_points / blocks.block_value)
        if points > 0:  # SG-8
            member.wallet.credit(
                e.at,
                "reinstate",
                points,
                ref,
                earned_at=e.at,
                available_at=available_at(program.pending, e.at, engine.tz),
                expires_at=expires_at(program.expiry, e.at, engine.tz),
            )
    return None


def reverse(
    engine: Engine,
    program: Rules,
    member: Member,
    at: datetime,
    points: int,
    ref: str,
    first: list[Lot],
) -> None:
    """Take back ``points``: the causing lots first, then other available lots, then (SM-10) the
    unissued reward balance in whole steps, then debt."""
    wallet = member.wallet
    missing = wallet.take(points, first)
    rule = program.conversion
    if missing and rule is not None and member.reward_balance >= rule.step_value:
        steps = min(ceil(missing / rule.step_points), int(member.reward_balance / rule.step_value))
        member.reward_balance -= steps * rule.step_value
        lot = wallet.credit(
            at,
            "convert",
            steps * rule.step_points,
            ref,
            earned_at=at,
            available_at=at,
            expires_at=expires_at(program.expiry, at, engine.tz),
            note="reward balance reduced",
        )
        missing = wallet.take(missing, [lot])
    wallet.debt += missing
    wallet.record(at, "reverse", -points, ref)
    member.reversed_points += points


def claw_back(
    engine: Engine, program: Rules, member: Member, at: datetime, year: int, ref: str
) -> None:
    """SG-7: a reversed upgrade deducts the multiplier points of the purchases made at the higher
    tier: what they earned beyond what they would have earned at the tier they fall back to, the
    tier as it now stood before each of them (the year's base, or what the year's remaining spend
    before it reached), with the campaigns that would have applied at that rate. Example: gold
    reached by RM 3,000 in December, lost by its refund in February; a January purchase of RM
    3,000 earned at gold (4,500) and falls back to silver, although it reaches gold itself: 1,500
    points are deducted."""
    rules = program.tiers
    state = member.tiers
    campaigns = engine.registry.campaigns()
    spend: dict[int, Decimal] = {}
    for order in engine.registry.member_orders(member, (year, year + 1)):
        if not order.earns:
            continue
        y = order.day.year
        before = spend.get(y, ZERO)
        spend[y] = before + order.qualifying
        fallback = max(state.year_base.get(y, 0), supported(rules, before))
        if order.tier <= fallback:
            continue
        rate = rules.levels[fallback].rate
        earning = engine.rules_at(order.at).earning
        again = earn(earning, order.qualifying, rate, campaigns, order.at, order.channel)
        delta = order.earn_points + order.bonus_points - again.earn - again.bonus
        order.tier, order.rate, order.campaigns = fallback, rate, again.campaigns
        order.earn_points, order.bonus_points = again.earn, again.bonus
        if delta > 0:
            reverse(engine, program, member, at, delta, f"tier-reversal:{order.order}", order.lots)


# -- actions (SK-8) ------------------------------------------------------------------------------
def action(engine: Engine, e: ActionEvent) -> str | None:
    program = engine.rules_at(e.at)
    rule = next((a for a in program.program.actions if a.id == e.action), None)
    if rule is None:
        known = ", ".join(a.id for a in program.program.actions) or "none"
        raise UnknownReference(f"unknown action {e.action} (known: {known})", "action")
    member = engine.member_at(e.member, e.at)
    if rule.limit == "once" and e.action in member.actions_done:
        raise Conflict(f"action {e.action} was already rewarded for this member", "action")
    if not member.enrolled:
        return "member is not enrolled: earns nothing"
    member.actions_done.add(e.action)
    member.wallet.credit(
        e.at,
        "action",
        rule.points,
        f"action:{e.action}:{e.ref}",
        earned_at=e.at,
        available_at=e.at,
        expires_at=expires_at(program.expiry, e.at, engine.tz),
    )
    return None


# -- redeem (SK-10, SG-9, SG-11) -----------------------------------------------------------------
def redeem(engine: Engine, e: Redeem) -> str | None:
    program = engine.rules_at(e.at)
    member = engine.member_at(e.member, e.at)
    if not member.enrolled:
        raise NotAllowed("member is not enrolled", "member")
    if _suspended(program, member):
        raise NotAllowed(
            f"member is suspended until its negative balance ({member.wallet.available}) is "
            "settled",
            "member",
        )
    field = "reward"
    if e.reward is not None:
        reward = next((r for r in program.program.rewards if r.id == e.reward), None)
        if reward is None:
            raise UnknownReference(f"unknown reward {e.reward}", "reward")
        tiers = program.tiers
        if reward.min_tier is not None:
            today = local_date(e.at, engine.tz)
            if tier_on(tiers, member.tiers, today) < program.program.tier_index(reward.min_tier):
                raise NotAllowed(
                    f"reward {reward.id} needs tier {reward.min_tier} or higher", field
                )
        if reward.needs_item and e.subtotal <= 0:
            raise NotAllowed(f"reward {reward.id} needs at least one purchased item", "subtotal")
        cost, value = reward.cost, reward.value
    else:
        field = "blocks"
        if program.blocks is None:
            raise NotAllowed("this program has no block redemption", field)
        assert e.blocks is not None
        cost = e.blocks * program.blocks.block_points
        value = e.blocks * program.blocks.block_value
    if value > e.subtotal:
        raise InvalidInput(f"redemption worth {value} exceeds the subtotal {e.subtotal}", field)
    available = member.wallet.available
    if available < cost:
        raise InsufficientPoints(f"{cost} points needed, {max(available, 0)} available", field)
    member.wallet.debit(
        e.at, "redeem", cost, f"redeem:{e.order}:{e.reward or e.blocks}", note=f"worth {value}"
    )
    return None


# -- release (SG-6) ------------------------------------------------------------------------------
def release(engine: Engine, e: Release) -> str | None:
    program = engine.rules_at(e.at)
    if not program.pending.early_release:
        raise NotAllowed("early release is not offered by this program", "order")
    member = engine.member_at(e.member, e.at)
    order = engine.registry.member_order(member, e.order)
    if order is None:
        raise UnknownReference(f"member {e.member} has no order {e.order}", "order")
    if _suspended(program, member):
        raise NotAllowed("member is suspended: early release is refused", "member")
    pending = [lot for lot in order.lots if not lot.matured and lot.remaining > 0]
    if not pending:
        raise Conflict(f"order {e.order} has no pending points to release", "order")
    for lot in pending:
        member.wallet.schedule(lot, e.at, e.at)
    order.released = True
    return "released early: the order can no longer be returned"


# -- retro-credit (§2, SG-5, SM-5) ----------------------------------------------------------------
def retro_credit(engine: Engine, e: RetroCredit) -> str | None:
    program = engine.rules_at(e.at)
    if not program.earning.retro_credit:
        raise NotAllowed(program.earning.retro_credit_refusal, "order")
    registry = engine.registry
    if not registry.has_order(e.order):
        raise UnknownReference(f"unknown order {e.order}", "order")
    if registry.order_owner(e.order) is not None:
        raise Conflict(f"order {e.order} is already credited to a member", "order")
    order = registry.anonymous_order(e.order)
    member = engine.member_at(e.member, e.at)
    if not member.enrolled:
        raise NotAllowed("member is not enrolled: nothing to credit", "member")
    if order.at < member.enrolled_at:
        raise NotAllowed("the purchase is older than the member's enrollment", "order")
    if order.channel not in program.earning.channels:
        raise NotAllowed(f"purchases on channel {order.channel} earn no points", "order")
    registry.claim_order(order, member.id)
    order.member, order.credited_at = member.id, e.at
    registry.add_member_order(member, order)
    credit_order(engine, program, member, order, e.at)
    return None


# -- adjust, campaign, tick ----------------------------------------------------------------------
def adjust(engine: Engine, e: Adjust) -> str | None:
    if e.points == 0:
        raise InvalidInput("points must not be zero", "points")
    program = engine.rules_at(e.at)
    member = engine.member_at(e.member, e.at)
    ref = f"adjust:{e.reason}"
    if e.points > 0:
        member.wallet.credit(
            e.at,
            "adjust",
            e.points,
            ref,
            earned_at=e.at,
            available_at=e.at,
            expires_at=expires_at(program.expiry, e.at, engine.tz),
        )
    else:
        member.wallet.debit(e.at, "adjust", -e.points, ref)
    return None


def campaign(engine: Engine, e: Campaign) -> str | None:
    if e.multiplier is None and not e.bonus_points:
        raise InvalidInput("a campaign needs a multiplier or bonus_points", "multiplier")
    if e.combinable and not engine.rules_at(e.at).earning.combinable_campaigns:
        raise NotAllowed(
            "campaigns do not combine in this program: only the single best one applies",
            "combinable",
        )
    engine.registry.add_campaign(
        CampaignRule(
            id=e.id,
            starts=e.starts,
            ends=e.ends,
            multiplier=Decimal(e.multiplier) if e.multiplier is not None else None,
            bonus_points=e.bonus_points or 0,
            min_spend=e.min_spend,
            channels=tuple(e.channels) if e.channels is not None else None,
            combinable=e.combinable,
        )
    )
    return None


def tick(engine: Engine, e: Tick) -> str | None:
    return None


HANDLERS: Final[dict[str, Callable[[Engine, Any], str | None]]] = {
    "enroll": enroll,
    "purchase": purchase,
    "shipment": shipment,
    "return": return_,
    "action": action,
    "redeem": redeem,
    "release": release,
    "retro_credit": retro_credit,
    "adjust": adjust,
    "campaign": campaign,
    "tick": tick,
}
