"""The JSONL file sink: one record a line, appended with one write(2).

The file is opened with O_APPEND, so several processes appending to one
file never interleave partial lines: each record is a single write at the
end of the file.

With ``[log] rotate_bytes``, a record that would take the file past that
size first rotates it: PATH.i becomes PATH.i+1 (``rotate_keep`` files are
kept), PATH becomes PATH.1, and a new PATH is begun. Under ``flock`` on
the log's directory, opened for the purpose, so processes sharing the log
(forked children) rotate it one at a time (a lock on the log's own
descriptor would not do: flock locks belong to the open file description,
which fork shares, so parent and child would both hold it); one that finds
PATH is no longer its file reopens it. Records go on numbering
and chaining across the files (``tpython log verify`` takes the set). The
engine does the same in C (native/record.c). Opening, renaming,
locking and truncating go through :mod:`tpython.sinks.wire`, so the sink's
own file work raises no audit event.
"""
from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal's wrappers turn every mask into enums: 40x slower
import errno
import os
import stat

from tpython.errors import SinkError
from tpython.policy.settings import DEFAULT_ROTATE_KEEP
from tpython.sinks import wire

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


_ALL_SIGNALS = _signal.valid_signals()



def open_log(path: str) -> int:
    """A descriptor appending to the log file PATH, created if missing. The log's name is
    never followed when it is a symbolic link, nor opened when it is not a regular file:
    a program that may create files where its log goes must not be able to aim tpython's
    own writes at another file (a policy, a `.pth`, `/etc/ld.so.preload`). Raises
    OSError, its strerror saying why."""
    try:
        fd = wire.open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o640)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(exc.errno, "it is a symbolic link (tpython does not follow one at the log's name; "
                          "name the file itself)") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    return fd

class JsonlSink:
    """Appends records to a file."""

    def __init__(self, path: str, rotate_bytes: int = 0, keep: int = DEFAULT_ROTATE_KEEP) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        self.name = f"jsonl:{self.path}"
        self.rotate_bytes = rotate_bytes
        self.keep = max(1, keep)
        try:
            self.fd = open_log(self.path)
        except OSError as exc:
            raise SinkError(f"cannot open log {self.path}: {exc.strerror}") from None

    def write(self, record: dict[str, Any], line: bytes) -> None:
        if self.rotate_bytes:
            self._rotate_if_full(len(line))
        # A fatal signal during write(2) can cut it at a page boundary (a pool worker
        # terminated mid-record), leaving half a line the next process's record would be
        # glued to: signals wait until the record is whole (SIGKILL cannot be held).
        previous = _signal.pthread_sigmask(_signal.SIG_BLOCK, _ALL_SIGNALS)
        try:
            written = os.write(self.fd, line)
        finally:
            _signal.pthread_sigmask(_signal.SIG_SETMASK, previous)
        if written != len(line):  # a full disk: take the torn line back out
            self._untear(written)
            raise OSError(28, f"No space left on device (short write to {self.path})")

    def _is_current(self) -> bool:
        try:
            mine, named = os.fstat(self.fd), os.stat(self.path)
        except OSError:
            return False
        return (mine.st_dev, mine.st_ino) == (named.st_dev, named.st_ino)

    def _reopen(self) -> None:
        fd = open_log(self.path)
        os.close(self.fd)
        self.fd = fd

    def _rotation_lock(self) -> int:
        """A descriptor holding the exclusive rotation lock (closing it releases it)."""
        try:
            fd = wire.open_file(os.path.dirname(self.path), os.O_RDONLY | os.O_DIRECTORY, 0)
        except OSError:  # a directory we may not read: the log's own file, shared with forked children
            fd = os.dup(self.fd)
        try:
            wire.lock(fd)
        except OSError:
            os.close(fd)
            raise
        return fd

    def _rotate_if_full(self, incoming: int) -> None:
        if not self._is_current():
            try:
                self._reopen()
            except OSError:  # the path is gone (a chroot, a deleted directory): go on where we are, as C does
                return
        size = os.fstat(self.fd).st_size
        if size == 0 or size + incoming <= self.rotate_bytes:
            return
        lock = self._rotation_lock()
        try:
            if self._is_current():  # nobody rotated it while we waited
                for i in range(self.keep - 1, 0, -1):
                    try:
                        wire.rename(f"{self.path}.{i}", f"{self.path}.{i + 1}")
                    except FileNotFoundError:
                        pass
                wire.rename(self.path, f"{self.path}.1")
            self._reopen()
        finally:
            os.close(lock)

    def _untear(self, written: int) -> None:
        """Remove the WRITTEN bytes of a partial record we just appended, if still last."""
        try:
            end = os.lseek(self.fd, 0, os.SEEK_CUR)
            if os.fstat(self.fd).st_size == end:
                wire.truncate(self.fd, end - written)
        except OSError:
            pass

    def late_losses(self) -> int:
        return 0  # a write that returned took the record

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass
