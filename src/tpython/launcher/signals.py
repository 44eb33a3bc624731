"""Signals: a run a signal ends is recorded, and so is each signal the program handles.

Python leaves most signals at their default action, which ends the process where it
stands: no `tpython.exit`, no summary. At start, each asynchronous signal whose
default ends the process (FATAL_NAMES and the real-time signals) and that is still
at its default gets a handler of tpython's. When one arrives, it writes
`tpython.exit` (``"signal": "SIGTERM"``, ``"status"`` 128+N as a shell reports it)
and the summary (not in a forked child: a terminated pool worker says nothing, as
under python), puts the default action back and sends the signal again: the
process ends by that signal, as under plain python (atexit handlers do not run,
unflushed output is lost). A second signal while that is being written ends the
process at once.

The program sees none of it: `signal.signal` and `signal.getsignal` (the `_signal`
functions the `signal` module calls) report what the program set. A handler the
program sets runs through a wrapper that records `tpython.signal` first (each of
the first 64 of a signal, then the 128th, 256th, ...; ``received`` counts them).

Python runs signal handlers in the main thread between bytecodes, so one may come
while that thread is in tpython's own work: half-way through a record (holding the
recorder's lock, which waiting for would never end), or deciding an event (where
what a handler does would pass for tpython's work, unaudited). Then the handler
waits: a thread of tpython's marks the signal as arrived again once the record is
written, and Python calls the handler at a later bytecode boundary. The end of a
run waits for a record in progress; the program's handlers wait for any of
tpython's work; Python's own SIGINT handler (KeyboardInterrupt) waits for a record
on Python 3.11 and later, where its stand-in leaves no frame in tracebacks.

SIGKILL and SIGSTOP cannot be caught; faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
SIGTRAP, SIGSYS) and SIGABRT end the process before any Python code could run:
those runs end without `tpython.exit`.
"""
from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # `signal` imports enum: not loaded at start
import _thread
import os
import sys

import tpython

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import Any, Callable, NoReturn, Optional

    from tpython.engine.hook import Engine

    Handler = Callable[[int, Optional[FrameType]], Any]

SIG_DFL, SIGINT = _signal.SIG_DFL, _signal.SIGINT
FATAL_NAMES = ("SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGTERM", "SIGSTKFLT",
               "SIGXCPU", "SIGVTALRM", "SIGPROF", "SIGIO", "SIGPWR")
ALIASES = frozenset({"SIGIOT", "SIGPOLL", "SIGCLD"})  # other names of SIGABRT, SIGIO, SIGCHLD
RECORDED_IN_FULL = 64  # receipts of one signal recorded each; after that, powers of two

_real_signal = _signal.signal
_real_getsignal = _signal.getsignal
_DIR = os.path.dirname(os.path.abspath(tpython.__file__)) + os.sep
BOOTSTRAP = os.path.join(_DIR, "launcher", "bootstrap.py")  # its frames run the program: none further out count
# tpython's code that runs in the program's stead (wrappers of functions it calls):
# a signal interrupting it interrupts the program.
PROGRAM_SIDE = frozenset(os.path.join(_DIR, "launcher", name) for name in ("guards.py", "children.py", "signals.py"))
# The recorder and the sinks: a frame of theirs in the main thread may hold the recorder's lock.
RECORDER_SIDE = (os.path.join(_DIR, "engine", "recorder.py"), os.path.join(_DIR, "engine", "native_recorder.py"),
                 os.path.join(_DIR, "sinks", ""))


def fatal_signals() -> frozenset[int]:
    """The signals whose default action ends the process and that a handler can catch
    in time (FATAL_NAMES and the real-time signals)."""
    numbers = {getattr(_signal, name) for name in FATAL_NAMES if hasattr(_signal, name)}
    if hasattr(_signal, "SIGRTMIN"):
        numbers.update(range(_signal.SIGRTMIN, _signal.SIGRTMAX + 1))
    return frozenset(numbers)


