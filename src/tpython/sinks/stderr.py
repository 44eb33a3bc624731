"""The stderr sink: one readable line per record."""
from __future__ import annotations

import os
from typing import Any

from tpython.jsontext import dumps


def format_line(record: dict[str, Any]) -> str:
    """`tpython: HH:MM:SS.ffffff [action] event args  rule=… module=…` on one line."""
    return f"tpython: {str(record.get('ts', ''))[11:26]} {format_body(record)}"


def format_body(record: dict[str, Any]) -> str:
    """`[action] event args  rule=… module=…`: a record without its time (`log show` adds its own columns)."""
    args = dumps(record.get("args"), ascii_only=False)
    if len(args) > 300:
        args = args[:300] + "…"
    action = record.get("action", "?")
    if record.get("enforced") is False:
        action += ",not enforced"
    parts = [f"[{action}] {record.get('event')} {args}"]
    if record.get("rule"):
        parts.append(f"rule={record['rule']}")
    if record.get("module"):
        parts.append(f"module={record['module']}")
    return "  ".join(parts).replace("\n", "\\n")


class StderrSink:
    """Writes to the process's stderr as it was at start (a dup of fd 2)."""

    name = "stderr"

    def __init__(self) -> None:
        self.fd = os.dup(2)
        os.set_inheritable(self.fd, False)

    def write(self, record: dict[str, Any], line: bytes) -> None:
        os.write(self.fd, (format_line(record) + "\n").encode("utf-8", "replace"))

    def late_losses(self) -> int:
        return 0  # a write that returned took the record

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass
