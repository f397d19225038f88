"""Load a program from a preset name or a TOML file; reject a bad one with field and reason."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from loyalty.domain.errors import InvalidProgram
from loyalty.programs.schema import Program

PRESETS = ("soko", "sogo", "soma")


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(program)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def program_from_dict(data: dict[str, Any], source: str = "program") -> Program:
    try:
        program = Program.model_validate(data)
        for index in range(1, len(program.versions) + 1):
            version_at(program, index)  # each version, merged over those before it
    except ValidationError as exc:
        raise InvalidProgram(f"{source}: {_describe(exc)}") from None
    return program


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def version_at(program: Program, index: int) -> Program:
    """The program as changed by its first ``index`` versions (sorted by date)."""
    data = program.model_dump(mode="json", exclude={"versions"})
    for version in sorted(program.versions, key=lambda v: v.effective)[:index]:
        data = _merge(data, version.changes)
    return Program.model_validate(data)


def load_program(spec: str | Path) -> Program:
    """``spec`` is a preset name (soko, sogo, soma) or a path to a TOML program file."""
    text: str
    name = str(spec)
    if name in PRESETS:
        text = resources.files("loyalty.programs").joinpath(f"presets/{name}.toml").read_text()
    else:
        path = Path(name)
        if not path.is_file():
            raise InvalidProgram(
                f"{name}: no such preset ({', '.join(PRESETS)}) or program file", field="program"
            )
        text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidProgram(f"{name}: not valid TOML: {exc}") from None
    return program_from_dict(data, source=name)
