"""Render audit-event arguments JSON-safe and bounded, without running user code.

The hook sees the program's own objects. Calling their ``__repr__``,
``__str__`` or ``__fspath__`` would run the program's code inside the
hook (where it could inspect tpython's frames) and would let an object
show one path to the check and another to the operation. So only exact
built-in types are looked into; anything else is named by its type.

Rendering never raises: an object it cannot look into as expected (a
compiled class without ``__module__``, a released memoryview, a path
object without its parts) is named by its type instead.
"""
from __future__ import annotations

import os
import sys
from itertools import islice

from tpython.engine.eventargs import PATH_ARGS, PATH_LIST_ARGS, TEXT_ARGS
from tpython.sha256 import sha256_hex

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType as _CODE
    from types import FunctionType
    from types import FunctionType as _FUNCTION
    from types import ModuleType as _MODULE
    from typing import Any, Callable, Optional, Sequence, TypeGuard
else:  # the types `types` names, taken as it takes them (it is not loaded at start)
    _FUNCTION = type(lambda: None)
    _CODE = type((lambda: None).__code__)
    _MODULE = type(sys)

MAX_STR = 512
MAX_ITEMS = 16
MAX_DEPTH = 4
EXCERPT = 200
# Integers wider than this are named by their width: their digits would be long, and
# past sys.get_int_max_str_digits() (which the program may lower to 640) not writable.
MAX_INT_BITS = 1024

_type_qualname = type.__dict__["__qualname__"].__get__
_type_module = type.__dict__["__module__"].__get__
# Sockets and address literals without loading _socket at start (a fifth of a
# millisecond), and without trusting a module the program may later put in
# sys.modules under that name: tpython._native finds the genuine socket class along a
# value's own type and calls the C library's inet_aton/inet_pton (native/net.c).
# A pathlib path's text is read from its slots in C (native/pathobj.c), only where its
# class's __fspath__ and __str__ are pathlib's own code; never by calling them.
socket_class: Callable[[object], Any]  # a type, or None
inet_aton: Callable[[str], Optional[bytes]]
is_ipv6: Callable[[str], bool]
pathlib_text: Callable[[object], Optional[str]]
try:
    from tpython._native import inet_aton, is_ipv6, pathlib_text, socket_class
except ImportError:  # the Python engine's platforms: _socket, loaded before the hooks
    import _socket

    def pathlib_text(value: object) -> Optional[str]:
        """A pathlib path's text: unknown without the native module."""
        return None

    def socket_class(value: object) -> Any:
        """The _socket.socket VALUE's type derives from, or None."""
        return _socket.socket if issubclass(type(value), _socket.socket) else None

    def inet_aton(text: str) -> Optional[bytes]:
        """The C library's inet_aton of TEXT (4 bytes), or None."""
        try:
            return _socket.inet_aton(text)
        except (OSError, ValueError):
            return None

    def is_ipv6(text: str) -> bool:
        """Whether the C library's inet_pton takes TEXT as an IPv6 address."""
        try:
            _socket.inet_pton(_socket.AF_INET6, text)
        except (OSError, ValueError):
            return False
        return True
_FAMILIES = {0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK",
             17: "AF_PACKET", 40: "AF_VSOCK"}
_SOCK_TYPES = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 5: "SOCK_SEQPACKET"}

# Events whose arguments at these positions are source text to digest.
SOURCE_ARGS = {"compile": (0,), "cpython.run_command": (0,), "exec": (0,)}


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


def _class_parts(cls: type) -> tuple[Optional[str], str]:
    """The ``__module__`` and ``__qualname__`` of the class CLS as plain text (str
    subclasses copied without their methods), read without running user code. The
    module is None when it is missing (a class made by mypyc, or by ``type()`` called
    where ``__name__`` is not defined) or not a str; the qualname "?" when unreadable."""
    try:
        module = exact_str(_type_module(cls))
    except Exception:  # AttributeError: no __module__ in the class's dict
        module = None
    try:
        qual = exact_str(_type_qualname(cls)) or "?"
    except Exception:  # a C type whose name is not UTF-8
        qual = "?"
    return module, qual


def class_name(cls: type) -> str:
    """`module.QualName` of the class CLS, or its qualname alone when it has no module."""
    module, qual = _class_parts(cls)
    return qual if module is None else f"{module}.{qual}"


def type_name(obj: object) -> str:
    """`module.QualName` of OBJ's type (the qualname alone for builtins), read
    without running user code."""
    module, qual = _class_parts(type(obj))
    return qual if module is None or module == "builtins" else f"{module}.{qual}"


def arg_types(args: tuple[Any, ...]) -> str:
    """An event's arguments named by their types, for messages: "class pkg.Thing, str, str"."""
    return ", ".join(f"class {class_name(a)}" if isa(a, type) else type_name(a) for a in plain_seq(args) or ())


def digest(data: bytes) -> str:
    """Lowercase hex SHA-256."""
    return sha256_hex(data)


def exact_str(value: object) -> Optional[str]:
    """VALUE as a plain str if it is a str (subclasses copied without their methods)."""
    if type(value) is str:
        return value
    if isa(value, str):
        return str.__str__(value)
    return None


