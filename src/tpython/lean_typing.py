"""What tpython's start-up path needs of `typing` and `collections` at run time,
without importing them.

`typing` costs several milliseconds to import, and `collections` (with the
`operator`, `keyword`, `reprlib` and `itertools` it loads) about one more;
every `tpython run` would pay that before the program starts. Modules on
the start-up path import `typing` only for the type checker::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import NamedTuple, Optional
    else:
        from tpython.lean_typing import NamedTuple

mypy reads the `if TYPE_CHECKING:` branch; at run time these stand-ins are used.
"""
from __future__ import annotations

from _operator import itemgetter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, Sequence

_NOT_ATTRIBUTES = frozenset({"__annotations__", "__module__", "__qualname__", "__dict__", "__weakref__",
                             "__orig_bases__", "__annotate__", "__annotate_func__",
                             "__annotations_cache__", "__classdictcell__", "__static_attributes__",
                             "__firstlineno__"})


_function: Any = type(lambda: None)  # types.FunctionType, without importing types
_tuple_new = tuple.__new__
_NEW_GLOBALS: dict[str, Any] = {"_tuple_new": _tuple_new}


# A tuple class's ``__new__`` for each field count up to 20, written out: these are
# compiled with the module (and kept in the start-up bundle), where compiling one at
# run time cost about 50 µs for each of the eight field counts start-up uses. Each
# class gives the parameters its fields' names (:func:`tuple_class`).
def _new1(cls, a):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a,))


def _new2(cls, a, b):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b))


def _new3(cls, a, b, c):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b, c))


def _new4(cls, a, b, c, d):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b, c, d))


def _new5(cls, a, b, c, d, e):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b, c, d, e))


def _new6(cls, a, b, c, d, e, f):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b, c, d, e, f))


def _new7(cls, a, b, c, d, e, f, g):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b, c, d, e, f, g))


def _new8(cls, a, b, c, d, e, f, g, h):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b, c, d, e, f, g, h))


def _new9(cls, a, b, c, d, e, f, g, h, i):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b, c, d, e, f, g, h, i))


def _new10(cls, a, b, c, d, e, f, g, h, i, j):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b, c, d, e, f, g, h, i, j))


def _new11(cls, a, b, c, d, e, f, g, h, i, j, k):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b, c, d, e, f, g, h, i, j, k))


def _new12(cls, a, b, c, d, e, f, g, h, i, j, k, l):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b, c, d, e, f, g, h, i, j, k, l))


def _new13(cls, a, b, c, d, e, f, g, h, i, j, k, l, m):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b, c, d, e, f, g, h, i, j, k, l, m))


def _new14(cls, a, b, c, d, e, f, g, h, i, j, k, l, m, n):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b, c, d, e, f, g, h, i, j, k, l, m, n))


def _new15(cls, a, b, c, d, e, f, g, h, i, j, k, l, m, n, o):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b, c, d, e, f, g, h, i, j, k, l, m, n, o))


def _new16(cls, a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p))


def _new17(cls, a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q))


def _new18(cls, a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r))


def _new19(cls, a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s))


def _new20(cls, a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t):  # type: ignore[no-untyped-def]
    return _tuple_new(cls, (a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t))


_NEW_CODE: dict[int, Any] = {n: globals()[f"_new{n}"].__code__ for n in range(1, 21)}


def _new_code(count: int) -> Any:
    """The code of a COUNT-field ``__new__``: written out above, else compiled once."""
    code = _NEW_CODE.get(count)
    if code is None:
        arguments = ", ".join(f"_{i}" for i in range(count))
        namespace: dict[str, Any] = {}
        exec(f"def __new__(_cls, {arguments}): return _tuple_new(_cls, ({arguments}{',' if count == 1 else ''}))",
             _NEW_GLOBALS, namespace)
        code = _NEW_CODE[count] = namespace["__new__"].__code__
    return code


def tuple_class(name: str, fields: Sequence[str], defaults: Sequence[Any] = (), module: str = __name__,
                body: Optional[dict[str, Any]] = None) -> type:
    """A tuple subclass with named fields, as `collections.namedtuple` makes one: the
    fields as read-only attributes, trailing DEFAULTS, `_fields`, `_field_defaults`,
    `_make`, `_replace`, `_asdict`, a readable repr, equality and hashing as tuples.
    BODY: more of the class's namespace (methods, ``__qualname__``, ``__doc__``), over
    what is made here, given to the one ``type()`` call (each attribute set on a class
    afterwards costs a lookup of every slot)."""
    fields = tuple(fields)
    count = len(fields)
    defaults = tuple(defaults)
    first_default = count - len(defaults)

    for field in fields:
        if not field.isidentifier() or field.startswith("_"):
            raise ValueError(f"{name}: bad field name {field!r}")
    # As collections.namedtuple does: __new__ with the fields as its parameters, so a
    # call costs what a tuple costs, and Python itself reports wrong arguments.
    __new__ = _function(_new_code(count).replace(co_varnames=("_cls", *fields)), _NEW_GLOBALS, "__new__",
                        defaults or None)
    __new__.__qualname__ = f"{name}.__new__"

    def _make(cls: type, iterable: Any) -> Any:
        values = tuple(iterable)
        if len(values) != count:
            raise TypeError(f"Expected {count} arguments, got {len(values)}")
        return tuple.__new__(cls, values)

    def _replace(self: Any, **changes: Any) -> Any:
        values = [changes.pop(field, value) for field, value in zip(fields, self)]
        if changes:
            raise ValueError(f"Got unexpected field names: {list(changes)!r}")
        return tuple.__new__(type(self), values)

    def _asdict(self: Any) -> dict[str, Any]:
        return dict(zip(fields, self))

    def __repr__(self: Any) -> str:  # noqa: N807
        return f"{type(self).__name__}(" + ", ".join(f"{f}={v!r}" for f, v in zip(fields, self)) + ")"

    def __getnewargs__(self: Any) -> tuple[Any, ...]:  # noqa: N807
        return tuple(self)

    namespace: dict[str, Any] = {
        "__slots__": (), "__module__": module, "__doc__": f"{name}({', '.join(fields)})",
        "_fields": fields, "_field_defaults": dict(zip(fields[first_default:], defaults)),
        "__match_args__": fields, "__new__": __new__, "_make": classmethod(_make), "_replace": _replace,
        "_asdict": _asdict, "__repr__": __repr__, "__getnewargs__": __getnewargs__,
    }
    for index, field in enumerate(fields):
        namespace[field] = property(itemgetter(index), doc=f"Alias for field number {index}")
    if body:
        namespace.update(body)
    return type(name, (tuple,), namespace)


class _NamedTupleMeta(type):
    """Builds a :func:`tuple_class` from a class body, as `typing.NamedTuple` does:
    annotated names are the fields (in order), their class-level values the defaults,
    and everything else in the body (methods, properties, constants) is kept."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> type:
        fields = list(namespace.get("__annotations__", {}))
        defaults = [namespace[field] for field in fields if field in namespace]
        body = {key: value for key, value in namespace.items()
                if key not in fields and key not in _NOT_ATTRIBUTES and key != "__doc__"}
        body["__qualname__"] = str(namespace.get("__qualname__", name))
        if namespace.get("__doc__"):
            body["__doc__"] = namespace["__doc__"]
        return tuple_class(name, fields, defaults, module=str(namespace["__module__"]), body=body)


NamedTuple = type.__new__(_NamedTupleMeta, "NamedTuple", (), {})


class Protocol:
    """Stands in for `typing.Protocol` as a base class (no run-time checks)."""

    __slots__ = ()
