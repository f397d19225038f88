"""The schema of a loyalty program. Everything SPEC names is configuration, not code.

A program file (TOML) is validated against these models; an unknown key or a bad value is rejected
with its dotted field path and the reason. Money values are decimal strings ("200.00").

Every count that becomes a date or a duration has an upper limit a real program never reaches,
so that no date the engine computes falls outside the years it supports; money and points stay
within the limits of events (about 10^12).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from loyalty.domain.fields import FIRST_YEAR, LAST_YEAR, LIMIT_MESSAGE, MONEY_LIMIT

# Upper limits of the counts that become dates or durations (about 100 years each; business days
# are counted one by one, so they stop at 10 years) and of point amounts (at most 10^12).
MAX_YEARS = 100
MAX_MONTHS = 1_200
MAX_DAYS = 36_500
MAX_HOURS = 876_000
MAX_BUSINESS_DAYS = 2_610
MAX_POINTS = 10**12
MAX_RATE = 100  # 100 x 10^12 x a campaign multiplier (< 10^4) fits in 64 bits

_PLAIN_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


def _decimal_text(what: str, example: str) -> Any:
    def check(value: object) -> object:
        if isinstance(value, float):
            raise ValueError(f'{what} must be a decimal string such as "{example}" (not a float)')
        if isinstance(value, str) and not _PLAIN_DECIMAL.fullmatch(value.strip()):
            try:
                finite = Decimal(value.strip()).is_finite()
            except InvalidOperation:
                finite = False  # not a number: pydantic says so
            if finite:
                raise ValueError(
                    f'{what} must be a plain decimal string such as "{example}" (no exponent)'
                )
        return value

    return BeforeValidator(check)


def _below_money_limit(value: Decimal) -> Decimal:
    if value >= MONEY_LIMIT:
        raise ValueError(LIMIT_MESSAGE)
    return value


Money = Annotated[
    Decimal,
    _decimal_text("money", "10.50"),
    Field(ge=0, decimal_places=2),
    AfterValidator(_below_money_limit),
]
# Money the engine divides by (a block's or a conversion step's value) or a cap that must let
# something through.
PositiveMoney = Annotated[Money, Field(gt=0)]
Rate = Annotated[
    Decimal, _decimal_text("a rate", "1.5"), Field(gt=0, le=MAX_RATE, allow_inf_nan=False)
]
Points = Annotated[int, Field(gt=0, le=MAX_POINTS)]
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
    rate: Rate


class Tiers(Model):
    """``trailing_days``: SK-2/SK-3 (status valid one year from each qualifying purchase).
    ``calendar_year``: SG-2/SM-3 (an upgrade holds the rest of the year and the following one;
    on 1 January the tier becomes the one the previous year's spend supports)."""

    window: Literal["trailing_days", "calendar_year"]
    trailing_days: int = Field(default=365, gt=0, le=MAX_DAYS)
    status_years: int = Field(default=1, gt=0, le=MAX_YEARS)
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

    @model_validator(mode="after")
    def _limit(self) -> Pending:
        limit = {"days": MAX_DAYS, "business_days": MAX_BUSINESS_DAYS}.get(self.kind, MAX_HOURS)
        if self.amount > limit:
            unit = "hours" if self.kind == "none" else self.kind.replace("_", " ")
            raise ValueError(f"amount: must be at most {limit} {unit}")
        return self


class Expiry(Model):
    """``never`` (SK-9); ``years_after_earn`` (SM-7: usable through the anniversary date);
    ``month_end_after`` (SG-10: end of the Nth month after the month earned)."""

    kind: Literal["never", "years_after_earn", "month_end_after"] = "never"
    years: int = Field(default=1, gt=0, le=MAX_YEARS)
    months: int = Field(default=24, gt=0, le=MAX_MONTHS)


class Enrollment(Model):
    required_fields: list[
        Literal["email", "phone", "first_name", "last_name", "address", "birth_month", "country"]
    ] = []
    excluded_countries: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]] = []
    excluded_reason: str = "residents of this country are not eligible"
    signup_points: int = Field(default=0, ge=0, le=MAX_POINTS)
    member_number_prefix: str = Field(default="1", pattern=r"^[0-9]{1,6}$")
    unique_email: bool = True
    unique_phone: bool = True
    link_member_number: bool = False


