# Two commands on a fresh machine with Python >= 3.10 and pip:
#   make course   install (once) and run every notebook with the course runner
#   make test     install (once) and run the tests (unit tests + every notebook in SMOKE mode)
# Also: make colab-check (simulates a Colab runtime, see README), make lock (rewrite the lock),
# make site / make release / make site-test (the course as a website, see README).
# VENV can point elsewhere (CI keeps one keyed on the dependency list); ARGS go to the runner.
PYTHON ?= python3
VENV ?= .venv
ARGS ?=
# the run that `make site` and `make release` publish: the newest in runs/ unless RUN=DIR is given
RUN ?= $(patsubst %/summary.json,%,$(firstword $(shell ls -t runs/*/summary.json 2>/dev/null)))
SITE ?= $(RUN)/site
RELEASE ?= release
SITE_RUN ?= runs/smoke
BIN := $(VENV)/bin
STAMP := $(VENV)/.mmcourse-deps

.PHONY: install course test colab-check lab lock clean site release site-test

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

# The course as a static site (index + one page per executed notebook, nothing loaded from the network).
site: install
	@test -n "$(RUN)" || { echo "no course run in runs/: run 'make course ARGS=--smoke' first, or pass RUN=DIR"; exit 1; }
	$(BIN)/mmcourse site $(RUN) $(SITE) --overwrite

# Instructor notebooks, student copies (solutions stripped) and the site of RUN in one folder.
release: install
	@test -n "$(RUN)" || { echo "no course run in runs/: run 'make course ARGS=--smoke' first, or pass RUN=DIR"; exit 1; }
	$(BIN)/mmcourse release $(RELEASE) --run $(RUN)

# The site of a SMOKE run in headless Chromium (Debian's chromium + chromium-driver); the SMOKE run
# in $(SITE_RUN) is made once (several minutes) and reused: delete it to test a fresh one.
site-test: install
	test -f $(SITE_RUN)/summary.json || PATH="$(abspath $(BIN)):$$PATH" $(BIN)/mmcourse run --smoke --out $(SITE_RUN)
	$(BIN)/mmcourse site $(SITE_RUN) $(SITE_RUN)/site --overwrite
	MMCOURSE_SITE_RUN=$(SITE_RUN) MMCOURSE_SITE_DIR=$(SITE_RUN)/site MMCOURSE_SITE_SHOTS=$(SITE_RUN)/screenshots \
		$(BIN)/python -m pytest tests/test_site_browser.py -v
	@echo "screenshots: $(SITE_RUN)/screenshots; site: $(SITE_RUN)/site/index.html"

lab: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter lab notebooks/

lock: install
	{ sed -n '1,2p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -iv '^mmcourse'; } > constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) runs $(RELEASE)
