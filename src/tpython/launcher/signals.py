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
Where the C module is built, `_signal.signal` and `getsignal` are wrapped in C
(native/signalguard.c, which decides what stands in for what the program set; the
genuine functions are C pointers only) and this module gives C what runs in Python:
`relay` (the record, and how the handler runs), `end_by` and `interrupt`.

Python runs signal handlers in the main thread between bytecodes, so one may come
while that thread is in tpython's work. A handler of the program's runs as the
program's work all the same (what it does is audited), and if the thread is half-way
through a record, holding the recorder's lock (which waiting for would never end),
once the record is written (:meth:`Recorder.defer`); so do the end of the run and
the `tpython.signal` record. Python's own SIGINT handler (KeyboardInterrupt) waits
for a record the same way on Python 3.11 and later, where its stand-in leaves no
frame in tracebacks.

Python marks a signal in its C handler and runs its Python handler at the next
bytecode boundary: one that comes just before the main thread blocks (a lock, a
read) would wait for that call to return, perhaps for ever, where the default action
ends the process at once. tpython's C module stands in front of Python's C handler
(native/signals.c) and interrupts the main thread every 20 ms until the end of the
run is in hand; where it is not built, forked children (a pool's workers) go back to
the default action, unrecorded, so that terminating them never hangs their parent.

SIGKILL and SIGSTOP cannot be caught; faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
SIGTRAP, SIGSYS) and SIGABRT end the process before any Python code could run:
those runs end without `tpython.exit`.
"""
from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # `signal` imports enum: not loaded at start
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import Any, Callable, NoReturn, Optional

    from tpython.engine.engine import Engine

    Handler = Callable[[int, Optional[FrameType]], Any]

SIG_DFL, SIGINT = _signal.SIG_DFL, _signal.SIGINT
FATAL_NAMES = ("SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGTERM", "SIGSTKFLT",
               "SIGXCPU", "SIGVTALRM", "SIGPROF", "SIGIO", "SIGPWR")
ALIASES = frozenset({"SIGIOT", "SIGPOLL", "SIGCLD"})  # other names of SIGABRT, SIGIO, SIGCHLD
RECORDED_IN_FULL = 64  # receipts of one signal recorded each; after that, powers of two
RELAY_DONE, RELAY_PROGRAM, RELAY_PLAIN = 0, 1, 2  # what relay() says of the handler (native/signalguard.c)

_real_signal = _signal.signal
_real_getsignal = _signal.getsignal
import tpython._native as native  # noqa: E402  C in front of Python's handler (native/signals.c, signalguard.c)


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
    if native is not None:  # _signal.signal is C's wrapper: SIG_DFL would stand end_by in again
        native.signal_die(number)
    else:
        _real_signal(number, SIG_DFL)
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, [number])
        _signal.raise_signal(number)
    os._exit(128 + number)  # a signal whose default is to do nothing: not one of ours


def recorder_code(recorder: Any) -> tuple[frozenset[Any], frozenset[Any], frozenset[Any]]:
    """The code of RECORDER's methods that hold its lock: (`emit`, where the Python side
    makes a record; with `feed`, where C's reach the Python sinks: what waits for the
    record runs when either is done; with `all_lost` and `lost_in_run`: all of them)."""
    classes = type(recorder).__mro__

    def code(*names: str) -> frozenset[Any]:
        return frozenset(vars(cls)[name].__code__ for cls in classes for name in names if name in vars(cls))

    return code("emit"), code("emit", "feed"), code("emit", "feed", "all_lost", "lost_in_run")


def interrupted_in(frame: Optional[FrameType], codes: frozenset[Any]) -> bool:
    """Whether FRAME, or a frame it was called from, runs one of CODES."""
    while frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


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


def _drop_own_frames(exc: BaseException) -> None:
    """EXC passes through tpython's stand-ins: leave their frames out of the traceback
    (3.11+: a bare ``raise`` adds none back), so that it reads as under plain python."""
    if sys.version_info >= (3, 11):
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        exc.__traceback__ = tb


def install(engine: Engine) -> None:
    """Record the end of the run by a signal, and each signal a handler of the program's
    takes (step 5 of the launcher's start, after `tpython.start`)."""
    fatal = fatal_signals()
    received: dict[int, int] = {}
    ending: list[int] = []
    started = os.getpid()
    emits, writing, holding = recorder_code(engine.recorder)

    def end(number: int) -> None:
        """Write tpython.exit and the summary, then die by signal NUMBER."""
        if ending:  # a second signal while the end is written: end now
            die_by(number)
        ending.append(number)
        if native is not None:
            native.signal_taken()
        if os.getpid() != started:  # a forked child (a pool's worker, terminated): the record, no summary
            engine.exit_hooks = []
        try:
            engine.finish(128 + number, signal=signal_name(number))
        finally:
            die_by(number)

    def end_by(number: int, frame: Optional[FrameType]) -> None:
        if interrupted_in(frame, writing) and not ending:
            engine.recorder.defer(lambda: end(number))  # once the record in progress is written
            return
        end(number)

    def interrupt(number: int, frame: Optional[FrameType]) -> None:
        """Python's own SIGINT handler (KeyboardInterrupt), not half-way through a Python
        record (C's are whole; an exception out of `feed` would not reach the program)."""
        if interrupted_in(frame, emits):
            engine.recorder.defer(lambda: _signal.default_int_handler(number, None))
            return
        try:
            _signal.default_int_handler(number, frame)
        except BaseException as exc:
            _drop_own_frames(exc)
            raise

    def relay(handler: Any, number: int, frame: Optional[FrameType]) -> int:
        """A signal for HANDLER of the program's: record `tpython.signal` (or have it recorded
        once the record in progress is written), and say how HANDLER runs now: RELAY_DONE (not
        now: once that record is written), RELAY_PROGRAM (as the program's work) or RELAY_PLAIN."""
        count = received[number] = received.get(number, 0) + 1
        record: Optional[Callable[[], None]] = None
        if (count <= RECORDED_IN_FULL or count & (count - 1) == 0) and not engine.finished:
            args = {"signal": signal_name(number), "received": count, "handler": _handler_name(handler)}

            def record() -> None:
                engine.emit_internal("tpython.signal", args)

        if interrupted_in(frame, emits):  # a record half-made: the handler's own would wait for ever

            def when_written() -> None:
                if record is not None:
                    record()
                native.signal_call(handler, number, frame)  # the program's work, under the hook

            engine.recorder.defer(when_written)
            return RELAY_DONE
        if record is not None:
            if interrupted_in(frame, holding):
                engine.recorder.defer(record)
            else:
                record()
        if interrupted_in(frame, holding):  # C's record on its way to the Python sinks: as before,
            return RELAY_PLAIN  # what the handler does is not recorded (it would wait)
        return RELAY_PROGRAM

    # C decides what stands in (native/signalguard.c); the originals are C's
    native.signal_guard(_real_signal, _real_getsignal, tuple(sorted(fatal)), end_by,
                        interrupt if sys.version_info >= (3, 11) else None, relay, _signal.default_int_handler)
    os.register_at_fork(after_in_child=native.signal_refront)  # the child's own timer
