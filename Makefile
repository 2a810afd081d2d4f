# Quick start:  make report   (renders the bundled sample study)
#               make test     (runs the test suite)
# Each target sets up its own virtual environment in .venv on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: report test setup clean

$(STAMP): pyproject.toml scripts/setup-system.sh
	bash scripts/setup-system.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

report: $(STAMP)
	$(BIN)/evalkit run --cycle latest

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf reports/*/ data/sample/evalkit.duckdb*
