"""Program files (SPEC §1, §6): the presets load; a merchant's TOML file loads from a path; a bad
file is refused with InvalidProgram naming the field and the reason; program versions take effect
from their date and never rewrite history (SG-9's "prevailing" block size).
"""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from loyalty import PRESETS, Engine, InvalidProgram, LoyaltyError, Program, load_program
from loyalty.programs import program_from_dict

MINIMAL = """\
id = "corner-shop"
name = "Corner Shop Stamps"
currency = "EUR"
timezone = "Europe/Paris"

[tiers]
window = "calendar_year"
levels = [
  { id = "regular", threshold = "0", rate = "1" },
  { id = "friend", threshold = "100.00", rate = "2" },
]
"""


def preset_text(name: str) -> str:
    return resources.files("loyalty.programs").joinpath(f"presets/{name}.toml").read_text()


def preset_data(name: str) -> dict[str, Any]:
    return tomllib.loads(preset_text(name))


def write(tmp_path: Path, text: str, name: str = "program.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(spec: str | Path) -> InvalidProgram:
    with pytest.raises(InvalidProgram) as info:
        load_program(spec)
    error = info.value
    assert isinstance(error, LoyaltyError)
    assert error.code == "invalid_program"
    assert "Traceback" not in str(error)
    return error


def assert_mentions(error: Exception, *fragments: str) -> None:
    for fragment in fragments:
        assert fragment in str(error), (fragment, str(error))


def ev(**fields: Any) -> str:
    return json.dumps(fields)


# --- presets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "currency", "timezone", "tiers"),
    [
        ("soko", "USD", "America/New_York", ["member", "vip", "vip_premier"]),
        ("sogo", "MYR", "Asia/Kuala_Lumpur", ["silver", "gold", "platinum"]),
        ("soma", "USD", "America/New_York", ["preferred", "gold", "platinum"]),
    ],
)
def test_presets_load(name: str, currency: str, timezone: str, tiers: list[str]) -> None:
    program = load_program(name)
    assert isinstance(program, Program)
    assert program.id == name
    assert program.currency == currency
    assert program.timezone == timezone
    assert [t.id for t in program.tiers.levels] == tiers
    assert program.tiers.levels[0].threshold == 0


def test_the_presets_are_the_three_seeds() -> None:
    assert set(PRESETS) == {"soko", "sogo", "soma"}


@pytest.mark.parametrize("name", ["soko", "sogo", "soma"])
def test_a_preset_copied_to_a_file_loads_the_same(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, preset_text(name), f"{name}-copy.toml")
    assert load_program(path) == load_program(name)
    assert load_program(str(path)) == load_program(name)


# --- a merchant's own file ----------------------------------------------------------------------


def test_a_toml_program_file_loads_and_runs(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    program = load_program(path)
    assert program.id == "corner-shop"
    assert program.name == "Corner Shop Stamps"
    assert program.currency == "EUR"
    assert [t.id for t in program.tiers.levels] == ["regular", "friend"]
    # defaults: no pending period, points never expire, no sign-up points
    engine = Engine(program)
    at = "2024-05-02T10:00:00+02:00"
    assert engine.apply(ev(type="enroll", at=at, member="m1")).accepted
    purchase = ev(
        type="purchase",
        at="2024-05-02T11:00:00+02:00",
        member="m1",
        order="o1",
        channel="store",
        lines=[{"sku": "A", "amount": "120.50"}],
    )
    assert engine.apply(purchase).accepted
    summary = engine.summary("m1")
    assert summary["points"]["available"] == 120
    assert summary["tier"] == "friend"
    assert summary["qualifying_spend"] == "120.50"


def test_a_program_file_with_a_toml_date_version_loads(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'timezone = "Europe/Paris"\n',
        'timezone = "Europe/Paris"\n'
        'versions = [{ effective = 2025-01-01, changes = { name = "Corner Shop Club" } }]\n',
    )
    program = load_program(write(tmp_path, text))
    assert [str(v.effective) for v in program.versions] == ["2025-01-01"]


# --- bad program files --------------------------------------------------------------------------


def test_an_unknown_top_level_key_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace('currency = "EUR"', 'currency = "EUR"\ncolour = "red"'))
    error = refused(path)
    assert_mentions(error, str(path), "colour", "Extra inputs are not permitted")


