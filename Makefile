# Developer tasks. CI runs `.ci/run` (the README's test command).
PY ?= python

.PHONY: test test-fast lint bench

test:            ## the whole suite, CPython's regression tests included
	$(PY) -m pytest

test-fast:       ## without the slow CPython regression tests
	$(PY) -m pytest -m "not slow"

lint:            ## ruff and mypy (pip install -e '.[dev]')
	$(PY) -m ruff check src tests scripts/tpython
	$(PY) -m mypy

bench:           ## overhead against plain CPython (pip install -e '.[bench]')
	$(PY) benchmarks/overhead.py
