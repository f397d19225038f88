"""Optional compiled build of the engine (the pure domain, the storage codec and registry, the
replay loop and the simulator) with mypyc, as black and mypy ship themselves.

    LOYALTY_COMPILE=1 pip install --no-build-isolation .     # needs mypy and a C compiler

Without ``LOYALTY_COMPILE=1`` (the default, and every editable install) the package is plain
Python. The compiled modules behave the same: ``make test`` runs the golden, property and
scenario tests against them too. Modules left interpreted: ``event_schema`` (pydantic models) and
``errors``.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup

INTERPRETED = {"__init__.py", "event_schema.py", "errors.py"}


def compiled_modules() -> list[str]:
    """The pure engine, the codec that turns its members into stored documents and back, the
    storage's registry (a batch import's rows are built there: ~10-17% faster on SQLite,
    bench/ingest.py), the replay's loop and the simulator's scan and replay loops."""
    domain = Path("src/loyalty/domain")
    engine = sorted(str(p) for p in domain.glob("*.py") if p.name not in INTERPRETED)
    return [
        *engine,
        "src/loyalty/adapters/codec.py",
        "src/loyalty/adapters/sql/registry.py",
        "src/loyalty/services/replay.py",
        "src/loyalty/services/simulation.py",
    ]


ext_modules = []
if os.environ.get("LOYALTY_COMPILE") == "1":
    from mypyc.build import mypycify

    ext_modules = mypycify(compiled_modules(), opt_level="3")

setup(ext_modules=ext_modules)