def test_an_unknown_nested_key_is_refused(tmp_path: Path) -> None:
    text = preset_text("soko").replace('rounding = "floor"', 'rounding = "floor"\nrate_limit = 3')
    error = refused(write(tmp_path, text))
    assert_mentions(error, "earning.rate_limit", "Extra inputs are not permitted")


def test_an_unknown_key_in_a_tier_is_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace('{ id = "friend",', '{ id = "friend", colour = "gold",')
    assert_mentions(refused(write(tmp_path, text)), "tiers.levels.1.colour", "Extra inputs")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('"ten"', "valid decimal"),
        ('"10.005"', "no more than 2 decimal places"),
        ('"-10.00"', "greater than or equal to 0"),
    ],
)
def test_bad_money_is_refused(tmp_path: Path, value: str, reason: str) -> None:
    text = preset_text("soko").replace('value = "20.00"', f"value = {value}")
    assert_mentions(refused(write(tmp_path, text)), "rewards.1.value", reason)


def test_a_bad_tier_threshold_is_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace('threshold = "100.00"', 'threshold = "lots"')
    assert_mentions(refused(write(tmp_path, text)), "tiers.levels.1.threshold", "decimal")


@pytest.mark.parametrize("second", ['"0"', '"-5"', '"0.00"'])
def test_tier_thresholds_that_do_not_increase_are_refused(tmp_path: Path, second: str) -> None:
    text = MINIMAL.replace('threshold = "100.00"', f"threshold = {second}")
    error = refused(write(tmp_path, text))
    assert "tiers" in str(error)
    assert "tier thresholds must increase" in str(error) or "greater than or equal to 0" in str(
        error
    )


def test_thresholds_out_of_order_in_a_preset_copy_are_refused(tmp_path: Path) -> None:
    text = preset_text("soko").replace('threshold = "500"', 'threshold = "150"')
    assert_mentions(refused(write(tmp_path, text)), "tiers", "tier thresholds must increase")


def test_a_first_tier_threshold_other_than_zero_is_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace('threshold = "0"', 'threshold = "10"')
    assert_mentions(
        refused(write(tmp_path, text)), "tiers", "the first (entry) tier must have threshold 0"
    )


def test_duplicate_tier_ids_are_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace('id = "friend"', 'id = "regular"')
    assert_mentions(refused(write(tmp_path, text)), "tiers", "tier ids must be unique")


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "EST5EDT/Nowhere", ""])
def test_an_unknown_timezone_is_refused(tmp_path: Path, zone: str) -> None:
    text = MINIMAL.replace('"Europe/Paris"', json.dumps(zone))
    assert_mentions(refused(write(tmp_path, text)), f"unknown time zone {zone!r}")


def test_a_reward_gated_by_an_unknown_tier_is_refused(tmp_path: Path) -> None:
    text = preset_text("soko").replace('min_tier = "vip"', 'min_tier = "gold"')
    assert_mentions(refused(write(tmp_path, text)), "vip-gift", "unknown min_tier 'gold'")


def test_a_benefit_for_an_unknown_tier_is_refused(tmp_path: Path) -> None:
    text = preset_text("soma").replace('tiers = ["gold", "platinum"]', 'tiers = ["gold", "vip"]')
    assert_mentions(refused(write(tmp_path, text)), "free_shipping", "unknown tier 'vip'")


def test_business_days_without_a_country_are_refused(tmp_path: Path) -> None:
    text = preset_text("soma").replace('country = "US"\n', "")
    assert_mentions(refused(write(tmp_path, text)), "pending.country", "business_days")


def test_reversing_tiers_on_refund_with_a_trailing_window_is_refused(tmp_path: Path) -> None:
    text = preset_text("soko").replace('on_refund = "keep"', 'on_refund = "reverse"')
    assert_mentions(refused(write(tmp_path, text)), "tiers.on_refund", "'reverse'", "calendar_year")


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('kind = "hours"', 'kind = "minutes"', "pending.kind"),
        ('window = "trailing_days"', 'window = "rolling"', "tiers.window"),
        ('currency = "USD"', 'currency = "dollars"', "currency"),
        ('id = "soko"', 'id = "Soko Glam"', "id"),
        ("signup_points = 50", "signup_points = -50", "enrollment.signup_points"),
        ("cost = 500", "cost = 0", "rewards.0.cost"),
        ('channels = ["online"]', 'channels = ["web"]', "earning.channels.0"),
        ('member_number_prefix = "70"', 'member_number_prefix = "AB"', "member_number_prefix"),
    ],
)
def test_other_bad_values_are_refused_by_field(
    tmp_path: Path, old: str, new: str, where: str
) -> None:
    text = preset_text("soko")
    assert old in text
    assert_mentions(refused(write(tmp_path, text.replace(old, new))), where)


