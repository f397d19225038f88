# Two commands: `make run` and `make test`. Needs only python3 and make (and installs Debian's
# PostgreSQL, and gcc for the compiled engine, when they are missing).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit unit-compiled compiled compiler bench clean postgres

$(STAMP): pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/loyalty demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench setup.py
	$(VENV)/bin/ruff format --check src tests bench setup.py

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The storage tests start a throwaway PostgreSQL cluster (initdb/pg_ctl); install Debian's
# postgresql package when its binaries are missing (needs root, as in CI).
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  (echo "installing PostgreSQL (apt-get)"; apt-get update -qq && \
	   DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null)

unit: $(STAMP) postgres
	$(VENV)/bin/pytest

# The engine compiled with mypyc (setup.py), installed apart in build/compiled: ~1.5x faster.
# Rebuilt whenever a source file changes; used by the benchmarks and checked by the same golden,
# property and scenario tests as the plain build.
COMPILED := build/compiled
COMPILED_STAMP := $(COMPILED)/.built
SOURCES := $(shell find src -name '*.py' -o -name '*.toml' -o -name '*.jsonl' -o -name '*.mako')

# mypyc needs a C compiler and Python's headers (on the machines here they are there; install
# Debian's gcc when missing, as for PostgreSQL).
compiler:
	@command -v gcc >/dev/null 2>&1 || (echo "installing gcc (apt-get)"; apt-get update -qq && \
	   DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc >/dev/null)
	@$(PY) -c "import os, sysconfig; h = sysconfig.get_paths()['include']; \
	  assert os.path.exists(os.path.join(h, 'Python.h')), 'Python headers missing in ' + h"

$(COMPILED_STAMP): $(STAMP) setup.py pyproject.toml $(SOURCES) | compiler
	rm -rf $(COMPILED) build/lib.* build/temp.*  # no module of an earlier build may linger
	LOYALTY_COMPILE=1 $(PY) -m pip install -q --no-deps --no-build-isolation --target $(COMPILED) .
	touch $(COMPILED_STAMP)

compiled: $(COMPILED_STAMP)

unit-compiled: $(COMPILED_STAMP) postgres
	LOYALTY_EXPECT_COMPILED=1 PYTHONPATH=$(COMPILED) $(VENV)/bin/pytest -p no:cacheprovider \
	  tests/unit/test_compiled_build.py tests/integration/test_golden_replay.py \
	  tests/property tests/scenarios tests/unit/test_bad_input.py tests/unit/test_idempotency.py \
	  tests/unit/test_tier_state.py tests/unit/test_money.py tests/unit/test_records.py \
	  tests/unit/test_numbers.py tests/unit/test_calendar.py tests/unit/test_fields.py \
	  tests/unit/test_local_hours.py tests/unit/test_month_of.py \
	  tests/integration/test_differential.py \
	  tests/integration/test_import_member_cache.py tests/unit/test_codec_documents.py \
	  tests/integration/test_order_rows.py tests/integration/test_import_retry.py \
	  tests/integration/test_pipelined_import.py tests/integration/test_certificate_rows.py \
	  tests/integration/test_sqlite_pipelined_import.py \
	  tests/unit/test_heap.py tests/unit/test_rules.py tests/unit/test_simulation.py \
	  -k "memory or sqlite or not scenarios"

test: lint typecheck unit unit-compiled

bench: $(COMPILED_STAMP)
	PYTHONPATH=$(COMPILED) $(PY) bench/replay.py

clean:
	rm -rf $(VENV) build .mypy_cache .pytest_cache .ruff_cache
