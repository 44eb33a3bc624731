"""The run's recorder: the chain and the JSONL files are C's.

:class:`NativeRecorder` keeps the :class:`~tpython.engine.recorder.Recorder`
interface. Records are numbered, hashed and written to the JSONL files by
``tpython._native`` (so records C writes itself, and records from
subinterpreters, share the chain). The other sinks (stderr, syslog, journald)
are written here: from the line C returns for a record Python made, and, for
a record C decided and wrote itself, from the line C hands to :meth:`feed`
afterwards (C's decision is taken by then; the feed can change nothing but
those sinks' delivery counts). Their losses go back to C, to be carried in
the next record.
"""
from __future__ import annotations

from tpython.engine.recorder import Recorder
from tpython.jsontext import dumps
from tpython.sinks.interface import Sink
from tpython.sinks.jsonl import JsonlSink

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional


class NativeRecorder(Recorder):
    """A Recorder whose chain state and file writes live in C."""

    def __init__(self, sinks: list[Sink], warn_fd: int, native: Any) -> None:
        super().__init__(sinks, warn_fd)
        self.native = native
        self.c_sinks = [s for s in sinks if isinstance(s, JsonlSink)]
        self.py_sinks = [s for s in sinks if not isinstance(s, JsonlSink)]
        # Python sinks take records as dicts: C's line parsed again (json is loaded
        # here, before the hooks, and only when such a sink is configured).
        self.parse: Optional[Callable[[bytes], dict[str, Any]]] = None
        if self.py_sinks:
            import json

            self.parse = json.loads
        native.chain_start(self.run, self.pid, [(s.fd, s.name, s.path, s.rotate_bytes, s.keep) for s in self.c_sinks],
                           warn_fd, self.feed if self.py_sinks else None)

    def feed(self, line: bytes) -> tuple[int, dict[str, int]]:
        """A record C decided and wrote: to the Python sinks. Returns how many took it
        and their lost counts (for C's next record). Called by C only, GIL held."""
        assert self.parse is not None
        with self.held():
            took = self.deliver(self.py_sinks, self.parse(line), line)
            self.collect_late(self.py_sinks)  # after: C sealed this line; the next record carries them
            # None: queued behind a sink write in progress in this thread, written right after it
            result = (len(self.py_sinks) if took is None else took), dict(self.lost)
        if self.deferred:
            self.run_deferred()
        return result

    @property
    def written(self) -> int:
        return int(self.native.chain_state()["written"])

    @written.setter
    def written(self, value: int) -> None:  # the base class initialises it; C counts
        pass

    def all_lost(self) -> dict[str, int]:
        """Records each sink missed since it last wrote one."""
        return {**self.native.chain_state()["lost"], **super().all_lost()}

    def lost_in_run(self) -> dict[str, int]:
        return {**self.native.chain_state()["lost_total"], **super().lost_in_run()}

    def restart_after_fork(self) -> str:
        parent = super().restart_after_fork()
        self.native.chain_restart(self.run, self.pid)
        return parent

    def emit(self, event: str, args: Any, action: str, *, enforced: bool = True, rule: Optional[str] = None,
             module: Optional[str] = None, package: Optional[dict[str, str]] = None,
             extra: Optional[dict[str, Any]] = None) -> None:
        extra_text = "".join(f",{dumps(k)}:{dumps(v)}" for k, v in extra.items()) if extra else ""
        with self.held():
            self.collect_late(self.py_sinks)
            py_lost = ",".join(f"{dumps(name)}:{n}" for name, n in self.lost.items())
            line, _, _, in_files = self.native.chain_record(event, dumps(args).encode("ascii"), action, enforced,
                                                            rule, dumps(module), dumps(package), extra_text, py_lost)
            if self.parse is None:
                self.last_delivered = in_files
            else:
                by_python = self.deliver(self.py_sinks, self.parse(line), line)
                self.last_delivered = None if by_python is None else in_files + by_python
        if self.deferred:
            self.run_deferred()