def test_a_missing_required_key_is_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace('name = "Corner Shop Stamps"\n', "")
    assert_mentions(refused(write(tmp_path, text)), "name", "Field required")


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    text = MINIMAL.replace('currency = "EUR"', 'currency = "eur"\ncolour = "red"')
    assert_mentions(refused(write(tmp_path, text)), "currency", "colour")


@pytest.mark.parametrize(
    "text",
    [
        'id = "x"\nname = \n',
        'id = "x"\n[tiers\nwindow = "calendar_year"\n',
        'id = "x"\nid = "y"\n',
        "this is not toml\n",
    ],
)
def test_invalid_toml_syntax_is_refused(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    error = refused(path)
    assert_mentions(error, str(path), "not valid TOML", "line ")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    error = refused(path)
    assert error.field == "program"
    assert_mentions(error, "nowhere.toml", "no such preset", "soko", "program file")


def test_an_unknown_preset_is_refused() -> None:
    error = refused("nosuch")
    assert error.field == "program"
    assert_mentions(error, "nosuch", "no such preset (soko, sogo, soma)")


def test_a_directory_is_not_a_program_file(tmp_path: Path) -> None:
    assert_mentions(refused(tmp_path), "no such preset")


def test_a_version_with_invalid_changes_is_refused(tmp_path: Path) -> None:
    text = preset_text("sogo").replace(
        'negative_balance = "suspend"',
        'negative_balance = "suspend"\n'
        'versions = [{ effective = "2025-01-01", changes = { blocks = { block_points = 0 } } }]',
    )
    assert_mentions(refused(write(tmp_path, text)), "block_points", "greater than 0")


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"colour": "red"}, ("colour", "Extra inputs are not permitted")),
        ({"earning": {"rounding": "ceil"}}, ("earning.rounding", "'floor' or 'half_up'")),
        ({"timezone": "Mars/Olympus_Mons"}, ("unknown time zone",)),
        (
            {"tiers": {"levels": [{"id": "silver", "threshold": "5", "rate": "1"}]}},
            ("threshold 0",),
        ),
    ],
)
def test_a_version_whose_merged_program_is_invalid_is_refused(
    changes: dict[str, Any], fragments: tuple[str, ...]
) -> None:
    data = preset_data("sogo")
    data["versions"] = [{"effective": "2025-01-01", "changes": changes}]
    with pytest.raises(InvalidProgram) as info:
        program_from_dict(data, source="sogo-2025.toml")
    assert_mentions(info.value, "sogo-2025.toml", *fragments)


def test_a_version_with_a_bad_date_is_refused() -> None:
    data = preset_data("sogo")
    data["versions"] = [{"effective": "next year", "changes": {}}]
    with pytest.raises(InvalidProgram) as info:
        program_from_dict(data)
    assert_mentions(info.value, "versions.0.effective", "valid date")


def test_program_from_dict_accepts_a_preset() -> None:
    assert program_from_dict(preset_data("soma")) == load_program("soma")


# --- program versions -----------------------------------------------------------------------------

VERSIONED_SOGO = preset_text("sogo").replace(
    'negative_balance = "suspend"         # SG-11',
    'negative_balance = "suspend"         # SG-11\n'
    'versions = [{effective = "2025-01-01", changes = {blocks = {block_points = 1500}}}]',
)


def redeem_block(at: str, order: str) -> str:
    return ev(type="redeem", at=at, member="m1", blocks=1, order=order, subtotal="50.00")


def versioned_engine(tmp_path: Path) -> Engine:
    assert "versions = " in VERSIONED_SOGO
    engine = Engine(load_program(write(tmp_path, VERSIONED_SOGO, "sogo-2025.toml")))
    assert engine.apply(
        ev(type="enroll", at="2024-06-01T10:00:00+08:00", member="m1", email="a@example.com")
    ).accepted
    purchase = ev(
        type="purchase",
        at="2024-06-01T11:00:00+08:00",
        member="m1",
        order="o1",
        channel="store",
        lines=[{"sku": "A", "amount": "2900.00"}],
    )
    assert engine.apply(purchase).accepted  # 2,900 points, available after 14 days (SG-6)
    return engine


