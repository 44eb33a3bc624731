"""What syslog and journald are told about a record: its priority, a readable
line, and the record's fields (the parts both of them carry as structured data)."""
from __future__ import annotations

from tpython.jsontext import dumps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

    from tpython.policy.settings import LogSettings


# RFC 5424 severities
CRITICAL, WARNING, NOTICE, INFO = 2, 4, 5, 6

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
    "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
    **{f"local{i}": 16 + i for i in range(8)},
}

# The fields carried beside the readable line, in this order.
FIELDS = ("event", "action", "enforced", "rule", "module", "package", "run", "seq", "pid", "ts", "prev", "hash",
          "args")


def facility_code(settings: LogSettings) -> int:
    """The syslog facility number of a policy's `[log] facility`."""
    return FACILITIES[settings.facility]


def severity(record: dict[str, Any]) -> int:
    """kill: critical; deny: warning; ask: notice; everything else: info."""
    action = record.get("action")
    if action == "kill":
        return CRITICAL
    if action == "deny":
        return WARNING
    if action == "ask":
        return NOTICE
    return INFO


def field_text(record: dict[str, Any], name: str) -> Optional[str]:
    """A record field as text: strings as they are, anything else as compact JSON;
    None when the record has no such field or it is null."""
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return dumps(value, ascii_only=False)


def summary(record: dict[str, Any], limit: int = 300) -> str:
    """One readable line: `deny open /root/.ssh/id_rsa [rule strict-secrets] (module app)`."""
    args = record.get("args")
    shown = ""
    if isinstance(args, list) and args:
        first = args[0]
        shown = first if isinstance(first, str) else dumps(first, ascii_only=False)
    elif isinstance(args, dict):
        shown = dumps(args, ascii_only=False)
    if len(shown) > limit:
        shown = shown[:limit] + "…"
    parts = [str(record.get("action")), str(record.get("event"))]
    if shown:
        parts.append(shown)
    if record.get("rule"):
        parts.append(f"[rule {record['rule']}]")
    if record.get("enforced") is False:
        parts.append("(audit mode: not enforced)")
    if record.get("module"):
        parts.append(f"(module {record['module']})")
    if record.get("lost"):
        parts.append(f"(records lost before this one: {record['lost']})")
    return " ".join(parts).replace("\n", " ")


def header_token(text: str, limit: int) -> str:
    """An RFC 5424 header field: printable US-ASCII, no spaces, at most LIMIT, or "-"."""
    clean = "".join(c for c in text if 33 <= ord(c) <= 126)[:limit]
    return clean or "-"
