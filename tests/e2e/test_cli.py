"""End-to-end tests of the ``loyalty`` command line (SPEC §6), run as a real process through the
installed console script: replay (SPEC §8 JSON and the readable table), demo, generate-history and
check-program. A failure is an exit status 2 with a clear message, never a stack trace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

LOYALTY = Path(sys.executable).with_name("loyalty")

ENROLL = {
    "type": "enroll",
    "at": "2024-01-02T10:00:00-05:00",
    "member": "m1",
    "email": "m1@example.com",
}
PURCHASE = {
    "type": "purchase",
    "at": "2024-01-02T11:00:00-05:00",
    "member": "m1",
    "order": "o1",
    "channel": "online",
    "lines": [{"sku": "A", "amount": "57.99"}],
    "shipping": "5.00",
    "tax": "4.10",
    "tenders": [{"type": "card", "amount": "67.09"}],
}
REVIEW = {
    "type": "action",
    "at": "2024-01-02T12:00:00-05:00",
    "member": "m1",
    "action": "review",
    "ref": "review-77",
}
HISTORY = [
    json.dumps(ENROLL),  # 1
    json.dumps(PURCHASE),  # 2: floor(57.99) = 57 points, pending 48h (SK-4, SK-5)
    json.dumps({**REVIEW, "stars": 5}),  # 3: unknown field
    "",  # 4: blank, skipped
    json.dumps({**REVIEW, "member": "ghost"}),  # 5: unknown member
    json.dumps(REVIEW),  # 6: 50 points at once (SK-8)
    '{"type": "tick", ',  # 7: malformed
]


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
    result = subprocess.run(
        [str(LOYALTY), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout
    return result


def flat(text: str) -> str:
    """The text with runs of whitespace (rich's line wrapping) collapsed to one space."""
    return " ".join(text.split())


@pytest.fixture
def history(tmp_path: Path) -> Path:
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(HISTORY) + "\n")
    return path


def test_the_console_script_is_installed() -> None:
    assert LOYALTY.is_file(), LOYALTY
    result = run("--help")
    assert result.returncode == 0
    for command in ("replay", "demo", "generate-history", "check-program"):
        assert command in result.stdout


# --- replay ---------------------------------------------------------------------------------------


def test_replay_json_prints_the_spec_summary(history: Path) -> None:
    result = run("replay", str(history), "--program", "soko", "--json")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert set(output) == {"members", "rejected"}
    assert set(output["members"]) == {"m1"}
    m1 = output["members"]["m1"]
    assert m1 == {
        "status": "active",
        "tier": "member",
        "tier_valid_until": None,
        "points": {
            "available": 100,
            "pending": 57,
            "expiring_this_month": 0,
            "lifetime_earned": 157,
        },
        "qualifying_spend": "57.99",
        "reward_balance": "0.00",
        "certificates": [],
    }
    rejected = {r["line"]: r["error"] for r in output["rejected"]}
    assert sorted(rejected) == [3, 5, 7]
    assert rejected[3] == "stars: unknown field"
    assert rejected[5] == "member: unknown member ghost"
    assert rejected[7].startswith("malformed JSON")


def test_replay_json_with_a_program_file(history: Path, tmp_path: Path) -> None:
    program = tmp_path / "double.toml"
    program.write_text(
        'id = "double"\nname = "Double"\ncurrency = "USD"\ntimezone = "America/New_York"\n'
        '[tiers]\nwindow = "calendar_year"\n'
        'levels = [{ id = "base", threshold = "0", rate = "2" }]\n'
        '[[actions]]\nid = "review"\npoints = 10\n'
    )
    result = run("replay", str(history), "--program", str(program), "--json")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    # no sign-up points, no pending period: 2 x 57 + 10
    assert output["members"]["m1"]["points"]["available"] == 124
    assert [r["line"] for r in output["rejected"]] == [3, 5, 7]


def test_replay_prints_a_readable_table(history: Path) -> None:
    result = run("replay", str(history), "--program", "soko")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)
    assert "Soko Rewards" in out
    assert "m1" in out
    for column in ("member", "status", "tier", "available", "pending", "lifetime"):
        assert column in out
    assert "active" in out
    lines = out.splitlines()
    row = next(line for line in lines if "m1" in line)
    for value in ("active", "member", "100", "57", "157", "57.99"):
        assert value in row, row
    assert "line 3: stars: unknown field" in flat(out)
    assert "line 5: member: unknown member ghost" in flat(out)
    assert "line 7: malformed JSON" in flat(out)
    assert "3 inputs accepted, 3 rejected, 1 members" in flat(out)


def test_replay_of_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    result = run("replay", str(path), "--program", "sogo", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"members": {}, "rejected": []}


