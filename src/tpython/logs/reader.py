"""Stream records from JSONL logs, one at a time, reporting bad lines instead of failing.

This is the one reader every command uses (`log show`, `log verify`, `report`,
`learn`, `diff`). It never holds more than :data:`MAX_LINE` bytes of a line: a
longer line is passed over up to its newline, chunk by chunk, and reported as
corrupt, so memory stays bounded whatever the file holds (one line of a
gigabyte, or no newline at all).
"""
from __future__ import annotations

import json
import os
import time
from typing import IO, Any, Callable, Iterator, NamedTuple, Optional

from tpython.errors import LogFileError

try:  # parsing is most of the time analysis takes; orjson does it 3x faster than json
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson is a dependency; json gives the same records
    _fast_loads = json.loads  # type: ignore[assignment]

MAX_LINE = 1 << 20  # bytes: a record tpython writes is a few KiB at most (arguments are cut)
_SKIP_CHUNK = 1 << 16  # bytes read at a time while passing over an over-long line


def parse(raw: bytes) -> Any:
    """One JSON value from RAW; json's ValueError (with its message) when it is not one."""
    try:
        return _fast_loads(raw)
    except ValueError:
        return json.loads(raw)  # the same verdict for what both accept, json's words otherwise


class Line(NamedTuple):
    """One line of a log: its number, and the record or why there is none."""

    number: int
    record: Optional[dict[str, Any]]
    problem: Optional[str] = None
    raw: bytes = b""


def _raw_lines(handle: IO[bytes], at_eof: Optional[Callable[[], bool]] = None) -> Iterator[tuple[bytes, int]]:
    """``(line, size)`` for each line of HANDLE, with its newline; a line longer than
    MAX_LINE comes back as ``(b"", size)`` and is never held in memory. At end of file,
    AT_EOF (following a growing file) says whether to read on (True) or stop; without
    it, or when it says stop, a last line with no newline comes back as it is."""
    pending = b""  # the start of a line whose end has not been written yet (following)
    skipped = 0  # bytes of an over-long line passed over so far
    while True:
        if skipped:
            chunk = handle.readline(_SKIP_CHUNK)
            if chunk:
                skipped += len(chunk)
                if chunk.endswith(b"\n"):
                    yield b"", skipped
                    skipped = 0
                continue
        else:
            chunk = handle.readline(MAX_LINE + 1 - len(pending))
            if chunk:
                line, pending = pending + chunk, b""
                if line.endswith(b"\n"):
                    yield line, len(line)
                elif len(line) > MAX_LINE:
                    skipped = len(line)
                else:
                    pending = line  # end of file in the middle of a line
                continue
        if at_eof is not None and at_eof():
            continue
        if pending:
            yield pending, len(pending)
        elif skipped:
            yield b"", skipped
        return


def _lines(handle: IO[bytes], at_eof: Optional[Callable[[], bool]] = None) -> Iterator[Line]:
    for number, (raw, size) in enumerate(_raw_lines(handle, at_eof), 1):
        if not raw:
            yield Line(number, None, f"corrupt: a line of {size} bytes, over the {MAX_LINE >> 20} MiB "
                                     "limit for a record (skipped)")
            continue
        if not raw.strip():
            continue
        try:
            record = parse(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            yield Line(number, None, f"not a JSON record ({exc})")
            continue
        if not isinstance(record, dict):
            yield Line(number, None, "not a JSON object")
            continue
        if not raw.endswith(b"\n"):
            yield Line(number, record, "last line has no newline (truncated write?)", raw)
            continue
        yield Line(number, record, None, raw)


def _open(path: str) -> IO[bytes]:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise LogFileError(f"cannot read log {path}: {exc.strerror}") from None


def read_lines(path: str) -> Iterator[Line]:
    """Yield every line of PATH; unreadable lines carry a problem instead of a record."""
    with _open(path) as handle:
        yield from _lines(handle)


class _Follower:
    """Decides, at the end of the file being followed, whether to wait for more."""

    def __init__(self, path: str, handle: IO[bytes], poll: float, idle: Callable[[], None]) -> None:
        self.path, self.handle, self.poll, self.idle = path, handle, poll, idle
        self.ino = os.fstat(handle.fileno()).st_ino
        self.replaced = False

    def at_eof(self) -> bool:
        """Wait until the file grows (True) or, once drained, was replaced (False)."""
        if self.replaced:
            return False  # what was written before the rotation has been read
        self.idle()
        while True:
            size = os.fstat(self.handle.fileno()).st_size
            where = self.handle.tell()
            if size > where:
                return True
            if size < where:  # truncated in place (logrotate's copytruncate): read it again
                self.handle.seek(0)
                return True
            try:
                replaced = os.stat(self.path).st_ino != self.ino
            except FileNotFoundError:
                replaced = True  # renamed away; its successor is not there yet
            if replaced:
                self.replaced = True
                return True  # read what was appended before the rename, then stop
            time.sleep(self.poll)


def _successor(path: str, ino: int, idle: Callable[[], None], poll: float) -> tuple[str, IO[bytes]]:
    """The file begun after the one with inode INO, open: when that one is now PATH.i
    (tpython's rotation renames PATH.i to PATH.i+1 and PATH to PATH.1), PATH.i-1, or
    PATH itself when i is 1 or the old file is gone (or was renamed another way).
    Opened before checking the old file has not moved on meanwhile, so a rotation
    going on while we look cannot make us skip a file."""
    while True:
        at = 0
        for i in range(1, 10_000):
            try:
                if os.stat(f"{path}.{i}").st_ino == ino:
                    at = i
                    break
            except FileNotFoundError:
                break
        name = f"{path}.{at - 1}" if at > 1 else path
        try:
            handle = open(name, "rb")
        except FileNotFoundError:  # between a rename and the new file's creation
            idle()
            time.sleep(poll)
            continue
        except OSError as exc:
            raise LogFileError(f"cannot read log {name}: {exc.strerror}") from None
        try:
            still = at and os.stat(f"{path}.{at}").st_ino == ino
        except FileNotFoundError:
            still = False
        if still or not at:
            return name, handle
        handle.close()  # rotated again while we looked: look again


def follow_lines(path: str, idle: Callable[[], None], poll: float = 0.2) -> Iterator[tuple[str, Line]]:
    """Every line of PATH and then every line appended to it, as ``tail -F`` does,
    with the name of the file it is in: when PATH is rotated (renamed, and a new PATH
    begun), the rest of the old file is read, then each rotated file begun since, then
    the new PATH. IDLE is called each time the reader waits. Runs until interrupted."""
    name, handle = path, _open(path)
    while True:
        with handle:
            ino = os.fstat(handle.fileno()).st_ino
            at_eof = _Follower(path, handle, poll, idle).at_eof if name == path else None
            for line in _lines(handle, at_eof):
                yield name, line
        name, handle = _successor(path, ino, idle, poll)
