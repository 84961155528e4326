# Flockwatch: `make demo` and `make test` are the two commands the README promises.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FACENET_VERSION := 2.6.0

.PHONY: setup browser demo test test-unit test-elasticsearch test-cluster test-long lint audit up down bench clean

# The second store engine for `make test-elasticsearch`: its own port, beside the default OpenSearch on 9200.
ES_ENV := FLOCKWATCH_STORE_ENGINE=elasticsearch FLOCKWATCH_STORE_PORT=9201 FLOCKWATCH_STORE_TRANSPORT_PORT=9301

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	# MTCNN face detector with its weights; --no-deps because its metadata pins torch<2.3 (see pyproject).
	$(BIN)/python -m pip install -q --no-deps facenet-pytorch==$(FACENET_VERSION)
	touch $(STAMP)

infra/target/.fetched: infra/pom.xml infra/kafka/pom.xml infra/opensearch/pom.xml infra/elasticsearch/pom.xml
	$(BIN)/python -c 'from flockwatch.config import get_settings; from flockwatch.adapters.local_services import fetch_jars; fetch_jars(get_settings())'
	touch $@

setup: $(STAMP) infra/target/.fetched

demo: setup
	$(BIN)/flockwatch demo

lint: setup
	$(BIN)/ruff check services dags tests bench infra
	$(BIN)/ruff format --check services dags tests bench infra
	$(BIN)/mypy
	$(BIN)/lint-imports

# pip-audit over constraints.txt; says NOT AUDITED (exit 0) where the advisory service is unreachable.
audit: setup
	$(BIN)/python infra/dependency_audit.py

test-unit: setup
	$(BIN)/pytest -q -n 2 tests/unit

# Debian's Chromium, which the dashboard's tests drive through Playwright (it never downloads a browser of its own).
browser:
	command -v chromium >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

# Unit tests need no servers: two pytest-xdist processes, one per core of the CI machine. Integration and e2e
# tests run two at a time too (each test has its own topic and index namespace; a file stays on one process),
# except those that stop, restart or freeze the shared services (marker `exclusive`): they run alone, after.
PARALLEL = -n 2 --dist loadfile
test: setup lint browser
	$(BIN)/flockwatch up
	$(BIN)/pytest -q -p no:cacheprovider -n 2 --durations=15 -m "not long" tests/unit
	$(BIN)/pytest -q -p no:cacheprovider $(PARALLEL) --durations=30 -m "not long and not exclusive" tests/integration tests/e2e
	$(BIN)/pytest -q -p no:cacheprovider --durations=10 -m "not long and exclusive" tests/integration tests/e2e
	$(MAKE) --no-print-directory test-elasticsearch ES_TESTS="store and not store_long and not long"

# The tests `make test` leaves out (marker `long`: a shorter test there covers the same promise), on OpenSearch.
test-long: setup browser
	$(BIN)/flockwatch up
	$(BIN)/pytest -q -p no:cacheprovider --durations=20 -m long tests/unit tests/integration tests/e2e

# The cluster tests at full size (`make test` runs their short version): 1, 2 and 4 workers per stage on 5,000 posts,
# plus the local Kafka and store clusters with their node kills.
test-cluster: setup
	$(BIN)/flockwatch up
	FLOCKWATCH_CLUSTER_TESTS=full $(BIN)/pytest -q -p no:cacheprovider --durations=10 tests/integration/cluster

# The tests that touch the store (marker `store`), again on a local Elasticsearch node. `make test` leaves out the
# long ones (marker `store_long`: whole stages, DAGs and demos whose store calls the shorter tests make too).
ES_TESTS ?= store
test-elasticsearch: setup
	$(ES_ENV) $(BIN)/flockwatch up
	$(ES_ENV) $(BIN)/pytest -q -p no:cacheprovider $(PARALLEL) --durations=15 -m "($(ES_TESTS)) and not exclusive" tests/integration tests/e2e
	$(ES_ENV) $(BIN)/pytest -q -p no:cacheprovider --durations=10 -m "($(ES_TESTS)) and exclusive" tests/integration tests/e2e
	$(ES_ENV) $(BIN)/flockwatch down elasticsearch

up: setup
	$(BIN)/flockwatch up

down:
	$(BIN)/flockwatch down

bench: setup
	$(BIN)/python -m bench.ingest

clean: down
	rm -rf $(VENV) infra/target .flockwatch
