"""The storage commands over a real process and a real SQLite file: db upgrade, import (and its
resume), apply, summary, jobs run, report, member find and link; errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from loyalty import load_program, replay_file
from loyalty.services.synthetic import generate_history

LOYALTY = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "loyalty")


def cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([LOYALTY, *args], capture_output=True, text=True, check=False)
    assert "Traceback" not in done.stderr + done.stdout
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def history(tmp_path: Path, preset: str = "soma", members: int = 25) -> Path:
    path = tmp_path / f"{preset}.jsonl"
    lines = generate_history(load_program(preset), members=members, months=12, seed=4)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_import_then_summary_equals_replay(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/l.db"
    cli("db", "upgrade", "--database", url)
    path = history(tmp_path)
    out = json.loads(cli("import", str(path), "--program", "soma", "-d", url, "--json").stdout)
    expected = replay_file(load_program("soma"), path).output()
    assert out["rejected"] == expected["rejected"]
    summary = json.loads(cli("summary", "--program", "soma", "-d", url, "--json").stdout)
    assert summary["members"] == expected["members"]
    again = json.loads(cli("import", str(path), "--program", "soma", "-d", url, "--json").stdout)
    assert again["resumed_from"] == again["lines"]  # nothing left to do, nothing applied twice
    summary2 = json.loads(cli("summary", "--program", "soma", "-d", url, "--json").stdout)
    assert summary2 == summary


def test_jobs_reports_and_members(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/l.db"
    path = history(tmp_path)
    cli("import", str(path), "--program", "soma", "-d", url)
    assert "members advanced" in cli("jobs", "run", "--program", "soma", "-d", url).stdout
    assert "0 members advanced" in cli("jobs", "run", "--program", "soma", "-d", url).stdout
    summaries = json.loads(cli("summary", "--program", "soma", "-d", url, "--json").stdout)
    liability = json.loads(
        cli("report", "liability", "--program", "soma", "-d", url, "--json").stdout
    )
    total = sum(
        s["points"]["available"] + s["points"]["pending"] for s in summaries["members"].values()
    )
    assert liability["net_points"] == total
    tiers = json.loads(cli("report", "tiers", "--program", "soma", "-d", url, "--json").stdout)
    enrolled = [s for s in summaries["members"].values() if s["status"] != "not_enrolled"]
    assert sum(tiers["tiers"].values()) == len(enrolled)
    activity = json.loads(
        cli("report", "activity", "--program", "soma", "-d", url, "--json").stdout
    )
    assert activity["totals"]["issued"] > 0
    found = json.loads(
        cli(
            "member", "find", "--program", "soma", "-d", url, "--email", "soma-000003@example.com"
        ).stdout
    )
    assert found["member"] == "soma-000003"
    number = json.loads(
        cli(
            "member", "find", "--program", "soma", "-d", url, "--email", "soma-000003@example.com"
        ).stdout
    )
    by_number = cli("member", "find", "--program", "soma", "-d", url, "--phone", "+15550000003")
    assert json.loads(by_number.stdout)["member"] == number["member"]


def test_apply_link_and_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/l.db"
    enroll = {
        "type": "enroll",
        "at": "2025-01-02T10:00:00-05:00",
        "member": "boutique-1",
        "email": "a@x.com",
        "first_name": "A",
        "last_name": "B",
        "phone": "+1555000111",
        "address": "1 Main",
        "birth_month": 4,
    }
    out = json.loads(cli("apply", json.dumps(enroll), "--program", "soma", "-d", url).stdout)
    assert out["accepted"] is True
    number = out["message"].split()[-1]
    repeat = json.loads(cli("apply", json.dumps(enroll), "--program", "soma", "-d", url).stdout)
    assert repeat["duplicate"] is True
    cli(
        "member",
        "link",
        "--program",
        "soma",
        "-d",
        url,
        "--member",
        "web-1",
        "--number",
        number,
        "--at",
        "2025-01-03T10:00:00-05:00",
        "--email",
        "a.web@x.com",
    )
    found = json.loads(
        cli("member", "find", "--program", "soma", "-d", url, "--number", number).stdout
    )
    assert found["member"] == "boutique-1"
    purchase = {
        "type": "purchase",
        "at": "2025-01-04T10:00:00-05:00",
        "member": "web-1",
        "order": "o1",
        "channel": "store",
        "lines": [{"sku": "A", "amount": "42.50"}],
    }
    cli("apply", json.dumps(purchase), "--program", "soma", "-d", url)
    summary = json.loads(cli("summary", "--program", "soma", "-d", url, "--json").stdout)
    assert list(summary["members"]) == ["boutique-1"]
    assert summary["members"]["boutique-1"]["points"]["pending"] == 43
    bad = cli("apply", '{"type":"purchase"}', "--program", "soma", "-d", url, ok=False)
    assert bad.returncode == 1 and "invalid_input" in bad.stdout
    unknown = cli("summary", "--program", "soma", "-d", url, "--member", "nobody", ok=False)
    assert unknown.returncode == 2 and "unknown member" in unknown.stderr
    wrong_url = cli(
        "summary", "--program", "soma", "-d", "postgresql+psycopg://x@127.0.0.1:1/x", ok=False
    )
    assert wrong_url.returncode == 2 and "database" in wrong_url.stderr
    report = cli("report", "nosuch", "--program", "soma", "-d", url, ok=False)
    assert report.returncode == 2 and "unknown report" in report.stderr


def test_a_database_url_the_product_cannot_use_is_refused_with_what_it_can(tmp_path: Path) -> None:
    """SQLite and PostgreSQL (psycopg 3) only; `postgresql://` means psycopg. Refused before any
    driver is imported: an error naming the field and the URLs accepted, no traceback."""
    for url, says in (
        ("mysql://u@localhost/shop", "unsupported database 'mysql'"),
        ("sqlite+aiosqlite:///x.db", "unsupported database 'sqlite+aiosqlite'"),
        ("not a url", "not a database URL"),
    ):
        done = cli("summary", "--program", "soko", "-d", url, ok=False)
        assert done.returncode != 0
        assert f"database: {says}: use sqlite:///FILE or postgresql+psycopg://" in done.stderr
    # the short spelling reaches the server through psycopg (nobody listens on port 1)
    done = cli("summary", "--program", "soko", "-d", "postgresql://u@127.0.0.1:1/x", ok=False)
    assert done.returncode != 0 and "psycopg.OperationalError" in done.stderr
    assert not list(tmp_path.iterdir())  # nothing was created


def test_reading_commands_never_create_a_database_or_a_program(tmp_path: Path) -> None:
    """A mistyped URL or program given to summary, report or member find is an error, and no
    database file or program row is left behind."""
    typo = f"sqlite:///{tmp_path}/typo.db"
    for args in (
        ("summary", "--program", "soko", "-d", typo, "--json"),
        ("report", "tiers", "--program", "soko", "-d", typo),
        ("member", "find", "--program", "soko", "-d", typo, "--email", "a@x.com"),
    ):
        done = cli(*args, ok=False)
        assert done.returncode != 0 and "no database at" in done.stderr, args
    assert not (tmp_path / "typo.db").exists()
    url = f"sqlite:///{tmp_path}/l.db"
    path = tmp_path / "one.jsonl"
    path.write_text(
        json.dumps(
            {
                "type": "enroll",
                "at": "2024-03-01T10:00:00-05:00",
                "member": "m1",
                "email": "a@x.com",
            }
        )
        + "\n"
    )
    cli("import", str(path), "--program", "soko", "-d", url)
    done = cli("report", "tiers", "--program", "soma", "-d", url, ok=False)
    assert "program soma is not in this database" in done.stderr
    done = cli("summary", "--program", "soma", "-d", url, ok=False)
    assert "program soma is not in this database" in done.stderr
    summary = json.loads(cli("summary", "--program", "soko", "-d", url, "--json").stdout)
    assert list(summary["members"]) == ["m1"]


def test_db_upgrade_never_prints_the_password(postgres_url: str) -> None:
    """The server trusts local connections, so any password is accepted: the URL holds one."""
    url = postgres_url.replace("://postgres@", "://postgres:hunter2@")
    assert "hunter2" in url
    done = cli("db", "upgrade", "--database", url)
    assert "schema at" in done.stdout
    assert "hunter2" not in done.stdout + done.stderr
