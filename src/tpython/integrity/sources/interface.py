"""The trust-source interface."""
from __future__ import annotations

from typing import Protocol


class TrustSource(Protocol):
    """Says whether it vouches for a file whose bytes hash to a digest."""

    name: str

    def vouches(self, real_path: str, sha256: str) -> tuple[bool, str]:
        """(True, "") when it vouches; (False, the reason) when not."""
