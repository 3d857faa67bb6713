# Two commands on a fresh machine with Python >= 3.10 and pip:
#   make course   install (once) and run every notebook with the course runner
#   make test     install (once) and run the tests (unit tests + every notebook in SMOKE mode)
# Also: make colab-check (simulates a Colab runtime, see README), make lock (rewrite the lock).
# VENV can point elsewhere (CI keeps one keyed on the dependency list); ARGS go to the runner.
PYTHON ?= python3
VENV ?= .venv
ARGS ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.mmcourse-deps

.PHONY: install course test colab-check lab lock clean

# pyproject.toml holds lower bounds; constraints.txt (the lock) pins what is tested.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e ".[dev,lab]"
	touch $(STAMP)

install: $(STAMP)
	@# always point the (possibly reused) environment at this checkout
	$(BIN)/python -m pip install --quiet --no-deps -e .

course: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/mmcourse run $(ARGS)

test: install
	PATH="$(abspath $(BIN)):$$PATH" MPLBACKEND=Agg MMCOURSE_SMOKE=1 $(BIN)/python -m pytest

# A Colab runtime simulated: another torch trio, each notebook alone in an empty folder,
# the package installed by the notebooks' own bootstrap (tests/colab_check.py).
colab-check:
	$(PYTHON) tests/colab_check.py

lab: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter lab notebooks/

lock: install
	{ sed -n '1,2p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -iv '^mmcourse'; } > constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) runs
