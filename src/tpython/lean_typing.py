"""What tpython's start-up path needs of `typing` at run time, without importing it.

`typing` costs several milliseconds to import (and its `NamedTuple` more per
class); every `tpython run` pays that before the program starts. Modules on
the start-up path import `typing` only for the type checker::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import NamedTuple, Optional
    else:
        from tpython.lean_typing import NamedTuple

mypy reads the `if TYPE_CHECKING:` branch; at run time these stand-ins are used.
"""
from __future__ import annotations

from collections import namedtuple

_NOT_ATTRIBUTES = frozenset({"__annotations__", "__module__", "__qualname__", "__dict__", "__weakref__",
                             "__orig_bases__", "__annotate__", "__annotate_func__",
                             "__annotations_cache__", "__classdictcell__", "__static_attributes__",
                             "__firstlineno__"})


class _NamedTupleMeta(type):
    """Builds `collections.namedtuple` from a class body, as `typing.NamedTuple` does:
    annotated names are the fields (in order), their class-level values the defaults,
    and everything else in the body (methods, properties, constants) is kept."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, object]) -> type:
        fields = list(namespace.get("__annotations__", {}))  # type: ignore[call-overload]
        defaults = [namespace[field] for field in fields if field in namespace]
        cls: type = namedtuple(name, fields, defaults=defaults, module=str(namespace["__module__"]))  # type: ignore[misc]
        cls.__qualname__ = str(namespace.get("__qualname__", name))
        for key, value in namespace.items():
            if key not in fields and key not in _NOT_ATTRIBUTES:
                setattr(cls, key, value)
        return cls


NamedTuple = type.__new__(_NamedTupleMeta, "NamedTuple", (), {})


class Protocol:
    """Stands in for `typing.Protocol` as a base class (no run-time checks)."""

    __slots__ = ()
