"""A critical failure of tpython itself: told to syslog and stderr, then status 255.

Kept apart from the syslog sink so that start-up, which must be able to report
such a failure, does not import the sink machinery to do it.
"""
from __future__ import annotations

import os
import time

from tpython import exit_status as status
from tpython.policy.settings import LogSettings
from tpython.sinks.fields import CRITICAL, facility_code, header_token

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn, Optional


CRITICAL_STATUS = status.KILLED


def critical_failure(message: str, settings: Optional[LogSettings] = None) -> NoReturn:
    """tpython itself cannot work (its policy, engine or integrity layer failed): say so
    as a critical message to the local syslog socket and on stderr, and end the process
    with status 255, as spython does (openlog(LOG_PID|LOG_CONS), syslog(LOG_CRIT), _exit(255))."""
    settings = settings or LogSettings()
    text = f"tpython critical failure: {message}"
    pri = facility_code(settings) * 8 + CRITICAL
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    app = header_token(settings.app_name, 48)
    packet = (f"<{pri}>1 {stamp} {header_token(os.uname().nodename, 255)} {app} {os.getpid()} "
              f"tpython.critical - {text}").encode("utf-8", "replace")
    try:
        from tpython.sinks import wire  # only now: a start that does not fail need not load it

        family, address = wire.address(settings.syslog_socket, -1, False)
        fd, _ = wire.open_socket(family, address, False, False, 1.0)
        try:
            wire.send(fd, packet, address, False, False)
        finally:
            wire.close(fd)
    except Exception:  # no syslog here (or no C module): stderr still says it
        pass
    try:
        os.write(2, f"tpython: critical failure: {message}\n".encode("utf-8", "replace"))
    finally:
        os._exit(CRITICAL_STATUS)
