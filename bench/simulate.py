"""What-if simulation throughput: a synthetic history of N members (about 10-14 inputs each a year)
replayed through two program variants with ``loyalty.services.simulation.simulate`` on every core.

    python bench/simulate.py [--members 1000000] [--months 12] [--seed 1]
                             [--program sogo] [--vs docs/examples/sogo-block-1500.toml]
                             [--processes N] [--baseline]

The history is the one ``loyalty generate-history`` prints for the same program, members, months
and seed, generated in chunks of members and merged in time order, so memory stays bounded at a
million members; it is cached in /tmp. Prints the scan and replay times, inputs replayed per
second (inputs x variants / wall time), the cost of one input through one variant on one core, and
peak memory (max RSS of this process and of the largest worker). ``--baseline`` also times a plain
``replay_file`` of variant A on one core, the yardstick for the speed-up.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from loyalty import build, load_program, replay_file
from loyalty.programs.schema import Program
from loyalty.services import synthetic
from loyalty.services.simulation import simulate

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 50_000  # members generated at once


def _key(moment: Any, index: int, seq: int) -> str:
    """Sorts as generate_history sorts: (local time, member index, sequence); -1: global."""
    return f"{moment.isoformat(timespec='microseconds')}\t{index + 1:09d}\t{seq:06d}\t"


def _global_events(program: Program, months: int, tz: ZoneInfo) -> list[str]:
    """The campaigns and month ticks of ``generate_history`` (same times, same order)."""
    out = []
    start = synthetic.START
    for month in range(0, months, 3):
        starts = start + timedelta(days=30 * month + 10)
        event = {
            "type": "campaign",
            "at": synthetic._at(starts - timedelta(days=1), tz),
            "id": f"members-day-{month}",
            "starts": synthetic._at(starts, tz),
            "ends": synthetic._at(starts + timedelta(days=2), tz),
            "multiplier": "2",
            "bonus_points": None,
            "min_spend": None,
            "channels": None,
            "combinable": False,
        }
        out.append(
            _key(starts - timedelta(days=1), -1, month) + json.dumps(event, separators=(",", ":"))
        )
    for month in range(1, months + 1):
        moment = start + timedelta(days=30 * month)
        event = {"type": "tick", "at": synthetic._at(moment, tz)}
        out.append(_key(moment, -1, 10_000 + month) + json.dumps(event, separators=(",", ":")))
    return sorted(out)


def stream_history(program: Program, members: int, months: int, seed: int, path: Path) -> int:
    """Write the history to ``path``; returns its number of lines."""
    rng = random.Random(seed)
    tz = ZoneInfo(program.timezone)
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-") as folder:
        chunks = []
        for start in range(0, members, CHUNK):
            lines = []
            for index in range(start, min(start + CHUNK, members)):
                member_rng = random.Random(rng.getrandbits(64))
                for moment, seq, event in synthetic._member_events(
                    program, member_rng, index, months, tz
                ):
                    lines.append(
                        _key(moment, index, seq) + json.dumps(event, separators=(",", ":"))
                    )
            lines.sort()
            chunk = Path(folder) / f"chunk-{len(chunks):05d}.txt"
            chunk.write_text("".join(line + "\n" for line in lines))
            chunks.append(chunk)
            print(f"  generated {min(start + CHUNK, members):,} members", file=sys.stderr)
        globals_path = Path(folder) / "globals.txt"
        globals_path.write_text(
            "".join(line + "\n" for line in _global_events(program, months, tz))
        )
        chunks.append(globals_path)
        handles = [c.open() for c in chunks]
        count = 0
        with path.open("w") as out:
            merged: Iterator[str] = heapq.merge(*handles)
            for line in merged:
                out.write(line.split("\t", 3)[3])
                count += 1
        for handle in handles:
            handle.close()
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--program", default="sogo", help="variant A (and the history's program)")
    parser.add_argument("--vs", default=str(ROOT / "docs/examples/sogo-block-1500.toml"))
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--baseline", action="store_true", help="also replay A on one core")
    args = parser.parse_args()
    a, b = load_program(args.program), load_program(args.vs)
    path = Path(
        f"/tmp/loyalty-bench-simulate-{a.id}-{args.members}-{args.months}-{args.seed}.jsonl"
    )
    if not path.exists():
        started = time.perf_counter()
        partial = path.with_suffix(".partial")
        lines = stream_history(a, args.members, args.months, args.seed, partial)
        partial.rename(path)
        print(f"history: {lines:,} lines in {time.perf_counter() - started:.0f} s -> {path}")
    stages: dict[str, float] = {}
    cpu_before = sum(
        u.ru_utime + u.ru_stime
        for u in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )
    started = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        stages[stage] = time.perf_counter() - started

    result = simulate(path, [a, b], processes=args.processes, progress=progress)
    wall = time.perf_counter() - started
    lines = result.lines
    replays = lines * len(result.variants)
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    own, worker = (u.ru_maxrss / 1024 for u in usage)
    cpu = sum(u.ru_utime + u.ru_stime for u in usage) - cpu_before
    print(
        f"members {args.members:,}  inputs {lines:,}  variants 2  processes {result.processes}  "
        f"partitions {result.partitions}  rounds {result.rounds}  "
        f"python {sys.version.split()[0]}  engine {build()}"
    )
    print(
        f"wall {wall:.1f} s: scan done at {stages.get('scan', 0.0):.1f} s, partitions written at "
        f"{stages.get('partition', stages.get('scan', 0.0)):.1f} s, replay of both variants done "
        f"at {stages.get('replay', 0.0):.1f} s"
    )
    print(
        f"throughput: {replays / wall:,.0f} input-replays/s; CPU time {cpu:.1f} s "
        f"({cpu / replays * 1e6:.0f} us per input and variant; {cpu / wall:.2f} cores busy)"
    )
    for label, variant in zip("AB", result.variants, strict=True):
        totals = variant.figures["activity"]["totals"]
        print(
            f"  {label}: {variant.program.name}: issued {totals['issued']:,}, redeemed "
            f"{totals['redeemed']:,}, rejected {len(variant.rejected):,}"
        )
    print(f"peak memory (max RSS): this process {own:,.0f} MiB, largest worker {worker:,.0f} MiB")
    if args.baseline:
        started = time.perf_counter()
        replay = replay_file(a, path)
        replay.output()
        seconds = time.perf_counter() - started
        print(
            f"baseline: replay_file of A on one core {seconds:.1f} s "
            f"({lines / seconds:,.0f} inputs/s, {seconds / lines * 1e6:.0f} us per input)"
        )


if __name__ == "__main__":
    main()
