"""The ``loyalty`` command line.

loyalty replay FILE.jsonl --program soko|sogo|soma|PATH.toml [--json]
loyalty demo                      replay the bundled demo histories and print the members
loyalty generate-history --program P --members N --months M --seed S
loyalty check-program PATH.toml   validate a program file
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from loyalty.domain.errors import LoyaltyError
from loyalty.programs.loader import PRESETS, load_program
from loyalty.services.demo import demo_path
from loyalty.services.replay import ReplayResult, replay_file
from loyalty.services.synthetic import generate_history

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Loyalty-program engine.")
console = Console(width=None if sys.stdout.isatty() else 160)
ProgramOption = Annotated[
    str, typer.Option("--program", "-p", help="preset (soko, sogo, soma) or a TOML program file")
]


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def _table(title: str, output: dict[str, Any]) -> Table:
    table = Table(title=title)
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
        table.add_row(
            member_id,
            s["status"],
            s["tier"],
            s["tier_valid_until"] or "-",
            str(p["available"]),
            str(p["pending"]),
            str(p["expiring_this_month"]),
            str(p["lifetime_earned"]),
            s["qualifying_spend"],
            s["reward_balance"],
            str(len(s["certificates"])),
        )
    return table


def _print(result: ReplayResult, as_json: bool, title: str) -> None:
    output = result.output()
    if as_json:
        sys.stdout.write(json.dumps(output, indent=2) + "\n")
        return
    console.print(_table(title, output))
    for rejected in output["rejected"]:
        console.print(f"[yellow]line {rejected['line']}[/yellow]: {rejected['error']}")
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
    if not file.is_file():
        _fail(f"{file}: no such file")
    try:
        loaded = load_program(program)
    except LoyaltyError as exc:
        _fail(str(exc))
        return
    _print(replay_file(loaded, file), as_json, f"{loaded.name}: {file.name}")


@app.command()
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="print SPEC §8 JSON")] = False,
) -> None:
    """Replay the bundled demo history of each preset and print the members' summaries."""
    for preset in PRESETS:
        loaded = load_program(preset)
        _print(replay_file(loaded, demo_path(preset)), as_json, f"{loaded.name} (demo)")


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
        return
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
        return
    console.print(
        f"[green]ok[/green]: {loaded.name} ({loaded.id}), {len(loaded.tiers.levels)} tiers"
    )


def main() -> None:
    app()
