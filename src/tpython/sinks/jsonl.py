"""The JSONL file sink: one record a line, appended with one write(2).

The file is opened with O_APPEND, so several processes appending to one
file never interleave partial lines: each record is a single write at the
end of the file.
"""
from __future__ import annotations

import os
from typing import Any

from tpython.errors import SinkError


class JsonlSink:
    """Appends records to a file."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        self.name = f"jsonl:{self.path}"
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            raise SinkError(f"cannot open log {self.path}: {exc.strerror}") from None
        if not os.path.isfile(self.path):
            os.close(self.fd)
            raise SinkError(f"cannot open log {self.path}: not a regular file")

    def write(self, record: dict[str, Any], line: bytes) -> None:
        written = os.write(self.fd, line)
        if written != len(line):  # a full disk: take the torn line back out
            self._untear(written)
            raise OSError(28, f"No space left on device (short write to {self.path})")

    def _untear(self, written: int) -> None:
        """Remove the WRITTEN bytes of a partial record we just appended, if still last."""
        try:
            end = os.lseek(self.fd, 0, os.SEEK_CUR)
            if os.fstat(self.fd).st_size == end:
                os.ftruncate(self.fd, end - written)
        except OSError:
            pass

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass
