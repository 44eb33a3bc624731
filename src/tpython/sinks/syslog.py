"""The syslog sinks: RFC 5424 messages to the local socket, over UDP, or over TCP.

Each record becomes one message whose structured data (SD-ID
``tpython@32473``) carries the record's fields, and whose MSG is a readable
line. Written by hand: the standard library's ``logging.handlers.SysLogHandler``
writes RFC 3164-style messages without structured data and frames TCP with
newlines, not RFC 6587 octet counting, and there is no maintained library
for the few lines of framing this needs.

None of these sinks blocks the program for long (see :mod:`tpython.sinks.link`):
datagrams are sent without waiting, TCP with a timeout, a collector that is
down is tried again at most once a second, and every record that could not
be sent is counted as lost by the recorder. What cannot be detected: a UDP
datagram the collector never got, and a TCP record in flight when the
collector dies (plain syslog over TCP has no acknowledgements).
"""
from __future__ import annotations

import _socket
import os
import time
from typing import Any, NoReturn, Optional

from tpython.errors import SinkError
from tpython.sinks.fields import CRITICAL, DEFAULT_APP_NAME, FIELDS, facility_code, field_text, severity, summary
from tpython.sinks.link import Link

SD_ID = "tpython@32473"  # 32473: the enterprise number RFC 5612 reserves for documentation and examples
DEFAULT_SOCKET = "/dev/log"
MAX_MESSAGE = 64 * 1024  # a datagram must fit; collectors truncate beyond their own limit anyway


def _sd_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _header_token(text: str, limit: int) -> str:
    """An RFC 5424 header field: printable US-ASCII, no spaces, at most LIMIT, or "-"."""
    clean = "".join(c for c in text if 33 <= ord(c) <= 126)[:limit]
    return clean or "-"


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
    header = (f"<{pri}>1 {_header_token(str(record.get('ts') or '-'), 64)} {hostname} {app_name} "
              f"{_header_token(str(record.get('pid') or os.getpid()), 128)} "
              f"{_header_token(str(record.get('event') or '-'), 32)}")
    message = f"{header} [{SD_ID} {' '.join(params)}] {summary(record)}".encode("utf-8", "replace")
    if len(message) > MAX_MESSAGE:  # the arguments are what can be long: the message says they were cut
        slim = {k: v for k, v in record.items() if k != "args"}
        slim["args_omitted"] = True
        return format_rfc5424(slim, facility, app_name, hostname)[:MAX_MESSAGE]
    return message


class SyslogSink:
    """`syslog` (the local socket), `syslog+udp://HOST:PORT` or `syslog+tcp://HOST:PORT`."""

    def __init__(self, kind: str, name: str, options: dict[str, Any], host: Optional[str] = None,
                 port: Optional[int] = None) -> None:
        self.kind = kind
        self.name = name
        self.facility = facility_code(options)
        self.app_name = _header_token(str(options.get("app_name", DEFAULT_APP_NAME)), 48)
        self.hostname = _header_token(os.uname().nodename, 255)
        if kind == "syslog":
            self.link = Link(_socket.AF_UNIX, _socket.SOCK_DGRAM, str(options.get("syslog_socket", DEFAULT_SOCKET)))
            return
        socktype = _socket.SOCK_STREAM if kind == "syslog+tcp" else _socket.SOCK_DGRAM
        try:
            family, socktype, _, _, address = _socket.getaddrinfo(host, port, 0, socktype)[0]
        except OSError as exc:
            raise SinkError(f"sink {name!r}: cannot resolve {host}: {exc}") from None
        self.link = Link(family, socktype, address)

    def write(self, record: dict[str, Any], line: bytes) -> None:
        message = format_rfc5424(record, self.facility, self.app_name, self.hostname)
        if self.kind == "syslog+tcp":
            message = b"%d %s" % (len(message), message)  # RFC 6587 octet counting
        self.link.send(message)

    def close(self) -> None:
        self.link.close()


CRITICAL_STATUS = 255


def critical_failure(message: str, options: Optional[dict[str, Any]] = None) -> NoReturn:
    """tpython itself cannot work (its policy, engine or integrity layer failed): say so
    as a critical message to the local syslog socket and on stderr, and end the process
    with status 255, as spython does (openlog(LOG_PID|LOG_CONS), syslog(LOG_CRIT), _exit(255))."""
    options = options or {}
    text = f"tpython critical failure: {message}"
    pri = facility_code(options) * 8 + CRITICAL
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    app = _header_token(str(options.get("app_name", DEFAULT_APP_NAME)), 48)
    packet = (f"<{pri}>1 {stamp} {_header_token(os.uname().nodename, 255)} {app} {os.getpid()} "
              f"tpython.critical - {text}").encode("utf-8", "replace")
    try:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
        try:
            sock.sendto(packet, str(options.get("syslog_socket", DEFAULT_SOCKET)))
        finally:
            sock.close()
    except OSError:
        pass  # no syslog here: stderr still says it
    try:
        os.write(2, f"tpython: critical failure: {message}\n".encode("utf-8", "replace"))
    finally:
        os._exit(CRITICAL_STATUS)
