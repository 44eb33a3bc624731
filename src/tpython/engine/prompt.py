"""The `ask` action: a question on the controlling terminal.

As in the spython NetworkPrompt sample: "Attempt to connect
93.184.216.34:80. Continue [Y/n]". With no controlling terminal the
answer is no.
"""
from __future__ import annotations

import _thread
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional


_lock = _thread.allocate_lock()


def describe(event: str, args: tuple[Any, ...], rendered: list[Any], host_port: tuple[Optional[str], Optional[int]],
             paths: Optional[list[str]], executables: Optional[list[str]]) -> str:
    """A short human sentence for the event."""
    host, port = host_port
    if event.startswith("socket.") and host is not None:
        verb = event.split(".", 1)[1]
        return f"Attempt to {verb} {host}:{port}" if port is not None else f"Attempt to {verb} {host}"
    if executables:
        return f"Attempt to run {executables[0]} ({event})"
    if paths:
        return f"Attempt to {event} {paths[0]}"
    text = ", ".join(str(a) for a in rendered)
    return f"Attempt to {event} {text[:200]}"


def ask(question: str, rule: Optional[str]) -> tuple[bool, str]:
    """Ask on /dev/tty. Returns (allowed, how): how is "yes", "no" or "no-terminal"."""
    with _lock:
        try:
            fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError:
            return False, "no-terminal"
        try:
            suffix = f" (tpython rule {rule})" if rule else " (tpython)"
            os.write(fd, f"{question}{suffix}. Continue [Y/n] ".encode("utf-8", "replace"))
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = os.read(fd, 256)
                if not chunk:
                    break
                answer += chunk
        except OSError:
            return False, "no-terminal"
        finally:
            os.close(fd)
    text = answer.decode("utf-8", "replace").strip().lower()
    allowed = text in ("", "y", "yes")
    return allowed, "yes" if allowed else "no"
