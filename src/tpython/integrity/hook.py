"""The open_code hook: every file CPython reads as code passes :func:`checks.check_file`.

Installed by the bootstrap before ``site`` (``.pth`` files and the target
are read through it). The bytes that were checked are the bytes handed to
the loader (an in-memory file), so swapping the file afterwards gains
nothing. A refusal is logged as ``tpython.integrity`` and raised as
:class:`CodeRefused`, an ``ImportError``.
"""
from __future__ import annotations

import _frozen_importlib_external as _bootstrap_external  # the import system, loaded at start
import io
import os

from tpython.integrity import checks
from tpython.integrity.errors import IntegrityError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any, BinaryIO, Callable, ContextManager, Optional

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


class CodeFile(io.BytesIO):
    """The checked bytes of a code file, with the ``name`` a real file would have."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name = name


def check_policy(integrity: dict[str, Any], manifest_sha256: Optional[str]) -> checks.Policy:
    """The checks `[integrity]` asks for; a manifest is loaded as the bytes the launcher verified."""
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
    return checks.Policy(
        sources=sources,
        require=bool(integrity.get("require", False)),
        kernel_check=bool(integrity.get("kernel_check", True)),
        max_size=int(integrity.get("max_size", checks.DEFAULT_MAX_SIZE)),
    )


def make_hook(policy: checks.Policy, internal: Callable[[], ContextManager[None]],
              record: Callable[..., None],
              vouch: Optional[Callable[[bytes, str], None]] = None) -> Callable[[str], BinaryIO]:
    """The callable CPython calls with each path it opens as code; VOUCH(data, path)
    hears of every file accepted."""

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
            return CodeFile(verdict.data, name)
        reason = verdict.reason or "refused"
        with internal():
            source = _source_of_cache(verdict.path)
        details = {"path": verdict.path, "reason": reason, "sha256": verdict.sha256}
        if source is not None:
            record("tpython.integrity", {**details, "fallback": source}, "deny", rule="integrity")
            raise CacheRefused(f"tpython: refused cached byte-code {verdict.path}: {reason}; using {source}")
        if verdict.path.endswith(".pth"):
            record("tpython.integrity", {**details, "fallback": "skipped"}, "deny", rule="integrity")
            raise CacheRefused(f"tpython: refused path configuration file {verdict.path}: {reason}")
        record("tpython.integrity", details, "deny", rule="integrity")
        raise CodeRefused(verdict.path, reason)

    return tpython_open_code


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
