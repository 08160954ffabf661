# Two entry points for a fresh machine with python3 and pip: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_CORE := $(VENV)/.installed-core
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: demo test servers pytest lint typecheck bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP_CORE): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e ".[web,system]"
	touch $@

$(STAMP_DEV): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[dev]'
	touch $@ $(STAMP_CORE)

demo: $(STAMP_CORE)
	$(VENV)/bin/inference-metrics demo $(DEMO_ARGS)

test: $(STAMP_DEV) servers lint typecheck pytest

# Real servers for the tests (Prometheus, Pushgateway, promtool, StatsD): installed when missing.
servers:
	scripts/install-test-servers.sh

pytest: $(STAMP_DEV) servers
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP_DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP_DEV)
	$(VENV)/bin/mypy

bench: $(STAMP_DEV)
	$(PY) benchmarks/hot_path.py $(BENCH_ARGS)
	$(PY) benchmarks/production.py $(BENCH_ARGS)
	$(PY) benchmarks/backends.py $(BENCH_ARGS)
	$(PY) benchmarks/integrations.py $(BENCH_ARGS)
	$(PY) benchmarks/control.py $(BENCH_ARGS)
	$(PY) benchmarks/worker_group.py $(BENCH_ARGS)
	$(PY) benchmarks/history.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
