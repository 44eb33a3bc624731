"""Audit events CPython does not raise (or raises too late), added at start.

* ``_posixsubprocess.fork_exec`` raises no audit event before CPython 3.14
  (python/cpython#115322); it is wrapped to raise the event 3.14 raises,
  with the same arguments (executable_list, args, env). Where the C module is
  built the wrapper is C (native/originals.c): the function object stays the
  builtin, in every instance of the module, and the original is a C pointer.
* ``socket.socket.connect``/``connect_ex``/``bind``/``sendto`` resolve a host
  name in C before they raise their event, so a denied connection would
  still have sent the DNS query; they are wrapped to raise
  ``socket.getaddrinfo`` first when the address holds a name.

The socket methods' wrappers (and fork_exec's without the C module) are Python:
code that reaches the unwrapped functions (`_socket.socket`, the wrapper's closure)
avoids them; docs/limits.md.
"""
from __future__ import annotations

import sys

from tpython.engine.facts import is_address
from tpython.engine.plain import exact_str, plain_bytes, plain_seq

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable


def wrap_fork_exec(audit: Callable[..., None]) -> None:
    """Make `_posixsubprocess.fork_exec` raise `_posixsubprocess.fork_exec` first (CPython < 3.14)."""
    import _posixsubprocess  # imported before the hook on every version: strict denies re-imports

    if sys.version_info >= (3, 14):
        return
    try:
        from tpython import _native
    except ImportError:  # not built: a Python wrapper (its closure holds the original)
        pass
    else:
        _native.wrap_fork_exec(_posixsubprocess.fork_exec)
        return

    original = _posixsubprocess.fork_exec

    def fork_exec(args: Any, executable_list: Any, *rest: Any) -> Any:
        env = rest[3] if len(rest) > 3 else None  # (close_fds, pass_fds, cwd, env, …)
        audit("_posixsubprocess.fork_exec", executable_list, args, env)
        return original(args, executable_list, *rest)

    fork_exec.__doc__ = original.__doc__
    _posixsubprocess.fork_exec = fork_exec


def _name_in(address: Any) -> tuple[str, Any] | None:
    """(host name, port) when ADDRESS is an (host, port, …) tuple whose host is a name."""
    seq = plain_seq(address) if type(address) is not str else None
    if not seq:
        return None
    host = exact_str(seq[0])
    if host is None:
        data = plain_bytes(seq[0])
        host = data.decode("idna", "replace") if data is not None else None
    if not host or host == "<broadcast>" or is_address(host):
        return None
    return host, (seq[1] if len(seq) > 1 else None)


def audit_name_resolution(socket_class: type, audit: Callable[..., None]) -> None:
    """Make the socket methods that take an address raise `socket.getaddrinfo` before resolving it."""
    for name in ("connect", "connect_ex", "bind", "sendto"):
        original = getattr(socket_class, name)

        def method(self: Any, *args: Any, _original: Any = original) -> Any:
            named = _name_in(args[-1]) if args else None
            if named is not None:
                audit("socket.getaddrinfo", named[0], named[1], self.family, self.type, 0)
            return _original(self, *args)

        method.__name__ = name
        method.__qualname__ = f"{socket_class.__qualname__}.{name}"
        method.__doc__ = original.__doc__
        setattr(socket_class, name, method)
