"""What C's attribution (native/attrib.c) asks of Python: the launcher's own file, and
the distribution that owns a top-level module.

C finds the responsible module of each event itself (the innermost frame outside the
standard library and tpython, SPEC 4); for a module in a site-packages directory it
asks :meth:`Attributor.distribution` once per top-level name, from its record writing
(not while it decides, and never with the hook standing aside).
"""
from __future__ import annotations

import sys

from tpython.locations import locations

TYPE_CHECKING = False
if TYPE_CHECKING:
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
    """The launcher's file, and distributions by top-level module name, cached."""

    def __init__(self) -> None:
        where = locations()
        self.launcher_file = launcher_file()
        from tpython._native import pathlib_configure  # where C reads pathlib's own code from (pathobj.c)

        pathlib_configure(list(where.stdlib))
        self._packages: dict[str, Optional[dict[str, str]]] = {}
        self._dist_map: Optional[dict[str, list[str]]] = None

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
