"""The record's hash chain, shared by the writer and `tpython log verify`.

A record's ``hash`` is the SHA-256 (lowercase hex) of the bytes of the
record *without* its ``hash`` field, serialised as compact JSON
(``separators=(",", ":")``) with the fields in the order they appear in
the line, and every non-ASCII character escaped (``ensure_ascii=True``):
lines are plain ASCII, so they are valid UTF-8 even when a path holds
bytes that are not (surrogate-escaped file names). ``prev`` holds the previous record's hash
in the same run (null at ``seq`` 0), so an edited, deleted, inserted or
reordered record breaks the chain at a place `verify` can name.
"""
from __future__ import annotations

import time

from tpython.jsontext import dumps
from tpython.sha256 import sha256_hex

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


FIELDS = ("ts", "seq", "run", "pid", "event", "args", "action", "enforced", "rule", "module", "package")


def canonical(record: dict[str, Any]) -> bytes:
    """The bytes the hash is computed over (RECORD must not hold ``hash``)."""
    return dumps(record).encode("ascii")


def seal(record: dict[str, Any]) -> bytes:
    """Add ``hash`` to RECORD (which has ``prev``) and return its JSONL line."""
    body = canonical(record)
    digest = sha256_hex(body)
    record["hash"] = digest
    return body[:-1] + b',"hash":"' + digest.encode("ascii") + b'"}\n'


def expected_hash(record: dict[str, Any]) -> str:
    """Recompute the hash of a parsed record."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return sha256_hex(canonical(body))


def hash_holds(record: dict[str, Any], raw: bytes = b"") -> bool:
    """True when RECORD's ``hash`` is the hash of its content. RAW, the line as read,
    gives a fast path: a line tpython wrote ends with its hash field, so the hashed
    bytes are the line without it; anything else is checked the slow way."""
    digest = record.get("hash")
    if raw.endswith(b'"}\n') and raw[-76:-67] == b',"hash":"' and sha256_hex(raw[:-76] + b"}") == digest:
        return True
    return expected_hash(record) == digest


def rfc3339(now: float) -> str:
    """RFC 3339 UTC with microseconds, e.g. 2026-11-27T20:39:18.123456Z."""
    sec = int(now)
    micro = int(round((now - sec) * 1_000_000))
    if micro == 1_000_000:
        sec, micro = sec + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{micro:06d}Z"
