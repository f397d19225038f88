"""A program version's settings as the engine reads them on every input: compiled records, copied
once from the validated, frozen pydantic models of ``loyalty.programs.schema``.

A read of a field of a pydantic model costs ~310 instructions (``BaseModel`` defines
``__getattr__``, so every read goes through ``slot_tp_getattr_hook``, two type look-ups and the
instance dictionary), and a purchase read ~30 of them. A field of these records is read as a
member of a C struct by the compiled engine. They keep the models' field names; ``Rules.program``
is the model itself, for what is read rarely (actions, rewards, benefits, names).

Example::

    >>> from loyalty.programs.loader import load_program
    >>> rules = rules_of(load_program("soko"))
    >>> rules.tiers.window, [level.rate for level in rules.tiers.levels]
    ('trailing_days', [Decimal('1'), Decimal('1.4'), Decimal('1.7')])
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, Literal

from loyalty.domain.memo import remember
from loyalty.programs.schema import (
    Birthday,
    BlockRedemption,
    Conversion,
    Earning,
    Enrollment,
    Expiry,
    Pending,
    Program,
    Tier,
    Tiers,
)


class Level:
    """One tier: ``Tier``."""

    id: Final[str]
    threshold: Final[Decimal]
    rate: Final[Decimal]

    def __init__(self, tier: Tier) -> None:
        self.id = tier.id
        self.threshold = tier.threshold
        self.rate = tier.rate


class TierRules:
    """``Tiers``."""

    window: Final[str]
    trailing_days: Final[int]
    status_years: Final[int]
    levels: Final[list[Level]]
    on_refund: Final[str]
    notify_upgrade: Final[bool]

    def __init__(self, tiers: Tiers) -> None:
        self.window = tiers.window
        self.trailing_days = tiers.trailing_days
        self.status_years = tiers.status_years
        self.levels = [Level(tier) for tier in tiers.levels]
        self.on_refund = tiers.on_refund
        self.notify_upgrade = tiers.notify_upgrade


class EarningRules:
    """``Earning``."""

    rounding: Final[Literal["floor", "half_up"]]
    eligible_kinds: Final[frozenset[str]]
    excluded_departments: Final[frozenset[str]]
    excluded_brands: Final[frozenset[str]]
    non_earning_tenders: Final[frozenset[str]]
    channels: Final[frozenset[str]]
    retro_credit: Final[bool]
    retro_credit_refusal: Final[str]
    combinable_campaigns: Final[bool]

    def __init__(self, earning: Earning) -> None:
        self.rounding = earning.rounding
        self.eligible_kinds = frozenset(earning.eligible_kinds)
        self.excluded_departments = frozenset(earning.excluded_departments)
        self.excluded_brands = frozenset(earning.excluded_brands)
        self.non_earning_tenders = frozenset(earning.non_earning_tenders)
        self.channels = frozenset(earning.channels)
        self.retro_credit = earning.retro_credit
        self.retro_credit_refusal = earning.retro_credit_refusal
        self.combinable_campaigns = earning.combinable_campaigns


class PendingRule:
    """``Pending``."""

    kind: Final[str]
    amount: Final[int]
    country: Final[str | None]
    from_shipment_channels: Final[frozenset[str]]
    early_release: Final[bool]

    def __init__(self, pending: Pending) -> None:
        self.kind = pending.kind
        self.amount = pending.amount
        self.country = pending.country
        self.from_shipment_channels = frozenset(pending.from_shipment_channels)
        self.early_release = pending.early_release


class ExpiryRule:
    """``Expiry``."""

    kind: Final[str]
    years: Final[int]
    months: Final[int]

    def __init__(self, expiry: Expiry) -> None:
        self.kind = expiry.kind
        self.years = expiry.years
        self.months = expiry.months


class EnrollmentRules:
    """``Enrollment``."""

    required_fields: Final[tuple[str, ...]]
    excluded_countries: Final[frozenset[str]]
    excluded_reason: Final[str]
    signup_points: Final[int]
    member_number_prefix: Final[str]
    unique_email: Final[bool]
    unique_phone: Final[bool]
    link_member_number: Final[bool]

    def __init__(self, enrollment: Enrollment) -> None:
        self.required_fields = tuple(enrollment.required_fields)
        self.excluded_countries = frozenset(enrollment.excluded_countries)
        self.excluded_reason = enrollment.excluded_reason
        self.signup_points = enrollment.signup_points
        self.member_number_prefix = enrollment.member_number_prefix
        self.unique_email = enrollment.unique_email
        self.unique_phone = enrollment.unique_phone
        self.link_member_number = enrollment.link_member_number


class BlockRule:
    """``BlockRedemption``."""

    block_points: Final[int]
    block_value: Final[Decimal]

    def __init__(self, blocks: BlockRedemption) -> None:
        self.block_points = blocks.block_points
        self.block_value = blocks.block_value


class ConversionRule:
    """``Conversion``."""

    step_points: Final[int]
    step_value: Final[Decimal]
    cap: Final[Decimal]
    validity_days: Final[int]

    def __init__(self, conversion: Conversion) -> None:
        self.step_points = conversion.step_points
        self.step_value = conversion.step_value
        self.cap = conversion.cap
        self.validity_days = conversion.validity_days


class BirthdayRule:
    """``Birthday``."""

    requires_email_opt_in: Final[bool]

    def __init__(self, birthday: Birthday) -> None:
        self.requires_email_opt_in = birthday.requires_email_opt_in


class Rules:
    """One version of a program (``loyalty.programs.loader.version_at``)."""

    program: Final[Program]
    id: Final[str]
    tiers: Final[TierRules]
    earning: Final[EarningRules]
    pending: Final[PendingRule]
    expiry: Final[ExpiryRule]
    enrollment: Final[EnrollmentRules]
    blocks: Final[BlockRule | None]
    conversion: Final[ConversionRule | None]
    birthday: Final[BirthdayRule | None]
    negative_balance: Final[str]

    def __init__(self, program: Program) -> None:
        self.program = program
        self.id = program.id
        self.tiers = TierRules(program.tiers)
        self.earning = EarningRules(program.earning)
        self.pending = PendingRule(program.pending)
        self.expiry = ExpiryRule(program.expiry)
        self.enrollment = EnrollmentRules(program.enrollment)
        self.blocks = BlockRule(program.blocks) if program.blocks is not None else None
        self.conversion = (
            ConversionRule(program.conversion) if program.conversion is not None else None
        )
        self.birthday = BirthdayRule(program.birthday) if program.birthday is not None else None
        self.negative_balance = program.negative_balance


# id(program) -> its rules (which hold the program, so that no other object takes its id)
_RULES: dict[int, Rules] = {}
RULES_KEPT = 256


def rules_of(program: Program) -> Rules:
    """The rules of one program version, built once (programs are frozen)."""
    found = _RULES.get(id(program))
    if found is None:
        found = remember(_RULES, id(program), Rules(program), RULES_KEPT)
    return found
