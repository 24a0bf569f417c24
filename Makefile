# `make run` and `make test` work on a fresh clone: each creates .venv when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= config.example.toml

.PHONY: run test lint unit integration e2e bench clean

$(BIN)/autodoc: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.dev: $(BIN)/autodoc
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

run: $(BIN)/autodoc
	$(BIN)/autodoc --config $(CONFIG) db upgrade
	$(BIN)/autodoc --config $(CONFIG) run

test: $(VENV)/.dev lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: $(VENV)/.dev
	$(BIN)/pytest -q tests/unit

integration: $(VENV)/.dev
	$(BIN)/pytest -q tests/integration

e2e: $(VENV)/.dev
	$(BIN)/pytest -q tests/e2e

# Benchmarks (benchmarks/): installs rclone (apt-get) and py-spy (pip) when missing, runs them
# all and appends the tables to benchmarks/RESULTS.md. `make bench BENCH_ARGS=--quick`: smoke run.
bench: BENCH_STARTED := $(shell date +%s)
bench: $(VENV)/.dev
	AUTODOC_BENCH_STARTED=$(BENCH_STARTED) bash benchmarks/bench.sh $(BENCH_ARGS)

# Leaves ./var (the quick start's database, blobs and inbox) alone.
clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
