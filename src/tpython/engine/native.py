"""The native engine: the audit hook in C (``tpython._native``), Python for the rest.

The policy is compiled here into plain tables (catalog defaults, rules' event
globs, their conditions as C evaluates them) and handed to C once; C copies them
and never consults a Python object for them again. Events decided as `allow`
or `count` never leave C, and C evaluates every condition and carries out
every other action itself (native/enforce.c): no Python code of tpython's decides
an event.
"""
from __future__ import annotations

from tpython.engine.eventargs import PATH_ARGS, PATH_LIST_ARGS, TEXT_ARGS, WRITE_EVENTS, condition_facts
from tpython.engine.facts import WRITE_FLAGS
from tpython.engine.hook import Engine
from tpython.engine.native_recorder import NativeRecorder
from tpython.engine.recorder import NO_CONTEXT
from tpython.engine.render import SOURCE_ARGS
from tpython.engine.rules import MOVE_EVENTS, native_conditions
from tpython.jsontext import dumps
from tpython.locations import locations
from tpython.policy.catalog import CATEGORIES, EVENTS
from tpython.sinks.interface import Sink

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, ContextManager, Optional


class NativeEngine(Engine):
    """:class:`Engine` whose hook and counters live in C."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        import tpython._native as native

        self.native = native
        super().__init__(*args, **kwargs)
        self.sealed = False

    def make_recorder(self, sinks: list[Sink], warn_fd: int) -> NativeRecorder:
        self.native_recorder = NativeRecorder(sinks, warn_fd, self.native)
        return self.native_recorder

    def frozen_tables(self) -> tuple[dict[str, str], str, list[tuple[Any, ...]]]:
        """What C needs to resolve any event name: catalog defaults, the default of
        unknown events, and each rule's event globs, action, whether it has conditions,
        id, message, and its conditions as C evaluates them (None: it has none)."""
        by_category = {category: self.policy.default_for(category) for category in CATEGORIES}
        defaults = {name: by_category[info.category] for name, info in EVENTS.items()}
        places = self.table.placeholders
        rules = [(tuple(r.events), r.action, bool(r.when or r.unless), r.id, r.message, native_conditions(r, places))
                 for r in self.policy.rules]
        return defaults, self.policy.default_for("other"), rules

    def install(self, guard: Optional[Any] = None) -> None:
        """GUARD is the Python engine's: C's hook calls the integrity guard itself (native/guard.c)."""
        defaults, other, rules = self.frozen_tables()
        self.native.install_audit(defaults, other, rules, self.c_options())

    def c_options(self) -> dict[str, Any]:
        """What C needs to render, attribute and write `log` records itself."""
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
        }

    def internal(self) -> ContextManager[None]:
        if self.sealed:  # the program runs: only C marks tpython's own work (open_code)
            return NO_CONTEXT
        return _NativeBusy(self.native)

    def configure_workers(self, policy_json: str, manifest_sha256: Optional[str], argv: list[str],
                          loader_env: dict[str, str]) -> None:
        """Freeze what multiprocessing worker launches use (see native/spawn.c)."""
        self.native.spawn_configure(policy_json, manifest_sha256, argv, [f"{k}={v}" for k, v in loader_env.items()])

    def worker_starter(self) -> Optional[Callable[[str, list[str], tuple[int, ...]], int]]:
        spawn, run = self.native.spawn_worker, self.native_recorder

        def start(program: str, args: list[str], passfds: tuple[int, ...]) -> int:
            return int(spawn(program, [str(a) for a in args], tuple(int(fd) for fd in passfds), run.run))

        return start

    def seal(self) -> None:
        self.native.seal()
        self.sealed = True

    def finish(self, status: int, *, reason: Optional[str] = None, signal: Optional[str] = None) -> None:
        if not self.finished:  # fold what C decided and recorded into the tallies
            self.native.repeats_flush()  # the last tpython.repeats summary, before tpython.exit
            stats = self.native.stats()
            logged, asked = int(stats["logged_in_c"]), int(stats["asks_allowed"])
            if logged:
                self.actions["log"] = self.actions.get("log", 0) + logged
            if asked:  # asks C allowed (its refusals are among its denials)
                self.actions["ask"] = self.actions.get("ask", 0) + asked
            for event, rule, n, action in self.native.denials():
                self.actions[action] = self.actions.get(action, 0) + n
                self.denials[(event, rule)] = self.denials.get((event, rule), 0) + n
        super().finish(status, reason=reason, signal=signal)

    def counted(self) -> dict[str, int]:
        merged = self.native.counts()
        for event, n in self.counts.items():
            merged[event] = merged.get(event, 0) + n
        return merged

    def after_fork_in_child(self) -> None:
        self.native.reset_counts()
        super().after_fork_in_child()

    def describe(self) -> dict[str, Any]:
        stats = self.native.stats()
        return {"name": "native", "hook": "PySys_AddAuditHook", "probes": bool(stats["probes"]),
                "log_in_c": bool(stats["log_in_c"])}


class _NativeBusy:
    """While entered, C counts the current thread's events as tpython's own."""

    __slots__ = ("native", "previous")

    def __init__(self, native: Any) -> None:
        self.native = native
        self.previous = False

    def __enter__(self) -> None:
        self.previous = self.native.set_busy(True)

    def __exit__(self, *exc: object) -> None:
        self.native.set_busy(self.previous)
