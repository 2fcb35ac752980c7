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

.PHONY: install demo test stress airflow freshness wat-werkt clean-data lock help

help:
	@echo "make demo   - install, start the embedded warehouse, run the pipeline on sample drops, show progress"
	@echo "make test   - install and run the test suite"
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

test: install
	$(BIN)/pytest -q

# Airflow 3.3 standalone on 127.0.0.1:8080, metadata in the warehouse server's `airflow` database.
airflow: install
	$(EM) warehouse start
	$(EM) airflow db migrate
	$(EM) airflow standalone

# What works: the analysis run's time on the sample and the null check (50 placebo runs); needs `make demo` first.
wat-werkt: install
	$(BIN)/python bench/wat_werkt/run.py

# Drop-to-published latency through airflow standalone (own databases, buckets and port); see bench/freshness.
freshness: install
	$(BIN)/python bench/freshness/run.py

# The reliability and security suite at full strength (20 kills, long fuzz run); see bench/reliability.
stress: install
	$(BIN)/python bench/reliability/run.py

clean-data:
	-$(EM) warehouse stop
	rm -rf .data reports
