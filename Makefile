# Two commands: `make run` and `make test`. Needs only python3 and make.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench clean postgres

$(STAMP): pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/loyalty demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

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

test: lint typecheck unit

bench: $(STAMP)
	$(PY) bench/replay.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