def bound(text: str) -> str:
    """Cut long text, saying how much was left out."""
    if len(text) <= MAX_STR:
        return text
    return f"{text[:MAX_STR]}…[+{len(text) - MAX_STR} chars]"


def source(value: object) -> Any:
    """Source text (str, bytes or AST) as an excerpt plus the SHA-256 of the whole."""
    text = exact_str(value)
    if text is not None:
        encoded = text.encode("utf-8", "surrogatepass")
        return {"excerpt": text[:EXCERPT], "length": len(text), "sha256": digest(encoded)}
    data = plain_bytes(value)
    if data is not None:
        return {"excerpt": data[:EXCERPT].decode("utf-8", "replace"), "length": len(data), "sha256": digest(data)}
    return render(value)


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


def render(value: object, depth: int = 0) -> Any:
    """One argument, JSON-safe and bounded; never raises (see :func:`unrenderable`)."""
    try:
        return _render(value, depth)
    except Exception:
        return unrenderable(value)


def unrenderable(value: object) -> str:
    """What an object that could not be rendered as expected is shown as: its type."""
    try:
        return f"<{type_name(value)}>"
    except Exception:
        return "<object>"


def _int(value: int) -> Any:
    bits = int.bit_length(value)
    if bits <= MAX_INT_BITS:
        return value
    return f"<{'negative ' if value < 0 else ''}int of {bits} bits>"


def _render(value: object, depth: int) -> Any:
    if value is None or type(value) is bool:
        return value
    if type(value) is int:
        return _int(value)
    if type(value) is float:
        return value if value - value == 0.0 else repr(value)  # finite (not inf, not nan); no math module
    text = exact_str(value)
    if text is not None:
        return bound(text)
    data = plain_bytes(value)
    if data is not None:
        return {"bytes": len(data), "sha256": digest(data)}
    if isa(value, int):  # int subclasses (IntEnum, bool handled above)
        return _int(int.__index__(value))
    if type(value) is _CODE:  # (its names may be str subclasses: copied as plain text)
        name = exact_str(getattr(value, "co_qualname", value.co_name))
        return {"code": {"file": exact_str(value.co_filename), "name": name, "line": value.co_firstlineno}}
    sock = socket_class(value)
    if sock is not None:
        fam, typ = sock.family.__get__(value), sock.type.__get__(value)
        return {"socket": {"family": _FAMILIES.get(int(fam), str(int(fam))),
                           "type": _SOCK_TYPES.get(int(typ) & 0xF, str(int(typ)))}}
    if depth >= MAX_DEPTH:
        return f"<{type_name(value)}>"
    if isa(value, (tuple, list)):
        # the base type's methods: the program's own __len__/__getitem__ are not called
        head: Sequence[Any]
        if isa(value, tuple):
            n, head = tuple.__len__(value), tuple.__getitem__(value, slice(0, MAX_ITEMS))
        else:
            n, head = list.__len__(value), list.__getitem__(value, slice(0, MAX_ITEMS))
        items = [render(item, depth + 1) for item in head]
        if n > MAX_ITEMS:
            items.append(f"…[+{n - MAX_ITEMS} items]")
        return items
    if isa(value, dict):
        # the first items taken in one C call: another thread cannot change the dict midway
        n, pairs = dict.__len__(value), list(islice(dict.items(value), MAX_ITEMS))
        out: dict[str, Any] = {}
        for k, v in pairs:
            key = exact_str(k)
            out[bound(key) if key is not None else f"<{type_name(k)}>"] = render(v, depth + 1)
        if n > MAX_ITEMS:
            out["…"] = f"+{n - MAX_ITEMS} items"
        return out
    text = pathlib_text(value)
    if text is not None:
        return bound(text)
    if type(value) is _FUNCTION:
        return f"<function {_qual(value)}>"
    if type(value) is _MODULE:
        name = exact_str(value.__dict__.get("__name__"))
        return f"<module {name}>"
    if isa(value, type):
        return f"<class {class_name(value)}>"
    return f"<{type_name(value)}>"


def _qual(func: FunctionType) -> str:
    module = exact_str(func.__module__) or "?"
    qual = exact_str(func.__qualname__) or "?"
    return f"{module}.{qual}"


def _path(value: object) -> Any:
    text = path_text(value) if value is not None else None
    return render(value) if text is None else bound(text)


def render_args(event: str, args: tuple[Any, ...]) -> list[Any]:
    """All of an event's arguments, rendered: paths as text (bytes and fds too),
    source text as excerpt + digest, text handed over as bytes decoded, everything
    else by :func:`render`."""
    sources = SOURCE_ARGS.get(event, ())
    paths = {pos for pos, _ in PATH_ARGS.get(event, ())}
    path_lists = PATH_LIST_ARGS.get(event, ())
    texts = TEXT_ARGS.get(event, ())
    out: list[Any] = []
    for i, a in enumerate(args):
        try:
            if i in sources and not isa(a, _CODE):
                out.append(source(a))
            elif i in paths:
                out.append(_path(a))
            elif i in texts:
                text = text_of(a)
                out.append(render(a) if text is None else bound(text))
            elif i in path_lists and plain_seq(a) is not None:
                out.append([_path(x) for x in plain_seq(a)[:MAX_ITEMS]])  # type: ignore[index]
            else:
                out.append(_render(a, 0))
        except Exception:
            out.append(unrenderable(a))
    return out
