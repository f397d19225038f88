"""Instructions an event: the replay's cost counted by valgrind (callgrind), not timed. This
machine's speed drifts by up to 30% between runs minutes apart; the count of instructions does
not (it moves by < 0.1% between runs of the same code), so it is the figure to compare two
versions of the engine by, a change at a time.

    make compiled && PYTHONPATH=build/compiled python bench/instructions.py [--lines 4000]

For each preset: the first ``--lines`` inputs of its seeded 1,000-member year, replayed once under
``valgrind --tool=callgrind``, less the same process that only loads the program (start-up), over
the number of inputs. Needs valgrind (Debian's ``valgrind``); ~1 minute a preset. The yardstick in
the same run: ``json.loads`` of the same lines, counted the same way.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from loyalty import build, load_program
from loyalty.services.synthetic import generate_history

CHILD = """
import json, sys
from loyalty.programs.loader import load_program
from loyalty.services.replay import replay_file
mode, preset, path = sys.argv[1:]
load_program(preset)
if mode == "replay":
    replay_file(preset, path)
elif mode == "json":
    with open(path, "rb") as handle:
        for line in handle:
            json.loads(line)
"""


def _history(preset: str, lines: int) -> Path:
    cache = Path(f"/tmp/loyalty-bench-{preset}-1000-12-1.jsonl")
    if not cache.exists():
        history = generate_history(load_program(preset), members=1000, months=12, seed=1)
        cache.write_text("\n".join(history) + "\n")
    head = Path(tempfile.gettempdir()) / f"loyalty-instructions-{preset}-{lines}.jsonl"
    with cache.open("rb") as source:
        head.write_bytes(b"".join(line for _, line in zip(range(lines), source, strict=False)))
    return head


def _instructions(mode: str, preset: str, path: Path) -> int:
    with tempfile.TemporaryDirectory() as folder:
        run = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={folder}/out",
                sys.executable,
                "-c",
                CHILD,
                mode,
                preset,
                str(path),
            ],
            capture_output=True,
            text=True,
            env=os.environ,
            check=False,
        )
    if run.returncode != 0:
        raise SystemExit(f"{mode} {preset} failed under valgrind:\n{run.stderr[-3000:]}")
    found = re.search(r"Collected : (\d+)", run.stderr)
    assert found is not None, run.stderr[-2000:]
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=4000)
    parser.add_argument("--presets", nargs="+", default=["soko", "sogo", "soma"])
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind (apt-get install valgrind)")
    print(f"{'preset':8} {'inputs':>7} {'instructions/input':>19} {'json.loads/input':>17} ratio")
    for preset in args.presets:
        path = _history(preset, args.lines)
        with path.open("rb") as handle:
            count = sum(1 for _ in handle)
        start = _instructions("start", preset, path)
        engine = (_instructions("replay", preset, path) - start) / count
        parse = (_instructions("json", preset, path) - start) / count
        print(f"{preset:8} {count:7d} {engine:19,.0f} {parse:17,.0f} {engine / parse:5.0f}")
    print(f"engine: {build()}")


if __name__ == "__main__":
    main()
