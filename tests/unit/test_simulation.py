"""The what-if simulator (``loyalty simulate``).

* Differential: the simulator, which splits the history by member across processes, gives every
  member the summary that a replay of the whole file gives, and rejects the same lines with the
  same reasons: for each preset, with one process and with several, and for histories whose times
  go backwards or that link registrations to member numbers (SM-2).
* One definition of each figure: the simulator's figures for a history equal the database reports
  (``loyalty report``) after importing the same history and running the jobs.
* The command line, as a real process: a bigger redemption block redeems fewer times.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty import load_program, replay_file
from loyalty.adapters import codec
from loyalty.domain.calendar import local_date, next_month_start
from loyalty.domain.engine import Engine
from loyalty.domain.events import parse_event
from loyalty.domain.figures import (
    economics_figures,
    liability_figures,
    month_of,
    outstanding_over_time,
)
from loyalty.domain.tiers import tier_on
from loyalty.programs.loader import PRESETS
from loyalty.services import simulation
from loyalty.services.durable import DurableEngine
from loyalty.services.reports import REPORTS
from loyalty.services.simulation import simulate
from loyalty.services.synthetic import generate_history
from tests.builders import one_line_purchase, sogo_member

LOYALTY = Path(sys.executable).with_name("loyalty")
PRESET_DIR = Path(__file__).resolve().parents[2] / "src/loyalty/programs/presets"


def write_history(
    path: Path, preset: str, members: int = 40, months: int = 14, seed: int = 2
) -> Path:
    lines = generate_history(load_program(preset), members=members, months=months, seed=seed)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def assert_same_as_replay(path: Path, preset: str, **options: Any) -> Any:
    program = load_program(preset)
    expected = replay_file(program, path)
    result = simulate(path, [program], keep_members=True, **options)
    variant = result.variants[0]
    assert variant.members == expected.output()["members"]
    assert variant.rejected == expected.output()["rejected"]
    assert variant.accepted == expected.accepted
    assert variant.as_of == expected.engine.now
    if result.partitions > 1:  # the figures do not depend on the partitioning either
        whole = simulate(path, [program], processes=1, partitions=1).variants[0]
        assert variant.figures == whole.figures
    return result


# -- differential: the simulator equals a replay of the whole history --------------------------
@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize(
    ("processes", "partitions"), [(1, 1), (1, 3), (2, None)], ids=["1x1", "1x3", "2xauto"]
)
def test_every_member_ends_as_in_a_replay_of_the_whole_history(
    preset: str, processes: int, partitions: int | None, tmp_path: Path
) -> None:
    path = write_history(tmp_path / "history.jsonl", preset)
    result = assert_same_as_replay(path, preset, processes=processes, partitions=partitions)
    assert result.partitions == (partitions or 8)
    assert result.single_partition_reason is None


@pytest.mark.parametrize("ending", ["\n", ""], ids=["newline", "none"])
def test_a_history_scanned_in_many_byte_ranges_is_split_and_still_exact(
    tmp_path: Path, ending: str
) -> None:
    """The scan reads the history in byte ranges (in parallel), and each range's lines are
    written into the partitions by a process of its own. Ranges of ~10 KB here, a blank line,
    lines that are not JSON (the last one, with or without its newline, too): every line is the
    one a replay of the whole file reads, under its own number, rejected with its words."""
    lines = write_history(tmp_path / "in-order.jsonl", "sogo").read_text().splitlines()
    lines.insert(len(lines) // 4, "")
    lines.insert(len(lines) // 3, "{not json")
    lines.insert(len(lines) // 2, '  {"type": "tick", "at": "2024-01-01T00:00:00+08:00"}\r')
    lines.append('{"type": "tick", "at"')  # its error names the line's end
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines) + ending)
    ranges: list[int] = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "scan":
            ranges.append(total)

    result = assert_same_as_replay(
        path, "sogo", processes=2, partitions=4, scan_chunk=4096, progress=progress
    )
    assert result.partitions == 4
    assert ranges and ranges[0] >= 10, ranges
    errors = [r["error"] for r in result.variants[0].rejected]
    assert len(errors) >= 2, errors


def test_a_history_whose_times_go_backwards_is_split_and_still_exact(tmp_path: Path) -> None:
    """Lines out of time order are rejected in a whole-file replay depending on other members'
    lines; the partitions are told the whole history's clock. A far-future line that is itself
    rejected does not move the clock: the first estimate is wrong, a second round corrects it."""
    lines = write_history(tmp_path / "in-order.jsonl", "sogo").read_text().splitlines()
    late = json.loads(lines[len(lines) // 2])
    late["at"] = "2030-01-01T00:00:00+08:00"
    for i in range(100, len(lines) - 40, 97):  # swap neighbours: some go back in time
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    lines.insert(len(lines) // 3, json.dumps({**late, "type": "action", "action": "nope"}))
    lines.insert(len(lines) // 3 + 5, "{not json")
    lines.insert(len(lines) // 2, '{"type": "tick", "at"')  # its error names the line's end
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = assert_same_as_replay(path, "sogo", processes=2, partitions=4)
    assert result.partitions == 4
    assert result.rounds >= 2
    errors = [r["error"] for r in result.variants[0].rejected]
    assert any("time goes backwards" in e for e in errors)
    months = [row["month"] for row in result.variants[0].figures["tiers_by_month"]]
    assert max(months) < "2030"  # the far-future line was rejected: no month ends up to it


def test_a_history_whose_clock_does_not_settle_is_replayed_as_one_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rejected far-future lines fool the first estimate of the clock; allowed a single round,
    the simulator falls back to one partition (exact)."""
    lines = write_history(tmp_path / "in-order.jsonl", "soko").read_text().splitlines()
    for n in range(4):
        position = (n + 1) * len(lines) // 6
        late = {"type": "tick", "at": f"203{n}-01-01T00:00:00Z", "unknown": 1}
        lines.insert(position, json.dumps(late))
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert assert_same_as_replay(path, "soko", processes=2, partitions=4).rounds == 3
    monkeypatch.setattr(simulation, "MAX_ROUNDS", 1)
    result = assert_same_as_replay(path, "soko", processes=2, partitions=4)
    assert result.partitions == 1
    assert "back and forth" in (result.single_partition_reason or "")


