# VIP CRM — every task of a developer's day. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000
CLIENTS ?= 200

.DEFAULT_GOAL := help
.PHONY: help install migrate seed run web worker beat test test-fast lint format check messages bench ci pg-roles clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}'

$(BIN)/activate:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "VIP CRM needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed ## Create the virtualenv and install the project with its dev tools

var:
	@mkdir -p var/broker/queue var/broker/processed var/static

migrate: install var ## Apply database migrations (as DATABASE_OWNER_URL's role when set)
	$(PY) manage.py migrate --noinput

seed: migrate ## Load the demo banks, staff and clients (idempotent; CLIENTS=n per bank)
	$(PY) manage.py seed_demo --clients $(CLIENTS)

run: seed ## Set up everything, then serve the app with a Celery worker and beat
	@HOST=$(HOST) PORT=$(PORT) scripts/run-all

web: migrate ## The web app alone
	$(PY) manage.py runserver $(HOST):$(PORT)

worker: migrate ## The Celery worker alone
	$(BIN)/celery -A vipcrm worker --loglevel=info --concurrency=2

beat: migrate ## Celery beat alone
	$(BIN)/celery -A vipcrm beat --loglevel=info

test: install ## The whole test suite (SQLite by default; DATABASE_URL/REDIS_URL switch)
	$(BIN)/pytest

test-fast: install ## The suite without the browser tests
	$(BIN)/pytest -m "not browser"

lint: install ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## Format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: install ## Django's checks: migrations up to date, production settings deploy-ready
	$(PY) manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=vipcrm.settings.production \
	  DJANGO_SECRET_KEY=check-only-$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
	  DJANGO_ALLOWED_HOSTS=crm.example.com \
	  $(PY) manage.py check --deploy --fail-level WARNING

messages: install ## Re-extract and compile translations (needs GNU gettext)
	$(PY) manage.py makemessages -l zh_Hans --no-obsolete --ignore=.venv --ignore=var
	$(PY) manage.py compilemessages -l zh_Hans --ignore=.venv

pg-roles: ## Create the PostgreSQL owner and application roles and the database
	psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -f scripts/postgres-roles.sql

BENCH_CLIENTS ?= 1000000
bench: install ## Benchmarks on PostgreSQL (make pg-roles first; BENCH_CLIENTS=n to size)
	$(PY) bench/sync.py --clients $(BENCH_CLIENTS)
	$(PY) bench/client_list.py --clients $(BENCH_CLIENTS)
	$(PY) bench/retier.py --clients $(BENCH_CLIENTS)
	$(PY) bench/plan.py --clients $(BENCH_CLIENTS)
	$(PY) bench/kpi.py --clients $(BENCH_CLIENTS)

ci: ## What CI runs (.ci/run)
	bash .ci/run

clean: ## Remove the virtualenv, the SQLite database and runtime files
	rm -rf $(VENV) var db.sqlite3 db.sqlite3-wal db.sqlite3-shm
