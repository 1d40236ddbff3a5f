# hmdiag developer entry points. `make demo` and `make test` work on a fresh clone.
# A Python >= 3.12, found by scripts/find-python (PATH, then pyenv); override with PYTHON=...
PYTHON ?=
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS ?= dev,nutpie,numpyro,blackjax,dask

.PHONY: install browser demo story test test-fast lint format bench bench-scale bench-diagnosis bench-accelerator report-screenshot clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { py=$$(PYTHON='$(PYTHON)' sh scripts/find-python) || exit 2; \
		echo "creating $(VENV) with $$py"; "$$py" -m venv $(VENV); }
	@$(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { \
		echo "error: $(VENV) runs Python $$($(BIN)/python -V 2>&1); hmdiag needs >= 3.12: make clean, then make PYTHON=/path/to/python3.12"; exit 2; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

## The reference post's non-centered model (mme4), end to end: fit, save, diagnose.
demo: install
	$(BIN)/hmdiag fit configs/bangladesh/mme4.yaml --out runs/mme4.nc --force

## The reference post end to end: fit all seven configs, write tables and figures to docs/story/.
story: install
	bash docs/story.sh

## Headless Chromium for the report's browser test, when missing (Debian packages; never fails).
browser:
	@sh scripts/install-browser

## The whole suite, slow end-to-end runs included (CI runs exactly this).
test: install browser
	$(BIN)/python -m pytest -q

## Skip the slow full-size sampling runs.
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

## Speed as ratios against baselines run in the same session; writes benchmarks/results.md.
bench: install
	$(BIN)/python benchmarks/bench.py

## docs/report.png: the HTML report of the reference post's mme0 and mme4 (after make story).
report-screenshot: install browser
	$(BIN)/hmdiag report runs/story/mme0.nc runs/story/mme4.nc --out runs/story/report.html --force --quiet || test $$? = 1
	chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1400 \
		--screenshot=docs/report.png file://$(CURDIR)/runs/story/report.html

## Real size (lme4 InstEval, 73k rows, 4,128 group effects): fit, check, compare, report, and
## lme4 when R has it; writes its section of benchmarks/results.md (~15 min on 2 cores;
## SCALE_ARGS=--no-low-rank skips the 10-minute low-rank fit and compare: ~4 min).
bench-scale: install
	$(BIN)/python benchmarks/scale.py $(SCALE_ARGS)

## Does the diagnosis generalize? ~45 simulated cases with known truth (fit, and the doctor on the
## repairable ones); writes its section of benchmarks/results.md.
bench-diagnosis: install
	NUMBA_CPU_NAME=generic $(BIN)/python benchmarks/diagnosis.py

## ESS/s of numpyro, blackjax (on JAX's default device: run it on a GPU machine) and nutpie on
## the bench-scale case; writes benchmarks/accelerator.json and its section of results.md.
bench-accelerator: install
	$(BIN)/python benchmarks/accelerator.py --json-out benchmarks/accelerator.json --render benchmarks/accelerator.json

lint: install
	$(BIN)/ruff check src tests data benchmarks configs
	$(BIN)/ruff format --check src tests data benchmarks configs

format: install
	$(BIN)/ruff format src tests data benchmarks configs
	$(BIN)/ruff check --fix src tests data benchmarks configs

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