def signal_name(number: int) -> str:
    """SIGTERM, SIGRTMIN+3, or the number as text."""
    for name, value in _signal.__dict__.items():
        if value == number and type(value) is int and name.startswith("SIG") and not name.startswith("SIG_") \
                and name not in ALIASES and not name.startswith("SIGRT"):
            return str(name)
    if hasattr(_signal, "SIGRTMIN") and _signal.SIGRTMIN <= number <= _signal.SIGRTMAX:
        return "SIGRTMIN" if number == _signal.SIGRTMIN else f"SIGRTMIN+{number - _signal.SIGRTMIN}"
    return str(number)


def die_by(number: int) -> NoReturn:
    """End the process by signal NUMBER with its default action (as the caller then sees
    it: killed by that signal)."""
    _real_signal(number, SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_UNBLOCK, [number])
    _signal.raise_signal(number)
    os._exit(128 + number)  # a signal whose default is to do nothing: not one of ours


def interrupted_in(frame: Optional[FrameType], files: Callable[[str], bool]) -> bool:
    """Whether FRAME, or a frame it was called from up to the launcher's (which runs the
    program), runs code from a file FILES accepts."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename == BOOTSTRAP:
            return False
        if files(filename):
            return True
        frame = frame.f_back
    return False


def recorder_file(filename: str) -> bool:
    """The recorder's and the sinks' code: run with the recorder's lock held, often."""
    return filename.startswith(RECORDER_SIDE)


def own_work_file(filename: str) -> bool:
    """tpython's code, but for the wrappers that run in the program's stead."""
    return filename.startswith(_DIR) and filename not in PROGRAM_SIDE


def _deliver_again(number: int) -> None:
    """Mark signal NUMBER as arrived once more: Python calls its handler in the main
    thread at a bytecode boundary to come."""
    if sys.version_info >= (3, 10):
        _thread.interrupt_main(number)  # type: ignore[arg-type]  # an int is what it takes
    else:  # to this thread: its C handler marks it for the main thread
        _signal.raise_signal(number)


def later(engine: Engine, number: int) -> bool:
    """Have signal NUMBER handled again once the main thread is further on: from a thread
    of its own, once the recorder's lock is free (the main thread may hold it,
    half-way through a record: waiting for it there would never end). Marking it from
    the handler itself would call the handler again at once, inside itself. False
    when no thread can start."""
    lock = engine.recorder.lock

    def again() -> None:
        with lock:
            pass
        _deliver_again(number)

    try:
        with engine.internal():
            _thread.start_new_thread(again, ())
    except RuntimeError:
        return False
    return True


class _Probe:
    def method(self) -> None:
        """A method, for the types of functions and bound methods."""

    __slots__ = ()


_FUNCTION, _METHOD = type(_Probe.method), type(_Probe().method)


def _handler_name(handler: Any) -> str:
    """module.qualname of a function or bound method, else its type's name (read from
    the objects' own slots: no code of the program runs)."""
    function: Any = handler.__func__ if type(handler) is _METHOD else handler  # type: ignore[attr-defined]
    if type(function) is _FUNCTION:
        module, name = function.__module__, function.__qualname__
        return f"{module}.{name}" if type(module) is str and type(name) is str else "function"
    name = type.__dict__["__qualname__"].__get__(type(handler))
    return name if type(name) is str else "handler"


def _drop_own_frame(exc: BaseException) -> None:
    """EXC passes through a stand-in of tpython's: leave its frame out of the traceback
    (3.11+: a bare ``raise`` adds none back), so that it reads as under plain python."""
    if sys.version_info >= (3, 11) and exc.__traceback__ is not None:
        exc.__traceback__ = exc.__traceback__.tb_next


