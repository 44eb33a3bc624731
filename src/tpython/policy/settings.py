"""`[integrity]` and `[log]` as typed settings: each default is defined here, once.

The loader validates a policy's tables and builds these; everything else reads
their attributes (the C module gets the values it needs passed at install).
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple, Optional
else:
    from tpython.lean_typing import NamedTuple

DEFAULT_MAX_SIZE = 64 * 1024 * 1024  # the largest file read as code
DEFAULT_FACILITY = "user"
DEFAULT_APP_NAME = "tpython"
DEFAULT_SYSLOG_SOCKET = "/dev/log"  # the local syslog socket
DEFAULT_ROTATE_BYTES = 100 * 1024 * 1024  # a JSONL log rotates past this (0: never)
DEFAULT_ROTATE_KEEP = 5
ON_SINK_FAILURE = ("continue", "fail-closed")


class IntegritySettings(NamedTuple):
    """`[integrity]`: what every file read as code must pass (docs/integrity.md)."""

    manifest: Optional[str] = None  # resolved against the policy file that names it
    pubkey: Optional[str] = None
    xattr: bool = False
    require: bool = False
    kernel_check: bool = True
    seccomp: bool = False
    max_size: int = DEFAULT_MAX_SIZE

    @property
    def wants_trust(self) -> bool:
        """Whether a trust source is configured or required."""
        return bool(self.manifest or self.xattr or self.require)


class LogSettings(NamedTuple):
    """`[log]` (its `sinks` are the policy's `sinks`): how records are written."""

    facility: str = DEFAULT_FACILITY
    app_name: str = DEFAULT_APP_NAME
    syslog_socket: str = DEFAULT_SYSLOG_SOCKET
    on_sink_failure: str = "continue"
    rotate_bytes: int = DEFAULT_ROTATE_BYTES
    rotate_keep: int = DEFAULT_ROTATE_KEEP

    @property
    def fail_closed(self) -> bool:
        """A block no sink could record ends the process."""
        return self.on_sink_failure == "fail-closed"

