# Quick start:  make report   (renders the bundled sample study)
#               make test     (runs the test suite)
#               make lab      (opens notebooks/ in JupyterLab)
# Each target sets up its own virtual environment in .venv on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# JupyterLab refuses to run as root unless told to
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: report test lab setup clean

$(STAMP): pyproject.toml scripts/setup-system.sh
	bash scripts/setup-system.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lab,pdf]'
	touch $(STAMP)

setup: $(STAMP)

report: $(STAMP)
	$(BIN)/evalkit run --cycle latest

test: $(STAMP)
	$(BIN)/python -m pytest

lab: $(STAMP)
	$(BIN)/jupyter-lab --ServerApp.root_dir=notebooks $(LAB_ROOT)

clean:
	rm -rf reports/*/ data/sample/evalkit.duckdb*
