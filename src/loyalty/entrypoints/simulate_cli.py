"""``loyalty simulate``: what if the program were different? Replays one history through two
program variants and prints their key figures side by side with the difference.

    loyalty simulate history.jsonl --program sogo --vs sogo-block-1500.toml [--json]
                                   [--plot chart.svg] [--processes N]

Registered on the main Typer app by ``register(app)`` (see ``cli.py``).
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from loyalty.domain.errors import LoyaltyError
from loyalty.entrypoints.charts import PALETTE, Panel, Series, svg_chart
from loyalty.programs.loader import load_program
from loyalty.programs.schema import Program
from loyalty.services.comparison import change, compare, key_figures
from loyalty.services.simulation import PARTITION_MEMBERS, Simulation, WorkerLost, simulate

PNG_MESSAGE = (
    "only SVG charts are supported (no PNG renderer among the dependencies): use --plot FILE.svg, "
    "then convert it if needed (e.g. rsvg-convert -o chart.png chart.svg)"
)


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a history file (None: it can)."""
    if path.is_dir():
        return "is a directory"
    if not path.exists():
        return "no such file"
    if not path.is_file():
        return "not a regular file"
    return None


def plot_problem(plot: Path) -> str | None:
    """Why the chart cannot be written to ``plot`` (None: it can), checked before the run."""
    if plot.suffix.lower() == ".png":
        return PNG_MESSAGE
    if plot.suffix.lower() != ".svg":
        return f"{plot}: the chart is written as SVG: name it FILE.svg"
    if plot.is_dir():
        return f"{plot}: is a directory"
    if plot.exists() and not plot.is_file():
        return f"{plot}: not a regular file"
    parent = plot.parent
    if not parent.exists():
        return f"{plot}: no such directory: {parent}"
    if not parent.is_dir():
        return f"{plot}: not a directory: {parent}"
    return None


