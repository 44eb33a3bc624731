"""The launch spec handed from `tpython run` to the interpreter it starts.

It travels in the ``TPYTHON_LAUNCH`` environment variable, which the
bootstrap removes before anything else runs. It carries the policy as
validated by the launcher, so the started interpreter decides with the
exact policy the user checked.
"""
from __future__ import annotations

import os
import sys

from tpython.jsontext import dumps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple, Optional
else:
    from tpython.lean_typing import NamedTuple


ENV_VAR = "TPYTHON_LAUNCH"
# Tests make tpython itself fail where nothing else reliably can: "launch" (in the
# `tpython` command) or "boot" (while the engine starts). Either only makes tpython
# refuse to start (status 255); nothing ever runs unwatched because of it.
FAULT_VARIABLE = "TPYTHON_INJECT_FAULT"


class Target(NamedTuple):
    """What to run: kind is one of LAUNCH_KINDS; value the path, module or code."""

    kind: str
    value: Optional[str] = None
    args: tuple[str, ...] = ()


class LaunchSpec(NamedTuple):
    """Everything the bootstrap needs."""

    policy_json: str
    target: Target
    quiet: bool = False
    parent_run: Optional[str] = None
    internal: Optional[str] = None  # "multiprocessing" for tpython's own worker launches
    manifest_sha256: Optional[str] = None  # of the manifest bytes whose signature the launcher checked

    def to_env(self) -> str:
        """The spec as the value of ``TPYTHON_LAUNCH``."""
        return dumps({**self._asdict(), "target": self.target._asdict()})

    @classmethod
    def from_env(cls, text: str) -> LaunchSpec:
        """Inverse of :meth:`to_env`."""
        import json  # read before the hooks

        data: dict[str, Any] = json.loads(text)
        target = data["target"]
        data["target"] = Target(target["kind"], target["value"], tuple(target["args"]))
        return cls(**data)


def bootstrap_code(package_parent: str) -> str:
    """The `-c` line the started interpreter runs: put tpython on the path, boot (the
    cyclic collector off and no byte code written until the program runs, as in the
    `tpython` command)."""
    return (
        f"import gc,sys;gc.disable();sys.dont_write_bytecode=True;sys.path.insert(0,{package_parent!r});"
        "from tpython.launcher.bootstrap import main;main()"
    )


def package_parent() -> str:
    """The directory holding the `tpython` package."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def interpreter_argv(executable: Optional[str] = None) -> list[str]:
    """argv of a hardened interpreter: isolated (-I), site deferred (-S) until the hook is in."""
    return [executable or sys.executable, "-I", "-S", "-c", bootstrap_code(package_parent())]
