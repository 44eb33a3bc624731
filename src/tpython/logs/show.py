"""`tpython log show`: records in a readable form, filtered, optionally followed."""
from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timedelta, timezone
from fnmatch import fnmatchcase
from typing import Any, Iterator, Optional, Sequence, TextIO

from tpython.errors import UsageError
from tpython.logs.reader import Line, follow_lines, read_lines
from tpython.sinks.stderr import format_body

RUN_WIDTH = 8  # hex digits of the run id shown; `--run` takes any prefix
TIME_FORMS = ("RFC 3339 (2026-11-27T20:00:00Z), a date (2026-11-27), 'today', 'yesterday', "
              "or an age (90s, 15m, 1h, 2d, 1w)")
_AGE = re.compile(r"(\d+)\s*(s|m|h|d|w)(?:\s+ago)?")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, name: str, now: Optional[datetime] = None) -> str:
    """TEXT as the RFC 3339 UTC form records carry, so it compares with ``ts`` as text.
    Ages count back from NOW; dates, ``today`` and ``yesterday`` are midnight UTC (the
    times records carry and `log show` prints are UTC); a time without an offset is UTC."""
    now = now or datetime.now(timezone.utc)
    word = text.strip().lower()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    age = _AGE.fullmatch(word)
    if age:
        when = now - timedelta(seconds=int(age.group(1)) * _UNITS[age.group(2)])
    elif word in ("today", "yesterday", "now"):
        when = {"today": midnight, "yesterday": midnight - timedelta(days=1), "now": now}[word]
    else:
        try:
            when = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise UsageError(f"--{name}: not a time: {text!r} (expected {TIME_FORMS})") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_row(record: dict[str, Any]) -> str:
    """One record as `log show` prints it: date and time (UTC), run, then the record."""
    ts = str(record.get("ts", ""))
    return f"{ts[:10]} {ts[11:26]:<15} {str(record.get('run', ''))[:RUN_WIDTH]:<{RUN_WIDTH}} {format_body(record)}"


def show_log(path: str, *, event: Optional[str] = None, actions: Optional[Sequence[str]] = None,
             module: Optional[str] = None, run: Optional[str] = None, since: Optional[str] = None,
             until: Optional[str] = None, as_json: bool = False, follow: bool = False,
             out: TextIO = sys.stdout) -> int:
    """Print matching records; bad lines are reported on stderr and skipped. With
    FOLLOW, keep printing records appended to PATH (across rotations) until interrupted."""
    since_n = parse_time(since, "since") if since is not None else None
    until_n = parse_time(until, "until") if until is not None else None

    def keep(rec: dict[str, Any]) -> bool:
        if event and not fnmatchcase(str(rec.get("event", "")), event):
            return False
        if actions and rec.get("action") not in actions:
            return False
        if module and not fnmatchcase(str(rec.get("module") or ""), module):
            return False
        if run and not str(rec.get("run", "")).startswith(run):
            return False
        ts = str(rec.get("ts", ""))
        if since_n and ts < since_n:
            return False
        return not (until_n and ts > until_n)

    lines: Iterator[tuple[str, Line]]
    lines = follow_lines(path, out.flush) if follow else ((path, line) for line in read_lines(path))
    bad = 0
    for name, line in lines:
        if line.record is None:
            bad += 1
            print(f"tpython: {name}:{line.number}: {line.problem}", file=sys.stderr)
            continue
        if keep(line.record):
            print(json.dumps(line.record, ensure_ascii=False) if as_json else format_row(line.record), file=out)
    return 1 if bad else 0
