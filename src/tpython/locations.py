"""Where this interpreter keeps its code: prefixes, the standard library, site-packages.

Computed once, and correct even in the bootstrap, which runs with `-S`:
there `site` has not yet switched `sys.prefix` to the virtual environment,
so the venv is found the way `site.venv()` finds it (a `pyvenv.cfg` beside
the executable or one directory up). The site directories are the ones
`site` itself adds for these prefixes (so a distribution's own, such as
Debian's ``/usr/lib/python3/dist-packages``, are included); `sysconfig` is
not imported (its import and scheme expansion cost milliseconds per start).
"""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from tpython.lean_typing import NamedTuple


class Locations(NamedTuple):
    """Directories, each without a trailing separator."""

    prefixes: tuple[str, ...]
    stdlib: tuple[str, ...]
    site: tuple[str, ...]
    tpython: str


def _venv_prefix() -> str | None:
    exe_dir = os.path.dirname(os.path.abspath(sys.executable or ""))
    for candidate in (exe_dir, os.path.dirname(exe_dir)):
        if os.path.isfile(os.path.join(candidate, "pyvenv.cfg")):
            return candidate
    return None


def locations() -> Locations:
    """This interpreter's code locations (worked out once)."""
    if not _FOUND:
        _FOUND.append(_find_locations())
    return _FOUND[0]


_FOUND: list[Locations] = []


def _find_locations() -> Locations:
    import site  # the `tpython` command has loaded it already (without running it)

    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    venv = _venv_prefix()
    if venv:
        prefixes.add(venv)
    site_dirs = set(site.getsitepackages(sorted(prefixes)))
    try:
        site_dirs.add(site.getusersitepackages())
    except AttributeError:  # pragma: no cover - a stripped site module
        pass
    # sysconfig's "stdlib" and "platstdlib" for posix_prefix: {base}/{platlibdir}/pythonX.Y
    version_dir = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    stdlib = {os.path.join(base, getattr(sys, "platlibdir", "lib"), version_dir)
              for base in (sys.base_prefix, sys.base_exec_prefix)}
    found = getattr(sys, "_stdlib_dir", None) or os.path.dirname(os.__file__)  # where it was found (3.11+)
    stdlib.add(found)
    site_dirs -= stdlib  # a prefix's site-packages never is the stdlib, but be sure
    import tpython

    return Locations(
        prefixes=tuple(sorted(p.rstrip(os.sep) for p in prefixes)),
        stdlib=tuple(sorted(p.rstrip(os.sep) for p in stdlib)),
        site=tuple(sorted(p.rstrip(os.sep) for p in site_dirs)),
        tpython=os.path.dirname(os.path.abspath(tpython.__file__)),
    )
