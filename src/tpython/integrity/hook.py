"""The open_code hook: every file CPython reads as code passes :func:`checks.check_file`.

Installed by the bootstrap before ``site`` (``.pth`` files and the target
are read through it). The bytes that were checked are the bytes handed to
the loader (an in-memory file), so swapping the file afterwards gains
nothing. A refusal is logged as ``tpython.integrity`` and raised as
:class:`CodeRefused`, an ``ImportError`` (:func:`refusal`).

Where no trust source is configured, tpython's C module makes the same checks
(``native/codecheck.c``) and calls :func:`refusal`'s callable for a refusal:
this module then loads neither :mod:`.checks` nor :mod:`.kernel`.
"""
from __future__ import annotations

import _frozen_importlib_external as _bootstrap_external  # the import system, loaded at start
import io
import os

from tpython.integrity import DEFAULT_MAX_SIZE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any, BinaryIO, Callable, ContextManager, NoReturn, Optional

    from tpython.integrity import checks
    from tpython.integrity.sources.interface import TrustSource


class CodeRefused(ImportError):
    """A file was refused as code; the message names the file and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"tpython: refused to read {path} as code: {reason}", path=path)
        self.reason = reason


class CacheRefused(PermissionError):
    """A refused file whose reader has a safe way on: a cached ``.pyc`` (the import
    system falls back to the ``.py`` beside it, checked in its turn) or a ``.pth``
    file (``site`` skips it). An OSError, which is what those readers handle."""


def _source_of_cache(path: str) -> Optional[str]:
    """The source file of a ``__pycache__`` file, when there is one."""
    if os.path.basename(os.path.dirname(path)) != "__pycache__" or not path.endswith(".pyc"):
        return None
    try:
        source = _bootstrap_external.source_from_cache(path)
    except ValueError:
        return None
    return source if os.path.isfile(source) else None


def code_file(data: bytes, name: str) -> BinaryIO:
    """The checked bytes of a code file: an in-memory file with the ``name`` a real file has."""
    file = io.BytesIO(data)
    file.name = name
    return file


def needs_trust_source(integrity: dict[str, Any]) -> bool:
    """Whether `[integrity]` asks for a trust source (the Python checks); else C checks."""
    return bool(integrity.get("manifest") or integrity.get("xattr") or integrity.get("require"))


def check_policy(integrity: dict[str, Any], manifest_sha256: Optional[str]) -> checks.Policy:
    """The checks `[integrity]` asks for; a manifest is loaded as the bytes the launcher verified."""
    from tpython.integrity import checks
    from tpython.integrity.errors import IntegrityError

    sources: list[TrustSource] = []
    if integrity.get("manifest"):
        from tpython.integrity import manifest
        from tpython.integrity.sources.manifest import ManifestSource

        path = str(integrity["manifest"])
        if manifest_sha256 is None:
            raise IntegrityError(f"manifest {path} was not verified by the launcher")
        sources.append(ManifestSource(manifest.load_verified(path, manifest_sha256)))
    if integrity.get("xattr"):
        from tpython.integrity.sources.xattr import XattrSource

        sources.append(XattrSource())
    max_size, kernel_check = code_limits(integrity)
    return checks.Policy(sources=sources, require=bool(integrity.get("require", False)), kernel_check=kernel_check,
                         max_size=max_size)


def code_limits(integrity: dict[str, Any]) -> tuple[int, bool]:
    """`[integrity]`'s size limit for a code file, and whether the kernel's check counts."""
    return int(integrity.get("max_size", DEFAULT_MAX_SIZE)), bool(integrity.get("kernel_check", True))


def make_hook(policy: checks.Policy, internal: Callable[[], ContextManager[None]],
              record: Callable[..., None],
              vouch: Optional[Callable[[bytes, str], None]] = None) -> Callable[[str], BinaryIO]:
    """The callable CPython calls with each path it opens as code; VOUCH(data, path)
    hears of every file accepted."""
    from tpython.integrity import checks

    refuse = refusal(internal, record)

    def tpython_open_code(path: str) -> BinaryIO:
        # tpython._native has raised the `open` event CPython raises when no hook is
        # set (io.open(path, "rb")), so reading code stays visible and decided.
        with internal():
            name = path if isinstance(path, str) else os.fsdecode(path)
            verdict = checks.check_file(name, policy)
        if verdict.ok and verdict.data is not None:
            if vouch is not None:
                with internal():
                    vouch(verdict.data, verdict.path)
            return code_file(verdict.data, name)
        refuse(verdict.path, verdict.reason or "refused", verdict.sha256)

    return tpython_open_code


def refusal(internal: Callable[[], ContextManager[None]],
            record: Callable[..., None]) -> Callable[..., NoReturn]:
    """refuse(path, reason, sha256=None): record a refused code file as
    ``tpython.integrity`` and raise what its reader handles: :class:`CacheRefused` for
    a cached ``.pyc`` whose source is there (the source is read instead) and for a
    ``.pth`` file (skipped), else :class:`CodeRefused`."""

    def refuse(path: str, reason: str, sha256: Optional[str] = None) -> NoReturn:
        with internal():
            source = _source_of_cache(path)
        details = {"path": path, "reason": reason, "sha256": sha256}
        if source is not None:
            record("tpython.integrity", {**details, "fallback": source}, "deny", rule="integrity")
            raise CacheRefused(f"tpython: refused cached byte-code {path}: {reason}; using {source}")
        if path.endswith(".pth"):
            record("tpython.integrity", {**details, "fallback": "skipped"}, "deny", rule="integrity")
            raise CacheRefused(f"tpython: refused path configuration file {path}: {reason}")
        record("tpython.integrity", details, "deny", rule="integrity")
        raise CodeRefused(path, reason)

    return refuse


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
