# The two commands a new user runs: `make demo` and `make test`. Everything else is for iterating.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export FEATURE_STORE_HOME ?= $(CURDIR)/.featurestore
export DAGSTER_HOME ?= $(FEATURE_STORE_HOME)/dagster
PYTEST_ARGS ?=

.PHONY: install services demo ui test test-fast lint backfill clean

$(VENV)/.installed: pyproject.toml requirements.lock
	@command -v java >/dev/null || { echo "Java 17 is required: sudo apt-get install -y openjdk-17-jre-headless"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# redis-server (Debian) and the pinned npm servers (Cosmos DB protocol server, Azurite).
services:
	bash scripts/install_services.sh

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

# Generate sample data, materialize the whole graph over it on the embedded default, print a summary.
demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m examples.churn.demo

# The Dagster UI with the daemon (sensors, automation) on http://127.0.0.1:3000.
ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

# Backfill a range in one run per asset, e.g. make backfill FROM=2025-01-01 TO=2025-03-31
backfill: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster asset materialize -m feature_assets.definitions --select '*' --partition-range $(FROM)...$(TO)

test: install services
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install services
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(FEATURE_STORE_HOME)
