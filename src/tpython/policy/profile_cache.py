"""The built-in profiles, parsed once: a cache beside them, as CPython caches byte code.

Every `tpython run` reads a built-in profile (`default` at least); parsing it
needs `tomllib`, whose import (with `datetime`, `string` and its regular
expressions) is a measurable part of start-up. The parsed data is kept in
``profiles/__pycache__/NAME.TAG.policy`` (``marshal``), together with the
exact text it was parsed from: the cache is used only when that text equals
the profile's current text, so an edited profile is never read stale. It is
trusted exactly as far as tpython's own ``.pyc`` files beside it are. A
cache that cannot be read or written is ignored; the profile is then parsed.
"""
from __future__ import annotations

import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional


_FORMAT = 1


def _cache_path(profile: str) -> str:
    folder, name = os.path.split(profile)
    stem = os.path.splitext(name)[0]
    return os.path.join(folder, "__pycache__", f"{stem}.{sys.implementation.cache_tag}.policy")


def load(profile: str, text: str) -> Optional[dict[str, Any]]:
    """The parsed data of PROFILE when the cache holds it for exactly TEXT, else None."""
    try:
        with open(_cache_path(profile), "rb") as f:
            cached = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if type(cached) is not tuple or len(cached) != 3 or cached[0] != _FORMAT or cached[1] != text:
        return None
    data = cached[2]
    return data if type(data) is dict else None


def store(profile: str, text: str, data: dict[str, Any]) -> None:
    """Keep DATA for TEXT; silently nothing when the directory is not writable."""
    path = _cache_path(profile)
    temp = f"{path}.{os.getpid()}.tmp"
    try:
        blob = marshal.dumps((_FORMAT, text, data))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temp, "wb") as f:
            f.write(blob)
        os.replace(temp, path)  # readers see the old file or the new one, never half of one
    except (OSError, ValueError):
        try:
            os.unlink(temp)
        except OSError:
            pass
