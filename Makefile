# Two entry points a newcomer needs: `make demo` and `make test`.
# Both set up what they need on a fresh machine: `make demo` a virtualenv with
# Bifrost alone (about 40 MB); `make test` adds the test tools, the cloud
# backends, OpenTimelineIO (shots import), usd-core (USD layers) and the cloud emulators the tests start themselves.
#
# DEPS=lowest installs every dependency at the lowest version pyproject.toml
# allows (CI tests both ends of each range); the default takes the newest.

PYTHON ?= $(shell for p in python3.11 python3.13 python3.12 python3; do command -v $$p >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
DEMO ?= demo-studio
DEPS ?= newest
PYTEST_ARGS ?=
CONSTRAINTS := $(if $(filter lowest,$(DEPS)),-c $(VENV)/lowest.txt,)

.PHONY: setup setup-demo lint test test-fast demo bench clean

setup: $(VENV)/.installed-test
setup-demo: $(VENV)/.installed

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 14), sys.version' 2>/dev/null || \
	  { echo "Bifrost needs Python 3.11 to 3.13; got '$(PYTHON)'. Try: make $(MAKECMDGOALS) PYTHON=python3.11" >&2; exit 2; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || \
	  { echo "$(PYTHON) cannot create virtualenvs. On Debian or Ubuntu: apt-get install $(notdir $(PYTHON))-venv" >&2; exit 2; }
	@echo "== creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/lowest.txt: pyproject.toml scripts/lowest_constraints.py | $(VENV)/bin/python
	$(BIN)/python scripts/lowest_constraints.py pyproject.toml > $@

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python $(if $(filter lowest,$(DEPS)),$(VENV)/lowest.txt)
	@echo "== installing Bifrost into $(VENV) (about a minute)"
	$(BIN)/pip install -q $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed package.json package-lock.json .ci/emulators.sh
	@echo "== installing the test tools, cloud backends and emulators into $(VENV)"
	$(BIN)/pip install -q $(CONSTRAINTS) -e '.[test,cloud,edit,usd]'
	bash .ci/emulators.sh
	@$(BIN)/pip list 2>/dev/null | grep -iE '^(watchdog|click|sqlite-utils|pyyaml|xxhash|interegular|fsspec|s3fs|gcsfs|adlfs|moto|pytest|usd-core) ' | tr -s ' ' | paste -sd, - | sed 's/^/== versions: /'
	touch $@

# The house rules as checks: ruff (mistakes), lint-imports (the layers, the pure core, the catalog as the
# only door to SQLite, no cycles; contracts in pyproject.toml), mypy (types everywhere, strict on the pure
# core; [tool.mypy] in pyproject.toml). make test runs it first.
lint: setup
	$(BIN)/ruff check bifrostd tests bench scripts
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: lint
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

demo: setup-demo
	bash scripts/demo.sh $(BIN) $(DEMO)

bench: setup
	$(BIN)/python bench/templates.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .ruff_cache .mypy_cache
