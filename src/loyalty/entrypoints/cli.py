"""The ``loyalty`` command line.

loyalty replay FILE.jsonl --program soko|sogo|soma|PATH.toml [--json]
loyalty demo                      replay the bundled demo histories and print the members
loyalty generate-history --program P --members N --months M --seed S
loyalty check-program PATH.toml   validate a program file
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress, TimeRemainingColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from loyalty.adapters.sql.database import (
    READ_ONLY,
    head_revision,
    make_engine,
    upgrade,
)
from loyalty.domain.errors import LoyaltyError
from loyalty.domain.fields import FIRST_YEAR, LAST_YEAR
from loyalty.entrypoints.simulate_cli import file_problem, progress_columns
from loyalty.programs.loader import PRESETS, load_program
from loyalty.services.demo import demo_path
from loyalty.services.durable import DurableEngine
from loyalty.services.replay import ReplayResult, replay_file
from loyalty.services.reports import REPORTS
from loyalty.services.synthetic import generate_history

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Loyalty-program engine.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema (Alembic migrations).")
jobs_app = typer.Typer(no_args_is_help=True, help="Time-driven jobs.")
member_app = typer.Typer(no_args_is_help=True, help="Find and link members.")
app.add_typer(db_app, name="db")
app.add_typer(jobs_app, name="jobs")
app.add_typer(member_app, name="member")
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        "-d",
        help="SQLAlchemy URL (default: $LOYALTY_DATABASE_URL or sqlite:///./loyalty.db)",
    ),
]
console = Console(width=None if sys.stdout.isatty() else 160)
ProgramOption = Annotated[
    str, typer.Option("--program", "-p", help="preset (soko, sogo, soma) or a TOML program file")
]


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(2)


def _check_file(path: Path) -> None:
    problem = file_problem(path)
    if problem is not None:
        _fail(f"{path}: {problem}")


def _time_option(option: str, value: str) -> datetime:
    """An ISO-8601 time with a UTC offset, within the years the engine supports (the events'
    rule), or a clear error naming the option."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{option}: not an ISO-8601 time: {value}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        _fail(f"{option}: the time needs a UTC offset")
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        _fail(f"{option}: time out of the supported range (years {FIRST_YEAR}-{LAST_YEAR})")
    try:
        moment.astimezone(UTC)
    except OverflowError:
        _fail(f"{option}: time out of the supported range (years {FIRST_YEAR}-{LAST_YEAR})")
    return moment


def _rejection(line: Any, error: Any) -> Text:
    """``line N: message``, the message (user data) printed as is, never read as markup."""
    return Text.assemble((f"line {line}", "yellow"), ": ", str(error))


def _table(title: str, output: dict[str, Any]) -> Table:
    table = Table(title=Text(title, style="table.title"))
    for column in (
        "member",
        "status",
        "tier",
        "valid until",
        "available",
        "pending",
        "expiring",
        "lifetime",
        "spend",
        "rewards",
        "certificates",
    ):
        table.add_column(column, justify="right" if column not in ("member", "status") else "left")
    for member_id, s in output["members"].items():
        p = s["points"]
        cells = (
            member_id,
            s["status"],
            s["tier"],
            s["tier_valid_until"] or "-",
            p["available"],
            p["pending"],
            p["expiring_this_month"],
            p["lifetime_earned"],
            s["qualifying_spend"],
            s["reward_balance"],
            len(s["certificates"]),
        )
        table.add_row(*(Text(str(cell)) for cell in cells))  # data: never read as markup
    return table


def _print(result: ReplayResult, as_json: bool, title: str) -> None:
    output = result.output()
    if as_json:
        sys.stdout.write(json.dumps(output, indent=2) + "\n")
        return
    console.print(_table(title, output))
    for rejected in output["rejected"]:
        console.print(_rejection(rejected["line"], rejected["error"]))
    console.print(
        f"{result.accepted} inputs accepted, {len(output['rejected'])} rejected, "
        f"{len(output['members'])} members"
    )


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="JSON Lines of inputs (SPEC §7)")],
    program: ProgramOption,
    as_json: Annotated[bool, typer.Option("--json", help="print SPEC §8 JSON")] = False,
) -> None:
    """Replay FILE through a fresh in-memory engine and print every member's final state."""
    _check_file(file)
    try:
        loaded = load_program(program)
    except LoyaltyError as exc:
        _fail(str(exc))
    _print(replay_file(loaded, file), as_json, f"{loaded.name}: {file.name}")


