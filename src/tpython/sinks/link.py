"""A connected socket to a log daemon, re-established when the daemon comes back.

Sending on a connected socket raises no audit event (``socket.send`` and
``sendall`` are not audited, ``sendto`` is), so writing a record does not
make more records. Connecting does (``socket.__new__``, ``socket.connect``):
it happens when the sink is opened, before the hook, and again only after
the daemon went away, at most once per ``RETRY_AFTER`` seconds, so a daemon
that is down costs one fast failure per record and never a loop of records
about reconnecting.
"""
from __future__ import annotations

import _socket
import errno
import select
import time
from typing import Any, Optional

RETRY_AFTER = 1.0
TIMEOUT = 2.0  # the longest a stream send may wait for a collector that stopped reading


class Link:
    """FAMILY/SOCKTYPE socket connected to ADDRESS (stream: TCP; otherwise datagrams)."""

    def __init__(self, family: int, socktype: int, address: Any) -> None:
        self.family = family
        self.socktype = socktype
        self.address = address
        self.stream = socktype == _socket.SOCK_STREAM
        self.sock: Any = None
        self.down_since: Optional[float] = None
        try:
            self._connect()
        except OSError:
            self.down_since = time.monotonic()  # down at start: the first record will say so

    def _connect(self) -> None:
        sock = _socket.socket(self.family, self.socktype)
        sock.settimeout(TIMEOUT)
        try:
            sock.connect(self.address)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self.down_since = None

    def _drop(self) -> None:
        self.close()
        self.down_since = time.monotonic()

    def _peer_closed(self) -> bool:
        """A stream collector never sends us anything: readable means it closed the
        connection (restarted), and a record sent into it would vanish."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
            return bool(readable) and self.sock.recv(1, _socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def send(self, data: bytes) -> None:
        """Send DATA whole, reconnecting once if the daemon came back; OSError if not sent."""
        if self.sock is not None and self.stream and self._peer_closed():
            self._drop()
            self.down_since = None  # it may be back already: try now
        for attempt in (1, 2):
            if self.sock is None:
                if self.down_since is not None and time.monotonic() - self.down_since < RETRY_AFTER:
                    raise OSError(errno.ECONNREFUSED, f"log daemon at {self.address} is down")
                try:
                    self._connect()
                except OSError:
                    self.down_since = time.monotonic()
                    raise
            try:
                if self.stream:
                    self.sock.sendall(data)
                else:
                    self.sock.send(data)
                return
            except OSError as exc:
                if exc.errno in (errno.EMSGSIZE, errno.ENOBUFS):
                    raise  # too large: the caller decides (journald's memfd)
                self._drop()
                if attempt == 2 or self.stream:  # a half-sent stream record is not sent twice
                    raise
                self.down_since = None  # a datagram socket to a restarted daemon: reconnect now

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
