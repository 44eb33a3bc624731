"""`tpython log show`: records in a readable form, filtered, optionally followed."""
from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timedelta, timezone
from fnmatch import fnmatchcase
from typing import Any, Iterator, Optional, Sequence, TextIO

from tpython.analysis.repeats import REPEATS, expand_repeats
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


def _columns(record: dict[str, Any]) -> str:
    ts = str(record.get("ts", ""))
    return f"{ts[:10]} {ts[11:26]:<15} {str(record.get('run', ''))[:RUN_WIDTH]:<{RUN_WIDTH}}"


def format_row(record: dict[str, Any]) -> str:
    """One record as `log show` prints it: date and time (UTC), run, then the record."""
    if record.get("event") == REPEATS and isinstance(record.get("args"), dict):
        return f"{_columns(record)} {_repeats_body(record)}"
    return f"{_columns(record)} {format_body(record)}"


def _repeats_body(summary: dict[str, Any]) -> str:
    """A tpython.repeats summary's own line: how many records repeated, how often in all."""
    items = list(expand_repeats(summary))
    body = (f"[{summary.get('action', '?')}] {REPEATS}: {len(items)} record(s) repeated "
            f"{sum(n for _, n in items)} more time(s)")
    untracked = summary["args"].get("untracked")
    if isinstance(untracked, int) and untracked:
        body += f"; {untracked} record(s) written in full, not tracked"
    return body


def format_repeat(repeated: dict[str, Any], count: int) -> str:
    """One item of a tpython.repeats summary: ``+COUNT event args  rule=… module=…  (place)``,
    under the summary's date, time and run."""
    body = format_body(repeated).split(" ", 1)[1]  # without "[log]": a summary counts only `log` records
    place = repeated.get("place")
    where = f"  ({place})".replace("\n", "\\n") if isinstance(place, str) and place else ""
    return f"{_columns(repeated)}   +{count} {body}{where}"


def show_log(path: str, *, event: Optional[str] = None, actions: Optional[Sequence[str]] = None,
             module: Optional[str] = None, run: Optional[str] = None, since: Optional[str] = None,
             until: Optional[str] = None, as_json: bool = False, follow: bool = False,
             out: TextIO = sys.stdout) -> int:
    """Print matching records; bad lines are reported on stderr and skipped. With
    FOLLOW, keep printing records appended to PATH (across rotations) until interrupted.
    A tpython.repeats summary is followed by one line per record it counts repeats of;
    filters pick those items as records of their own (action `log`, the summary's time
    and run), so a summary whose items match is shown with the items that match."""
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
        record = line.record
        whole = keep(record)
        repeats = ([(r, n) for r, n in expand_repeats(record) if whole or keep(r)]
                   if record.get("event") == REPEATS else [])
        if as_json and (whole or repeats):  # a summary also when some of its items match
            print(json.dumps(record, ensure_ascii=False), file=out)
        elif not as_json:
            if whole:
                print(format_row(record), file=out)
            for repeated, count in repeats:
                print(format_repeat(repeated, count), file=out)
    return 1 if bad else 0
