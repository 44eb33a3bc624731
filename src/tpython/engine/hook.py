"""The run's Python side: what the C engine hands back (the slow path), start and exit records.

The audit hook is C's (:mod:`tpython.engine.native`, ``tpython._native``);
this module keeps what a run does around it: `tpython.start`, `tpython.exit`,
the tallies for the summary, and the decisions C still hands to Python.
"""
from __future__ import annotations

import _thread
import os
import sys

from tpython.engine.attribution import Attributor
from tpython.engine.eventargs import PATH_ARGS
from tpython.engine.recorder import Recorder
from tpython.engine.render import arg_types
from tpython.engine.rules import Decision, DispatchTable, EventFacts
from tpython.errors import PolicyViolation
from tpython.policy.model import Policy
from tpython.policy.patterns import path_placeholders
from tpython.sinks.interface import Sink

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import Any, Callable, ContextManager, Optional


KILL_STATUS = 255
_get_ident = _thread.get_ident


def denial(event: str, rule: Optional[str], policy: str, message: str, args: tuple[Any, ...]) -> PolicyViolation:
    """The exception a denial decided in Python raises into the program, naming the event's
    first path argument when the program gave it as text (C raises its own denials:
    native/violation.c)."""
    path = None
    for position, _ in PATH_ARGS.get(event, ()):
        value = args[position] if position < len(args) else None
        if type(value) is bytes:
            value = value.decode("utf-8", "surrogateescape")
        if type(value) is str:
            path = value
            break
    return PolicyViolation(event, rule, policy, message, path=path)


