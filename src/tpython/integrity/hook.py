"""The open_code hook's Python side: what it raises, and the configuration C takes.

Every file CPython reads as code passes tpython's C checks (``native/codecheck.c``,
with the trust sources of ``native/trust.c``), installed by the bootstrap before
``site`` (``.pth`` files and the target are read through it); the audit hook's
guard (``native/guard.c``) checks code that arrives through ``import`` of an
extension module, ``compile``, ``marshal.loads`` and ``ctypes.dlopen``. The bytes
that were checked are the bytes handed to the loader (an in-memory file), so
swapping the file afterwards gains nothing. A refusal is logged as
``tpython.integrity`` and raised by C as :class:`CodeRefused` (an ``ImportError``)
or :class:`CacheRefused`, the classes captured at installation. No Python function
of tpython runs while a file is checked: replacing one changes nothing.
"""
from __future__ import annotations

import _frozen_importlib_external as _bootstrap_external  # the import system, loaded at start
import io

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any, Callable, Optional

    from tpython.policy.settings import IntegritySettings


class CodeRefused(ImportError):
    """A file was refused as code; the message names the file and the reason (C sets
    ``path`` and ``reason``, building the exception with ImportError's constructor)."""

    reason: str


class CacheRefused(PermissionError):
    """A refused file whose reader has a safe way on: a cached ``.pyc`` (the import
    system falls back to the ``.py`` beside it, checked in its turn) or a ``.pth``
    file (``site`` skips it). An OSError, which is what those readers handle."""


GUARD_EVENTS = frozenset({"import", "compile", "marshal.loads", "ctypes.dlopen"})


def trust_config(integrity: IntegritySettings, manifest_sha256: Optional[str]) -> dict[str, Any]:
    """What `[integrity]` asks of C's checks; a manifest is loaded as the bytes the
    launcher verified, and its table handed to C (which keeps its own copy)."""
    manifest = None
    if integrity.manifest:
        from tpython.integrity import manifest as manifests
        from tpython.integrity.errors import IntegrityError

        path = integrity.manifest
        if manifest_sha256 is None:
            raise IntegrityError(f"manifest {path} was not verified by the launcher")
        loaded = manifests.load_verified(path, manifest_sha256)
        manifest = (loaded.path, loaded.files)
    return native_config(max_size=integrity.max_size, kernel_check=integrity.kernel_check,
                         require=integrity.require, xattr=integrity.xattr, manifest=manifest)


def native_config(*, max_size: int, kernel_check: bool, require: bool, xattr: bool,
                  manifest: Optional[tuple[str, dict[str, str]]]) -> dict[str, Any]:
    """The configuration C's checks take (native/trust.c, trust_parse); MANIFEST is
    (its path, {real path: sha256})."""
    return {"max_size": max_size, "kernel_check": kernel_check, "require": require, "xattr": xattr,
            "manifest": manifest}


def close_sourceless_gap() -> None:
    """Make `SourcelessFileLoader` read through ``io.open_code`` (CVE-2026-2297).

    Before python/cpython#145506, CPython reads sourceless ``.pyc`` files with a
    plain ``FileIO``, so they never reach the open_code hook. ``io.open_code`` is
    bound here, at start, so a program that later replaces it does not change
    this path.
    """
    SourcelessFileLoader = _bootstrap_external.SourcelessFileLoader  # importlib.machinery's, not imported

    def get_data(self: Any, path: str, _open_code: Callable[[str], IO[bytes]] = io.open_code) -> bytes:
        with _open_code(str(path)) as file:
            return file.read()

    get_data.__doc__ = SourcelessFileLoader.get_data.__doc__
    SourcelessFileLoader.get_data = get_data  # type: ignore[method-assign]
