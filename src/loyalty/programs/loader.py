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


def _problems(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """(field path, reason) of each error; a model-level check names its field as 'path: why'."""
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        head, sep, rest = message.partition(": ")
        if sep and " " not in head:
            where, message = ".".join(x for x in (where, head) if x), rest
        out.append((prefix + where if where else prefix.rstrip(".") or "(program)", message))
    return out


def _invalid(source: str, problems: list[tuple[str, str]]) -> InvalidProgram:
    text = "; ".join(f"{where}: {why}" for where, why in problems)
    return InvalidProgram(f"{source}: {text}", problems[0][0])


def program_from_dict(data: dict[str, Any], source: str = "program") -> Program:
    try:
        program = Program.model_validate(data)
    except ValidationError as exc:
        raise _invalid(source, _problems(exc)) from None
    ordered = sorted(range(len(program.versions)), key=lambda i: program.versions[i].effective)
    for position, index in enumerate(ordered, start=1):
        try:
            version_at(program, position)  # each version, merged over those before it
        except ValidationError as exc:
            raise _invalid(source, _problems(exc, f"versions.{index}.changes.")) from None
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
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidProgram(f"{name}: not valid UTF-8 ({exc.reason})") from None
    text = text.removeprefix("\ufeff")  # a byte order mark some editors write: not TOML
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidProgram(f"{name}: not valid TOML: {exc}") from None
    return program_from_dict(data, source=name)
