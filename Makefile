# One entry point for set-up, tests and the demo; everything runs inside .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test test-fast lint format demo clean

install: $(STAMP)

# torch is pinned here (a CPU or CUDA build of 2.13.0 both work); the package then finds it installed.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)  ## every test, the slow end-to-end ones included (what CI runs)
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -q

test-fast: $(STAMP)  ## skip tests marked slow
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

demo: $(STAMP)  ## the main job on the built-in synthetic data set
	$(VENV)/bin/skelcmd demo --out runs/demo

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
