# Entry points: `make run` starts the app, `make test` runs lint and the whole test suite, `make lock`
# refreshes the dependency lock and runs the suite against it. All create .venv when missing.
# torch is pinned and installed first so that no other package can pull a different (CUDA) build;
# everything else installs at the exact versions of requirements.lock.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH := torch==2.13.0
LOCK := requirements.lock
EXTRAS := train,dev,native,tools,cloud
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile $(LOCK) | cksum | cut -d' ' -f1)

.PHONY: run test lint setup lock

$(STAMP):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet --constraint $(LOCK) -e '.[$(EXTRAS)]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(PY) -m ot_nicegui $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The suite runs on one pytest-xdist worker per CPU core (tests take their own ports and folders; the
# one machine-wide resource, the password-login test user, is behind a lock). PYTEST_ARGS comes last:
# `make test PYTEST_ARGS='-n 0'` runs the suite in one process.
test: $(STAMP) lint
	bash tests/setup_system.sh
	$(PY) -m pytest -q -n auto $(PYTEST_ARGS)

# Re-resolve every extra to the newest versions pyproject.toml allows (torch held at its pin and
# left out of the lock), then install and test exactly that.
lock: $(STAMP)
	echo '$(TORCH)' > $(VENV)/torch-pin.txt
	$(PY) -m piptools compile --quiet --upgrade --all-extras --strip-extras --no-header \
		--no-emit-index-url --no-emit-find-links --unsafe-package torch \
		--constraint $(VENV)/torch-pin.txt --output-file $(LOCK) pyproject.toml
	$(MAKE) test
