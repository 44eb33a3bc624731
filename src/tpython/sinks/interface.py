"""The sink interface every destination implements."""
from __future__ import annotations

from typing import Any, Protocol


class Sink(Protocol):
    """A destination for records. `write` must not block indefinitely."""

    name: str

    def write(self, record: dict[str, Any], line: bytes) -> None:
        """Write one record; LINE is its JSONL form (with the newline).

        Raises OSError when the record could not be written.
        """

    def close(self) -> None:
        """Flush and release the destination."""
