"""One exception tree for everything a user can cause.

The CLI catches :class:`Error` and prints its message as one line; each
error has a short stable ``slug`` listed in docs/messages.md.
"""
# Only tpython's own constants are imported here, not even `from __future__`: this
# module is loaded by the `tpython` command before it isolates itself from PYTHON*
# variables (see tpython.cli._isolate), so it must not import anything from sys.path.
from tpython import exit_status as status


class Error(Exception):
    """Base of tpython's user-facing errors; the message says what and why."""

    slug = "error"
    exit_status = status.USAGE


class UsageError(Error):
    """The command line does not make sense."""

    slug = "usage"


class PolicyError(Error):
    """A policy file is missing, malformed or invalid."""

    slug = "policy"
    exit_status = status.CONFIG


class SinkError(Error):
    """A log sink is unknown, malformed or cannot be opened."""

    slug = "sink"
    exit_status = status.CONFIG


class LaunchRefused(Error):
    """The policy does not allow this kind of launch."""

    slug = "launch-refused"
    exit_status = status.USAGE


class LogFileError(Error):
    """A log file to read cannot be opened."""

    slug = "log-file"


class StartDenied(Error):
    """The policy denies what the interpreter itself needs before the program runs."""

    slug = "start-denied"
    exit_status = status.CONFIG


class NativeMissing(Error):
    """tpython's C module (the engine that makes every decision) was not built or cannot load."""

    slug = "native-missing"
    exit_status = status.CONFIG


TYPE_CHECKING = False
if TYPE_CHECKING:
    from tpython._native import PolicyViolation as PolicyViolation
else:
    def __getattr__(name):
        """PolicyViolation: the C module's type (native/violation.c), raised from C; the
        program cannot modify it. Loaded on first use: the `tpython` command's other
        subcommands do without the C module."""
        if name != "PolicyViolation":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from tpython._native import PolicyViolation as found  # tpython's own directory, not sys.path

        globals()["PolicyViolation"] = found
        return found
