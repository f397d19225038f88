"""The bundled demo histories (a few dozen members per preset), used by ``make run``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def demo_path(preset: str) -> Path:
    return Path(str(resources.files("loyalty.services").joinpath(f"demo/{preset}.jsonl")))