def redeemed(engine: Engine) -> list[int]:
    return [e.points for e in engine.ledger("m1") if e.kind == "redeem"]


def test_a_version_changes_the_block_size_only_from_its_date(tmp_path: Path) -> None:
    engine = versioned_engine(tmp_path)
    program = engine.program
    assert program.blocks is not None and program.blocks.block_points == 1000
    # the last minute of 2024 in Kuala Lumpur: the old block size
    assert engine.apply(redeem_block("2024-12-31T23:59:00+08:00", "o2")).accepted
    assert redeemed(engine) == [-1000]
    assert engine.summary("m1")["points"]["available"] == 1900
    # 2025-01-01 00:30 in Kuala Lumpur (still 2024-12-31 in UTC): the new one
    assert engine.apply(redeem_block("2025-01-01T00:30:00+08:00", "o3")).accepted
    assert redeemed(engine) == [-1000, -1500]  # history is not rewritten
    assert engine.summary("m1")["points"]["available"] == 400
    # a block is still worth RM 10: only the points per block changed
    notes = [e.note for e in engine.ledger("m1") if e.kind == "redeem"]
    assert notes == ["worth 10.00", "worth 10.00"]


def test_after_the_version_a_block_needs_the_new_number_of_points(tmp_path: Path) -> None:
    engine = versioned_engine(tmp_path)
    assert engine.apply(
        ev(type="adjust", at="2025-02-01T10:00:00+08:00", member="m1", points=-1500, reason="x")
    ).accepted
    # 1,400 points: a 1,000-point block before the change, not enough after it
    outcome = engine.apply(redeem_block("2025-02-01T11:00:00+08:00", "o2"))
    assert not outcome.accepted
    assert outcome.error is not None
    assert outcome.error.code == "insufficient_points"
    assert str(outcome.error) == "blocks: 1500 points needed, 1400 available"


def test_the_unversioned_preset_keeps_its_block_size(tmp_path: Path) -> None:
    engine = Engine(load_program("sogo"))
    enroll = ev(type="enroll", at="2024-06-01T10:00:00+08:00", member="m1", email="a@example.com")
    assert engine.apply(enroll).accepted
    purchase = ev(
        type="purchase",
        at="2024-06-01T11:00:00+08:00",
        member="m1",
        order="o1",
        channel="store",
        lines=[{"sku": "A", "amount": "2900.00"}],
    )
    assert engine.apply(purchase).accepted
    assert engine.apply(redeem_block("2025-01-01T00:30:00+08:00", "o3")).accepted
    assert redeemed(engine) == [-1000]


