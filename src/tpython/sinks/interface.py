"""The sink interface every destination implements."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol
else:
    from tpython.lean_typing import Protocol


class Sink(Protocol):
    """A destination for records. `write` must not block indefinitely."""

    name: str

    def write(self, record: dict[str, Any], line: bytes) -> None:
        """Write one record; LINE is its JSONL form (with the newline).

        Raises OSError when the record could not be written.
        """

    def late_losses(self) -> int:
        """How many records this sink took earlier are now known lost (UDP datagrams
        that came back refused); 0 for destinations that know at once."""

    def close(self) -> None:
        """Flush and release the destination."""
