# The two commands that matter: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DIGITS ?= 1

.PHONY: run test call deps system asterisk venv lint unit e2e admin clean bench migrate lock audit backup restore images test-deploy

run: deps ## Start PostgreSQL (configured or private), Asterisk and the controller
	$(BIN)/python -m ivr.dev.run

test: deps lint audit ## Lint, dependency audit, then unit, admin-site and end-to-end tests
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=25 tests

call: ## Place a real SIPp test call into the running system: make call DIGITS="1"
	$(BIN)/python -m ivr.dev.call --digits "$(DIGITS)"

deps: system asterisk venv

system:
	bash scripts/install-system.sh

asterisk: system
	bash scripts/install-asterisk.sh

venv: $(STAMP)

$(STAMP): requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

lint: venv ## ruff and mypy --strict
	$(BIN)/ruff check ivr admin-web tests bench
	$(BIN)/ruff format --check ivr admin-web tests bench
	$(BIN)/mypy --strict ivr admin-web/ivr_admin bench

unit: venv
	$(BIN)/python -m pytest -q tests/unit

e2e: deps
	$(BIN)/python -m pytest -q tests/e2e

admin: deps
	$(BIN)/python -m pytest -q tests/admin

bench: deps ## Ours vs a native dialplan IVR on the same Asterisk, stepped up, repeated (printed, never asserted; run on an idle machine)
	$(BIN)/python -m bench.compare $(BENCH_FLAGS)

bench-dashboard: system venv ## Dashboard/report answer times with 10 million synthetic calls (printed)
	$(BIN)/python -m bench.dashboard

audit: venv ## pip-audit the lock files; says NOT AUDITED loudly when it could not check
	$(BIN)/python -m ivr.dev.audit --service $(or $(SERVICE),pypi) $(AUDIT_FLAGS)

backup: venv ## Encrypted pg_dump (+ IVR_BACKUP_FILES), copied off the host, pruned (.env IVR_BACKUP_*)
	$(BIN)/python -m ivr.dev.backup backup

restore: venv ## make restore FILE=...dump.age [REPLACE=yes]: decrypt, pg_restore, migrate
	@test -n "$(FILE)" || { echo "usage: make restore FILE=var/backups/myna-ivr-....dump.age [REPLACE=yes]" >&2; exit 2; }
	$(BIN)/python -m ivr.dev.backup restore "$(FILE)" $(if $(filter yes,$(REPLACE)),--replace)

images: venv ## Build the docker-compose images from Debian packages (.env; docs/operations.md "Deploy")
	bash scripts/build-images.sh

test-deploy: system venv ## Build and run the docker-compose stack: a real call, TLS login, restart (CI step 2; root)
	IVR_DEPLOY_TEST=1 $(BIN)/python -m pytest -q -s -p no:cacheprovider tests/deploy

migrate: venv
	$(BIN)/python -m ivr migrate

lock: ## Re-resolve the locks from pyproject.toml: runtime (image) and dev (tests, tools)
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml -o requirements.lock --python-version 3.11
	$(BIN)/uv pip compile pyproject.toml --extra dev -o requirements-dev.lock --python-version 3.11

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
