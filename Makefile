# sofkd: two commands do everything on a fresh machine.
#   make test                 install, then run the test suite (what CI runs)
#   make book [PROFILE=...]   install, train every variant at PROFILE, render the book
PYTHON ?= python3
PROFILE ?= cpu-demo
PIP := $(PYTHON) -m pip

.PHONY: install test book clean

install: .stamp-install

.stamp-install: requirements.txt pyproject.toml
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-deps -e .
	@touch $@

test: install
	$(PYTHON) -m pytest -q

clean:
	rm -rf _build .cache .pytest_cache .stamp-install
