"""Event arguments read as plain values, without running the program's code.

The hook sees the program's own objects; calling their ``__len__``, ``__getitem__``,
``__bytes__`` or ``__fspath__`` would run the program's code and could show one value
to a check and another to the operation. These read exact built-in storage through
the base types' own methods, and a pathlib path through C (native/pathobj.c); for
what they cannot read they answer None. Used where Python still reads event
arguments: the log analysis (engine.facts, on logged values) and the launcher's
guards. Every decision is C's.
"""
from __future__ import annotations

import os

from tpython._native import pathlib_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, TypeGuard

# Integers wider than this are no descriptor.
MAX_INT_BITS = 1024


def isa(value: object, classinfo: Any) -> TypeGuard[Any]:
    """isinstance() without running the program's code: isinstance() falls back to
    ``value.__class__`` (a user ``__getattribute__``/property) when the real type
    does not match; the real type is all the hook may look at."""
    return issubclass(type(value), classinfo)


def plain_bytes(value: object) -> Optional[bytes]:
    """A bytes-like argument as plain bytes, without the program's ``__bytes__``."""
    if type(value) is bytes:
        return value
    if isa(value, bytes):
        return bytes.__getitem__(value, slice(None))
    if isa(value, bytearray):
        return bytes(bytearray.__getitem__(value, slice(None)))
    if type(value) is memoryview:
        try:
            return value.tobytes()
        except ValueError:  # released
            return None
    return None


def plain_seq(value: object) -> Optional[tuple[Any, ...]]:
    """A tuple or list argument as a plain tuple, read with the base type's methods."""
    if type(value) is tuple:
        return value
    if isa(value, tuple):
        return tuple.__getitem__(value, slice(None))
    if isa(value, list):
        return tuple(list.__getitem__(value, slice(None)))
    return None


def exact_str(value: object) -> Optional[str]:
    """VALUE as a plain str if it is a str (subclasses copied without their methods)."""
    if type(value) is str:
        return value
    if isa(value, str):
        return str.__str__(value)
    return None


def text_of(value: object) -> Optional[str]:
    """VALUE as text when it is a str, or bytes (decoded as os.fsdecode does)."""
    text = exact_str(value)
    if text is not None:
        return text
    data = plain_bytes(value)
    return os.fsdecode(data) if data is not None else None


def path_text(value: object) -> Optional[str]:
    """A path argument as text: str, bytes, an fd (resolved through /proc) or a pathlib path.

    Returns None for objects whose path could only be learnt by running
    their own code, and for pathlib paths C cannot read (:data:`pathlib_text`).
    """
    text = text_of(value)
    if text is not None:
        return text
    if type(value) is int and int.bit_length(value) <= MAX_INT_BITS:
        try:
            return os.readlink(f"/proc/self/fd/{value}")
        except OSError:
            return f"fd:{value}"
    return pathlib_text(value)
