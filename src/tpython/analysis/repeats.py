"""`tpython.repeats` summaries: the records they stand for, and how often each happened.

tpython writes a repeated `log` record once per run and counts later
occurrences in `tpython.repeats` records (src/tpython/native/repeats.c). This is
the one reading of those summaries: analysis weighs each item by its count
(:class:`.stream.LogStream`), `tpython log show` prints one line per item.
"""
from __future__ import annotations

from typing import Any, Iterator

REPEATS = "tpython.repeats"


def expand_repeats(summary: dict[str, Any]) -> Iterator[tuple[dict[str, Any], int]]:
    """The records a ``tpython.repeats`` SUMMARY stands for, each with how many more
    times it happened: every item as the record it repeats (action ``log``, enforced,
    at the summary's time, run and pid) and its count. Items of the wrong shape (a
    damaged or hand-written log) are skipped."""
    args = summary.get("args")
    items = args.get("repeats") if isinstance(args, dict) else None
    if not isinstance(items, list):
        return
    for item in items:
        if not isinstance(item, dict):
            continue
        count, event = item.get("count"), item.get("event")
        if type(count) is not int or count <= 0 or not isinstance(event, str) or event == REPEATS:
            continue
        record = {"ts": summary.get("ts"), "seq": item.get("seq"), "run": summary.get("run"),
                  "pid": summary.get("pid"), "event": event, "args": item.get("args"), "action": "log",
                  "enforced": True, "rule": item.get("rule"), "module": item.get("module"),
                  "package": item.get("package"), "place": item.get("place")}
        if item.get("subinterpreter") is True:
            record["subinterpreter"] = True
        yield record, count
