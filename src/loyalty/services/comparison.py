"""The key figures of a simulated program variant, side by side with another's, and their
difference (B - A): what ``loyalty simulate`` prints as a table, as JSON and as a chart.

Every key figure is read from the figures of ``loyalty.domain.figures`` (the same as the database
reports): points issued, redeemed, expired, converted and reversed; net outstanding points and
their money value; breakage; certificates issued and their value; qualifying sales, reward cost and
reward cost per unit of sales; rewards converted but not yet issued; members per tier.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from loyalty.services.simulation import Variant

Value = int | str


def key_figures(variant: Variant) -> dict[str, Value]:
    """Flat ``{key: value}``; integers for points and counts, decimal strings for money and
    rates."""
    f = variant.figures
    totals = f["activity"]["totals"]
    liability = f["liability"]
    economics = f["economics"]
    tiers = f["tiers"]
    out: dict[str, Value] = {
        "members": sum(tiers["statuses"].values()),
        "points_issued": totals["issued"],
        "points_redeemed": totals["redeemed"],
        "points_expired": totals["expired"],
        "points_converted": totals["converted"],
        "points_reversed": totals["reversed"],
        "points_outstanding": liability["net_points"],
        "point_value": _short(liability["point_value"]),
        "liability_value": liability["net_value"],
        "breakage_rate": f["activity"]["breakage"],
        "certificates_issued": economics["certificates_issued"],
        "certificates_value": economics["certificates_value"],
        "qualifying_sales": economics["qualifying_sales"],
        "reward_cost": economics["reward_cost"],
        "reward_cost_per_sales": economics["reward_cost_per_sales"],
        "rewards_pending": economics["rewards_pending"],
    }
    for tier, n in tiers["tiers"].items():
        out[f"members_{tier}"] = n
    out["rejected_inputs"] = len(variant.rejected)
    return out


def _short(value: str) -> str:
    """A point value to six decimals (10 / 1,500 = 0.006667)."""
    return format(Decimal(value).quantize(Decimal("0.000001")).normalize(), "f")


LABELS = {
    "members": "members",
    "points_issued": "points issued",
    "points_redeemed": "points redeemed",
    "points_expired": "points expired",
    "points_converted": "points converted into rewards",
    "points_reversed": "points reversed (returns)",
    "points_outstanding": "points outstanding (net)",
    "point_value": "value of a point",
    "liability_value": "outstanding liability",
    "breakage_rate": "breakage rate (expired / issued)",
    "certificates_issued": "certificates issued",
    "certificates_value": "certificates value",
    "qualifying_sales": "qualifying sales",
    "reward_cost": "reward cost (redeemed + certificates)",
    "reward_cost_per_sales": "reward cost per unit of sales",
    "rewards_pending": "rewards converted, not yet issued",
    "rejected_inputs": "inputs rejected",
}


def label(key: str) -> str:
    if key.startswith("members_"):
        return f"members in {key.removeprefix('members_')} (at the end)"
    return LABELS.get(key, key.replace("_", " "))


def difference(a: Value | None, b: Value | None) -> Value | None:
    """B - A: an integer for integers, a decimal string for decimal strings, else None."""
    if isinstance(a, int) and isinstance(b, int):
        return b - a
    if isinstance(a, str) and isinstance(b, str):
        try:
            return str(Decimal(b) - Decimal(a))
        except InvalidOperation:
            return None
    return None


def change(a: Value | None, b: Value | None) -> str:
    """B - A as people read it: "+500 (+12.5%)"."""
    diff = difference(a, b)
    if diff is None:
        return "-"
    d = Decimal(diff)
    text = f"{d:+,}" if isinstance(diff, int) else f"{'+' if d >= 0 else ''}{diff}"
    base = Decimal(a) if a is not None else Decimal(0)
    if d and base:
        text += f" ({d / base * 100:+.1f}%)"
    return text


def compare(a: Variant, b: Variant) -> list[dict[str, Any]]:
    """Rows of ``key, label, a, b, difference`` over the key figures of both (in A's order)."""
    fa, fb = key_figures(a), key_figures(b)
    keys = list(fa) + [k for k in fb if k not in fa]
    return [
        {
            "key": k,
            "label": label(k),
            "a": fa.get(k),
            "b": fb.get(k),
            "difference": difference(fa.get(k), fb.get(k)),
        }
        for k in keys
    ]
