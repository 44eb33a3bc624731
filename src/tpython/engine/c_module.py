"""tpython's C module, ``tpython._native``: the one engine. Found here, and only here.

Every decision is made in C; without the module nothing can be decided, so
``tpython run`` refuses to start with one line naming what is missing
(:class:`~tpython.errors.NativeMissing`).
"""
from __future__ import annotations

from tpython.errors import NativeMissing

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

# What the build needs, as setup.py checks it before compiling (Debian package names).
BUILD_NEEDS = "gcc, the Python headers, nettle-dev and libpcre2-dev"


def missing_reason() -> str:
    """Why ``tpython._native`` cannot be imported; "" when it can."""
    try:
        import tpython._native  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return ""


def load() -> ModuleType:
    """``tpython._native``, or :class:`NativeMissing` naming what is missing."""
    try:
        import tpython._native as native
    except ImportError as exc:
        raise NativeMissing(f"tpython's C module cannot be loaded ({exc}); reinstall tpython where "
                            f"{BUILD_NEEDS} are present (pip install shows what the build lacked)") from None
    return native
