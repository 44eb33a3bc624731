"""Stream records from JSONL logs, one at a time, reporting bad lines instead of failing."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from tpython.errors import LogFileError


@dataclass
class Line:
    """One line of a log: its number, and the record or why there is none."""

    number: int
    record: Optional[dict[str, Any]]
    problem: Optional[str] = None
    raw: bytes = b""


def read_lines(path: str) -> Iterator[Line]:
    """Yield every line of PATH; unreadable lines carry a problem instead of a record."""
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise LogFileError(f"cannot read log {path}: {exc.strerror}") from None
    with handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                yield Line(number, None, f"not a JSON record ({exc})")
                continue
            if not isinstance(record, dict):
                yield Line(number, None, "not a JSON object")
                continue
            if not raw.endswith(b"\n"):
                yield Line(number, record, "last line has no newline (truncated write?)", raw)
                continue
            yield Line(number, record, None, raw)
