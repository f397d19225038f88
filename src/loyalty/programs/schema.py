"""The schema of a loyalty program. Everything SPEC names is configuration, not code.

A program file (TOML) is validated against these models; an unknown key or a bad value is rejected
with its dotted field path and the reason. Money values are decimal strings ("200.00").
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _no_float(value: object) -> object:
    if isinstance(value, float):
        raise ValueError('money must be a decimal string such as "10.50" (not a float)')
    return value


Money = Annotated[Decimal, BeforeValidator(_no_float), Field(ge=0, decimal_places=2)]
Channel = Literal["online", "store", "popup", "outlet", "phone"]
LineKind = Literal[
    "merchandise",
    "gift_card",
    "voucher",
    "promotional",
    "exchange",
    "service",
    "delivery",
    "dining",
]
TenderType = Literal["card", "cash", "gift_card", "points", "certificate"]
ALL_CHANNELS: tuple[Channel, ...] = ("online", "store", "popup", "outlet", "phone")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(Model):
    id: str = Field(min_length=1)
    name: str = ""
    threshold: Money
    rate: Annotated[Decimal, Field(gt=0)]


class Tiers(Model):
    """``trailing_days``: SK-2/SK-3 (status valid one year from each qualifying purchase).
    ``calendar_year``: SG-2/SM-3 (an upgrade holds the rest of the year and the following one;
    on 1 January the tier becomes the one the previous year's spend supports)."""

    window: Literal["trailing_days", "calendar_year"]
    trailing_days: int = Field(default=365, gt=0)
    status_years: int = Field(default=1, gt=0)
    levels: list[Tier] = Field(min_length=1)
    on_refund: Literal["keep", "reverse"] = "keep"
    notify_upgrade: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> Tiers:
        if self.levels[0].threshold != 0:
            raise ValueError("levels: the first (entry) tier must have threshold 0")
        for lower, higher in zip(self.levels, self.levels[1:], strict=False):
            if higher.threshold <= lower.threshold:
                raise ValueError("levels: tier thresholds must increase")
        if self.on_refund == "reverse" and self.window != "calendar_year":
            raise ValueError("on_refund: 'reverse' is supported with calendar_year tiers only")
        ids = [t.id for t in self.levels]
        if len(set(ids)) != len(ids):
            raise ValueError("levels: tier ids must be unique")
        return self


class Earning(Model):
    rounding: Literal["floor", "half_up"] = "floor"
    eligible_kinds: list[LineKind] = ["merchandise"]
    excluded_departments: list[str] = []
    excluded_brands: list[str] = []
    non_earning_tenders: list[TenderType] = ["points", "certificate"]
    channels: list[Channel] = list(ALL_CHANNELS)
    retro_credit: bool = False
    retro_credit_refusal: str = "retro-credit is not allowed by this program"
    combinable_campaigns: bool = True


class Pending(Model):
    """When earned points become available. ``hours`` (SK-5: 48), ``days`` (SG-6: 14 calendar
    days, same local time) or ``business_days`` with a holiday ``country`` (SM-6: 3, US).
    ``from_shipment_channels``: for those channels the period counts from the shipment."""

    kind: Literal["none", "hours", "days", "business_days"] = "none"
    amount: int = Field(default=0, ge=0)
    country: str | None = None
    from_shipment_channels: list[Channel] = []
    early_release: bool = False


class Expiry(Model):
    """``never`` (SK-9); ``years_after_earn`` (SM-7: usable through the anniversary date);
    ``month_end_after`` (SG-10: end of the Nth month after the month earned)."""

    kind: Literal["never", "years_after_earn", "month_end_after"] = "never"
    years: int = Field(default=1, gt=0)
    months: int = Field(default=24, gt=0)


class Enrollment(Model):
    required_fields: list[
        Literal["email", "phone", "first_name", "last_name", "address", "birth_month", "country"]
    ] = []
    excluded_countries: list[str] = []
    excluded_reason: str = "residents of this country are not eligible"
    signup_points: int = Field(default=0, ge=0)
    member_number_prefix: str = Field(default="1", pattern=r"^[0-9]{1,6}$")
    unique_email: bool = True
    unique_phone: bool = True
    link_member_number: bool = False


class Action(Model):
    id: str
    points: int = Field(gt=0)
    limit: Literal["once", "per_ref"] = "per_ref"


class Reward(Model):
    """A catalog reward (SK-10): its cost, its money value (the discount, if any), a tier gate
    and whether the order must contain a purchased item."""

    id: str
    cost: int = Field(gt=0)
    value: Money = Decimal("0")
    min_tier: str | None = None
    needs_item: bool = True


class BlockRedemption(Model):
    """SG-9: ``block_points`` points are worth ``block_value`` off eligible merchandise."""

    block_points: int = Field(gt=0)
    block_value: Money


class Conversion(Model):
    """SM-8: every ``step_points`` available points turn into ``step_value`` of rewards at once;
    issued monthly (1st) as one certificate of at most ``cap``; the rest rolls over."""

    step_points: int = Field(gt=0)
    step_value: Money
    cap: Money
    validity_days: int = Field(gt=0)


class Birthday(Model):
    """SK-11: a gift voucher at the start of the birth month, valid through its end."""

    requires_email_opt_in: bool = True
    kind: Literal["birthday_gift"] = "birthday_gift"


class Benefit(Model):
    id: str
    tiers: list[str] = []
    min_purchase: Money | None = None
    min_purchase_tiers: list[str] = []


class Program(Model):
    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    name: str
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    timezone: str
    enrollment: Enrollment = Enrollment()
    tiers: Tiers
    earning: Earning = Earning()
    pending: Pending = Pending()
    expiry: Expiry = Expiry()
    actions: list[Action] = []
    rewards: list[Reward] = []
    blocks: BlockRedemption | None = None
    conversion: Conversion | None = None
    birthday: Birthday | None = None
    benefits: list[Benefit] = []
    negative_balance: Literal["allow", "suspend"] = "allow"
    versions: list[Version] = []

    @model_validator(mode="after")
    def _references(self) -> Program:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"timezone: unknown time zone {self.timezone!r}") from exc
        tier_ids = {t.id for t in self.tiers.levels}
        for reward in self.rewards:
            if reward.min_tier is not None and reward.min_tier not in tier_ids:
                raise ValueError(
                    f"rewards: {reward.id!r} names an unknown min_tier {reward.min_tier!r}"
                )
        for benefit in self.benefits:
            for tier in [*benefit.tiers, *benefit.min_purchase_tiers]:
                if tier not in tier_ids:
                    raise ValueError(f"benefits: {benefit.id!r} names an unknown tier {tier!r}")
        if self.pending.kind == "business_days" and self.pending.country is None:
            raise ValueError("pending.country: required for business_days")
        if self.pending.country is not None:
            import holidays

            if self.pending.country not in holidays.list_supported_countries():
                raise ValueError(
                    f"pending.country: no holiday calendar for {self.pending.country!r}"
                )
        return self

    def tier_index(self, tier_id: str) -> int:
        for i, tier in enumerate(self.tiers.levels):
            if tier.id == tier_id:
                return i
        raise KeyError(tier_id)


class Version(Model):
    """A change of the program that takes effect from a local date and never rewrites history
    (SG-9's "prevailing" block size). ``changes`` is a partial program, merged over the base."""

    effective: date
    changes: dict[str, object]


Program.model_rebuild()