def install(engine: Engine) -> None:
    """Record the end of the run by a signal, and each signal a handler of the program's
    takes (step 5 of the launcher's start, after `tpython.start`)."""
    fatal = fatal_signals()
    shown: dict[int, Any] = {}  # what the program set, where a handler of tpython's stands in for it
    standing_in: dict[int, Any] = {}  # that handler of tpython's
    received: dict[int, int] = {}
    ending: list[int] = []
    started = os.getpid()

    def end_by(number: int, frame: Optional[FrameType]) -> None:
        if ending:  # a second signal while the end is written: end now
            die_by(number)
        if interrupted_in(frame, recorder_file):
            if later(engine, number):
                return
            die_by(number)  # unrecorded, as before tpython recorded signals
        ending.append(number)
        if os.getpid() != started:  # a forked child (a pool's worker, terminated): the record, no summary
            engine.exit_hooks = []
        try:
            engine.finish(128 + number, signal=signal_name(number))
        finally:
            die_by(number)

    def interrupt(number: int, frame: Optional[FrameType]) -> None:
        """Python's own SIGINT handler (KeyboardInterrupt), never half-way through a record."""
        if interrupted_in(frame, recorder_file) and later(engine, number):
            return
        try:
            _signal.default_int_handler(number, frame)
        except BaseException as exc:
            _drop_own_frame(exc)
            raise

    def wrap(handler: Any) -> Handler:
        def handler_wrapper(number: int, frame: Optional[FrameType]) -> Any:
            if interrupted_in(frame, own_work_file) and later(engine, number):
                return None  # what the handler does must not pass for tpython's own work (unaudited)
            count = received[number] = received.get(number, 0) + 1
            if count <= RECORDED_IN_FULL or count & (count - 1) == 0:
                engine.emit_internal("tpython.signal", {"signal": signal_name(number), "received": count,
                                                        "handler": _handler_name(handler)})
            try:
                return handler(number, frame)
            except BaseException as exc:
                _drop_own_frame(exc)
                raise

        return handler_wrapper

    def stand_in(number: Optional[int], handler: Any) -> Any:
        """What tpython installs when the program sets HANDLER for signal NUMBER."""
        if number is None:
            return handler  # not a signal number: _signal says what is wrong
        if handler is _signal.default_int_handler:
            return interrupt if sys.version_info >= (3, 11) else handler  # 3.10-: its frame would show
        if callable(handler):
            return wrap(handler)
        if number in fatal and isinstance(handler, int) and not isinstance(handler, bool) \
                and int(handler) == SIG_DFL:
            return end_by
        return handler

    def signal(signalnum: Any, handler: Any) -> Any:
        number = int(signalnum) if isinstance(signalnum, int) else None
        installed = stand_in(number, handler)
        try:
            previous = _real_signal(signalnum, installed)  # raises as for the program's own arguments
        except BaseException as exc:
            _drop_own_frame(exc)
            raise
        if number is None:
            return previous
        stood, was = standing_in.pop(number, None), shown.pop(number, None)
        if stood is not None and stood is previous:
            previous = was
        if installed is not handler:
            shown[number], standing_in[number] = handler, installed
        return previous

    def getsignal(signalnum: Any) -> Any:
        try:
            current = _real_getsignal(signalnum)
        except BaseException as exc:
            _drop_own_frame(exc)
            raise
        number = int(signalnum) if isinstance(signalnum, int) else None
        if number is not None and number in standing_in and standing_in[number] is current:
            return shown[number]
        return current

    for number in sorted(fatal | {SIGINT}):
        current = _real_getsignal(number)
        installed = stand_in(number, current) if current == SIG_DFL or current is _signal.default_int_handler \
            else current  # ignored (nohup), or a handler from before tpython: left so
        if installed is not current:
            _real_signal(number, installed)
            shown[number], standing_in[number] = current, installed
    signal.__doc__, getsignal.__doc__ = _real_signal.__doc__, _real_getsignal.__doc__
    signal.__qualname__, getsignal.__qualname__ = signal.__name__, getsignal.__name__
    _signal.signal, _signal.getsignal = signal, getsignal
