"""domain/ and programs/ import no I/O framework (DESIGN.md): a contract test keeps it so."""

from __future__ import annotations

import ast
from pathlib import Path

import loyalty

FORBIDDEN = {
    "sqlalchemy",
    "fastapi",
    "typer",
    "rich",
    "polars",
    "psycopg",
    "httpx",
    "alembic",
    "jinja2",
    "starlette",
    "uvicorn",
    "requests",
    "sqlite3",
    "socket",
    "urllib",
}
PURE = ("domain", "programs")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_pure_layers_import_no_io_framework() -> None:
    root = Path(loyalty.__file__).parent
    offenders = {}
    for layer in PURE:
        for path in (root / layer).rglob("*.py"):
            bad = _imports(path) & FORBIDDEN
            if bad:
                offenders[str(path.relative_to(root))] = sorted(bad)
    assert offenders == {}


def test_domain_reads_no_clock() -> None:
    root = Path(loyalty.__file__).parent
    for layer in PURE:
        for path in (root / layer).rglob("*.py"):
            text = path.read_text()
            for call in ("datetime.now(", "datetime.utcnow(", "date.today(", "time.time("):
                assert call not in text, f"{path.name} reads the clock ({call})"


def test_domain_does_not_import_upper_layers() -> None:
    root = Path(loyalty.__file__).parent
    for path in (root / "domain").rglob("*.py"):
        text = path.read_text()
        for upper in ("loyalty.services", "loyalty.entrypoints", "loyalty.adapters"):
            assert upper not in text, f"{path.name} imports {upper}"
