# Two entry points a newcomer needs: `make demo` and `make test`.
# Both set up everything on a fresh machine (a virtualenv with the package and
# its test dependencies, and the cloud emulators the tests start themselves).

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DEMO ?= demo-studio
PYTEST_ARGS ?=

.PHONY: setup test test-fast demo bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml .ci/emulators.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,cloud,usd]'
	bash .ci/emulators.sh $(VENV)
	touch $@

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

demo: setup
	bash scripts/demo.sh $(BIN) $(DEMO)

bench: setup
	$(BIN)/python bench/templates.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
