"""`tpython log verify`: check each run's hash chain and say exactly what is wrong.

Per run (records of several runs may interleave in one file), in file
order: ``seq`` must count 0, 1, 2…; ``hash`` must be the hash of the
record; ``prev`` must be the previous record's ``hash``. The first
discrepancy at each place is reported with its line, run and seq:

* hash mismatch            -> the record was edited;
* seq jumps ahead          -> records were deleted (or reordered);
* seq goes back / repeats  -> a record was inserted, duplicated or moved;
* prev mismatch, seq right -> a record was replaced (edited and re-hashed).
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, TextIO, Union

from tpython.logs.chain import hash_holds
from tpython.logs.reader import Line, read_lines

MAX_PROBLEMS = 10_000  # problems kept word for word (memory stays bounded); the rest are counted


@dataclass
class RunState:
    """What verify knows about one run so far."""

    run: str
    pid: Optional[int] = None
    next_seq: int = 0
    prev: Optional[str] = None
    records: int = 0
    ended: Optional[int] = None
    problems: list[str] = field(default_factory=list)  # as many as the tracker keeps
    broken: bool = False  # any problem, kept or only counted


def rotation_order(paths: list[str]) -> list[str]:
    """PATHS in the order their records were written: a rotated set (LOG.3, LOG.2,
    LOG.1, LOG, as tpython's rotation names them) oldest first, whatever order they
    were given in; otherwise as given."""
    def parts(path: str) -> tuple[str, int]:
        m = re.fullmatch(r"(.*)\.(\d+)", path)
        return (m.group(1), int(m.group(2))) if m else (path, 0)

    bases: list[str] = []
    for path in paths:
        if parts(path)[0] not in bases:
            bases.append(parts(path)[0])
    return sorted(dict.fromkeys(paths), key=lambda p: (bases.index(parts(p)[0]), -parts(p)[1]))


class ChainTracker:
    """Follows every run's chain line by line; shared by `log verify` and the analysis
    commands, which report the same problems without stopping at them."""

    def __init__(self, max_problems: Optional[int] = None) -> None:
        self.runs: dict[str, RunState] = {}
        self.file_problems: list[str] = []
        self.max_problems = max_problems  # beyond it, problems are only counted
        self.kept = 0
        self.more = 0

    def _note(self, problems: list[str], text: str) -> None:
        if self.max_problems is not None and self.kept >= self.max_problems:
            self.more += 1
            return
        self.kept += 1
        problems.append(text)

    def feed(self, name: str, line: Line) -> Optional[dict[str, Any]]:
        """Check one line (of file NAME, or "" when only one file is read); return its
        record when it is a tpython record, None when the line is not one."""
        rec = line.record
        if rec is None:
            self._note(self.file_problems, f"{_at(name, line)}: {line.problem}")
            return None
        run_id = rec.get("run")
        seq = rec.get("seq")
        if not isinstance(run_id, str) or not isinstance(seq, int) or "hash" not in rec:
            self._note(self.file_problems, f"{_at(name, line)}: not a tpython record (no run/seq/hash)")
            return None
        state = self.runs.get(run_id)
        if state is None:
            state = self.runs[run_id] = RunState(run_id, rec.get("pid"))
        problems = []
        if line.problem:
            problems.append(line.problem)
        if not hash_holds(rec, line.raw):
            problems.append("record edited (its hash does not match its content)")
        if seq > state.next_seq:
            missing = (f"seq {state.next_seq}" if seq == state.next_seq + 1
                       else f"seq {state.next_seq}-{seq - 1}")
            problems.append(f"{missing} missing before it (deleted or moved)")
        elif seq < state.next_seq:
            problems.append(f"out of order (expected seq {state.next_seq}): inserted, duplicated or moved")
        elif rec.get("prev") != state.prev:
            problems.append(f"chain broken: prev does not match the hash of seq {seq - 1} "
                            "(a record was replaced or inserted)")
        state.broken = state.broken or bool(problems)
        for problem in problems:
            self._note(state.problems, f"{_at(name, line)}: run {run_id} seq {seq}: {problem}")
        state.next_seq = max(state.next_seq, seq + 1)
        state.prev = rec["hash"]
        state.records += 1
        if rec.get("event") == "tpython.exit":
            args = rec.get("args")
            state.ended = args.get("status") if isinstance(args, dict) else None
        return rec

    def problems(self) -> list[str]:
        """Every problem kept so far, file-level ones first, and a count of the rest."""
        kept = self.file_problems + [p for state in self.runs.values() for p in state.problems]
        return kept + ([f"... and {self.more} more problems"] if self.more else [])


def _at(name: str, line: Line) -> str:
    return f"{name}:{line.number}" if name else f"line {line.number}"


def log_lines(paths: Union[str, list[str]]) -> Iterator[tuple[str, Line]]:
    """Every line of PATHS (a rotated set in writing order), with the name of its
    file when there are several ("" when there is one)."""
    files = rotation_order([paths] if isinstance(paths, str) else list(paths))
    for name in files:
        label = name if len(files) > 1 else ""
        for line in read_lines(name):
            yield label, line


def verify_log(paths: Union[str, list[str]], out: TextIO = sys.stdout) -> int:
    """Print a report; return 0 when every chain holds, 1 otherwise. Several files
    (a rotated set) are read as one log, in the order :func:`rotation_order` gives."""
    files = rotation_order([paths] if isinstance(paths, str) else list(paths))
    tracker = ChainTracker(MAX_PROBLEMS)
    for at, line in log_lines(files):
        tracker.feed(at, line)
    runs, file_problems = tracker.runs, tracker.file_problems
    failed = bool(file_problems) or any(s.broken for s in runs.values())
    for problem in file_problems:
        print(f"FAIL {problem}", file=out)
    for state in runs.values():
        status = "FAIL" if state.broken else "ok"
        ending = (f"ended with status {state.ended}" if state.ended is not None
                  else "no tpython.exit (still running, killed, forked worker, or truncated)")
        print(f"{status:4} run {state.run} pid {state.pid}: {state.records} records, {ending}", file=out)
        for problem in state.problems:
            print(f"     {problem}", file=out)
    if tracker.more:
        print(f"FAIL ... and {tracker.more} more problems (the first {MAX_PROBLEMS} are shown)", file=out)
    if not runs and not file_problems:
        print(f"FAIL {', '.join(files)}: no records", file=out)
        return 1
    return 1 if failed else 0
