"""The `ask` action: one question on the controlling terminal; only a typed yes allows.

"Attempt to connect 93.184.216.34:80 (tpython rule egress). Continue [y/N] ": the
event is allowed when the line typed is `y` or `yes` (any case); an empty line,
anything else, end of file before a line, or an error on the terminal is a no
(answer "no"). With no controlling terminal there is no question and the answer is
no ("no-terminal"); so too when tpython started without one, and when the controlling
terminal or the session is no longer the one tpython started on ("other-terminal"): a
program that made a terminal of its own its controlling one must not answer there.
What was typed before the question is discarded, and the
question is shown with control characters escaped, so the program can neither
answer nor redraw it.

One question per decision: `subprocess` starts a program in two events
(`subprocess.Popen`, then `_posixsubprocess.fork_exec` or `os.posix_spawn` with the
same argument list); the question names the program that would really run (found
on PATH as exec would), and a yes to the first event answers the second, in the
same thread, when it would run that same program with a list of the same contents, in
the same process (a fork in between drops it).
"""
from __future__ import annotations

import _thread
import os

from tpython.engine.facts import event_executables
from tpython.engine.render import path_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

    from tpython.engine.rules import EventFacts

YES, NO, NO_TERMINAL, OTHER_TERMINAL = "yes", "no", "no-terminal", "other-terminal"
LAUNCH = "subprocess.Popen"  # the first event of a subprocess launch; the second carries its yes
CARRIES_OUT = frozenset({"_posixsubprocess.fork_exec", "os.posix_spawn"})
MAX_LINE = 1024  # a longer answer is no answer

_lock = _thread.allocate_lock()  # one question at a time
_asking: set[int] = set()  # threads waiting for an answer
# thread -> (argv contents, directory, program) of a yes to LAUNCH
_approved: dict[int, tuple[tuple[object, ...], Optional[str], Optional[str]]] = {}


def terminal() -> Optional[tuple[int, int]]:
    """(session id, device number of the controlling terminal); None without one."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        device = int(fields[4])  # tty_nr: after state, ppid, pgrp, session
        return (os.getsid(0), device) if device else None
    except (OSError, IndexError, ValueError):
        return None


STARTED_ON = terminal()  # taken when the engine is imported, before the program runs


def _forget_approvals() -> None:
    """In a forked child: no yes of the parent's carries over; the lock of a question
    another thread of the parent's was asking is not held here."""
    global _lock
    _approved.clear()
    _lock = _thread.allocate_lock()


os.register_at_fork(after_in_child=_forget_approvals)


def ask_about(event: str, facts: EventFacts, rule: Optional[str]) -> tuple[bool, str]:
    """Decide an `ask`: (allowed, answer), the answer as recorded ("yes", "no", "no-terminal")."""
    ident = _thread.get_ident()
    approved = _approved.pop(ident, None)
    argv = _contents(facts.args[1] if len(facts.args) > 1 else None)
    if approved is not None and event in CARRIES_OUT and argv is not None and _same(argv, approved[0]):
        # the second event names no directory: its programs are found from the approved one
        if runnable(event_executables(event, facts.args, approved[1])) == approved[2]:
            return True, YES  # the launch the question before was about (the same list, the same program)
    program = runnable(facts.executables)
    allowed, how = ask(describe(event, facts, program), rule)
    if allowed and event == LAUNCH and argv is not None:
        given = facts.args[2] if len(facts.args) > 2 else None
        _approved[ident] = (argv, None if given is None else path_text(given), program)
    return allowed, how


def _contents(argv: object) -> Optional[tuple[object, ...]]:
    """A copy of a launch's argument list (list or tuple, read with their own types'
    methods: no code of the program runs); None for anything else."""
    if isinstance(argv, list):
        return tuple(list.__iter__(argv))
    if isinstance(argv, tuple):
        return tuple(tuple.__iter__(argv))
    return None


def _same(now: tuple[object, ...], then: tuple[object, ...]) -> bool:
    """Whether two argument lists are equal without running the program's code: each
    argument the very same object, or plain text (str, bytes) of the same value."""
    return len(now) == len(then) and all(
        a is b or (type(a) is type(b) and type(a) in (str, bytes) and a == b) for a, b in zip(now, then))


def refusal(how: str) -> str:
    """Why an ask denied, for the PolicyViolation's message."""
    return {NO_TERMINAL: "no terminal to ask on",
            OTHER_TERMINAL: "the terminal is not the one tpython started on"}.get(how, "not confirmed at the terminal")


