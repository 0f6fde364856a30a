# Every verb a team member needs. `make setup` is idempotent and cheap to re-run, so the
# other verbs depend on it.

SHELL := /bin/bash
.DEFAULT_GOAL := help
UV_VERSION := 0.13.8
# uv from PATH, else a private copy installed with the machine's Python.
export PATH := $(CURDIR)/.tools/bin:$(PATH)
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
LOCATIONS := $(shell sed -n 's/^ *location_name: *//p' workspace.yaml)
PYTEST := $(UV) run --frozen pytest
# Runs a command beside a PostgreSQL server (a throwaway cluster unless DAGSTER_POSTGRES_*
# name one) on which the warehouse tests make lake catalogs, and a SeaweedFS S3 server on
# which the landing and export tests make buckets: tests/with_servers.py.
WITH_SERVERS := $(UV) run --frozen python -m tests.with_servers
# Compose v2 (`docker compose`) where the plugin is installed, else Compose 1.29.
COMPOSE := $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || \
             { command -v docker-compose >/dev/null 2>&1 && echo docker-compose; })
# The sign-in proxy's accounts (platform_stack.accounts), mounted into the proxy.
AUTH_DIR := .auth

.PHONY: help setup dev sample-data test test-deps test-unit test-system lint fmt up down \
        images check-compose check-accounts add-user test-compose test-faults test-deploy deploy check-location bench new-location upgrade-dagster clean $(addprefix test-,$(LOCATIONS))

help:  ## list the verbs
	@grep -hE '^[a-z%-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# Each location's environment is also its dg project's `.venv`, where `dg dev` looks.
setup: $(if $(findstring .tools,$(UV)),.tools/bin/uv)  ## install the dev environment and one environment per location
	$(UV) sync --frozen --compile-bytecode
	@for loc in $(LOCATIONS); do \
	  sh deploy/docker/install.sh $$loc .venvs/$$loc --editable || exit 1; \
	  ln -sfn ../../.venvs/$$loc locations/$$loc/.venv; \
	done

dev: setup  ## run the local stack (code servers, daemon, webserver on 127.0.0.1:3000)
	$(UV) run --frozen platform-stack dev

sample-data: setup  ## deliver sample landing files into LANDING_URL (ARGS="--days 30 --rows 100000")
	$(UV) run --frozen python -m platform_shared.sample_data $(ARGS)

test-deps:  ## PostgreSQL server binaries and Chromium for the tests (installed when missing)
	@sh deploy/ci/test-deps.sh

# Each location's tests run in that location's own environment, where no other location
# is installed, side by side with the shared library's (deploy/ci/library-tests.sh); then
# everything else in the dev environment; the compose stack last, as it builds images and
# takes the machine's cores for half an hour. pytest's "no test selected" (exit
# 5) is not a failure of one part when ARGS narrows the run.
test: setup test-deps  ## the whole suite: each location's tests in its own environment, the rest, the compose stack
	@status=0; \
	$(WITH_SERVERS) sh deploy/ci/library-tests.sh $(UV) $(LOCATIONS) -- $(ARGS) || status=1; \
	echo "== platform: tests/ in the dev environment"; \
	$(PYTEST) tests --ignore=tests/compose $(ARGS); rc=$$?; \
	[ $$rc -eq 0 ] || [ $$rc -eq 5 ] || status=1; \
	echo "== compose: tests/compose against the stack in Docker Engine"; \
	$(MAKE) --no-print-directory test-compose; rc=$$?; \
	[ $$rc -eq 0 ] || [ $$rc -eq 5 ] || status=1; \
	exit $$status

test-unit: setup  ## everything but the tests that start processes (a test that does fails)
	$(PYTEST) -p tests.no_processes \
	  -m "not processes and not postgres and not s3 and not system and not faults and not compose" $(ARGS)

test-system: setup test-deps  ## only the tests that start the real topology
	$(PYTEST) -m "system or faults" --ignore=tests/compose $(ARGS)

test-faults: setup test-deps  ## only the fault-injection suite (real processes, PostgreSQL)
	$(PYTEST) -m faults $(ARGS)

# Docker Engine, Compose and debootstrap are installed when missing (and Chromium, for the
# signed-in browser test); the tests start the engine when none answers and stop it (by
# PID) when they end.
test-compose: setup test-deps  ## the compose stack for real in Docker Engine (the last part of make test)
	@sh deploy/ci/docker-deps.sh
	$(PYTEST) tests/compose $(ARGS)

test-deploy: setup  ## deployment files: schemas, hadolint, consistency, image recipes
	$(PYTEST) tests/deploy $(ARGS)

$(addprefix test-,$(LOCATIONS)): test-%: setup test-deps  ## one location's tests, in its own environment, on both lake catalogs (e.g. make test-ingestion)
	$(WITH_SERVERS) .venvs/$*/bin/pytest locations/$* $(ARGS)

