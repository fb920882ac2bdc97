# Two entry points: `make run` starts the app, `make test` runs lint and the whole test suite.
# Both create .venv when missing. torch is pinned and installed first so that no other package
# can pull a different (CUDA) build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)

.PHONY: run test lint setup

$(STAMP):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[train,dev,native]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(PY) -m ot_nicegui $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP) lint
	bash tests/setup_system.sh
	$(PY) -m pytest -q $(PYTEST_ARGS)
