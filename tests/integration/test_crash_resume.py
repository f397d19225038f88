"""Crash and resume: kill -9 the import at random points and rerun; the final state is identical
to an uninterrupted run.

A generated history is imported with the real command line (``loyalty import FILE --program soma
--database URL --batch 25``) into database A without interruption, and into database B by a
process that is SIGKILLed and rerun until a run completes: first after a random short delay
(0.3-1.5 s, or sooner once half the file is in: while the process starts, creates the schema and
registers the program, or in its first batches), then at random points of the file (once the
import has committed a randomly chosen number of lines, at least ``MARGIN`` before the end, a
random moment of up to 10 ms later, so mostly in the middle of the next batch's transaction).
Every table of A and B must then hold the same rows, and ``loyalty summary --json`` must print
the same members.

The first kill may land while the schema is created; a kill at chosen points of the schema's
creation has a test of its own.

Also: the SQL reports agree with the member summaries once the jobs have run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.exc import SQLAlchemyError

from loyalty.adapters.sql import schema as t
from loyalty.programs.loader import PRESETS, load_program
from loyalty.services.durable import DurableEngine
from loyalty.services.replay import replay_file
from loyalty.services.reports import activity, liability, tiers
from loyalty.services.synthetic import generate_history
from tests.conftest import fresh_postgres_database

LOYALTY = Path(sys.executable).with_name("loyalty")
PROGRAM, MEMBERS, MONTHS, SEED = "soma", 80, 12, 7
BATCH = 25
KILLS = 3  # at most this many killed runs before the run that is left to finish
MARGIN = 8 * BATCH  # lines after a random point of the file, at least


def loyalty(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(LOYALTY), *args], capture_output=True, text=True, timeout=300, env=_env()
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _env() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}


def _import_command(path: Path, url: str) -> list[str]:
    return [
        str(LOYALTY),
        "import",
        str(path),
        "--program",
        PROGRAM,
        "--database",
        url,
        "--batch",
        str(BATCH),
        "--json",
    ]


def observer(url: str) -> Engine:
    """A plain connection pool for the test's own reads: no listeners of the product's, so that
    watching the import never takes SQLite's write lock."""
    return create_engine(url)


def lines_done(db: Engine) -> int:
    """The import's committed progress in the database (0 before its first batch)."""
    try:
        with db.connect() as conn:
            done = conn.execute(select(t.imports.c.lines_done)).scalar()
    except SQLAlchemyError:  # no schema yet
        return 0
    return int(done or 0)


