"""Errors of the integrity layer."""
from __future__ import annotations

from tpython.errors import Error


class IntegrityError(Error):
    """A manifest, key or signature cannot be used; the message names the file and why."""

    slug = "integrity"
    exit_status = 78
