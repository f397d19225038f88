"""The compiled build (mypyc, see setup.py) is what ``make test`` checks a second time: with
``LOYALTY_EXPECT_COMPILED=1`` the engine must really be the compiled one, and without it the
plain Python one, so that neither test run silently checks the other build."""

from __future__ import annotations

import os

from loyalty.adapters import codec
from loyalty.adapters.sql import registry as sql_registry
from loyalty.adapters.sql.registry import SqlRegistry
from loyalty.domain import engine, handlers, jobs, ledger, received, registry, rules
from loyalty.services import replay, simulation

COMPILED = (  # compiled modules of every layer
    engine,
    handlers,
    jobs,
    ledger,
    received,
    registry,
    rules,
    codec,
    sql_registry,
)


def test_the_build_under_test_is_the_expected_one() -> None:
    expected = os.environ.get("LOYALTY_EXPECT_COMPILED") == "1"
    for module in (*COMPILED, replay, simulation):
        assert module.__file__ is not None
        assert module.__file__.endswith(".so") == expected, module.__file__


def test_the_storage_registry_still_subclasses_the_in_memory_one() -> None:
    """The storage adapter's subclass (compiled too, in the compiled build; ``Registry`` allows
    interpreted subclasses as well) overrides its methods, and the compiled engine calls the
    overrides."""
    assert issubclass(SqlRegistry, registry.Registry)
    assert SqlRegistry.defers_fingerprints is not registry.Registry.defers_fingerprints
