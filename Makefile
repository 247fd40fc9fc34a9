# Two commands on a fresh machine (see README):  `make run`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1

.PHONY: install browser run test lint bench-clean clean-venv

# The virtualenv is rebuilt whenever the lock file or pyproject.toml changes.
# Bytecode is compiled once here: where PYTHONDONTWRITEBYTECODE is set (CI images often do),
# every kedro stage, CLI call and test subprocess would otherwise compile Keras, TensorFlow and
# MLflow from source again (~20 s each).
$(BIN)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip sync --quiet --compile-bytecode -p $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet -p $(BIN)/python --no-deps -e .
	touch $@

install: $(BIN)/.installed

## The main job: the whole pipeline through DVC (only what changed is rebuilt).
run: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/dvc repro
	@$(BIN)/catdog summary

## Lint, then the test suite (browser tests skip, saying why, where Chromium is missing).
test: install lint browser
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest

# Debian's Chromium for the browser tests; installed when we may (root), never required.
browser:
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "Could not install chromium: browser tests will be skipped"

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench-clean: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python benchmarks/bench_clean.py

clean-venv:
	rm -rf $(VENV)
