"""The run's Python side: the policy compiled into C's tables, and the run's own records.

Every event is decided in C (``tpython._native``: native/hook.c and the files it
names): the policy is compiled here once into plain tables (catalog defaults,
rules' event globs, their conditions as C evaluates them) and handed to C, which
copies them and never consults a Python object for them again. C records and
enforces every action itself; no Python function of tpython runs while an event
is decided. What stays here is the run around the hook: `tpython.start`,
`tpython.exit` (with the tallies C kept), the exit summary's figures, and the
state a forked child starts again from.
"""
from __future__ import annotations

import os

from tpython import exit_status as status
from tpython.engine.attribution import Attributor
from tpython.engine.eventargs import (
    PATH_ARGS,
    PATH_LIST_ARGS,
    SOURCE_ARGS,
    TEXT_ARGS,
    WRITE_EVENTS,
    WRITE_FLAGS,
    condition_facts,
)
from tpython.engine.native_recorder import NativeRecorder
from tpython.engine.recorder import NO_CONTEXT
from tpython.engine.rules import MOVE_EVENTS, native_conditions
from tpython.jsontext import dumps
from tpython.locations import locations
from tpython.policy.catalog import CATEGORIES, EVENTS
from tpython.policy.model import Policy
from tpython.policy.patterns import path_placeholders
from tpython.sinks.interface import Sink

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, ContextManager, Optional


