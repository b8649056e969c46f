# Two commands do everything on a fresh machine with Python 3.11:
#   make demo   build the synthetic national store and run the sample request
#   make test   run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

STORE := data/national.duckdb

.PHONY: demo test install lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,lab]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

$(STORE): | $(STAMP)
	$(BIN)/jdl synth --people 300000 --seed 2013 --store $(STORE)

# The demo request: a custody cohort drawn from the synthetic store with a planted 8-point fall in
# reoffending, selected towards higher risk (the answer key stays in outputs/demo-cohort/).
demo: $(STORE)
	$(BIN)/jdl synth-cohort --store $(STORE) --n 800 --setting custody --from 2005-01-01 --to 2010-12-31 \
		--effect -0.08 --selection higher_risk --seed 7 --out outputs/demo-cohort
	$(BIN)/jdl run parameters/demo.yaml
	@echo "Answer key and true effect of the demo cohort: outputs/demo-cohort/truth.json"

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check jdl_lib tests bench

clean:
	rm -rf $(VENV) outputs/* data/*.duckdb data/*.parquet