def test_replay_with_an_unknown_program_fails_clearly(history: Path) -> None:
    result = run("replay", str(history), "--program", "nosuch", "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    err = flat(result.stderr)
    assert "error" in err
    assert "nosuch" in err
    assert "no such preset" in err


def test_replay_of_a_missing_file_fails_clearly(tmp_path: Path) -> None:
    result = run("replay", "missing.jsonl", "--program", "soko", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "missing.jsonl: no such file" in flat(result.stderr)


def test_replay_of_a_directory_fails_clearly(tmp_path: Path) -> None:
    result = run("replay", str(tmp_path), "--program", "soko")
    assert result.returncode == 2
    assert f"{tmp_path}: is a directory" in flat(result.stderr)


def test_replay_with_a_bad_program_file_names_the_field(history: Path, tmp_path: Path) -> None:
    program = tmp_path / "bad.toml"
    program.write_text(
        'id = "bad"\nname = "Bad"\ncurrency = "USD"\ntimezone = "America/New_York"\n'
        '[tiers]\nwindow = "calendar_year"\n'
        'levels = [{ id = "base", threshold = "0", rate = "0" }]\n'
    )
    result = run("replay", str(history), "--program", str(program), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "tiers.levels.0.rate" in flat(result.stderr)
    assert "greater than 0" in flat(result.stderr)


def test_replay_without_a_program_is_a_usage_error(history: Path) -> None:
    result = run("replay", str(history))
    assert result.returncode == 2
    assert "--program" in result.stderr


# --- demo -----------------------------------------------------------------------------------------


def test_demo_runs() -> None:
    result = run("demo")
    assert result.returncode == 0, result.stderr
    for title in ("Soko Rewards (demo)", "SOGO Rewards (demo)", "Love Soma Rewards (demo)"):
        assert title in result.stdout
    assert result.stdout.count("inputs accepted") == 3


# --- generate-history -----------------------------------------------------------------------------


def generate(*args: str) -> str:
    result = run("generate-history", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def events(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        event = json.loads(line)
        assert isinstance(event, dict)
        out.append(event)
    return out


def test_generate_history_prints_valid_json_lines_deterministically(tmp_path: Path) -> None:
    first = generate("--program", "soma", "--members", "5", "--seed", "3")
    again = generate("--program", "soma", "--members", "5", "--seed", "3")
    other = generate("--program", "soma", "--members", "5", "--seed", "4")
    assert first == again
    assert first != other
    parsed = events(first)
    assert parsed
    assert all("type" in e and "at" in e for e in parsed)
    enrolled = {e["member"] for e in parsed if e["type"] == "enroll"}
    assert len(enrolled) == 5
    times = [e["at"] for e in parsed]
    assert all(t[-6] in "+-" or t.endswith("Z") for t in times)  # ISO-8601 with an offset

    path = tmp_path / "soma.jsonl"
    path.write_text(first)
    replayed = run("replay", str(path), "--program", "soma", "--json")
    assert replayed.returncode == 0, replayed.stderr
    output = json.loads(replayed.stdout)
    assert output["rejected"] == []
    assert set(output["members"]) == enrolled


def test_generate_history_with_an_unknown_program_fails_clearly() -> None:
    result = run("generate-history", "--program", "nosuch", "--members", "2")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "no such preset" in flat(result.stderr)


def test_generate_history_refuses_zero_members() -> None:
    result = run("generate-history", "--program", "soma", "--members", "0")
    assert result.returncode == 2
    assert result.stdout == ""


# --- check-program --------------------------------------------------------------------------------


def test_check_program_accepts_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(
        'id = "ok"\nname = "Fine Rewards"\ncurrency = "USD"\ntimezone = "America/Chicago"\n'
        '[tiers]\nwindow = "trailing_days"\n'
        'levels = [{ id = "base", threshold = "0", rate = "1" }]\n'
    )
    result = run("check-program", str(path))
    assert result.returncode == 0, result.stderr
    assert "ok: Fine Rewards (ok), 1 tiers" in flat(result.stdout)


@pytest.mark.parametrize("preset", ["soko", "sogo", "soma"])
def test_check_program_accepts_the_presets(preset: str) -> None:
    result = run("check-program", preset)
    assert result.returncode == 0, result.stderr
    assert "ok:" in result.stdout


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        (
            'colour = "red"\n[tiers]\nwindow = "calendar_year"\n'
            'levels = [{ id = "base", threshold = "0", rate = "1" }]\n',
            ("colour", "Extra inputs are not permitted"),
        ),
        (
            '[tiers]\nwindow = "calendar_year"\nlevels = [\n'
            '  { id = "base", threshold = "0", rate = "1" },\n'
            '  { id = "gold", threshold = "9.999", rate = "2" },\n]\n',
            ("tiers.levels.1.threshold", "2 decimal places"),
        ),
        (
            '[tiers]\nwindow = "calendar_year"\nlevels = [\n'
            '  { id = "base", threshold = "0", rate = "1" },\n'
            '  { id = "gold", threshold = "0", rate = "2" },\n]\n',
            ("tiers", "tier thresholds must increase"),
        ),
        ("[tiers\n", ("not valid TOML", "line")),
    ],
    ids=["unknown-key", "bad-money", "thresholds", "syntax"],
)
def test_check_program_refuses_a_bad_file_naming_the_field(
    tmp_path: Path, body: str, fragments: tuple[str, ...]
) -> None:
    path = tmp_path / "bad.toml"
    head = 'id = "bad"\nname = "Bad"\ncurrency = "USD"\ntimezone = "America/New_York"\n'
    path.write_text(head + body)
    result = run("check-program", "bad.toml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    err = flat(result.stderr)
    assert err.startswith("error: bad.toml")
    for fragment in fragments:
        assert fragment in err, err


def test_check_program_of_a_missing_file_fails_clearly(tmp_path: Path) -> None:
    result = run("check-program", "nowhere.toml", cwd=tmp_path)
    assert result.returncode == 2
    assert "nowhere.toml: no such preset" in flat(result.stderr)