def _kill(process: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGKILL the process unless it has already ended; its output."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    return process.communicate(timeout=300)


def _wait_for_progress(
    process: subprocess.Popen[str], db: Engine, target: int, seconds: float = 120
) -> None:
    """Until the import has committed ``target`` lines, ended, or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        if lines_done(db) >= target:
            return
        time.sleep(0.002)


def import_with_crashes(path: Path, url: str, total: int, rng: random.Random) -> dict[str, Any]:
    """Run the import into ``url``, killing it up to ``KILLS`` times, then let a run finish.
    Returns the finishing run's JSON report and the committed progress seen after each kill."""
    db = observer(url)  # to watch the progress
    after_kills: list[int] = []
    finished: dict[str, Any] | None = None
    for attempt in range(KILLS + 1):
        done = lines_done(db)
        process = subprocess.Popen(
            _import_command(path, url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        if attempt == 0:  # a random moment after the start, before half the file is in
            # (a fast machine can otherwise import the whole file within the delay, leaving no
            # run to kill in the middle of the file)
            _wait_for_progress(process, db, total // 2, seconds=rng.uniform(0.3, 1.5))
        elif attempt < KILLS and done < total - MARGIN:  # a random point of the file
            # killed within 10 ms of that point's commit, so mostly in the next batch's
            # transaction: a longer wait let a fast import finish the file first (after_kills
            # [0, 1052]: no kill in the middle)
            _wait_for_progress(process, db, rng.randint(done + 1, total - MARGIN))
            time.sleep(rng.uniform(0, 0.01))
        else:  # left to finish
            process.wait(timeout=300)
        out, err = _kill(process)
        if process.returncode == -signal.SIGKILL:
            after_kills.append(lines_done(db))
            continue
        assert process.returncode == 0, err
        assert "Traceback" not in err, err
        finished = json.loads(out)
        break
    db.dispose()
    assert finished is not None
    return {"report": finished, "after_kills": after_kills}


def all_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""
    engine = observer(url)
    try:
        with engine.connect() as conn:
            return {
                table.name: [
                    tuple(row)
                    for row in conn.execute(select(table).order_by(*table.primary_key.columns))
                ]
                for table in t.metadata.sorted_tables
            }
    finally:
        engine.dispose()


@pytest.fixture
def uninterrupted_url(database_url: str, request: pytest.FixtureRequest) -> str:
    """A second empty database of the same kind as ``database_url``."""
    if database_url.startswith("sqlite"):
        return database_url.replace("loyalty.db", "uninterrupted.db")
    server = str(request.getfixturevalue("postgres_server"))
    return fresh_postgres_database(server)


def test_kill_9_during_import_then_rerun_gives_the_uninterrupted_state(
    database_url: str, uninterrupted_url: str, tmp_path: Path
) -> None:
    program = load_program(PROGRAM)
    path = tmp_path / "history.jsonl"
    lines = generate_history(program, members=MEMBERS, months=MONTHS, seed=SEED)
    path.write_text("".join(line + "\n" for line in lines))
    total = sum(1 for _ in path.open("rb"))
    assert total > 20 * BATCH

    a_url, b_url = uninterrupted_url, database_url

    # A runs alongside B's crashes (separate databases)
    uninterrupted = subprocess.Popen(
        _import_command(path, a_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    crashed = import_with_crashes(path, b_url, total, random.Random(f"{database_url[:6]}-kill"))
    out, err = uninterrupted.communicate(timeout=300)
    assert uninterrupted.returncode == 0, err
    assert "Traceback" not in err, err
    expected = json.loads(out)
    assert expected["lines"] == total
    assert expected["resumed_from"] == 0

    after_kills = crashed["after_kills"]
    assert after_kills, "no run was killed"
    assert any(0 < done < total for done in after_kills), after_kills
    assert after_kills == sorted(after_kills)  # progress is never lost
    report = crashed["report"]
    assert report["resumed_from"] == after_kills[-1]
    assert report["lines"] == expected["lines"]
    assert report["accepted"] == expected["accepted"]
    assert report["rejected"] == expected["rejected"]

    a_rows, b_rows = all_rows(a_url), all_rows(b_url)
    assert a_rows["ledger"], "nothing imported"
    for table in t.metadata.sorted_tables:
        assert b_rows[table.name] == a_rows[table.name], table.name

    printed = loyalty("summary", "--program", PROGRAM, "--database", b_url, "--json")
    assert printed.returncode == 0, printed.stderr
    durable = DurableEngine(program, a_url)
    summaries = durable.summaries()
    durable.db.dispose()
    assert json.loads(printed.stdout)["members"] == summaries
    assert summaries == replay_file(program, path).output()["members"]

    # a rerun of the finished import applies nothing
    durable = DurableEngine(program, b_url)
    again = durable.import_file(path, batch=BATCH)
    durable.db.dispose()
    assert (again.resumed_from, again.lines, again.accepted) == (total, total, report["accepted"])
    assert all_rows(b_url) == b_rows


# Kills the process right after the Nth CREATE statement of the schema's creation (a real
# SIGKILL of a real process; the hook only chooses the moment).
SCHEMA_KILLER = """
import os, signal, sys
from sqlalchemy import event
from loyalty.adapters.sql.database import make_engine
from loyalty.programs.loader import load_program
from loyalty.services.durable import DurableEngine

engine = make_engine(sys.argv[1])
created = 0


@event.listens_for(engine, "after_cursor_execute")
def _kill(conn, cursor, statement, *args):
    global created
    if statement.lstrip().upper().startswith("CREATE"):
        created += 1
        if created == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)


DurableEngine(load_program(sys.argv[3]), db=engine)
"""


@pytest.mark.parametrize("statement", [1, 9])  # after the first table; half-way
def test_kill_9_while_the_schema_is_created_then_rerun(
    statement: int, database_url: str, tmp_path: Path
) -> None:
    """The first command on a new database creates the schema in one transaction: killed
    half-way, it leaves nothing behind, and the next command starts afresh."""
    killed = subprocess.run(
        [sys.executable, "-c", SCHEMA_KILLER, database_url, str(statement), PROGRAM],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    program = load_program(PROGRAM)
    path = tmp_path / "history.jsonl"
    lines = generate_history(program, members=10, months=6, seed=SEED)
    path.write_text("".join(line + "\n" for line in lines))
    durable = DurableEngine(program, database_url)
    report = durable.import_file(path, batch=BATCH)
    assert report.resumed_from == 0
    expected = replay_file(program, path).output()
    assert report.rejected == expected["rejected"]
    assert durable.summaries() == expected["members"]
    durable.db.dispose()


@pytest.mark.parametrize("preset", PRESETS)
def test_reports_agree_with_the_summaries(preset: str, database_url: str, tmp_path: Path) -> None:
    program = load_program(preset)
    path = tmp_path / "history.jsonl"
    lines = generate_history(program, members=40, months=14, seed=2)
    path.write_text("".join(line + "\n" for line in lines))
    durable = DurableEngine(program, database_url)
    durable.import_file(path, batch=100)
    durable.run_jobs()
    summaries = durable.summaries()
    with durable.db.connect() as conn:
        owed = liability(conn, program)
        moves = activity(conn, program)
        counts = tiers(conn, program)
    durable.db.dispose()

    points = [s["points"] for s in summaries.values()]
    assert owed["net_points"] == sum(p["available"] + p["pending"] for p in points)
    assert owed["outstanding_points"] == sum(m["points"] for m in owed["by_expiry_month"])
    assert owed["outstanding_points"] - owed["debt_points"] == owed["net_points"]

    enrolled = Counter(s["tier"] for s in summaries.values() if s["status"] != "not_enrolled")
    assert counts["tiers"] == {level.id: enrolled[level.id] for level in program.tiers.levels}
    assert counts["statuses"] == dict(Counter(s["status"] for s in summaries.values()))

    totals = moves["totals"]
    assert totals["issued"] - totals["reversed"] == sum(p["lifetime_earned"] for p in points)
    assert totals["issued"] > 0
    for figure in ("issued", "redeemed", "expired", "reversed", "converted"):
        assert totals[figure] == sum(month[figure] for month in moves["months"]), figure


def test_report_command_prints_the_sql_reports(sqlite_url: str, tmp_path: Path) -> None:
    """``loyalty report liability --json`` prints what ``liability`` computes."""
    program = load_program("soma")
    path = tmp_path / "history.jsonl"
    lines = generate_history(program, members=20, months=14, seed=5)
    path.write_text("".join(line + "\n" for line in lines))
    durable = DurableEngine(program, sqlite_url)
    durable.import_file(path)
    durable.run_jobs()
    with durable.db.connect() as conn:
        expected = liability(conn, program)
    durable.db.dispose()
    result = loyalty("report", "liability", "--program", "soma", "--database", sqlite_url, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected
