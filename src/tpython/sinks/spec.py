"""Parse `--log SINK` strings (SPEC 1) and open the sink they name."""
from __future__ import annotations

from tpython.errors import SinkError
from tpython.policy.settings import LogSettings
from tpython.sinks.interface import Sink

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple, Optional
else:
    from tpython.lean_typing import NamedTuple


KINDS = ("jsonl", "stderr", "syslog", "syslog+udp", "syslog+tcp", "journald")
DEFAULT_SPEC = "jsonl:tpython-audit.jsonl"


class SinkSpec(NamedTuple):
    """A parsed sink string."""

    kind: str
    path: Optional[str] = None
    host: Optional[str] = None
    port: Optional[int] = None
    text: str = ""


def parse_sink_spec(text: str) -> SinkSpec:
    """`jsonl:PATH`, `stderr`, `syslog`, `syslog+udp://HOST:PORT`, `syslog+tcp://HOST:PORT`, `journald`."""
    if text.startswith("jsonl:"):
        path = text[len("jsonl:"):]
        if not path:
            raise SinkError(f"sink {text!r}: jsonl needs a path, as in jsonl:/var/log/tpython/audit.jsonl")
        return SinkSpec("jsonl", path=path, text=text)
    if text in ("stderr", "syslog", "journald"):
        return SinkSpec(text, text=text)
    import re

    m = re.fullmatch(r"(syslog\+(?:udp|tcp))://(\[[^\]]+\]|[^:/\[\]]+):(\d{1,5})", text)
    if m:
        port = int(m.group(3))
        if not 0 < port < 65536:
            raise SinkError(f"sink {text!r}: port {port} out of range")
        return SinkSpec(m.group(1), host=m.group(2).strip("[]"), port=port, text=text)
    if text.startswith(("syslog+udp", "syslog+tcp")):
        raise SinkError(f"sink {text!r}: expected {text.split(':', 1)[0]}://HOST:PORT")
    raise SinkError(
        f"unknown sink {text!r} (known: jsonl:PATH, stderr, syslog, "
        "syslog+udp://HOST:PORT, syslog+tcp://HOST:PORT, journald)"
    )


def open_sink(spec: SinkSpec, settings: Optional[LogSettings] = None) -> Sink:
    """Open the destination; raises SinkError with the reason when it cannot be.
    SETTINGS: the policy's `[log]` (facility, app_name, syslog_socket, rotate_bytes, rotate_keep)."""
    settings = settings or LogSettings()
    if spec.kind == "jsonl":
        from tpython.sinks.jsonl import JsonlSink

        return JsonlSink(spec.path or "", settings.rotate_bytes, settings.rotate_keep)
    if spec.kind == "stderr":
        from tpython.sinks.stderr import StderrSink

        return StderrSink()
    if spec.kind == "journald":
        from tpython.sinks.journald import JournaldSink

        return JournaldSink(spec.text, settings)
    from tpython.sinks.syslog import SyslogSink

    return SyslogSink(spec.kind, spec.text, settings, spec.host, spec.port)
