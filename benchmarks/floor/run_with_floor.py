"""Run a script with the no-op C audit hook installed first: ``run_with_floor.py MODULE_DIR SCRIPT ARGS...``.

MODULE_DIR holds ``_noophook`` as built by ``overhead.py`` (see noop_hook.c).
The script runs as ``python SCRIPT`` runs it (its source compiled, executed as
``__main__``), without `runpy`, whose own imports would be counted in the
floor's start-up rows and flatter every ratio against the floor.
"""
import sys

sys.path.insert(0, sys.argv[1])
import _noophook  # noqa: E402

del sys.path[0]
_noophook.install()
sys.argv = sys.argv[2:]
sys.path[0] = sys.argv[0].rpartition("/")[0] or "."
with open(sys.argv[0], "rb") as _source:
    _code = compile(_source.read(), sys.argv[0], "exec")
del _source
__file__ = sys.argv[0]
exec(_code)