@app.command()
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="print SPEC §8 JSON")] = False,
) -> None:
    """Replay the bundled demo history of each preset and print the members' summaries."""
    if as_json:  # one document: {preset: SPEC §8 output}
        outputs = {p: replay_file(load_program(p), demo_path(p)).output() for p in PRESETS}
        sys.stdout.write(json.dumps(outputs, indent=2) + "\n")
        return
    for preset in PRESETS:
        loaded = load_program(preset)
        _print(replay_file(loaded, demo_path(preset)), False, f"{loaded.name} (demo)")


@app.command("generate-history")
def generate(
    program: ProgramOption,
    members: Annotated[int, typer.Option(min=1)] = 100,
    months: Annotated[int, typer.Option(min=1, max=120)] = 12,
    seed: Annotated[int, typer.Option()] = 1,
) -> None:
    """Print a realistic synthetic history (JSON Lines), deterministic by seed."""
    try:
        loaded = load_program(program)
    except LoyaltyError as exc:
        _fail(str(exc))
    out = sys.stdout
    for line in generate_history(loaded, members=members, months=months, seed=seed):
        out.write(line + "\n")


@app.command("check-program")
def check_program(path: Annotated[str, typer.Argument(help="preset name or TOML file")]) -> None:
    """Validate a program file; print the reason and field when it is wrong."""
    try:
        loaded = load_program(path)
    except LoyaltyError as exc:
        _fail(str(exc))
    console.print(
        Text.assemble(
            ("ok", "green"), f": {loaded.name} ({loaded.id}), {len(loaded.tiers.levels)} tiers"
        )
    )


def _durable(program: str, database: str | None, *, create: bool = True) -> DurableEngine:
    """The durable engine; ``create=False`` for the commands that only read."""
    try:
        return DurableEngine(load_program(program), database, create=create)
    except LoyaltyError as exc:
        _fail(str(exc))
    except SQLAlchemyError as exc:
        _fail(f"database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")


