# Trade Engine: `make run` starts everything on http://localhost:8000/api/v1, `make test` tests it.
#
#   make setup   .venv from requirements.txt (only when missing or outdated) and Debian's
#                redis-server when none is on the PATH (apt-get, as root or through sudo)
#   make run     setup, the project's own Redis (redis.conf: 127.0.0.1:6390, data in var/),
#                demo symbols and accounts (keys in var/demo.key, var/demo2.key), then the
#                Procfile with honcho (web on port 8000)
#   make stop    stops that Redis
#   make cluster the same on a local 3-master Redis Cluster (127.0.0.1:7001-7003, AOF, data in
#                var/cluster/; RQ on the project's Redis, database 1); `make cluster-stop`
#   make test    setup, then the whole test suite (it starts its own redis-server); the
#                browser tests need Debian's chromium (installed with apt-get when missing)
#   make test-ui the browser tests alone (tests/test_ui.py: Playwright driving chromium)
#   make bench   setup (and wrk, via apt-get, if missing), then the benchmark: its own Redis,
#                the table in docs/performance.md and var/bench/latest.json (BENCH_ARGS=...)
#   make bench-streams  stream latency and order entry with and without 200 open streams
#                (python -m bench.streams, var/bench/streams.json; BENCH_ARGS=...)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reinstalled whenever requirements.txt changes; removing .venv starts over.
STAMP := $(VENV)/.requirements.stamp

RUN_PORT := 8000
REDIS_PORT := 6390
RUN_REDIS_URL := redis://127.0.0.1:$(REDIS_PORT)/0
FLASK := $(BIN)/flask --app app
CLUSTER_PORTS := 7001-7003
CLUSTER_URL := redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003
CLUSTER_RQ_URL := redis://127.0.0.1:$(REDIS_PORT)/1
# `demo` (var/demo.key) and a second account to trade with in the README's walkthrough.
DEMO_ACCOUNTS := demo demo2

# Root installs directly; anyone else goes through sudo (the contract: as root, or with the
# packages already there).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help setup redis-server run stop cluster cluster-stop test bench lint format \
	chromium test-ui wrk bench-streams

# Starts the project's own Redis (redis.conf) unless it already runs.
define start_redis
	@mkdir -p var/redis
	@if redis-cli -p $(REDIS_PORT) ping >/dev/null 2>&1; then \
		echo "Redis already runs on 127.0.0.1:$(REDIS_PORT)"; \
	else \
		echo "Starting Redis on 127.0.0.1:$(REDIS_PORT) (data in var/redis)"; \
		redis-server redis.conf; \
		for i in $$(seq 100); do \
			redis-cli -p $(REDIS_PORT) ping >/dev/null 2>&1 && break; sleep 0.1; \
		done; \
		redis-cli -p $(REDIS_PORT) ping >/dev/null 2>&1 || { \
			echo "Redis did not start; var/redis/redis.log says:" >&2; \
			tail -n 20 var/redis/redis.log >&2 || true; exit 1; }; \
	fi
endef

# $(call seed_demo,REDIS_URL): the demo symbols, and the demo accounts with new keys in var/.
define seed_demo
	@export REDIS_URL=$(1); umask 077; \
	$(FLASK) symbols add BTC-USD --tick-size 0.01 --lot-size 0.0001 >/dev/null; \
	$(FLASK) symbols add ETH-USD --tick-size 0.01 --lot-size 0.001 >/dev/null; \
	for name in $(DEMO_ACCOUNTS); do \
		if $(FLASK) accounts rotate-key $$name >var/$$name.json 2>/dev/null; then \
			echo "Demo account $$name: new key in var/$$name.key"; \
		else \
			$(FLASK) accounts create $$name >var/$$name.json; \
			echo "Demo account $$name created: key in var/$$name.key"; \
		fi; \
		$(BIN)/python -c 'import json,sys; print(json.load(sys.stdin)["api_key"])' \
			<var/$$name.json >var/$$name.key; \
		rm -f var/$$name.json; \
	done
endef

help:
	@sed -n '1,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

