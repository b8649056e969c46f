# Two commands do everything on a fresh machine with Python 3.11:
#   make demo   build the synthetic national store and run the sample request
#   make test   run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint store clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,lab]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

store: $(STAMP)
	$(BIN)/jdl synth --people 300000 --seed 2013 --store data/national.duckdb

demo: store

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check jdl_lib tests bench

clean:
	rm -rf $(VENV) outputs/* data/*.duckdb
