# Two commands do everything on a fresh machine with Python 3.11:
#   make demo   build the synthetic national store and run the sample request
#   make test   run the whole test suite
#   make publish  a handful of demo requests of different service types, then the published site (site/)
#   make lab    open the analyst's workbench (notebooks/workbench.ipynb) in JupyterLab on 127.0.0.1
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

STORE := data/national.duckdb

.PHONY: demo test install lint clean publish lab browser

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
	$(BIN)/jdl run parameters/demo.yaml --replace
	@echo "Answer key and true effect of the demo cohort: outputs/demo-cohort/truth.json"

# The demo requests of `make publish` (parameters/sector/): request id, setting, planted effect, cohort seed.
# Six mentoring services (enough for sector context: each report sees five others), two employment, one
# education; small cohorts of 300 people drawn from the synthetic store.
SECTOR := north-mentoring:custody:-0.08:21 harbour-mentoring:custody:-0.05:22 oak-mentoring:community:-0.03:23 \
	riverside-mentoring:community:-0.06:41 bridge-mentoring:custody:0.00:25 lantern-mentoring:custody:-0.04:26 \
	workwise-employment:custody:-0.03:27 ladder-employment:custody:0.01:28 learning-education:custody:-0.02:29

# Runs (or re-runs, with --replace) every sector request, then `jdl publish site`; re-running the mentoring
# requests after the first pass gives each one its sector context (the others are then published). A request
# that fails is reported and left out, as `jdl batch` does; the site publishes what was released.
publish: $(STORE)
	@for entry in $(SECTOR); do \
		set -- $$(echo $$entry | tr ':' ' '); \
		$(BIN)/jdl synth-cohort --store $(STORE) --n 300 --setting $$2 --from 2005-01-01 --to 2010-12-31 \
			--effect $$3 --selection higher_risk --seed $$4 --out outputs/sector-cohorts/$$1 >/dev/null || exit 1; \
		$(BIN)/jdl run parameters/sector/$$1.yaml --replace --keep-upload || echo "$$1 not released: see above"; \
	done
	@for entry in $(SECTOR); do \
		case $$entry in *-mentoring:*) $(BIN)/jdl run parameters/sector/$${entry%%:*}.yaml --replace --keep-upload \
			|| echo "$${entry%%:*} not re-run: see above";; esac; \
	done
	$(BIN)/jdl publish site --outputs outputs \
		$(foreach r,$(SECTOR),--scan-upload outputs/sector-cohorts/$(firstword $(subst :, ,$(r)))/upload.csv)

# Node runs the published site's power calculator in the tests (tests/test_publish_power_js.py).
NODE_STAMP := $(VENV)/.node

$(NODE_STAMP): | $(STAMP)
	command -v node >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs >/dev/null)
	touch $(NODE_STAMP)

test: $(STAMP) $(NODE_STAMP) browser
	$(BIN)/python -m pytest -q

# The workbench's browser test drives Debian's chromium (never a downloaded browser): install it when
# missing, as root, quietly; a no-op once it is there.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing chromium for the workbench browser test"; \
			apt-get update -qq >/dev/null && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
		else echo "chromium is missing: run 'sudo apt-get install chromium' (the browser test is skipped)"; fi; }

# The analyst's workbench: JupyterLab on this machine only, saving notebooks without outputs.
lab: $(STAMP)
	$(BIN)/jupyter lab --config=jupyter_server_config.py $(if $(filter 0,$(shell id -u)),--allow-root) \
		notebooks/workbench.ipynb

lint: $(STAMP)
	$(BIN)/ruff check jdl_lib tests bench

clean:
	rm -rf $(VENV) outputs/* data/*.duckdb data/*.parquet site
