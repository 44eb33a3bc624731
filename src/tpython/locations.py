"""Where this interpreter keeps its code: prefixes, the standard library, site-packages.

Computed once, and correct even in the bootstrap, which runs with `-S`:
there `site` has not yet switched `sys.prefix` to the virtual environment,
so the venv is found the way `site.venv()` finds it (a `pyvenv.cfg` beside
the executable or one directory up).
"""
from __future__ import annotations

import os
import sys
import sysconfig

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
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    venv = _venv_prefix()
    if venv:
        prefixes.add(venv)
    site_dirs: set[str] = set()
    stdlib: set[str] = set()
    for prefix in prefixes:
        paths = sysconfig.get_paths(vars={"base": prefix, "platbase": prefix,
                                          "installed_base": prefix, "installed_platbase": prefix})
        site_dirs.update((paths["purelib"], paths["platlib"]))
    base = sysconfig.get_paths()
    stdlib.update((base["stdlib"], base["platstdlib"]))
    try:
        import site

        site_dirs.add(site.getusersitepackages())
    except (ImportError, AttributeError):  # pragma: no cover - a stripped site module
        pass
    site_dirs -= stdlib  # a prefix's "purelib" never is the stdlib, but be sure
    import tpython

    return Locations(
        prefixes=tuple(sorted(p.rstrip(os.sep) for p in prefixes)),
        stdlib=tuple(sorted(p.rstrip(os.sep) for p in stdlib)),
        site=tuple(sorted(p.rstrip(os.sep) for p in site_dirs)),
        tpython=os.path.dirname(os.path.abspath(tpython.__file__)),
    )
