"""`tpython report`: what happened in a set of runs, summarised.

One pass over the logs fills bounded tables (see :mod:`.bounded`); the
result is plain data (``--json``) that the terminal and HTML renderers
both draw from, so the three show the same tables. Counts are of events:
a record counts once, a ``tpython.repeats`` item as often as it says.
"""
from __future__ import annotations

from typing import Any, Optional, Union

from tpython.analysis.bounded import Group, Table, Timeline
from tpython.analysis.generalise import Places
from tpython.analysis.observe import DYNAMIC_CODE, Observation, category_of, code_digest, program_run
from tpython.analysis.stream import LogStream

DENIALS = ("deny", "kill")
MAX_RUNS = 1000
MAX_DROPPED = 100_000
LOOKUPS = frozenset({"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo"})


def refused(ask_record: dict[str, Any]) -> bool:
    """Whether an `ask` record denied: anything but a yes, once asked (audit mode: "not-asked")."""
    return ask_record.get("answer") not in ("yes", "not-asked")


def _short(value: Any, limit: int = 160) -> str:
    import json

    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[:limit - 1] + "…"


class RunInfo:
    """One process run: its start and end records and what it did."""

    __slots__ = ("run", "pid", "parent", "argv", "policy", "mode", "cwd", "first", "last",
                 "records", "repeats", "status", "denials")

    def __init__(self, run: str, pid: Any) -> None:
        self.run, self.pid = run, pid
        self.parent: Optional[str] = None
        self.argv: list[Any] = []
        self.policy = self.mode = self.cwd = None
        self.first = self.last = ""
        self.records = self.repeats = self.denials = 0
        self.status: Optional[int] = None

    def as_dict(self) -> dict[str, Any]:
        """The run as plain data."""
        return {k: getattr(self, k) for k in self.__slots__}


