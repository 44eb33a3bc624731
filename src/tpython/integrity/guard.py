"""The second line behind the open_code hook, in the audit hook.

Code can reach the interpreter without ``io.open_code``: extension modules
are loaded with ``dlopen``, and a program can replace ``io.open_code`` or
install its own finders and loaders. Whatever the route, the code still
passes an audit event, and under ``require = true`` this guard checks it:

* ``import`` with an extension-module file: the file is checked (and its
  SHA-256 vouched for) before ``dlopen`` runs;
* ``compile`` of source bytes or text given a real file as its name, and
  ``marshal.loads`` of data holding a code object: the SHA-256 must be one
  the open_code hook vouched for in this run (for ``.pyc`` files, the body
  after the 16-byte header, as importlib unmarshals it), or the file named
  must pass the checks with exactly these bytes.

* ``ctypes.dlopen``: the library file (found as the dynamic linker would,
  through ``LD_LIBRARY_PATH`` and the usual directories, for a bare name)
  must pass the checks; one tpython cannot find is refused.

Compiling an AST, and code objects built in memory, carry no bytes to
check; they are logged as dynamic code (README, "Limits").
"""
from __future__ import annotations

import hashlib
import importlib.machinery
import os
import sys
from typing import Any, Callable, ContextManager, Optional

from tpython.integrity import checks
from tpython.integrity.hook import CodeRefused

EXTENSION_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)
_CODE_TYPE = ord("c")  # marshal's TYPE_CODE; the high bit is FLAG_REF


class CodeGuard:
    """Checks code that arrives through events rather than through open_code."""

    EVENTS = frozenset({"import", "compile", "marshal.loads", "ctypes.dlopen"})

    def __init__(self, policy: checks.Policy, internal: Callable[[], ContextManager[None]],
                 record: Callable[..., None]) -> None:
        self.policy = policy
        self.internal = internal
        self.record = record
        self.trusted: set[str] = set()

    def vouch(self, data: bytes, path: str) -> None:
        """The open_code hook accepted DATA read from PATH."""
        self.trusted.add(hashlib.sha256(data).hexdigest())
        if path.endswith(".pyc") and len(data) > 16:
            self.trusted.add(hashlib.sha256(data[16:]).hexdigest())

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "marshal.loads" and _frozen_import(sys._getframe(2)):
            return  # the interpreter's own frozen modules (3.12+ unmarshals them with an event)
        with self.internal():
            refusal = self._check(event, args)
        if refusal is not None:
            path, reason = refusal
            self.record("tpython.integrity", {"path": path, "reason": reason, "event": event}, "deny",
                        rule="integrity")
            raise CodeRefused(path, reason)

    def _check(self, event: str, args: tuple[Any, ...]) -> Optional[tuple[str, str]]:
        if event == "import":
            filename = args[1] if len(args) > 1 else None
            if type(filename) is str and filename.endswith(EXTENSION_SUFFIXES):
                verdict = checks.check_file(filename, self.policy)
                return None if verdict.ok else (verdict.path, verdict.reason or "refused")
            return None
        if not self.policy.require:
            return None
        if event == "ctypes.dlopen":
            return self._library(args[0] if args else None)
        if event == "compile":
            source, filename = (args + (None, None))[:2]
            if type(filename) is not str or not os.path.isfile(filename):
                return None
            data = source.encode("utf-8") if type(source) is str else source if type(source) is bytes else None
            return None if data is None else self._known(data, filename, "source compiled under this file name")
        if event == "marshal.loads":
            data = args[0] if args else None
            if type(data) is bytes and data and (data[0] & 0x7F) == _CODE_TYPE:
                return self._known(data, "<marshal data>", "unmarshalled code")
        return None

    def _library(self, name: object) -> Optional[tuple[str, str]]:
        """A library ctypes is about to dlopen: the file the dynamic linker would load must pass."""
        if name is None:
            return None  # dlopen(NULL): the program itself, already running
        text = os.fsdecode(name) if type(name) in (str, bytes) else None  # type: ignore[arg-type]
        if text is None:
            return "<library>", "a library named by an object tpython cannot read"
        path = text if "/" in text else _search_library(text)
        if path is None:
            return text, "a library the dynamic linker would search for, and tpython cannot find to check"
        try:
            verdict = checks.check_file(path, self.policy)
        except OSError as exc:
            return path, f"cannot be read: {exc.strerror}"
        return None if verdict.ok else (verdict.path, verdict.reason or "refused")

    def _known(self, data: bytes, path: str, what: str) -> Optional[tuple[str, str]]:
        digest = hashlib.sha256(data).hexdigest()
        if digest in self.trusted:
            return None
        if path != "<marshal data>":
            try:
                verdict = checks.check_file(path, self.policy)
            except OSError:
                verdict = None
            if verdict is not None and verdict.ok and verdict.sha256 == digest:
                self.trusted.add(digest)
                return None
        return path, f"{what} that no trust source vouches for (sha256 {digest[:12]}…)"


# The frozen importer's code objects, captured at start: a frame running exactly
# these is the import system unmarshalling a module frozen into the interpreter
# binary (CPython 3.12+ raises marshal.loads for it). Identity, not names: a
# program cannot make its own code object be one of these.
import importlib._bootstrap as _bootstrap  # noqa: E402


def _codes_of(cls: type) -> set[Any]:
    codes = set()
    for value in vars(cls).values():
        func = getattr(value, "__func__", value)
        code = getattr(func, "__code__", None)
        if code is not None:
            codes.add(code)
    return codes


_FROZEN_CODES = _codes_of(_bootstrap.FrozenImporter)
_CALL_WITH_FRAMES_REMOVED = _bootstrap._call_with_frames_removed.__code__  # type: ignore[attr-defined]


def _frozen_import(frame: Any) -> bool:
    """True when FRAME is the frozen importer (directly, or through _call_with_frames_removed)."""
    if frame is None:
        return False
    if frame.f_code is _CALL_WITH_FRAMES_REMOVED:
        frame = frame.f_back
    return frame is not None and frame.f_code in _FROZEN_CODES


_LIBRARY_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
                 "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib")


def _search_library(name: str) -> Optional[str]:
    """Where the dynamic linker would find NAME: LD_LIBRARY_PATH, then the usual directories."""
    dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d] + list(_LIBRARY_DIRS)
    for directory in dirs:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
    return None
