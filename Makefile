# The two commands the README opens with; each sets up what it needs first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

demo: setup
	$(VENV)/bin/onto demo

test: setup
	$(PY) -m pytest

# Builds the reference environment it compares against (.onto/bench/) itself, once.
bench: setup
	$(PY) -m benchmarks.cold_start
	$(PY) -m benchmarks.executor_latency
	$(PY) -m benchmarks.bundle_speed
	$(PY) -m benchmarks.stack_latency
	$(PY) -m benchmarks.stack_overhead
	$(PY) -m benchmarks.stack_memory
	$(PY) -m benchmarks.backfill_speed
	$(PY) -m benchmarks.request_latency
	$(PY) -m benchmarks.dev_loop

clean:
	rm -rf $(VENV) build .pytest_cache
