# Two commands matter: `make run` (the service with demo data) and `make test` (the suite).
SHELL := /bin/bash
HOST ?= 127.0.0.1
PORT ?= 8000
# uv from PATH, else the copy pip installs (`python3 -m uv` works without PATH changes).
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PYTHON := $(UV) run --frozen python
PYTEST_ARGS ?=

.PHONY: help install run db-stop worker beat test reliability lint format bench bench-quick loadtest schema fuzz

# `make loadtest DURATION=600` is the full 10-minute run of issue #8.
DURATION ?= 60

help:
	@echo "make run    - install, start PostgreSQL (embedded unless DATABASE_URL), migrate,"
	@echo "              load demo data, serve API + admin on $(HOST):$(PORT)"
	@echo "make test   - the test suite (DATABASE_URL, else 127.0.0.1:5432, else embedded)"
	@echo "make db-stop - stop the embedded PostgreSQL of make run if it is still running"
	@echo "make worker - a Celery worker (needs REDIS_URL); run one make beat beside the workers"
	@echo "make beat   - the periodic tasks (match-request sweep every 10 s): exactly one"
	@echo "make reliability - fault injection: workers, Redis, PostgreSQL killed mid-work"
	@echo "make lint   - ruff check + format check + mypy strict against mypy-baseline.txt"
	@echo "make fuzz   - schemathesis over every API operation, FUZZ_EXAMPLES (100) per operation"
	@echo "make bench  - the benchmark scenarios, written to var/bench.json"
	@echo "make bench-quick - the same scenarios at 10,000 rows (about a minute)"
	@echo "make loadtest - 60 s locust load test against gunicorn + PostgreSQL on loopback"
	@echo "                (DURATION=600 for the 10-minute run)"

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv
	@$(UV) sync --locked --quiet
	@mkdir -p var

run: install
	@HOST=$(HOST) PORT=$(PORT) bash scripts/run.sh

db-stop:
	@$(PYTHON) -m config.embedded_db stop

# Commands that need the database get DATABASE_URL, else the embedded server (with_db.sh).
WITH_DB := bash scripts/with_db.sh

worker: install
	$(WITH_DB) $(UV) run --frozen celery -A config worker --loglevel=INFO --concurrency=2

beat: install
	$(WITH_DB) $(UV) run --frozen celery -A config beat --loglevel=INFO --schedule var/celerybeat-schedule

test: install
	@bash scripts/test.sh $(PYTEST_ARGS)

# Fault injection (tests/reliability): a throwaway PostgreSQL cluster, Redis, gunicorn and
# Celery processes of its own, killed and frozen mid-work; about 6-10 minutes.
reliability: install
	@RECON_RELIABILITY=1 bash scripts/test.sh -p no:randomly tests/reliability $(PYTEST_ARGS)

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	bash scripts/mypy.sh

format: install
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

# The suite runs the fuzzer briefly and deterministically; this is the long, randomly seeded
# pass (FUZZ_SEED=<n> replays one). Same test database rules as `make test`.
FUZZ_EXAMPLES ?= 100
FUZZ_SEED ?= random
fuzz: install
	@FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SEED=$(FUZZ_SEED) bash scripts/test.sh -q -p no:randomly \
		$$( [ "$(FUZZ_SEED)" = random ] || echo --hypothesis-seed=$(FUZZ_SEED) ) tests/test_fuzz_schema.py

schema: install
	$(PYTHON) manage.py spectacular --validate --fail-on-warn --file var/openapi.yaml

# `benchmark --output` appends, so each `make bench` starts a fresh file.
bench: install
	@mkdir -p var && rm -f var/bench.json
	$(WITH_DB) $(PYTHON) manage.py benchmark --scenario all --output var/bench.json

# The same scenarios at 10,000 rows: a minute, for checking a change before the full run.
bench-quick: install
	$(WITH_DB) $(PYTHON) manage.py benchmark --scenario all --rows 10000

# 60 s of mixed reads and writes at ~50 req/s against gunicorn + a local PostgreSQL
# (DATABASE_URL, else the embedded server's recon_load database).
loadtest: install
	DB_NAME=recon_load $(WITH_DB) bash benchmarks/loadtest.sh $(DURATION)
