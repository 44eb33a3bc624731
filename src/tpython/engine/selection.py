"""Which engine runs: chosen here, and only here.

The native engine (:mod:`tpython.engine.native`, the C module
``tpython._native``) is used whenever it was built; the pure-Python engine
(:mod:`tpython.engine.hook`) is the fallback, with the same behaviour. A
policy can insist on either (``engine = "native"`` refuses to start without
the C module); ``tpython run --engine`` overrides the policy.
"""
from __future__ import annotations

from tpython.errors import PolicyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import NamedTuple, Optional

    from tpython.engine.hook import Engine
    from tpython.policy.model import Policy
    from tpython.sinks.interface import Sink
else:
    from tpython.lean_typing import NamedTuple


class EngineChoice(NamedTuple):
    """The engine that will run, and why."""

    name: str     # "native" or "python"
    detail: str


def native_module() -> Optional[ModuleType]:
    """``tpython._native`` when it was built, else None."""
    try:
        import tpython._native as native
    except ImportError:
        return None
    return native


def native_unavailable_reason() -> str:
    try:
        import tpython._native  # noqa: F401
    except ImportError as exc:
        return f"tpython._native was not built ({exc})"
    return ""


def engine_choice(setting: str) -> EngineChoice:
    """Resolve the policy's ``engine`` setting (auto, native, python)."""
    if setting == "python":
        return EngineChoice("python", "chosen by the policy or --engine")
    reason = native_unavailable_reason()
    if not reason:
        return EngineChoice("native", "C audit hook (tpython._native)")
    if setting == "native":
        raise PolicyError(f"the policy requires the native engine, but {reason}; reinstall tpython "
                          "where gcc and the Python headers are present")
    return EngineChoice("python", f"fallback: {reason}")


def make_engine(policy: Policy, sinks: list[Sink], *, warn_fd: int) -> Engine:
    """The engine the policy's setting resolves to (see :func:`engine_choice`)."""
    if engine_choice(policy.engine).name == "native":
        from tpython.engine.native import NativeEngine

        return NativeEngine(policy, sinks, warn_fd=warn_fd)
    from tpython.engine.hook import Engine

    return Engine(policy, sinks, warn_fd=warn_fd)