class Action(Model):
    id: str = Field(min_length=1)
    points: Points
    limit: Literal["once", "per_ref"] = "per_ref"


class Reward(Model):
    """A catalog reward (SK-10): its cost, its money value (the discount, if any), a tier gate
    and whether the order must contain a purchased item."""

    id: str = Field(min_length=1)
    cost: Points
    value: Money = Decimal("0")
    min_tier: str | None = None
    needs_item: bool = True


class BlockRedemption(Model):
    """SG-9: ``block_points`` points are worth ``block_value`` off eligible merchandise."""

    block_points: Points
    block_value: PositiveMoney


class Conversion(Model):
    """SM-8: every ``step_points`` available points turn into ``step_value`` of rewards at once;
    issued monthly (1st) as one certificate of at most ``cap``; the rest rolls over."""

    step_points: Points
    step_value: PositiveMoney
    cap: PositiveMoney
    validity_days: int = Field(gt=0, le=MAX_DAYS)


class Birthday(Model):
    """SK-11: a gift voucher at the start of the birth month, valid through its end."""

    requires_email_opt_in: bool = True
    kind: Literal["birthday_gift"] = "birthday_gift"


class Benefit(Model):
    id: str = Field(min_length=1)
    tiers: list[str] = []
    min_purchase: Money | None = None
    min_purchase_tiers: list[str] = []


def _known_zone(zone: str, where: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{where}: unknown time zone {zone!r}") from exc


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
        _known_zone(self.timezone, "timezone")
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

    @model_validator(mode="after")
    def _unique_ids(self) -> Program:
        for field, items in (
            ("actions", self.actions),
            ("rewards", self.rewards),
            ("benefits", self.benefits),
        ):
            twice = [i for i, n in Counter(item.id for item in items).items() if n > 1]
            if twice:
                raise ValueError(f"{field}: ids must be unique ({twice[0]!r} appears twice)")
        return self

    @model_validator(mode="after")
    def _versions_change_values_only(self) -> Program:
        """SPEC §1 / docs/programs.md §6: the engine keeps the base program's id, time zone and
        monthly schedule, so a version may not change them or turn on a feature the base lacks."""
        seen: set[date] = set()
        for i, version in enumerate(self.versions):
            if version.effective in seen:
                raise ValueError(
                    f"versions.{i}.effective: another version also takes effect on "
                    f"{version.effective.isoformat()}"
                )
            seen.add(version.effective)
            where = f"versions.{i}.changes"
            changes = version.changes
            zone = changes.get("timezone")
            if isinstance(zone, str) and zone != self.timezone:
                _known_zone(zone, f"{where}.timezone")
            for key in ("id", "timezone"):
                if key in changes and changes[key] != getattr(self, key):
                    raise ValueError(
                        f"{where}.{key}: a version cannot change the program's {key} "
                        "(the engine keeps the base program's)"
                    )
            tiers = changes.get("tiers")
            if isinstance(tiers, dict) and tiers.get("window", self.tiers.window) != (
                self.tiers.window
            ):
                raise ValueError(
                    f"{where}.tiers.window: a version cannot change the tier window "
                    f"(the base program's is {self.tiers.window!r})"
                )
            for section in ("conversion", "birthday"):
                if section in changes and getattr(self, section) is None:
                    raise ValueError(
                        f"{where}.{section}: a version cannot turn on [{section}]: "
                        "the base program must have it"
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

    @model_validator(mode="after")
    def _supported(self) -> Version:
        if not FIRST_YEAR <= self.effective.year <= LAST_YEAR:
            raise ValueError(
                f"effective: out of the supported range (years {FIRST_YEAR}-{LAST_YEAR})"
            )
        if "versions" in self.changes:
            raise ValueError("changes.versions: a version cannot contain versions")
        return self


Program.model_rebuild()
