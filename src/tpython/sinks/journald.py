"""The journald sink: the native protocol on /run/systemd/journal/socket.

Each record is one datagram of fields (``KEY=value`` lines, or ``KEY``, a
64-bit little-endian length and the raw value when the value holds a
newline): ``MESSAGE`` (a readable line), ``PRIORITY``, ``SYSLOG_IDENTIFIER``,
``SYSLOG_FACILITY``, one ``TPYTHON_*`` field per record field, and
``TPYTHON_RECORD``, the JSONL line itself, so the chain can be verified from
the journal. A record too large for one datagram is written to a sealed
memfd whose descriptor is sent instead, as the protocol defines
(systemd.journal-fields(7), "Native Journal Protocol"). Hand-written: the
protocol is a few lines, and the `systemd` Python binding is not
installable from PyPI into a virtual environment.
"""
from __future__ import annotations

import errno
import struct
from typing import Any

from tpython.errors import SinkError
from tpython.policy.settings import LogSettings
from tpython.sinks.fields import FIELDS, facility_code, field_text, severity, summary
from tpython.sinks.link import Link

SOCKET = "/run/systemd/journal/socket"


def _field(key: bytes, value: str) -> bytes:
    data = value.encode("utf-8", "surrogateescape")
    if b"\n" in data:
        return key + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return key + b"=" + data + b"\n"


def journal_entry(record: dict[str, Any], line: bytes, identifier: str, facility: int) -> bytes:
    """One record in the native protocol's wire format."""
    parts = [
        _field(b"MESSAGE", summary(record)),
        _field(b"PRIORITY", str(severity(record))),
        _field(b"SYSLOG_IDENTIFIER", identifier),
        _field(b"SYSLOG_FACILITY", str(facility)),
    ]
    for name in FIELDS:
        value = field_text(record, name)
        if value is not None:
            parts.append(_field(b"TPYTHON_" + name.upper().encode("ascii"), value))
    if record.get("lost"):
        parts.append(_field(b"TPYTHON_LOST", field_text(record, "lost") or ""))
    parts.append(_field(b"TPYTHON_RECORD", line.decode("utf-8", "surrogateescape").rstrip("\n")))
    return b"".join(parts)


class JournaldSink:
    """`journald`: records as journal entries with their fields queryable."""

    def __init__(self, name: str, settings: LogSettings) -> None:
        self.name = name
        self.facility = facility_code(settings)
        self.identifier = settings.app_name
        try:
            self.link = Link(SOCKET)
        except OSError as exc:
            raise SinkError(f"sink {name!r}: {exc.strerror or exc}") from None

    def write(self, record: dict[str, Any], line: bytes) -> None:
        entry = journal_entry(record, line, self.identifier, self.facility)
        try:
            self.link.send(entry)
        except OSError as exc:
            if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                raise
            self.link.send_memfd(entry)  # too large for a datagram: a sealed memfd

    def late_losses(self) -> int:
        return 0

    def close(self) -> None:
        self.link.close()
