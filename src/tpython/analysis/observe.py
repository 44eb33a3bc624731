"""What one log record says a program did, in the terms report, learn and diff share.

The engine decides on an event's live arguments; a log holds them rendered
(tuples as lists, objects as ``"<class ...>"`` text). :func:`observe` turns
the rendered arguments back into the plain values the engine's own fact
extractors (:mod:`tpython.engine.facts`) read, so a destination, a program
or a written path means the same thing here as in a rule condition.
"""
from __future__ import annotations

import os
import urllib.parse
from typing import Any, NamedTuple, Optional

from tpython.engine import facts
from tpython.engine.eventargs import PATH_ARGS, WRITE_EVENTS
from tpython.policy.catalog import EVENTS

facts.trust_urllib_parse(urllib.parse)  # logged URLs read here, in tpython's own process

# Events that can run code made from a string rather than imported from a file
# (marshal.loads is left out: imports raise it for every .pyc they load).
DYNAMIC_CODE = frozenset({"compile", "exec", "code.__new__"})
NETWORK_EVENTS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind",
                            "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
                            "socket.getnameinfo", "http.client.connect", "ftplib.connect",
                            "smtplib.connect", "poplib.connect", "imaplib.open", "nntplib.connect",
                            "telnetlib.Telnet.open", "urllib.Request"})
PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                            "_posixsubprocess.fork_exec", "pty.spawn"})


class Observation(NamedTuple):
    """One record, read: who did what, to which object."""

    run: str
    event: str
    category: str
    action: str
    enforced: bool
    rule: Optional[str]
    module: Optional[str]
    ts: str
    host: Optional[str] = None
    port: Optional[int] = None
    programs: tuple[str, ...] = ()   # as named, then as resolved on PATH
    written: tuple[str, ...] = ()    # absolute paths the event writes, creates or removes
    read: tuple[str, ...] = ()       # absolute paths opened for reading
    times: int = 1                   # how often it happened: 1, or an item's count in a tpython.repeats summary
    summarised: bool = False         # True: no line of the log, but repeats a summary counted


def program_run(obs: Observation) -> Optional[str]:
    """The program an observed process event runs: the first candidate that is an
    executable file here (as exec*p picks it), else the first name given."""
    for name in obs.programs:
        if "/" in name and os.path.isfile(name) and os.access(name, os.X_OK):
            return name
    return obs.programs[0] if obs.programs else None


def code_digest(obs: Observation, args: Any) -> Optional[tuple[str, str]]:
    """(sha256 or code name, excerpt) when the record is dynamic code: a compiled
    string, or code executed that no file holds; None otherwise."""
    if obs.event not in DYNAMIC_CODE or not isinstance(args, list) or not args:
        return None
    first = args[0]
    if len(args) > 1 and isinstance(args[1], str) and not args[1].startswith("<"):
        return None  # compiling a file's source: the main script, runpy
    if isinstance(first, dict) and "sha256" in first:
        return str(first["sha256"]), str(first.get("excerpt", ""))
    code = first.get("code") if isinstance(first, dict) else None
    if isinstance(code, dict) and str(code.get("file", "")).startswith("<"):
        return f"{code.get('file')}:{code.get('name')}", ""
    return None


def revive(value: Any) -> Any:
    """Rendered arguments back to plain values: JSON lists become tuples."""
    if isinstance(value, list):
        return tuple(revive(v) for v in value)
    return value


def category_of(event: str) -> str:
    """The catalog category, ``tpython`` for tpython's own events, else ``other``."""
    if event.startswith("tpython."):
        return "tpython"
    info = EVENTS.get(event)
    return info.category if info is not None else "other"


def _paths(event: str, args: Any, cwd: str) -> list[str]:
    found = []
    for pos, _ in PATH_ARGS.get(event, ()):
        value = args[pos] if pos < len(args) else None
        if isinstance(value, str) and value and not value.startswith("<"):
            found.append(os.path.normpath(os.path.join(cwd, value)))
    return found


def observe(record: dict[str, Any], cwd: str = "/") -> Observation:
    """Read RECORD; CWD is its run's working directory (from ``tpython.start``)."""
    event = record.get("event")
    if not isinstance(event, str):
        event = str(event)
    info = EVENTS.get(event)
    category = info.category if info is not None else category_of(event)
    head = (str(record.get("run", "")), event, category, str(record.get("action", "")),
            record.get("enforced") is not False, record.get("rule"), record.get("module"), str(record.get("ts", "")))
    if event not in _DETAILED:
        return Observation(*head)
    raw_args = record.get("args")
    if not isinstance(raw_args, list):
        raw_args = []
    if event in NETWORK_EVENTS:  # the engine's fact extractors want tuples, as live arguments are
        host, port = facts.event_host_port(event, revive(raw_args))
        return Observation(*head, host, port)
    if event in PROCESS_EVENTS:
        try:
            programs = facts.event_executables(event, revive(raw_args)) or []
        except (TypeError, ValueError, IndexError):
            programs = []
        return Observation(*head, None, None, tuple(dict.fromkeys(programs)))
    paths = tuple(_paths(event, raw_args, cwd))  # paths and open modes: indexing is all they need
    try:
        writes = event in WRITE_EVENTS or facts.is_write(event, tuple(raw_args))
    except (TypeError, IndexError):
        writes = False
    return Observation(*head, None, None, (), paths, ()) if writes else Observation(*head, None, None, (), (), paths)


_DETAILED = NETWORK_EVENTS | PROCESS_EVENTS | frozenset(PATH_ARGS)