def test_a_history_linking_member_numbers_is_replayed_as_one_partition(tmp_path: Path) -> None:
    """SM-2: the owner of a member number is only known during the replay."""
    path = write_history(tmp_path / "history.jsonl", "soma", members=20)
    replay = replay_file(load_program("soma"), path)
    target = next(iter(replay.engine.members))
    at = replay.engine.now.isoformat() if replay.engine.now else None
    link = {
        "type": "enroll",
        "at": at,
        "member": "online-registration",
        "member_number": replay.engine.member_number(target),
        "email": "linked@example.com",
        "first_name": "Ada",
        "last_name": "Linked",
        "phone": "+442079460000",
        "address": "1 Main St",
        "birth_month": 3,
    }
    purchase = {  # made under the linked registration: it earns for the boutique member
        "type": "purchase",
        "at": at,
        "member": "online-registration",
        "order": "linked-o1",
        "channel": "store",
        "lines": [{"sku": "X", "amount": "80.00"}],
        "shipping": "0.00",
        "tax": "0.00",
        "tenders": [{"type": "card", "amount": "80.00"}],
    }
    with path.open("a") as handle:
        handle.write(json.dumps(link) + "\n" + json.dumps(purchase) + "\n")
    assert replay_file(load_program("soma"), path).rejected == replay.rejected
    result = assert_same_as_replay(path, "soma", processes=2, partitions=4)
    assert result.partitions == 1
    assert "SM-2" in (result.single_partition_reason or "")
    # no table of identifiers is built for a history that goes to one partition (in one range
    # or many)
    for chunk in (simulation.SCAN_CHUNK, 256):
        scanned, groups = simulation._scan(path, 2, None, chunk)
        assert sum(p.links for p in scanned.parts) == 1 and len(groups) == 0
    linkless = write_history(tmp_path / "linkless.jsonl", "soma", members=20)
    assert len(simulation._scan(linkless, 2, None, 256)[1]) > 20


