"""Turn decisions into chained records and hand them to every sink.

Records are numbered per run and chained by hash (see
:mod:`tpython.logs.chain`). A sink that fails does not stop the others;
the failure is reported once on stderr and counted, and the next record
that reaches that sink carries the count in ``lost``. So do records a sink
learns later were lost (UDP datagrams that came back refused): they are
asked for before each record is made.

Sinks raise no audit events of their own (see :mod:`tpython.sinks.link`);
a record made while a sink is being written (a signal handler or a
finaliser of the program running then) is queued and written right after.
"""
from __future__ import annotations

import _thread
import os
import time

from tpython.logs.chain import rfc3339, seal
from tpython.sinks.interface import Sink

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, ContextManager, Optional


class _NoContext:
    """A `with` block that does nothing (contextlib, and what it imports, is not loaded at start)."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


NO_CONTEXT = _NoContext()


def new_run_id() -> str:
    """A random id for one process run."""
    return os.urandom(8).hex()


class Recorder:
    """Numbers, chains and writes records; thread-safe and fork-aware."""

    def __init__(self, sinks: list[Sink], warn_fd: int) -> None:
        self.sinks = sinks
        self.warn_fd = warn_fd
        self.run = new_run_id()
        self.pid = os.getpid()
        self.seq = 0
        self.prev: Optional[str] = None
        self.lost: dict[str, int] = {}
        self.lost_total: dict[str, int] = {}
        self.late_warned: set[str] = set()
        self.deferred: list[tuple[int, Callable[[], None]]] = []  # see defer()
        self.written = 0
        self.lock = _thread.allocate_lock()
        self.writer: Optional[int] = None  # the thread writing to the sinks, while it does
        self.pending: list[tuple[dict[str, Any], bytes]] = []
        self.last_delivered: Optional[int] = None  # sinks that took the last record (None: queued)

    def restart_after_fork(self) -> str:
        """In a forked child: a new run, numbered from 0. Returns the parent's run id."""
        parent = self.run
        self.lock = _thread.allocate_lock()
        self.writer = None
        self.pending = []
        self.run = new_run_id()
        self.pid = os.getpid()
        self.seq = 0
        self.prev = None
        self.lost = {}
        self.lost_total = {}
        self.late_warned = set()
        self.deferred = []
        self.written = 0
        return parent

    def emit(
        self,
        event: str,
        args: Any,
        action: str,
        *,
        enforced: bool = True,
        rule: Optional[str] = None,
        module: Optional[str] = None,
        package: Optional[dict[str, str]] = None,
        extra: Optional[dict[str, Any]] = None,
    ) -> None:
        """Build, seal and write one record."""
        with self.held():
            self.collect_late(self.sinks)
            record: dict[str, Any] = {
                "ts": rfc3339(time.time()), "seq": self.seq, "run": self.run, "pid": self.pid,
                "event": event, "args": args, "action": action, "enforced": enforced,
                "rule": rule, "module": module, "package": package,
            }
            if extra:
                record.update(extra)
            if self.lost:
                record["lost"] = dict(self.lost)
            record["prev"] = self.prev
            line = seal(record)
            self.seq += 1
            self.prev = record["hash"]
            self.written += 1
            self.last_delivered = self.deliver(self.sinks, record, line)
        if self.deferred:
            self.run_deferred()

    def defer(self, action: Callable[[], None]) -> None:
        """Run ACTION in this thread once the record it is writing is written: for a signal
        handler that came in the middle of one (tpython.launcher.signals), where taking
        the lock this thread holds would never end."""
        self.deferred.append((_thread.get_ident(), action))

    def run_deferred(self) -> None:
        """After a record: what this thread deferred, unless it is writing one still."""
        ident = _thread.get_ident()
        if self.writer == ident:
            return
        for entry in [entry for entry in self.deferred if entry[0] == ident]:
            self.deferred.remove(entry)
            entry[1]()

    def held(self) -> ContextManager[Any]:
        """The recorder's lock, unless this thread holds it already to write to the sinks:
        a sink's own system calls (a syslog or journald socket) are audit events too,
        and their records must neither deadlock nor recurse (see :meth:`deliver`)."""
        if self.writer == _thread.get_ident():
            return NO_CONTEXT
        return self.lock

    def deliver(self, sinks: list[Sink], record: dict[str, Any], line: bytes) -> Optional[int]:
        """Write RECORD to SINKS; returns how many took it. Records made while a sink is
        being written (events the sink itself raises) are queued and written right after,
        in order (None is returned for those)."""
        self.pending.append((record, line))
        if self.writer == _thread.get_ident():
            return None
        self.writer = _thread.get_ident()
        delivered: Optional[int] = None
        try:
            while self.pending:
                queued, queued_line = self.pending.pop(0)
                took = self._write(sinks, queued, queued_line)
                if queued is record:
                    delivered = took
        finally:
            self.writer = None
        return delivered

    def _write(self, sinks: list[Sink], record: dict[str, Any], line: bytes) -> int:
        """LINE to each of SINKS; a failure is counted, a success clears the sink's count.
        Returns how many sinks took it."""
        took = 0
        for sink in sinks:
            try:
                sink.write(record, line)
            except OSError as exc:
                self._sink_failed(sink, exc)
            else:
                self.lost.pop(sink.name, None)
                took += 1
        return took

    def collect_late(self, sinks: list[Sink]) -> None:
        """Count what SINKS learned since was lost of the records they took."""
        for sink in sinks:
            late = sink.late_losses()
            if late:  # said once a run: for UDP, a send that succeeds ends no outage
                first = sink.name not in self.late_warned
                self.late_warned.add(sink.name)
                self._count_lost(sink, late, "records sent to it came back refused (ICMP)", first)

    def all_lost(self) -> dict[str, int]:
        """Records each sink missed since it last wrote one."""
        with self.held():
            self.collect_late(self.sinks)
            return dict(self.lost)

    def lost_in_run(self) -> dict[str, int]:
        """Records each sink missed in this run, recovered since or not."""
        with self.held():
            self.collect_late(self.sinks)
            return dict(self.lost_total)

    def _sink_failed(self, sink: Sink, exc: OSError) -> None:
        self._count_lost(sink, 1, str(exc), sink.name not in self.lost)

    def _count_lost(self, sink: Sink, n: int, reason: str, first: bool) -> None:
        """N more records SINK lost; the first of an outage is said on stderr (REASON)."""
        self.lost[sink.name] = self.lost.get(sink.name, 0) + n
        self.lost_total[sink.name] = self.lost_total.get(sink.name, 0) + n
        if first:
            msg = f"tpython: cannot write to {sink.name}: {reason}; counting lost records\n"
            try:
                os.write(self.warn_fd, msg.encode("utf-8", "replace"))
            except OSError:
                pass

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