def _emit(data: Any, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        console.print_json(json.dumps(data))


@db_app.command("upgrade")
def db_upgrade(database: DatabaseOption = None) -> None:
    """Create or migrate the schema to the current version."""
    try:
        engine = make_engine(database)
        upgrade(engine)
    except SQLAlchemyError as exc:
        _fail(f"database: {str(exc).splitlines()[0]}")
    console.print(Text.assemble((f"schema at {head_revision()}", "green"), f" ({engine.url!r})"))


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="JSON Lines of inputs (SPEC §7)")],
    program: ProgramOption,
    database: DatabaseOption = None,
    batch: Annotated[
        int | None,
        typer.Option(
            min=1, help="inputs per transaction [default: 40,000 on SQLite, 20,000 on PostgreSQL]"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Apply a file of inputs to the database in batches; rerun to resume after a crash."""
    _check_file(file)
    durable = _durable(program, database)
    with Progress(
        *progress_columns(TimeRemainingColumn()),
        console=Console(stderr=True),
        disable=as_json,
    ) as bar:
        task = bar.add_task(f"importing {file.name}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = durable.import_file(file, batch=batch, progress=progress)
    out = {
        "lines": report.lines,
        "accepted": report.accepted,
        "resumed_from": report.resumed_from,
        "by_others": report.by_others,
        "rejected": report.rejected,
    }
    if as_json:
        _emit(out, True)
        return
    for rejected in report.rejected:
        console.print(_rejection(rejected["line"], rejected["error"]))
    resumed = f" (resumed after line {report.resumed_from})" if report.resumed_from else ""
    shared = (
        f"; {report.by_others} lines applied by another import of this file"
        if report.by_others
        else ""
    )
    console.print(
        f"{report.lines} lines, {report.accepted} inputs accepted, "
        f"{len(report.rejected)} rejected{resumed}{shared}"
    )


@app.command("apply")
def apply_(
    event: Annotated[str, typer.Argument(help="one input as JSON (SPEC §7)")],
    program: ProgramOption,
    database: DatabaseOption = None,
) -> None:
    """Apply one input in its own transaction and print the outcome."""
    outcome = _durable(program, database).apply(event)
    if not outcome.accepted:
        assert outcome.error is not None
        _emit({"accepted": False, "error": outcome.error.as_dict()}, True)
        raise typer.Exit(1)
    _emit({"accepted": True, "duplicate": outcome.duplicate, "message": outcome.message}, True)


@app.command()
def summary(
    program: ProgramOption,
    member: Annotated[str | None, typer.Option(help="one member")] = None,
    database: DatabaseOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print SPEC §8 member summaries from the database."""
    durable = _durable(program, database, create=False)
    try:
        members = durable.summaries(member)
    except LoyaltyError as exc:
        _fail(str(exc))
    if as_json:
        _emit({"members": members}, True)
    else:
        console.print(_table(f"{durable.program.name}", {"members": members}))


@jobs_app.command("run")
def jobs_run(
    program: ProgramOption,
    until: Annotated[
        str | None, typer.Option(help="ISO-8601 time with offset (default: the program's clock)")
    ] = None,
    database: DatabaseOption = None,
    chunk: Annotated[int, typer.Option(min=1)] = 500,
) -> None:
    """Run every job due (maturing, expiry, conversion, issuance, requalification, birthdays)."""
    moment = None if until is None else _time_option("--until", until)
    moved = _durable(program, database).run_jobs(moment, chunk=chunk)
    console.print(f"{moved} members advanced")


@app.command()
def report(
    name: Annotated[str, typer.Argument(help="liability | activity | tiers | economics")],
    program: ProgramOption,
    database: DatabaseOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Points liability, monthly activity or tier distribution, computed in SQL."""
    if name not in REPORTS:
        _fail(f"unknown report {name!r}: choose one of {', '.join(REPORTS)}")
    durable = _durable(program, database, create=False)
    with durable.db.connect() as conn:
        conn.execution_options(**{READ_ONLY: True})
        data = REPORTS[name](conn, durable.program)
    _emit(data, as_json)


@member_app.command("find")
def member_find(
    program: ProgramOption,
    number: Annotated[str | None, typer.Option()] = None,
    email: Annotated[str | None, typer.Option()] = None,
    phone: Annotated[str | None, typer.Option()] = None,
    database: DatabaseOption = None,
) -> None:
    """Find a member by member number, email or phone (SM-2)."""
    if not (number or email or phone):
        _fail("give --number, --email or --phone")
    durable = _durable(program, database, create=False)
    found = durable.find_member(number=number, email=email, phone=phone)
    if found is None:
        _fail("no such member")
    _emit({"member": found, **durable.summaries(found)[found]}, True)


@member_app.command("link")
def member_link(
    program: ProgramOption,
    member: Annotated[str, typer.Option(help="the id of the online registration")],
    number: Annotated[str, typer.Option(help="the member number issued in a boutique")],
    at: Annotated[str, typer.Option(help="ISO-8601 time with offset")],
    email: Annotated[str | None, typer.Option()] = None,
    phone: Annotated[str | None, typer.Option()] = None,
    database: DatabaseOption = None,
) -> None:
    """Link an online registration to a member number issued in a boutique (SM-2)."""
    _time_option("--at", at)
    event = {"type": "enroll", "at": at, "member": member, "member_number": number}
    if email:
        event["email"] = email
    if phone:
        event["phone"] = phone
    apply_(json.dumps(event), program, database)


from loyalty.entrypoints import simulate_cli  # noqa: E402

simulate_cli.register(app)


def main() -> None:
    app()
