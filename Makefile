# magister: two commands from a fresh machine.
#   make demo  - create .venv, install everything, run a small `magister bench`
#   make test  - install everything (Debian packages too), run the whole suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
APT_PACKAGES := postgresql chromium chromium-driver wrk

.PHONY: demo test install system-deps bench clean docs lint typecheck

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch is pinned in constraints.txt (a version, not a build: which build pip installs depends on the package index);
# the library itself declares a range.
$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests need: PostgreSQL (service storage) and Chromium (dashboard tests).
system-deps:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v wrk >/dev/null && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then \
		echo "system packages present"; \
	else \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

demo: $(STAMP)
	$(VENV)/bin/magister bench --demo

# The documentation site (MkDocs + Material + mkdocstrings); broken links and references fail the build.
# Not --quiet: it drops the warnings that --strict turns into errors (the build then passed with a broken anchor).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# Lint (ruff: pyflakes and pycodestyle errors, settings in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples

# Type check (mypy) of the core and the teachers; which files and settings: [tool.mypy] in pyproject.toml.
typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The suite on PYTEST_WORKERS processes (pytest-xdist; CI has 2 cores, `make test PYTEST_WORKERS=4` elsewhere).
# --dist worksteal: a worker that runs out of tests takes the other's not yet started, so the minute-long
# example tests do not leave one core idle at the end. One BLAS/OpenMP thread per worker: two workers with two
# threads each would fight over two cores (the tests that time or start processes pin their own settings).
PYTEST_WORKERS ?= 2
test: $(STAMP) system-deps lint typecheck docs
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
		MAGISTER_STRICT_DEPS=1 $(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal

bench: $(STAMP)
	$(VENV)/bin/magister bench

clean:
	rm -rf $(VENV) results reports .pytest_cache .mypy_cache site
