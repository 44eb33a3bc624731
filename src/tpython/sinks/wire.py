"""The sinks' own system calls: tpython._native's when it was built.

CPython's ``_socket`` raises audit events (``socket.__new__``,
``socket.connect``, ``socket.sendto``, ``socket.sendmsg``,
``socket.getaddrinfo``), and so do ``os.open``, ``os.rename``, ``fcntl.flock``
and ``os.ftruncate``; a sink's own work must neither be recorded as the
program's nor reach its policy, so the sinks go through plain system calls in
C (native/net.c), which raise none. Only where the C module was not built
(then the Python engine runs, and its hook ignores every event raised while
it writes a record) does this module fall back to ``_socket``, ``os`` and
``fcntl``, with the same functions. What a failure means, and when to
connect again, is decided in :mod:`tpython.sinks.link`; when to rotate a
log, in :mod:`tpython.sinks.jsonl`.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

close = os.close  # raises no audit event

__all__ = ["address", "close", "connected", "lock", "open_file", "open_socket", "peer_closed", "refusals", "rename",
           "send", "send_memfd", "truncate"]

try:
    from tpython._native import net_address as address
    from tpython._native import net_connected as connected
    from tpython._native import net_open as open_socket
    from tpython._native import net_peer_closed as peer_closed
    from tpython._native import net_refusals as refusals
    from tpython._native import net_send as send
    from tpython._native import net_send_memfd as send_memfd
    from tpython._native import sink_lock as lock
    from tpython._native import sink_open as open_file
    from tpython._native import sink_rename as rename
    from tpython._native import sink_truncate as truncate
except ImportError:  # no C module: the Python engine's platforms
    import _socket

    rename = os.rename
    truncate = os.ftruncate

    def open_file(path: str, flags: int, mode: int) -> int:  # type: ignore[misc]
        return os.open(path, flags | os.O_CLOEXEC, mode)

    def lock(fd: int) -> None:  # type: ignore[misc]
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)

    _open: dict[int, Any] = {}  # fd -> its socket object, kept alive here

    def address(where: str, port: int, stream: bool) -> tuple[int, Any]:  # type: ignore[misc]
        if port < 0:
            return _socket.AF_UNIX, where
        found = _socket.getaddrinfo(where, port, 0, _socket.SOCK_STREAM if stream else _socket.SOCK_DGRAM)
        return found[0][0], found[0][4]

    def open_socket(family: int, to: Any, stream: bool, connect: bool,  # type: ignore[misc]
                    timeout: float) -> tuple[int, bool]:
        sock = _socket.socket(family, _socket.SOCK_STREAM if stream else _socket.SOCK_DGRAM)
        sock.settimeout(timeout)
        try:
            if connect:
                sock.connect(to)
        except OSError:
            sock.close()
            raise
        _open[sock.fileno()] = sock
        return sock.fileno(), True

    def connected(fd: int, wait: float) -> bool:  # type: ignore[misc]
        return True

    def send(fd: int, data: bytes, to: Any, stream: bool, wait: bool) -> None:  # type: ignore[misc]
        sock = _open[fd]
        if stream:
            sock.sendall(data)
        elif to is not None:
            sock.sendto(data, to)
        else:
            sock.send(data)

    def peer_closed(fd: int) -> bool:  # type: ignore[misc]
        import select

        sock = _open[fd]
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable) and sock.recv(1, _socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def refusals(fd: int) -> int:  # type: ignore[misc]
        return 0  # without the error queue, only a failed send tells

    def send_memfd(fd: int, data: bytes, to: Any) -> None:  # type: ignore[misc]
        import array
        import fcntl

        mem = os.memfd_create("tpython-journal", os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(mem, view):]
            fcntl.fcntl(mem, fcntl.F_ADD_SEALS,
                        fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL)
            _open[fd].sendmsg([b""], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", [mem]))], 0, to)
        finally:
            os.close(mem)

    def close(fd: int) -> None:
        sock: Optional[Any] = _open.pop(fd, None)
        if sock is not None:
            sock.close()
        else:
            os.close(fd)
