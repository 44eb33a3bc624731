"""A sink's socket to a log daemon: what a failure means, and when to try again.

Every system call goes through :mod:`tpython.sinks.wire` (plain calls in C),
so nothing a sink does, connecting included, raises an audit event: its work
is never recorded as the program's, never reaches the policy, and a failing
collector can cost records (counted by the recorder), never a loop of them.

* A local socket (syslog's ``/dev/log``, journald's): one datagram socket,
  not connected; each record is addressed to the path, so a daemon that
  restarted gets the next record, and one that is down fails it at once. A
  daemon that does not read makes a record wait at most ``TIMEOUT``; after
  that, records are sent only where they fit at once, for a back-off
  period (1 s, doubling up to ``RETRY_MAX``).
* UDP: one connected socket, kept for the run. A datagram no collector
  took comes back (when the network says so) as an ICMP error, which the
  kernel queues for the socket: :meth:`Link.late_losses` counts them, one
  lost record each.
* TCP: a connection. A collector that closed it is noticed before a record
  is sent into it; the next record connects again at once, and while
  connecting keeps failing, again after 1 s, 2 s, 4 s… up to ``RETRY_MAX``.
  A record waits at most ``CONNECT_WAIT`` for a connection in progress (at
  start, before the program runs, ``TIMEOUT``), and at most ``TIMEOUT`` to
  be sent; a record cut short ends the connection (half a record is never
  continued).
"""
from __future__ import annotations

import errno
import time

from tpython.sinks import wire

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

TIMEOUT = 2.0  # the longest a record waits to be sent, or a connection at start
CONNECT_WAIT = 0.1  # the longest a record waits for a reconnection in progress
RETRY_FIRST = 1.0
RETRY_MAX = 30.0
_monotonic = time.monotonic


class Link:
    """A socket to the daemon at WHERE: a local socket's path (PORT None), or a
    host and PORT over TCP (STREAM) or UDP. OSError when WHERE cannot be resolved."""

    def __init__(self, where: str, port: Optional[int] = None, *, stream: bool = False) -> None:
        self.where = where if port is None else f"{where}:{port}"
        self.local = port is None
        self.stream = stream
        self.family, self.address = wire.address(where, -1 if port is None else port, stream)
        self.fd = -1
        self.ready = False
        self.started = 0.0
        self.failures = 0  # attempts that failed in a row: the back-off grows with them
        self.next_try = 0.0
        self.refused = 0  # UDP: datagrams that came back refused, not yet counted
        self.why = ""  # what the last attempt to connect met
        try:
            self._connect(TIMEOUT)
        except OSError:
            pass  # down at start: the first record will say so

    def _backoff(self, now: float) -> None:
        self.failures += 1
        self.next_try = now + min(RETRY_MAX, RETRY_FIRST * 2 ** (self.failures - 1))

    def _failed(self, why: str = "") -> None:
        self.close()
        self.why = why
        self._backoff(_monotonic())

    def _connect(self, wait: float) -> None:
        """Have a socket (and for UDP and TCP a connection), waiting at most WAIT for it."""
        if self.fd < 0:
            try:
                self.fd, self.ready = wire.open_socket(self.family, self.address, self.stream, not self.local,
                                                       TIMEOUT)
            except OSError as exc:
                self._failed(exc.strerror or str(exc))
                raise self._error(exc) from None
            self.started = _monotonic()
        if self.ready:
            return
        try:
            self.ready = wire.connected(self.fd, wait)
        except OSError as exc:
            self._failed(exc.strerror or str(exc))
            raise self._error(exc) from None
        if not self.ready:
            if _monotonic() - self.started >= TIMEOUT:
                self._failed("timed out")
                raise OSError(errno.ETIMEDOUT, f"connecting to {self.where} timed out")
            raise OSError(errno.EINPROGRESS, f"still connecting to {self.where}")

    def _error(self, exc: OSError) -> OSError:
        return OSError(exc.errno, f"{exc.strerror or exc} ({self.where})")

    def send(self, data: bytes) -> None:
        """Send DATA whole; OSError when it was not sent."""
        if self.stream and self.ready and wire.peer_closed(self.fd):
            self.close()  # the collector closed it (restarted?): connect again now
            if self.failures:
                self._backoff(_monotonic())
        if not self.ready:
            now = _monotonic()
            if self.fd < 0 and now < self.next_try:
                why = f" ({self.why})" if self.why else ""
                raise OSError(errno.ECONNREFUSED, f"{self.where} is down{why}; next try in {self.next_try - now:.1f} s")
            self._connect(CONNECT_WAIT if self.fd < 0 else 0.0)  # a connection in progress: no more waiting
        wait = not self.local or self.failures == 0 or _monotonic() >= self.next_try
        try:
            self._send(data, wait)
        except OSError as exc:
            if exc.errno in (errno.EMSGSIZE, errno.ENOBUFS):
                raise  # too large: the caller decides (journald's memfd)
            if self.stream:
                self._failed(exc.strerror or str(exc))
            elif self.local and exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK) and wait:
                self._backoff(_monotonic())  # a daemon that does not read: stop waiting for it a while
            raise self._error(exc) from None
        if wait:
            self.failures = 0

    def _send(self, data: bytes, wait: bool) -> None:
        try:
            wire.send(self.fd, data, self.address if self.local else None, self.stream, wait)
        except OSError as exc:
            if self.local or self.stream or exc.errno != errno.ECONNREFUSED:
                raise
            # UDP: the error is an earlier datagram's, refused; this one was not sent: once more
            self.refused += max(1, wire.refusals(self.fd))
            wire.send(self.fd, data, None, False, wait)

    def send_memfd(self, data: bytes) -> None:
        """DATA through a sealed memfd (a local socket's journal protocol); OSError if not sent."""
        if self.fd < 0:
            self._connect(0)
        try:
            wire.send_memfd(self.fd, data, self.address)
        except OSError as exc:
            raise self._error(exc) from None

    def late_losses(self) -> int:
        """Records sent earlier that are now known lost (UDP datagrams come back refused)."""
        if not self.local and not self.stream and self.fd >= 0:
            self.refused += wire.refusals(self.fd)
        lost, self.refused = self.refused, 0
        return lost

    def close(self) -> None:
        if self.fd >= 0:
            try:
                wire.close(self.fd)
            except OSError:
                pass
        self.fd = -1
        self.ready = False


__all__ = ["Link", "TIMEOUT"]