class Report:
    """Everything `tpython report` shows, gathered one record at a time."""

    def __init__(self) -> None:
        self.runs: dict[str, RunInfo] = {}
        self.runs_dropped: set[str] = set()  # runs past MAX_RUNS (ids kept up to MAX_DROPPED)
        self._popen_pending: set[str] = set()  # runs whose last process event was subprocess.Popen
        self.records = 0  # lines of the logs
        self.repeats = 0  # occurrences counted in tpython.repeats summaries
        self.categories: dict[str, int] = {}
        self.events: dict[str, int] = {}
        self.denials: Table[Group] = Table(Group)
        self.network: Table[Group] = Table(Group)
        self.programs: Table[Group] = Table(Group)
        self.writes: Table[Group] = Table(Group)
        self.code: Table[Group] = Table(Group)
        self.integrity: Table[Group] = Table(Group)
        self.timeline = Timeline()

    def _run(self, obs: Observation, record: dict[str, Any]) -> Optional[RunInfo]:
        info = self.runs.get(obs.run)
        if info is None:
            if len(self.runs) >= MAX_RUNS:
                if len(self.runs_dropped) < MAX_DROPPED:
                    self.runs_dropped.add(obs.run)
                return None
            info = self.runs[obs.run] = RunInfo(obs.run, record.get("pid"))
            info.first = obs.ts
        return info

    def add(self, obs: Observation, record: dict[str, Any], places: Places) -> None:
        """Take one record into account, as many times as it happened (``obs.times``)."""
        n = obs.times
        if obs.summarised:
            self.repeats += n
        else:
            self.records += 1
        event = obs.event
        self.categories[obs.category] = self.categories.get(obs.category, 0) + n
        if event in self.events or len(self.events) < 5000:
            self.events[event] = self.events.get(event, 0) + n
        self.timeline.add(obs.category, obs.ts, n)
        info = self._run(obs, record)
        if info is not None:
            if obs.summarised:
                info.repeats += n
            else:
                info.records += 1
            info.last = obs.ts
        args = record.get("args")
        if event == "tpython.start" and info is not None and isinstance(args, dict):
            policy = args["policy"] if isinstance(args.get("policy"), dict) else {}
            info.parent, info.argv, info.cwd = args.get("parent_run"), args.get("argv") or [], args.get("cwd")
            info.policy, info.mode = policy.get("name"), policy.get("mode")
        elif event == "tpython.exit" and isinstance(args, dict):
            if info is not None:
                info.status = args.get("status")
            counted = args.get("counted")
            if isinstance(counted, dict):
                for name, n in counted.items():
                    if isinstance(n, int):
                        self.events[name] = self.events.get(name, 0) + n
                        cat = category_of(name)
                        self.categories[cat] = self.categories.get(cat, 0) + n
        if obs.action in DENIALS or obs.action == "ask" and refused(record):
            if info is not None:
                info.denials += n
            group = self.denials.get((event, obs.rule, obs.module, obs.action, obs.enforced), n)
            if group is not None:
                group.add(obs.module, obs.run, obs.action, obs.ts, _short(args), n)
        if obs.host is not None:
            kind = "bind" if event == "socket.bind" else "lookup" if event in LOOKUPS else "connect"
            group = self.network.get((obs.host, obs.port, kind), n)
            if group is not None:
                group.add(obs.module, obs.run, obs.action, obs.ts, event, n)
        if obs.programs and not self._same_process(obs):
            group = self.programs.get(program_run(obs), n)
            if group is not None:
                group.add(obs.module, obs.run, obs.action, obs.ts, _short(args), n)
        if obs.written:
            for path in obs.written:
                if not places.in_work_area(path):
                    group = self.writes.get(path, n)
                    if group is not None:
                        group.add(obs.module, obs.run, obs.action, obs.ts, event, n)
        code = code_digest(obs, args) if event in DYNAMIC_CODE else None
        if code is not None:
            group = self.code.get((event, obs.module, code[0]), n)
            if group is not None:
                group.add(obs.module, obs.run, obs.action, obs.ts, _short(code[1], 120), n)
        if event == "tpython.integrity":
            detail = args if isinstance(args, dict) else {}
            group = self.integrity.get((str(detail.get("path")), str(detail.get("reason"))), n)
            if group is not None:
                group.add(obs.module, obs.run, obs.action, obs.ts, _short(args), n)

    def _same_process(self, obs: Observation) -> bool:
        """True for the fork_exec that carries out the subprocess.Popen just seen (one
        program run, two events); a fork_exec on its own is a program of its own."""
        if obs.event == "subprocess.Popen":
            self._popen_pending.add(obs.run)
            return False
        if obs.event == "_posixsubprocess.fork_exec" and obs.run in self._popen_pending:
            self._popen_pending.discard(obs.run)
            return True
        self._popen_pending.discard(obs.run)
        return False

    def as_dict(self, problems: list[str], files: list[str]) -> dict[str, Any]:
        """The whole report as plain data."""
        def rows(table: Table[Group], key_names: tuple[str, ...]) -> dict[str, Any]:
            items = sorted(table.groups.items(), key=lambda kv: -kv[1].count)
            return {"rows": [dict(zip(key_names, key if isinstance(key, tuple) else (key,)), **g.as_dict())
                             for key, g in items],
                    "more_records": table.dropped}

        top: dict[str, list[tuple[str, int]]] = {}
        for name, n in sorted(self.events.items(), key=lambda kv: -kv[1]):
            bucket = top.setdefault(category_of(name), [])
            if len(bucket) < 5:
                bucket.append((name, n))
        return {
            "files": files,
            "records": self.records,
            "repeats": self.repeats,
            "runs": [info.as_dict() for info in self.runs.values()],
            "more_runs": len(self.runs_dropped),
            "categories": [{"category": c, "count": n, "top": top.get(c, [])}
                           for c, n in sorted(self.categories.items(), key=lambda kv: -kv[1])],
            "denials": rows(self.denials, ("event", "rule", "module", "action", "enforced")),
            "network": rows(self.network, ("host", "port", "kind")),
            "programs": rows(self.programs, ("program",)),
            "writes_outside": rows(self.writes, ("path",)),
            "dynamic_code": rows(self.code, ("event", "module", "code")),
            "integrity": rows(self.integrity, ("path", "reason")),
            "problems": problems,
            "timeline": self.timeline.as_dict(),
        }


def build_report(paths: Union[str, list[str]]) -> dict[str, Any]:
    """Read PATHS once and return the report as plain data."""
    stream = LogStream(paths)
    report = Report()
    for obs, record in stream:
        report.add(obs, record, stream.places(obs.run))
    return report.as_dict(stream.problems(), stream.paths)
