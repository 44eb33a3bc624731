"""`tpython log show`: records in a readable form, filtered."""
from __future__ import annotations

import json
import sys
from fnmatch import fnmatchcase
from typing import Any, Optional, Sequence, TextIO

from tpython.errors import UsageError
from tpython.logs.reader import read_lines
from tpython.sinks.stderr import format_line


def _norm_time(text: Optional[str], name: str) -> Optional[str]:
    """RFC 3339 times compare as text once both are UTC with the same layout."""
    if text is None:
        return None
    from datetime import datetime, timezone

    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--{name}: not an RFC 3339 time: {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def show_log(path: str, *, event: Optional[str] = None, actions: Optional[Sequence[str]] = None,
             module: Optional[str] = None, run: Optional[str] = None, since: Optional[str] = None,
             until: Optional[str] = None, as_json: bool = False, out: TextIO = sys.stdout) -> int:
    """Print matching records; bad lines are reported on stderr and skipped."""
    since_n, until_n = _norm_time(since, "since"), _norm_time(until, "until")

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

    bad = 0
    for line in read_lines(path):
        if line.record is None:
            bad += 1
            print(f"tpython: {path}:{line.number}: {line.problem}", file=sys.stderr)
            continue
        if keep(line.record):
            text = json.dumps(line.record, ensure_ascii=False) if as_json else format_line(line.record)
            print(text.removeprefix("tpython: ") if hasattr(text, "removeprefix") else text, file=out)
    return 1 if bad else 0
