"""Run a script with the no-op C audit hook installed first: ``run_with_floor.py MODULE_DIR SCRIPT ARGS...``.

MODULE_DIR holds ``_noophook`` as built by ``overhead.py`` (see noop_hook.c).
"""
import runpy
import sys

sys.path.insert(0, sys.argv[1])
import _noophook  # noqa: E402

del sys.path[0]
_noophook.install()
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
