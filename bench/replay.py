"""Replay throughput: a seeded synthetic year (100k members, >= 1M events across the three
presets, with returns and redemptions) replayed through the in-memory engine on one core.

    make compiled && PYTHONPATH=build/compiled python bench/replay.py [--members 100000] ...
    python bench/replay.py [--members 100000] [--months 12] [--seed 1]    # interpreted build

Prints events/s and peak memory per preset and in all. The yardstick measured in the same run is
the raw cost of parsing the same lines with ``json.loads`` (the floor any replay pays).
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from pathlib import Path

from loyalty import build, load_program, replay_lines
from loyalty.services.synthetic import generate_history


def _history(preset: str, members: int, months: int, seed: int) -> list[bytes]:
    cache = Path(f"/tmp/loyalty-bench-{preset}-{members}-{months}-{seed}.jsonl")
    if cache.exists():
        return cache.read_bytes().splitlines()
    lines = [
        line.encode()
        for line in generate_history(
            load_program(preset), members=members, months=months, seed=seed
        )
    ]
    cache.write_bytes(b"\n".join(lines) + b"\n")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000, help="members in all presets")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    per_preset = args.members // 3
    total_events = total_seconds = total_json = 0.0
    print(f"{'preset':8} {'members':>8} {'events':>9} {'rejected':>8} {'seconds':>8} "
          f"{'events/s':>9} {'json.loads/s':>12}")  # fmt: skip
    import json

    for preset in ("soko", "sogo", "soma"):
        lines = _history(preset, per_preset, args.months, args.seed)
        gc.collect()
        started = time.perf_counter()
        for line in lines:
            json.loads(line)
        json_seconds = time.perf_counter() - started
        program = load_program(preset)
        started = time.perf_counter()
        result = replay_lines(program, lines)
        result.output()  # the summaries, as `loyalty replay` prints them
        seconds = time.perf_counter() - started
        n = len(lines)
        total_events += n
        total_seconds += seconds
        total_json += json_seconds
        print(f"{preset:8} {per_preset:8d} {n:9d} {len(result.rejected):8d} {seconds:8.1f} "
              f"{n / seconds:9.0f} {n / json_seconds:12.0f}")  # fmt: skip
        del result
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'all':8} {per_preset * 3:8d} {int(total_events):9d} {'':8} {total_seconds:8.1f} "
          f"{total_events / total_seconds:9.0f} {total_events / total_json:12.0f}")  # fmt: skip
    print(f"engine cost per event: {total_seconds / total_events * 1e6:.1f} us "
          f"(json.loads alone: {total_json / total_events * 1e6:.1f} us)")  # fmt: skip
    print(f"peak memory (max RSS): {peak_mb:.0f} MiB; python {sys.version.split()[0]}; "
          f"engine {build()}")  # fmt: skip


if __name__ == "__main__":
    main()
