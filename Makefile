# eohub tasks. The README's two commands are `make run` and `make test-all`; CI runs `make test-all`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PORT   ?= 8080
DEMO_PRODUCTS ?= 200

.PHONY: run test-all setup-run setup-test install-run install-dev portal-assets check lint fmt \
        typecheck imports test bench clean

## run: set up on a fresh Debian machine and start a hub with demo data on 127.0.0.1:$(PORT)
run: install-run
	$(BIN)/eohub demo --products $(DEMO_PRODUCTS)
	$(BIN)/eohub serve --host 127.0.0.1 --port $(PORT)

## test-all: set up everything (Debian packages, services, venv) and run what CI runs
test-all: setup-test install-dev check

setup-run:
	bash scripts/setup-system.sh

setup-test:
	bash scripts/setup-system.sh --test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install-run: setup-run $(BIN)/python portal-assets
	$(BIN)/pip install -q .

install-dev: $(BIN)/python portal-assets
	$(BIN)/pip install -q -e '.[dev]'

## portal-assets: the map libraries of the web portal, from npm (pinned by package-lock.json)
portal-assets:
	bash scripts/build-portal-assets.sh

## check: exactly what CI runs after set-up
check: lint typecheck imports test

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

fmt:
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

typecheck:
	$(BIN)/mypy

imports:
	$(BIN)/lint-imports

test:
	$(BIN)/pytest -q

bench:
	$(BIN)/python bench/catalogue.py --backend both --products 1000000

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
