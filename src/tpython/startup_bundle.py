"""tpython's own start-up modules read from one file of compiled code.

`tpython run` imports about 45 of its own modules before the program starts;
finding, opening and reading each one's ``.pyc`` costs about 4 ms of every
start. ``__pycache__/startup.TAG.bundle`` beside the package holds the same
compiled code (the bytes of those ``.pyc`` files after their header) in one
file, read once. It is trusted exactly as far as the ``.pyc`` files beside it
are: it lives in the same directory tree and is written the same way (by the
interpreter running tpython, atomically). Each entry records its source's
mtime and size, as a ``.pyc`` does, and one whose source changed is not used:
the module is imported the usual way and the bundle is written again.

The `tpython` command installs the finder before importing its modules
(:func:`use_bundle`); `tpython run` takes it out of ``sys.meta_path`` before
the hooks are installed and the program starts (:func:`finish`), writing the
bundle when a start-up module was missing from it. Any failure here only
means the usual imports.
"""
from __future__ import annotations

import marshal
import os
import sys
from _frozen_importlib import ModuleSpec
from _frozen_importlib_external import MAGIC_NUMBER, cache_from_source

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
BUNDLE = os.path.join(PACKAGE_DIR, "__pycache__", f"startup.{sys.implementation.cache_tag}.bundle")
FORMAT = 1
_ACTIVE: list[BundleFinder] = []


class BundleFinder:
    """A meta path finder and loader for ``tpython.*`` modules held in the bundle.
    ENTRIES: name -> (is_package, source path, source mtime_ns, source size, code bytes)."""

    def __init__(self, entries: dict[str, tuple[Any, ...]]) -> None:
        self.entries = entries
        self.missed = False  # a tpython module was not in the bundle, or its source changed

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Optional[ModuleSpec]:
        if not name.startswith("tpython."):
            return None
        entry = self.entries.get(name)
        if entry is None or not _fresh(entry):
            self.missed = True
            return None
        is_package, origin = entry[0], entry[1]
        spec = ModuleSpec(name, self, origin=origin, is_package=is_package)  # type: ignore[arg-type]
        spec.has_location = True
        spec.cached = cache_from_source(origin)
        if is_package:
            spec.submodule_search_locations = [os.path.dirname(origin)]
        return spec

    def create_module(self, spec: ModuleSpec) -> None:
        return None  # the default module

    def exec_module(self, module: Any) -> None:
        exec(marshal.loads(self.entries[module.__spec__.name][4]), module.__dict__)


def _fresh(entry: tuple[Any, ...]) -> bool:
    try:
        st = os.stat(entry[1])
    except OSError:
        return False
    return bool(st.st_mtime_ns == entry[2] and st.st_size == entry[3])


def use_bundle() -> None:
    """Put the bundle's finder first on ``sys.meta_path`` (an empty one when there is no
    usable bundle yet, so that :func:`finish` writes it)."""
    entries: dict[str, tuple[Any, ...]] = {}
    try:
        with open(BUNDLE, "rb") as f:
            data = marshal.load(f)
        if isinstance(data, dict) and data.get("format") == FORMAT and data.get("package") == PACKAGE_DIR \
                and isinstance(data.get("modules"), dict):
            entries = data["modules"]
    except (OSError, ValueError, EOFError, TypeError):
        pass
    finder = BundleFinder(entries)
    sys.meta_path.insert(0, finder)
    _ACTIVE.append(finder)


def finish(write: bool) -> None:
    """Take the finder out of ``sys.meta_path`` (the program never meets it); with WRITE,
    write the bundle again when a start-up module was missing from it or changed."""
    if not _ACTIVE:
        return
    finder = _ACTIVE.pop()
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)
    if write and finder.missed:
        _write({name: entry for name, entry in finder.entries.items() if _fresh(entry)})


def _write(entries: dict[str, tuple[Any, ...]]) -> None:
    """ENTRIES plus every loaded tpython module whose ``.pyc`` matches its source, to BUNDLE."""
    for name, module in list(sys.modules.items()):
        if not name.startswith("tpython.") or name in entries:
            continue
        entry = _entry_of(module)
        if entry is not None:
            entries[name] = entry
    tmp = f"{BUNDLE}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(BUNDLE), exist_ok=True)
        with open(tmp, "wb") as f:
            marshal.dump({"format": FORMAT, "package": PACKAGE_DIR, "modules": entries}, f)
        os.replace(tmp, BUNDLE)  # readers see the old file or the new one, never half of one
    except OSError:  # a read-only installation: the usual imports, every time
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _entry_of(module: Any) -> Optional[tuple[Any, ...]]:
    spec: Any = getattr(module, "__spec__", None)
    origin = getattr(spec, "origin", None)
    if not isinstance(origin, str) or not origin.endswith(".py") or \
            os.path.dirname(origin) != PACKAGE_DIR and not origin.startswith(PACKAGE_DIR + os.sep):
        return None
    try:
        st = os.stat(origin)
        with open(cache_from_source(origin), "rb") as f:
            pyc = f.read()
    except OSError:
        return None
    # A timestamp-based .pyc of this interpreter for exactly this source (PEP 552).
    if len(pyc) < 16 or pyc[:4] != MAGIC_NUMBER or pyc[4:8] != b"\0\0\0\0" \
            or int.from_bytes(pyc[8:12], "little") != int(st.st_mtime) & 0xFFFFFFFF \
            or int.from_bytes(pyc[12:16], "little") != st.st_size & 0xFFFFFFFF:
        return None
    return (spec.submodule_search_locations is not None, origin, st.st_mtime_ns, st.st_size, pyc[16:])
