# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGINS := ./plugins/dmb-uuid-names ./plugins/dmb-sniff-content-type

.PHONY: venv test lint demo demo-ci clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

venv: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]" $(PLUGINS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: venv lint
	$(BIN)/python -m pytest
	cd plugins/dmb-uuid-names && ../../$(BIN)/python -m pytest -q -p no:cacheprovider
	cd plugins/dmb-sniff-content-type && ../../$(BIN)/python -m pytest -q -p no:cacheprovider

demo: venv
	$(BIN)/python examples/demo.py

demo-ci: venv
	$(BIN)/python examples/demo.py --no-serve

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
