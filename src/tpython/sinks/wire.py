"""The sinks' own system calls: tpython._native's.

CPython's ``_socket`` raises audit events (``socket.__new__``,
``socket.connect``, ``socket.sendto``, ``socket.sendmsg``,
``socket.getaddrinfo``), and so do ``os.open``, ``os.rename``, ``fcntl.flock``
and ``os.ftruncate``; a sink's own work must neither be recorded as the
program's nor reach its policy, so the sinks go through plain system calls in
C (native/net.c), which raise none; once the program runs, those refuse
anything tpython did not set up before it (native/sinkdest.c). What a failure means, and when to
connect again, is decided in :mod:`tpython.sinks.link`; when to rotate a
log, in :mod:`tpython.sinks.jsonl`.
"""
from __future__ import annotations

import os

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

close = os.close  # raises no audit event

__all__ = ["address", "close", "connected", "lock", "open_file", "open_socket", "peer_closed", "refusals", "rename",
           "send", "send_memfd", "truncate"]