class Engine:
    """One run: the C hook installed from the policy, and the run's start and exit records."""

    def __init__(self, policy: Policy, sinks: list[Sink], *, warn_fd: int) -> None:
        import tpython._native as native

        self.native = native
        self.policy = policy
        logs = [path for path in (getattr(s, "path", None) for s in sinks) if isinstance(path, str)]
        policy_files = [p for p in policy.sources if not p.startswith("<")]
        self.placeholders = path_placeholders(policy_files, logs)
        self.enforce = policy.mode == "enforce"
        self.fail_closed = policy.log.fail_closed
        self.warn_fd = warn_fd
        self.recorder = NativeRecorder(sinks, warn_fd, native)
        self.attributor = Attributor()
        self.actions: dict[str, int] = {}
        self.denials: dict[tuple[str, Optional[str]], int] = {}
        self.start_args: dict[str, Any] = {}
        self.finished = False
        self.sealed = False
        self.exit_hooks: list[Callable[[int], None]] = []

    # -- the hook -------------------------------------------------------------
    def frozen_tables(self) -> tuple[dict[str, str], str, list[tuple[Any, ...]]]:
        """What C needs to resolve any event name: catalog defaults, the default of
        unknown events, and each rule's event globs, action, whether it has conditions,
        id, message, and its conditions as C evaluates them (None: it has none)."""
        by_category = {category: self.policy.default_for(category) for category in CATEGORIES}
        defaults = {name: by_category[info.category] for name, info in EVENTS.items()}
        places = self.placeholders
        rules = [(tuple(r.events), r.action, bool(r.when or r.unless), r.id, r.message, native_conditions(r, places))
                 for r in self.policy.rules]
        return defaults, self.policy.default_for("other"), rules

    def install(self) -> None:
        """Add C's audit hook (runtime-wide, for good) with this policy's tables."""
        defaults, other, rules = self.frozen_tables()
        self.native.install_audit(defaults, other, rules, self.c_options())

    def c_options(self) -> dict[str, Any]:
        """The facts and settings C needs besides the rules (each defined once, here or in
        the tables these come from: engine.eventargs, policy.settings)."""
        where = locations()
        shapes = {event: (tuple(p for p, _ in PATH_ARGS.get(event, ())), tuple(PATH_LIST_ARGS.get(event, ())),
                          tuple(SOURCE_ARGS.get(event, ())), tuple(fd for _, fd in PATH_ARGS.get(event, ())),
                          tuple(TEXT_ARGS.get(event, ())))
                  for event in {*PATH_ARGS, *PATH_LIST_ARGS, *SOURCE_ARGS, *TEXT_ARGS}}
        distribution = self.attributor.distribution

        def package_lookup(top: str) -> str:
            return dumps(distribution(top))

        return {
            "shapes": shapes,
            "stdlib": list(where.stdlib), "site": list(where.site), "tpython": where.tpython,
            "launcher_file": self.attributor.launcher_file,
            "package_lookup": package_lookup,
            "enforce": self.enforce, "policy": self.policy.name,
            "move_events": tuple(sorted(MOVE_EVENTS)), "write_events": tuple(sorted(WRITE_EVENTS)),
            "write_flags": WRITE_FLAGS, "fail_closed": self.fail_closed,
            "condition_facts": condition_facts(),  # where events keep hosts, ports, programs
            "statuses": (status.KILLED, status.NOT_FOUND),
        }

    def internal(self) -> ContextManager[None]:
        """Before the seal: mark this thread's work (tpython's start-up) as tpython's own.
        After it, only C marks anything so, and nothing here can."""
        if self.sealed:
            return NO_CONTEXT
        return _OwnWork(self.native)

    def seal(self) -> None:
        """The program is about to run: C takes no more orders from Python."""
        self.native.seal()
        self.sealed = True

    # -- workers ---------------------------------------------------------------
    def configure_workers(self, policy_json: str, manifest_sha256: Optional[str], argv: list[str],
                          loader_env: dict[str, str]) -> None:
        """Freeze what multiprocessing worker launches use (see native/spawn.c)."""
        self.native.spawn_configure(policy_json, manifest_sha256, argv, [f"{k}={v}" for k, v in loader_env.items()])

    def worker_starter(self) -> Callable[[str, list[str], tuple[int, ...]], int]:
        """C's starter of multiprocessing workers (it names this run as their parent)."""
        spawn = self.native.spawn_worker

        def start(program: str, args: list[str], passfds: tuple[int, ...]) -> int:
            return int(spawn(program, [str(a) for a in args], tuple(int(fd) for fd in passfds), ""))

        return start

    # -- the run's records -----------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """The engine, for `tpython.start`."""
        stats = self.native.stats()
        return {"name": "native", "hook": "PySys_AddAuditHook", "probes": bool(stats["probes"]),
                "log_in_c": bool(stats["log_in_c"])}

    def emit_internal(self, event: str, args: Any, action: str = "log", *, rule: Optional[str] = None,
                      enforced: bool = True, extra: Optional[dict[str, Any]] = None) -> None:
        """Record a tpython.* event (start, exit, launch, integrity…)."""
        with self.internal():
            self.recorder.emit(event, args, action, rule=rule, enforced=enforced, extra=extra)

    def start(self, start_args: dict[str, Any]) -> None:
        """Write `tpython.start`."""
        self.start_args = start_args
        self.emit_internal("tpython.start", start_args)

    def counted(self) -> dict[str, int]:
        """Events counted so far, by name (C's tallies)."""
        return dict(self.native.counts())

    def after_fork_in_child(self) -> None:
        """A forked child begins a new run that names its parent."""
        self.native.reset_counts()
        parent = self.recorder.restart_after_fork()
        self.actions.clear()
        self.denials.clear()
        self.emit_internal("tpython.start", {**self.start_args, "parent_run": parent, "forked": True,
                                             "pid": os.getpid()})

    def finish(self, status: int, *, reason: Optional[str] = None, signal: Optional[str] = None) -> None:
        """Write `tpython.exit` (once) with C's tallies, and run the exit hooks (summary).
        SIGNAL: the signal the process is about to end by (STATUS is then 128 + its number,
        as a shell says)."""
        if self.finished:
            return
        self.finished = True
        self.native.repeats_flush()  # the last tpython.repeats summary, before tpython.exit
        stats = self.native.stats()
        for action, n in (("log", int(stats["logged_in_c"])), ("ask", int(stats["asks_allowed"]))):
            if n:  # asks C allowed (its refusals are among its denials)
                self.actions[action] = self.actions.get(action, 0) + n
        for event, rule, n, action in self.native.denials():
            self.actions[action] = self.actions.get(action, 0) + n
            self.denials[(event, rule)] = self.denials.get((event, rule), 0) + n
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
    """While entered (before the seal), C takes the current thread's events as tpython's own."""

    __slots__ = ("native", "previous")

    def __init__(self, native: Any) -> None:
        self.native = native
        self.previous = False

    def __enter__(self) -> None:
        self.previous = self.native.set_busy(True)

    def __exit__(self, *exc: object) -> None:
        self.native.set_busy(self.previous)


__all__ = ["Engine"]