setup: $(STAMP) redis-server

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11 or newer is needed ($(PYTHON) is $$($(PYTHON) -V 2>&1))" >&2; exit 1; }
	@if ! $(BIN)/python -c '' 2>/dev/null; then \
		echo "Creating $(VENV)"; rm -rf $(VENV); \
		if ! $(PYTHON) -m venv $(VENV); then \
			echo "python3 -m venv failed: installing Debian's python3-venv" >&2; \
			rm -rf $(VENV); \
			$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
				apt-get install -y python3-venv; \
			$(PYTHON) -m venv $(VENV); \
		fi; \
	fi
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	@touch $@

# Debian's package, only when there is no redis-server on the PATH at all.
redis-server:
	@if ! command -v redis-server >/dev/null 2>&1; then \
		echo "No redis-server on the PATH: installing Debian's redis-server"; \
		$(SUDO) apt-get update; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server; \
		command -v redis-server >/dev/null \
			|| { echo "redis-server is still not on the PATH" >&2; exit 1; }; \
	fi

run: setup
	$(start_redis)
	$(call seed_demo,$(RUN_REDIS_URL))
	@echo "API on http://localhost:$(RUN_PORT)/api/v1 (Ctrl-C stops it; 'make stop' stops Redis)"
	@export REDIS_URL=$(RUN_REDIS_URL) PATH="$(CURDIR)/$(BIN):$$PATH"; \
	exec $(BIN)/honcho start -p $(RUN_PORT)

# The same on a local 3-master Redis Cluster (daemonized nodes, AOF, data in var/cluster/);
# RQ keeps the project's own Redis (database 1 of redis.conf's), as RQ needs a standalone one.
cluster: setup
	$(start_redis)
	@$(BIN)/python -m tools.local_cluster start --ports $(CLUSTER_PORTS) --dir var/cluster
	$(call seed_demo,$(CLUSTER_URL))
	@echo "API on http://localhost:$(RUN_PORT)/api/v1 over the cluster (Ctrl-C stops it; 'make cluster-stop' stops Redis)"
	@export REDIS_URL=$(CLUSTER_URL) RQ_REDIS_URL=$(CLUSTER_RQ_URL) PATH="$(CURDIR)/$(BIN):$$PATH"; \
	exec $(BIN)/honcho start -p $(RUN_PORT)

cluster-stop:
	@$(BIN)/python -m tools.local_cluster stop --ports $(CLUSTER_PORTS) --dir var/cluster
	@$(MAKE) --no-print-directory stop

stop:
	@if redis-cli -p $(REDIS_PORT) ping >/dev/null 2>&1; then \
		redis-cli -p $(REDIS_PORT) shutdown >/dev/null 2>&1 || true; \
		echo "Redis on port $(REDIS_PORT) stopped"; \
	else \
		echo "No Redis runs on port $(REDIS_PORT)"; \
	fi

test: setup chromium
	$(BIN)/pytest $(PYTEST_ARGS)

# Debian's chromium for the browser tests (Playwright downloads no browser). When it cannot
# be installed (not root, no package servers) the browser tests are skipped with the reason.
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
		echo "No chromium on the PATH: installing Debian's chromium for the browser tests"; \
		{ $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y chromium; } \
		|| echo "chromium could not be installed: the browser tests will be skipped" >&2; \
	fi

test-ui: setup chromium
	$(BIN)/pytest tests/test_ui.py $(PYTEST_ARGS)

# The benchmark (bench/run.py, docs/performance.md) needs wrk: Debian's package if missing.
bench: setup
	@if ! command -v wrk >/dev/null 2>&1; then \
		echo "No wrk on the PATH: installing Debian's wrk"; \
		$(SUDO) apt-get update; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; \
	fi
	BENCH_COMMAND="make bench$(if $(BENCH_ARGS), BENCH_ARGS='$(BENCH_ARGS)')" \
		$(BIN)/python -m bench $(BENCH_ARGS)

# Stream latency and order entry with and without 200 open streams (docs/performance.md).
bench-streams: setup wrk
	$(BIN)/python -m bench.streams $(BENCH_ARGS)

wrk:
	@if ! command -v wrk >/dev/null 2>&1; then \
		echo "No wrk on the PATH: installing Debian's wrk"; \
		$(SUDO) apt-get update; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
