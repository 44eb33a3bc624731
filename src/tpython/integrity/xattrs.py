"""The spython xattr (SPEC 3.2): ``user.org.python.x-spython-hash`` = lowercase hex SHA-256.

`stamp` behaves as the spython proof of concept's ``mkxattr.py``: a file
whose attribute is missing or stale gets the new hash, and its cached
``.pyc`` is refreshed first (``compileall.compile_file``), since it is
likely out of date too.
"""
from __future__ import annotations

import os
from typing import Iterable, Iterator, Optional, Union

from tpython.integrity.walk import code_files, sha256_file

XATTR_NAME = "user.org.python.x-spython-hash"


def read_stamp(target: Union[str, int]) -> Optional[str]:
    """The attribute's value on a path or fd, or None when it has none (or xattrs are unsupported)."""
    try:
        value = os.getxattr(target, XATTR_NAME)
    except OSError:
        return None
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        return None


def stamp(paths: Iterable[str], *, all_files: bool = False) -> Iterator[tuple[str, str]]:
    """Stamp every code file under PATHS; yields (path, "added" | "updated" | "unchanged")."""
    import compileall
    import importlib.util

    done: set[str] = set()
    for path in code_files(paths, all_files=all_files):
        if path in done:
            continue
        digest = sha256_file(path)
        current = read_stamp(path)
        if current == digest:
            yield path, "unchanged"
            continue
        os.setxattr(path, XATTR_NAME, digest.encode("ascii"))
        yield path, "added" if current is None else "updated"
        if path.endswith(".py"):  # the .pyc is likely out of date too: refresh and stamp it
            compileall.compile_file(path, quiet=2)
            cached = importlib.util.cache_from_source(path)
            if os.path.isfile(cached):
                done.add(cached)
                old = read_stamp(cached)
                os.setxattr(cached, XATTR_NAME, sha256_file(cached).encode("ascii"))
                yield cached, "added" if old is None else "updated"