lint: setup  ## ruff and pyright, configured once in pyproject.toml
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen pyright

fmt: setup  ## format and autofix
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

# The host image, and every location of workspace.yaml from the one location recipe
# (deploy/docker/location.Dockerfile, its build argument LOCATION naming the location).
images:  ## build the platform's images (CA_BUNDLE, BASE_IMAGE, POSTGRES_IMAGE: see the README)
	@sh deploy/docker/build-images.sh

# The sample files go into the landing bucket from inside the stack (the bucket is on the
# compose network only), once: a file already there, a team's delivery included, is kept.
up: check-compose check-accounts images  ## the full stack in Docker, with sample files in its landing bucket (needs .env and an account: make add-user)
	$(COMPOSE) up -d --no-build
	$(COMPOSE) exec -T ingestion python -m platform_shared.sample_data --keep-existing

down: check-compose  ## stop the Docker stack (data volumes are kept)
	$(COMPOSE) down

# Only that location's image is rebuilt and only its container recreated; the reload makes
# the webserver and the daemon read its new definitions at once. It runs inside the
# operators' webserver container, on the compose network: the host reaches the UI only
# through the sign-in proxy. The read-only webserver sees the new server by itself.
deploy: check-location check-compose  ## rebuild and reload one team's location: make deploy LOCATION=<name>
	@sh deploy/docker/build-images.sh $(LOCATION)
	$(COMPOSE) up -d --no-deps --no-build $(LOCATION)
	$(COMPOSE) exec -T webserver python /opt/dagster/app/reload_location.py $(LOCATION)

# The password is asked on the terminal (twice, never echoed) or read as one line of
# stdin; the running proxy, if any, reloads the roles.
add-user:  ## add or replace a sign-in account of the compose stack: make add-user NAME=<name> ROLE=viewer|operator
	@test -n "$(NAME)" -a -n "$(ROLE)" || { echo "usage: make add-user NAME=<name> ROLE=viewer|operator" >&2; exit 2; }
	@$(UV) run --frozen platform-stack add-user "$(NAME)" --role "$(ROLE)"

# No account, no stack: the proxy would let nobody in (there is no default account).
check-accounts:
	@[ -s "$(AUTH_DIR)/users.htpasswd" ] && [ -s "$(AUTH_DIR)/roles.map" ] || { \
	  echo "no account for the sign-in proxy in $(AUTH_DIR)/: create one first, e.g." >&2; \
	  echo "  make add-user NAME=<name> ROLE=operator" >&2; exit 2; }

check-compose:
	@[ -n "$(COMPOSE)" ] || { echo "no Docker Compose: install the compose plugin or docker-compose" >&2; exit 2; }

check-location:
	@if [ -z "$(LOCATION)" ] || ! echo " $(LOCATIONS) " | grep -q " $(LOCATION) "; then \
	  echo "unknown location '$(LOCATION)'; use LOCATION=<one of: $(LOCATIONS)>" >&2; exit 2; fi

bench: setup  ## benchmarks with ratios against same-run baselines (ARGS="--repeat 5")
	$(UV) run --frozen python -m platform_bench $(ARGS)

new-location: setup  ## scaffold a fourth team's location: make new-location NAME=<name>
	@test -n "$(NAME)" || { echo "usage: make new-location NAME=<name>" >&2; exit 2; }
	$(UV) run --frozen platform-stack new-location $(NAME)
	$(UV) lock
	$(MAKE) setup
	@# The first snapshot of what the location declares, to review and commit with it.
	.venvs/$(NAME)/bin/pytest -q locations/$(NAME)/tests/test_definitions_snapshot.py --snapshot-update
	.venvs/$(NAME)/bin/pytest locations/$(NAME)

# The private Dagster surface the platform relies on is fenced in two modules
# (platform_shared.dagster_private, platform_instance.dagster_private); these are the tests
# that pin it, so an upgrade that breaks it fails here by name.
GUARD_TESTS := shared/tests/test_dagster_private.py tests/test_instance.py tests/deploy/test_upgrade_dagster.py

upgrade-dagster:  ## move every Dagster pin to a release, relock, run the private-API guards: make upgrade-dagster VERSION=1.13.28
	@test -n "$(VERSION)" || { echo "usage: make upgrade-dagster VERSION=<1.x.y>" >&2; exit 2; }
	python3 deploy/upgrade_dagster.py $(VERSION)
	$(UV) lock
	$(MAKE) setup test-deps
	$(PYTEST) $(GUARD_TESTS)
	.venvs/transformation/bin/pytest locations/transformation/tests/test_transformation_io_manager.py

clean:  ## remove environments and local data (keeps sources)
	rm -rf .venv .venvs .tools .dagster_home data
