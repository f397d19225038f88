"""The compiled build (mypyc, see setup.py) is what ``make test`` checks a second time: with
``LOYALTY_EXPECT_COMPILED=1`` the engine must really be the compiled one, and without it the
plain Python one, so that neither test run silently checks the other build."""

from __future__ import annotations

import os

from loyalty.domain import engine, handlers, jobs, ledger


def test_the_build_under_test_is_the_expected_one() -> None:
    expected = os.environ.get("LOYALTY_EXPECT_COMPILED") == "1"
    for module in (engine, handlers, jobs, ledger):
        assert module.__file__ is not None
        assert module.__file__.endswith(".so") == expected, module.__file__