def test_members_sharing_an_email_go_to_one_partition_and_only_they(tmp_path: Path) -> None:
    """SG-1 (one account a person): an enrolment that takes another member's email just before
    that member enrols makes the member's own enrolment, and so all its history, rejected in a
    replay of the whole file. The scan puts a member's lines in the bucket of its id; the two
    members' buckets are joined into one class by the email they share (and only they)."""
    lines = write_history(tmp_path / "in-order.jsonl", "sogo").read_text().splitlines()
    index, first = next((i, json.loads(x)) for i, x in enumerate(lines) if '"enroll"' in x)
    taker = {**first, "member": "email-taker", "phone": "+60300000000"}
    assert simulation.member_bucket("email-taker") != simulation.member_bucket(first["member"])
    lines.insert(index, json.dumps(taker))
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines) + "\n")
    replay = replay_file(load_program("sogo"), path)
    assert first["member"] not in replay.engine.members  # its enrolment was rejected (SG-1)
    result = assert_same_as_replay(path, "sogo", processes=2, partitions=4, scan_chunk=4096)
    assert result.partitions == 4
    _, table = simulation._scan(path, 2, None, 4096)
    buckets = {table.cls(b) for b in range(simulation.BUCKETS)}
    assert len(buckets) == simulation.BUCKETS - 1  # one class of two buckets, the rest alone
    taker_bucket = simulation.member_bucket("email-taker")
    assert table.cls(taker_bucket) == table.cls(simulation.member_bucket(first["member"]))


def test_a_history_whose_members_all_share_a_phone_is_replayed_as_one_partition(
    tmp_path: Path,
) -> None:
    """Every enrolment gives one phone (SG-1: only the first is accepted): every member's bucket
    is joined into one class, and the history is replayed whole (exact)."""
    lines = write_history(tmp_path / "in-order.jsonl", "sogo", members=12).read_text()
    shared = [
        json.dumps({**json.loads(x), "phone": "+60312345678"}) if '"enroll"' in x else x
        for x in lines.splitlines()
    ]
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(shared) + "\n")
    result = assert_same_as_replay(path, "sogo", processes=2, partitions=4)
    assert result.partitions == 1
    assert "share" in (result.single_partition_reason or "")


# -- one definition of each figure, two sources of data --------------------------------------------
@pytest.mark.parametrize("preset", PRESETS)
def test_the_figures_equal_the_database_reports(
    preset: str, sqlite_url: str, tmp_path: Path
) -> None:
    program = load_program(preset)
    path = write_history(tmp_path / "history.jsonl", preset, members=30, months=26, seed=4)
    durable = DurableEngine(program, sqlite_url)
    durable.import_file(path)
    durable.run_jobs()
    with durable.db.connect() as conn:
        reports = {name: report(conn, program) for name, report in REPORTS.items()}
    durable.db.dispose()

    figures = simulate(path, [program], processes=2, partitions=3).variants[0].figures
    for name in ("liability", "activity", "tiers", "economics"):
        assert figures[name] == reports[name], name
    assert reports["activity"]["totals"]["issued"] > 0
    # the running sum of the ledger is the liability at the end
    assert figures["outstanding_by_month"][-1]["points"] == reports["liability"]["net_points"]


@pytest.mark.parametrize("preset", PRESETS)
def test_members_per_tier_at_month_end_are_what_the_jobs_would_make_them(
    preset: str, tmp_path: Path
) -> None:
    """Reference: before the first input of each month, advance every member to the month's last
    instant (the January requalification included), read its tier, and undo."""
    program = load_program(preset)
    path = write_history(tmp_path / "history.jsonl", preset, members=30, months=26, seed=4)
    engine = Engine(program)
    expected: Counter[tuple[str, str]] = Counter()

    def snapshot(moment: Any) -> None:
        rules = engine.rules_at(moment).tiers
        for member in engine.members.values():
            saved = member.checkpoint()
            engine.run_jobs(member, moment)
            if member.enrolled:
                tier = rules.levels[tier_on(rules, member.tiers, local_date(moment, engine.tz))]
                expected[(month_of(moment, engine.tz), tier.id)] += 1
            for code in member.restore(saved):
                engine.registry.drop_code(code)

    boundary = None
    for line in path.read_bytes().splitlines():
        event = parse_event(line)
        boundary = boundary or next_month_start(event.at, engine.tz)
        while event.at >= boundary:
            snapshot(boundary - timedelta(microseconds=1))
            boundary = next_month_start(boundary, engine.tz)
        engine.apply(event)
    assert engine.now is not None and boundary is not None
    while boundary <= engine.now:
        snapshot(boundary - timedelta(microseconds=1))
        boundary = next_month_start(boundary, engine.tz)
    snapshot(engine.now)

    rows = simulate(path, [program], processes=1, partitions=3).variants[0].figures
    got = Counter(
        {
            (row["month"], tier): n
            for row in rows["tiers_by_month"]
            for tier, n in row["tiers"].items()
            if n
        }
    )
    assert got == expected
    assert len({month for month, _ in got}) >= 24


