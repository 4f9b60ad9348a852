# Every target creates and uses .venv itself; only Python 3.11+ is needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint fuzz bench bench-store bench-rate bench-latency bench-fsync bench-ingest chaos clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/salvo demo

# Each test process starts its own server, sandbox and worker; TEST_WORKERS=1 runs them in one.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

# The property tests of tests/test_fuzz.py for ten minutes (`make test` runs them briefly).
fuzz: $(STAMP)
	SALVO_FUZZ_SECONDS=600 $(BIN)/python -m pytest -q --timeout=900 tests/test_fuzz.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench.throughput

bench-store: $(STAMP)
	$(BIN)/python -m bench.store

bench-rate: $(STAMP)
	$(BIN)/python -m bench.rate

bench-latency: $(STAMP)
	$(BIN)/python -m bench.latency

bench-fsync: $(STAMP)
	$(BIN)/python -m bench.fsync

bench-ingest: $(STAMP)
	$(BIN)/python -m bench.ingest

chaos: $(STAMP)
	$(BIN)/python -m bench.chaos

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
