# The two commands: `make run` starts the whole product, `make test` runs the whole suite.
# Both build .venv from requirements.lock first; nothing else needs installing by hand.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-fast lint lock clean

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
	$(BIN)/python -m pytest -q -m "not e2e"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Re-pin after changing dependencies in pyproject.toml.
lock: install
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

clean:
	rm -rf $(VENV) var/log var/inbox.db*