def progress_columns(*last: ProgressColumn) -> tuple[ProgressColumn, ...]:
    """The progress bar's columns; the description (it may hold a file name) is not markup."""
    return (
        TextColumn("{task.description}", style="progress.description", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        *last,
    )


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(2)


def _load(spec: str) -> Program:
    try:
        return load_program(spec)
    except LoyaltyError as exc:
        _fail(str(exc))


def _title(spec: str, program: Program) -> str:
    return f"{program.name} ({spec})"


def simulation_json(result: Simulation, specs: tuple[str, str]) -> dict[str, Any]:
    a, b = result.variants
    variants = {}
    for name, spec, variant in (("A", specs[0], a), ("B", specs[1], b)):
        variants[name] = {
            "program": spec,
            "id": variant.program.id,
            "name": variant.program.name,
            "as_of": variant.as_of.isoformat() if variant.as_of else None,
            "accepted": variant.accepted,
            "rejected": len(variant.rejected),
            "key_figures": key_figures(variant),
            "figures": variant.figures,
        }
    return {
        "history": result.history,
        "lines": result.lines,
        "partitions": result.partitions,
        "processes": result.processes,
        "single_partition_reason": result.single_partition_reason,
        "variants": variants,
        "difference": {row["key"]: row["difference"] for row in compare(a, b)},
    }


def _tables(result: Simulation, specs: tuple[str, str]) -> tuple[Table, Table]:
    a, b = result.variants
    money = {a.program.currency, b.program.currency}
    currency = money.pop() if len(money) == 1 else "money"
    # program names, specs, currencies and tier ids are data: Text, never read as markup
    title = f"What if: {_title(specs[0], a.program)} vs {_title(specs[1], b.program)}"
    table = Table(title=Text(title, style="table.title"))
    table.add_column("figure")
    table.add_column(Text(f"A: {specs[0]}"), justify="right")
    table.add_column(Text(f"B: {specs[1]}"), justify="right")
    table.add_column("difference (B - A)", justify="right")
    for row in compare(a, b):
        name = row["label"]
        if row["key"] in ("liability_value", "certificates_value", "qualifying_sales"):
            name += f" ({currency})"
        if row["key"] in ("reward_cost", "point_value", "rewards_pending"):
            name += f" ({currency})"

        def text(value: Any) -> str:
            if value is None:
                return "-"
            return f"{value:,}" if isinstance(value, int) else str(value)

        figures = (name, text(row["a"]), text(row["b"]), change(row["a"], row["b"]))
        table.add_row(*(Text(figure) for figure in figures))
    monthly = Table(title="Members per tier and net outstanding points at each month end")
    monthly.add_column("month")
    tiers = [t.id for t in a.program.tiers.levels]
    tiers += [t.id for t in b.program.tiers.levels if t.id not in tiers]
    for tier in tiers:
        monthly.add_column(Text(f"{tier} A"), justify="right")
        monthly.add_column(Text(f"{tier} B"), justify="right")
    monthly.add_column("points A", justify="right")
    monthly.add_column("points B", justify="right")
    by_month: list[dict[str, Any]] = [
        {r["month"]: r for r in v.figures["tiers_by_month"]} for v in (a, b)
    ]
    points: list[dict[str, Any]] = [
        {r["month"]: r["points"] for r in v.figures["outstanding_by_month"]} for v in (a, b)
    ]
    for month in sorted(set(by_month[0]) | set(by_month[1])):
        cells = [month]
        for tier in tiers:
            for side in by_month:
                count = side.get(month, {}).get("tiers", {}).get(tier)
                cells.append("-" if count is None else f"{count:,}")
        for side in points:
            value = side.get(month)
            cells.append("-" if value is None else f"{value:,}")
        monthly.add_row(*(Text(cell) for cell in cells))
    return table, monthly


def chart(result: Simulation, specs: tuple[str, str]) -> str:
    """Members per tier, net outstanding points and reward cost by month, A solid, B dashed."""
    a, b = result.variants
    sides = (("A", specs[0], a, False), ("B", specs[1], b, True))
    months = sorted(
        {r["month"] for v in (a, b) for r in v.figures["tiers_by_month"]}
        | {r["month"] for v in (a, b) for r in v.figures["outstanding_by_month"]}
    )
    tiers = [t.id for t in a.program.tiers.levels]
    tiers += [t.id for t in b.program.tiers.levels if t.id not in tiers]
    tier_series = []
    for index, tier in enumerate(tiers):
        for side, _, variant, dashed in sides:
            counts = {r["month"]: r["tiers"].get(tier) for r in variant.figures["tiers_by_month"]}
            tier_series.append(
                Series(
                    f"{tier} ({side})",
                    [_number(counts.get(m)) for m in months],
                    PALETTE[index % len(PALETTE)],
                    dashed,
                )
            )
    outstanding, cost = [], []
    spent: list[dict[str, Any]] = []
    for side, spec, variant, dashed in sides:
        points = {r["month"]: r["points"] for r in variant.figures["outstanding_by_month"]}
        outstanding.append(
            Series(f"{side}: {spec}", [_number(points.get(m)) for m in months], PALETTE[0], dashed)
        )
        spent.append({r["month"]: r["reward_cost"] for r in variant.figures["economics"]["months"]})
        cost.append(
            Series(
                f"{side}: {spec}", [_number(spent[-1].get(m)) for m in months], PALETTE[3], dashed
            )
        )
    delta = [
        float(Decimal(spent[1].get(m, 0)) - Decimal(spent[0].get(m, 0))) if m in spent[0] else None
        for m in months
    ]
    currency = a.program.currency
    panels = [
        Panel("Members per tier at month end", months, tier_series),
        Panel("Net outstanding points at month end", months, outstanding),
        Panel(f"Reward cost per month ({currency}: points redeemed + certificates)", months, cost),
        Panel(
            f"Reward cost per month, B - A ({currency})",
            months,
            [Series("B - A", delta, PALETTE[4])],
        ),
    ]
    title = [
        "What if: program variant A (solid) vs B (dashed), same history",
        f"A: {_title(specs[0], a.program)}",
        f"B: {_title(specs[1], b.program)}",
    ]
    return svg_chart(title, panels)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate_command(
        history: Annotated[Path, typer.Argument(help="JSON Lines of inputs (SPEC §7)")],
        program: Annotated[
            str,
            typer.Option("--program", "-p", help="variant A: preset (soko, sogo, soma) or TOML"),
        ],
        vs: Annotated[str, typer.Option("--vs", help="variant B: preset or TOML program file")],
        as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
        plot: Annotated[
            Path | None, typer.Option("--plot", help="write a chart of both variants (.svg)")
        ] = None,
        processes: Annotated[
            int | None, typer.Option(min=1, help="worker processes (default: every core)")
        ] = None,
        partition_members: Annotated[
            int, typer.Option(min=1, help="members per partition (bounds each worker's memory)")
        ] = PARTITION_MEMBERS,
    ) -> None:
        """What if the program were different? Replay HISTORY through two program variants and
        print the key figures side by side with the difference."""
        problem = file_problem(history)
        if problem is not None:
            _fail(f"{history}: {problem}")
        problem = plot_problem(plot) if plot is not None else None
        if problem is not None:
            _fail(f"--plot: {problem}")
        specs = (program, vs)
        programs = [_load(program), _load(vs)]
        with Progress(
            *progress_columns(TimeElapsedColumn()),
            console=Console(stderr=True),
            auto_refresh=False,  # no display thread: the worker processes are forked
            disable=as_json,
        ) as bar:
            tasks: dict[str, Any] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)
                bar.refresh()

            try:
                result = simulate(
                    history,
                    programs,
                    processes=processes,
                    partition_members=partition_members,
                    progress=progress,
                )
            except WorkerLost as exc:
                _fail(str(exc))
        if plot is not None:
            try:
                plot.write_text(chart(result, specs), encoding="utf-8")
            except OSError as exc:
                _fail(f"--plot: {plot}: {exc.strerror or exc}")
        if as_json:
            sys.stdout.write(json.dumps(simulation_json(result, specs), indent=2) + "\n")
            return
        console = Console(width=None if sys.stdout.isatty() else 160)
        table, monthly = _tables(result, specs)
        console.print(table)
        console.print(monthly)
        a = result.variants[0]
        note = f"; replayed as one partition: {result.single_partition_reason}"
        console.print(
            Text(
                f"{result.lines:,} inputs, {result.partitions} partitions on {result.processes} "
                f"processes; figures as of {a.as_of.isoformat() if a.as_of else '-'}"
                + (note if result.single_partition_reason else "")
            )
        )
        if plot is not None:
            console.print(Text(f"chart written to {plot}"))
