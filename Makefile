# Two commands on a fresh machine with Python >= 3.10 and pip:
#   make course   install (once) and run every notebook with the course runner
#   make test     install (once) and run the tests (unit tests + every notebook in SMOKE mode)
# VENV can point elsewhere (CI keeps one keyed on the dependency list); ARGS go to the runner.
PYTHON ?= python3
VENV ?= .venv
ARGS ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.mmcourse-deps

.PHONY: install course test lab clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[dev,lab]"
	touch $(STAMP)

install: $(STAMP)
	@# always point the (possibly reused) environment at this checkout
	$(BIN)/python -m pip install --quiet --no-deps -e .

course: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/mmcourse run $(ARGS)

test: install
	PATH="$(abspath $(BIN)):$$PATH" MPLBACKEND=Agg MMCOURSE_SMOKE=1 $(BIN)/python -m pytest

lab: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) runs
