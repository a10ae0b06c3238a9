# The two commands: `make run` starts the whole product, `make test` runs the whole suite.
# Both build .venv from requirements.lock first; nothing else needs installing by hand.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-fast lint lock clean bench bench-smoke

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@$(PY) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version'
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

config/accounts.yaml:
	cp config/accounts.example.yaml config/accounts.yaml

run: install config/accounts.yaml
	$(BIN)/inbox-dev demo-keys
	$(BIN)/inbox-dev run

# With CI=true the PostgreSQL tests must reach 127.0.0.1:5432 and fail, not skip, when they cannot.
test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not e2e and not bench_smoke"

# The benchmark suite (issue 9): several minutes on 2 cores; rewrites BENCHMARKS.md. Needs PostgreSQL at
# 127.0.0.1:5432. Brings its own tools: wrk from Debian (only when missing; saturation runs fall back to the
# Python load generator without it), py-spy and pyinstrument into the venv for profiling a missed target.
bench: install
	@command -v wrk >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq wrk; fi; } || echo "wrk not installed: using the Python load generator"
	$(BIN)/python -m pip install --quiet py-spy pyinstrument
	$(BIN)/python -m benchmarks.run

# Tiny sizes, one run (about two minutes); what CI runs through tests/test_bench_smoke.py.
bench-smoke: install
	$(BIN)/python -m benchmarks.run --smoke

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Re-pin after changing dependencies in pyproject.toml.
lock: install
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

clean:
	rm -rf $(VENV) var/log var/inbox.db*
