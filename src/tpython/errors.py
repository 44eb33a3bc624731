"""One exception tree for everything a user can cause.

The CLI catches :class:`Error` and prints its message as one line; each
error has a short stable ``slug`` listed in docs/messages.md.
"""
# No imports here, not even `from __future__`: this module is loaded by the
# `tpython` command before it isolates itself from PYTHON* variables
# (see tpython.cli._isolate), so it must not import anything from sys.path.


class Error(Exception):
    """Base of tpython's user-facing errors; the message says what and why."""

    slug = "error"
    exit_status = 2


class UsageError(Error):
    """The command line does not make sense."""

    slug = "usage"


class PolicyError(Error):
    """A policy file is missing, malformed or invalid."""

    slug = "policy"
    exit_status = 78  # EX_CONFIG


class SinkError(Error):
    """A log sink is unknown, malformed or cannot be opened."""

    slug = "sink"
    exit_status = 78


class LaunchRefused(Error):
    """The policy does not allow this kind of launch."""

    slug = "launch-refused"
    exit_status = 2


class LogFileError(Error):
    """A log file to read cannot be opened."""

    slug = "log-file"


class StartDenied(Error):
    """The policy denies what the interpreter itself needs before the program runs."""

    slug = "start-denied"
    exit_status = 78


class _PythonPolicyViolation(PermissionError):
    """Raised into the program when the policy denies an audit event (where the C module
    is not built: the C type of native/violation.c otherwise, which the program cannot modify).

    The message names the event, the path it was about (when it has one), the
    rule and the policy; ``reason`` is the message without the ``tpython:`` prefix.
    """

    def __init__(self, event: str, rule: "str | None", policy: str, detail: str = "",
                 path: "str | None" = None) -> None:
        self.event = event
        self.rule = rule
        self.policy = policy
        self.path = path
        what = f"rule {rule!r}" if rule else "the category default"
        subject = f"{event} of {path!r}" if path is not None else event
        self.reason = f"{subject} denied by {what} of policy {policy!r}"
        if detail:
            self.reason += f": {detail}"
        super().__init__(f"tpython: {self.reason}")


TYPE_CHECKING = False
if TYPE_CHECKING:
    PolicyViolation = _PythonPolicyViolation
else:
    def __getattr__(name):
        """PolicyViolation: the C module's type (loaded on first use: the `tpython` command's
        other subcommands do without it), or the Python class where it is not built."""
        if name != "PolicyViolation":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        try:
            from tpython._native import PolicyViolation as found  # tpython's own directory, not sys.path
        except ImportError:
            found = _PythonPolicyViolation
        globals()["PolicyViolation"] = found
        return found
