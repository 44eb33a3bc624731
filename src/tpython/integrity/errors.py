"""Errors of the integrity layer."""
from __future__ import annotations

from tpython import exit_status as status
from tpython.errors import Error


class IntegrityError(Error):
    """A manifest, key or signature cannot be used; the message names the file and why."""

    slug = "integrity"
    exit_status = status.CONFIG


def read_trust_file(path: str, what: str) -> bytes:
    """The bytes of a manifest or key file; a missing or unreadable one is an IntegrityError."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise IntegrityError(f"{what} {path} not found") from None
    except OSError as exc:
        raise IntegrityError(f"{what} {path} cannot be read: {exc.strerror}") from None
