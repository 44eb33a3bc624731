"""Which module is responsible for an event, and which distribution owns it.

The responsible module is the innermost frame outside the standard
library and tpython itself (SPEC 4). Classifying a code object's file is
cached by filename; the owning distribution is looked up only for modules
that live in a site-packages directory, once per top-level name.
"""
from __future__ import annotations

import os
import sys

from tpython.locations import locations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import Any, Optional


def launcher_file() -> str:
    """The file of the outermost frame while tpython starts: the launcher's own code
    (the `tpython` script, or ``<string>`` for the native launcher and the ``-c``
    bootstrap line), never the program's. Events that reach it through tpython and
    the standard library alone (`site`, opening and compiling the main script) are
    no module's."""
    frame = sys._getframe()
    while frame.f_back is not None:
        frame = frame.f_back
    return frame.f_code.co_filename


class Attributor:
    """Finds the responsible module for the current event, with caches."""

    def __init__(self) -> None:
        where = locations()
        self.launcher_file = launcher_file()
        self._stdlib = tuple(d + os.sep for d in where.stdlib)
        try:  # where C reads pathlib's own code from (render.pathlib_text), before the program runs
            from tpython._native import pathlib_configure
        except ImportError:
            pass
        else:
            pathlib_configure(list(where.stdlib))
        self._site = tuple(d + os.sep for d in where.site)
        self._tpython = where.tpython + os.sep
        self._skip: dict[str, bool] = {}
        self._packages: dict[str, Optional[dict[str, str]]] = {}
        self._dist_map: Optional[dict[str, list[str]]] = None

    def _skipped(self, filename: str) -> bool:
        skip = self._skip.get(filename)
        if skip is None:
            if filename.startswith("<frozen "):
                skip = True
            elif filename.startswith(self._tpython):
                skip = True
            elif filename.startswith(self._site):
                skip = False
            else:
                skip = filename.startswith(self._stdlib)
            self._skip[filename] = skip
        return skip

    def responsible(self, frame: Optional[FrameType]) -> tuple[Optional[str], Optional[str]]:
        """(module name, file) of the innermost frame outside the stdlib and tpython."""
        while frame is not None:
            code = frame.f_code
            if frame.f_back is None and code.co_filename == self.launcher_file:
                break  # the launcher's own frame: the `tpython` command, or the `-c` bootstrap line
            if not self._skipped(code.co_filename):
                name = frame.f_globals.get("__name__")
                return (name if type(name) is str else None), code.co_filename
            frame = frame.f_back
        return None, None

    def package(self, module: Optional[str], filename: Optional[str]) -> Optional[dict[str, str]]:
        """{"name", "version"} of the distribution owning MODULE, or None."""
        if not module or not filename or not filename.startswith(self._site):
            return None
        top = module.split(".", 1)[0]
        return None if top == "__main__" else self.distribution(top)

    def distribution(self, top: str) -> Optional[dict[str, str]]:
        """{"name", "version"} of the distribution providing top-level module TOP, cached."""
        if top not in self._packages:
            self._packages[top] = self._lookup(top)
        return self._packages[top]

    def _lookup(self, top: str) -> Optional[dict[str, str]]:
        try:
            from importlib import metadata
        except ImportError:  # pragma: no cover
            return None
        try:
            if self._dist_map is None:
                self._dist_map = _packages_distributions(metadata)
            names = self._dist_map.get(top)
            if not names:
                return None
            return {"name": names[0], "version": metadata.version(names[0])}
        except Exception:  # metadata of a broken install must not break the hook
            return None


def _packages_distributions(metadata: Any) -> dict[str, list[str]]:
    """Top-level import name -> distribution names (importlib.metadata on 3.10+)."""
    if hasattr(metadata, "packages_distributions"):
        return dict(metadata.packages_distributions())
    mapping: dict[str, list[str]] = {}  # pragma: no cover - Python 3.9
    for dist in metadata.distributions():  # pragma: no cover
        top_level = (dist.read_text("top_level.txt") or "").split()
        for name in top_level:
            mapping.setdefault(name, []).append(dist.metadata["Name"])
    return mapping


def current_frame(depth: int) -> Optional[FrameType]:
    """The caller's frame DEPTH levels up (sys._getframe, bound once)."""
    try:
        return sys._getframe(depth + 1)
    except ValueError:
        return None
