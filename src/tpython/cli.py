"""The `tpython` command's entry point.

`main(argv)` returns an exit status; only `__main__` and the console
script turn it into `sys.exit`. The parser and the dispatch to one
function per subcommand are in :mod:`tpython.commands.dispatch`; errors a
user can cause are one line on stderr (`--verbose` adds the traceback).
"""
import os
import sys

# Only os and sys (already loaded by the interpreter), and tpython's own constants (from
# the package's own directory), before _isolate(): anything imported from sys.path could
# come from a PYTHONPATH directory.
from tpython import exit_status as status  # noqa: E402

EXIT_OK = status.OK
EXIT_FAILURE = status.FAILURE
EXIT_USAGE = status.USAGE


def _isolate(args: "list[str]") -> None:
    """Re-run the tpython command itself in isolated mode when PYTHON* variables
    are set, so PYTHONPATH and friends cannot replace the modules it imports."""
    if sys.flags.isolated or not any(k.startswith("PYTHON") for k in os.environ):
        return
    if not sys.executable:
        return
    os.execv(sys.executable, [sys.executable, "-I", "-m", "tpython", *args])


def main(argv: "list[str] | None" = None, base_sys_path: "list[str] | None" = None) -> int:
    """Entry point; returns the exit status. BASE_SYS_PATH, from the `tpython` script,
    is sys.path before the script added tpython's directories: given, `tpython run`
    may boot the program in this interpreter instead of starting another."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if argv is None:
        _isolate(args_list)
    from tpython.engine import c_module
    from tpython.errors import NativeMissing

    try:  # every command needs it (decisions, the record chain's SHA-256): one line without it
        c_module.load()
    except NativeMissing as exc:
        sys.stderr.write(f"tpython: {exc}\n")
        return exc.exit_status
    from tpython.commands.dispatch import dispatch

    return dispatch(args_list, base_sys_path)