def test_a_program_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(b'id = "\xff"\n')
    with pytest.raises(InvalidProgram, match="not valid UTF-8"):
        load_program(path)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('timezone = "America/New_York"', 'timezone = "Mars/Olympus"', "timezone"),
        ('value = "10.00"', "value = 10.5", "rewards.0.value"),
        ('min_tier = "vip"', 'min_tier = "gold"', "rewards"),
    ],
)
def test_model_level_errors_name_their_field(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    text = preset_text("soko")
    assert old in text
    path = tmp_path / "p.toml"
    path.write_text(text.replace(old, new))
    with pytest.raises(InvalidProgram) as info:
        load_program(path)
    assert info.value.field == field
    assert f"{field}:" in str(info.value)
    assert "Value error" not in str(info.value)


def test_an_invalid_version_is_reported_at_the_version(tmp_path: Path) -> None:
    text = preset_text("sogo")
    version = 'versions = [{effective = "2025-01-01", changes = {blocks = {block_points = 0}}}]\n'
    path = tmp_path / "p.toml"
    path.write_text(version + text)
    with pytest.raises(InvalidProgram) as info:
        load_program(path)
    assert info.value.field == "versions.0.changes.blocks.block_points"


# --- limits the engine relies on (audit 9) ------------------------------------------------------


def minimal_data() -> dict[str, Any]:
    return tomllib.loads(MINIMAL)


def refused_dict(data: dict[str, Any]) -> InvalidProgram:
    with pytest.raises(InvalidProgram) as info:
        program_from_dict(data, source="p.toml")
    assert "Traceback" not in str(info.value)
    return info.value


@pytest.mark.parametrize(
    ("section", "values", "field"),
    [
        ("blocks", {"block_points": 1000, "block_value": "0"}, "blocks.block_value"),
        ("blocks", {"block_points": 1000, "block_value": "0.00"}, "blocks.block_value"),
        (
            "conversion",
            {"step_points": 125, "step_value": "0", "cap": "30.00", "validity_days": 60},
            "conversion.step_value",
        ),
        (
            "conversion",
            {"step_points": 125, "step_value": "5.00", "cap": "0", "validity_days": 60},
            "conversion.cap",
        ),
    ],
)
def test_money_the_engine_divides_by_must_be_above_zero(
    section: str, values: dict[str, Any], field: str
) -> None:
    data = minimal_data()
    data[section] = values
    error = refused_dict(data)
    assert error.field == field
    assert_mentions(error, f"{field}: Input should be greater than 0")


@pytest.mark.parametrize(
    ("section", "key", "kind", "ok", "too_many", "limit"),
    [
        ("expiry", "years", {"kind": "years_after_earn"}, 100, 101, "100"),
        ("expiry", "months", {"kind": "month_end_after"}, 1200, 1201, "1200"),
        ("tiers", "status_years", {}, 100, 101, "100"),
        ("tiers", "trailing_days", {"window": "trailing_days"}, 36500, 36501, "36500"),
        ("pending", "amount", {"kind": "hours"}, 876000, 876001, "876000 hours"),
        ("pending", "amount", {"kind": "days"}, 36500, 36501, "36500 days"),
        ("pending", "amount", {"kind": "none"}, 876000, 876001, "876000 hours"),
        (
            "pending",
            "amount",
            {"kind": "business_days", "country": "US"},
            2610,
            2611,
            "2610 business days",
        ),
        (
            "conversion",
            "validity_days",
            {"step_points": 125, "step_value": "5.00", "cap": "30.00"},
            36500,
            36501,
            "36500",
        ),
    ],
)
def test_counts_that_become_dates_have_an_upper_limit(
    section: str, key: str, kind: dict[str, Any], ok: int, too_many: int, limit: str
) -> None:
    data = minimal_data()
    data[section] = {**data.get(section, {}), **kind, key: ok}
    program_from_dict(data)  # the limit itself is allowed
    data[section][key] = too_many
    error = refused_dict(data)
    assert error.field == f"{section}.{key}"
    assert_mentions(error, f"{section}.{key}:", limit)


def test_a_huge_expiry_is_refused_before_it_crashes_a_replay(tmp_path: Path) -> None:
    text = MINIMAL + '\n[expiry]\nkind = "years_after_earn"\nyears = 100000\n'
    assert_mentions(refused(write(tmp_path, text)), "expiry.years", "100")


@pytest.mark.parametrize(
    ("section", "key", "ok", "too_many"),
    [
        ("enrollment", "signup_points", 10**12, 10**12 + 1),
        ("rewards", "cost", 10**12, 10**20),
        ("actions", "points", 10**12, 10**20),
    ],
)
def test_point_amounts_stay_within_the_events_limit(
    section: str, key: str, ok: int, too_many: int
) -> None:
    data = minimal_data()
    if section == "enrollment":
        data[section] = {key: ok}
    else:
        data[section] = [{"id": "x", key: ok}]
    program_from_dict(data)
    where = f"{section}.{key}" if section == "enrollment" else f"{section}.0.{key}"
    if section == "enrollment":
        data[section][key] = too_many
    else:
        data[section][0][key] = too_many
    error = refused_dict(data)
    assert error.field == where
    assert_mentions(error, "1000000000000")


@pytest.mark.parametrize(
    ("effective", "ok"),
    [
        ("0001-01-01", False),
        ("1899-12-31", False),
        ("1900-01-01", True),
        ("9000-12-31", True),
        ("9001-01-01", False),
        ("9999-12-31", False),
    ],
)
def test_version_dates_are_within_the_supported_years(effective: str, ok: bool) -> None:
    data = minimal_data()
    data["versions"] = [{"effective": effective, "changes": {"name": "Later"}}]
    if ok:
        assert str(program_from_dict(data).versions[0].effective) == effective
        return
    error = refused_dict(data)
    assert error.field == "versions.0.effective"
    assert_mentions(error, "supported range", "1900-9000")


def test_two_versions_on_the_same_date_are_refused(tmp_path: Path) -> None:
    text = MINIMAL + (
        '\n[[versions]]\neffective = 2025-01-01\nchanges = { name = "a" }\n'
        '\n[[versions]]\neffective = 2025-01-01\nchanges = { name = "b" }\n'
    )
    error = refused(write(tmp_path, text))
    assert error.field == "versions.1.effective"
    assert_mentions(error, "2025-01-01")


@pytest.mark.parametrize("section", ["actions", "rewards", "benefits"])
def test_duplicate_ids_are_refused(section: str) -> None:
    data = minimal_data()
    item: dict[str, Any] = {"actions": {"points": 5}, "rewards": {"cost": 100}}.get(section, {})
    data[section] = [{"id": "a", **item}, {"id": "dup", **item}, {"id": "dup", **item}]
    error = refused_dict(data)
    assert error.field == section
    assert_mentions(error, "ids must be unique", "'dup'")


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"id": "other"}, "versions.0.changes.id", "cannot change the program's id"),
        ({"timezone": "Asia/Tokyo"}, "versions.0.changes.timezone", "cannot change"),
        (
            {"tiers": {"window": "trailing_days"}},
            "versions.0.changes.tiers.window",
            "cannot change the tier window",
        ),
        (
            {
                "conversion": {
                    "step_points": 125,
                    "step_value": "5.00",
                    "cap": "30.00",
                    "validity_days": 60,
                }
            },
            "versions.0.changes.conversion",
            "cannot turn on [conversion]",
        ),
        ({"birthday": {}}, "versions.0.changes.birthday", "cannot turn on [birthday]"),
        (
            {"versions": [{"effective": "2026-01-01", "changes": {"name": 5}}]},
            "versions.0.changes.versions",
            "cannot contain versions",
        ),
    ],
)
def test_a_version_cannot_change_what_the_engine_keeps(
    changes: dict[str, Any], field: str, fragment: str
) -> None:
    data = minimal_data()
    data["versions"] = [{"effective": "2025-01-01", "changes": changes}]
    error = refused_dict(data)
    assert error.field == field
    assert_mentions(error, fragment)


