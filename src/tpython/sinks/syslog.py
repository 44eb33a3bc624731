"""The syslog sinks: RFC 5424 messages to the local socket, over UDP, or over TCP.

Each record becomes one message whose structured data (SD-ID
``tpython@32473``) carries the record's fields, and whose MSG is a readable
line. Written by hand: the standard library's ``logging.handlers.SysLogHandler``
writes RFC 3164-style messages without structured data and frames TCP with
newlines, not RFC 6587 octet counting, and there is no maintained library
for the few lines of framing this needs.

None of these sinks blocks the program for long, nor raises an audit event
(see :mod:`tpython.sinks.link`), and every record that could not be sent is
counted as lost by the recorder, as is every UDP datagram that came back
refused. What cannot be detected: a datagram lost without an ICMP error, a
record the collector's kernel took but the collector never read (it died),
and a TCP record in flight when the collector dies (plain syslog has no
acknowledgements).
"""
from __future__ import annotations

import os
from typing import Any, Optional

from tpython.errors import SinkError
from tpython.policy.settings import LogSettings
from tpython.sinks.fields import (
    FIELDS,
    facility_code,
    field_text,
    header_token,
    severity,
    summary,
)
from tpython.sinks.link import Link

SD_ID = "tpython@32473"  # 32473: the enterprise number RFC 5612 reserves for documentation and examples
MAX_MESSAGE = 64 * 1024  # a datagram must fit; collectors truncate beyond their own limit anyway


def _sd_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def format_rfc5424(record: dict[str, Any], facility: int, app_name: str, hostname: str) -> bytes:
    """One record as an RFC 5424 message (no framing)."""
    params = []
    for name in FIELDS:
        value = field_text(record, name)
        if value is not None:
            params.append(f'{name}="{_sd_escape(value)}"')
    if record.get("lost"):
        params.append(f'lost="{_sd_escape(field_text(record, "lost") or "")}"')
    pri = facility * 8 + severity(record)
    header = (f"<{pri}>1 {header_token(str(record.get('ts') or '-'), 64)} {hostname} {app_name} "
              f"{header_token(str(record.get('pid') or os.getpid()), 128)} "
              f"{header_token(str(record.get('event') or '-'), 32)}")
    message = f"{header} [{SD_ID} {' '.join(params)}] {summary(record)}".encode("utf-8", "replace")
    if len(message) > MAX_MESSAGE:  # the arguments are what can be long: the message says they were cut
        slim = {k: v for k, v in record.items() if k != "args"}
        slim["args_omitted"] = True
        return format_rfc5424(slim, facility, app_name, hostname)[:MAX_MESSAGE]
    return message


class SyslogSink:
    """`syslog` (the local socket), `syslog+udp://HOST:PORT` or `syslog+tcp://HOST:PORT`."""

    def __init__(self, kind: str, name: str, settings: LogSettings, host: Optional[str] = None,
                 port: Optional[int] = None) -> None:
        self.kind = kind
        self.name = name
        self.facility = facility_code(settings)
        self.app_name = header_token(settings.app_name, 48)
        self.hostname = header_token(os.uname().nodename, 255)
        try:
            if kind == "syslog":
                self.link = Link(settings.syslog_socket)
            else:
                self.link = Link(host or "", port, stream=kind == "syslog+tcp")
        except OSError as exc:
            raise SinkError(f"sink {name!r}: {exc.strerror or exc}") from None

    def write(self, record: dict[str, Any], line: bytes) -> None:
        message = format_rfc5424(record, self.facility, self.app_name, self.hostname)
        if self.kind == "syslog+tcp":
            message = b"%d %s" % (len(message), message)  # RFC 6587 octet counting
        self.link.send(message)

    def late_losses(self) -> int:
        return self.link.late_losses()

    def close(self) -> None:
        self.link.close()

