"""The compiled settings records (``loyalty.domain.rules``) say what the program models say: each
field of each record equals the model's field of the same name, for every version of every preset
and example program (a list becomes a set or a tuple of the same items)."""

from __future__ import annotations

import doctest
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import loyalty.domain.rules as rules_module
from loyalty.domain.rules import Rules, rules_of
from loyalty.programs.loader import PRESETS, load_program, version_at
from loyalty.programs.schema import Program

EXAMPLES = sorted(str(p) for p in (Path(__file__).parents[2] / "docs" / "examples").glob("*.toml"))


def _versions(program: Program) -> list[Program]:
    return [version_at(program, i) for i in range(len(program.versions) + 1)]


def _same(record: Any, model: BaseModel, where: str) -> int:
    """Compare every field the record has with the model's; returns how many were compared."""
    compared = 0
    for name in type(model).model_fields:
        if not hasattr(record, name):
            continue
        mine, theirs = getattr(record, name), getattr(model, name)
        compared += 1
        if isinstance(theirs, BaseModel):
            compared += _same(mine, theirs, f"{where}.{name}")
        elif isinstance(theirs, list) and theirs and isinstance(theirs[0], BaseModel):
            assert len(mine) == len(theirs), f"{where}.{name}"
            for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
                compared += _same(a, b, f"{where}.{name}.{i}")
        elif isinstance(theirs, list):
            assert type(mine) in (frozenset, tuple), f"{where}.{name}"
            expected = frozenset(theirs) if isinstance(mine, frozenset) else tuple(theirs)
            assert mine == expected, f"{where}.{name}"
        else:
            assert mine == theirs, f"{where}.{name}: {mine!r} != {theirs!r}"
    return compared


@pytest.mark.parametrize("source", [*PRESETS, *EXAMPLES])
def test_each_record_field_is_the_model_field(source: str) -> None:
    for version in _versions(load_program(source)):
        rules = rules_of(version)
        assert rules.program is version
        assert _same(rules, version, source) >= 40


def test_every_record_field_is_a_model_field() -> None:
    """No record field without a model field of that name (nothing left uncompared)."""
    program = load_program("soma")
    rules = rules_of(program)
    pairs: list[tuple[Any, Any]] = [(rules, program)]
    while pairs:
        record, model = pairs.pop()
        names = {n for n in dir(record) if not n.startswith("_")} - {"program"}
        assert names <= set(type(model).model_fields), type(record).__name__
        for name in names:
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                pairs.append((getattr(record, name), value))
            elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
                pairs.extend(zip(getattr(record, name), value, strict=True))


def test_rules_are_built_once_per_program_version() -> None:
    program = load_program("sogo")
    versions = _versions(program)
    assert rules_of(versions[0]) is rules_of(versions[0])
    built = [rules_of(v) for v in versions]
    assert len({id(r) for r in built}) == len(versions)
    assert isinstance(built[0], Rules)


def test_rules_memo_is_bounded() -> None:
    data = load_program("soko").model_dump()
    programs = [Program.model_validate(data) for _ in range(rules_module.RULES_KEPT + 5)]
    for program in programs:
        assert rules_of(program).program is program
    assert len(rules_module._RULES) <= rules_module.RULES_KEPT


def test_module_example() -> None:
    assert doctest.testmod(rules_module).failed == 0
