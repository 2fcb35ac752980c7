# Two commands for a fresh Debian machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
EM := $(BIN)/explosion-monitor
UV_VERSION := 0.13.8

export UV_COMPILE_BYTECODE := 1
export UV_PYTHON_DOWNLOADS := never
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
export DO_NOT_TRACK := 1

.PHONY: install demo test lint stress airflow freshness clean-data lock help pg15 prod-local prod-local-stop prod-local-clean prod-smoke test-slow wat-werkt burst

help:
	@echo "make demo   - install, start the embedded warehouse, run the pipeline on sample drops, show progress"
	@echo "make test   - install and run the test suite"
	@echo "make lint   - ruff (check, format) and sqlfluff (dbt project), as CI runs them"
	@echo "make airflow - airflow standalone on 127.0.0.1 with the DAGs and watchers live"
	@echo "make stress - reliability suite at full strength: 20 kills, long fuzz run (bench/reliability)"

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)

# Installed from the committed lock file, with bytecode compiled (import speed).
$(VENV)/.installed: pyproject.toml uv.lock | $(BIN)/uv
	$(BIN)/uv sync --frozen --compile-bytecode --python $(BIN)/python
	touch $@

# The manifest the DAGs are rendered from (dbt parse, no database); target/parse is never written by builds.
MANIFEST := dbt_project/target/parse/manifest.json
$(MANIFEST): $(VENV)/.installed $(shell find dbt_project/models dbt_project/seeds dbt_project/macros dbt_project/tests -type f 2>/dev/null) dbt_project/dbt_project.yml dbt_project/selectors.yml
	$(EM) dbt-manifest

install: $(VENV)/.installed $(MANIFEST)

lock: | $(BIN)/uv
	$(BIN)/uv lock

demo: install
	$(EM) warehouse start
	$(EM) sample
	$(EM) run
	$(EM) status --limit 30
	$(EM) report

# Everything but the long tests (marked slow: the schema upgrade against a v1 warehouse, the open-data replay of six
# releases) and the prod-local end-to-end test; make test-slow runs those.
test: install
	$(BIN)/pytest -q -m "not slow and not prod_local" --durations=25

# Debian 12's own PostgreSQL 15 (the oldest supported), for tests/test_pg_versions.py; without it that case skips.
# Only the binaries: no cluster is created or started (the tests make throwaway ones on 127.0.0.1).
pg15:
	@if [ -x /usr/lib/postgresql/15/bin/postgres ]; then echo "PostgreSQL 15 is installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		mkdir -p /etc/postgresql-common/createcluster.d && \
		echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/explosion-monitor.conf && \
		apt-get install -y --no-install-recommends postgresql-15 >/dev/null; \
	else echo "PostgreSQL 15 not installed (needs root and apt-get): tests/test_pg_versions.py skips it"; fi

# The linters CI runs before the tests (also as pre-commit hooks: .pre-commit-config.yaml).
lint: install
	$(BIN)/ruff check src tests dags bench
	$(BIN)/ruff format --check src tests dags bench
	$(BIN)/sqlfluff lint --processes 2 dbt_project/models dbt_project/macros dbt_project/tests

# Airflow 3.3 standalone on 127.0.0.1:8080, metadata in the warehouse server's `airflow` database.
airflow: install
	$(EM) warehouse start
	$(EM) airflow db migrate
	$(EM) airflow standalone

# The docker-compose.yml topology as native processes on 127.0.0.1 (explosion_monitor.orchestration.prod_local):
# PostgreSQL, Redis, the S3 gateway with MinIO notifications, Airflow's API server, scheduler, DAG processor,
# triggerer and two Celery workers. Ports: EXPLOSION_MONITOR_PROD_{PG,REDIS,S3,API}_PORT.
PROD_LOCAL := $(BIN)/python -m explosion_monitor.orchestration.prod_local
prod-local: install
	$(PROD_LOCAL) start

prod-local-stop:
	$(PROD_LOCAL) stop

# Its data (databases, buckets, Airflow home, generated secrets), after prod-local-stop.
prod-local-clean:
	$(PROD_LOCAL) clean

# The end-to-end scenario of tests/test_prod_local.py against the running prod-local stack.
prod-smoke: install
	$(BIN)/python -m explosion_monitor.orchestration.prod_smoke

# Only the slow tests, the prod-local end-to-end test included.
test-slow: install
	$(BIN)/pytest -q -m "slow or prod_local"

# What works: the analysis run's time on the sample and the null check (50 placebo runs); needs `make demo` first.
wat-werkt: install
	$(BIN)/python bench/wat_werkt/run.py

# Drop-to-published latency through airflow standalone (own databases, buckets and port); see bench/freshness.
freshness: install
	$(BIN)/python bench/freshness/run.py

# The month-end burst: 300 drops from the four feeds within 60 s through airflow standalone; see bench/burst.
burst: install
	$(BIN)/python bench/burst/run.py

# The reliability and security suite at full strength (20 kills, long fuzz run); see bench/reliability.
stress: install
	$(BIN)/python bench/reliability/run.py

clean-data:
	-$(EM) warehouse stop
	rm -rf .data reports
