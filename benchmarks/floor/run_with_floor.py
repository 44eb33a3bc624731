"""Run a script with the no-op C audit hook installed first: ``run_with_floor.py MODULE_DIR SCRIPT ARGS...``.

MODULE_DIR holds ``_noophook`` as built by ``overhead.py`` (see noop_hook.c).
The script runs as ``python SCRIPT`` runs it: in ``__main__``, by CPython's own
``PyRun_SimpleFileExFlags`` (``_noophook.run_file``). Not through `runpy`, whose
imports would be counted in the floor's start-up rows, and not through compile(),
whose first call creates every class of the `ast` module (about 2 ms): either would
flatter every ratio against the floor.
"""


def _main() -> None:
    """Install the hook, then hand __main__ to the script with nothing of this runner's
    left in it (its globals are the script's, as in ``python SCRIPT``)."""
    import sys

    sys.path.insert(0, sys.argv[1])
    import _noophook

    del sys.path[0]
    _noophook.install()
    sys.argv = sys.argv[2:]
    sys.path[0] = sys.argv[0].rpartition("/")[0] or "."
    namespace = globals()
    for name in ("__file__", "_main"):  # run_file sets the script's own __file__, as python does
        del namespace[name]
    namespace["__doc__"] = None
    sys.exit(1 if _noophook.run_file(sys.argv[0]) else 0)


_main()
