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
from typing import Optional, TextIO, Union

from tpython.logs.chain import expected_hash
from tpython.logs.reader import read_lines


@dataclass
class RunState:
    """What verify knows about one run so far."""

    run: str
    pid: Optional[int] = None
    next_seq: int = 0
    prev: Optional[str] = None
    records: int = 0
    ended: Optional[int] = None
    problems: list[str] = field(default_factory=list)


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


def verify_log(paths: Union[str, list[str]], out: TextIO = sys.stdout) -> int:
    """Print a report; return 0 when every chain holds, 1 otherwise. Several files
    (a rotated set) are read as one log, in the order :func:`rotation_order` gives."""
    files = rotation_order([paths] if isinstance(paths, str) else list(paths))
    path = ", ".join(files)
    runs: dict[str, RunState] = {}
    file_problems: list[str] = []
    for name, line in ((f, line) for f in files for line in read_lines(f)):
        at = f"{name}:{line.number}" if len(files) > 1 else f"line {line.number}"
        rec = line.record
        if rec is None:
            file_problems.append(f"{at}: {line.problem}")
            continue
        run_id = rec.get("run")
        seq = rec.get("seq")
        if not isinstance(run_id, str) or not isinstance(seq, int) or "hash" not in rec:
            file_problems.append(f"{at}: not a tpython record (no run/seq/hash)")
            continue
        state = runs.setdefault(run_id, RunState(run_id, rec.get("pid")))
        where = f"{at}: run {run_id} seq {seq}"
        if line.problem:
            state.problems.append(f"{where}: {line.problem}")
        if expected_hash(rec) != rec["hash"]:
            state.problems.append(f"{where}: record edited (its hash does not match its content)")
        if seq > state.next_seq:
            missing = (f"seq {state.next_seq}" if seq == state.next_seq + 1
                       else f"seq {state.next_seq}-{seq - 1}")
            state.problems.append(f"{where}: {missing} missing before it (deleted or moved)")
        elif seq < state.next_seq:
            state.problems.append(f"{where}: out of order (expected seq {state.next_seq}): "
                                  "inserted, duplicated or moved")
        elif rec.get("prev") != state.prev:
            state.problems.append(f"{where}: chain broken: prev does not match the hash of seq {seq - 1} "
                                  "(a record was replaced or inserted)")
        state.next_seq = max(state.next_seq, seq + 1)
        state.prev = rec["hash"]
        state.records += 1
        if rec.get("event") == "tpython.exit":
            args = rec.get("args")
            state.ended = args.get("status") if isinstance(args, dict) else None
    failed = bool(file_problems) or any(s.problems for s in runs.values())
    for problem in file_problems:
        print(f"FAIL {problem}", file=out)
    for state in runs.values():
        status = "FAIL" if state.problems else "ok"
        ending = (f"ended with status {state.ended}" if state.ended is not None
                  else "no tpython.exit (still running, killed, forked worker, or truncated)")
        print(f"{status:4} run {state.run} pid {state.pid}: {state.records} records, {ending}", file=out)
        for problem in state.problems:
            print(f"     {problem}", file=out)
    if not runs and not file_problems:
        print(f"FAIL {path}: no records", file=out)
        return 1
    return 1 if failed else 0
