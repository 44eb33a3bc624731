# Developer tasks. CI runs `.ci/run` (the README's test command).
PY ?= python

.PHONY: test test-fast lint bench caches

test:            ## the whole suite, CPython's regression tests included
	$(PY) -m pytest

test-fast:       ## without the slow CPython regression tests
	$(PY) -m pytest -m "not slow"

lint:            ## ruff and mypy (pip install -e '.[dev]')
	$(PY) -m ruff check src tests scripts/tpython
	$(PY) -m mypy

bench:           ## overhead against plain CPython (pip install -e '.[bench]')
	$(PY) benchmarks/overhead.py

caches:          ## after editing tpython's sources in an editable install: its start-up caches again
	$(PY) -c 'from tpython import startup_bundle as b; from tpython.policy import profile_cache as p; \
	b.build(b.PACKAGE_DIR, sealed=False); p.build(sealed=False)'
