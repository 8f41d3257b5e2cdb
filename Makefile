# Pilotage — the two commands: `make run` and `make test`. Only Python 3.11+ is assumed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run demo test check lint typecheck format migrate bench-gateway bench-ingest bench-reads bench-status bench-strategy bench-talent bench-alignment soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Install everything, then start the database, the three services and the gateway.
run: $(STAMP)
	$(BIN)/pilotage up

## Start the platform in the background if it is not answering, then load the demo company
## through the API (SIZE=small|medium|large; running it again changes nothing).
SIZE ?= medium
demo: $(STAMP)
	$(BIN)/pilotage demo --start --size $(SIZE)

## Install everything, then run the whole test suite.
test: $(STAMP)
	$(BIN)/pytest

## The static checks CI runs besides the tests.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: $(STAMP)
	$(BIN)/pilotage migrate

## Refresh the public contract docs/openapi.json (ACKNOWLEDGE=1 accepts a change that breaks clients).
.PHONY: openapi
openapi: $(STAMP)
	$(BIN)/python -m pilotage.contract write $(if $(ACKNOWLEDGE),--acknowledge)

## Benchmarks (not tests): each starts what it needs and ends with `ratio: <number>`.
bench-gateway: $(STAMP)
	$(BIN)/python -m bench.gateway

bench-ingest: $(STAMP)
	$(BIN)/python -m bench.ingest

bench-reads: $(STAMP)
	$(BIN)/python -m bench.reads

bench-status: $(STAMP)
	$(BIN)/python -m bench.status

bench-strategy: $(STAMP)
	$(BIN)/python -m bench.strategy

bench-talent: $(STAMP)
	$(BIN)/python -m bench.talent

bench-alignment: $(STAMP)
	$(BIN)/python -m bench.alignment

## Soak (a script, not a test): mixed traffic at a steady rate; fails on memory growth, p99 drift or a 5xx.
soak: $(STAMP)
	$(BIN)/python -m bench.soak $(if $(MINUTES),--minutes $(MINUTES))

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