def runnable(executables: Optional[list[str]]) -> Optional[str]:
    """The program a launch would really run: the first of its candidates (as named, as
    found on PATH, in exec's order) that is an executable file; None when none is."""
    for candidate in executables or ():
        if os.path.isabs(candidate) and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def describe(event: str, facts: EventFacts, program: Optional[str] = None) -> str:
    """A short sentence for the event: what would connect, run or be touched."""
    host, port = facts.host_port
    try:
        rendered: list[Any] = facts.rendered
    except Exception:  # the question must still be asked
        rendered = []
    if event.startswith("socket.") and host is not None:
        verb = event.split(".", 1)[1]
        return f"Attempt to {verb} {host}:{port}" if port is not None else f"Attempt to {verb} {host}"
    if facts.executables:
        line = _command_line(event, rendered)
        if program is None:
            name = line.split(" ", 1)[0] if line else facts.executables[0]
            return f"Attempt to run {name}, not found ({event})"
        return f"Attempt to run {program}{': ' + line if line else ''} ({event})"
    paths = facts.paths
    if paths:
        return f"Attempt to {event} {paths[0]}"
    text = ", ".join(str(a) for a in rendered)
    return f"Attempt to {event} {text[:200]}"


def _command_line(event: str, rendered: list[Any]) -> str:
    """The launch's argument list (os.system: its command) as one line, at most 200 characters."""
    position = {"os.system": 0, "os.spawn": 2}.get(event, 1)
    value = rendered[position] if len(rendered) > position else None
    if isinstance(value, list):
        value = " ".join(repr(a) if not isinstance(a, str) or not a or " " in a else a for a in value)
    text = value if isinstance(value, str) else ""
    return text if len(text) <= 200 else text[:199] + "…"


def shown(text: str) -> str:
    """TEXT with every character a terminal would act on (escape sequences, carriage
    returns, bidirectional controls) written as an escape instead."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def ask(question: str, rule: Optional[str]) -> tuple[bool, str]:
    """Ask QUESTION on /dev/tty. Returns (allowed, answer)."""
    ident = _thread.get_ident()
    if ident in _asking:  # a signal handler of the program's, run while this thread waits for an answer
        return False, NO  # (no question inside a question)
    if STARTED_ON is None:
        return False, NO_TERMINAL
    with _lock:
        if terminal() != STARTED_ON:
            return False, OTHER_TERMINAL
        try:
            fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError:
            return False, NO_TERMINAL
        if terminal() != STARTED_ON:  # changed while it was opened: this may be the other one
            os.close(fd)
            return False, OTHER_TERMINAL
        suffix = f" (tpython rule {rule})" if rule else " (tpython)"
        _asking.add(ident)
        try:
            line = _exchange(fd, f"{shown(question + suffix)}. Continue [y/N] ")
        except OSError:
            line = None
        finally:
            _asking.discard(ident)
            os.close(fd)
    allowed = line is not None and line.strip().lower() in (b"y", b"yes")
    return allowed, YES if allowed else NO


def _exchange(fd: int, prompt: str) -> Optional[bytes]:
    """Discard typed-ahead input, show PROMPT, read one line in the terminal's line mode
    (echoed). None at end of file before the line ends, or when it is too long."""
    restore = _line_mode(fd)
    try:
        os.write(fd, prompt.encode("utf-8", "replace"))
        line = b""
        while not line.endswith((b"\n", b"\r")):
            chunk = os.read(fd, 256)
            if not chunk:  # end of file: the line the question is on ends here
                os.write(fd, b"\n")
                return None
            line += chunk
            if len(line) > MAX_LINE:
                return None
        return line
    finally:
        if restore is not None:
            restore()


def _line_mode(fd: int) -> Any:
    """Flush pending input and put the terminal in line mode with echo; returns what
    restores its settings (None when they cannot be read: not a terminal we can set)."""
    try:
        import termios
    except ImportError:
        return None
    try:
        saved = termios.tcgetattr(fd)
        termios.tcflush(fd, termios.TCIFLUSH)
        wanted = list(saved)
        wanted[0] |= termios.ICRNL
        wanted[3] |= termios.ICANON | termios.ECHO
        if wanted != saved:
            termios.tcsetattr(fd, termios.TCSANOW, wanted)
    except termios.error:
        return None

    def restore() -> None:
        try:
            termios.tcsetattr(fd, termios.TCSANOW, saved)
        except termios.error:
            pass

    return restore