def test_a_version_may_restate_the_base_values_and_change_existing_sections() -> None:
    data = preset_data("soma")
    data["versions"] = [
        {
            "effective": "2025-01-01",
            "changes": {
                "id": "soma",
                "timezone": "America/New_York",
                "tiers": {"window": "calendar_year"},
                "conversion": {"cap": "50.00"},
                "birthday": {"requires_email_opt_in": False},
            },
        }
    ]
    assert len(program_from_dict(data).versions) == 1


@pytest.mark.parametrize("code", ["ca", "Ca", "CAN", "C", ""])
def test_excluded_countries_are_two_capital_letters(code: str) -> None:
    data = minimal_data()
    data["enrollment"] = {"excluded_countries": ["US", code]}
    error = refused_dict(data)
    assert error.field == "enrollment.excluded_countries.1"
    assert_mentions(error, "[A-Z]{2}")


@pytest.mark.parametrize(
    ("threshold", "fragment"),
    [
        ('"1e2"', "no exponent"),
        ('"1E+2"', "no exponent"),
        ('"1e30"', "no exponent"),
        ('"1000000000000"', "less than 1000000000000"),
        ("1000000000000", "less than 1000000000000"),
    ],
)
def test_thresholds_are_plain_decimals_within_the_money_limit(
    tmp_path: Path, threshold: str, fragment: str
) -> None:
    text = MINIMAL.replace('threshold = "100.00"', f"threshold = {threshold}")
    error = refused(write(tmp_path, text))
    assert error.field == "tiers.levels.1.threshold"
    assert_mentions(error, fragment)


def test_the_largest_money_value_is_accepted(tmp_path: Path) -> None:
    text = MINIMAL.replace('threshold = "100.00"', 'threshold = "999999999999.99"')
    assert str(load_program(write(tmp_path, text)).tiers.levels[1].threshold) == "999999999999.99"


@pytest.mark.parametrize(
    ("rate", "fragment"),
    [
        ("1.4", 'decimal string such as "1.5" (not a float)'),
        ('"1e400"', "no exponent"),
        ('"101"', "less than or equal to 100"),
    ],
)
def test_rates_are_decimal_strings(tmp_path: Path, rate: str, fragment: str) -> None:
    text = MINIMAL.replace('rate = "2"', f"rate = {rate}")
    error = refused(write(tmp_path, text))
    assert error.field == "tiers.levels.1.rate"
    assert_mentions(error, fragment)


def test_a_program_file_starting_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_program(path).id == "corner-shop"