def test_figure_functions_on_plain_rows() -> None:
    sogo = load_program("sogo")
    owed = liability_figures(
        [("2026-03", 500), (None, 7), ("2025-12", 1000), ("2026-03", 1)], 8, sogo
    )
    assert [m["expires"] for m in owed["by_expiry_month"]] == ["2025-12", "2026-03", "never"]
    assert (owed["outstanding_points"], owed["net_points"], owed["net_value"]) == (
        1508,
        1500,
        "15.00",
    )
    running = outstanding_over_time(
        [("2024-01", "earn", 100), ("2024-03", "redeem", -40), ("2024-03", "earn", 5)], sogo
    )
    assert [(r["month"], r["points"]) for r in running] == [
        ("2024-01", 100),
        ("2024-02", 100),
        ("2024-03", 65),
    ]
    soma = load_program("soma")
    economics = economics_figures(
        [("2024-02", "convert", -250)],
        [("2024-03", "reward", 1, Decimal("10.00")), ("2024-03", "birthday_gift", 2, Decimal(0))],
        [("2024-02", Decimal("400.00")), ("2024-03", Decimal("100.00"))],
        soma,
    )
    assert economics["certificates_issued"] == 3
    assert economics["reward_cost"] == "10.00"
    assert economics["reward_cost_per_sales"] == "0.0200"
    assert [m["reward_cost"] for m in economics["months"]] == ["0.00", "10.00"]


