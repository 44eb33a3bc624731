"""The checks on one file read as code, for `tpython trust check` and tests: the
open_code hook's own, made by tpython's C module (``native/codecheck.c``,
``native/trust.c``), in SPEC 3.1's order on bytes read once:

1. a regular file (symlinks resolved: the verdict names the real path);
2. not on a ``noexec`` mount;
3. not larger than the limit;
4. the kernel does not refuse it (``AT_EXECVE_CHECK``; enforced under
   ``SECBIT_EXEC_RESTRICT_FILE``);
5. when trust is required, a trust source vouches for the SHA-256 of the
   bytes that were read (the same bytes the loader will get).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Optional

from tpython.integrity.hook import native_config
from tpython.policy.settings import DEFAULT_MAX_SIZE

if TYPE_CHECKING:
    from tpython.integrity.manifest import Manifest


class Verdict(NamedTuple):
    """The outcome for one file: the bytes read, and the reason when refused."""

    path: str                  # the real path
    ok: bool
    reason: Optional[str]
    data: Optional[bytes]
    sha256: Optional[str]
    vouched_by: Optional[str]  # the trust source that vouched ("manifest", "xattr"), if any


def config(*, manifest: Optional[Manifest] = None, xattr: bool = False, require: bool = False,
           kernel_check: bool = True, max_size: int = DEFAULT_MAX_SIZE) -> dict[str, Any]:
    """The configuration C's checks take."""
    return native_config(max_size=max_size, kernel_check=kernel_check, require=require, xattr=xattr,
                         manifest=(manifest.path, manifest.files) if manifest is not None else None)


def check_file(path: str, checks: dict[str, Any]) -> Verdict:
    """PATH opened, checked and read once under CHECKS (:func:`config`). A file that cannot
    be opened or read raises the OSError, as ``io.open_code`` would."""
    from tpython import _native

    real, reason, data, digest, vouched = _native.check_code(path, checks)
    return Verdict(real, reason is None, reason, data, digest, vouched)


def source_names(checks: dict[str, Any]) -> list[str]:
    """The names of the trust sources CHECKS configures, as the checks report them."""
    from tpython import _native

    return list(_native.trust_sources(checks))
