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

# Every benchmark, one after the other (about 5 to 10 minutes on 2 cores): shown as it runs, then a summary
# table and each output, printed and written into README.md's benchmark block. Builds the reference
# environment it compares against (.onto/bench/) itself, once.
bench: setup
	$(PY) -m benchmarks.report

clean:
	rm -rf $(VENV) build .pytest_cache
