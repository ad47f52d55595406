# sofkd: two commands do everything on a fresh machine.
#   make test                 install, lint (ruff), then run the test suite (what CI runs)
#   make book [PROFILE=...]   install, train every variant at PROFILE, render the book
PYTHON ?= python3
PROFILE ?= cpu-demo
PIP := $(PYTHON) -m pip
# The library is used from this checkout (also inside papermill kernels), never from a
# stale installed copy: every recipe sees this tree first on the import path.
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH),)
# Keep freed activations in glibc's heap instead of returning them to the OS on every
# layer: page faults were ~40 % of CPU time here (bench/README.md). Reaches papermill kernels.
export MALLOC_MMAP_THRESHOLD_ ?= 1073741824
export MALLOC_TRIM_THRESHOLD_ ?= 2147483648

.PHONY: install lint test book clean

install: .stamp-install

.stamp-install: requirements.txt pyproject.toml
	$(PIP) install -q -r requirements.txt
	@touch $@

lint: install
	$(PYTHON) -m ruff check .

test: install lint
	$(PYTHON) -m pytest -q

# Train every variant at PROFILE with papermill (runs reused by content key), evaluate,
# then build the book with warnings as errors: _build/html/index.html.
book: install
	$(PYTHON) -m sofkd_lib pipeline --profile $(PROFILE)

clean:
	rm -rf _build .cache .pytest_cache .stamp-install
