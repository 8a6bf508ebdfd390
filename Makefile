# The two commands of the README, `make run` and `make test`; and `make bench`.
# `make run` installs the runtime (requirements.txt); `make test` and `make bench` add the test and
# lint tools (requirements-dev.txt: the bench's B1 row is the suite's budget test); `make test` also
# the AsyncAPI parser (tools/asyncapi) and axe-core (tools/a11y), with npm ci. Each install is redone when its file changes (stamp files).
VENV := .venv
BIN := $(VENV)/bin
export WEBHOOKS_ALLOW_PRIVATE_TARGETS ?= 1
# The event bus of `make run`: a local RabbitMQ, when one answers and EVENT_BUS_URL is not set.
LOCAL_EVENT_BUS := amqp://guest:guest@127.0.0.1:5672//
# The test suite runs on the default SQLite database, then on PostgreSQL; each pass in three lanes
# (pytest-xdist: most tests wait on processes, receivers and timeouts; a lane has its own
# databases, tests/settings.py), the slowest tests listed at the end. Tests are dealt to the lanes
# one at a time (--maxschedchunk 1), the slow ones first (tests/conftest.py): pytest-xdist's
# default deals each lane a run of consecutive tests, and one lane got every slow test.
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/petstore
PYTEST_LANES ?= -n 3 --maxschedchunk 1 --durations=15

.PHONY: run test test-fast lint bench

run: $(VENV)/installed .secret_key
	@scripts/ensure-services redis
	@$(BIN)/python manage.py preflight
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py load_demo_pets
	@echo "API on http://127.0.0.1:8000/v1/ (docs /v1/docs, admin /admin/). Webhooks to local URLs are allowed (WEBHOOKS_ALLOW_PRIVATE_TARGETS=$(WEBHOOKS_ALLOW_PRIVATE_TARGETS)). Ctrl-C stops all."
	@rm -rf .prometheus && mkdir .prometheus
	@bus="$${EVENT_BUS_URL:-}"; \
	if [ -z "$$bus" ] && $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 5672), 1).close()" 2>/dev/null; then \
		bus="$(LOCAL_EVENT_BUS)"; \
	fi; \
	if [ -n "$$bus" ]; then \
		echo "Event bus on (RabbitMQ at $${bus##*@}, exchange $${EVENT_BUS_EXCHANGE:-petstore.events}): the warehouse ships completed orders; watch with manage.py consume_events 'order.*'."; \
		processes=""; \
	else \
		echo "Event bus off: RabbitMQ does not answer on 127.0.0.1:5672 (start it, or set EVENT_BUS_URL); all else works without it."; \
		processes="web worker beat"; \
	fi; \
	EVENT_BUS_URL="$$bus" PATH="$(CURDIR)/$(BIN):$$PATH" PROMETHEUS_MULTIPROC_DIR="$(CURDIR)/.prometheus" LOG_FORMAT=text LOG_TASK_RUNS=0 \
		$(BIN)/honcho start $$processes

# The AsyncAPI project's parser, which the suite runs on GET /v1/asyncapi, and axe-core, which the
# portal's browser test runs in its pages (node and npm needed).
ASYNCAPI_TOOLS := tools/asyncapi
A11Y_TOOLS := tools/a11y

test: $(VENV)/installed-dev $(ASYNCAPI_TOOLS)/node_modules/.installed $(A11Y_TOOLS)/node_modules/.installed lint
	@scripts/ensure-services redis postgres rabbitmq chromium
	@echo "== Tests on SQLite (worker tests: those marked sqlite_too; all of them run on PostgreSQL)"
	$(BIN)/pytest $(PYTEST_LANES) -m "not postgres and (not worker or sqlite_too)"
	@echo "== Tests on PostgreSQL ($(TEST_POSTGRES_URL))"
	@if $(BIN)/python -c "import psycopg, sys; psycopg.connect(sys.argv[1], dbname='postgres', connect_timeout=3).close()" \
			"$(TEST_POSTGRES_URL)" 2>/dev/null; then \
		DATABASE_URL="$(TEST_POSTGRES_URL)" $(BIN)/pytest $(PYTEST_LANES); \
	else \
		echo "PostgreSQL does not answer at $(TEST_POSTGRES_URL): the PostgreSQL pass is SKIPPED (set TEST_POSTGRES_URL)."; \
	fi

# The fast lane, for the edit-test loop: no service at all (no Redis, PostgreSQL, RabbitMQ, worker
# process or browser; the broker and the cache in memory, tests/settings.py), on SQLite, in lanes.
test-fast: $(VENV)/installed-dev $(ASYNCAPI_TOOLS)/node_modules/.installed
	PETSTORE_TEST_NO_SERVICES=1 $(BIN)/pytest $(PYTEST_LANES) -m "not worker and not postgres and not redis"

bench: $(VENV)/installed-dev .secret_key
	@scripts/ensure-services redis postgres wrk
	$(BIN)/python -m bench.run

lint: $(VENV)/installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# The run command needs no set-up: a key of its own, generated once and kept here (never committed).
# Set SECRET_KEY in the environment instead for anything beyond this machine.
.secret_key:
	@umask 077 && python3 -c "import secrets; print(secrets.token_urlsafe(50))" > $@

$(VENV)/installed: requirements.txt
	test -d $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(ASYNCAPI_TOOLS)/node_modules/.installed: $(ASYNCAPI_TOOLS)/package.json $(ASYNCAPI_TOOLS)/package-lock.json
	cd $(ASYNCAPI_TOOLS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(A11Y_TOOLS)/node_modules/.installed: $(A11Y_TOOLS)/package.json $(A11Y_TOOLS)/package-lock.json
	cd $(A11Y_TOOLS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(VENV)/installed-dev: $(VENV)/installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@