# -- the command line ---------------------------------------------------------------------------
def loyalty(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
    return subprocess.run(
        [str(LOYALTY), *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )


@pytest.fixture
def block_1500(tmp_path: Path) -> Path:
    text = (PRESET_DIR / "sogo.toml").read_text()
    assert "block_points = 1000" in text
    path = tmp_path / "sogo-block-1500.toml"
    path.write_text(text.replace("block_points = 1000", "block_points = 1500"))
    return path


def test_simulate_command_shows_the_difference_a_bigger_block_makes(
    tmp_path: Path, block_1500: Path
) -> None:
    history = write_history(tmp_path / "history.jsonl", "sogo", members=60, months=14)
    result = loyalty(
        "simulate", str(history), "--program", "sogo", "--vs", str(block_1500), "--json"
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    a, b = out["variants"]["A"]["key_figures"], out["variants"]["B"]["key_figures"]
    assert a["points_issued"] == b["points_issued"] > 0
    assert a["points_redeemed"] > 0
    assert out["difference"]["points_redeemed"] == b["points_redeemed"] - a["points_redeemed"] != 0
    assert b["rejected_inputs"] > a["rejected_inputs"]  # fewer members can afford a block
    assert out["variants"]["B"]["figures"]["liability"]["point_value"].startswith("0.00666")

    chart = tmp_path / "chart.svg"
    table = loyalty(
        "simulate", str(history), "-p", "sogo", "--vs", str(block_1500), "--plot", str(chart)
    )
    assert table.returncode == 0, table.stderr
    assert "points redeemed" in table.stdout and "difference (B - A)" in table.stdout
    root = ET.parse(chart).getroot()
    assert root.tag.endswith("svg")
    assert len(root.findall("{http://www.w3.org/2000/svg}polyline")) >= 8


def test_simulate_command_refuses_png_and_bad_programs(tmp_path: Path, block_1500: Path) -> None:
    history = write_history(tmp_path / "history.jsonl", "sogo", members=5, months=2)
    png = loyalty(
        "simulate", str(history), "-p", "sogo", "--vs", str(block_1500), "--plot", "c.png"
    )
    assert png.returncode == 2
    assert "only SVG" in png.stderr and "Traceback" not in png.stderr
    bad = loyalty("simulate", str(history), "-p", "sogo", "--vs", "nope")
    assert bad.returncode == 2
    assert "no such preset" in bad.stderr


@pytest.mark.parametrize(
    ("example", "preset", "changed"),
    [
        ("sogo-block-1500.toml", "sogo", {("blocks", "block_points")}),
        ("soma-cap-50.toml", "soma", {("conversion", "cap")}),
    ],
)
def test_each_what_if_example_differs_from_its_preset_only_by_its_change(
    example: str, preset: str, changed: set[tuple[str, str]]
) -> None:
    """docs/examples say "everything else is the preset, unchanged": a setting left out of an
    example (SG-12's combinable_campaigns, SM-2's link_member_number) made the comparison show
    the missing setting as well as the change."""
    folder = Path(__file__).resolve().parents[2] / "docs" / "examples"
    base = load_program(preset).model_dump()
    variant = load_program(str(folder / example)).model_dump()
    differences = {
        (section, key)
        for section, values in base.items()
        if isinstance(values, dict)
        for key in values
        if values[key] != variant[section][key]
    }
    top = {k for k in base if not isinstance(base[k], dict) and base[k] != variant[k]}
    assert differences == changed
    assert top == {"name"}


def _figures_both_ways(
    preset: str, lines: list[dict[str, Any]], sqlite_url: str, tmp_path: Path
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The reports of an import (after `jobs run`), the simulator's figures and the summaries."""
    program = load_program(preset)
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    durable = DurableEngine(program, sqlite_url)
    durable.import_file(path)
    durable.run_jobs()
    with durable.db.connect() as conn:
        reports = {name: report(conn, program) for name, report in REPORTS.items()}
    summaries = durable.summaries()
    durable.db.dispose()
    figures = simulate(path, [program], processes=1).variants[0].figures
    return reports, figures, summaries


def test_SG_10_liability_by_expiry_month_is_the_month_the_points_can_last_be_used(
    sqlite_url: str, tmp_path: Path
) -> None:
    """SG-10: points earned 2024-03-15 expire at the end of 2026-03-31: the liability report
    lists them under 2026-03 (as the summary's expiring_this_month does), not 2026-04, the month
    of the first instant after. And the outstanding points run through the figures' month."""
    enroll = sogo_member("2024-03-01T10:00:00+08:00")
    buy = one_line_purchase("2024-03-15T12:00:00+08:00", "o1", "100.00")
    tick = {"type": "tick", "at": "2026-03-10T09:00:00+08:00"}
    reports, figures, summaries = _figures_both_ways(
        "sogo", [enroll, buy, tick], sqlite_url, tmp_path
    )
    points = summaries["m1"]["points"]
    assert points["expiring_this_month"] == points["available"] > 0
    for liability in (reports["liability"], figures["liability"]):
        months = [row["expires"] for row in liability["by_expiry_month"]]
        assert months == ["2026-03"]
    assert figures["outstanding_by_month"][-1]["month"] == "2026-03"
    assert figures["outstanding_by_month"][-1]["points"] == points["available"]


def test_SK_3_members_per_tier_count_a_lapsed_vip_status_once_the_jobs_ran(
    sqlite_url: str, tmp_path: Path
) -> None:
    """SK-3: VIP earned 2024-01-10 is kept through 2025-01-10. A member with no input since is a
    VIP no more in March 2025: the lapse is due work, so `jobs run` writes the lower tier the
    report counts, and the simulator (which runs the jobs as `jobs run` does) counts the same."""
    enroll = {"type": "enroll", "at": "2024-01-10T10:00:00-05:00", "member": "m1"}
    enroll["email"] = "m1@example.com"
    buy = one_line_purchase("2024-01-10T12:00:00-05:00", "o1", "250.00", channel="online")
    later = {"type": "enroll", "at": "2025-03-01T10:00:00-05:00", "member": "m2"}
    later["email"] = "m2@example.com"
    reports, figures, summaries = _figures_both_ways(
        "soko", [enroll, buy, later], sqlite_url, tmp_path
    )
    assert summaries["m1"]["tier"] == "member"
    assert reports["tiers"]["tiers"] == {"member": 2, "vip": 0, "vip_premier": 0}
    assert figures["tiers"] == reports["tiers"]


def test_SG_9_points_are_valued_at_the_prevailing_block_rate(
    sqlite_url: str, tmp_path: Path
) -> None:
    """SG-9: a version sets the block to 1,500 points from 2024-06-01. One block redeemed in July
    cost RM 10 (not 1,500 x the first version's RM 0.01), and the points left are worth RM 10 per
    1,500."""
    base = (
        Path(__file__).resolve().parents[2] / "src/loyalty/programs/presets/sogo.toml"
    ).read_text()
    program_file = tmp_path / "sogo-1500.toml"
    program_file.write_text(
        base + "\n[[versions]]\neffective = 2024-06-01\n[versions.changes.blocks]\n"
        'block_points = 1500\nblock_value = "10.00"\n'
    )
    enroll = sogo_member("2024-07-01T10:00:00+08:00")
    buy = one_line_purchase("2024-07-01T12:00:00+08:00", "o1", "2000.00")
    redeem = {
        "type": "redeem",
        "at": "2024-07-21T12:00:00+08:00",
        "member": "m1",
        "blocks": 1,
        "order": "o2",
        "subtotal": "100.00",
    }
    tick = {"type": "tick", "at": "2024-08-20T12:00:00+08:00"}
    reports, figures, summaries = _figures_both_ways(
        str(program_file), [enroll, buy, redeem, tick], sqlite_url, tmp_path
    )
    left = summaries["m1"]["points"]["available"]
    assert left > 0
    for source in (reports, figures):
        economics, liability = source["economics"], source["liability"]
        assert economics["redeemed_points"] == 1500
        assert economics["redeemed_value"] == economics["reward_cost"] == "10.00"
        assert liability["net_points"] == left
        assert Decimal(liability["net_value"]) == (Decimal(left) * 10 / 1500).quantize(
            Decimal("0.01")
        )
    assert figures["outstanding_by_month"][-1]["value"] == reports["liability"]["net_value"]


def test_an_identifier_is_named_alike_in_every_scanning_process() -> None:
    """The scan runs in several processes (by byte ranges of the file): a member's lines are only
    kept together if every process names the member alike, whatever its hash seed (``spawn``
    starts each worker with its own)."""
    code = (
        "from loyalty.services.simulation import _node; "
        "print([_node('m', 'm-1'), _node('o', 'o-1'), _node('e', 'ana@example.com')])"
    )
    seen = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(seen) == 1
    nodes = json.loads(seen.pop())
    assert len(set(nodes)) == 3 and all(n >= simulation.RESERVED for n in nodes)


@pytest.mark.parametrize("preset", ["sogo", "soma"])  # calendar-year tiers (SG-2, SM-3)
def test_counting_members_per_tier_at_a_month_end_changes_no_member(
    tmp_path: Path, preset: str
) -> None:
    """A month-end count runs the January requalification for members it has not run for yet,
    for the look only: every member's stored state is the same before and after."""
    engine = replay_file(load_program(preset), write_history(tmp_path / "h.jsonl", preset)).engine
    assert engine.now is not None
    before = {m: codec.dumps(member) for m, member in engine.members.items()}
    later = engine.now + timedelta(days=400)  # a year no member has been requalified for
    counted = Counter[tuple[str, str]]()
    simulation._snapshot(engine, later, counted)
    assert sum(counted.values()) > 0
    assert {m: codec.dumps(member) for m, member in engine.members.items()} == before


def test_a_worker_that_dies_is_reported_and_not_waited_for(tmp_path: Path) -> None:
    """A worker process killed while it replays a part (out of memory, say) ends the simulation
    with a clear error (the command prints it, see ``simulate_cli``); a ``multiprocessing.Pool``
    would start another worker and wait for the lost part for ever."""
    path = write_history(tmp_path / "history.jsonl", "sogo", members=400, months=12)
    program = load_program("sogo")
    outcome: dict[str, BaseException | bool] = {}
    replaying = threading.Event()
    before = {p.pid for p in multiprocessing.active_children()}

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "replay" and done == 1:
            replaying.set()  # one part of 8 done, the next one's child just started
            time.sleep(0.5)  # (the parent waits: no part is collected meanwhile)

    def run() -> None:
        try:
            simulate(path, [program, program], processes=2, partitions=8, progress=progress)
            outcome["finished"] = True
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert replaying.wait(timeout=120), "the replay did not start"
    workers = [p.pid for p in multiprocessing.active_children() if p.pid not in before]
    assert workers, "no worker process"
    # the newest child: it was started just before the first part was reported, and is busy
    # with its own (an older one may have sent its part already and be ending)
    os.kill(max(pid for pid in workers if pid is not None), signal.SIGKILL)
    thread.join(timeout=60)
    assert not thread.is_alive(), "the simulation waits for ever for the killed worker's part"
    assert isinstance(outcome.get("error"), simulation.WorkerLost), outcome
    assert "worker process ended" in str(outcome["error"])


@settings(max_examples=500, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.timedeltas(
            min_value=timedelta(hours=-23, minutes=59), max_value=timedelta(hours=23, minutes=59)
        ).map(timezone),
    )
)
def test_the_scan_counts_microseconds_as_subtracting_the_epoch_does(at: datetime) -> None:
    """The scan's times (the whole history's clock) counted from the time's fields, any offset
    (seconds and microseconds included), against the plain datetime arithmetic."""
    offset = at.utcoffset()
    assert offset is not None
    plain = (at - simulation.EPOCH) // timedelta(microseconds=1)
    assert simulation._micros(at, offset) == plain
