# caseledger front door. `make run` and `make test` set everything up themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PG_URL ?= postgresql://postgres@127.0.0.1:5432

.PHONY: install run demo token lint test test-unit chaos bench bench-scale contracts postgres clean help

help:
	@echo "make run        start the whole system on its embedded default (SQLite, local broker); keeps var/"
	@echo "make run FRESH=1  the same, after emptying var/ (and, on PostgreSQL, the caseledger databases)"
	@echo "make demo       with the system running: drive one case through file, review, penalise, refer, publish"
	@echo "make token ROLE=officer [AGENCY=<USCC> REGION=<code> AGENCY_NAME=<name>]  print a development bearer token"
	@echo "make lint       ruff (lint and format check) and mypy; make test runs it first"
	@echo "make test       install, start what is missing, lint, run every test"
	@echo "make chaos      10,000 commands on PostgreSQL while the services are SIGKILLed at random; checks nothing is lost"
	@echo "make contracts  regenerate contracts/ (event schemas, AsyncAPI, OpenAPI) from the code"
	@echo "make bench      measure the running system against same-run baselines (SQLite; BENCH_DB=postgres for"
	@echo "                PostgreSQL; BENCH_DURATION, BENCH_CONCURRENCY, BENCH_CLIENTS); results in bench/results/"
	@echo "make bench-scale  the case ledger at SCALE_CASES cases (200,000) on PostgreSQL: fill rate, GET /v1/cases p50/p95/p99"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Data under var/ (or in the caseledger_* PostgreSQL databases) is kept across restarts;
# `make run FRESH=1` empties it first (the development keys under var/auth/ stay).
run: install
	$(BIN)/python -m devtools.launcher $(if $(FRESH),--fresh)

demo: install
	$(BIN)/python -m devtools.demo

# A development bearer token signed with the key `make run` wrote under var/auth/, e.g.
#   curl -H "Authorization: Bearer $$(make -s token ROLE=auditor)" localhost:8101/v1/cases
ROLE   ?= officer
AGENCY ?= 11430281MB1234567L
REGION ?= 430281
AGENCY_NAME ?= 醴陵市应急管理局
token: install
	@$(BIN)/python -m devtools.tokens --role $(ROLE) --agency $(AGENCY) --region $(REGION) --agency-name "$(AGENCY_NAME)"

# Tests use the machine's PostgreSQL; start it when it is down (a no-op when it is up).
postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || (command -v pg_ctlcluster >/dev/null && \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -n1) main start) || true
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done; \
		echo "PostgreSQL is not reachable at 127.0.0.1:5432" >&2; exit 1

# What `make lint` (and so `make test`) checks: ruff, ruff format and mypy (strict on
# services/, as pyproject.toml configures it).
LINT_PATHS ?= services devtools tests
lint: install
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy $(LINT_PATHS)

# pytest exits 5 when it collected no test: that must fail, not pass silently.
test: install postgres lint
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

# Fault injection (devtools/chaos/): CHAOS_ARGS="--commands 2000 --kills 3 --seed 7" to vary it.
CHAOS_ARGS ?= --commands 10000 --kills 5
chaos: install postgres
	$(BIN)/python -m devtools.chaos --postgres $(PG_URL) $(CHAOS_ARGS)

test-unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

contracts: install
	$(BIN)/python -m devtools.contracts

# Not part of `make test`: it takes minutes and its figures are measurements, not checks.
BENCH_DB          ?= sqlite
BENCH_DURATION    ?= 40
BENCH_CONCURRENCY ?= 16
BENCH_CLIENTS     ?= 2
bench: install $(if $(filter postgres,$(BENCH_DB)),postgres)
	$(BIN)/python -m devtools.bench --db $(BENCH_DB) --postgres-url $(PG_URL) \
		--duration $(BENCH_DURATION) --concurrency $(BENCH_CONCURRENCY) --client-processes $(BENCH_CLIENTS)

# The case ledger at scale (PostgreSQL, its own caseledger_scale_case database): filled
# through the ledger projection, then GET /v1/cases measured; SCALE_CASES sets its size.
SCALE_CASES   ?= 200000
SCALE_SAMPLES ?= 200
SCALE_ARGS    ?=
bench-scale: install postgres
	$(BIN)/python -m devtools.bench.scale --cases $(SCALE_CASES) --samples $(SCALE_SAMPLES) --postgres-url $(PG_URL) $(SCALE_ARGS)

clean:
	rm -rf var .pytest_cache