class Engine:
    """Decides events for one process run and records them."""

    def __init__(self, policy: Policy, sinks: list[Sink], *, warn_fd: int) -> None:
        self.policy = policy
        logs = [path for path in (getattr(s, "path", None) for s in sinks) if isinstance(path, str)]
        policy_files = [p for p in policy.sources if not p.startswith("<")]
        self.table = DispatchTable(policy, path_placeholders(policy_files, logs))
        self.enforce = policy.mode == "enforce"
        self.fail_closed = policy.log.fail_closed
        self.warn_fd = warn_fd
        self.recorder = self.make_recorder(sinks, warn_fd)
        self.attributor = Attributor()
        self.counts: dict[str, int] = {}
        self.actions: dict[str, int] = {}
        self.denials: dict[tuple[str, Optional[str]], int] = {}
        self.busy: set[int] = set()
        self.start_args: dict[str, Any] = {}
        self.finished = False
        self.exit_hooks: list[Callable[[int], None]] = []

    def make_recorder(self, sinks: list[Sink], warn_fd: int) -> Recorder:
        """The recorder this engine writes through."""
        return Recorder(sinks, warn_fd)

    def decide(self, event: str, args: tuple[Any, ...], entry: Any,
               frame: Optional[FrameType]) -> tuple[str, Optional[str], Optional[Callable[[], None]]]:
        """Decide and record EVENT, raised by code running in FRAME. Returns the action, the
        rule, and what enforces a block (raises PolicyViolation, or ends the process), if any."""
        responsible = self.attributor.responsible
        caller = frame.f_globals.get("__name__") if frame is not None else None
        facts = EventFacts(event, args, lambda: responsible(frame), caller if type(caller) is str else None)
        try:
            if isinstance(entry, Decision):
                action, rule = entry.decide(facts)
            else:
                action, rule = entry, None
        except Exception as exc:  # fail closed when a denial was possible
            action, rule = self._internal_error(event, args, entry, exc)
        if action == "allow":
            return action, rule, None
        if action == "count":
            self.counts[event] = self.counts.get(event, 0) + 1
            return action, rule, None
        if action == "ask":  # C asks, records and enforces it (native/ask.c)
            return action, rule, None
        return action, rule, self._record(event, facts, action, rule)

    def _internal_error(self, event: str, args: tuple[Any, ...], entry: Any,
                        exc: Exception) -> tuple[str, Optional[str]]:
        strict = isinstance(entry, Decision) and (
            entry.default in ("deny", "kill") or any(r.action in ("deny", "kill") for r in entry.candidates)
        )
        self.warn(f"internal error deciding {event} on ({arg_types(args)}): "
                  f"{type(exc).__name__}: {exc}; "
                  f"{'denying (fail closed)' if strict else 'logging'}")
        return ("deny" if strict else "log"), "tpython-internal-error"

    def _record(self, event: str, facts: EventFacts, action: str,
                rule: Optional[str]) -> Optional[Callable[[], None]]:
        """Write the record; returns the enforcement of a block (None when nothing is blocked)."""
        enforced = self.enforce
        blocked = action in ("deny", "kill")
        try:
            args = facts.rendered
        except Exception as exc:  # rendering must never turn a deny into an allow
            args = [f"<unrenderable: {type(exc).__name__}>"]
        module = facts.module
        package = self.attributor.package(module, facts.module_file) if module else None
        self.recorder.emit(event, args, action, enforced=enforced or action in ("log", "count"),
                           rule=rule, module=module, package=package)
        self.actions[action] = self.actions.get(action, 0) + 1
        if blocked:
            key = (event, rule)
            self.denials[key] = self.denials.get(key, 0) + 1
        if not (blocked and enforced):
            return None
        if self.fail_closed and self.recorder.last_delivered == 0:
            self._fail_closed(event, rule)
        if action == "kill":
            return lambda: self._kill(event, rule)
        message = self._rule_message(rule)
        violation = denial(event, rule, self.policy.name, message, facts.args)

        def refuse() -> None:
            raise violation

        return refuse

    def _kill(self, event: str, rule: Optional[str]) -> None:
        self._end(f"killed by rule {rule!r} on {event}")

    def _end(self, reason: str) -> None:
        """End the process with KILL_STATUS, tpython.exit written (when it can be)."""
        self.finish(KILL_STATUS, reason=reason)
        for stream in (sys.stdout, sys.stderr):  # what the program printed so far
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(KILL_STATUS)

    def _fail_closed(self, event: str, rule: Optional[str]) -> None:
        """[log] on_sink_failure = "fail-closed": a block no sink could record ends the
        process (status 255, as a kill does), so making the log fail (a full disk)
        cannot be used to try denied things unseen."""
        message = (f"tpython: a {event} block (rule {rule or 'default'}) could not be recorded by any sink; "
                   '[log] on_sink_failure = "fail-closed": ending the process\n')
        try:
            os.write(self.warn_fd, message.encode("utf-8", "replace"))
        except OSError:
            pass
        self._end(f"a {event} block could not be recorded (on_sink_failure = fail-closed)")

    def _rule_message(self, rule: Optional[str]) -> str:
        for r in self.policy.rules:
            if r.id == rule:
                return r.message
        return ""

    def internal(self) -> ContextManager[None]:
        """Mark this thread's work as tpython's own: its events are not the program's."""
        return _OwnWork(self.busy)

    # -- run lifecycle ----------------------------------------------------
    def configure_workers(self, policy_json: str, manifest_sha256: Optional[str], argv: list[str],
                          loader_env: dict[str, str]) -> None:
        """What multiprocessing worker launches use (the native engine freezes it)."""

    def worker_starter(self) -> Optional[Callable[[str, list[str], tuple[int, ...]], int]]:
        """A C starter of multiprocessing workers, or None (they start through Python)."""
        return None

    def seal(self) -> None:
        """The program is about to run (the native engine stops taking orders from Python)."""

    def counted(self) -> dict[str, int]:
        """Events counted so far, by name."""
        return dict(self.counts)

    def describe(self) -> dict[str, Any]:
        """The engine, for `tpython.start`."""
        return {"name": "python", "hook": "sys.addaudithook"}

    def emit_internal(self, event: str, args: Any, action: str = "log", *, rule: Optional[str] = None,
                      enforced: bool = True, extra: Optional[dict[str, Any]] = None) -> None:
        """Record a tpython.* event (start, exit, launch, integrity…)."""
        with self.internal():
            self.recorder.emit(event, args, action, rule=rule, enforced=enforced, extra=extra)

    def start(self, start_args: dict[str, Any]) -> None:
        """Write `tpython.start`."""
        self.start_args = start_args
        self.emit_internal("tpython.start", start_args)

    def after_fork_in_child(self) -> None:
        """A forked child begins a new run that names its parent."""
        self.busy.clear()
        parent = self.recorder.restart_after_fork()
        self.counts.clear()
        self.actions.clear()
        self.denials.clear()
        self.emit_internal("tpython.start", {**self.start_args, "parent_run": parent, "forked": True,
                                             "pid": os.getpid()})

    def finish(self, status: int, *, reason: Optional[str] = None, signal: Optional[str] = None) -> None:
        """Write `tpython.exit` (once) and run the exit hooks (summary). SIGNAL: the signal
        the process is about to end by (STATUS is then 128 + its number, as a shell says)."""
        if self.finished:
            return
        self.finished = True
        args: dict[str, Any] = {"status": status, "counted": dict(sorted(self.counted().items())),
                                "actions": dict(self.actions)}
        if reason:
            args["reason"] = reason
        if signal:
            args["signal"] = signal
        lost = self.recorder.lost_in_run()
        if lost:  # every sink's losses of the run, in the run's last record (recovered sinks included)
            args["lost"] = lost
        self.emit_internal("tpython.exit", args)
        with self.internal():
            for hook in self.exit_hooks:
                hook(status)

    def warn(self, message: str) -> None:
        """One line on the original stderr."""
        try:
            os.write(self.recorder.warn_fd, f"tpython: {message}\n".encode("utf-8", "replace"))
        except OSError:
            pass


class _OwnWork:
    """While entered, the current thread's events are tpython's own (:meth:`Engine.internal`)."""

    __slots__ = ("busy", "ident", "nested")

    def __init__(self, busy: set[int]) -> None:
        self.busy = busy
        self.ident = _get_ident()
        self.nested = False

    def __enter__(self) -> None:
        self.nested = self.ident in self.busy
        self.busy.add(self.ident)

    def __exit__(self, *exc: object) -> None:
        if not self.nested:
            self.busy.discard(self.ident)


__all__ = ["Engine", "KILL_STATUS"]
